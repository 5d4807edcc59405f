"""Prometheus: the text exposition, scraped, counts the calls that were made."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest
from conftest import HELLO
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from understudy import FallbackExhaustedError, LLMRegistry, ProfileStore, RetryPolicy
from understudy.observability.prometheus import PrometheusMetrics
from understudy.plugins.manager import make_plugin_manager
from understudy.testing import RateLimit, Reply, ServerError

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.testing import FakeProvider


def scrape(registry: CollectorRegistry) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of the text exposition, by sample name."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def test_the_scraped_counters_match_the_calls_made(
    fake_profile: WriteProfile, fake_provider: FakeProvider, profiles_dir: Path
) -> None:
    metrics = CollectorRegistry()
    plugins = make_plugin_manager(entry_points=False)
    plugins.register(PrometheusMetrics(registry=metrics))
    registry = LLMRegistry(
        ProfileStore([profiles_dir], plugin_manager=plugins), retry_policy=RetryPolicy(initial=0.001)
    )
    fake_profile("main", model="gpt-4o", fallbacks={"RateLimitError": ["backup"], "*": ["last"]})
    fake_profile("backup", model="gpt-4o-mini")
    fake_profile("last", model="gpt-4o-mini-2024-07-18")
    fake_provider.script("gpt-4o", Reply("one", prompt_tokens=10, completion_tokens=5), RateLimit(), ServerError(500))
    fake_provider.script("gpt-4o-mini", Reply("two", prompt_tokens=20, completion_tokens=8))
    fake_provider.default("gpt-4o-mini-2024-07-18", ServerError(503))

    llm = registry.get("main")
    llm.completion(messages=HELLO)  # the primary serves
    llm.completion(messages=HELLO)  # 429, the backup serves
    with pytest.raises(FallbackExhaustedError):
        llm.completion(messages=HELLO)  # 500, then the last fails too

    found = scrape(metrics)
    calls = {(s["understudy_outcome"], s["understudy_served_by"]): v for s, v in found["understudy_calls_total"]}
    assert calls == {("served", "main"): 1, ("served", "backup"): 1, ("exhausted", ""): 1}
    fallbacks = {
        (s["understudy_fallback_from"], s["understudy_fallback_to"], s["error_type"]): v
        for s, v in found["understudy_fallbacks_total"]
    }
    assert fallbacks == {("main", "backup", "RateLimitError"): 1, ("main", "last", "InternalServerError"): 1}
    failures = {(s["understudy_profile"], s["error_type"]): v for s, v in found["understudy_failures_total"]}
    assert failures == {
        ("main", "RateLimitError"): 1,
        ("main", "InternalServerError"): 1,
        ("last", "ServiceUnavailableError"): 1,
    }
    attempts = {(s["understudy_profile"], s["understudy_fallback"]): v for s, v in found["understudy_attempts_total"]}
    assert attempts == {("main", "false"): 3, ("backup", "true"): 1, ("last", "true"): 1}
    tokens = {(s["understudy_profile"], s["gen_ai_token_type"]): v for s, v in found["understudy_tokens_total"]}
    assert tokens == {("main", "input"): 10, ("main", "output"): 5, ("backup", "input"): 20, ("backup", "output"): 8}
    cost = {s["understudy_profile"]: v for s, v in found["understudy_cost_usd_total"]}
    assert cost["main"] == pytest.approx(10 * 2.5e-6 + 5 * 10e-6)
    durations = {s["understudy_outcome"]: v for s, v in found["understudy_call_duration_seconds_count"]}
    assert durations == {"served": 2, "exhausted": 1}
    per_attempt = sum(v for _, v in found["gen_ai_client_operation_duration_seconds_count"])
    assert per_attempt == 5
    usage = {
        s["gen_ai_token_type"]: v
        for s, v in found["gen_ai_client_token_usage_sum"]
        if s["understudy_profile"] == "backup"
    }
    assert usage == {"input": 20, "output": 8}


def test_without_prometheus_client_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # what an import finds when it is not installed
    with pytest.raises(ImportError, match=r"pip install 'understudy\[prometheus\]'"):
        PrometheusMetrics()
