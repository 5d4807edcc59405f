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
import operator
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from understudy.errors import ProfileError, RouteConfigError, UnknownExceptionNameError
from understudy.failures.names import ExceptionNames
from understudy.plugins import get_plugin_manager
from understudy.profiles.profile import NAME_PATTERN, ROUTES_FILE_STEM, Profile
from understudy.routing.routes import RouteDecision

if TYPE_CHECKING:
    from understudy.profiles.store import ProfileStore

__all__ = ["ROUTES_FILE_STEM", "MatchRouter", "Route", "validate_overrides"]


Predicate = Callable[[Mapping[str, Any]], bool]

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
OPERATORS: Final = frozenset({*_COMPARE, "$eq", "$ne", "$in", "$nin", "$regex", "$exists", "$and", "$or"})
# Fields a route may override: what shapes the call, not what names the profile or holds its secret (a
# routes file is not where keys go; a route may point api_key_env elsewhere).
_NOT_OVERRIDABLE: Final = frozenset({"name", "source", "fallbacks", "api_key"})
_OVERRIDABLE: Final = tuple(sorted(set(Profile.model_fields) - _NOT_OVERRIDABLE))
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
        self.profile = _profile_name(profile, path, f"{label}.profile")
        self.overrides = _overrides(overrides or {}, path, f"{label}.overrides")
        self.fallbacks = _fallbacks(fallbacks, path, f"{label}.fallbacks")
        self._predicate = _compile(self.match, path, f"{label}.match")

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
        self.default = _profile_name(default, path, "default")
        self.routes: list[Route] = [
            route if isinstance(route, Route) else _route(route, f"routes[{index}]", path)
            for index, route in enumerate(routes)
        ]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: Path | None = None, name: str = "match") -> MatchRouter:
        """Build from a ``routes.toml``-shaped mapping; shorthand tables become routes after the explicit ones.

        ``platforms = { discord = "x" }`` matches ``platform``; ``by_source = { owner = {...} }`` matches
        ``source_kind``. Each value is a profile name or a route table without ``match``.
        """
        unknown = sorted(set(data) - {"default", "routes", *_SHORTHANDS})
        if unknown:
            raise RouteConfigError(
                f"unknown key(s) {', '.join(unknown)}; a routes file has default, routes, platforms, by_source",
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
                spec = {"profile": body} if isinstance(body, str) else dict(body)
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


def _profile_name(name: Any, path: Path | None, where: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise RouteConfigError(f"{name!r} is not a profile name", path=path, where=where)
    return name


def validate_overrides(overrides: Any, path: Path | None = None, where: str = "overrides") -> dict[str, Any]:
    """Route overrides, checked like a routes file's: empty values dropped, only overridable fields, each
    value validated and coerced. Used for every decision, a plugin's too.

    Raises:
        RouteConfigError: a field cannot be overridden or a value is invalid.
    """
    return _overrides(overrides, path, where)


def _overrides(overrides: Mapping[str, Any], path: Path | None, where: str) -> dict[str, Any]:
    if not isinstance(overrides, Mapping):
        raise RouteConfigError("must be a table of profile fields", path=path, where=where)
    kept = drop_empty(dict(overrides))
    bad = sorted(set(kept) - set(_OVERRIDABLE))
    if bad:
        raise RouteConfigError(
            f"{', '.join(bad)} cannot be overridden; a route may change {', '.join(_OVERRIDABLE)}",
            path=path,
            where=where,
        )
    try:
        checked = Profile.model_validate({"name": "route-check", "model": "route-check", **kept})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise RouteConfigError(
            first["msg"].removeprefix("Value error, "), path=path, where=f"{where}.{field}"
        ) from None
    return {name: getattr(checked, name) for name in kept}  # validated and coerced ("30" -> 30.0)


def drop_empty(values: dict[str, Any]) -> dict[str, Any]:
    """Overrides without their empty values, at every depth: an empty value never overwrites."""
    kept = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            value = drop_empty(dict(value))
        if value not in ("", None, [], {}):
            kept[key] = value
    return kept


def _fallbacks(fallbacks: Any, path: Path | None, where: str) -> dict[str, list[str]] | None:
    if fallbacks is None:
        return None
    if not isinstance(fallbacks, Mapping):
        raise RouteConfigError("must be a table of exception name to profile names", path=path, where=where)
    names = ExceptionNames.of(get_plugin_manager())
    table: dict[str, list[str]] = {}
    for error, targets in fallbacks.items():
        try:
            names.check(str(error))
        except UnknownExceptionNameError as exc:
            raise RouteConfigError(str(exc), path=path, where=f"{where}.{error}") from None
        if not isinstance(targets, list):
            raise RouteConfigError(f'must be a list, e.g. {error} = ["other"]', path=path, where=f"{where}.{error}")
        table[str(error)] = [_profile_name(t, path, f"{where}.{error}") for t in targets]
    return table


def _compile(match: Mapping[str, Any], path: Path | None, where: str) -> Predicate:
    """Turn a match table into a predicate, checking every operator and regex now, not at call time."""
    checks: list[Predicate] = []
    for key, condition in match.items():
        if not isinstance(key, str):
            raise RouteConfigError(f"{key!r}: context keys are strings", path=path, where=where)
        if key in ("$and", "$or"):
            if not condition or not isinstance(condition, list) or not all(isinstance(c, Mapping) for c in condition):
                raise RouteConfigError(
                    f"{key} takes a non-empty list of match tables", path=path, where=f"{where}.{key}"
                )
            parts = [_compile(c, path, f"{where}.{key}[{i}]") for i, c in enumerate(condition)]
            checks.append(_combine(parts, every=key == "$and"))
        elif key.startswith("$"):
            raise RouteConfigError(
                f"unknown operator {key}; use one of {', '.join(sorted(OPERATORS))}", path=path, where=where
            )
        else:
            checks.append(_key_check(key, condition, path, f"{where}.{key}"))
    return lambda ctx: all(check(ctx) for check in checks)


def _key_check(key: str, condition: Any, path: Path | None, where: str) -> Predicate:
    if isinstance(condition, list):  # any of
        if not condition:
            raise RouteConfigError("an empty list matches nothing; list the values to accept", path=path, where=where)
        if any(isinstance(option, Mapping | list) for option in condition):
            raise RouteConfigError(
                'a list here is the values to accept; for operators use a table, e.g. { "$in" = [...] }',
                path=path,
                where=where,
            )
        return _present_and(key, _membership(list(condition), negate=False))
    if not isinstance(condition, Mapping):
        return _present_and(key, _equal(condition, negate=False))
    if not condition:
        raise RouteConfigError(
            'an empty table matches nothing; to test presence use { "$exists" = true }', path=path, where=where
        )
    tests: list[Callable[[Any], bool]] = []
    exists: bool | None = None
    for op, operand in condition.items():
        if op == "$exists":
            if not isinstance(operand, bool):
                raise RouteConfigError("$exists takes true or false", path=path, where=where)
            exists = operand
        elif op in ("$and", "$or"):
            raise RouteConfigError(
                f"{op} combines whole match tables: put it beside the keys, not under one", path=path, where=where
            )
        elif op in ("$eq", "$ne"):
            tests.append(_equal(operand, negate=op == "$ne"))
        elif op in _COMPARE:
            tests.append(_compare(_COMPARE[op], operand))
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list) or (op == "$in" and not operand):
                raise RouteConfigError(f"{op} takes a non-empty list", path=path, where=where)
            tests.append(_membership(operand, negate=op == "$nin"))
        elif op == "$regex":
            try:
                pattern = re.compile(str(operand))
            except re.error as exc:
                raise RouteConfigError(f"bad $regex {operand!r}: {exc}", path=path, where=where) from None
            tests.append(_search(pattern))
        elif op.startswith("$"):
            raise RouteConfigError(
                f"unknown operator {op}; use one of {', '.join(sorted(OPERATORS))}", path=path, where=where
            )
        else:
            raise RouteConfigError(
                "a table here must hold operators ($eq, $in ...); to compare with a table value use $eq",
                path=path,
                where=where,
            )

    def check(ctx: Mapping[str, Any]) -> bool:
        if key not in ctx:
            return exists is False  # a missing key matches nothing but an explicit $exists = false
        if exists is False:
            return False
        value = ctx[key]
        return all(_safe(test, value) for test in tests)

    return check


def _combine(parts: list[Predicate], *, every: bool) -> Predicate:
    if every:
        return lambda ctx: all(part(ctx) for part in parts)
    return lambda ctx: any(part(ctx) for part in parts)


def _present_and(key: str, test: Callable[[Any], bool]) -> Predicate:
    return lambda ctx: key in ctx and _safe(test, ctx[key])


def _compare(compare: Callable[[Any, Any], bool], operand: Any) -> Callable[[Any], bool]:
    # A flag never compares with a number ($gt 0 does not match true), though Python would let it.
    return lambda value: isinstance(value, bool) == isinstance(operand, bool) and compare(value, operand)


def _equal(expected: Any, *, negate: bool) -> Callable[[Any], bool]:
    return lambda value: _same(value, expected) != negate


def _membership(options: list[Any], *, negate: bool) -> Callable[[Any], bool]:
    return lambda value: any(_same(value, option) for option in options) != negate


def _search(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and pattern.search(value) is not None


def _same(value: Any, expected: Any) -> bool:
    # True == 1 in Python; in a context, a flag and a count are different things.
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and value == expected
    return bool(value == expected)


def _safe(test: Callable[[Any], bool], value: Any) -> bool:
    # Comparing values of different types (a string with a number) is no match, not a failed call.
    try:
        return bool(test(value))
    except TypeError:
        return False
