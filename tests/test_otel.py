"""OpenTelemetry: a span per call, a child per attempt, metrics; checked with the SDK's in-memory exporters."""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import HELLO
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from understudy import FallbackExhaustedError, LLMRegistry, ProfileStore, RetryPolicy, hookimpl
from understudy.calls.observers import CallStart
from understudy.observability import switches
from understudy.observability.measures import METRICS
from understudy.observability.otel import OpenTelemetry
from understudy.plugins.manager import make_plugin_manager
from understudy.routing.match import MatchRouter
from understudy.testing import RateLimit, Reply, ServerError, Slow, StreamFailure

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy.testing import FakeProvider

KEY = "sk-test-key-0000"
both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def call_span(self) -> ReadableSpan:
        (span,) = [s for s in self.finished() if s.name.startswith("understudy ")]
        return span

    def attempts(self) -> list[ReadableSpan]:
        return sorted((s for s in self.finished() if s.name.startswith("chat ")), key=lambda s: s.start_time or 0)

    def points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            value = getattr(point, "value", None)
                            found.append((dict(point.attributes or {}), value if value is not None else point.sum))
        return found


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def traced(profiles_dir: Path, telemetry: Telemetry) -> LLMRegistry:
    plugins = make_plugin_manager(entry_points=False)
    plugins.register(
        OpenTelemetry(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider),
        name="understudy.otel",
    )
    store = ProfileStore([profiles_dir], plugin_manager=plugins)
    return LLMRegistry(store, retry_policy=RetryPolicy(initial=0.001, max_delay=0.5))


def complete(registry: LLMRegistry, asynchronous: bool, name: str = "main", **kwargs: Any) -> Any:
    kwargs.setdefault("messages", HELLO)
    llm = registry.get(name)
    return asyncio.run(llm.acompletion(**kwargs)) if asynchronous else llm.completion(**kwargs)


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


@both
def test_a_plain_call_is_one_span_with_one_attempt_by_the_genai_conventions(
    fake_profile: WriteProfile,
    fake_provider: FakeProvider,
    traced: LLMRegistry,
    telemetry: Telemetry,
    asynchronous: bool,
) -> None:
    fake_profile("main", model="gpt-4o", temperature=0.2)
    fake_provider.script("gpt-4o", Reply("hi", prompt_tokens=12, completion_tokens=7))

    complete(traced, asynchronous)

    call = telemetry.call_span()
    (attempt,) = telemetry.attempts()
    assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
    assert attempt.name == "chat gpt-4o"
    assert attempt.kind == trace.SpanKind.CLIENT
    found = attrs(attempt)
    assert isinstance(found.pop("gen_ai.response.id"), str)
    assert found.pop("server.port") == int(fake_provider.base_url.rsplit(":", 1)[1].split("/")[0])
    assert found.pop("understudy.cost") == pytest.approx(12 * 2.5e-6 + 7 * 10e-6)  # gpt-4o's price
    assert found == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 7,
        "server.address": "127.0.0.1",
        "understudy.profile": "main",
        "understudy.attempt": 1,
        "understudy.fallback": False,
    }
    assert attempt.status.status_code == StatusCode.UNSET
    assert attrs(call)["understudy.outcome"] == "served"
    assert attrs(call)["understudy.served_by"] == "main"
    assert attrs(call)["understudy.fallbacks"] == 0
    assert "gen_ai.input.messages" not in attrs(attempt)  # content is recorded only when asked
    assert call.events == ()


