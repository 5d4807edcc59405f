"""Secrets never appear in anything understudy emits: text, the errors it keeps, litellm's logs."""

from __future__ import annotations

import logging
import subprocess
import sys
import traceback
from typing import TYPE_CHECKING, Any

import httpx
import litellm
import pytest

from understudy import FallbackExhaustedError
from understudy.calls.log_filter import LOGGER_NAMES, SecretFilter, install_log_filter, remove_log_filter
from understudy.calls.retry import retry_after
from understudy.redaction import REDACTED, forget_secrets, redact, remember_secrets, remembered_secrets, scrub
from understudy.testing import HTTPError, RateLimit

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import FakeProvider

# Key-shaped: the patterns catch it even when nobody said it was a secret.
KEY = "sk-live-abcdef123456"
# A profile's key that looks like nothing in particular: only remembering it can mask it.
PLAIN_KEY = "live-0f3c9a7be21d-horse"
HEADER_TOKEN = "tok-hdr-77aa11bb22cc"


@pytest.fixture(autouse=True)
def clean_slate() -> Iterator[None]:
    """No remembered secret or installed filter leaks from one test into another."""
    yield
    remove_log_filter()
    forget_secrets()


def call(provider: FakeProvider, api_key: str, **kwargs: Any) -> Any:
    return litellm.completion(
        model="openai/m",
        api_base=provider.base_url,
        api_key=api_key,
        messages=[{"role": "user", "content": "hi"}],
        num_retries=0,
        max_retries=0,
        **kwargs,
    )


def raised(provider: FakeProvider, api_key: str, **kwargs: Any) -> Exception:
    with pytest.raises(Exception) as caught:
        call(provider, api_key, **kwargs)
    return caught.value


def everything_about(error: BaseException) -> str:
    """Every rendering of the error and the errors it chains that a person or a tool might see."""
    parts = ["".join(traceback.format_exception(error))]
    pending: list[BaseException | None] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        parts.append(repr(getattr(current, "body", None)))
        response = getattr(current, "response", None)
        if isinstance(response, httpx.Response):
            parts += [response.text, repr(response.content), repr(response.headers.multi_items())]
            parts.append(repr(response.request.headers.multi_items()))
        for request in (getattr(current, "request", None), getattr(current, "_request", None)):
            if isinstance(request, httpx.Request):
                parts += [str(request.url), repr(request.headers.multi_items()), repr(request.content)]
        pending += [current.__cause__, current.__context__, *getattr(current, "exceptions", ())]
    return "\n".join(parts)


# -- redact ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Incorrect API key provided: sk-proj-abc123def456", "sk-proj-abc123def456"),
        ("header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9"),
        ("google said key=AIzaSyA-1234567890abcdefghij is invalid", "AIzaSyA-1234567890abcdefghij"),
        ("{'api_key': 'plain-value-here'}", "plain-value-here"),
        # the case-insensitive shapes in any case (each pattern runs only where its literal text appears)
        ("X-API-KEY: plain-value-here", "plain-value-here"),
        ("AUTHORIZATION=plain-value-here", "plain-value-here"),
        ("BEARER eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9"),
        ("groq gsk_abcdefghij1234 and xai-abcdef123", "gsk_abcdefghij1234"),
        ("groq gsk_abcdefghij1234 and xai-abcdef123", "xai-abcdef123"),
    ],
)
def test_key_shaped_strings_are_masked(text: str, leak: str) -> None:
    masked = redact(text)
    assert leak not in masked and "***" in masked


def test_known_secret_values_are_masked_wherever_they_appear() -> None:
    assert redact("the key hunter2-long was rejected", ["hunter2-long"]) == "the key *** was rejected"


def test_ordinary_text_is_left_alone() -> None:
    text = "Rate limit reached for gpt-4o on requests per min. Please try again in 20s."
    assert redact(text) == text


# -- scrub -----------------------------------------------------------------------------------------------


def test_scrub_removes_an_echoed_key_from_every_part_of_a_real_litellm_error(fake_provider: FakeProvider) -> None:
    """Regression: scrub cleaned str/args/message, but the kept error still held the key in its ``body``,
    its ``response`` content and the ``Authorization`` header of its request (and those of its chain)."""
    fake_provider.script("m", HTTPError(401, message=f"Incorrect API key provided: {KEY}"))
    error = raised(fake_provider, KEY)
    assert isinstance(error, litellm.AuthenticationError)
    assert KEY in everything_about(error)  # litellm 1.83 and 1.110 both keep it in several places

    text = scrub(error, [KEY])

    assert KEY not in text
    assert KEY not in everything_about(error)
    assert "Incorrect API key provided: ***" in str(error)
    assert error.status_code == 401 and error.response.status_code == 401


