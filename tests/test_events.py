"""Events: frozen, JSON-serialisable, and read back into the right class."""

from __future__ import annotations

import pydantic
import pytest

from understudy.events import (
    AttemptFailed,
    AttemptSummary,
    EventAdapter,
    FallbackExhausted,
    FallbackSucceeded,
    FallbackTriggered,
    ProfileSkipped,
)

BASE = {"call_id": "c1", "primary": "main"}
EVENTS = [
    AttemptFailed(
        **BASE,
        profile="main",
        attempt=1,
        error_type="RateLimitError",
        message="slow down",
        will_retry=True,
        retry_in=0.5,
        latency=0.1,
    ),
    ProfileSkipped(**BASE, profile="gone", error_type="ProfileNotFoundError", reason="no profile named 'gone'"),
    FallbackTriggered(
        **BASE, from_profile="main", to_profile="backup", error_type="RateLimitError", reason="slow down", model_calls=2
    ),
    FallbackSucceeded(**BASE, served_by="backup", attempts=3, latency=0.4, cost=None),
    FallbackExhausted(
        **BASE,
        attempts=[AttemptSummary(profile="main", error_type="Timeout", message="timed out", duration=1.0)],
        latency=1.0,
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_every_event_round_trips_through_json(event: pydantic.BaseModel) -> None:
    assert EventAdapter.validate_json(event.model_dump_json()) == event


def test_events_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        EVENTS[0].attempt = 2  # type: ignore[misc]


def test_every_event_carries_the_call_and_its_primary() -> None:
    assert {(e.call_id, e.primary) for e in EVENTS} == {("c1", "main")}
    assert len({e.kind for e in EVENTS}) == len(EVENTS)
