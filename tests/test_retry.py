"""Retry policy: jittered exponential backoff, Retry-After honoured and capped."""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING

import httpx
import litellm
import pytest
from conftest import call, observe

from understudy import LLMRegistry, Profile, ProfileError, RetryPolicy, RetrySettings
from understudy.calls.retry import Retries, is_transient, retry_after, retry_kind
from understudy.events import AttemptFailed
from understudy.failures.names import ExceptionNames
from understudy.plugins import get_plugin_manager
from understudy.testing import DropConnection, RateLimit, ServerError, Slow

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy.testing import Behaviour, FakeProvider

HELLO = [{"role": "user", "content": "hi"}]


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


# -- retries per kind of failure ---------------------------------------------------------------------------------


def _with_status(cls: type[Exception], status: int, **headers: str) -> Exception:
    error = cls.__new__(cls)
    error.status_code = status  # type: ignore[attr-defined]
    if headers:
        error.response = httpx.Response(status, headers=headers)  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_with_status(litellm.RateLimitError, 429), "rate_limit"),
        (_with_status(litellm.ServiceUnavailableError, 503, **{"retry-after": "2"}), "rate_limit"),
        (_with_status(litellm.InternalServerError, 500), "server_error"),
        (_with_status(litellm.ServiceUnavailableError, 503), "server_error"),
        (litellm.APIError(529, "Overloaded", "anthropic", "claude"), "server_error"),
        (_with_status(litellm.APIConnectionError, 500), "connection"),  # litellm gives it a 500
        (ConnectionResetError(), "connection"),
        (_with_status(litellm.Timeout, 408), "timeout"),
        (TimeoutError(), "timeout"),
        (litellm.APIError(504, "Gateway Timeout", "openai", "gpt-4o"), "timeout"),
        (_with_status(litellm.ContextWindowExceededError, 400), None),
        (_with_status(litellm.BadRequestError, 400), None),
    ],
)
def test_each_failure_draws_on_its_kinds_retries(error: Exception, kind: str | None) -> None:
    assert retry_kind(error, ExceptionNames(get_plugin_manager())) == kind


def test_num_retries_bounds_every_kind_together() -> None:
    names = ExceptionNames(get_plugin_manager())
    retries = Retries(Profile(name="p", model="m", num_retries=2, retries=RetrySettings(server_error=5)))
    five_xx = _with_status(litellm.InternalServerError, 500)
    assert [retries.allow(five_xx, names) for _ in range(3)] == [True, True, False]


both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


@both
@pytest.mark.parametrize(
    ("behaviour", "sent"),
    [
        (RateLimit(), 4),  # a 429: every retry, with backoff
        (ServerError(503), 2),  # a one-off 5xx: once
        (DropConnection(), 2),  # a reset: once
        (Slow(seconds=5), 1),  # a timeout: never; hop on at once
    ],
    ids=["429", "503", "reset", "timeout"],
)
def test_retries_are_spent_per_kind_by_default(
    fake_profile: WriteProfile,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    behaviour: Behaviour,
    sent: int,
    asynchronous: bool,
) -> None:
    fake_profile("main", num_retries=3, timeout=0.3, fallbacks={"*": ["backup"]}, health={"enabled": False})
    fake_profile("backup")
    fake_provider.default("main", behaviour)
    events = observe(registry)

    assert call(registry, asynchronous).choices[0].message.content == "ok"

    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (sent, 1)
    failed = [e for e in events if isinstance(e, AttemptFailed)]
    assert [e.will_retry for e in failed] == [True] * (sent - 1) + [False]


@both
def test_a_profiles_retries_table_changes_a_kinds_share(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile(
        "main",
        num_retries=3,
        timeout=0.3,
        retries={"timeout": 1, "server_error": 0, "rate_limit": 1},
        fallbacks={"*": ["backup"]},
        health={"enabled": False},
    )
    fake_profile("backup")
    for behaviour, sent in ((Slow(seconds=5), 2), (ServerError(500), 1), (RateLimit(), 2)):
        fake_provider.reset()
        fake_provider.default("main", behaviour)
        call(registry, asynchronous)
        assert fake_provider.requests("main") == sent, behaviour


def test_a_retry_the_failure_cooled_down_is_not_announced(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """Regression: the attempt that cooled its profile down said "retrying in ..." and then moved on."""
    fake_profile("main", num_retries=3, fallbacks={"*": ["backup"]}, health={"failures": 1})
    fake_profile("backup")
    fake_provider.default("main", ServerError(503))
    events = observe(registry)

    call(registry, False)

    assert fake_provider.requests("main") == 1
    assert [e.will_retry for e in events if isinstance(e, AttemptFailed)] == [False]


def test_a_misspelt_retries_entry_names_the_file_the_field_and_the_fix(
    fake_profile: WriteProfile, registry: LLMRegistry
) -> None:
    fake_profile("main", retries={"timout": 1})
    with pytest.raises(ProfileError) as caught:
        registry.get("main")
    assert caught.value.field == "retries.timout"
    assert "did you mean 'timeout'?" in str(caught.value) and "main.toml" in str(caught.value)


def test_a_retries_entry_out_of_range_says_the_range(fake_profile: WriteProfile, registry: LLMRegistry) -> None:
    fake_profile("main", retries={"server_error": 11})
    with pytest.raises(ProfileError, match="a whole number from 0 to 10"):
        registry.get("main")
