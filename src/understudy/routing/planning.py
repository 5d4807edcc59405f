"""Planning a routed call from its decision: which LLM starts it, with the route's overrides and fallbacks,
and where the session's stickiness keeps it (on the fallback that served it last, or on the incumbent when a
switch cost applies).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from understudy.calls.llm import LLM
from understudy.calls.strategy import FallbackStrategy
from understudy.errors import ProfileError
from understudy.events import RouteChosen
from understudy.profiles.profile import Profile
from understudy.routing.deciding import default_decision, routing_failure
from understudy.routing.overrides import validate_overrides
from understudy.routing.ranking import price_of
from understudy.routing.routes import RouteDecision
from understudy.routing.sessions import SessionBook, SessionState, Stickiness

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from understudy.calls.protocols import Caller, Registry
    from understudy.events import Event, RoutingFailed
    from understudy.routing.routes import Router

__all__ = ["Plan", "Planner"]

_VARIANTS: Final = 256  # distinct (profile, overrides, fallbacks) decisions kept built


@dataclass
class Plan:
    """One routed call, decided: the LLM to start with, and what to report and remember."""

    llm: LLM
    decision: RouteDecision
    route: str  # router:rule, on every event and in the route stats
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    sticky_on: str | None = None
    kept: bool = False
    probed: bool = False
    number: int = 0
    failures: list[RoutingFailed] = field(default_factory=list)
    resolve: Callable[[str], Caller] | None = None
    serving: str | None = None  # who the route's stats count as serving it, once the call returned

    def events(self) -> list[Event]:
        chosen = RouteChosen(
            call_id=self.call_id,
            primary=self.llm.name,
            route=self.route,
            router=self.decision.router,
            profile=self.decision.profile,
            reason=self.decision.reason,
            sticky_on=self.sticky_on,
            kept=self.kept,
            classifier=self.decision.classifier,
        )
        return [*self.failures, chosen]


class Planner:
    """Turns decisions into plans for one routed LLM, keeping its sessions and the LLMs built for routes."""

    def __init__(self, registry: Registry, router: Router, stickiness: Stickiness) -> None:
        self.registry = registry
        self.router = router
        self.stickiness = stickiness
        self.sessions = SessionBook(stickiness.max_sessions)
        self._variants: OrderedDict[str, tuple[Profile, LLM]] = OrderedDict()
        self._lock = threading.Lock()

    def plan(self, decision: RouteDecision, failures: list[RoutingFailed], session: str | None) -> Plan:
        if decision.error is not None:  # the router handled a failure itself (a classifier timed out)
            failures.append(routing_failure(decision.router, decision.error))
        state, number = (SessionState(), 0)
        if session is not None and self.stickiness.remembers:
            state, number = self.sessions.begin(session)
        try:
            plan = self._session_plan(decision, state, session)
        except Exception as exc:  # a decision naming a profile that cannot load, bad plugin overrides ...
            failures.append(routing_failure(decision.router, exc))
            try:  # the switch cost may have kept the session on a profile that broke: try the new pick
                plan = self._session_plan(decision, SessionState(), session)
            except Exception:
                fallback = default_decision(self.router, f"{decision.profile!r} could not be used")
                plan = Plan(self.registry.get(fallback.profile), fallback, f"{fallback.router}:default")
        plan.number = number
        plan.failures = [
            failure.model_copy(update={"call_id": plan.call_id, "primary": plan.llm.name, "route": plan.route})
            for failure in failures
        ]
        return plan

    def _session_plan(self, decision: RouteDecision, state: SessionState, session: str | None) -> Plan:
        rules = self.stickiness
        why = self._keeps(decision, state) if rules.switch_cost else None
        kept = why is not None
        if why is not None and state.picked is not None:
            previous = state.decision or RouteDecision(profile=state.picked, router=decision.router)
            # The classification was this call's, whichever decision it keeps.
            update = {"reason": f"{decision.reason}; {why}", "error": None, "classifier": decision.classifier}
            decision = previous.model_copy(update=update)
        route = f"{decision.router}:{decision.route or 'default'}"
        primary = self._variant(decision)
        plan = Plan(primary, decision, route, kept=kept)
        same_route = (state.picked, state.route) == (decision.profile, route)
        stuck = state.stuck_on if rules.mode != "per_call" and same_route else None
        lapsed = stuck is not None and rules.mode == "ttl" and time.monotonic() - state.stuck_since >= (rules.ttl or 0)
        if lapsed and session is not None and self.sessions.claim_probe(session, rules.ttl or 0):
            plan.probed = True  # the ttl lapsed: this call starts at the primary again
        elif stuck is not None:
            try:
                plan.llm, plan.sticky_on = self._stuck(stuck, primary), stuck
                plan.resolve = lambda name: (primary if name == primary.name else self.registry.get(name)).caller
            except ProfileError:
                # The fallback the session stayed on cannot be used any more: start at the primary.
                if session is not None:
                    self.sessions.unstick(session, stuck)
        return plan

    def _keeps(self, decision: RouteDecision, state: SessionState) -> str | None:
        """Why the switch cost keeps the session on its incumbent instead of ``decision``'s pick, or None.

        Only a real decision moves a session: one the router made because routing failed (a classifier that
        timed out) keeps it where it is. A real decision keeps it only while the incumbent is fit for the
        request (one of the decision's candidates: a tier's) and the new pick is not cheaper by the factor.
        """
        incumbent, factor = state.picked, self.stickiness.switch_cost or 1.0
        if incumbent is None or incumbent == decision.profile:
            return None
        if decision.error is not None:
            return f"kept on {incumbent!r}: routing failed, and only a real decision moves a session"
        if decision.candidates and incumbent not in decision.candidates:
            return None  # the request is for another tier: the incumbent is not fit for it, cheap or not
        if self._cheaper_by(decision.profile, incumbent, factor):
            return None
        return f"kept on {incumbent!r}: {decision.profile!r} is not cheaper by more than {factor:g}x"

    def _variant(self, decision: RouteDecision) -> LLM:
        """The picked profile's LLM, with the route's overrides and fallbacks applied for this call."""
        base = self.registry.get(decision.profile)
        if not decision.overrides and decision.fallbacks is None:
            return base
        key = json.dumps([decision.profile, decision.overrides, decision.fallbacks], sort_keys=True, default=str)
        with self._lock:
            cached = self._variants.get(key)
            if cached is not None and cached[0] == base.profile:
                self._variants.move_to_end(key)
                return cached[1]
        # Checked like a routes file's, whoever decided: a plugin's decision has not been through one.
        overrides = validate_overrides(decision.overrides)
        fields = base.profile.model_dump(exclude={"params"})
        if "api_key_env" in overrides:
            fields["api_key"] = None  # a route that names another key variable replaces a literal key
        if "api_base" in overrides:
            fields["api_base_env"] = None  # and a route's endpoint replaces one read from a variable
        if "api_base_env" in overrides:
            fields["api_base"] = None
        fields.update(overrides, params=_merged(base.profile.params, overrides.get("params", {})))
        profile = Profile.model_validate({**fields, "name": base.name, "source": base.profile.source})
        llm = LLM(profile, self.registry)
        if decision.fallbacks is not None:
            llm.fallback_strategy = FallbackStrategy(decision.fallbacks, plugin_manager=self.registry.plugin_manager)
        with self._lock:
            self._variants[key] = (base.profile, llm)
            while len(self._variants) > _VARIANTS:
                self._variants.popitem(last=False)
        return llm

    def _stuck(self, name: str, picked: LLM) -> LLM:
        """The sticky fallback as primary; when it fails: the picked primary, then the picked primary's chain."""
        stuck = self.registry.get(name)
        stuck.profile.resolve_api_key()  # a key variable unset since: unusable, like a broken file
        stuck.profile.resolve_api_base()
        # Whatever fails the sticky fallback, the routed primary comes next, then its own list.
        table = {
            error: [picked.name, *[t for t in targets if t != name]]
            for error, targets in picked.fallback_strategy.entries.items()
        }
        table.setdefault("*", [picked.name])
        llm = LLM(stuck.profile, self.registry)
        llm.fallback_strategy = FallbackStrategy(table, plugin_manager=self.registry.plugin_manager)
        return llm

    def _cheaper_by(self, new: str, current: str, factor: float) -> bool:
        """True when ``new`` costs less than ``current`` per token by more than ``factor``; unknown is not."""
        new_cost, current_cost = price_of(self.registry, new), price_of(self.registry, current)
        if new_cost is None or current_cost is None or new_cost <= 0:
            return False
        return current_cost / new_cost > factor


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in at every depth: a route adding one header keeps the others."""
    merged = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        merged[key] = _merged(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged
