"""RoutedLLM: what an agent holds when a router picks the primary. It routes, then falls back.

Per call: plugins (``understudy_route``) or the router choose the primary from the context; the session's
stickiness may keep it elsewhere; then the usual fallback walk runs from there. Nothing about routing may
block a call: a router or plugin that raises, or a decision that cannot be built, sends the call to the
router's default profile with a ``RoutingFailed`` event.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Unpack

from understudy.calls.llm import HIDDEN_KEY, LLM, served_by
from understudy.calls.strategy import FallbackStrategy
from understudy.calls.walk import emit_async, emit_sync, run_async, run_sync, walk
from understudy.errors import ProfileError
from understudy.events import RouteChosen, RoutingFailed
from understudy.profiles.profile import Profile
from understudy.redaction import redact
from understudy.routing.match import validate_overrides
from understudy.routing.routes import RouteDecision
from understudy.routing.sessions import SessionBook, SessionState, Stickiness

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from understudy.calls.args import CompletionArgs
    from understudy.events import Event
    from understudy.registry import LLMRegistry
    from understudy.routing.routes import Router

__all__ = ["RoutedLLM"]

logger = logging.getLogger("understudy")

_BUILTIN_ROUTING: Final = "understudy.route"  # the plugin that asks the router; RoutedLLM asks it directly
_VARIANTS: Final = 256  # distinct (profile, overrides, fallbacks) decisions kept built


@dataclass
class _Plan:
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
    resolve: Callable[[str], LLM] | None = None

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
        )
        return [*self.failures, chosen]


class RoutedLLM:
    """Routes each call to a primary profile, then falls back as that profile (or the route) says.

    Get one from ``LLMRegistry.get_routed(router, stickiness=...)``, which checks the router first.

    Attributes:
        router: chooses the primary from ``context``.
        stickiness: how calls that share a ``session`` key are kept together.
    """

    def __init__(self, registry: LLMRegistry, router: Router, stickiness: Stickiness | str | float | None = None):
        self.registry = registry
        self.router = router
        self.stickiness = Stickiness.of(stickiness)
        self.sessions = SessionBook(self.stickiness.max_sessions)
        self._variants: OrderedDict[str, tuple[Profile, LLM]] = OrderedDict()
        self._lock = threading.Lock()

    def completion(
        self, *, context: Mapping[str, Any] | None = None, session: str | None = None, **kwargs: Unpack[CompletionArgs]
    ) -> Any:
        """Route, then ``litellm.completion`` with fallbacks. Takes litellm's arguments besides these.

        Args:
            context: what the router matches on (``{"platform": "discord", ...}``).
            session: a key shared by the calls of one conversation, for stickiness.
        """
        context = context or {}
        decision, failures = self._ask_plugins(context, kwargs.get("messages"))
        if decision is None:
            decision = self._ask_router(context, kwargs.get("messages"), failures)
        plan = self._plan(decision, failures, session)
        try:
            for event in plan.events():
                emit_sync(self.registry.dispatch, event)
            steps = walk(plan.llm, dict(kwargs), route=plan.route, call_id=plan.call_id, resolve=plan.resolve)
            response = run_sync(steps, self.registry.dispatch)
        except BaseException:
            self._after(plan, session, None)
            raise
        self._after(plan, session, response)
        return response

    async def acompletion(
        self, *, context: Mapping[str, Any] | None = None, session: str | None = None, **kwargs: Unpack[CompletionArgs]
    ) -> Any:
        """The async twin of ``completion``. A router with ``aselect`` (``TieredRouter``) is awaited, so a slow
        classifier holds neither the event loop nor its executor."""
        context = context or {}
        decision, failures = self._ask_plugins(context, kwargs.get("messages"))
        if decision is None:
            aselect = getattr(self.router, "aselect", None)
            if callable(aselect):
                try:
                    answer = aselect(context, messages=kwargs.get("messages"))
                    decision = self._checked(await answer if inspect.isawaitable(answer) else answer)
                except Exception as exc:
                    failures.append(self._failure(self.router.name, exc))
                    decision = self._default("the router raised")
            else:
                decision = self._ask_router(context, kwargs.get("messages"), failures)
        plan = self._plan(decision, failures, session)
        try:
            for event in plan.events():
                await emit_async(self.registry.dispatch, event)
            steps = walk(plan.llm, dict(kwargs), route=plan.route, call_id=plan.call_id, resolve=plan.resolve)
            response = await run_async(steps, self.registry.dispatch)
        except BaseException:  # a cancelled call is counted too
            self._after(plan, session, None)
            raise
        self._after(plan, session, response)
        return response

    def decide(self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None = None) -> RouteDecision:
        """The route a call with this context would take. Calls no model, unless the router's classifier is one."""
        decision, failures = self._ask_plugins(context, messages)
        return decision or self._ask_router(context, messages, failures)

    # -- deciding ------------------------------------------------------------------------------------------

    def _ask_plugins(
        self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None
    ) -> tuple[RouteDecision | None, list[RoutingFailed]]:
        """The first plugin answer, in pluggy's order; a plugin that raises is reported and passed over."""
        failures: list[RoutingFailed] = []
        hook = self.registry.plugin_manager.hook.understudy_route
        for impl in reversed(hook.get_hookimpls()):
            if impl.plugin_name == _BUILTIN_ROUTING or impl.hookwrapper or impl.wrapper:
                continue
            args = {"router": self.router, "context": context, "messages": messages}
            try:
                answer = impl.function(*[args[name] for name in impl.argnames])
                if inspect.isawaitable(answer):
                    close = getattr(answer, "close", None)
                    if callable(close):
                        close()
                    raise TypeError("understudy_route implementations must be plain functions, not async")
                if answer is not None and not isinstance(answer, RouteDecision):
                    raise TypeError(f"understudy_route returned {answer!r}, not a RouteDecision")
            except Exception as exc:
                # pluggy names an unnamed plugin by its id(); its class says more.
                name = type(impl.plugin).__name__ if impl.plugin_name.isdigit() else impl.plugin_name
                logger.warning("plugin %r raised in understudy_route; asking the next", name)
                failures.append(self._failure(f"plugin {name}", exc))
                continue
            if answer is not None:
                return answer, failures
        return None, failures

    def _ask_router(
        self,
        context: Mapping[str, Any],
        messages: Sequence[Mapping[str, Any]] | None,
        failures: list[RoutingFailed],
    ) -> RouteDecision:
        try:
            return self._checked(self.router.select(context, messages=messages))
        except Exception as exc:
            failures.append(self._failure(self.router.name, exc))
            return self._default("the router raised")

    @staticmethod
    def _checked(answer: object) -> RouteDecision:
        if not isinstance(answer, RouteDecision):
            raise TypeError(f"the router returned {answer!r}, not a RouteDecision")
        return answer

    def _default(self, why: str) -> RouteDecision:
        return RouteDecision(profile=self.router.default, router=self.router.name, reason=f"{why}; the default")

    def _failure(self, who: str, error: BaseException | str) -> RoutingFailed:
        # call_id and primary are filled in by _plan, once they are known.
        return RoutingFailed(
            call_id="",
            primary="",
            router=who,
            error_type=type(error).__name__ if isinstance(error, BaseException) else None,
            message=redact(str(error)),
        )

    # -- planning ------------------------------------------------------------------------------------------

    def _plan(self, decision: RouteDecision, failures: list[RoutingFailed], session: str | None) -> _Plan:
        if decision.error is not None:  # the router handled a failure itself (a classifier timed out)
            failures.append(self._failure(decision.router, decision.error))
        state, number = (SessionState(), 0)
        if session is not None and self.stickiness.remembers:
            state, number = self.sessions.begin(session)
        try:
            plan = self._session_plan(decision, state, session)
        except Exception as exc:  # a decision naming a profile that cannot load, bad plugin overrides ...
            failures.append(self._failure(decision.router, exc))
            try:  # the switch cost may have kept the session on a profile that broke: try the new pick
                plan = self._session_plan(decision, SessionState(), session)
            except Exception:
                fallback = self._default(f"{decision.profile!r} could not be used")
                plan = _Plan(self.registry.get(fallback.profile), fallback, f"{fallback.router}:default")
        plan.number = number
        plan.failures = [
            failure.model_copy(update={"call_id": plan.call_id, "primary": plan.llm.name, "route": plan.route})
            for failure in failures
        ]
        return plan

    def _session_plan(self, decision: RouteDecision, state: SessionState, session: str | None) -> _Plan:
        rules = self.stickiness
        kept = False
        if (
            rules.switch_cost
            and state.picked is not None
            and state.picked != decision.profile
            and not self._cheaper_by(decision.profile, state.picked, rules.switch_cost)
        ):
            kept = True
            why = f"kept on {state.picked!r}: {decision.profile!r} is not cheaper by more than {rules.switch_cost:g}x"
            previous = state.decision or RouteDecision(profile=state.picked, router=decision.router)
            decision = previous.model_copy(update={"reason": f"{decision.reason}; {why}", "error": None})
        route = f"{decision.router}:{decision.route or 'default'}"
        primary = self._variant(decision)
        plan = _Plan(primary, decision, route, kept=kept)
        same_route = (state.picked, state.route) == (decision.profile, route)
        stuck = state.stuck_on if rules.mode != "per_call" and same_route else None
        lapsed = stuck is not None and rules.mode == "ttl" and time.monotonic() - state.stuck_since >= (rules.ttl or 0)
        if lapsed and session is not None and self.sessions.claim_probe(session, rules.ttl or 0):
            plan.probed = True  # the ttl lapsed: this call starts at the primary again
        elif stuck is not None:
            try:
                plan.llm, plan.sticky_on = self._stuck(stuck, primary), stuck
                plan.resolve = lambda name: primary if name == primary.name else self.registry.get(name)
            except ProfileError:
                # The fallback the session stayed on cannot be used any more: start at the primary.
                if session is not None:
                    self.sessions.unstick(session, stuck)
        return plan

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

    def _after(self, plan: _Plan, session: str | None, response: Any) -> None:
        serving = served_by(response) if response is not None else None
        hidden = getattr(response, "_hidden_params", None)
        info = hidden.get(HIDDEN_KEY) if isinstance(hidden, dict) else None
        if isinstance(info, dict):
            info.update(route=plan.route, route_reason=plan.decision.reason)
        self.registry.book.route_call(plan.route, serving, sticky=plan.sticky_on is not None, kept=plan.kept)
        if session is not None and self.stickiness.remembers:
            self.sessions.record(
                session,
                plan.number,
                decision=plan.decision,
                route=plan.route,
                served_by=serving,
                sticky=self.stickiness.mode != "per_call",
                probed=plan.probed,
            )

    def _cheaper_by(self, new: str, current: str, factor: float) -> bool:
        """True when ``new`` costs less than ``current`` per token by more than ``factor``; unknown is not."""
        new_cost, current_cost = self._unit_cost(new), self._unit_cost(current)
        if new_cost is None or current_cost is None or new_cost <= 0:
            return False
        return current_cost / new_cost > factor

    def _unit_cost(self, name: str) -> float | None:
        from understudy.calls.llm import _litellm

        try:
            info = _litellm().get_model_info(self.registry.get(name).profile.model)
            return float(info["input_cost_per_token"]) + float(info["output_cost_per_token"])
        except Exception:
            return None

    def __repr__(self) -> str:
        return f"RoutedLLM(router={self.router!r}, stickiness={self.stickiness.mode!r})"


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in at every depth: a route adding one header keeps the others."""
    merged = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        merged[key] = _merged(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged
