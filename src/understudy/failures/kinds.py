"""What kind of failure an error is, judged from what the provider sent, not only from litellm's class.

litellm's mapping from a provider's answer to an exception class moves between releases: 1.110 maps OpenAI's
``content_policy_violation`` 400 to a plain ``BadRequestError``, a dropped connection comes back as
``InternalServerError``, Anthropic's 529 ``overloaded_error`` as ``APIError``. A fallback table names kinds of
failure, so understudy reads the evidence itself (the HTTP status the provider returned, the error body's
``code`` / ``type`` / ``innererror``, its message, whether any response came back at all) and, when it points
to a more specific kind than the class litellm chose, raises litellm's class for that kind instead, chained to
the original. A table therefore behaves the same on every litellm release, and ``except
litellm.ContentPolicyViolationError`` works on all of them.

The rules, in order (the first that holds wins; docs/strategy.md has the table):

==========================  ================================================================================
kind                        recognised from
==========================  ================================================================================
ContentPolicyViolationError codes ``content_policy_violation``, ``content_filter``, ``ResponsibleAIPolicyViolation``;
                            a ``blockReason`` or ``SAFETY`` finish; "safety system", "content management policy"
ContextWindowExceededError  code ``context_length_exceeded``; status 413; "maximum context length", "prompt is too
                            long", "context window", "too many tokens", "input is too long"
RateLimitError              status 429, or codes ``rate_limit_exceeded`` / ``rate_limit_error``
ServiceUnavailableError     status 503 or 529, or code ``overloaded_error``
APIConnectionError          no HTTP response at all (connection refused, reset or dropped)
==========================  ================================================================================

A 200 answer that carries no content and whose every choice finished with ``content_filter`` (what Azure,
Gemini and OpenAI-compatible gateways send for a filtered answer) is a ``ContentPolicyViolationError`` too.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CALLER_ERRORS",
    "Evidence",
    "as_kind",
    "build_error",
    "classify",
    "empty_stream",
    "evidence",
    "first_token_timed_out",
    "is_bad_request",
    "is_caller_error",
    "recognise",
    "refusal",
    "refused_chunk",
]

logger = logging.getLogger("understudy")

# Failures of the request as the caller wrote it, found before anything was sent: a parameter the model does
# not take. They are not the model's failure (no stats, no health), and a chain does not walk on them unless
# the table names them.
CALLER_ERRORS: Final = frozenset({"UnsupportedParamsError"})

_CONTENT_POLICY_CODES: Final = frozenset(
    {"content_policy_violation", "content_filter", "responsibleaipolicyviolation", "content_policy", "safety"}
)
_CONTENT_POLICY_TEXT: Final = re.compile(
    r"safety system|content management policy|content[_ ]policy[_ ]violation|content filter|"
    r"blockreason|blocked (?:due to|by|for) safety|prohibited content|responsibleaipolicyviolation"
)
_CONTEXT_CODES: Final = frozenset({"context_length_exceeded", "string_above_max_length", "request_too_large"})
_CONTEXT_TEXT: Final = re.compile(
    r"maximum context length|context length exceeded|context_length_exceeded|prompt is too long|"
    r"context window|too many tokens|input is too long|exceeds the (?:model's )?(?:maximum )?context|"
    r"maximum (?:input|prompt) length|input token count .* exceeds"
)
_RATE_LIMIT_CODES: Final = frozenset({"rate_limit_exceeded", "rate_limit_error"})
_OVERLOADED_CODES: Final = frozenset({"overloaded_error", "overloaded"})
_CONNECTION_ERRORS: Final = frozenset(
    {"ConnectError", "RemoteProtocolError", "ReadError", "WriteError", "ConnectionResetError", "ConnectionRefusedError"}
)
_TIMEOUT_ERRORS: Final = frozenset({"ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout", "TimeoutError"})


@dataclass
class Evidence:
    """What a failed call tells about the provider's answer, gathered from the whole exception chain.

    Attributes:
        status: the HTTP status the provider sent (not one litellm made up), or None.
        codes: ``error.code`` / ``error.type`` / ``innererror.code`` / ``status`` values of the body, lowercased.
        text: the provider's messages and body text, lowercased.
        no_response: the call never got an HTTP response (the connection failed or was dropped).
        timed_out: the call timed out waiting.
    """

    status: int | None = None
    codes: set[str] = field(default_factory=set)
    text: str = ""
    no_response: bool = False
    timed_out: bool = False


def evidence(error: BaseException) -> Evidence:
    """Gather what the provider sent from ``error`` and the errors it was raised from."""
    found = Evidence()
    texts: list[str] = []
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        name = type(current).__name__
        if name in _CONNECTION_ERRORS:
            found.no_response = True
        if name in _TIMEOUT_ERRORS:
            found.timed_out = True
        response = getattr(current, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int) and _is_real_response(response) and found.status is None:
            found.status = status
            texts.append(_response_text(response))
        body = getattr(current, "body", None)
        if body is not None:
            texts.append(body if isinstance(body, str) else json.dumps(body, default=str))
        message = getattr(current, "message", None)
        texts.append(message if isinstance(message, str) else str(current))
        # litellm keeps the provider's error as the cause, the context, or (MidStreamFallbackError)
        # original_exception; a provider client's own error may carry the status litellm mapped away.
        linked = (current.__cause__, current.__context__, getattr(current, "original_exception", None))
        pending.extend(link for link in linked if isinstance(link, BaseException))
        own = getattr(current, "status_code", None)
        if found.status is None and isinstance(own, int) and not type(current).__module__.startswith("litellm"):
            found.status = own
    if found.status is not None:
        found.no_response = found.timed_out = False  # an answer came back: whatever failed, it was not the wire
    joined = "\n".join(texts)
    found.codes = {code.lower() for code in _codes(joined)}
    found.text = joined.lower()
    return found


def recognise(found: Evidence) -> str | None:
    """The exception name of the kind of failure the evidence shows, or None to go by litellm's class."""
    # Messages are read only for a refusal of the request (4xx, or no status): a provider may echo the prompt
    # in other errors, and a prompt that talks about a "context window" is no context-window failure.
    readable = found.status is None or 400 <= found.status < 500
    if found.codes & _CONTENT_POLICY_CODES or (readable and _CONTENT_POLICY_TEXT.search(found.text)):
        return "ContentPolicyViolationError"
    if found.codes & _CONTEXT_CODES or found.status == 413 or (readable and _CONTEXT_TEXT.search(found.text)):
        return "ContextWindowExceededError"
    if found.status == 429 or found.codes & _RATE_LIMIT_CODES:
        return "RateLimitError"
    if found.status == 402:
        # Out of credits or quota: this account at this provider, not the request. litellm 1.106+ raises
        # PaymentRequiredError (a BadRequestError) for some providers, which `BadRequestError = []` would stop;
        # on every release understudy raises an APIError, which "*" answers.
        return "APIError"
    if found.status in (503, 529) or found.codes & _OVERLOADED_CODES:
        return "ServiceUnavailableError"
    if found.no_response and not found.timed_out:
        return "APIConnectionError"
    return None


