"""LiteLLM's fallback settings as tables: per kind of error, which model groups each model group falls
back to, looked up as LiteLLM's Router looks them up; and each profile's fallbacks table made from them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from understudy.failures.names import WILDCARD

if TYPE_CHECKING:
    from understudy.importers.results import Notes

FALLBACK_SETTINGS: Final = {
    "fallbacks": WILDCARD,
    "context_window_fallbacks": "ContextWindowExceededError",
    "content_policy_fallbacks": "ContentPolicyViolationError",
}
_MAX_LISTED: Final = 20  # model_names listed in an error before "..."


@dataclass(frozen=True)
class Rule:
    targets: tuple[str, ...]  # model_names, in order
    where: str


@dataclass
class Table:
    """One kind of fallbacks (general, context window or content policy): per model_name, and for the rest."""

    exception: str  # the key it becomes in a profile's fallbacks
    where: str
    by_group: dict[str, Rule] = field(default_factory=dict)
    generic: Rule | None = None

    def lookup(self, model_names: tuple[str, ...]) -> tuple[str, ...] | None:
        """The fallbacks LiteLLM takes from this table for a failure of the first of ``model_names``: the first
        entry of theirs, else ``"*"``'s; None for neither (``get_fallback_model_group_for_lookup_groups``)."""
        for model_name in model_names:
            rule = self.by_group.get(model_name)
            if rule is not None:
                return rule.targets
        return self.generic.targets if self.generic is not None else None


def read_tables(
    notes: Notes, settings: dict[str, tuple[Any, str]], known: set[str], wildcards: set[str]
) -> list[Table]:
    """The config's fallback tables, one per kind of error it gives fallbacks for (the general one first)."""
    tables = [
        _table(notes, exception, *settings[key], known, wildcards)
        for key, exception in FALLBACK_SETTINGS.items()
        if key in settings
    ]
    if "default_fallbacks" in settings:
        value, where = settings["default_fallbacks"]
        general = next((t for t in tables if t.exception == WILDCARD), None)
        if general is None:
            general = Table(WILDCARD, where)
            tables.insert(0, general)
        elif general.generic is not None:
            notes.warn(general.generic.where, f"ignored: {where} replaces it, as in LiteLLM")
        targets = _targets(notes, value, where, known, wildcards)
        if targets is not None:
            general.generic = Rule(targets, where)
    return tables


def _table(notes: Notes, exception: str, value: Any, where: str, known: set[str], wildcards: set[str]) -> Table:
    table = Table(exception, where)
    if not isinstance(value, list):
        notes.problem(where, 'must be a list of {model_name: [fallback model_names]}, e.g. [{"gpt-4": ["claude"]}]')
        return table
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, Mapping) or len(item) != 1:
            notes.problem(at, 'must map one model_name to its fallbacks, e.g. {"gpt-4": ["claude"]}')
            continue
        ((model_name, value_targets),) = item.items()
        key_known = model_name == WILDCARD or _reference(notes, model_name, at, known, wildcards, what="the key")
        targets = _targets(notes, value_targets, at, known, wildcards)
        if model_name == WILDCARD:
            if table.generic is not None:
                notes.warn(table.generic.where, f"ignored: {at} is another '*' entry, and LiteLLM uses the last")
            if targets is not None:
                table.generic = Rule(targets, at)
        elif key_known:
            if model_name in table.by_group:
                first = table.by_group[model_name].where
                notes.warn(at, f"ignored: {first} gives {model_name!r} fallbacks already, and LiteLLM uses that")
            elif targets is not None:
                if model_name in targets:
                    notes.warn(at, f"{model_name!r} names itself as a fallback; left out")
                table.by_group[model_name] = Rule(tuple(t for t in targets if t != model_name), at)
    return table


def _targets(notes: Notes, value: Any, where: str, known: set[str], wildcards: set[str]) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]  # LiteLLM takes {"gpt-4": "claude"} too
    if not isinstance(value, list):
        notes.problem(where, "the fallbacks must be a list of model_names")
        return None
    targets = []
    for position, item in enumerate(value):
        name = item.get("model") if isinstance(item, Mapping) else item
        if not isinstance(name, str):
            # Not quoted: a mis-pasted item may hold a key.
            notes.problem(where, f"fallback {position + 1} of the list is not a model_name")
            continue
        if isinstance(item, Mapping) and len(item) > 1:
            notes.warn(where, f"fallback {name!r} is imported as its model alone; its other settings are not")
        if _reference(notes, name, where, known, wildcards, what="fallback"):
            targets.append(name)
    return tuple(targets)


def _reference(notes: Notes, name: Any, where: str, known: set[str], wildcards: set[str], *, what: str) -> bool:
    if name in known:
        return True
    if name in wildcards:
        notes.problem(where, f"{what} {name!r} is a wildcard route, which is not imported; name a model_name")
        return False
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=3) if isinstance(name, str) else []
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    listed = ", ".join(names[:_MAX_LISTED]) + (f" ... ({len(names)} in all)" if len(names) > _MAX_LISTED else "")
    notes.problem(where, f"{what} {name!r} is not a model_name in model_list; {hint}the model_names are: {listed}")
    return False


def profile_fallbacks(
    name: str,
    siblings: list[str],
    chains: dict[str, list[str] | None],
    tables: list[Table],
    unrouted: dict[str, list[str]],
) -> dict[str, list[str]]:
    """One profile's fallbacks table: the specific entries first, then ``"*"`` (the group's other
    deployments, then the general fallbacks)."""
    fallbacks: dict[str, list[str]] = {}
    for table in tables:
        if table.exception == WILDCARD:
            continue
        chain = chains[table.exception]
        if chain is None:
            # LiteLLM raises this error unchanged for a model its table does not name, instead of using
            # the general fallbacks; an empty list does the same here.
            fallbacks[table.exception] = []
            unrouted.setdefault(table.where, []).append(name)
        else:
            fallbacks[table.exception] = chain
    general = siblings + (chains[WILDCARD] or [])
    if general:
        fallbacks[WILDCARD] = general
    return fallbacks
