"""Deciding a routed call's primary: plugins (``understudy_route``) first, then the router, never raising.

A plugin or router that raises, or answers with something that is not a ``RouteDecision``, is reported as a
``RoutingFailed`` event and passed over; when nobody decides, the router's default profile takes the call.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from understudy.events import RoutingFailed
from understudy.plugins.builtins import ROUTING_PLUGIN  # it asks the router, which the decider asks itself
from understudy.redaction import redact
from understudy.routing.routes import RouteDecision

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pluggy

    from understudy.routing.routes import Router

__all__ = ["Decider", "default_decision", "routing_failure"]

logger = logging.getLogger("understudy")


class Decider:
    """Asks the plugins, then ``router``, for a call's decision; collects what failed on the way."""

    def __init__(self, router: Router, plugin_manager: pluggy.PluginManager) -> None:
        self.router = router
        self.plugin_manager = plugin_manager

    def decide(
        self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None
    ) -> tuple[RouteDecision, list[RoutingFailed]]:
        decision, failures = self._ask_plugins(context, messages)
        return decision or self._ask_router(context, messages, failures), failures

    async def adecide(
        self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None
    ) -> tuple[RouteDecision, list[RoutingFailed]]:
        """The async twin of ``decide``. A router with ``aselect`` (``TieredRouter``) is awaited, so a slow
        classifier holds neither the event loop nor its executor."""
        decision, failures = self._ask_plugins(context, messages)
        if decision is not None:
            return decision, failures
        aselect = getattr(self.router, "aselect", None)
        if not callable(aselect):
            return self._ask_router(context, messages, failures), failures
        try:
            answer = aselect(context, messages=messages)
            return _checked(await answer if inspect.isawaitable(answer) else answer), failures
        except Exception as exc:
            failures.append(routing_failure(self.router.name, exc))
            return default_decision(self.router, "the router raised"), failures

    def _ask_plugins(
        self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None
    ) -> tuple[RouteDecision | None, list[RoutingFailed]]:
        """The first plugin answer, in pluggy's order; a plugin that raises is reported and passed over."""
        failures: list[RoutingFailed] = []
        hook = self.plugin_manager.hook.understudy_route
        for impl in reversed(hook.get_hookimpls()):
            if impl.plugin_name == ROUTING_PLUGIN or impl.hookwrapper or impl.wrapper:
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
                failures.append(routing_failure(f"plugin {name}", exc))
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
            return _checked(self.router.select(context, messages=messages))
        except Exception as exc:
            failures.append(routing_failure(self.router.name, exc))
            return default_decision(self.router, "the router raised")


def _checked(answer: object) -> RouteDecision:
    if not isinstance(answer, RouteDecision):
        raise TypeError(f"the router returned {answer!r}, not a RouteDecision")
    return answer


def default_decision(router: Router, why: str) -> RouteDecision:
    return RouteDecision(profile=router.default, router=router.name, reason=f"{why}; the default")


def routing_failure(who: str, error: BaseException | str) -> RoutingFailed:
    # call_id and primary are filled in by the plan, once they are known.
    return RoutingFailed(
        call_id="",
        primary="",
        router=who,
        error_type=type(error).__name__ if isinstance(error, BaseException) else None,
        message=redact(str(error)),
    )