def classify(error: Exception) -> Exception:
    """``error`` as the kind of failure the provider reported.

    The same error when litellm's class already says it (or says something more specific); else an instance of
    litellm's class for that kind, with the same message, chained to ``error``. Never raises: when the class
    cannot be built, ``error`` is returned unchanged.
    """
    found = evidence(error)
    kind = recognise(found)
    if kind is None:
        return error
    return _as_kind(error, kind, found.status)


def is_caller_error(error: BaseException) -> bool:
    """True for a request litellm refused before sending it, because of what the caller passed."""
    return any(cls.__name__ in CALLER_ERRORS and cls.__module__.startswith("litellm") for cls in type(error).__mro__)


def is_bad_request(error: BaseException) -> bool:
    """True for a plain 400 from the provider: litellm's ``BadRequestError`` itself, none of its narrower
    kinds (a context window, a content policy, a parameter the model does not take)."""
    return type(error).__name__ == "BadRequestError" and type(error).__module__.startswith("litellm")


def refusal(response: Any, model: str, *, opted_in: bool = False) -> Exception | None:
    """A ``ContentPolicyViolationError`` for a 200 answer that is a refusal, else None.

    A filtered answer (choices, every one finished with ``content_filter``, none carrying content or tool
    calls) always is: there is no answer to return. With ``opted_in`` (the profile's ``refusal_is_failure``),
    so is an answer whose model refused (``message.refusal`` set) or whose filter cut it
    (``finish_reason: content_filter`` with content).
    """
    choices = getattr(response, "choices", None)
    if not choices:
        return None
    first = choices[0]
    message = getattr(first, "message", None)
    said = getattr(message, "refusal", None) or _provider_field(message, "refusal")  # litellm 1.83: the latter
    if opted_in and isinstance(said, str) and said:
        return _refused(response, model, f"the model refused: {said[:200]}")
    if opted_in and getattr(first, "finish_reason", None) == "content_filter":
        return _refused(response, model, "the provider's filter cut the answer (finish_reason content_filter)")
    for choice in choices:
        if getattr(choice, "finish_reason", None) != "content_filter":
            return None
        message = getattr(choice, "message", None)
        if getattr(message, "content", None) or getattr(message, "tool_calls", None):
            return None
    return _refused(
        response, model, "the provider answered with no content: the answer was filtered (finish_reason content_filter)"
    )


