"""RoutedLLM: what an agent holds when a router picks the primary. It routes, then falls back.

Per call: plugins (``understudy_route``) or the router choose the primary from the context; the session's
stickiness may keep it elsewhere (and ``decision_ttl`` may reuse the session's last decision instead of routing
again); then the usual fallback walk runs from there. Nothing about routing may
block a call: a router or plugin that raises, or a decision that cannot be built, sends the call to the
router's default profile with a ``RoutingFailed`` event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from understudy.calls.responses import mark_route, served_by
from understudy.routing.deciding import Decider
from understudy.routing.decision_memory import DecisionMemory
from understudy.routing.planning import Planner
from understudy.routing.sessions import Stickiness

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from understudy.calls.args import CompletionArgs
    from understudy.calls.protocols import Registry
    from understudy.events import RoutingFailed
    from understudy.routing.planning import Plan
    from understudy.routing.routes import RouteDecision, Router
    from understudy.routing.sessions import SessionBook

__all__ = ["RoutedLLM"]


class RoutedLLM:
    """Routes each call to a primary profile, then falls back as that profile (or the route) says.

    Get one from ``LLMRegistry.get_routed(router, stickiness=...)``, which checks the router first.

    Attributes:
        router: chooses the primary from ``context``.
        stickiness: how calls that share a ``session`` key are kept together.
    """

    def __init__(self, registry: Registry, router: Router, stickiness: Stickiness | str | float | None = None):
        self.registry = registry
        self._decider = Decider(router, registry.plugin_manager)
        self._planner = Planner(registry, router, Stickiness.of(stickiness))
        self._memory = _memory(self._planner.stickiness)

    @property
    def router(self) -> Router:
        return self._decider.router

    @router.setter
    def router(self, router: Router) -> None:
        self._decider.router = self._planner.router = router

    @property
    def stickiness(self) -> Stickiness:
        return self._planner.stickiness

    @stickiness.setter
    def stickiness(self, stickiness: Stickiness) -> None:
        self._planner.stickiness = stickiness
        self._memory = _memory(stickiness)

    @property
    def sessions(self) -> SessionBook:
        return self._planner.sessions

    @sessions.setter
    def sessions(self, sessions: SessionBook) -> None:
        self._planner.sessions = sessions

    def completion(
        self, *, context: Mapping[str, Any] | None = None, session: str | None = None, **kwargs: Unpack[CompletionArgs]
    ) -> Any:
        """Route, then ``litellm.completion`` with fallbacks. Takes litellm's arguments besides these.

        Args:
            context: what the router matches on (``{"platform": "discord", ...}``).
            session: a key shared by the calls of one conversation, for stickiness.
        """
        reused = self._reused(session)
        decision, failures = reused or self._decider.decide(context or {}, kwargs.get("messages"))
        if reused is None:
            self._learn(session, decision)
        plan = self._planner.plan(decision, failures, session)
        try:
            response = plan.llm.run(
                dict(kwargs),
                on_restart=lambda stream: self._restarted(plan, session, stream),
                route=plan.route,
                call_id=plan.call_id,
                resolve=plan.resolve,
                preface=plan.events(),
            )
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
        reused = self._reused(session)
        decision, failures = reused or await self._decider.adecide(context or {}, kwargs.get("messages"))
        if reused is None:
            self._learn(session, decision)
        plan = self._planner.plan(decision, failures, session)
        try:
            response = await plan.llm.arun(
                dict(kwargs),
                on_restart=lambda stream: self._restarted(plan, session, stream),
                route=plan.route,
                call_id=plan.call_id,
                resolve=plan.resolve,
                preface=plan.events(),
            )
        except BaseException:  # a cancelled call is counted too
            self._after(plan, session, None)
            raise
        self._after(plan, session, response)
        return response

    def decide(self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None = None) -> RouteDecision:
        """The route a call with this context would take. Calls no model, unless the router's classifier is one."""
        return self._decider.decide(context, messages)[0]

    def _reused(self, session: str | None) -> tuple[RouteDecision, list[RoutingFailed]] | None:
        """The session's last real decision, while ``decision_ttl`` lasts; None: route the call. Its
        classification was paid for by the call that made it, not by this one."""
        memory = self._memory
        decision = memory.get(session) if memory is not None and session is not None else None
        return (decision.model_copy(update={"classifier": None}), []) if decision is not None else None

    def _learn(self, session: str | None, decision: RouteDecision) -> None:
        if self._memory is not None and session is not None:
            self._memory.put(session, decision)

    def _after(self, plan: Plan, session: str | None, response: Any) -> None:
        plan.serving = serving = served_by(response) if response is not None else None
        mark_route(response, plan.route, plan.decision.reason)
        self.registry.book.route_call(
            plan.route,
            serving,
            sticky=plan.sticky_on is not None,
            kept=plan.kept,
            classifier=plan.decision.classifier,
        )
        self._remember(plan, session, serving)

    def _restarted(self, plan: Plan, session: str | None, stream: Any) -> None:
        """A stream restarted (or went on) on another profile: the route's stats and the session follow it."""
        serving = served_by(stream)
        self.registry.book.route_served_moved(plan.route, plan.serving, serving)
        plan.serving = serving
        self._remember(plan, session, serving)

    def _remember(self, plan: Plan, session: str | None, serving: str | None) -> None:
        """What the session keeps of this call: who served it (again after a stream restarted elsewhere)."""
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

    def __repr__(self) -> str:
        return f"RoutedLLM(router={self.router!r}, stickiness={self.stickiness.mode!r})"


def _memory(stickiness: Stickiness) -> DecisionMemory | None:
    ttl = stickiness.decision_ttl
    return DecisionMemory(ttl, stickiness.max_sessions) if ttl is not None else None
