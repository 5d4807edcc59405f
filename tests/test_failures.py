"""Failure classification: a table's names mean kinds of failure, judged from what the provider sent, so that a
profile behaves the same on every litellm release we support."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import litellm
import pytest
from conftest import fresh_interpreter, fresh_result

from understudy import FallbackExhaustedError, LLMRegistry, served_by
from understudy.events import AttemptFailed, Event, FallbackTriggered, ProfileSkipped
from understudy.failures.kinds import Evidence, recognise
from understudy.testing import (
    AzureContentFilter,
    ContentFiltered,
    ContentPolicyViolation,
    ContextLengthExceeded,
    DropConnection,
    HTTPError,
    Overloaded,
    PromptTooLong,
    QuotaExceeded,
    RateLimit,
    Reply,
    SafetyBlock,
    ServerError,
    Slow,
)

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.testing import FakeProvider

HELLO = [{"role": "user", "content": "hello"}]
# README's own example table: a malformed request stops, its two request-scoped subclasses have their lists.
README_TABLE = {
    "RateLimitError": ["limits"],
    "ContextWindowExceededError": ["bigger"],
    "ContentPolicyViolationError": ["lenient"],
    "BadRequestError": [],
    "*": ["anything"],
}


@pytest.fixture
def readme_profiles(fake_profile: WriteProfile) -> None:
    fake_profile("main", fallbacks=README_TABLE)
    for name in ("limits", "bigger", "lenient", "anything"):
        fake_profile(name)


@pytest.mark.usefixtures("readme_profiles")
@pytest.mark.parametrize(
    ("behaviour", "kind", "served"),
    [
        (ContentPolicyViolation(), "ContentPolicyViolationError", "lenient"),
        (ContextLengthExceeded(), "ContextWindowExceededError", "bigger"),
        (RateLimit(), "RateLimitError", "limits"),
        (ServerError(529, "Overloaded"), "ServiceUnavailableError", "anything"),
        (DropConnection(), "APIConnectionError", "anything"),
        (HTTPError(402, "Insufficient credits. Add more credits to continue."), "APIError", "anything"),
        (HTTPError(400, "Invalid value for 'temperature'.", code="invalid_value"), "BadRequestError", None),
    ],
    ids=["content-policy", "context-window", "rate-limit", "overloaded-529", "dropped", "402-quota", "bad-request"],
)
def test_each_openai_shape_walks_the_list_of_its_kind_on_this_litellm(
    registry: LLMRegistry, fake_provider: FakeProvider, behaviour: object, kind: str, served: str | None
) -> None:
    """litellm 1.110 maps OpenAI's content_policy_violation 400 to a plain BadRequestError; with README's table
    (BadRequestError = []) the call raised instead of falling back to the content-policy list."""
    fake_provider.script("main", behaviour)  # type: ignore[arg-type]
    events: list[Event] = []
    registry.subscribe(events.append)
    if served is None:
        with pytest.raises(litellm.BadRequestError) as caught:
            registry.get("main").completion(messages=HELLO)
        assert type(caught.value).__name__ == kind
        return
    response = registry.get("main").completion(messages=HELLO)
    assert served_by(response) == served
    failed = next(e for e in events if isinstance(e, AttemptFailed))
    assert failed.error_type == kind
    assert registry.stats()["main"].failures_by_type == {kind: 1}


def test_a_reclassified_error_is_litellms_class_for_the_kind_chained_to_litellms_own(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main")
    fake_provider.script("main", ContentPolicyViolation())
    with pytest.raises(litellm.ContentPolicyViolationError) as caught:
        registry.get("main").completion(messages=HELLO)
    assert isinstance(caught.value, litellm.BadRequestError)  # what litellm raised still catches it
    assert isinstance(caught.value.__cause__, litellm.BadRequestError)
    assert "safety system" in str(caught.value)


def test_an_overloaded_provider_is_retried_like_an_outage(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=1)
    fake_provider.script("main", ServerError(529, "Overloaded"), Reply("after the retry"))
    assert registry.get("main").completion(messages=HELLO).choices[0].message.content == "after the retry"
    assert fake_provider.requests("main") == 2


def test_a_rate_limit_keeps_its_retry_after_through_reclassification(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=1)
    fake_provider.script("main", HTTPError(429, "slow down", code="rate_limit_exceeded"), Reply("ok"))
    events: list[Event] = []
    registry.subscribe(events.append)
    registry.get("main").completion(messages=HELLO)
    failed = next(e for e in events if isinstance(e, AttemptFailed))
    assert (failed.error_type, failed.will_retry) == ("RateLimitError", True)


def test_a_timeout_stays_a_timeout(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", timeout=0.2)
    fake_provider.script("main", Slow(5))
    with pytest.raises(litellm.Timeout):
        registry.get("main").completion(messages=HELLO)


@pytest.mark.parametrize(
    ("found", "kind"),
    [
        (Evidence(status=400, codes={"content_filter"}), "ContentPolicyViolationError"),
        (Evidence(status=400, codes={"responsibleaipolicyviolation"}), "ContentPolicyViolationError"),
        (Evidence(status=200, codes={"safety"}), "ContentPolicyViolationError"),
        (Evidence(status=400, text="prompt is too long: 215000 tokens > 200000 maximum"), "ContextWindowExceededError"),
        (Evidence(status=413), "ContextWindowExceededError"),
        (Evidence(status=529, codes={"overloaded_error"}), "ServiceUnavailableError"),
        (Evidence(no_response=True), "APIConnectionError"),
        (Evidence(no_response=True, timed_out=True), None),
        (Evidence(status=500, text="your prompt mentioned the context window"), None),
        (Evidence(status=404, codes={"model_not_found"}), None),
    ],
)
def test_the_rules(found: Evidence, kind: str | None) -> None:
    assert recognise(found) == kind


# -- a parameter the model does not take is the caller's error ------------------------------------------------------


def anthropic_profile(write_profile: WriteProfile, fake_provider: FakeProvider, name: str, **fields: object) -> None:
    write_profile(
        name,
        model="anthropic/claude-3-5-sonnet-20240620",
        api_base=fake_provider.base_url,
        api_key="sk-ant-test-0000",
        **fields,
    )


def test_an_unsupported_parameter_on_the_primary_raises_without_walking_the_wildcard(
    write_profile: WriteProfile, fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """An UnsupportedParamsError counted as the primary's failure and walked "*" on every call."""
    anthropic_profile(write_profile, fake_provider, "main", fallbacks={"*": ["other"]})
    fake_profile("other")
    with pytest.raises(litellm.UnsupportedParamsError) as caught:
        registry.get("main").completion(messages=HELLO, logit_bias={"1": 1})
    assert any("drop_params" in note for note in caught.value.__notes__)
    assert fake_provider.requests("other") == 0
    assert "main" not in registry.stats()  # no model was called: nothing to blame it for


