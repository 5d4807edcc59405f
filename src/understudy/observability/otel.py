"""OpenTelemetry: a span per call with a child span per attempt, and understudy's metrics (``understudy[otel]``).

Built in: installing the extra switches it on (``understudy`` entry point ``otel``, in
``understudy.observability.switches``; block it with ``UNDERSTUDY_DISABLE_PLUGINS=otel``). It exports through
the providers the application configured (``opentelemetry.trace.set_tracer_provider`` ...) and does nothing
until one is (it looks again once a second, so a provider set later is used within a second).
To use providers of your own instead of the global ones, register an instance::

    from understudy import get_plugin_manager
    from understudy.observability.otel import OpenTelemetry

    get_plugin_manager().register(OpenTelemetry(tracer_provider=provider, meter_provider=meters))

Prompts and answers are recorded only when asked (``capture_content=True``, or the conventions' switch
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``); secrets never. docs/observability.md lists every
span attribute and metric.

This module imports nothing of OpenTelemetry until a call is observed.

Raises:
    ImportError: ``OpenTelemetry()`` where OpenTelemetry is not installed (``pip install 'understudy[otel]'``).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Final

from understudy.observability.switches import otel_installed, switched_on
from understudy.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from understudy.calls.observers import CallObserver, CallStart

__all__ = ["CAPTURE_CONTENT_ENV", "RECHECK_SECONDS", "OpenTelemetry"]

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
        if not otel_installed():
            raise ImportError("OpenTelemetry() needs OpenTelemetry: pip install 'understudy[otel]'")
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.capture_content = capture_content
        self._idle_until = 0.0  # no provider was configured when last asked: until then, do not ask again

    @hookimpl
    def understudy_observe_call(self, call: CallStart) -> CallObserver | None:
        if time.monotonic() < self._idle_until:
            return None
        from understudy.observability import otel_metrics, otel_traces

        tracer_provider, metered = otel_metrics.configured(self.tracer_provider, self.meter_provider)
        if tracer_provider is None and not metered:  # nothing would be exported
            # Asking OpenTelemetry again reads the environment twice (10 us a call): ask once a second.
            self._idle_until = time.monotonic() + RECHECK_SECONDS
            return None
        tracer = otel_metrics.tracer_for(tracer_provider) if tracer_provider is not None else None
        meters = otel_metrics.meters_for(self.meter_provider) if metered else None
        return otel_traces.Traced(call, tracer, meters, capture=self._capturing())

    def _capturing(self) -> bool:
        if self.capture_content is not None:
            return self.capture_content
        return switched_on(os.environ.get(CAPTURE_CONTENT_ENV))

    def __repr__(self) -> str:
        return "OpenTelemetry()"
