"""Retry policy: jittered exponential backoff, Retry-After honoured and capped."""

from __future__ import annotations

import email.utils
import time

import httpx
import litellm
import pytest

from understudy import RetryPolicy
from understudy.calls.retry import is_transient, retry_after
from understudy.failures.names import ExceptionNames
from understudy.plugins import get_plugin_manager


class WithHeaders(Exception):
    def __init__(self, **headers: str) -> None:
        self.response = httpx.Response(429, headers=headers)


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    policy = RetryPolicy(initial=1, multiplier=2, max_delay=5, jitter=False)
    assert [policy.delay(n, Exception()) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_jitter_stays_within_the_backoff() -> None:
    policy = RetryPolicy(initial=1, max_delay=8)
    delays = [policy.delay(3, Exception()) for _ in range(200)]
    assert all(0 <= d <= 4 for d in delays) and len(set(delays)) > 1  # type: ignore[operator]


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after(WithHeaders(**{"retry-after-ms": "250", "retry-after": "3"})) == 0.25


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert retry_after(WithHeaders(**{"retry-after": "2"})) == 2.0
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after(WithHeaders(**{"retry-after": date})) or 0) <= 30
    assert retry_after(WithHeaders(**{"retry-after": "soon"})) is None
    assert retry_after(Exception()) is None


def test_a_provider_asking_for_more_than_max_delay_is_not_retried() -> None:
    policy = RetryPolicy(max_delay=10)
    assert policy.delay(1, WithHeaders(**{"retry-after": "3"})) == 3
    assert policy.delay(1, WithHeaders(**{"retry-after": "60"})) is None


@pytest.mark.parametrize(
    ("cls", "transient"),
    [
        (litellm.RateLimitError, True),
        (litellm.ServiceUnavailableError, True),
        (litellm.InternalServerError, True),
        (litellm.Timeout, True),
        (litellm.APIConnectionError, True),
        (TimeoutError, True),
        (litellm.ContextWindowExceededError, False),
        (litellm.ContentPolicyViolationError, False),
        (litellm.AuthenticationError, False),
        (litellm.BadRequestError, False),
    ],
)
def test_only_model_scoped_passing_failures_are_transient(cls: type[Exception], transient: bool) -> None:
    instance = cls.__new__(cls)
    assert is_transient(instance, ExceptionNames(get_plugin_manager())) is transient


def test_status_529_overloaded_is_transient() -> None:
    error = litellm.APIError(529, "Overloaded", "anthropic", "claude")
    assert is_transient(error, ExceptionNames(get_plugin_manager()))
