"""Conditions: a route's ``match`` table compiled into a predicate over the call's context.

Every operator and regex is checked when the table is compiled, so a mistake is found when the router is built.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from understudy.errors import RouteConfigError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["OPERATORS", "Predicate", "compile_match"]


Predicate = Callable[[Mapping[str, Any]], bool]

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
OPERATORS: Final = frozenset({*_COMPARE, "$eq", "$ne", "$in", "$nin", "$regex", "$exists", "$and", "$or"})


def compile_match(match: Mapping[str, Any], path: Path | None, where: str) -> Predicate:
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
            parts = [compile_match(c, path, f"{where}.{key}[{i}]") for i, c in enumerate(condition)]
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
