"""Fallback through real HTTP: litellm calls the fake provider, understudy walks the chain."""

from __future__ import annotations

import asyncio
import threading
import traceback
from typing import TYPE_CHECKING, Any

import litellm
import pytest

from understudy import FallbackExhaustedError, LLMRegistry, ProfileStore, RetryPolicy, served_by
from understudy.calls.litellm_call import LitellmCall
from understudy.events import AttemptFailed, Event, FallbackExhausted, FallbackSucceeded, FallbackTriggered
from understudy.testing import (
    ContentPolicyViolation,
    ContextLengthExceeded,
    DropConnection,
    HTTPError,
    RateLimit,
    Reply,
    ServerError,
    Slow,
)

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.testing import FakeProvider

HELLO = [{"role": "user", "content": "hello"}]


def record(registry: LLMRegistry) -> list[Event]:
    events: list[Event] = []
    registry.subscribe(events.append)
    return events


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def test_a_healthy_primary_serves_without_any_event(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", Reply("from main"))
    events = record(registry)

    response = registry.get("main").completion(messages=HELLO)

    assert response.choices[0].message.content == "from main"
    assert served_by(response) == "main"
    assert events == []
    assert fake_provider.requests("backup") == 0


def test_rate_limit_falls_back_in_order_to_the_first_profile_that_answers(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"RateLimitError": ["second", "third"], "*": ["last"]})
    fake_profile("second")
    fake_profile("third")
    fake_profile("last")
    fake_provider.default("main", RateLimit())
    fake_provider.default("second", ServerError(503))
    fake_provider.script("third", Reply("third speaking"))
    events = record(registry)

    response = registry.get("main").completion(messages=HELLO)

    assert response.choices[0].message.content == "third speaking"
    assert served_by(response) == "third"
    assert [fake_provider.requests(m) for m in ("main", "second", "third", "last")] == [1, 1, 1, 0]
    triggered = [e for e in events if isinstance(e, FallbackTriggered)]
    assert [(e.from_profile, e.to_profile, e.error_type) for e in triggered] == [
        ("main", "second", "RateLimitError"),
        ("second", "third", "ServiceUnavailableError"),
    ]
    succeeded = events[-1]
    assert isinstance(succeeded, FallbackSucceeded)
    assert (succeeded.primary, succeeded.served_by, succeeded.attempts) == ("main", "third", 3)
    assert len({e.call_id for e in events}) == 1


def test_the_most_specific_entry_wins_over_its_base_class_and_the_wildcard(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile(
        "main",
        fallbacks={"BadRequestError": [], "ContextWindowExceededError": ["big"], "*": ["other"]},
    )
    fake_profile("big")
    fake_profile("other")
    fake_provider.script("main", ContextLengthExceeded())

    response = registry.get("main").completion(messages=HELLO)

    assert served_by(response) == "big"
    assert fake_provider.requests("other") == 0


def test_an_empty_list_stops_the_walk_and_the_provider_error_propagates_unchanged(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"BadRequestError": [], "*": ["other"]})
    fake_profile("other")
    fake_provider.script("main", HTTPError(400, "malformed"))

    with pytest.raises(litellm.BadRequestError):
        registry.get("main").completion(messages=HELLO)
    assert fake_provider.requests("other") == 0


def test_content_policy_violation_walks_its_own_list(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"ContentPolicyViolationError": ["lenient"], "*": ["other"]})
    fake_profile("lenient")
    fake_profile("other")
    fake_provider.script("main", ContentPolicyViolation())

    assert served_by(registry.get("main").completion(messages=HELLO)) == "lenient"


