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

A route matches when every key of its ``match`` is in the context and its condition holds; a missing key is
no match. A condition is a value (equal), a list (any of), or an operator table (``$eq $ne $in $nin $gt $gte
$lt $lte $regex $exists``); ``$and`` and ``$or`` combine sub-matches. Everything is validated when the router
is built, so a bad regex or an unknown operator is found by ``understudy check``, not by a call.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from understudy.errors import ProfileError, RouteConfigError
from understudy.profiles.profile import ROUTES_FILE_STEM
from understudy.routing.conditions import compile_match
from understudy.routing.overrides import validate_fallbacks, validate_overrides, validate_profile_name
from understudy.routing.routes import RouteDecision

if TYPE_CHECKING:
    from understudy.profiles.store import ProfileStore

__all__ = ["ROUTES_FILE_STEM", "MatchRouter", "Route"]


# Shorthand tables some configs already have: table name -> the context key it matches on.
_SHORTHANDS: Final = {"platforms": "platform", "by_source": "source_kind"}


class Route:
    """One validated route: a compiled match, the profile it picks, and what it changes for the call."""

    def __init__(
        self,
        *,
        label: str,
        match: Mapping[str, Any],
        profile: str,
        overrides: Mapping[str, Any] | None = None,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        path: Path | None = None,
    ) -> None:
        self.label = label
        self.match = dict(match)
        self.profile = validate_profile_name(profile, path, f"{label}.profile")
        self.overrides = validate_overrides(overrides or {}, path, f"{label}.overrides")
        self.fallbacks = validate_fallbacks(fallbacks, path, f"{label}.fallbacks")
        self._predicate = compile_match(self.match, path, f"{label}.match")

    def matches(self, context: Mapping[str, Any]) -> bool:
        return self._predicate(context)

    def __repr__(self) -> str:
        return f"Route({self.label}: {self.match!r} -> {self.profile!r})"


