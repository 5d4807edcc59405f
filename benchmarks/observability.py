"""What observing a call costs: the same calls with no observer, with OpenTelemetry, and with Prometheus.

Run from the repository root after ``pip install -e '.[test]'``::

    python benchmarks/observability.py           # four rounds; --quick for one

Offline, against ``understudy.testing.FakeProvider`` on 127.0.0.1, on the direct transport (the fastest path,
so that an observer's cost shows rather than hides in litellm's). OpenTelemetry runs with the SDK's tracer
and meter providers, spans sent to an exporter that keeps nothing, metrics to an in-memory reader. The
systems run interleaved, in rounds; the table gives each one's median per call and its ratio to the
unobserved run measured in the same rounds. docs/observability.md records the last run.
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
            order = list(systems.items())
            random.shuffle(order)
            for label, registry in order:
                for scenario in ("main", "failing"):
                    llm = registry.get(scenario)
                    taken = []
                    for _ in range(calls):
                        started = time.perf_counter()
                        llm.completion(messages=HELLO)
                        taken.append(time.perf_counter() - started)
                    if round_:
                        samples.setdefault((scenario, label), []).extend(taken)

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


if __name__ == "__main__":
    main()
