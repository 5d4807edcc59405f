"""A call's budget: a deadline over the whole call and a cap on its attempts, retries and fallbacks together."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from conftest import call, observe

from understudy import FallbackExhaustedError, LLMRegistry, ProfileError, ProfileStore, RetryPolicy
from understudy.events import FallbackExhausted
from understudy.testing import RateLimit, Reply, ServerError, Slow

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.testing import FakeProvider

HELLO: Any = [{"role": "user", "content": "hello"}]


both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    """main (three retries, on 5xx too) falls back to backup, then spare, on any provider error; health off."""
    off, five_xx = {"enabled": False}, {"server_error": 3}
    fake_profile("main", num_retries=3, retries=five_xx, fallbacks={"*": ["backup", "spare"]}, health=off)
    fake_profile("backup", num_retries=3, retries=five_xx, health=off)
    fake_profile("spare", health=off)


@both
@pytest.mark.usefixtures("chain")
def test_max_attempts_caps_retries_and_fallbacks_together(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.default("main", ServerError(503))
    fake_provider.default("backup", ServerError(503))
    events = observe(registry)

    with pytest.raises(FallbackExhaustedError) as caught:
        call(registry, asynchronous, max_attempts=6)

    assert (fake_provider.requests("main"), fake_provider.requests("backup"), fake_provider.requests("spare")) == (
        4,
        2,
        0,
    )
    assert caught.value.stopped == "it made its max_attempts of 6"
    assert str(caught.value).startswith(
        "the call to 'main' stopped because it made its max_attempts of 6 (to allow more, raise deadline= or "
        "max_attempts= on the call, or in profile 'main'): main: "
    )
    assert len(caught.value.attempts) == 6
    exhausted = [e for e in events if isinstance(e, FallbackExhausted)]
    assert [e.stopped_by for e in exhausted] == ["max_attempts"]


@pytest.mark.usefixtures("chain")
def test_a_profiles_max_attempts_applies_to_calls_that_start_there(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile(
        "main",
        num_retries=3,
        retries={"server_error": 3},
        fallbacks={"*": ["backup"]},
        max_attempts=2,
        health={"enabled": False},
    )
    fake_provider.default("main", ServerError(503))

    with pytest.raises(FallbackExhaustedError):
        call(registry, False)
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (2, 0)

    fake_provider.reset()
    fake_provider.default("main", ServerError(503))
    assert call(registry, False, max_attempts=5).choices[0].message.content == "ok"  # the call's own wins
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (4, 1)


@both
@pytest.mark.usefixtures("chain")
def test_a_deadline_caps_each_attempts_timeout_and_ends_the_call_in_time(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", num_retries=3, fallbacks={"*": ["backup", "spare"]}, timeout=30, health={"enabled": False})
    fake_provider.default("main", Slow(seconds=5))
    events = observe(registry)

    started = time.perf_counter()
    with pytest.raises(FallbackExhaustedError) as caught:
        call(registry, asynchronous, deadline=0.5)
    elapsed = time.perf_counter() - started

    # The profile allows 30 s an attempt; the call's deadline cut the first one to what remained of 0.5 s.
    assert elapsed < 4, elapsed
    assert caught.value.stopped == "it ran out of its deadline of 0.5 s"
    assert fake_provider.requests("backup") == 0
    assert [e.stopped_by for e in events if isinstance(e, FallbackExhausted)] == ["deadline"]


@both
@pytest.mark.usefixtures("chain")
def test_a_retry_whose_wait_outlasts_the_deadline_moves_on_to_the_fallback(
    profiles_dir: Path, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    # This policy waits out a Retry-After of up to 60 s; 30 s does not fit a 10 s deadline (roomy: a first
    # async call on a busy machine can take more than a second of litellm's own work).
    registry = LLMRegistry(ProfileStore([profiles_dir]), retry_policy=RetryPolicy(initial=0.001, max_delay=60))
    fake_provider.script("main", RateLimit(retry_after=30))
    fake_provider.script("backup", Reply("from backup"))

    response = call(registry, asynchronous, deadline=10)

    assert response.choices[0].message.content == "from backup"
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)

    fake_provider.reset()
    fake_provider.script("main", RateLimit(retry_after=0.4))
    assert call(registry, asynchronous, deadline=5).choices[0].message.content == "ok"  # it fits: main again
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (2, 0)


def test_a_timeout_the_deadline_cut_short_does_not_count_against_health(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", timeout=30, fallbacks={"*": ["backup"]}, health={"failures": 1})
    fake_profile("backup")
    fake_provider.script("main", Slow(seconds=5))

    with pytest.raises(FallbackExhaustedError):
        call(registry, False, deadline=0.4)

    assert "main" not in registry.health()


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [({"deadline": 0}, "deadline must be a number of seconds above 0"), ({"max_attempts": 0}, "max_attempts must")],
)
def test_a_bad_budget_argument_is_refused_before_any_request(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, kwargs: dict[str, Any], says: str
) -> None:
    fake_profile("main")

    with pytest.raises(ValueError, match=says):
        call(registry, False, **kwargs)
    assert fake_provider.requests("main") == 0


def test_a_bad_budget_field_names_the_file_the_field_and_the_fix(
    fake_profile: WriteProfile, registry: LLMRegistry
) -> None:
    fake_profile("main", max_attempts=0)

    with pytest.raises(ProfileError) as caught:
        registry.get("main")

    assert caught.value.field == "max_attempts"
    assert "a whole number from 1 to 100" in str(caught.value) and "main.toml" in str(caught.value)


def test_the_budget_arguments_never_reach_litellm(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main")

    call(registry, False, deadline=10, max_attempts=3)

    body = fake_provider.received("main")[0]
    assert "deadline" not in body and "max_attempts" not in body


def test_a_spent_budget_without_a_fallback_still_raises_the_documented_error(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=5, retries={"server_error": 5}, health={"enabled": False})
    fake_provider.default("main", ServerError(503))

    with pytest.raises(FallbackExhaustedError) as caught:
        call(registry, False, max_attempts=2)

    assert caught.value.stopped == "it made its max_attempts of 2"
    assert fake_provider.requests("main") == 2


@both
def test_a_deadline_cuts_a_streams_own_timeout_too(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", timeout=30, health={"enabled": False})
    fake_provider.default("main", Slow(seconds=5))

    started = time.perf_counter()
    with pytest.raises(Exception):  # noqa: B017  # the provider's timeout, whichever class litellm picks
        call(registry, asynchronous, stream=True, stream_timeout=20, deadline=0.5)

    assert time.perf_counter() - started < 4


@pytest.mark.parametrize("bad", [True, float("inf"), float("nan"), -1])
def test_a_deadline_must_be_a_finite_number_of_seconds(
    fake_profile: WriteProfile, registry: LLMRegistry, bad: Any
) -> None:
    fake_profile("main")

    with pytest.raises(ValueError, match="deadline must be a number of seconds above 0"):
        call(registry, False, deadline=bad)


@both
def test_when_everything_is_cooling_down_a_deadline_waits_for_the_first_to_recover(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    # main's cooldown must outlast the second call even on a loaded machine, and fit in the third's deadline.
    fake_provider.script("main", RateLimit(retry_after=1.5))
    fake_provider.script("backup", RateLimit(retry_after=30))
    with pytest.raises(FallbackExhaustedError):
        call(registry, asynchronous)  # both answer 429 with a Retry-After: both cool down
    with pytest.raises(FallbackExhaustedError):
        call(registry, asynchronous)  # no deadline: fails at once, nothing sent

    response = call(registry, asynchronous, deadline=5)  # main recovers within it: waited for, then tried

    assert response.choices[0].message.content == "ok"
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (2, 1)
    assert "main" not in registry.health()


def test_a_cooldown_longer_than_the_deadline_is_not_waited_for(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main")
    fake_provider.script("main", RateLimit(retry_after=30))
    with pytest.raises(Exception, match="RateLimitError"):
        call(registry, False)

    started = time.perf_counter()
    with pytest.raises(FallbackExhaustedError) as caught:
        call(registry, False, deadline=2)

    assert time.perf_counter() - started < 1
    assert fake_provider.requests("main") == 1
    assert "cooling down" in str(caught.value)