@pytest.mark.parametrize(
    ("behaviour", "error_type"),
    [
        (Slow(5), "Timeout"),
        (DropConnection(), "APIConnectionError"),  # litellm says InternalServerError: nothing came back
        (ServerError(500), "InternalServerError"),
        (HTTPError(404, "no such model"), "NotFoundError"),
        (HTTPError(402, "insufficient credit"), "APIError"),
    ],
)
def test_the_wildcard_covers_every_provider_failure(
    fake_profile: WriteProfile,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    behaviour: Any,
    error_type: str,
) -> None:
    fake_profile("main", timeout=0.3, fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", behaviour)
    events = record(registry)

    assert served_by(registry.get("main").completion(messages=HELLO)) == "backup"
    failed = events[0]
    assert isinstance(failed, AttemptFailed)
    assert failed.error_type == error_type


def test_litellm_and_openai_never_retry_on_their_own(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main")
    fake_provider.default("main", ServerError(500))

    with pytest.raises(litellm.InternalServerError):
        registry.get("main").completion(messages=HELLO)
    assert fake_provider.requests("main") == 1


def test_transient_errors_are_retried_num_retries_times_honouring_retry_after(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=2)
    fake_provider.script("main", RateLimit(retry_after=0.02), RateLimit(retry_after=0.03), Reply("third time"))
    events = record(registry)

    response = registry.get("main").completion(messages=HELLO)

    assert response.choices[0].message.content == "third time"
    assert fake_provider.requests("main") == 3
    assert [(e.attempt, e.will_retry, e.retry_in) for e in events if isinstance(e, AttemptFailed)] == [
        (1, True, 0.02),
        (2, True, 0.03),
    ]
    assert kinds(events) == ["attempt_failed", "attempt_failed"]


def test_a_retry_after_longer_than_max_delay_falls_back_at_once(
    fake_profile: WriteProfile, profiles_dir: Path, fake_provider: FakeProvider
) -> None:
    registry = LLMRegistry(ProfileStore([profiles_dir]), retry_policy=RetryPolicy(max_delay=1))
    fake_profile("main", num_retries=3, fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", RateLimit(retry_after=120))
    events = record(registry)

    assert served_by(registry.get("main").completion(messages=HELLO)) == "backup"
    assert fake_provider.requests("main") == 1
    assert isinstance(events[0], AttemptFailed) and not events[0].will_retry


def test_request_scoped_errors_are_never_retried(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=3, fallbacks={"ContextWindowExceededError": ["big"]})
    fake_profile("big")
    fake_provider.default("main", ContextLengthExceeded())

    assert served_by(registry.get("main").completion(messages=HELLO)) == "big"
    assert fake_provider.requests("main") == 1


def test_each_fallback_gets_its_own_retries(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=1)
    fake_provider.default("main", ServerError(503))
    fake_provider.script("backup", ServerError(502), Reply("second try"))

    response = registry.get("main").completion(messages=HELLO)

    assert response.choices[0].message.content == "second try"
    assert fake_provider.requests("backup") == 2


def test_a_profile_is_tried_at_most_once_per_call_and_never_the_primary_again(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    from understudy import FallbackStrategy

    fake_profile("main")
    fake_profile("backup")
    fake_profile("last")
    for model in ("main", "backup", "last"):
        fake_provider.default(model, ServerError(503))
    llm = registry.get("main")
    llm.fallback_strategy = FallbackStrategy({"*": ["backup", "main", "backup", "last"]})

    with pytest.raises(FallbackExhaustedError):
        llm.completion(messages=HELLO)
    assert [fake_provider.requests(m) for m in ("main", "backup", "last")] == [1, 1, 1]


def test_exhausted_error_holds_every_attempt_chains_the_last_and_works_with_except_star(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=1, fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", RateLimit(retry_after=0.001))
    fake_provider.default("backup", ServerError(503))
    events = record(registry)

    with pytest.raises(FallbackExhaustedError) as caught:
        registry.get("main").completion(messages=HELLO)
    error = caught.value

    assert [(a.profile, a.error_type, a.loaded) for a in error.attempts] == [
        ("main", "RateLimitError", True),
        ("main", "RateLimitError", True),
        ("backup", "ServiceUnavailableError", True),
    ]
    assert all(a.duration > 0 for a in error.attempts)
    assert isinstance(error.__cause__, litellm.ServiceUnavailableError)
    assert "main: RateLimitError x2" in str(error) and "backup: ServiceUnavailableError" in str(error)
    assert isinstance(error, ExceptionGroup)
    exhausted = events[-1]
    assert isinstance(exhausted, FallbackExhausted) and len(exhausted.attempts) == 3

    rate_limited: list[BaseException] = []
    try:
        raise error
    except* litellm.RateLimitError as group:
        rate_limited.extend(group.exceptions)
    except* litellm.ServiceUnavailableError:
        pass
    assert len(rate_limited) == 2


def test_fallback_profiles_are_loaded_only_when_a_call_reaches_them(
    fake_profile: WriteProfile, write_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup", "broken"]})
    fake_profile("backup")
    write_profile("broken", "this is not toml = = =")
    fake_provider.script("main", ServerError(503))

    assert served_by(registry.get("main").completion(messages=HELLO)) == "backup"
    assert served_by(registry.get("main").completion(messages=HELLO)) == "main"
    assert set(registry.stats()) == {"main", "backup"}


def test_a_fallback_that_cannot_load_is_skipped_with_its_own_event_and_record(
    fake_profile: WriteProfile, write_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["missing", "broken", "backup"]})
    fake_profile("backup")
    write_profile("broken", model="openai/x", temprature=0.5)
    fake_provider.script("main", ServerError(503))
    events = record(registry)

    assert served_by(registry.get("main").completion(messages=HELLO)) == "backup"
    skipped = [(e.profile, e.error_type) for e in events if e.kind == "profile_skipped"]
    assert skipped == [("missing", "ProfileNotFoundError"), ("broken", "ProfileError")]
    reasons = " ".join(getattr(e, "reason", "") for e in events if e.kind == "profile_skipped")
    assert "temprature" in reasons and "temperature" in reasons
    triggered = [e for e in events if isinstance(e, FallbackTriggered)]
    assert [(e.from_profile, e.to_profile) for e in triggered] == [("main", "backup")]


def test_a_load_failure_is_recorded_as_such_and_retried_on_the_next_call(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["later"]})
    fake_provider.default("main", ServerError(503))

    with pytest.raises(FallbackExhaustedError) as caught:
        registry.get("main").completion(messages=HELLO)
    assert [(a.profile, a.loaded) for a in caught.value.attempts] == [("main", True), ("later", False)]
    assert "later: not loaded, ProfileNotFoundError" in str(caught.value)

    fake_profile("later")
    assert served_by(registry.get("main").completion(messages=HELLO)) == "later"


def test_an_unset_key_variable_skips_that_fallback(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNDERSTUDY_TEST_KEY", raising=False)
    fake_profile("main", fallbacks={"*": ["keyless", "backup"]})
    fake_profile("keyless", api_key=None, api_key_env="UNDERSTUDY_TEST_KEY")
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))
    events = record(registry)

    assert served_by(registry.get("main").completion(messages=HELLO)) == "backup"
    skipped = [e for e in events if e.kind == "profile_skipped"]
    assert len(skipped) == 1 and "export UNDERSTUDY_TEST_KEY" in skipped[0].reason  # type: ignore[attr-defined]


def test_secrets_never_reach_events_the_exhausted_error_or_its_traceback(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_KEY", "env-secret-value-42")
    fake_profile("main", api_key="literal-secret-99", fallbacks={"*": ["backup"]})
    fake_profile("backup", api_key=None, api_key_env="BACKUP_KEY")
    fake_provider.default("main", HTTPError(401, "Incorrect API key provided: literal-secret-99"))
    fake_provider.default("backup", HTTPError(401, "bad key env-secret-value-42, also sk-proj-abcdef123456"))
    events = record(registry)

    with pytest.raises(FallbackExhaustedError) as caught:
        registry.get("main").completion(messages=HELLO)

    traceback_text = "".join(traceback.format_exception(caught.value))
    text = traceback_text + str(caught.value) + "".join(e.model_dump_json() for e in events)
    for secret in ("literal-secret-99", "env-secret-value-42", "sk-proj-abcdef123456"):
        assert secret not in text
    assert "***" in text


def test_tool_calls_come_back_through_a_fallback(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))
    fake_provider.script("backup", Reply(tool_calls=[{"name": "lookup", "arguments": '{"q": "weather"}'}]))
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

    response = registry.get("main").completion(messages=HELLO, tools=tools)

    call = response.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("lookup", '{"q": "weather"}')
    assert fake_provider.received("backup")[0]["tools"] == tools


def test_call_arguments_reach_every_profile_and_profile_settings_apply(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", temperature=0.1, fallbacks={"*": ["backup"]})
    fake_profile("backup", max_tokens=77, params={"top_p": 0.5})
    fake_provider.script("main", ServerError(503))

    registry.get("main").completion(messages=HELLO, seed=7)

    main_body, backup_body = fake_provider.received("main")[0], fake_provider.received("backup")[0]
    assert (main_body["temperature"], main_body["seed"]) == (0.1, 7)
    assert (backup_body["max_tokens"], backup_body["top_p"], backup_body["seed"]) == (77, 0.5, 7)


def test_arguments_the_profile_owns_are_refused(fake_profile: WriteProfile, registry: LLMRegistry) -> None:
    fake_profile("main")
    with pytest.raises(TypeError, match="num_retries"):
        registry.get("main").completion(messages=HELLO, num_retries=3)


def test_a_replaced_strategy_is_used(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    from understudy import FallbackStrategy

    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_profile("other")
    fake_provider.script("main", ServerError(503))
    llm = registry.get("main")
    llm.fallback_strategy = FallbackStrategy({litellm.ServiceUnavailableError: ["other"]})

    assert served_by(llm.completion(messages=HELLO)) == "other"


async def test_async_calls_take_the_same_path_and_await_async_subscribers(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=1, fallbacks={"RateLimitError": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", RateLimit(retry_after=0.001))
    seen: list[str] = []

    async def on_event(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append(event.kind)

    registry.subscribe(on_event)
    response = await registry.get("main").acompletion(messages=HELLO)

    assert served_by(response) == "backup"
    assert seen == ["attempt_failed", "attempt_failed", "fallback_triggered", "fallback_succeeded"]


def test_async_subscribers_also_run_for_sync_calls(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))
    seen: list[str] = []

    async def on_event(event: Event) -> None:
        seen.append(event.kind)

    registry.subscribe(on_event)
    registry.get("main").completion(messages=HELLO)

    assert seen == ["attempt_failed", "fallback_triggered", "fallback_succeeded"]


def test_a_subscriber_that_raises_never_breaks_the_call_or_the_others(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    registry.subscribe(broken)
    events = record(registry)

    assert served_by(registry.get("main").completion(messages=HELLO)) == "backup"
    assert kinds(events) == ["attempt_failed", "fallback_triggered", "fallback_succeeded"]
    assert "subscriber bug" in caplog.text


def test_unsubscribe_stops_delivery(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", ServerError(503))
    events: list[Event] = []
    unsubscribe = registry.subscribe(events.append)
    registry.get("main").completion(messages=HELLO)
    unsubscribe()
    registry.get("main").completion(messages=HELLO)
    assert len(events) == 3


def test_stats_track_every_profile_a_call_touches(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", "gpt-4o-mini", fallbacks={"*": ["backup"]})
    fake_profile("backup", "local-model")
    fake_provider.script("gpt-4o-mini", ServerError(503), Reply(prompt_tokens=100, completion_tokens=20))
    fake_provider.script("local-model", Reply(prompt_tokens=7, completion_tokens=3))
    llm = registry.get("main")

    llm.completion(messages=HELLO)
    llm.completion(messages=HELLO)

    stats = registry.stats()
    main, backup = stats["main"], stats["backup"]
    assert (main.calls, main.successes, main.failures, main.failures_by_type) == (
        2,
        1,
        1,
        {"ServiceUnavailableError": 1},
    )
    assert (main.prompt_tokens, main.completion_tokens) == (100, 20)
    assert main.cost is not None and main.cost > 0  # gpt-4o-mini is in litellm's bundled cost map
    assert (backup.calls, backup.served_as_fallback, backup.prompt_tokens) == (1, 1, 7)
    assert backup.cost is None and backup.uncosted_calls == 1  # unknown model: cost stays unknown
    assert main.mean_latency is not None and main.mean_latency > 0
    assert llm.stats() == main


def test_fallback_succeeded_reports_the_serving_cost(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", "local-model", fallbacks={"*": ["cloud"]})
    fake_profile("cloud", "gpt-4o")
    fake_provider.script("local-model", ServerError(503))
    events = record(registry)

    registry.get("main").completion(messages=HELLO)

    succeeded = events[-1]
    assert isinstance(succeeded, FallbackSucceeded)
    assert succeeded.cost == pytest.approx(registry.stats()["cloud"].cost)


def test_stats_are_exact_under_threads(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, health={"enabled": False})  # every call reaches main
    fake_profile("backup")
    fake_provider.script("main", *[ServerError(503)] * 10)
    llm = registry.get("main")
    threads = [threading.Thread(target=llm.completion, kwargs={"messages": HELLO}) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stats = registry.stats()
    assert (stats["main"].calls, stats["main"].failures, stats["main"].successes) == (24, 10, 14)
    assert (stats["backup"].calls, stats["backup"].served_as_fallback) == (10, 10)
    assert stats["main"].prompt_tokens == 14 * 10


async def test_stats_are_exact_under_asyncio_concurrency(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, health={"enabled": False})  # every call reaches main
    fake_profile("backup")
    fake_provider.script("main", *[ServerError(500)] * 8)
    llm = registry.get("main")

    responses = await asyncio.gather(*(llm.acompletion(messages=HELLO) for _ in range(20)))

    assert sorted(served_by(r) or "" for r in responses) == ["backup"] * 8 + ["main"] * 12
    stats = registry.stats()
    assert (stats["main"].calls, stats["main"].failures) == (20, 8)
    assert stats["backup"].served_as_fallback == 8


def test_a_global_litellm_num_retries_is_refused_instead_of_retrying_twice_over(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: litellm's sync path ignores num_retries=0 when litellm.num_retries is set globally."""
    from understudy import ConfigError

    fake_profile("main")
    monkeypatch.setattr(litellm, "num_retries", 3)
    with pytest.raises(ConfigError, match=r"litellm\.num_retries"):
        registry.get("main").completion(messages=HELLO)
    assert fake_provider.requests("main") == 0


def test_credentials_in_params_and_api_base_are_redacted_too(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile(
        "main",
        params={"extra_headers": {"X-Custom-Auth": "header-secret-123"}},
        fallbacks={"*": ["backup"]},
    )
    fake_profile("backup")
    fake_provider.default("main", HTTPError(401, "rejected header-secret-123"))
    fake_provider.default("backup", ServerError(503))
    events = record(registry)

    with pytest.raises(FallbackExhaustedError) as caught:
        registry.get("main").completion(messages=HELLO)

    text = "".join(traceback.format_exception(caught.value)) + "".join(e.model_dump_json() for e in events)
    assert "header-secret-123" not in text
    assert "header-secret-123" not in repr(registry.get("main").profile)


def test_a_programming_error_in_a_fallback_propagates_with_a_note_of_what_came_before(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))
    llm = registry.get("main")
    events = record(registry)

    class Broken(LitellmCall):
        def call(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
            if as_fallback:
                raise KeyError("bug in a callback")
            return super().call(request, as_fallback=as_fallback)

    backup = registry.get("backup")
    backup.caller = Broken(backup.profile, registry.book)
    with pytest.raises(KeyError) as caught:
        llm.completion(messages=HELLO)
    assert any("after: main ServiceUnavailableError" in note for note in caught.value.__notes__)
    assert [e.kind for e in events] == ["attempt_failed", "fallback_triggered"]


def test_what_except_star_leaves_unhandled_is_still_a_fallback_exhausted_error(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """Regression: the remainder of an except* was a plain ExceptionGroup that outer handlers missed."""
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", ServerError(503))

    with pytest.raises(FallbackExhaustedError) as caught:
        try:
            registry.get("main").completion(messages=HELLO)
        except* litellm.RateLimitError:
            pass

    assert [(a.profile, a.error_type) for a in caught.value.attempts] == [("backup", "ServiceUnavailableError")]
    assert caught.value.primary == "main"


def test_replacing_an_llms_profile_changes_the_model_it_calls(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", "model-a")
    fake_profile("other", "model-b")
    llm = registry.get("main")

    llm.profile = registry.get("other").profile.model_copy(update={"name": "main"})
    llm.completion(messages=HELLO)

    assert fake_provider.requests("model-b") == 1 and fake_provider.requests("model-a") == 0
    assert llm.profile.model.endswith("model-b")


def test_a_calls_extra_headers_are_added_to_the_profiles(fake_profile: WriteProfile, registry: LLMRegistry) -> None:
    fake_profile("main", params={"extra_headers": {"X-Proxy-Key": "proxy-1", "X-Team": "ml"}})
    caller = registry.get("main").caller

    request = caller.request({"messages": HELLO, "extra_headers": {"X-Trace": "t-1", "X-Team": "infra"}})

    assert request["extra_headers"] == {"X-Proxy-Key": "proxy-1", "X-Team": "infra", "X-Trace": "t-1"}
    assert registry.get("main").profile.params["extra_headers"] == {"X-Proxy-Key": "proxy-1", "X-Team": "ml"}
