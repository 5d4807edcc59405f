"""``understudy check --live``: one minimal request to every profile a name can reach, before traffic does.

For a profile: it and every fallback its table names, transitively. For a tiered router: each tier's
candidates and the classifier. For a match router: the default, each route's profile, and the tiers of a
tiered router a route hands off to. Each profile is asked once, however many entries reach it, with one
user message and ``max_tokens = 1``, through the same transport and arguments a call uses, but alone: no
retry, no fallback, so a broken member is never hidden by the one after it.

Bounded: at most ``--concurrency`` requests at a time, each within ``--timeout`` seconds, so the whole run
takes at most about ``timeout * ceil(profiles / concurrency)``. One line per entry, one indented line per
fallback, tier, route and classifier under it; exit 1 when any member fails::

    ok    main   2 profiles: OK
          fallback backup: ok
    FAIL  auto   tiered: 1 of 3 tiers failing
          tier simple: ok (mini)
          tier complex: FAIL opus: 404 NotFoundError: The model `claude-opus-typo` does not exist
          classifier router-mini: ok
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from understudy.cli._common import EXIT_PROBLEMS, dirs, fail, print_json
from understudy.errors import ProfileError, ProfileNotFoundError, RouteConfigError, RouterFileError
from understudy.profiles.documents import DOCUMENT_SUFFIXES
from understudy.profiles.profile import RESERVED_STEMS, ROUTES_FILE_STEM, TIERS_FILE_STEM
from understudy.redaction import redact

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from understudy.profiles.store import ProfileStore
    from understudy.registry import LLMRegistry
    from understudy.routing.routes import Router

__all__ = ["live_check"]

PING: Final = ({"role": "user", "content": "ping"},)
_REASON_CHARS: Final = 240
# What litellm puts before the provider's message: "litellm.NotFoundError: NotFoundError: OpenAIException - ".
_LITELLM_PREFIX: Final = re.compile(r"^(?:litellm\.\w+: )?(?:\w+Error: )?(?:\w+Exception - )?")


@dataclass(frozen=True, slots=True)
class Probe:
    """What one profile's request did."""

    ok: bool
    reason: str = ""
    seconds: float = 0.0


@dataclass
class Group:
    """One line under an entry: a fallback, a tier, a route or a classifier, and the profiles it names."""

    label: str
    members: list[str]
    plan: bool = False  # a tier: show its candidates in order when all answer


@dataclass
class Entry:
    """A name checked live: a profile or a router file, with what it reaches."""

    name: str
    kind: str  # "profile", "tiered", "match"
    members: list[str] = field(default_factory=list)  # the entry's own profile, for a profile
    groups: list[Group] = field(default_factory=list)
    problem: str | None = None  # it does not load: nothing is asked
    shape: str = ""  # a router's: "2 tiers", "3 routes, 2 tiers"


def live_check(args: argparse.Namespace, store: ProfileStore) -> int:
    """Ask every profile the names reach; print an entry per name; 1 when any member failed."""
    from understudy.registry import LLMRegistry  # the call machinery: only for --live

    registry = LLMRegistry(store)
    names = list(args.names) or _all_names(store)
    if not names:
        return fail(f"no profiles found; searched {dirs(store)}. Create NAME.toml in one of them.", EXIT_PROBLEMS)
    entries = [_entry(name, registry) for name in names]
    wanted = list(dict.fromkeys(m for entry in entries for m in _members(entry)))
    probes = _probe_all(wanted, store, timeout=args.timeout, concurrency=args.concurrency)
    reports = [_report(entry, probes) for entry in entries]
    if args.json:
        print_json(reports)
    else:
        width = max(len(entry.name) for entry in entries)
        for report in reports:
            print(f"{'ok' if report['ok'] else 'FAIL':<4}  {report['name']:<{width}}  {report['summary']}")
            for line in report["lines"]:
                print(f"      {line}")
        failing = sum(not report["ok"] for report in reports)
        asked = f"{len(wanted)} profile{'s' if len(wanted) != 1 else ''} asked"
        print(f"{len(reports)} checked live, {asked}: {f'{failing} failing' if failing else 'all ok'}")
    return EXIT_PROBLEMS if any(not report["ok"] for report in reports) else 0


# -- what each name reaches ------------------------------------------------------------------------------------