class MatchRouter:
    """Routes a call to the profile of the first route whose ``match`` fits its context.

    Args:
        default: the profile used when no route matches, and when routing fails.
        routes: routes in order, each a mapping with ``match``, ``profile`` and optionally ``overrides``
            (profile fields changed for the call; empty values never overwrite) and ``fallbacks`` (a table
            that replaces the profile's for the call).
        name: shown in events and stats.
        path: the file the routes came from, named in errors.

    Raises:
        RouteConfigError: a route is invalid; the message names the file and the route.
    """

    def __init__(
        self,
        default: str,
        routes: Sequence[Mapping[str, Any] | Route] = (),
        *,
        name: str = "match",
        path: Path | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.default = validate_profile_name(default, path, "default")
        self.routes: list[Route] = [
            route if isinstance(route, Route) else _route(route, f"routes[{index}]", path)
            for index, route in enumerate(routes)
        ]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: Path | None = None, name: str = "match") -> MatchRouter:
        """Build from a ``routes.toml``-shaped mapping; shorthand tables become routes after the explicit ones.

        ``platforms = { discord = "x" }`` matches ``platform``; ``by_source = { owner = {...} }`` matches
        ``source_kind``. Each value is a profile name, a route table without ``match``, or a table of profile
        fields in the shape agent configurations write (``{ model = "...", base_url = "..." }``): the default
        profile with those fields as the route's overrides (``base_url`` is ``api_base``).
        """
        kind = data.get("kind", "match")
        if kind != "match":
            reader = "TieredRouter.from_file" if kind == "tiered" else 'kind = "match" for a routes file'
            raise RouteConfigError(
                f"is {kind!r}: this file is read as a match router; use {reader}", path=path, where="kind"
            )
        unknown = sorted(set(data) - {"kind", "default", "routes", *_SHORTHANDS})
        if unknown:
            raise RouteConfigError(
                f"unknown key(s) {', '.join(unknown)}; a routes file has kind, default, routes, platforms, by_source",
                path=path,
            )
        if "default" not in data:
            raise RouteConfigError('no default profile; add default = "<profile>"', path=path)
        routes = data.get("routes", [])
        if not isinstance(routes, list):
            raise RouteConfigError("must be a list of route tables ([[routes]] in TOML)", path=path, where="routes")
        built = [_route(route, f"routes[{index}]", path) for index, route in enumerate(routes)]
        for table, key in _SHORTHANDS.items():
            entries = data.get(table, {})
            if not isinstance(entries, Mapping):
                raise RouteConfigError(f"must be a table of {key} value to profile", path=path, where=table)
            for value, body in entries.items():
                if not isinstance(body, str | Mapping):
                    raise RouteConfigError(
                        "must be a profile name or a route table (profile, overrides, fallbacks)",
                        path=path,
                        where=f"{table}.{value}",
                    )
                spec = {"profile": body} if isinstance(body, str) else _shorthand_route(body, data["default"])
                if "match" in spec:
                    raise RouteConfigError("a shorthand route takes no match; it matches on its key", path=path)
                built.append(_route({**spec, "match": {key: value}}, f"{table}.{value}", path))
        return cls(data["default"], built, name=name, path=path)

    @classmethod
    def from_file(cls, path: str | Path, *, name: str = "match") -> MatchRouter:
        """Read a ``routes.toml`` or ``routes.json``.

        Raises:
            RouteConfigError: the file cannot be read or parsed, or a route is invalid.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise RouteConfigError(f"cannot read routes: {exc}", path=path) from exc
        if not isinstance(data, dict):
            raise RouteConfigError("the file must hold one table", path=path)
        return cls.from_dict(data, path=path, name=name)

    @classmethod
    def find(cls, store: ProfileStore) -> MatchRouter | None:
        """The ``routes.toml`` (or ``.json``) in the first directory of the store's search path that has one.

        Raises:
            RouteConfigError: the file is invalid, or a route names a profile that is not in the store.
        """
        path = store.find_file(ROUTES_FILE_STEM)
        if path is None:
            return None
        router = cls.from_file(path)
        router.check_names(store.names())
        return router

    def select(
        self, context: Mapping[str, Any], *, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> RouteDecision:
        """The decision of the first route that matches ``context``, else the default profile."""
        for route in self.routes:
            if route.matches(context):
                return RouteDecision(
                    profile=route.profile,
                    route=route.label,
                    router=self.name,
                    overrides=route.overrides,
                    fallbacks=route.fallbacks,
                    reason=f"{route.label} matched {route.match!r}",
                )
        return RouteDecision(profile=self.default, router=self.name, reason="no route matched; the default")

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
            found.append((f"{route.label}.profile", route.profile))
            for error, targets in (route.fallbacks or {}).items():
                found.extend((f"{route.label}.fallbacks.{error}", target) for target in targets)
        return found

    def __repr__(self) -> str:
        return f"MatchRouter(default={self.default!r}, routes={len(self.routes)}, path={self.path!s})"


def _route(data: Any, label: str, path: Path | None) -> Route:
    if not isinstance(data, Mapping):
        raise RouteConfigError("a route must be a table with match and profile", path=path, where=label)
    unknown = sorted(set(data) - {"match", "profile", "overrides", "fallbacks"})
    if unknown:
        raise RouteConfigError(
            f"unknown key(s) {', '.join(unknown)}; a route has match, profile, overrides, fallbacks",
            path=path,
            where=label,
        )
    if "profile" not in data:
        raise RouteConfigError('no profile; add profile = "<name>"', path=path, where=label)
    match = data.get("match", {})
    if not isinstance(match, Mapping):
        raise RouteConfigError("must be a table of context key to condition", path=path, where=f"{label}.match")
    return Route(
        label=label,
        match=match,
        profile=data["profile"],
        overrides=data.get("overrides"),
        fallbacks=data.get("fallbacks"),
        path=path,
    )


def _shorthand_route(body: Mapping[str, Any], default: object) -> dict[str, Any]:
    """A shorthand's table as a route: a route table as it is; a table of profile fields (``model``,
    ``base_url`` ...), as agent configurations write one per platform, as the default profile with those
    fields as overrides."""
    if "profile" in body or not ({"model", "base_url", "api_base"} & body.keys()):
        return dict(body)
    fields = {("api_base" if key == "base_url" else key): value for key, value in body.items()}
    return {"profile": default, "overrides": fields}
