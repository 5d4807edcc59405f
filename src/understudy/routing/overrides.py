"""Overrides and fallbacks: what a route (or a plugin's decision) changes for a call, checked when it is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from understudy.errors import RouteConfigError, UnknownExceptionNameError
from understudy.failures.names import ExceptionNames
from understudy.plugins import get_plugin_manager
from understudy.profiles.profile import NAME_PATTERN, Profile

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["drop_empty", "validate_fallbacks", "validate_overrides", "validate_profile_name"]


# Fields a route may override: what shapes the call, not what names the profile or holds its secret (a
# routes file is not where keys go; a route may point api_key_env elsewhere).
_NOT_OVERRIDABLE: Final = frozenset({"name", "source", "fallbacks", "api_key"})
_OVERRIDABLE: Final = tuple(sorted(set(Profile.model_fields) - _NOT_OVERRIDABLE))


def validate_profile_name(name: Any, path: Path | None, where: str) -> str:
    """``name`` if it is a valid profile name.

    Raises:
        RouteConfigError: it is not.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise RouteConfigError(f"{name!r} is not a profile name", path=path, where=where)
    return name


def validate_overrides(overrides: Any, path: Path | None = None, where: str = "overrides") -> dict[str, Any]:
    """Route overrides, checked like a routes file's: empty values dropped, only overridable fields, each
    value validated and coerced. Used for every decision, a plugin's too.

    Raises:
        RouteConfigError: a field cannot be overridden or a value is invalid.
    """
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


def validate_fallbacks(fallbacks: Any, path: Path | None, where: str) -> dict[str, list[str]] | None:
    """A route's fallbacks table (exception name -> profile names), or None when it has none.

    An empty table is none: like every empty value in a route it never overwrites, so the picked profile keeps
    its own fallbacks. A route clears them with ``{"*" = []}``.

    Raises:
        RouteConfigError: an exception name is unknown, or a value is not a list of profile names.
    """
    if fallbacks is None or (isinstance(fallbacks, Mapping) and not fallbacks):
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
        table[str(error)] = [validate_profile_name(t, path, f"{where}.{error}") for t in targets]
    return table
