"""LiteLLM's depth-first fallback walk, simulated: which model groups its Router tries, and in what order,
when a model group fails and so does every fallback it tries (see ``understudy.importers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from understudy.failures.names import WILDCARD

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from understudy.importers.litellm_fallbacks import Table
    from understudy.importers.litellm_model_list import Group
    from understudy.importers.results import Notes

_MAX_CLAUSES: Final = 6  # places listed in one warning about fallback walks before "..."


def fallback_chains(
    notes: Notes,
    group: Group,
    tables: list[Table],
    groups: dict[str, Group],
    max_fallbacks: int,
    max_setting: tuple[Any, str] | None,
) -> dict[str, list[str] | None]:
    """What a group's profiles fall back to, per kind of error: the profile names of every model group
    LiteLLM's Router would try, in its order (see ``_walk``); None where the table of that kind gives the
    group no entry, so LiteLLM raises the error unchanged. Warns where the walk is cut by
    ``max_fallbacks``, and where a fallback failing with another kind of error sends LiteLLM elsewhere."""
    primary = group.model_name
    general = next((table for table in tables if table.exception == WILDCARD), None)
    # The table LiteLLM consults per kind of error: a specific table if the config has one, else the general.
    kinds = [(WILDCARD, general), *((table.exception, table) for table in tables if table is not general)]
    chains: dict[str, list[str] | None] = {}
    cut: list[str] = []
    elsewhere: list[str] = []
    for exception, table in kinds:
        if table is None:
            chains[exception] = []
            continue
        if exception != WILDCARD and table.lookup((primary,)) is None:
            chains[exception] = None
            continue
        walked = _walk(primary, _tables_of(table), max_fallbacks)
        chains[exception] = _names(groups, (target for target, _ in walked))
        reached = {target for target, _ in walked}
        beyond = [target for target, _ in _walk(primary, _tables_of(table), None) if target not in reached]
        if beyond:
            cut.append(f"{', '.join(_names(groups, beyond))} for {_key(exception)}")
        # (the error one fallback raises instead, what LiteLLM then tries that this list does not name), the
        # others failing as the primary did -> those fallbacks
        parted: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for hop, depth in walked:
            if depth >= max_fallbacks:
                continue  # LiteLLM does not look up this fallback's own fallbacks, whatever its error
            for other, alternative in kinds:
                if alternative is None or alternative is table:
                    continue
                walk = _walk(primary, _tables_of(table, (hop, alternative)), max_fallbacks)
                extra = tuple(target for target, _ in walk if target not in reached)
                if extra:
                    parted.setdefault((other, extra), []).append(groups[hop].names[0])
        clauses = [
            f"{', '.join(_names(groups, extra))} if {' or '.join(hops)} raises {_kind(other)}"
            for (other, extra), hops in parted.items()
        ]
        if clauses:
            elsewhere.append(f"in the {_key(exception)} list: {_listed(clauses, ', ')}")
    where = _group_where(group)
    if cut:
        setting = f"{max_setting[1]} = {max_fallbacks}" if max_setting else f"max_fallbacks = {max_fallbacks}"
        notes.warn(
            where,
            f"fallbacks deeper than {setting}{'' if max_setting else ' (LiteLLM default)'} are left out, as "
            f"LiteLLM never reaches them: {_listed(cut, '; ')}",
        )
    if elsewhere:
        notes.warn(
            where,
            "each fallbacks list is LiteLLM's walk when every fallback fails with the first error's kind; "
            "LiteLLM picks a fallback's own fallbacks by the error that fallback raised, understudy keeps to "
            f"the one list, so LiteLLM also tries, {'; '.join(elsewhere)} (add them to the list to try them too)",
        )
    return chains


def _walk(primary: str, table_of: Callable[[str], Table], max_fallbacks: int | None) -> list[tuple[str, int]]:
    """The model groups LiteLLM's Router tries, in order, after ``primary`` fails and each of them fails too,
    each with its depth (LiteLLM's ``fallback_depth`` when that group's own fallbacks are looked up).
    ``table_of`` gives the fallbacks table a failed group's error makes LiteLLM consult.

    As ``run_async_fallback`` (litellm/router_utils/fallback_event_handlers.py) does it: depth first, a failed
    fallback's own list before the next entry; a group the request tried already is skipped; a fallback's
    list is the entry under its own name, else the primary's (``fallback_lookup_groups``), else ``"*"``; and
    a list is not looked into once the depth reaches ``max_fallbacks`` (None: no limit), the primary's at 0.
    """
    attempted = {primary}
    tried: list[tuple[str, int]] = []

    def targets(failed: str) -> Iterator[str]:
        return iter(table_of(failed).lookup((failed,) if failed == primary else (failed, primary)) or ())

    frames = [(primary, 0, targets(primary))] if max_fallbacks is None or max_fallbacks > 0 else []
    while frames:
        failed, depth, pending = frames[-1]
        target = next((t for t in pending if t != failed and t not in attempted), None)
        if target is None:
            frames.pop()
            continue
        attempted.add(target)
        depth += 1
        tried.append((target, depth))
        frames[-1] = (failed, depth, pending)
        if max_fallbacks is None or depth < max_fallbacks:
            frames.append((target, depth, targets(target)))
    return tried


def _tables_of(table: Table, exception: tuple[str, Table] | None = None) -> Callable[[str], Table]:
    """For ``_walk``: every failure consults ``table``, but that of the model group ``exception`` names, which
    consults the table given with it (the group failed with another kind of error)."""

    def table_of(failed: str) -> Table:
        return exception[1] if exception is not None and failed == exception[0] else table

    return table_of


def _names(groups: dict[str, Group], model_names: Iterable[str]) -> list[str]:
    """The profile names of model groups: every deployment of each."""
    return [name for model_name in model_names for name in groups[model_name].names]


def _kind(exception: str) -> str:
    """A kind of error as a warning names it: ``"*"`` stands for every error without a list of its own."""
    return "another error" if exception == WILDCARD else exception


def _key(exception: str) -> str:
    """A key of a profile's fallbacks table as a warning names it."""
    return repr(WILDCARD) if exception == WILDCARD else exception


def _listed(parts: list[str], separator: str) -> str:
    shown = separator.join(parts[:_MAX_CLAUSES])
    return shown + (f"{separator}... ({len(parts)} in all)" if len(parts) > _MAX_CLAUSES else "")


def _group_where(group: Group) -> str:
    indexes = ", ".join(str(index) for index, _ in group.entries)
    return f"model_list[{indexes}] ({group.model_name!r})"