def test_a_fallback_that_cannot_take_the_request_is_passed_over(
    write_profile: WriteProfile, fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["claude", "other"]})
    anthropic_profile(write_profile, fake_provider, "claude")
    fake_profile("other")
    fake_provider.script("main", RateLimit())
    events: list[Event] = []
    registry.subscribe(events.append)

    response = registry.get("main").completion(messages=HELLO, logit_bias={"1": 1})

    assert served_by(response) == "other"
    skipped = [e for e in events if isinstance(e, ProfileSkipped)]
    assert [(e.profile, e.error_type) for e in skipped] == [("claude", "UnsupportedParamsError")]
    assert [e.to_profile for e in events if isinstance(e, FallbackTriggered)] == ["claude", "other"]
    assert "claude" not in registry.stats()


def test_naming_unsupported_params_in_the_table_walks_its_list(
    write_profile: WriteProfile, fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    anthropic_profile(write_profile, fake_provider, "main", fallbacks={"UnsupportedParamsError": ["other"]})
    fake_profile("other")
    assert served_by(registry.get("main").completion(messages=HELLO, logit_bias={"1": 1})) == "other"


def test_when_every_fallback_cannot_take_the_request_the_exhausted_error_says_so(
    write_profile: WriteProfile, fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["claude"]})
    anthropic_profile(write_profile, fake_provider, "claude")
    fake_provider.script("main", ServerError(503))
    with pytest.raises(FallbackExhaustedError) as caught:
        registry.get("main").completion(messages=HELLO, logit_bias={"1": 1})
    assert [(a.profile, a.error_type, a.loaded) for a in caught.value.attempts] == [
        ("main", "ServiceUnavailableError", True),
        ("claude", "UnsupportedParamsError", False),
    ]


