"""Routes files: the ``routes`` table of a match router, its shorthand tables, and each route, validated.

``MatchRouter.from_dict`` and ``from_file`` read through here; ``MatchRouter`` itself only decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from understudy.errors import RouteConfigError
from understudy.routing.conditions import compile_match
from understudy.routing.overrides import validate_fallbacks, validate_overrides, validate_profile_name

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Route", "parse_routes", "route_from"]


# Shorthand tables some configs already have: table name -> the context key it matches on.
_SHORTHANDS: Final = {"platforms": "platform", "by_source": "source_kind"}


class Route:
    """One validated route: a compiled match, the profile it picks (or the tiered router it hands the call
    to), and what it changes for the call."""

    def __init__(
        self,
        *,
        label: str,
        match: Mapping[str, Any],
        profile: str | None = None,
        router: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        path: Path | None = None,
    ) -> None:
        if (profile is None) == (router is None):
            raise RouteConfigError(
                'needs one of profile = "<name>" or router = "<tiered router>", not both'
                if profile is not None
                else 'no profile; add profile = "<name>" (or router = "<tiered router>")',
                path=path,
                where=label,
            )
        self.label = label
        self.match = dict(match)
        self.profile = validate_profile_name(profile, path, f"{label}.profile") if profile is not None else None
        self.router = validate_profile_name(router, path, f"{label}.router") if router is not None else None
        self.overrides = validate_overrides(overrides or {}, path, f"{label}.overrides")
        self.fallbacks = validate_fallbacks(fallbacks, path, f"{label}.fallbacks")
        self._predicate = compile_match(self.match, path, f"{label}.match")

    def matches(self, context: Mapping[str, Any]) -> bool:
        return self._predicate(context)

    def __repr__(self) -> str:
        target = repr(self.profile) if self.profile is not None else f"router {self.router!r}"
        return f"Route({self.label}: {self.match!r} -> {target})"


def parse_routes(data: Mapping[str, Any], path: Path | None) -> tuple[str, list[Route]]:
    """The default profile and the routes of a routes file's ``data``: explicit routes first, then shorthands.

    Raises:
        RouteConfigError: a key is unknown or invalid; names the file and the route.
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
    built = [route_from(route, f"routes[{index}]", path) for index, route in enumerate(routes)]
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
            built.append(route_from({**spec, "match": {key: value}}, f"{table}.{value}", path))
    return data["default"], built


def route_from(data: Any, label: str, path: Path | None) -> Route:
    """One route from its table; ``label`` (``routes[2]``) names it in errors and decisions."""
    if not isinstance(data, Mapping):
        raise RouteConfigError("a route must be a table with match and profile", path=path, where=label)
    unknown = sorted(set(data) - {"match", "profile", "router", "overrides", "fallbacks"})
    if unknown:
        raise RouteConfigError(
            f"unknown key(s) {', '.join(unknown)}; a route has match, profile (or router), overrides, fallbacks",
            path=path,
            where=label,
        )
    match = data.get("match", {})
    if not isinstance(match, Mapping):
        raise RouteConfigError("must be a table of context key to condition", path=path, where=f"{label}.match")
    return Route(
        label=label,
        match=match,
        profile=data.get("profile"),
        router=data.get("router"),
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
