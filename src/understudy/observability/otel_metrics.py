"""understudy's metrics through OpenTelemetry, for ``understudy.observability.otel`` (imported on first use).

One ``Meters`` per meter provider, shared by every plugin instance and kept for the process: OpenTelemetry
takes an instrument's name once per provider, so a second set of the same counters would never be read.
Counters are kept here and read by the SDK when it collects (observable counters): adding to a dict costs
about 1 µs, a synchronous counter's ``add`` 10-15 µs, and a call adds to several. Histograms are recorded as
they come.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import Observation

from understudy import __version__
from understudy.observability.measures import METRICS, measures

if TYPE_CHECKING:
    from understudy.observability.records import CallRecord

__all__ = ["Meters", "configured", "meters_for", "tracer_for"]

Key = frozenset[tuple[str, str | bool]]

_lock = threading.Lock()
_global: Meters | None = None
_given: weakref.WeakKeyDictionary[Any, Meters] = weakref.WeakKeyDictionary()
_tracers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def configured(tracer_provider: Any, meter_provider: Any) -> tuple[Any, bool]:
    """The tracer provider to make spans with (None: the application set none), and whether metrics go
    anywhere: those given, else the global ones once the application set them."""
    if tracer_provider is None:
        tracer_provider = trace.get_tracer_provider()
        if isinstance(tracer_provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            tracer_provider = None
    if meter_provider is None:
        meter_provider = metrics.get_meter_provider()
        # The API's stand-in until one is set is private (_ProxyMeterProvider): if it is renamed, metrics
        # are merely reported to it, which is harmless.
        if isinstance(meter_provider, metrics.NoOpMeterProvider) or type(meter_provider).__name__.startswith("_Proxy"):
            return tracer_provider, False
    return tracer_provider, True


def tracer_for(tracer_provider: Any) -> Any:
    """understudy's tracer from ``tracer_provider``, made once."""
    tracer = _tracers.get(tracer_provider)
    if tracer is None:
        with _lock:
            tracer = _tracers.setdefault(tracer_provider, tracer_provider.get_tracer("understudy", __version__))
    return tracer


def meters_for(meter_provider: Any = None) -> Meters:
    """The instruments on ``meter_provider``, or on the global provider (set or still to be set), made once."""
    global _global
    with _lock:
        if meter_provider is not None:
            found = _given.get(meter_provider)
            if found is None:
                found = _given[meter_provider] = Meters(meter_provider)
            return found
        if _global is None:
            # The global provider, or the API's stand-in for it, which hands the instruments on to the
            # provider set later: either way, these are the instruments for the process.
            _global = Meters(metrics.get_meter_provider())
        return _global


class Meters:
    """The instruments of ``METRICS`` on one meter provider."""

    def __init__(self, meter_provider: Any) -> None:
        self.histograms: dict[str, Any] = {}
        self.counters: dict[str, dict[Key, float]] = {}
        self._lock = threading.Lock()
        meter = meter_provider.get_meter("understudy", __version__)
        for metric in METRICS:
            if metric.kind == "counter":
                totals: dict[Key, float] = {}
                self.counters[metric.name] = totals
                meter.create_observable_counter(metric.name, [self._reader(totals)], metric.unit, metric.description)
            else:
                self.histograms[metric.name] = meter.create_histogram(
                    metric.name, metric.unit, metric.description, explicit_bucket_boundaries_advisory=metric.buckets
                )

    def count(self, record: CallRecord) -> None:
        """Add one finished call."""
        for point in measures(record):
            totals = self.counters.get(point.name)
            if totals is None:
                self.histograms[point.name].record(point.value, point.attributes)
                continue
            key = frozenset(point.attributes.items())
            with self._lock:
                totals[key] = totals.get(key, 0) + point.value

    def _reader(self, totals: dict[Key, float]) -> Any:
        def observe(options: Any) -> list[Observation]:
            with self._lock:
                return [Observation(value, dict(key)) for key, value in totals.items()]

        return observe