# -- cancelled calls and the first import ---------------------------------------------------------------------------


async def test_a_cancelled_call_is_counted(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """Cancelled calls vanished from the stats though the provider saw the request."""
    fake_profile("main")
    fake_provider.script("main", Slow(5))
    task = asyncio.ensure_future(registry.get("main").acompletion(messages=HELLO))
    while fake_provider.requests("main") == 0:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = registry.stats()["main"]
    assert (stats.calls, stats.cancelled, stats.failures, stats.successes) == (1, 1, 0, 0)
    assert stats.total_latency > 0

    assert fake_provider.answering(within=5) == 0  # and its connection was closed, not left to the provider


def test_a_sync_call_its_caller_gives_up_on_stops_at_once_and_is_counted_cancelled(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """A blocked thread cannot be cancelled from outside; its own signal handler (Ctrl-C) can give up."""
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", Slow(30))

    def give_up(signum: int, frame: object) -> None:
        if fake_provider.requests("main"):
            raise KeyboardInterrupt
        signal.setitimer(signal.ITIMER_REAL, 0.01)  # not sent yet: look again

    previous = signal.signal(signal.SIGALRM, give_up)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        with pytest.raises(KeyboardInterrupt):
            registry.get("main").completion(messages=HELLO)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    stats = registry.stats()["main"]
    assert (stats.calls, stats.cancelled, stats.failures, stats.successes) == (1, 1, 0, 0)
    assert fake_provider.requests("backup") == 0  # giving up is not a failure to fall back from
    assert "main" not in registry.health()
    assert fake_provider.answering(within=5) == 0


FIRST_IMPORT = """
import json, pathlib, sys, time
from understudy import LLMRegistry, ProfileStore
from understudy.testing import FakeProvider, ServerError
assert "litellm" not in sys.modules
directory = pathlib.Path(sys.argv[1])
with FakeProvider() as fake:
    for name, rest in (("main", '[fallbacks]\\n"*" = ["backup"]\\n'), ("backup", "")):
        text = f'model = "openai/{name}"\\napi_base = "{fake.base_url}"\\napi_key = "sk-test-key-0000"\\n{rest}'
        (directory / f"{name}.toml").write_text(text)
    fake.script("main", ServerError(500))
    registry = LLMRegistry(ProfileStore([directory]))
    events = []
    registry.subscribe(events.append)
    started = time.perf_counter()
    registry.get("main").completion(messages=[{"role": "user", "content": "hi"}])
    wall = time.perf_counter() - started
stats = registry.stats()
print(json.dumps({
    "event": sum(e.latency for e in events if e.kind == "attempt_failed"),
    "stats": stats["main"].total_latency,
    "served": [e.latency for e in events if e.kind == "fallback_succeeded"][0],
    "total": stats["main"].total_latency + stats["backup"].total_latency,
    "wall": wall,
}))
"""


@fresh_interpreter("test_failures.py::first_import")
def _first_import(directory: Path) -> tuple[list[str], dict[str, str], Path | None]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "UNDERSTUDY_DISABLE_PLUGINS": "*"}
    return [sys.executable, "-c", FIRST_IMPORT, str(directory)], env, None


def test_litellms_first_import_is_not_charged_to_an_attempt() -> None:
    """The first call of a process charged litellm's import (seconds) to the first attempt's latency."""
    out = fresh_result("test_failures.py::first_import")
    assert out.returncode == 0, out.stderr
    numbers = json.loads(out.stdout.strip().splitlines()[-1])
    # The import is most of the call's wall time; charged to an attempt, it would be most of the gap between what
    # the event and the stats say. Relative to the wall time, so a loaded machine does not make it flaky.
    assert abs(numbers["event"] - numbers["stats"]) < 0.2 * numbers["wall"], numbers
    assert numbers["served"] - numbers["total"] < 0.2 * numbers["wall"], numbers


# -- the shapes real providers send, through their own litellm provider ----------------------------------------------

PROVIDER_PROFILES = {
    # name: (model, which base URL of the fake provider, extra fields)
    "openai": ("openai/test-model", "base_url", {}),
    "azure": ("azure/test-model", "azure_base_url", {"api_version": "2025-02-01-preview"}),
    "anthropic": ("anthropic/test-model", "anthropic_base_url", {}),
    "gemini": ("gemini/test-model", "gemini_base_url", {}),
}


@pytest.fixture
def provider_profile(write_profile: WriteProfile, fake_profile: WriteProfile, fake_provider: FakeProvider) -> Any:
    """Write profile ``main`` on the given provider with README's table, and its fallbacks on OpenAI."""

    def write(provider: str) -> None:
        model, base, extra = PROVIDER_PROFILES[provider]
        write_profile(
            "main",
            model=model,
            api_base=getattr(fake_provider, base),
            api_key="sk-test-key-0000",
            fallbacks=README_TABLE,
            **extra,
        )
        for name in ("limits", "bigger", "lenient", "anything"):
            fake_profile(name)

    return write


SHAPES = [
    ("openai", ContentPolicyViolation(), "ContentPolicyViolationError", "lenient"),
    ("openai", ContextLengthExceeded(), "ContextWindowExceededError", "bigger"),
    ("openai", ContentFiltered(), "ContentPolicyViolationError", "lenient"),
    ("openai", QuotaExceeded(), "APIError", "anything"),
    ("azure", AzureContentFilter(), "ContentPolicyViolationError", "lenient"),
    ("azure", ContentFiltered(), "ContentPolicyViolationError", "lenient"),
    ("azure", ContextLengthExceeded(), "ContextWindowExceededError", "bigger"),
    ("anthropic", Overloaded(), "ServiceUnavailableError", "anything"),
    ("anthropic", PromptTooLong(), "ContextWindowExceededError", "bigger"),
    ("anthropic", RateLimit(), "RateLimitError", "limits"),
    ("anthropic", QuotaExceeded(), "APIError", "anything"),
    ("gemini", SafetyBlock(), "ContentPolicyViolationError", "lenient"),
    ("gemini", SafetyBlock(blocked="response"), "ContentPolicyViolationError", "lenient"),
    ("gemini", PromptTooLong(), "ContextWindowExceededError", "bigger"),
    ("gemini", QuotaExceeded(), "APIError", "anything"),
]


@pytest.mark.parametrize(
    ("provider", "behaviour", "kind", "served"),
    SHAPES,
    ids=[f"{provider}-{type(behaviour).__name__}" for provider, behaviour, _, _ in SHAPES],
)
def test_each_providers_shape_is_recognised_whatever_class_litellm_chose(
    provider_profile: Any,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    provider: str,
    behaviour: object,
    kind: str,
    served: str,
) -> None:
    """The same table walks the same list for the same failure on every provider and litellm release."""
    provider_profile(provider)
    fake_provider.script("test-model", behaviour)  # type: ignore[arg-type]
    events: list[Event] = []
    registry.subscribe(events.append)

    response = registry.get("main").completion(messages=HELLO)

    assert served_by(response) == served
    assert [e.error_type for e in events if isinstance(e, AttemptFailed)] == [kind]


def test_a_gemini_stream_refused_before_its_first_chunk_is_recognised(
    provider_profile: Any, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """litellm raises MidStreamFallbackError on a Gemini stream's first read; the provider said 429."""
    provider_profile("gemini")
    fake_provider.script("test-model", RateLimit())
    events: list[Event] = []
    registry.subscribe(events.append)
    stream = registry.get("main").completion(messages=HELLO, stream=True)
    assert served_by(stream) == "limits"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "ok"
    assert [e.error_type for e in events if isinstance(e, AttemptFailed)] == ["RateLimitError"]
