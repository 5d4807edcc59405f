"""RoutedLLM: what an agent holds when a router picks the primary. It routes, then falls back.

Per call: the router (or a plugin, through ``understudy_route``) chooses the primary from the context; the
session's stickiness may keep it elsewhere; then the usual fallback walk runs from there. A router that
raises never blocks a call: the call goes to the router's default profile and a ``RoutingFailed`` event
says why.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from understudy.engine import emit_async, emit_sync, run_async, run_sync, walk
from understudy.events import RoutingFailed
from understudy.llm import HIDDEN_KEY, LLM, served_by
from understudy.redaction import redact
from understudy.routes import RouteDecision
from understudy.sessions import SessionBook, Stickiness
from understudy.strategy import FallbackStrategy

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from understudy.profiles import Profile
    from understudy.registry import LLMRegistry
    from understudy.routes import Router

__all__ = ["RoutedLLM"]


@dataclass(frozen=True, slots=True)
class _Plan:
    llm: LLM
    picked: str  # the routed primary (after switch cost), what the session is "on"
    route: str  # router:rule, on every event and in the route stats
    reason: str  # why the router chose it
    call_id: str
    routing_failed: RoutingFailed | None


class RoutedLLM:
    """Routes each call to a primary profile, then falls back as that profile (or the route) says.

    Get one from ``LLMRegistry.get_routed(router, stickiness=...)``.

    Attributes:
        router: chooses the primary from ``context``.
        stickiness: how calls that share a ``session`` key are kept together.
    """

    def __init__(self, registry: LLMRegistry, router: Router, stickiness: Stickiness | str | float | None = None):
        self.registry = registry
        self.router = router
        self.stickiness = Stickiness.of(stickiness)
        self.sessions = SessionBook(self.stickiness.max_sessions)
        self._variants: dict[str, tuple[Profile, LLM]] = {}

    def completion(self, *, context: Mapping[str, Any] | None = None, session: str | None = None, **kwargs: Any) -> Any:
        """Route, then ``litellm.completion`` with fallbacks. Takes litellm's arguments besides these.

        Args:
            context: what the router matches on (``{"platform": "discord", ...}``).
            session: a key shared by the calls of one conversation, for stickiness.
        """
        plan = self._plan(self._decide(context or {}, kwargs.get("messages")), session)
        if plan.routing_failed is not None:
            emit_sync(self.registry.dispatch, plan.routing_failed)
        try:
            response = run_sync(walk(plan.llm, kwargs, route=plan.route, call_id=plan.call_id), self.registry.dispatch)
        except Exception:
            self.registry.book.route_call(plan.route, None)
            raise
        self._after(plan, session, response)
        return response

    async def acompletion(
        self, *, context: Mapping[str, Any] | None = None, session: str | None = None, **kwargs: Any
    ) -> Any:
        """The async twin of ``completion``. Routing runs in a worker thread: a router may block (a classifier)."""
        decision = await asyncio.to_thread(self._decide, context or {}, kwargs.get("messages"))
        plan = self._plan(decision, session)
        if plan.routing_failed is not None:
            await emit_async(self.registry.dispatch, plan.routing_failed)
        try:
            response = await run_async(
                walk(plan.llm, kwargs, route=plan.route, call_id=plan.call_id), self.registry.dispatch
            )
        except Exception:
            self.registry.book.route_call(plan.route, None)
            raise
        self._after(plan, session, response)
        return response

    def decide(self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None = None) -> RouteDecision:
        """The route a call with this context would take. Calls no model, unless the router's classifier is one."""
        return self._decide(context, messages)[0]

    def _decide(
        self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None
    ) -> tuple[RouteDecision, BaseException | None]:
        hook = self.registry.plugin_manager.hook.understudy_route
        try:
            decision = hook(router=self.router, context=context, messages=messages)
            if not isinstance(decision, RouteDecision):
                raise TypeError(f"understudy_route returned {decision!r}, not a RouteDecision")
            return decision, None
        except Exception as exc:
            fallback = RouteDecision(
                profile=self.router.default,
                router=self.router.name,
                reason=f"routing failed ({type(exc).__name__}); the default",
            )
            return fallback, exc

    def _plan(self, decided: tuple[RouteDecision, BaseException | None], session: str | None) -> _Plan:
        decision, error = decided
        call_id = uuid.uuid4().hex[:16]
        route = f"{decision.router}:{decision.route or 'default'}"
        state = self.sessions.get(session) if session is not None else None
        picked = decision.profile
        rules = self.stickiness
        if (
            state is not None
            and rules.switch_cost
            and state.picked != picked
            and not self._cheaper_by(picked, state.picked, rules.switch_cost)
        ):
            picked, route = state.picked, f"{route}(kept:{state.picked})"
            decision = RouteDecision(profile=picked, router=decision.router, route=decision.route)
        primary = self._variant(decision)
        if state is not None and state.stuck_on and rules.mode != "per_call":
            expired = rules.mode == "ttl" and time.monotonic() - state.stuck_since >= (rules.ttl or 0)
            if not expired:  # stay on the fallback; if it fails, go back through the picked primary's chain
                primary = self._stuck(state.stuck_on, primary)
                route = f"{route}(sticky:{state.stuck_on})"
        failed = None
        if error is not None or decision.error is not None:
            failed = RoutingFailed(
                call_id=call_id,
                primary=primary.name,
                route=route,
                router=self.router.name,
                error_type=type(error).__name__ if error is not None else None,
                message=redact(str(error) if error is not None else decision.error or ""),
            )
        return _Plan(primary, picked, route, decision.reason, call_id, failed)

    def _variant(self, decision: RouteDecision) -> LLM:
        """The picked profile's LLM, with the route's overrides and fallbacks applied for this call."""
        base = self.registry.get(decision.profile)
        if not decision.overrides and decision.fallbacks is None:
            return base
        key = json.dumps([decision.profile, decision.overrides, decision.fallbacks], sort_keys=True, default=str)
        cached = self._variants.get(key)
        if cached is not None and cached[0] == base.profile:
            return cached[1]
        # Overrides were validated when the router was built; a shallow copy is enough here.
        llm = LLM(base.profile.model_copy(update=decision.overrides), self.registry)
        if decision.fallbacks is not None:
            llm.fallback_strategy = FallbackStrategy(decision.fallbacks, plugin_manager=self.registry.plugin_manager)
        self._variants[key] = (base.profile, llm)
        return llm

    def _stuck(self, name: str, picked: LLM) -> LLM:
        """The sticky fallback as primary; when it fails: the picked primary, then the picked primary's chain."""
        stuck = self.registry.get(name)
        table = {
            error: [picked.name, *[t for t in targets if t != name]] if targets else []
            for error, targets in picked.fallback_strategy.entries.items()
        }
        table.setdefault("*", [picked.name])
        llm = LLM(stuck.profile, self.registry)
        llm.fallback_strategy = FallbackStrategy(table, plugin_manager=self.registry.plugin_manager)
        return llm

    def _after(self, plan: _Plan, session: str | None, response: Any) -> None:
        serving = served_by(response)
        hidden = getattr(response, "_hidden_params", None)
        info = hidden.get(HIDDEN_KEY) if isinstance(hidden, dict) else None
        if isinstance(info, dict):
            info.update(route=plan.route, route_reason=plan.reason)
        self.registry.book.route_call(plan.route, serving)
        if session is not None:
            self.sessions.record(
                session, picked=plan.picked, served_by=serving, sticky=self.stickiness.mode != "per_call"
            )

    def _cheaper_by(self, new: str, current: str, factor: float) -> bool:
        """True when ``new`` costs less than ``current`` per token by more than ``factor``; unknown is not."""
        new_cost, current_cost = self._unit_cost(new), self._unit_cost(current)
        if new_cost is None or current_cost is None or new_cost <= 0:
            return False
        return current_cost / new_cost > factor

    def _unit_cost(self, name: str) -> float | None:
        from understudy.llm import _litellm

        try:
            info = _litellm().get_model_info(self.registry.get(name).profile.model)
            return float(info["input_cost_per_token"]) + float(info["output_cost_per_token"])
        except Exception:
            return None

    def __repr__(self) -> str:
        return f"RoutedLLM(router={self.router!r}, stickiness={self.stickiness.mode!r})"
