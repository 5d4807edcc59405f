"""``understudy explain``: the route a context takes, and the profiles a call tries, in order, when it raises
an error. ``--json`` gives the same as one object::

    {"route": null | {"context", "file", "rule", "profile", "reason", "overrides", "fallbacks"},
     "profile": {"name", "model", "source"} | null, "error": "RateLimitError" | null,
     "transient": true | false | null, "matched": "RateLimitError" | "*" | null,
     "propagates": true | false | null, "reason": "...",
     "chain": [{"position", "name", "role", "status", "model", "retries", "skipped", "detail", "health"}, ...]}

(``understudy.calls.explanation``; ``health`` is null here: a live registry's is ``registry.explain()``'s.)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from understudy.calls.explanation import explanation
from understudy.calls.strategy import FallbackStrategy
from understudy.cli._common import EXIT_USAGE, RouterLookup, dirs, fail, print_json
from understudy.failures.names import ExceptionNames
from understudy.redaction import redact_mapping
from understudy.routing.match import MatchRouter

if TYPE_CHECKING:
    import argparse

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
    try:
        result = explanation(store, profile, args.error, strategy=strategy, names=names)
    except (ImportError, AttributeError, TypeError) as exc:
        return fail(f"the class registered for {args.error} cannot be imported: {exc}", EXIT_USAGE)
    if args.json:
        print_json({"route": route, **result}, secrets=profile.secrets())
    else:
        print(result)
    return 0


_CHAIN_KEYS = ("profile", "error", "transient", "matched", "propagates", "reason", "chain")


def _route(args: argparse.Namespace, store: ProfileStore) -> tuple[dict[str, Any], RouteDecision] | None:
    """Which route the context takes; None (after an error message) when it cannot be routed."""
    context: dict[str, Any] = {}
    for item in args.context:
        key, sep, text = item.partition("=")
        if not sep or not key:
            fail(f"--context takes KEY=VALUE, not {item!r}", EXIT_USAGE)
            return None
        context[key] = _context_value(text)
    routers = RouterLookup(store)
    router = (
        MatchRouter.from_file(args.routes, routers=routers) if args.routes else MatchRouter.find(store, routers=routers)
    )
    if router is None:
        fail(f"no routes.toml or routes.json in {dirs(store)}; pass --routes FILE", EXIT_USAGE)
        return None
    rule = router.route_for(context)
    # A route that hands off to a tiered router is shown without calling its classifier: explain is offline.
    decision = router.unclassified(rule) if rule is not None and rule.router is not None else router.select(context)
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
