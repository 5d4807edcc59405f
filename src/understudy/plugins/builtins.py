"""understudy's own behaviour, registered as plugins first so that a user's plugin sits beside it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from understudy.failures.names import builtin_exception_names
from understudy.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from understudy.events import Event
    from understudy.failures.names import Target
    from understudy.routing.routes import RouteDecision, Router

__all__ = ["BUILTIN_PLUGINS", "ROUTING_PLUGIN", "BuiltinExceptionNames", "BuiltinRouting", "LogEvents"]

logger = logging.getLogger("understudy")


class BuiltinExceptionNames:
    """Registers litellm's exception names and Python's ``TimeoutError`` and ``ConnectionError``."""

    @hookimpl
    def understudy_exception_names(self) -> Mapping[str, Target]:
        return builtin_exception_names()


class LogEvents:
    """Logs every event to the ``understudy`` logger; silence it with ``logging`` as usual."""

    _LEVELS: Final = {
        "attempt_failed": logging.INFO,
        "profile_skipped": logging.WARNING,
        "fallback_triggered": logging.WARNING,
        "fallback_succeeded": logging.INFO,
        "fallback_exhausted": logging.ERROR,
        "routing_failed": logging.WARNING,
        "stream_restarted": logging.WARNING,
        "stream_continued": logging.WARNING,
        "route_chosen": logging.DEBUG,
    }

    @hookimpl
    def understudy_fallback_event(self, event: Event) -> None:
        level = self._LEVELS.get(event.kind, logging.INFO)
        if logger.isEnabledFor(level):
            fields = event.model_dump(exclude={"kind", "timestamp"})
            logger.log(level, "%s %s", event.kind, fields)


class BuiltinRouting:
    """Routes a call with the router it was built with: ``router.select(context, messages=...)``."""

    @hookimpl
    def understudy_route(
        self, router: Router, context: Mapping[str, object], messages: Sequence[Mapping[str, object]] | None
    ) -> RouteDecision:
        return router.select(context, messages=messages)


ROUTING_PLUGIN: Final = "understudy.route"

BUILTIN_PLUGINS: Final = (
    ("understudy.exception-names", BuiltinExceptionNames),
    ("understudy.log", LogEvents),
    (ROUTING_PLUGIN, BuiltinRouting),
)
