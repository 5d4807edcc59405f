"""What observing a call costs: the same calls with no observer, with OpenTelemetry, and with Prometheus.

Run from the repository root after ``pip install -e '.[test]'``::

    python benchmarks/observability.py           # four rounds; --quick for one

Offline, against ``understudy.testing.FakeProvider`` on 127.0.0.1, on the direct transport (the fastest path,
so that an observer's cost shows rather than hides in litellm's). OpenTelemetry runs with the SDK's tracer
and meter providers, spans sent to an exporter that keeps nothing, metrics to an in-memory reader. The
systems take turns call by call, in a new order each time; the table gives each one's median per call and its ratio
to the unobserved run measured in the same rounds. A second table times each observer alone, with no HTTP.
docs/observability.md records the last run.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("UNDERSTUDY_DISABLE_PLUGINS", "*")

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HELLO = [{"role": "user", "content": "hello"}]


def main() -> None:
    import litellm
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from prometheus_client import CollectorRegistry

    from understudy import LLMRegistry, ProfileStore, RetryPolicy
    from understudy.observability.otel import OpenTelemetry
    from understudy.observability.prometheus import PrometheusMetrics
    from understudy.plugins.manager import make_plugin_manager
    from understudy.testing import FakeProvider, RateLimit

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    litellm.suppress_debug_info = True
    rounds = 1 if "--quick" in sys.argv else 4
    calls = 200
    with tempfile.TemporaryDirectory() as tmp, FakeProvider() as provider:
        directory = Path(tmp)
        for name, fallbacks in (
            ("main", '[fallbacks]\n"*" = ["backup"]\n'),
            ("failing", '[fallbacks]\n"*" = ["backup"]\n'),
            ("backup", ""),
        ):
            (directory / f"{name}.toml").write_text(
                f'model = "openai/{name}"\napi_base = "{provider.base_url}"\napi_key = "sk-bench"\n'
                f'transport = "direct"\n{fallbacks}'
            )
        provider.default("failing", RateLimit())

        tracer = TracerProvider()
        tracer.add_span_processor(SimpleSpanProcessor(Discard()))
        meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
        systems: dict[str, LLMRegistry] = {}
        for label, plugin in (
            ("no observer", None),
            ("OpenTelemetry (SDK, spans and metrics)", OpenTelemetry(tracer_provider=tracer, meter_provider=meters)),
            ("Prometheus", PrometheusMetrics(registry=CollectorRegistry())),
        ):
            plugins = make_plugin_manager(entry_points=False)
            if plugin is not None:
                plugins.register(plugin)
            store = ProfileStore([directory], plugin_manager=plugins)
            systems[label] = LLMRegistry(store, retry_policy=RetryPolicy(initial=0))

        samples: dict[tuple[str, str], list[float]] = {}
        for round_ in range(rounds + 1):  # the first round warms up
            for scenario in ("main", "failing"):
                llms = [(label, registry.get(scenario)) for label, registry in systems.items()]
                for _ in range(calls):
                    random.shuffle(llms)  # call by call, in a new order each time: noise hits all alike
                    for label, llm in llms:
                        started = time.perf_counter()
                        llm.completion(messages=HELLO)
                        taken = time.perf_counter() - started
                        if round_:
                            samples.setdefault((scenario, label), []).append(taken)

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; {rounds} rounds of {calls} sync calls each")
    print()
    print("| call | observer | median ms | p95 ms | x no observer |")
    print("|---|---|---|---|---|")
    for scenario, title in (("main", "the primary answers"), ("failing", "429, the fallback serves")):
        base = statistics.median(samples[(scenario, "no observer")])
        for label in systems:
            taken = sorted(samples[(scenario, label)])
            median, p95 = statistics.median(taken), taken[int(len(taken) * 0.95)]
            print(f"| {title} | {label} | {median * 1e3:.3f} | {p95 * 1e3:.3f} | {median / base:.2f} |")


def observer_alone() -> None:
    """Each observer's own cost: one plain call's observer calls, with no HTTP, no litellm, no walk."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    from understudy.calls.observers import CallStart
    from understudy.observability.measures import measures
    from understudy.observability.otel import OpenTelemetry
    from understudy.observability.prometheus import PrometheusMetrics
    from understudy.observability.records import Recorder
    from understudy.profiles.profile import Profile

    class Usage:
        prompt_tokens, completion_tokens = 10, 5

    class Response:
        model, id, usage, choices = "gpt-4o", "chatcmpl-1", Usage(), ()

        def __init__(self) -> None:
            self._hidden_params = {"custom_llm_provider": "openai", "understudy": {"profile": "main", "cost": 1e-4}}

    class Measured(Recorder):
        def finished(self, record: Any) -> None:
            list(measures(record))

    profile = Profile(name="main", model="openai/gpt-4o", api_base="http://127.0.0.1:9/v1")
    otel = OpenTelemetry(tracer_provider=TracerProvider(), meter_provider=MeterProvider([InMemoryMetricReader()]))
    prometheus = PrometheusMetrics(registry=CollectorRegistry())
    makers: dict[str, Any] = {
        "the call's record alone": Recorder,
        "the record and its metric points": Measured,
        "Prometheus": prometheus.understudy_observe_call,
        "OpenTelemetry (SDK, spans and metrics)": otel.understudy_observe_call,
    }
    print()
    print("| the observer alone, one plain call (no HTTP) | µs per call |")
    print("|---|---|")
    for label, make in makers.items():

        def one(make: Any = make) -> None:
            observer = make(CallStart("c1", profile, "sync", request={"messages": HELLO}))
            observer.attempt_started(profile, as_fallback=False)
            observer.attempt_ended(Response(), None)
            observer.ended(Response(), None)

        for _ in range(500):
            one()
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(2000):
                one()
            runs.append((time.perf_counter() - started) / 2000)
        print(f"| {label} | {statistics.median(runs) * 1e6:.0f} |")


if __name__ == "__main__":
    main()
    observer_alone()
