"""Health memory: a profile that keeps failing cools down, and calls skip it without sending a request."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from conftest import call, observe

from understudy import (
    FallbackExhaustedError,
    HealthSettings,
    LLMRegistry,
    MemoryHealth,
    ProfileCoolingDownError,
    ProfileError,
    ProfileStore,
    RetryPolicy,
    StreamInterruptedError,
)
from understudy.events import FallbackTriggered, ProfileSkipped
from understudy.health.circuit import Failure
from understudy.testing import ContextLengthExceeded, RateLimit, Reply, ServerError, Slow, StreamFailure

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.testing import FakeProvider

HELLO: Any = [{"role": "user", "content": "hello"}]
SETTINGS = HealthSettings(failures=3, window=60, cooldown=30)
RATE_LIMITED = Failure("RateLimitError", RuntimeError, 429)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock: Clock) -> MemoryHealth:
    return MemoryHealth(clock=clock)


@pytest.fixture
def registry(profiles_dir: Path, health: MemoryHealth) -> LLMRegistry:
    """The suite's registry, with the health store on the test's clock."""
    return LLMRegistry(
        ProfileStore([profiles_dir]), retry_policy=RetryPolicy(initial=0.001, max_delay=0.5), health=health
    )


def fail(health: MemoryHealth, times: int, *, settings: HealthSettings = SETTINGS, probe: int | None = None) -> None:
    for _ in range(times):
        health.failed("main", settings, RATE_LIMITED, probe=probe)


both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


# -- the state machine, on a clock moved by hand -------------------------------------------------------------------


def test_a_profile_cools_down_after_its_failures_within_the_window(health: MemoryHealth, clock: Clock) -> None:
    fail(health, 2)
    assert health.check("main", SETTINGS).allowed
    clock.now += 61  # the first two fall out of the window
    fail(health, 2)
    assert health.check("main", SETTINGS).allowed

    fail(health, 1)

    verdict = health.check("main", SETTINGS)
    assert not verdict.allowed
    assert verdict.until == pytest.approx(time.time() + 30, abs=1)
    assert verdict.reason == "cooling down: 3 failures in 60 s, the last RateLimitError"
    assert verdict.opened_by == RATE_LIMITED
    assert health.snapshot()["main"].state == "cooling_down"


def test_after_the_cooldown_one_call_probes_while_the_others_skip(health: MemoryHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.now += 30

    first, second = health.check("main", SETTINGS), health.check("main", SETTINGS)

    assert first.allowed and first.probe is not None
    assert (second.allowed, second.until) == (False, None)
    assert "probing" in second.reason
    assert health.snapshot()["main"].state == "half_open"


def test_a_failed_probe_cools_it_down_again_and_an_answer_heals_it(health: MemoryHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.now += 30
    probe = health.check("main", SETTINGS).probe

    fail(health, 1, probe=probe)

    assert not health.check("main", SETTINGS).allowed
    clock.now += 30
    probe = health.check("main", SETTINGS).probe
    assert probe is not None
    health.succeeded("main", probe=probe)
    assert health.check("main", SETTINGS).allowed and health.snapshot() == {}


def test_a_probe_without_a_verdict_lets_the_next_call_probe(health: MemoryHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.now += 30
    probe = health.check("main", SETTINGS).probe
    assert probe is not None

    health.released("main", probe)

    assert health.check("main", SETTINGS).probe is not None


def test_a_probe_that_never_reports_is_taken_as_lost_after_a_cooldown(health: MemoryHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.now += 30
    assert health.check("main", SETTINGS).probe is not None  # its caller drops it and never says how it went

    clock.now += 29
    assert not health.check("main", SETTINGS).allowed
    clock.now += 1
    assert health.check("main", SETTINGS).probe is not None


def test_a_retry_after_cools_the_profile_down_for_as_long_as_the_provider_asked(
    health: MemoryHealth, clock: Clock
) -> None:
    health.failed("main", SETTINGS, Failure("RateLimitError", RuntimeError, 429, retry_after=5), probe=None)

    verdict = health.check("main", SETTINGS)
    assert not verdict.allowed and verdict.until == pytest.approx(time.time() + 5, abs=1)
    assert verdict.reason == "cooling down: the provider asked to wait 5 s"
    clock.now += 5
    assert health.check("main", SETTINGS).probe is not None


def test_a_retry_after_of_years_cools_down_for_a_day_at_most(health: MemoryHealth) -> None:
    for asked in (40_000 * 86_400.0, float("inf")):
        health.failed("main", SETTINGS, Failure("RateLimitError", RuntimeError, 429, retry_after=asked), probe=None)

    verdict = health.check("main", SETTINGS)
    assert verdict.until == pytest.approx(time.time() + 86_400, abs=5)
    assert verdict.reason == "cooling down: the provider asked to wait 86400 s"


def test_a_late_probe_touches_neither_the_healed_circuit_nor_the_next_probe(health: MemoryHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.now += 30
    late = health.check("main", SETTINGS).probe
    health.succeeded("main", probe=None)  # a call that started earlier answers: healthy again
    fail(health, 3)
    clock.now += 30
    current = health.check("main", SETTINGS).probe

    assert late is not None and current not in (None, late)
    health.released("main", late)
    assert not health.check("main", SETTINGS).allowed  # the current probe still holds it
    fail(health, 1, probe=late)  # an ordinary failure now, not a failed probe
    assert health.snapshot()["main"].state == "half_open"


def test_the_snapshot_forgets_failures_older_than_the_window(health: MemoryHealth, clock: Clock) -> None:
    fail(health, 2)
    assert health.snapshot()["main"].recent_failures == 2
    clock.now += 61
    assert health.snapshot() == {}


def test_a_profile_with_health_off_is_never_skipped(health: MemoryHealth) -> None:
    off = HealthSettings(enabled=False)
    fail(health, 10, settings=off)
    assert health.check("main", off).allowed and health.snapshot() == {}


def test_concurrent_calls_after_a_cooldown_send_exactly_one_probe(health: MemoryHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.now += 30
    verdicts: list[Any] = []
    start = threading.Barrier(32)

    def check() -> None:
        start.wait()
        verdicts.append(health.check("main", SETTINGS))

    threads = [threading.Thread(target=check) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [v.probe is not None for v in verdicts].count(True) == 1
    assert [v.allowed for v in verdicts].count(True) == 1


# -- through real calls to the test double -----------------------------------------------------------------------


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    """main (two retries, on 5xx too) falls back to backup on any provider error; three failures cool main down."""
    fake_profile("main", num_retries=2, retries={"server_error": 2}, fallbacks={"*": ["backup"]})
    fake_profile("backup")


@both
@pytest.mark.usefixtures("chain")
def test_thirty_calls_to_a_dead_primary_pay_it_three_requests_not_ninety(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.default("main", ServerError(503))
    events = observe(registry)

    served = [call(registry, asynchronous).choices[0].message.content for _ in range(30)]

    assert served == ["ok"] * 30
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (3, 30)
    skipped = [e for e in events if isinstance(e, ProfileSkipped)]
    assert len(skipped) == 29
    assert {(e.profile, e.error_type) for e in skipped} == {("main", "ProfileCoolingDownError")}
    assert all(e.until is not None and e.until > time.time() + 20 for e in skipped)
    assert "cooling down: 3 failures in 60 s, the last ServiceUnavailableError" in skipped[0].reason
    triggered = [e for e in events if isinstance(e, FallbackTriggered)]
    assert len(triggered) == 30 and triggered[-1].error_type == "ProfileCoolingDownError"
    assert registry.stats()["main"].calls == 3
    shown = registry.health()["main"]
    assert (shown.state, shown.opened_by) == ("cooling_down", "ServiceUnavailableError")


@both
@pytest.mark.usefixtures("chain")
def test_a_skipped_primary_goes_to_the_fallbacks_named_for_what_cooled_it_down(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", num_retries=2, fallbacks={"RateLimitError": ["spare"], "*": ["backup"]})
    fake_profile("spare")
    fake_provider.default("main", RateLimit())

    call(registry, asynchronous)  # three 429s: main cools down, spare serves
    call(registry, asynchronous)

    assert (fake_provider.requests("main"), fake_provider.requests("spare"), fake_provider.requests("backup")) == (
        3,
        2,
        0,
    )


@both
def test_request_scoped_failures_never_cool_a_profile_down(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", ContextLengthExceeded())

    for _ in range(5):
        call(registry, asynchronous)

    assert fake_provider.requests("main") == 5
    assert "main" not in registry.health()


@both
def test_a_retry_after_is_honoured_by_later_calls_without_a_request(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", RateLimit(retry_after=120))

    call(registry, asynchronous)
    call(registry, asynchronous)

    assert fake_provider.requests("main") == 1
    shown = registry.health()["main"]
    assert shown.state == "cooling_down" and shown.until == pytest.approx(time.time() + 120, abs=2)


@both
def test_when_every_profile_is_cooling_down_the_call_fails_at_once_saying_until_when(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", RateLimit(retry_after=60))
    fake_provider.default("backup", RateLimit(retry_after=90))
    with pytest.raises(FallbackExhaustedError):
        call(registry, asynchronous)

    with pytest.raises(FallbackExhaustedError) as caught:
        call(registry, asynchronous)

    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)
    errors = [a.error for a in caught.value.attempts]
    assert all(isinstance(e, ProfileCoolingDownError) for e in errors)
    assert [(e.profile, e.opened_by, e.status_code) for e in errors] == [  # type: ignore[attr-defined]
        ("main", "RateLimitError", 429),
        ("backup", "RateLimitError", 429),
    ]
    assert "main: ProfileCoolingDownError (profile 'main' skipped, cooling down" in str(caught.value)
    assert "(until 20" in str(caught.value)  # an ISO time
    assert isinstance(caught.value.__cause__, ProfileCoolingDownError)


@both
@pytest.mark.usefixtures("chain")
def test_after_the_cooldown_a_real_call_probes_and_heals_the_primary(
    registry: LLMRegistry, fake_provider: FakeProvider, clock: Clock, asynchronous: bool
) -> None:
    fake_provider.script("main", ServerError(503), ServerError(503), ServerError(503))
    call(registry, asynchronous)
    call(registry, asynchronous)
    assert fake_provider.requests("main") == 3
    clock.now += 30

    response = call(registry, asynchronous)

    assert response.choices[0].message.content == "ok"
    assert fake_provider.requests("main") == 4
    assert "main" not in registry.health()


def test_a_failing_probe_is_not_retried_into_a_second_cooldown_request(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, clock: Clock
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, health={"failures": 1, "cooldown": 10})
    fake_profile("backup")
    fake_provider.default("main", ServerError(503))
    registry.get("main").completion(messages=HELLO)
    clock.now += 10

    registry.get("main").completion(messages=HELLO)  # the probe fails: cooling down again
    registry.get("main").completion(messages=HELLO)

    assert fake_provider.requests("main") == 2
    assert registry.health()["main"].reason == "cooling down: ServiceUnavailableError again after a cooldown"


def test_health_can_be_switched_off_and_rescoped_per_profile(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("off", fallbacks={"*": ["backup"]}, health={"enabled": False})
    fake_profile("strict", fallbacks={"*": ["backup"]}, health={"failures": 1, "model_scoped": ["BadRequestError"]})
    fake_profile("backup")
    fake_provider.default("off", ServerError(503))
    fake_provider.default("strict", ContextLengthExceeded())

    for _ in range(4):
        registry.get("off").completion(messages=HELLO)
        registry.get("strict").completion(messages=HELLO)

    assert (fake_provider.requests("off"), fake_provider.requests("strict")) == (4, 1)


@pytest.mark.parametrize(
    ("table", "field", "says"),
    [
        ({"failures": 0}, "health.failures", "a whole number from 1 to 1000"),
        ({"cooldown": "30"}, "health.cooldown", "must be a number of seconds"),
        ({"failurez": 3}, "health.failurez", "did you mean 'failures'?"),
    ],
)
def test_a_bad_health_table_names_the_file_the_field_and_the_fix(
    write_profile: WriteProfile, registry: LLMRegistry, table: dict[str, Any], field: str, says: str
) -> None:
    write_profile("main", model="openai/gpt-4o", health=table)

    with pytest.raises(ProfileError) as caught:
        registry.get("main")

    assert caught.value.field == field
    assert says in str(caught.value) and "main.toml" in str(caught.value)


def test_a_profile_stops_being_retried_once_its_own_failures_cool_it_down(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, clock: Clock
) -> None:
    fake_profile("main", num_retries=5, retries={"server_error": 5}, fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", ServerError(503))

    call(registry, False)
    assert fake_provider.requests("main") == 3  # not 6: the third failure cooled it down
    clock.now += 30

    call(registry, False)  # the probe fails once: no retries into a fresh cooldown
    assert fake_provider.requests("main") == 4


async def test_a_cancelled_probe_lets_the_next_call_probe(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, clock: Clock
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, health={"failures": 1})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503), Slow(seconds=5))
    await registry.get("main").acompletion(messages=HELLO)
    clock.now += 30
    probe = asyncio.ensure_future(registry.get("main").acompletion(messages=HELLO))
    while fake_provider.requests("main") < 2:  # the probe's request is at the provider
        await asyncio.sleep(0.01)

    probe.cancel()
    await asyncio.gather(probe, return_exceptions=True)

    await registry.get("main").acompletion(messages=HELLO)  # probes again: main answers
    assert fake_provider.requests("main") == 3
    assert "main" not in registry.health()


def test_a_skipped_primary_with_no_fallback_for_its_failure_ends_with_the_exhausted_event(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", health={"failures": 1})
    fake_provider.default("main", ServerError(503))
    events = observe(registry)
    with pytest.raises(Exception, match="ServiceUnavailableError"):
        registry.get("main").completion(messages=HELLO)  # no fallback: the provider's own error

    with pytest.raises(FallbackExhaustedError):
        registry.get("main").completion(messages=HELLO)

    assert [e.kind for e in events][-2:] == ["profile_skipped", "fallback_exhausted"]
    assert fake_provider.requests("main") == 1


class BrokenStore(MemoryHealth):
    def check(self, profile: str, settings: HealthSettings) -> Any:
        raise ConnectionError("the shared store is down")

    def failed(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the shared store is down")


def test_a_failing_health_store_never_breaks_a_call(
    fake_profile: WriteProfile, profiles_dir: Path, fake_provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))
    registry = LLMRegistry(ProfileStore([profiles_dir]), health=BrokenStore())

    assert registry.get("main").completion(messages=HELLO).choices[0].message.content == "ok"
    assert any("the health store failed" in r.getMessage() for r in caplog.records)


def read_stream(registry: LLMRegistry, asynchronous: bool, *, close_after: int | None = None) -> str:
    """Stream a hello from main: the text, or the name of the error that ended it. ``close_after``: chunks
    read before the caller closes the stream."""

    async def areads() -> str:
        stream = await registry.get("main").acompletion(messages=HELLO, stream=True)
        text = []
        async for chunk in stream:
            text.append(chunk.choices[0].delta.content or "")
            if close_after is not None and len(text) >= close_after:
                await stream.aclose()
        return "".join(text)

    def reads() -> str:
        stream = registry.get("main").completion(messages=HELLO, stream=True)
        text = []
        for chunk in stream:
            text.append(chunk.choices[0].delta.content or "")
            if close_after is not None and len(text) >= close_after:
                stream.close()
        return "".join(text)

    try:
        return asyncio.run(areads()) if asynchronous else reads()
    except StreamInterruptedError as exc:
        return type(exc).__name__


@both
def test_streams_that_keep_breaking_mid_answer_cool_the_profile_down(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    """A stream that opened is not yet an answer: counting its first chunk as one would keep a provider whose
    every stream breaks healthy for ever."""
    fake_profile("main", fallbacks={"*": ["backup"]}, health={"failures": 2})
    fake_profile("backup")
    fake_provider.default("main", StreamFailure(after_chunks=1))

    outcomes = [read_stream(registry, asynchronous) for _ in range(3)]

    assert outcomes == ["StreamInterruptedError", "StreamInterruptedError", "ok"]
    assert fake_provider.requests("main") == 2
    assert registry.health()["main"].reason.startswith("cooling down: 2 failures in 60 s")


@both
def test_a_probe_stream_settles_at_its_end_whole_heals_closed_early_lets_the_next_call_probe(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, clock: Clock, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, health={"failures": 1, "cooldown": 10})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503), Reply("one two three"), Reply("one two three"))
    call(registry, asynchronous)
    clock.now += 10

    assert read_stream(registry, asynchronous, close_after=1) == "one"  # the probe's caller stops reading
    assert registry.health()["main"].reason == "the next call probes whether it recovered"
    assert read_stream(registry, asynchronous) == "one two three"  # the next call probes, to the end

    assert fake_provider.requests("main") == 3
    assert "main" not in registry.health()
