"""``registry.explain()``: the chain ``understudy explain`` shows, for a live registry, with health memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import HELLO

from understudy import LLMRegistry, ProfileStore, RetryPolicy, UnknownExceptionNameError
from understudy.health.circuit import MemoryHealth
from understudy.testing import RateLimit, Reply

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.testing import FakeProvider


@pytest.fixture
def now() -> list[float]:
    return [1000.0]  # the health store's monotonic clock, moved by hand


@pytest.fixture
def registry(profiles_dir: Path, now: list[float]) -> LLMRegistry:
    health = MemoryHealth(clock=lambda: now[0])
    return LLMRegistry(ProfileStore([profiles_dir]), retry_policy=RetryPolicy(initial=0.001), health=health)


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    fake_profile("main", fallbacks={"*": ["backup", "gone"]}, health={"failures": 2, "cooldown": 30})
    fake_profile("backup")


def test_before_any_call_every_profile_it_can_reach_is_healthy(chain: None, registry: LLMRegistry) -> None:
    explained = registry.explain("main", "RateLimitError")

    steps = {step["name"]: step for step in explained["chain"]}
    assert [step["name"] for step in explained["chain"]] == ["main", "backup", "gone"]
    assert steps["main"]["health"]["state"] == steps["backup"]["health"]["state"] == "healthy"
    assert steps["gone"]["health"] is None  # never loaded, so never called
    assert steps["gone"]["skipped"] is True
    assert explained["matched"] == "*"


def test_a_profile_cooling_down_shows_as_skipped_and_the_next_call_agrees(
    chain: None, registry: LLMRegistry, fake_provider: FakeProvider, now: list[float]
) -> None:
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", Reply("from backup"))
    for _ in range(2):
        registry.get("main").completion(messages=HELLO)

    explained = registry.explain("main", "RateLimitError")

    main, backup, _ = explained["chain"]
    assert main["health"]["state"] == "cooling_down"
    assert main["health"]["opened_by"] == "RateLimitError"
    assert main["skipped"] is True
    assert "cooling down until" in main["detail"]
    assert "go to the fallbacks named for RateLimitError" in main["detail"]
    assert (backup["health"]["state"], backup["skipped"]) == ("healthy", False)
    text = str(explained)
    assert text.splitlines()[0].startswith("When profile 'main' (")
    assert "1. main: primary, openai/main; " in text and "so the call would skip it" in text
    # what explain says is what the next call does: main is not sent a request
    registry.get("main").completion(messages=HELLO)
    assert fake_provider.requests("main") == 2

    now[0] += 31  # the cooldown is over: the next call probes
    (after, *_) = registry.explain("main", "RateLimitError")["chain"]
    assert (after["health"]["state"], after["skipped"]) == ("half_open", False)
    assert "recovering: the next call probes whether it recovered" in after["detail"]


def test_a_failure_short_of_a_cooldown_is_counted(
    chain: None, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", RateLimit())
    registry.get("main").completion(messages=HELLO)

    (main, *_) = registry.explain("main")["chain"]

    assert main["health"] == {
        "state": "healthy",
        "recent_failures": 1,
        "until": None,
        "opened_by": None,
        "reason": "",
    }
    assert main["detail"].endswith("; healthy, 1 recent failure(s)")


def test_an_unknown_error_name_is_refused(chain: None, registry: LLMRegistry) -> None:
    with pytest.raises(UnknownExceptionNameError):
        registry.explain("main", "RateLimitErr")