def test_scrub_masks_a_plain_key_and_credential_headers_it_was_told_about(fake_provider: FakeProvider) -> None:
    fake_provider.script("m", HTTPError(401, message=f"Incorrect API key provided: {PLAIN_KEY}"))
    error = raised(fake_provider, PLAIN_KEY, extra_headers={"x-api-key": HEADER_TOKEN})
    assert PLAIN_KEY in everything_about(error) and HEADER_TOKEN in everything_about(error)

    scrub(error, [PLAIN_KEY])  # HEADER_TOKEN was never named: its header's name gives it away

    rendered = everything_about(error)
    assert PLAIN_KEY not in rendered and HEADER_TOKEN not in rendered
    requests = [e.request for e in _chain(error) if isinstance(getattr(e, "request", None), httpx.Request)]
    assert any(r.headers.get("x-api-key") == REDACTED for r in requests)


def test_the_errors_a_fallback_exhausted_error_keeps_hold_no_key(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """Regression: ``FallbackExhaustedError`` kept each provider error with the echoed key in its body and
    response, and the profile's key in the ``Authorization`` header of its request."""
    fake_profile("primary", "m", api_key=PLAIN_KEY, fallbacks={"*": ["backup"]})
    fake_profile("backup", "b", api_key=KEY)
    fake_provider.default("m", HTTPError(401, message=f"Incorrect API key provided: {PLAIN_KEY}"))
    fake_provider.default("b", HTTPError(401, message=f"Incorrect API key provided: {KEY}"))

    with pytest.raises(FallbackExhaustedError) as caught:
        registry.get("primary").completion(messages=[{"role": "user", "content": "hi"}])

    rendered = everything_about(caught.value)
    assert len(caught.value.attempts) == 2 and "Incorrect API key provided: ***" in rendered
    assert PLAIN_KEY not in rendered and KEY not in rendered


def test_scrub_keeps_what_the_retry_policy_reads(fake_provider: FakeProvider) -> None:
    fake_provider.script("m", RateLimit(retry_after=3))
    error = raised(fake_provider, KEY)
    scrub(error, [KEY])
    assert retry_after(error) == 3
    assert KEY not in everything_about(error)


def test_scrub_uses_the_remembered_secrets_too(fake_provider: FakeProvider) -> None:
    fake_provider.script("m", HTTPError(401, message=f"Incorrect API key provided: {PLAIN_KEY}"))
    error = raised(fake_provider, PLAIN_KEY)
    remember_secrets([PLAIN_KEY])
    assert PLAIN_KEY not in scrub(error)
    assert PLAIN_KEY not in everything_about(error)


def test_scrub_replaces_an_httpx_response_with_a_clean_copy() -> None:
    request = httpx.Request("POST", "https://api.example.com/v1", headers={"Authorization": f"Bearer {PLAIN_KEY}"})
    response = httpx.Response(401, json={"error": f"bad key {PLAIN_KEY}"}, request=request, headers={"x-a": "1"})
    error = RuntimeError("provider said no")
    error.response = response  # type: ignore[attr-defined]
    error.body = {"message": f"bad key {PLAIN_KEY}", "api_key": "whatever-it-was"}  # type: ignore[attr-defined]

    scrub(error, [PLAIN_KEY])

    clean = error.response  # type: ignore[attr-defined]
    assert clean is not response
    assert clean.status_code == 401 and clean.headers["x-a"] == "1"
    assert clean.json() == {"error": "bad key ***"}
    assert clean.request.headers["authorization"] == REDACTED
    assert error.body == {"message": "bad key ***", "api_key": REDACTED}  # type: ignore[attr-defined]


def test_scrub_leaves_an_error_without_secrets_untouched() -> None:
    response = httpx.Response(503, text="overloaded", request=httpx.Request("POST", "https://x.test/v1"))
    error = ValueError("the provider is overloaded")
    error.response = response  # type: ignore[attr-defined]
    assert scrub(error, [PLAIN_KEY]) == "the provider is overloaded"
    assert error.response is response  # type: ignore[attr-defined]


def test_scrub_cleans_every_error_of_a_group_and_never_raises() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    inner = ValueError(f"key {PLAIN_KEY}")
    group = ExceptionGroup("all failed", [inner, Unprintable()])
    assert scrub(group, [PLAIN_KEY]) == "all failed (2 sub-exceptions)"
    assert PLAIN_KEY not in str(inner)
    assert scrub(Unprintable(), [PLAIN_KEY]) == "Unprintable"


# -- remember_secrets ------------------------------------------------------------------------------------


def test_remembered_secrets_are_unique_longest_first_and_skip_short_values() -> None:
    remember_secrets(["abcd-efgh", None, "abc", "abcd-efgh-ijkl"])  # type: ignore[list-item]
    remember_secrets(["abcd-efgh"])
    assert remembered_secrets() == ("abcd-efgh-ijkl", "abcd-efgh")


def test_remembered_secrets_are_bounded() -> None:
    remember_secrets(f"secret-{i:05}" for i in range(1500))
    kept = remembered_secrets()
    assert len(kept) == 1024 and "secret-01499" in kept and "secret-00000" not in kept


# -- the log filter --------------------------------------------------------------------------------------


def test_secret_filter_redacts_message_args_traceback_and_extras() -> None:
    remember_secrets([PLAIN_KEY])
    try:
        raise ValueError(f"rejected {PLAIN_KEY}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("LiteLLM", logging.DEBUG, __file__, 1, "call with %s and %r", (PLAIN_KEY, KEY), exc_info)
    record.headers = f"Authorization: Bearer {HEADER_TOKEN}"

    assert SecretFilter().filter(record) is True

    rendered = logging.Formatter("%(message)s %(headers)s").format(record)
    assert PLAIN_KEY not in rendered and KEY not in rendered and HEADER_TOKEN not in rendered
    assert record.getMessage() == "call with *** and '***'"


def test_install_log_filter_is_idempotent_and_covers_litellm_loggers_and_handlers() -> None:
    install_log_filter()
    install_log_filter()
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        assert sum(isinstance(f, SecretFilter) for f in logger.filters) == 1
        for handler in logger.handlers:
            assert sum(isinstance(f, SecretFilter) for f in handler.filters) == 1
    assert logging.getLogger("LiteLLM").handlers, "litellm attaches its stream handler at import"


def test_a_child_logger_created_after_install_is_cleaned_by_the_handler_filter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    remember_secrets([PLAIN_KEY])
    install_log_filter()
    child = logging.getLogger("LiteLLM.understudy-test-child")  # no filter of its own
    with caplog.at_level(logging.WARNING, logger=child.name):
        child.warning("key %s", PLAIN_KEY)
    assert PLAIN_KEY not in caplog.text and "key ***" in caplog.text


@pytest.fixture
def litellm_debug() -> Iterator[None]:
    """litellm's debug logging on (as ``litellm._turn_on_debug()`` does), restored after the test."""
    loggers = [logging.getLogger(name) for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")]
    levels = [logger.level for logger in loggers]
    litellm._turn_on_debug()
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def test_litellm_debug_logs_never_show_a_key_once_the_filter_is_installed(
    fake_provider: FakeProvider,
    litellm_debug: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Regression: with litellm's debug logging on, the key a provider echoed reached the log records and
    litellm's own stream handler (litellm masks only some key shapes itself, and a plain key none)."""
    fake_provider.default("m", HTTPError(401, message=f"Incorrect API key provided: {PLAIN_KEY} {KEY}"))
    credentials = {"extra_headers": {"Authorization": f"Bearer {HEADER_TOKEN}"}}

    raised(fake_provider, PLAIN_KEY, **credentials)
    captured = capfd.readouterr()
    before = caplog.text + captured.out + captured.err
    assert "LiteLLM" in before  # debug logging is on
    assert PLAIN_KEY in before  # what the filter is for

    caplog.clear()
    remember_secrets([PLAIN_KEY, HEADER_TOKEN])
    install_log_filter()
    raised(fake_provider, PLAIN_KEY, **credentials)
    captured = capfd.readouterr()
    after = caplog.text + captured.out + captured.err

    assert "Incorrect API key provided: ***" in after
    for secret in (PLAIN_KEY, KEY, HEADER_TOKEN):
        assert secret not in after


def test_importing_redaction_does_not_import_litellm_or_httpx() -> None:
    code = "import sys, understudy.redaction; print(sorted({'litellm', 'httpx'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert result.stdout.strip() == "[]"


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
