"""Prometheus: understudy's metrics through ``prometheus_client`` (``understudy[prometheus]``), on your registry.

The same metrics as OpenTelemetry (``understudy.observability.measures``), named as Prometheus names them:
dots become underscores, a unit becomes a suffix, a counter ends in ``_total`` (``understudy_calls_total``,
``understudy_call_duration_seconds``, ``gen_ai_client_token_usage``). Register one instance per registry::

    from prometheus_client import CollectorRegistry
    from understudy import get_plugin_manager
    from understudy.observability.prometheus import PrometheusMetrics

    get_plugin_manager().register(PrometheusMetrics(registry=CollectorRegistry()))

Then expose the registry as you already do (``prometheus_client.start_http_server``, your web framework).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from understudy.observability.measures import METRICS, Metric, measures
from understudy.observability.records import Recorder
from understudy.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from understudy.calls.observers import CallObserver, CallStart
    from understudy.observability.records import CallRecord

__all__ = ["PrometheusMetrics", "prometheus_name"]

_UNITS: Final = {"s": "seconds", "USD": "usd"}


def prometheus_name(metric: Metric) -> str:
    """The metric's Prometheus name, without the ``_total`` a counter's samples add."""
    name = metric.name.replace(".", "_")
    unit = _UNITS.get(metric.unit)
    return f"{name}_{unit}" if unit and not name.endswith(unit) else name


def _label(attribute: str) -> str:
    return attribute.replace(".", "_")


class PrometheusMetrics:
    """The plugin: every call's metrics on ``registry`` (default: ``prometheus_client``'s global registry).

    Raises:
        ImportError: ``prometheus_client`` is not installed (``pip install 'understudy[prometheus]'``).
    """

    def __init__(self, registry: Any = None) -> None:
        try:
            import prometheus_client
        except ImportError as exc:
            raise ImportError(
                "PrometheusMetrics needs prometheus_client: pip install 'understudy[prometheus]'"
            ) from exc
        registry = registry if registry is not None else prometheus_client.REGISTRY
        self.registry = registry
        self._metrics: dict[str, tuple[Any, tuple[str, ...]]] = {}
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._counters = {metric.name for metric in METRICS if metric.kind == "counter"}
        for metric in METRICS:
            labels = tuple(_label(attribute) for attribute in metric.attributes)
            name, help_text = prometheus_name(metric), metric.description
            if metric.kind == "counter":
                instrument: Any = prometheus_client.Counter(name, help_text, labels, registry=registry)
            else:
                buckets = metric.buckets or prometheus_client.Histogram.DEFAULT_BUCKETS
                instrument = prometheus_client.Histogram(name, help_text, labels, registry=registry, buckets=buckets)
            self._metrics[metric.name] = (instrument, metric.attributes)

    @hookimpl
    def understudy_observe_call(self, call: CallStart) -> CallObserver:
        return Recorder(call, self.count)

    def count(self, record: CallRecord) -> None:
        """Add one finished call to the metrics."""
        for point in measures(record):
            instrument, attributes = self._metrics[point.name]
            labels = tuple(_value(point.attributes.get(attribute)) for attribute in attributes)
            child = self._children.get((point.name, labels))
            if child is None:  # prometheus_client's labels() validates and locks on every call: keep its answer
                child = self._children[point.name, labels] = instrument.labels(*labels)
            if point.name in self._counters:
                child.inc(point.value)
            else:
                child.observe(point.value)

    def __repr__(self) -> str:
        return "PrometheusMetrics()"


def _value(value: str | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