def _all_names(store: ProfileStore) -> list[str]:
    routers = [stem for stem in (ROUTES_FILE_STEM, TIERS_FILE_STEM) if _router_file(store, stem)]
    return [*store.names(), *routers]


def _router_file(store: ProfileStore, name: str) -> bool:
    return store.find_file(name, DOCUMENT_SUFFIXES) is not None


def _entry(name: str, registry: LLMRegistry) -> Entry:
    if name in RESERVED_STEMS:
        return _router_entry(name, registry)
    try:
        profile = registry.store.load(name)
    except RouterFileError:
        return _router_entry(name, registry)
    except ProfileNotFoundError as exc:
        if _router_file(registry.store, name):
            return _router_entry(name, registry)
        return Entry(name, "profile", problem=str(exc))
    except ProfileError as exc:
        return Entry(name, "profile", problem=str(exc))
    chain = _fallbacks(name, profile.fallbacks, registry.store)
    return Entry(name, "profile", members=[name], groups=[Group(f"fallback {target}", [target]) for target in chain])


def _fallbacks(name: str, table: dict[str, list[str]], store: ProfileStore) -> list[str]:
    """Every profile ``name``'s fallbacks reach, breadth first, each once (a broken one is still named)."""
    seen, queue, found = {name}, [target for targets in table.values() for target in targets], []
    while queue:
        target = queue.pop(0)
        if target in seen:
            continue
        seen.add(target)
        found.append(target)
        try:
            queue.extend(t for targets in store.load(target).fallbacks.values() for t in targets)
        except ProfileError:
            continue  # its probe says it does not load
    return found


def _router_entry(name: str, registry: LLMRegistry) -> Entry:
    from understudy.routing.match import MatchRouter
    from understudy.routing.tiered import TieredRouter

    try:
        router: Router = registry.router(name).current
    except RouteConfigError as exc:
        return Entry(name, "router", problem=str(exc))
    if isinstance(router, TieredRouter):
        groups = _tier_groups(router, "")
        return Entry(name, "tiered", groups=groups, shape=_count(sum(group.plan for group in groups), "tier"))
    if not isinstance(router, MatchRouter):
        return Entry(name, "router", groups=[Group(profile, [profile]) for profile in router.profiles()])
    store = registry.store
    groups = [Group(f"default {router.default}", _with_fallbacks(router.default, None, store))]
    for route in router.routes:
        if route.profile is not None:
            groups.append(
                Group(f"{route.label} {route.profile}", _with_fallbacks(route.profile, route.fallbacks, store))
            )
            continue
        handed = registry.router(route.router or "").loaded
        if isinstance(handed, TieredRouter):
            groups.extend(_tier_groups(handed, f"{route.label}>"))
    tiers = sum(group.plan for group in groups)
    shape = _count(len(router.routes), "route") + (f", {_count(tiers, 'tier')}" if tiers else "")
    return Entry(name, "match", groups=groups, shape=shape)


def _with_fallbacks(profile: str, replaced: dict[str, list[str]] | None, store: ProfileStore) -> list[str]:
    """A route's profile and the fallbacks a call on it reaches: the route's table, else the profile's."""
    try:
        table = replaced if replaced is not None else store.load(profile).fallbacks
    except ProfileError:
        return [profile]  # its probe says why
    return [profile, *_fallbacks(profile, table, store)]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _tier_groups(router: Any, prefix: str) -> list[Group]:
    groups = [Group(f"{prefix}tier {tier}", list(router.rankings.of(tier)), plan=True) for tier in router.tiers]
    if isinstance(router.classifier, str):
        groups.append(Group(f"{prefix}classifier {router.classifier}", [router.classifier]))
    return groups


def _members(entry: Entry) -> list[str]:
    return [*entry.members, *(member for group in entry.groups for member in group.members)]


# -- asking ---------------------------------------------------------------------------------------------------


def _probe_all(names: Sequence[str], store: ProfileStore, *, timeout: float, concurrency: int) -> dict[str, Probe]:
    """One request per profile, ``concurrency`` at a time, within a hard deadline for the whole run: a request
    still out then counts as failed. The workers are daemon threads, so one stuck on an endpoint that trickles
    bytes never keeps the command from exiting."""
    if not names:
        return {}
    from understudy.calls import backend

    backend.litellm()  # its first import takes seconds: not inside any request's time
    deadline = timeout * math.ceil(len(names) / concurrency) + 5.0
    queue = list(names)
    results: dict[str, Probe] = {}
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                name = queue.pop(0)
            probe = _probe(name, store, timeout)
            with lock:
                results[name] = probe

    workers = [
        threading.Thread(target=work, name=f"understudy-preflight-{i}", daemon=True)
        for i in range(min(concurrency, len(names)))
    ]
    for worker in workers:
        worker.start()
    ends = time.monotonic() + deadline
    for worker in workers:
        worker.join(max(0.0, ends - time.monotonic()))
    with lock:
        return {name: results.get(name) or Probe(False, f"no answer within {deadline:g}s") for name in names}


