"""OpenTelemetry: a span per call with a child span per attempt, and understudy's metrics (``understudy[otel]``).

Built in: installing the extra switches it on (``understudy`` entry point ``otel``; block it with
``UNDERSTUDY_DISABLE_PLUGINS=otel``). It exports through the providers the application configured
(``opentelemetry.trace.set_tracer_provider`` ...) and does nothing until one is (it looks again once a
second, so a provider set later is used within a second).
To use providers of your own instead of the global ones, register an instance::

    from understudy import get_plugin_manager
    from understudy.observability.otel import OpenTelemetry

    get_plugin_manager().register(OpenTelemetry(tracer_provider=provider, meter_provider=meters))

Prompts and answers are recorded only when asked (``capture_content=True``, or the conventions' switch
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``); secrets never. docs/observability.md lists every
span attribute and metric.

This module imports nothing of OpenTelemetry until a call is observed.
"""

from __future__ import annotations

import importlib.util
import os
import time
from typing import TYPE_CHECKING, Any, Final

from understudy.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from understudy.calls.observers import CallObserver, CallStart

__all__ = ["CAPTURE_CONTENT_ENV", "OpenTelemetry", "plugin"]

CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
RECHECK_SECONDS: Final = 1.0
"""How long the plugin trusts "no provider is configured" before asking OpenTelemetry again."""


class OpenTelemetry:
    """The plugin: traces and metrics of every call through OpenTelemetry.

    Args:
        tracer_provider: where spans go (default: the global provider, once the application sets one).
        meter_provider: where metrics go (default: the global provider, once the application sets one).
        capture_content: record the messages sent and the answers (default: the conventions' environment
            switch, off unless set).
    """

    def __init__(
        self, *, tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool | None = None
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.capture_content = capture_content
        self._telemetry: Any = None  # otel_traces.Telemetry, for the providers in use
        self._idle_until = 0.0  # no provider was configured when last asked: until then, do not ask again

    @hookimpl
    def understudy_observe_call(self, call: CallStart) -> CallObserver | None:
        if not _installed() or time.monotonic() < self._idle_until:
            return None
        from understudy.observability import otel_traces

        tracer_provider, meter_provider = otel_traces.providers(self.tracer_provider, self.meter_provider)
        if tracer_provider is None and meter_provider is None:  # nothing would be exported
            # Asking OpenTelemetry again reads the environment twice (10 us a call): ask once a second.
            self._idle_until = time.monotonic() + RECHECK_SECONDS
            return None
        telemetry = self._telemetry
        if telemetry is None or not telemetry.uses(tracer_provider, meter_provider):
            telemetry = self._telemetry = otel_traces.Telemetry(tracer_provider, meter_provider)
        return otel_traces.Traced(call, telemetry, capture=self._capturing())

    def _capturing(self) -> bool:
        if self.capture_content is not None:
            return self.capture_content
        return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in ("1", "true", "yes")

    def __repr__(self) -> str:
        return "OpenTelemetry()"


_found: bool | None = None


def _installed() -> bool:
    global _found
    if _found is None:
        _found = importlib.util.find_spec("opentelemetry.trace") is not None
    return _found


plugin: Final = OpenTelemetry()
"""The instance the entry point registers: global providers, content capture from the environment."""
