"""``understudy explain``: the route a context takes, and the profiles a call tries, in order, when it raises
an error. ``--json`` gives the same as one object::

    {"route": null | {"context", "file", "rule", "profile", "reason", "overrides", "fallbacks"},
     "profile": {"name", "model", "source"} | null, "error": "RateLimitError" | null,
     "transient": true | false | null, "matched": "RateLimitError" | "*" | null,
     "propagates": true | false | null, "reason": "...",
     "chain": [{"position", "name", "role", "status", "model", "retries", "skipped", "detail"}, ...]}
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from understudy.calls.retry import is_transient_name, retries_for_name
from understudy.calls.strategy import FallbackStrategy
from understudy.cli._common import EXIT_USAGE, dirs, display, fail, print_json, times, without_path
from understudy.errors import ProfileError, ProfileNotFoundError
from understudy.failures.names import WILDCARD, ExceptionNames
from understudy.redaction import redact, redact_mapping
from understudy.routing.match import MatchRouter

if TYPE_CHECKING:
    import argparse

    from understudy.profiles.profile import Profile
    from understudy.profiles.store import ProfileStore
    from understudy.routing.routes import RouteDecision

__all__ = ["explain"]


def explain(args: argparse.Namespace, store: ProfileStore) -> int:
    """Print the route a context takes, and the profiles a call tries, in order, when it raises ERROR."""
    if (args.name is None) == (not args.context):
        return fail("name a profile, or give --context KEY=VALUE to route one (not both)", EXIT_USAGE)
    if args.name is not None and args.error is None:
        return fail("--error ERROR is needed with a profile name", EXIT_USAGE)
    names = ExceptionNames.of(store.plugin_manager)
    if args.error is not None:
        names.check(args.error)  # an unknown name is a usage error: say so before loading anything
    strategy: FallbackStrategy | None = None
    overrides: dict[str, Any] = {}
    route: dict[str, Any] | None = None
    name = args.name
    if args.context:
        routed = _route(args, store)
        if routed is None:
            return EXIT_USAGE
        route, decision = routed
        if not args.json:
            _print_route(route)
        name, overrides = decision.profile, decision.overrides
        if decision.fallbacks is not None:
            strategy = FallbackStrategy(decision.fallbacks, plugin_manager=store.plugin_manager)
        if args.error is None:
            if args.json:
                print_json({"route": route, **dict.fromkeys(_CHAIN_KEYS)})
            return 0
    profile = store.load(name)
    if overrides:  # the route's own num_retries or timeout is what the call would use
        profile = profile.model_copy(update=overrides)
    strategy = strategy or FallbackStrategy.from_profile(profile, plugin_manager=store.plugin_manager)
    if args.error == WILDCARD:
        chain = strategy.entries.get(WILDCARD)
        matched = WILDCARD if chain is not None else None
        transient = None
    else:
        # By name: the hierarchy is read from litellm's source, so explain answers without importing litellm.
        try:
            matched, chain = strategy.match_name(args.error)
            transient = is_transient_name(args.error, names)
        except (ImportError, AttributeError, TypeError) as exc:
            return fail(f"the class registered for {args.error} cannot be imported: {exc}", EXIT_USAGE)
    retried = retries_for_name(args.error, profile, names) if transient else (0, None)
    result = _explanation(store, profile, args.error, matched, list(chain or ()), transient, retried)
    if args.json:
        print_json({"route": route, **result}, secrets=profile.secrets())
    else:
        _print_chain(profile, args.error, result)
    return 0


_CHAIN_KEYS = ("profile", "error", "transient", "matched", "propagates", "reason", "chain")


def _explanation(
    store: ProfileStore,
    profile: Profile,
    error: str,
    matched: str | None,
    chain: list[str],
    transient: bool | None,
    retried: tuple[int, str | None] = (0, None),
) -> dict[str, Any]:
    """What a call to ``profile`` does when it raises ``error``: the primary, then each fallback in order."""
    primary = f"primary, {profile.model}"
    count, kind = retried
    retries: int | None = None if transient is None else count
    if transient and count and count == profile.num_retries:
        primary += f"; retried up to {times(count)} ({error} is transient)"
    elif transient and count:
        primary += f"; retried up to {times(count)} ({error} is transient; [retries] {kind} = {count})"
    elif transient and profile.num_retries:
        primary += f"; not retried ([retries] {kind} = 0, though {error} is transient)"
    elif transient:
        primary += f"; not retried (num_retries = 0, though {error} is transient)"
    elif transient is False:
        primary += f"; not retried ({error} is not transient: the same request fails the same way)"
    steps = [
        {
            "position": 1,
            "name": profile.name,
            "role": "primary",
            "status": "ok",
            "model": profile.model,
            "retries": retries,
            "skipped": False,
            "detail": primary,
        }
    ]
    steps += [
        {"position": position, "name": name, "role": "fallback", **_target_status(store, name)}
        for position, name in enumerate(chain, 2)
    ]
    return {
        "profile": {"name": profile.name, "model": profile.model, "source": display(profile.source)},
        "error": error,
        "transient": transient,
        "matched": matched,
        "propagates": not chain,
        "reason": _match_reason(error, matched) if chain else _no_fallback_reason(error, matched),
        "chain": steps,
    }


def _print_chain(profile: Profile, error: str, result: dict[str, Any]) -> None:
    what = "a provider error its fallbacks table does not name ('*')" if error == WILDCARD else error
    print(f"When profile {profile.name!r} ({display(profile.source)}) raises {what}:")
    primary, *fallbacks = result["chain"]
    print(f"  1. {profile.name}: {primary['detail']}")
    if result["propagates"]:
        print(f"  then {result['reason']}")
        return
    print(f"  then, {result['reason']}:")
    for step in fallbacks:
        print(f"  {step['position']}. {step['name']}: {step['detail']}")
    print("  Each is tried until one answers; if all fail, the call raises FallbackExhaustedError.")


def _route(args: argparse.Namespace, store: ProfileStore) -> tuple[dict[str, Any], RouteDecision] | None:
    """Which route the context takes; None (after an error message) when it cannot be routed."""
    context: dict[str, Any] = {}
    for item in args.context:
        key, sep, text = item.partition("=")
        if not sep or not key:
            fail(f"--context takes KEY=VALUE, not {item!r}", EXIT_USAGE)
            return None
        context[key] = _context_value(text)
    router = MatchRouter.from_file(args.routes) if args.routes else MatchRouter.find(store)
    if router is None:
        fail(f"no routes.toml or routes.json in {dirs(store)}; pass --routes FILE", EXIT_USAGE)
        return None
    decision = router.select(context)
    route = {
        "context": context,
        "file": str(router.path) if router.path else None,
        "rule": decision.route or "default",
        "profile": decision.profile,
        "reason": decision.reason,
        "overrides": redact_mapping(decision.overrides),
        "fallbacks": decision.fallbacks,
    }
    return route, decision


def _print_route(route: dict[str, Any]) -> None:
    where = f" ({route['file']})" if route["file"] else ""
    print(f"Context {json.dumps(route['context'])} routes{where}:")
    print(f"  {route['rule']}: primary {route['profile']!r}; {route['reason']}")
    if route["overrides"]:
        print(f"  overrides for this route: {json.dumps(route['overrides'], default=str)}")
    if route["fallbacks"] is not None:
        print(f"  the route replaces {route['profile']}'s fallbacks with: {json.dumps(route['fallbacks'])}")


def _context_value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


def _match_reason(error: str, matched: str | None) -> str:
    if matched == WILDCARD and error != WILDCARD:
        return f"as fallbacks['*'] says (no entry names {error} or a base class of it)"
    if matched is not None and matched != error:
        return f"as fallbacks[{matched!r}] says ({error} is a kind of {matched})"
    return f"as fallbacks[{matched!r}] says"


def _no_fallback_reason(error: str, matched: str | None) -> str:
    if matched is None and error == WILDCARD:
        return "the error propagates unchanged: the fallbacks table has no '*' entry"
    if matched is None:
        return f"the error propagates unchanged: no fallbacks entry names {error}, a base class of it, or '*'"
    via = f" ({error} is a kind of {matched})" if matched not in (error, WILDCARD) else ""
    return f"the error propagates unchanged: fallbacks[{matched!r}] is an empty list{via}, which stops the walk"


def _target_status(store: ProfileStore, name: str) -> dict[str, Any]:
    """A fallback's status (``ok``, ``not_found``, ``invalid`` or ``key_not_set``), its model and retries,
    whether a call would skip it, and all that in words (``detail``)."""
    try:
        profile = store.load(name)
    except ProfileNotFoundError as exc:
        close = f" (did you mean {', '.join(repr(c) for c in exc.close_matches)}?)" if exc.close_matches else ""
        detail = f"not found{close}; the call would skip it"
        return {"status": "not_found", "model": None, "retries": None, "skipped": True, "detail": detail}
    except ProfileError as exc:
        detail = f"invalid, the call would skip it: {redact(without_path(exc))}"
        return {"status": "invalid", "model": None, "retries": None, "skipped": True, "detail": detail}
    status = {"status": "ok", "model": profile.model, "retries": profile.num_retries, "skipped": False}
    detail = f"ok, {profile.model}"
    if profile.num_retries:
        detail += f"; retried up to {times(profile.num_retries)} on transient errors"
    if profile.api_key_env and not os.environ.get(profile.api_key_env):
        detail += f"; but {profile.api_key_env} is not set, so the call would skip it"
        status.update(status="key_not_set", skipped=True)
    return {**status, "detail": detail}