def _probe(name: str, store: ProfileStore, timeout: float) -> Probe:
    from understudy.calls.stats import StatsBook
    from understudy.calls.transports import caller_for

    started = time.perf_counter()
    secrets: list[str] = []
    try:
        profile = store.load(name)
    except ProfileError as exc:
        return Probe(False, redact(f"does not load: {exc}"), time.perf_counter() - started)
    try:
        secrets = profile.secrets()
        caller = caller_for(profile, StatsBook(), store.plugin_manager)
        request = caller.request({"messages": [dict(message) for message in PING], "max_tokens": 1})
        request["timeout"] = _within(request.get("timeout"), timeout)
        caller.call(request, as_fallback=False)
    except ProfileError as exc:  # a variable it reads is not set
        return Probe(False, redact(str(exc), secrets), time.perf_counter() - started)
    except Exception as exc:
        return Probe(False, _reason(exc, secrets), time.perf_counter() - started)
    return Probe(True, seconds=time.perf_counter() - started)


def _within(sent: Any, bound: float) -> Any:
    """The request's timeout with no phase longer than ``bound``: a number, or the ``httpx.Timeout`` that a
    profile's ``connect_timeout`` / ``first_token_timeout`` / ``stall_timeout`` make (calls/timeouts.py)."""
    if sent is None or isinstance(sent, int | float):
        return min(float(sent or bound), bound)
    import httpx  # litellm's HTTP client, imported by now

    phases = {phase: bound if limit is None else min(limit, bound) for phase, limit in sent.as_dict().items()}
    return httpx.Timeout(**phases)


def _reason(error: Exception, secrets: Sequence[str]) -> str:
    """The provider's reason in one line: status, class and message, secrets masked."""
    status = getattr(error, "status_code", None)
    text = _LITELLM_PREFIX.sub("", " ".join(str(error).split()))
    line = f"{status} {type(error).__name__}: {text}" if status else f"{type(error).__name__}: {text}"
    line = redact(line, secrets)
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 3] + "..."


# -- reporting ------------------------------------------------------------------------------------------------


def _report(entry: Entry, probes: dict[str, Probe]) -> dict[str, Any]:
    if entry.problem is not None:
        problem = redact(entry.problem)
        return {"name": entry.name, "kind": entry.kind, "ok": False, "summary": problem, "lines": [], "members": {}}
    lines, failing = [], 0
    for group in entry.groups:
        bad = [member for member in group.members if not probes[member].ok]
        failing += bool(bad)
        if bad:
            named = group.plan or len(group.members) > 1  # else the label ends with the profile's name
            lines.append(f"{group.label}: FAIL " + "; ".join(f"{m}: " * named + probes[m].reason for m in bad))
        else:
            lines.append(f"{group.label}: ok" + (f" ({' -> '.join(group.members)})" if group.plan else ""))
    own = [member for member in entry.members if not probes[member].ok]
    ok = not own and not failing
    summary = _summary(entry, failing, own, probes)
    members = {
        m: {"ok": probes[m].ok, "reason": probes[m].reason, "seconds": round(probes[m].seconds, 3)}
        for m in _members(entry)
    }
    return {"name": entry.name, "kind": entry.kind, "ok": ok, "summary": summary, "lines": lines, "members": members}


def _summary(entry: Entry, failing: int, own: list[str], probes: dict[str, Probe]) -> str:
    if own:
        return probes[own[0]].reason
    if entry.kind == "profile":
        count = len(_members(entry))
        verdict = "OK" if not failing else f"{failing} of {len(entry.groups)} fallbacks failing"
        return f"{count} profile{'s' if count != 1 else ''}: {verdict}"
    if failing:
        return f"{entry.kind}: {failing} of {len(entry.groups)} failing"
    return f"{entry.kind}: OK ({entry.shape})"
