"""MatchRouter: the first route whose ``match`` fits the call's context chooses the primary profile.

::

    default = "fast"

    [[routes]]
    match = { source_kind = "owner" }
    profile = "strong"

    [[routes]]
    match = { platform = "discord", source_kind = { "$in" = ["stranger", "guest"] } }
    profile = "compliant"
    overrides = { temperature = 0.0 }

A route may hand the call to a tiered router instead of naming a profile (route, then tier, then candidates)::

    [[routes]]
    match = { platform = "api" }
    router = "auto"        # auto.toml beside the profiles: kind = "tiered"

A route matches when every key of its ``match`` is in the context and its condition holds; a missing key is
no match. A condition is a value (equal), a list (any of), or an operator table (``$eq $ne $in $nin $gt $gte
$lt $lte $regex $exists``); ``$and`` and ``$or`` combine sub-matches. Everything is validated when the router
is built, so a bad regex or an unknown operator is found by ``understudy check``, not by a call.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from understudy.errors import ProfileError, RouteConfigError
from understudy.profiles.documents import DOCUMENT_SUFFIXES, DocumentError, read_document
from understudy.profiles.profile import ROUTES_FILE_STEM
from understudy.routing.overrides import validate_profile_name
from understudy.routing.routes import RouteDecision, Router
from understudy.routing.routes_file import Route, parse_routes, route_from

if TYPE_CHECKING:
    from understudy.profiles.store import ProfileStore

__all__ = ["ROUTES_FILE_STEM", "MatchRouter", "Route", "RouterLookup"]

RouterLookup: TypeAlias = Callable[[str], Router]
"""Finds a router by name for a route that hands off to one (``LLMRegistry.router``); raises when it cannot."""


class MatchRouter:
    """Routes a call to the profile of the first route whose ``match`` fits its context.

    Args:
        default: the profile used when no route matches, and when routing fails.
        routes: routes in order, each a mapping with ``match``, ``profile`` and optionally ``overrides``
            (profile fields changed for the call; empty values never overwrite) and ``fallbacks`` (a table
            that replaces the profile's for the call).
        name: shown in events and stats.
        path: the file the routes came from, named in errors.
        routers: finds the tiered router a route hands off to (``router = "auto"``), by name; routes loaded
            through ``LLMRegistry.router`` get the registry's.

    Raises:
        RouteConfigError: a route is invalid, or hands off to a router with no ``routers`` to find it; the
            message names the file and the route.
    """

    def __init__(
        self,
        default: str,
        routes: Sequence[Mapping[str, Any] | Route] = (),
        *,
        name: str = "match",
        path: Path | None = None,
        routers: RouterLookup | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.default = validate_profile_name(default, path, "default")
        self.routes: list[Route] = [
            route if isinstance(route, Route) else route_from(route, f"routes[{index}]", path)
            for index, route in enumerate(routes)
        ]
        self._routers = routers
        handing = next((route for route in self.routes if route.router is not None), None)
        if handing is not None and routers is None:
            raise RouteConfigError(
                f"hands the call to router {handing.router!r}, but these routes were built without a way to find "
                "routers; load them with LLMRegistry.router(name) (or pass routers=registry.router)",
                path=path,
                where=f"{handing.label}.router",
            )

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        path: Path | None = None,
        name: str = "match",
        routers: RouterLookup | None = None,
    ) -> MatchRouter:
        """Build from a ``routes.toml``-shaped mapping; shorthand tables become routes after the explicit ones.

        ``platforms = { discord = "x" }`` matches ``platform``; ``by_source = { owner = {...} }`` matches
        ``source_kind``. Each value is a profile name, a route table without ``match``, or a table of profile
        fields in the shape agent configurations write (``{ model = "...", base_url = "..." }``): the default
        profile with those fields as the route's overrides (``base_url`` is ``api_base``).
        """
        default, built = parse_routes(data, path)
        return cls(default, built, name=name, path=path, routers=routers)

    @classmethod
    def from_file(cls, path: str | Path, *, name: str = "match", routers: RouterLookup | None = None) -> MatchRouter:
        """Read a ``routes.toml``, ``routes.json`` or ``routes.yaml`` (YAML needs PyYAML).

        Raises:
            RouteConfigError: the file cannot be read or parsed, or a route is invalid.
        """
        path = Path(path)
        try:
            data = read_document(path)
        except DocumentError as exc:
            raise RouteConfigError(f"cannot read routes: {exc}", path=path) from None
        if not isinstance(data, dict):
            raise RouteConfigError("the file must hold one table", path=path)
        return cls.from_dict(data, path=path, name=name, routers=routers)

    @classmethod
    def find(cls, store: ProfileStore, *, routers: RouterLookup | None = None) -> MatchRouter | None:
        """The ``routes.toml`` (or ``.json``, ``.yaml``) in the first directory of the store's search path that has one.

        Raises:
            RouteConfigError: the file is invalid, or a route names a profile that is not in the store.
        """
        path = store.find_file(ROUTES_FILE_STEM, DOCUMENT_SUFFIXES)
        if path is None:
            return None
        router = cls.from_file(path, routers=routers)
        router.check_names(store.names())
        return router

    def select(
        self, context: Mapping[str, Any], *, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> RouteDecision:
        """The decision of the first route that matches ``context``, else the default profile. A route that
        hands off to a tiered router returns that router's decision, under the route's label."""
        route = self.route_for(context)
        if route is None or route.router is None:
            return self._decision(route)
        return self._handed(route, self._router(route).select(context, messages=messages))

    async def aselect(
        self, context: Mapping[str, Any], *, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> RouteDecision:
        """``select`` for async callers: a tiered router handed the call is awaited (``aselect``)."""
        route = self.route_for(context)
        if route is None or route.router is None:
            return self._decision(route)
        target = self._router(route)
        aselect = getattr(target, "aselect", None)
        answer = aselect(context, messages=messages) if callable(aselect) else target.select(context, messages=messages)
        return self._handed(route, await answer if inspect.isawaitable(answer) else answer)

    def route_for(self, context: Mapping[str, Any]) -> Route | None:
        """The first route that matches ``context``; None: the default. Asks no router a route hands off to."""
        return next((route for route in self.routes if route.matches(context)), None)

    def unclassified(self, route: Route) -> RouteDecision:
        """The decision of a route that hands off, without asking its router's classifier (what
        ``understudy explain`` shows, offline): that router's default, under the route's label."""
        target = self._router(route)
        default = RouteDecision(
            profile=target.default,
            router=target.name,
            reason=f"its classifier picks the tier per call; unasked, the default {target.default!r}",
        )
        return self._handed(route, default)

    def _decision(self, route: Route | None) -> RouteDecision:
        if route is None or route.profile is None:
            return RouteDecision(profile=self.default, router=self.name, reason="no route matched; the default")
        return RouteDecision(
            profile=route.profile,
            route=route.label,
            router=self.name,
            overrides=route.overrides,
            fallbacks=route.fallbacks,
            reason=f"{route.label} matched {route.match!r}",
        )

    def _router(self, route: Route) -> Router:
        """The tiered router ``route`` hands off to, as it is now (a router file read again when it changed)."""
        assert self._routers is not None and route.router is not None  # __init__ refuses otherwise
        target = self._routers(route.router)
        if isinstance(getattr(target, "loaded", target), MatchRouter):  # a router file's version routing
            raise RouteConfigError(
                f"hands the call to {route.router!r}, a match router; a route may hand off to a tiered router only",
                path=self.path,
                where=f"{route.label}.router",
            )
        return target

    def _handed(self, route: Route, decision: RouteDecision) -> RouteDecision:
        """The handed-to router's decision as this route's: its label first, then the tier; the route's own
        overrides win, and its fallbacks, when it has any, replace the tier's."""
        return decision.model_copy(
            update={
                "route": f"{route.label}>{decision.route}" if decision.route else route.label,
                "router": self.name,
                "overrides": {**decision.overrides, **route.overrides},
                "fallbacks": route.fallbacks if route.fallbacks is not None else decision.fallbacks,
                "reason": f"{route.label} matched {route.match!r}, handed to {route.router!r}: {decision.reason}",
            }
        )

    def profiles(self) -> list[str]:
        """Every profile the router can pick or name as a fallback, in first-mention order."""
        return list(dict.fromkeys(name for _, name in self._references()))

    def check(self, store: ProfileStore) -> list[str]:
        """Problems with the profiles the router names: missing or not loading. Empty when all is well."""
        problems = []
        for where, name in self._references():
            try:
                store.load(name)
            except ProfileError as exc:
                prefix = f"{self.path}: " if self.path else ""
                problems.append(f"{prefix}{where} names profile {name!r}, which does not load: {exc}")
        return problems

    def check_names(self, known: Iterable[str]) -> None:
        """Refuse, naming the file and the route, a profile name that is not among ``known``.

        Raises:
            RouteConfigError: the first route (or the default) that names an unknown profile.
        """
        known = set(known)
        for where, name in self._references():
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise RouteConfigError(f"no profile named {name!r}{hint}", path=self.path, where=where)

    def _references(self) -> list[tuple[str, str]]:
        """(where, profile name) for every profile the router names, in order."""
        found = [("default", self.default)]
        for route in self.routes:
            if route.profile is not None:
                found.append((f"{route.label}.profile", route.profile))
            else:
                found.extend((f"{route.label}.router", name) for name in self._handed_profiles(route))
            for error, targets in (route.fallbacks or {}).items():
                found.extend((f"{route.label}.fallbacks.{error}", target) for target in targets)
        return found

    def _handed_profiles(self, route: Route) -> list[str]:
        """The profiles of the router ``route`` hands off to.

        Raises:
            RouteConfigError: that router cannot be found, does not load, or is a match router.
        """
        try:
            return self._router(route).profiles()
        except RouteConfigError as exc:
            if exc.where == f"{route.label}.router":
                raise
            raise RouteConfigError(
                f"hands the call to router {route.router!r}, which does not load: {exc}",
                path=self.path,
                where=f"{route.label}.router",
            ) from exc

    def __repr__(self) -> str:
        return f"MatchRouter(default={self.default!r}, routes={len(self.routes)}, path={self.path!s})"