def refused_chunk(chunk: Any, model: str) -> Exception | None:
    """For a profile with ``refusal_is_failure``: the error for a stream whose first chunk is a refusal."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return None
    said = getattr(getattr(choices[0], "delta", None), "refusal", None)
    if isinstance(said, str) and said:
        return _refused(chunk, model, "the model refused (its stream starts with a refusal)")
    if getattr(choices[0], "finish_reason", None) == "content_filter":
        return _refused(chunk, model, "the provider's filter cut the answer (finish_reason content_filter)")
    return None


def _provider_field(message: Any, name: str) -> Any:
    fields = getattr(message, "provider_specific_fields", None)
    return fields.get(name) if isinstance(fields, dict) else None


def _refused(response: Any, model: str, message: str) -> Exception | None:
    import litellm.exceptions

    provider = (getattr(response, "_hidden_params", None) or {}).get("custom_llm_provider") or ""
    return build_error(
        litellm.exceptions.ContentPolicyViolationError, message=message, model=model, llm_provider=str(provider)
    )


def empty_stream(model: str) -> Exception:
    """The error for a stream that ended before its first chunk: no answer came back."""
    import litellm.exceptions

    message = "the stream ended before its first chunk: no answer came back"
    built = build_error(litellm.exceptions.APIConnectionError, message=message, model=model, llm_provider="")
    return built if built is not None else ConnectionError(message)


def first_token_timed_out(model: str, seconds: float) -> Exception:
    """The error for a stream that sent no chunk within its ``first_token_timeout``: a timeout, before any
    answer, so the call falls back."""
    import litellm.exceptions

    message = f"no chunk within the profile's first_token_timeout of {seconds:g} s"
    built = build_error(litellm.exceptions.Timeout, message=message, model=model, llm_provider="")
    return built if built is not None else TimeoutError(message)


def stream_cut(cause: Exception, model: str) -> Exception:
    """What cut a stream after its first chunk, as a litellm error: the provider's own, else a ``Timeout`` for
    a stall and an ``APIConnectionError`` for anything else (a stream that stopped short, a chunk that is not
    JSON), so that the fallbacks table and health memory see the same kinds on every litellm release."""
    import litellm.exceptions

    original = getattr(cause, "original_exception", None)
    if type(cause).__name__ == "MidStreamFallbackError" and isinstance(original, Exception):
        cause = original  # litellm 1.110+ wraps whatever cut a stream, for its Router: what the provider did
    if type(cause).__module__.partition(".")[0] == "litellm":
        return cause
    cls = litellm.exceptions.Timeout if isinstance(cause, TimeoutError) else litellm.exceptions.APIConnectionError
    built = build_error(cls, message=str(cause), model=model, llm_provider="")
    return built if built is not None else cause


def as_kind(error: Exception | None, kind: str, *, model: str, message: str) -> Exception | None:
    """An error of litellm's class named ``kind``: ``error`` as that class (chained to it), or a new one for a
    200 answer (``error`` None). None when this litellm has no exception class of that name."""
    import litellm.exceptions

    cls = getattr(litellm.exceptions, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return None
    if error is not None:
        return _as_kind(error, kind, getattr(error, "status_code", None))
    return build_error(cls, message=message, model=model, llm_provider="")


def _as_kind(error: Exception, kind: str, found_status: int | None = None) -> Exception:
    import litellm.exceptions

    cls = getattr(litellm.exceptions, kind, None)
    if not isinstance(cls, type) or isinstance(error, cls):
        return error
    payment = getattr(litellm.exceptions, "PaymentRequiredError", None)
    same_status = kind == "APIError" and getattr(error, "status_code", None) == found_status
    if same_status and (payment is None or not isinstance(error, payment)):  # already the 402: keep its class
        return error
    message = getattr(error, "message", None)
    text = message if isinstance(message, str) else str(error)
    text = re.sub(r"^(?:litellm\.\w+: )+", "", text)
    response = getattr(error, "response", None)
    built = build_error(
        cls,
        message=text,
        model=getattr(error, "model", None) or "",
        llm_provider=getattr(error, "llm_provider", None) or "",
        status_code=found_status,
        response=response if type(response).__name__ == "Response" else None,
        request=getattr(response, "request", None) if type(response).__name__ == "Response" else None,
        litellm_debug_info=getattr(error, "litellm_debug_info", None),
    )
    if built is None:
        return error
    headers = getattr(error, "litellm_response_headers", None)
    if headers is not None:
        built.litellm_response_headers = headers  # type: ignore[attr-defined]  # Retry-After survives
    built.__cause__ = error
    return built


def build_error(cls: type[Exception], **candidates: Any) -> Exception | None:
    """An instance of a litellm exception class, passing only the arguments this release's class takes."""
    try:
        accepted = _parameters(cls)
        kwargs = {name: value for name, value in candidates.items() if name in accepted and value is not None}
        return cls(**kwargs)
    except Exception as exc:  # a litellm whose constructor changed: keep litellm's own class
        logger.debug("cannot build %s (%s); the error keeps litellm's class", cls.__name__, exc)
        return None


def _parameters(cls: type[Exception]) -> Mapping[str, inspect.Parameter]:
    """What ``cls`` takes: read once per class (40 µs each time, on every failed request otherwise)."""
    accepted = _ACCEPTED.get(cls)
    if accepted is None:
        accepted = _ACCEPTED[cls] = inspect.signature(cls).parameters
    return accepted


_ACCEPTED: dict[type[Exception], Mapping[str, inspect.Parameter]] = {}  # litellm's few classes


def _is_real_response(response: Any) -> bool:
    # litellm makes up a stand-in httpx.Response (status 500, 408, empty body) where the provider sent none;
    # a real one was sent in reply to a request and has one.
    try:
        return response.request is not None and bool(response.headers)
    except Exception:
        return False


def _response_text(response: Any) -> str:
    try:
        return str(response.text)
    except Exception:
        return ""


_CODE_FIELD: Final = re.compile(
    r"[\"'](?:code|type|status|blockreason|finishreason|finish_reason)[\"']\s*:\s*[\"']([A-Za-z_]+)[\"']", re.I
)


def _codes(text: str) -> list[str]:
    return _CODE_FIELD.findall(text)