@both
def test_a_fallback_shows_the_failed_attempt_why_and_who_served(
    fake_profile: WriteProfile,
    fake_provider: FakeProvider,
    traced: LLMRegistry,
    telemetry: Telemetry,
    asynchronous: bool,
) -> None:
    fake_profile("main", fallbacks={"RateLimitError": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", RateLimit())
    fake_provider.script("backup", Reply("from backup"))

    complete(traced, asynchronous)

    call = telemetry.call_span()
    failed, served = telemetry.attempts()
    assert [a.parent.span_id for a in (failed, served) if a.parent] == [call.context.span_id] * 2
    assert failed.status.status_code == StatusCode.ERROR
    assert attrs(failed)["error.type"] == "RateLimitError"
    assert attrs(failed)["understudy.will_retry"] is False
    assert attrs(served)["understudy.profile"] == "backup"
    assert attrs(served)["understudy.fallback.from"] == "main"
    assert served.status.status_code == StatusCode.UNSET
    assert attrs(call)["understudy.served_by"] == "backup"
    assert attrs(call)["understudy.fallbacks"] == 1
    assert attrs(call)["understudy.attempts"] == 2
    (moved,) = [e for e in call.events if e.name == "understudy.fallback_triggered"]
    assert dict(moved.attributes or {}) | {"understudy.reason": ""} == {
        "understudy.from_profile": "main",
        "understudy.to_profile": "backup",
        "error.type": "RateLimitError",
        "understudy.reason": "",
        "understudy.model_calls": 1,
    }
    assert {
        (a["understudy.fallback.from"], a["understudy.fallback.to"])
        for a, _ in telemetry.points("understudy.fallbacks")
    } == {("main", "backup")}
    assert dict((a["error.type"], v) for a, v in telemetry.points("understudy.failures")) == {"RateLimitError": 1}


@both
def test_an_exhausted_chain_is_an_error_span_with_every_attempt_failed(
    fake_profile: WriteProfile,
    fake_provider: FakeProvider,
    traced: LLMRegistry,
    telemetry: Telemetry,
    asynchronous: bool,
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", ServerError(503))

    with pytest.raises(FallbackExhaustedError):
        complete(traced, asynchronous)

    call = telemetry.call_span()
    assert call.status.status_code == StatusCode.ERROR
    assert attrs(call)["understudy.outcome"] == "exhausted"
    assert attrs(call)["error.type"] == "FallbackExhaustedError"
    assert "understudy.served_by" not in attrs(call)
    assert [attrs(a)["error.type"] for a in telemetry.attempts()] == ["RateLimitError", "ServiceUnavailableError"]
    assert [e.name for e in call.events][-1] == "understudy.fallback_exhausted"
    outcomes = {
        (a["understudy.outcome"], a.get("understudy.served_by")): v for a, v in telemetry.points("understudy.calls")
    }
    assert outcomes == {("exhausted", None): 1}


@both
def test_a_stream_span_lasts_until_the_stream_ends_and_carries_its_usage(
    fake_profile: WriteProfile,
    fake_provider: FakeProvider,
    traced: LLMRegistry,
    telemetry: Telemetry,
    asynchronous: bool,
) -> None:
    fake_profile("main", fallbacks={"RateLimitError": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", RateLimit())
    fake_provider.script("backup", Reply("streamed answer", prompt_tokens=9, completion_tokens=4))
    kwargs: dict[str, Any] = {"messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}

    async def read_async() -> list[str]:
        stream = await traced.get("main").acompletion(**kwargs)
        assert [s.name for s in telemetry.finished()] == ["chat main"]  # only the failed attempt
        return [c.choices[0].delta.content or "" async for c in stream if c.choices]

    if asynchronous:
        text = asyncio.run(read_async())
    else:
        stream = traced.get("main").completion(**kwargs)
        assert [s.name for s in telemetry.finished()] == ["chat main"]  # the serving stream is still open
        text = [c.choices[0].delta.content or "" for c in stream if c.choices]

    assert "".join(text) == "streamed answer"
    call = telemetry.call_span()
    failed, served = telemetry.attempts()
    assert attrs(call)["understudy.stream"] is True
    assert attrs(call)["understudy.served_by"] == "backup"
    assert attrs(served)["gen_ai.usage.input_tokens"] == 9
    assert attrs(served)["gen_ai.usage.output_tokens"] == 4
    assert 0 < attrs(served)["understudy.time_to_first_chunk"] <= (served.end_time - served.start_time) / 1e9  # type: ignore[operator]
    assert attrs(failed)["error.type"] == "RateLimitError"
    tokens = {(a["understudy.profile"], a["gen_ai.token.type"]): v for a, v in telemetry.points("understudy.tokens")}
    assert tokens == {("backup", "input"): 9, ("backup", "output"): 4}


def test_the_attempt_span_is_current_while_its_request_is_made(
    fake_profile: WriteProfile, fake_provider: FakeProvider, traced: LLMRegistry, telemetry: Telemetry
) -> None:
    seen: list[int] = []

    class Watcher:
        @hookimpl
        def understudy_classify(self, error: Exception | None, response: object, profile: object) -> None:
            seen.append(trace.get_current_span().get_span_context().span_id)

    traced.plugin_manager.register(Watcher())
    fake_profile("main")
    fake_provider.script("main", Reply("hi"))

    traced.get("main").completion(messages=HELLO)

    (attempt,) = telemetry.attempts()
    assert seen == [attempt.context.span_id]
    assert not trace.get_current_span().get_span_context().is_valid  # and nothing is left current after


def test_prompts_and_answers_are_recorded_only_when_asked_and_secrets_never(
    fake_profile: WriteProfile, fake_provider: FakeProvider, profiles_dir: Path, telemetry: Telemetry
) -> None:
    plugins = make_plugin_manager(entry_points=False)
    plugins.register(OpenTelemetry(tracer_provider=telemetry.tracer_provider, capture_content=True))
    registry = LLMRegistry(ProfileStore([profiles_dir], plugin_manager=plugins))
    key = "zebra-horse-battery-staple"  # no key pattern matches it: only knowing the profile's key redacts it
    fake_profile("main", fallbacks={"*": ["backup"]}, api_key=key)
    fake_profile("backup", api_key=key)
    fake_provider.default("main", ServerError(500))
    fake_provider.script("backup", Reply("the answer"))

    registry.get("main").completion(messages=[{"role": "user", "content": f"the question, my key is {key}"}])

    served = telemetry.attempts()[-1]
    assert "the question" in attrs(served)["gen_ai.input.messages"]
    assert "the answer" in attrs(served)["gen_ai.output.messages"]
    dumped = json.dumps([json.loads(s.to_json()) for s in telemetry.finished()])
    assert key not in dumped


def test_nothing_is_observed_until_the_application_configures_opentelemetry() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # no test sets a global provider
    call = CallStart("c1", profile=None, mode="sync")  # type: ignore[arg-type]
    assert OpenTelemetry().understudy_observe_call(call) is None


def test_the_plugin_is_built_in_through_understudys_entry_point() -> None:
    (point,) = [p for p in entry_points(group="understudy") if p.name == "otel"]
    assert point.value == "understudy.observability.switches:otel"
    assert isinstance(point.load(), OpenTelemetry)  # OpenTelemetry is installed here (else: switches.Off)


def test_a_routed_call_carries_its_route_and_the_routers_choice(
    fake_profile: WriteProfile, fake_provider: FakeProvider, traced: LLMRegistry, telemetry: Telemetry
) -> None:
    fake_profile("fast", "gpt-4o-mini")
    fake_profile("strong", "gpt-4o", fallbacks={"*": ["fast"]})
    fake_provider.script("gpt-4o", ServerError(503))
    router = MatchRouter("fast", [{"match": {"source_kind": "owner"}, "profile": "strong"}])

    traced.get_routed(router).completion(messages=HELLO, context={"source_kind": "owner"})

    call = telemetry.call_span()
    assert attrs(call)["understudy.route"] == "match:routes[0]"
    assert attrs(call)["understudy.profile"] == "strong"
    assert attrs(call)["understudy.served_by"] == "fast"
    (chosen,) = [e for e in call.events if e.name == "understudy.route_chosen"]
    assert dict(chosen.attributes or {})["understudy.profile"] == "strong"
    for metric in ("understudy.calls", "understudy.attempts", "understudy.failures", "understudy.tokens"):
        assert {a.get("understudy.route") for a, _ in telemetry.points(metric)} == {"match:routes[0]"}, metric
    ((cost_attributes, _),) = telemetry.points("understudy.call.cost")
    assert cost_attributes["understudy.route"] == "match:routes[0]"


def test_every_metric_is_documented() -> None:
    page = (Path(__file__).parent.parent / "docs" / "observability.md").read_text(encoding="utf-8")
    assert [m.name for m in METRICS if f"`{m.name}`" not in page] == []


def test_a_skipped_profile_is_an_event_on_the_call_and_a_counted_skip(
    fake_profile: WriteProfile, fake_provider: FakeProvider, traced: LLMRegistry, telemetry: Telemetry
) -> None:
    fake_profile("main", fallbacks={"*": ["ghost", "backup"]})
    fake_profile("backup")
    fake_provider.default("main", ServerError(500))

    traced.get("main").completion(messages=HELLO)

    call = telemetry.call_span()
    (skipped,) = [dict(e.attributes or {}) for e in call.events if e.name == "understudy.profile_skipped"]
    assert skipped["understudy.profile"] == "ghost"
    assert skipped["error.type"] == "ProfileNotFoundError"
    assert "ghost" in str(skipped["understudy.reason"])
    assert [(a["understudy.profile"], v) for a, v in telemetry.points("understudy.skips")] == [("ghost", 1)]
    assert [attrs(a)["understudy.profile"] for a in telemetry.attempts()] == ["main", "backup"]


async def test_a_cancelled_call_ends_its_open_attempt_and_its_span(
    fake_profile: WriteProfile, fake_provider: FakeProvider, traced: LLMRegistry, telemetry: Telemetry
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", Slow(5))
    task = asyncio.ensure_future(traced.get("main").acompletion(messages=HELLO))
    while fake_provider.requests("main") == 0:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    call = telemetry.call_span()
    (attempt,) = telemetry.attempts()
    assert attrs(call)["understudy.outcome"] == "cancelled"
    assert attrs(call)["error.type"] == "CancelledError"
    assert attrs(attempt)["error.type"] == "CancelledError"
    assert fake_provider.requests("backup") == 0
    outcomes = {a["understudy.outcome"]: v for a, v in telemetry.points("understudy.calls")}
    assert outcomes == {"cancelled": 1}
    assert telemetry.points("understudy.failures") == []  # the caller gave up: no failure of the model


@both
def test_the_call_span_carries_the_call_id_its_events_carry(
    fake_profile: WriteProfile,
    fake_provider: FakeProvider,
    traced: LLMRegistry,
    telemetry: Telemetry,
    asynchronous: bool,
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", ServerError(500))
    events: list[Any] = []
    traced.subscribe(events.append)

    complete(traced, asynchronous)

    assert {e.call_id for e in events} == {attrs(telemetry.call_span())["understudy.call_id"]}


@both
def test_a_restarted_stream_is_one_call_with_the_cut_attempt_and_the_one_that_served(
    fake_profile: WriteProfile,
    fake_provider: FakeProvider,
    traced: LLMRegistry,
    telemetry: Telemetry,
    asynchronous: bool,
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, health={"enabled": False})
    fake_profile("backup")
    fake_provider.script("main", StreamFailure(after_chunks=2, content="half an"))
    fake_provider.script("backup", Reply("the whole answer"))

    async def read_async() -> None:
        stream = await traced.get("main").acompletion(messages=HELLO, stream=True, on_interrupt="restart")
        async for _ in stream:
            pass

    if asynchronous:
        asyncio.run(read_async())
    else:
        for _ in traced.get("main").completion(messages=HELLO, stream=True, on_interrupt="restart"):
            pass

    call = telemetry.call_span()  # one call span, not one per walk
    cut, served = telemetry.attempts()
    assert attrs(cut)["understudy.profile"] == "main" and "error.type" in attrs(cut)
    assert attrs(served)["understudy.profile"] == "backup"
    assert attrs(call)["understudy.outcome"] == "served"
    assert attrs(call)["understudy.served_by"] == "backup"
    assert "understudy.stream_restarted" in [e.name for e in call.events]
    outcomes = {
        (a["understudy.outcome"], a.get("understudy.served_by")): v for a, v in telemetry.points("understudy.calls")
    }
    assert outcomes == {("served", "backup"): 1}


def test_two_plugins_on_one_meter_provider_count_into_the_same_counters(
    fake_profile: WriteProfile, fake_provider: FakeProvider, profiles_dir: Path, telemetry: Telemetry
) -> None:
    """OpenTelemetry takes a counter's name once per provider: a second set would never be read."""
    fake_profile("main")
    fake_provider.default("main", Reply("hi"))
    registries = []
    for tracer_provider in (None, telemetry.tracer_provider):
        plugins = make_plugin_manager(entry_points=False)
        plugins.register(OpenTelemetry(tracer_provider=tracer_provider, meter_provider=telemetry.meter_provider))
        registries.append(LLMRegistry(ProfileStore([profiles_dir], plugin_manager=plugins)))

    for registry in (*registries, *registries):
        registry.get("main").completion(messages=HELLO)

    assert sum(v for _, v in telemetry.points("understudy.calls")) == 4
    assert len(telemetry.attempts()) == 2  # spans only from the plugin that has a tracer provider


def test_without_opentelemetry_the_entry_point_is_a_placeholder_and_the_plugin_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # what an import finds when it is not installed
    monkeypatch.delitem(sys.modules, "opentelemetry.trace")
    assert not switches.otel_installed()
    assert isinstance(switches.otel_plugin(), switches.Off)
    with pytest.raises(ImportError, match=r"pip install 'understudy\[otel\]'"):
        OpenTelemetry()
