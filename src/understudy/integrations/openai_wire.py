"""What understudy's openai transport (``understudy.integrations.openai``) reads and writes on the wire.

No I/O here: an OpenAI chat-completions request becomes a profile name and ``LLM.completion`` arguments
(``parse``); a response, a stream chunk or an exception becomes what OpenAI would have sent. Every error
answer carries ``x-should-retry: false``: understudy has already retried, so the openai client must not.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx

from understudy.calls.litellm_call import PROFILE_OWNED
from understudy.calls.responses import served_by
from understudy.errors import (
    ConfigError,
    FallbackExhaustedError,
    ProfileCoolingDownError,
    ProfileNotFoundError,
    StreamInterruptedError,
)
from understudy.redaction import is_credential_key, redact, remembered_secrets

if TYPE_CHECKING:
    from collections.abc import Mapping

    from understudy.errors import Attempt

__all__ = [
    "DONE",
    "SERVED_BY_HEADER",
    "ChatRequest",
    "RequestRefused",
    "answer",
    "error_answer",
    "parse",
    "sse_chunk",
    "sse_error",
    "stream_answer",
]

logger = logging.getLogger("understudy")

SERVED_BY_HEADER: Final = "x-understudy-served-by"
"""The response header naming the profile that served the call (the primary's name, or a fallback's)."""

DONE: Final = b"data: [DONE]\n\n"

# The openai client honours this header over its own judgement (openai's `_should_retry`).
_NO_RETRY: Final = {"x-should-retry": "false"}


# Request headers that describe the HTTP exchange with this transport, or the caller's OpenAI account, rather
# than the model call: never forwarded. Credential-looking headers (Authorization ...) are never forwarded
# either: the profile holds the key. Everything else (the openai client's `extra_headers`) is.
_LOCAL_HEADERS: Final = frozenset(
    {
        "accept",
        "accept-encoding",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "expect",
        "host",
        "keep-alive",
        "openai-organization",
        "openai-project",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
    }
)

_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

# OpenAI's `error.code` for the kinds of failure SDKs look for (LangChain reads context_length_exceeded).
_CODES: Final = {
    "ContextWindowExceededError": "context_length_exceeded",
    "ContentPolicyViolationError": "content_policy_violation",
    "RateLimitError": "rate_limit_exceeded",
}


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request: the profile its ``model`` names and the arguments for that profile's LLM."""

    profile: str
    kwargs: dict[str, Any]

    @property
    def stream(self) -> bool:
        return bool(self.kwargs.get("stream"))


class RequestRefused(Exception):
    """A request the transport answers itself, with an OpenAI-style 4xx, without calling any model."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


def parse(method: str, path: str, content: bytes, headers: httpx.Headers) -> ChatRequest:
    """The profile and ``LLM.completion`` arguments of a ``POST .../chat/completions`` request.

    Raises:
        RequestRefused: another endpoint (404), a body that is not a JSON object, no ``model``, no ``messages``,
            or a field the profile owns (400).
    """
    if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
        raise RequestRefused(
            404,
            f"understudy's openai transport serves POST .../chat/completions only, not {method} {path}",
            code="unknown_url",
        )
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RequestRefused(400, "the request body is not a JSON object")
    profile = body.pop("model", None)
    if not isinstance(profile, str) or not profile:
        raise RequestRefused(400, "'model' must name an understudy profile", param="model")
    if not isinstance(body.get("messages"), list):
        raise RequestRefused(400, "'messages' must be a list of messages", param="messages")
    owned = sorted(PROFILE_OWNED & body.keys())  # `model` is gone by now: it named the profile
    if owned:
        raise RequestRefused(
            400,
            f"{', '.join(owned)} come from profile {profile!r}, not the request; edit the profile instead",
            param=owned[0],
        )
    extra_headers = body.get("extra_headers") or {}
    if not isinstance(extra_headers, dict):
        raise RequestRefused(400, "'extra_headers' must be an object", param="extra_headers")
    forwarded = {name: value for name, value in headers.items() if _forwarded(name)}
    if forwarded:
        body["extra_headers"] = {**extra_headers, **forwarded}
    return ChatRequest(profile, body)


def _forwarded(name: str) -> bool:
    name = name.lower()
    return name not in _LOCAL_HEADERS and not name.startswith("x-stainless-") and not is_credential_key(name)


# -- answers ---------------------------------------------------------------------------------------------------


def answer(response: Any) -> httpx.Response:
    """A litellm ``ModelResponse`` as an OpenAI ``chat.completion`` JSON answer."""
    return httpx.Response(
        200, content=response.model_dump_json(), headers={"content-type": "application/json", **_served(response)}
    )


def stream_answer(stream: Any, body: httpx.SyncByteStream | httpx.AsyncByteStream) -> httpx.Response:
    """The ``text/event-stream`` answer whose ``body`` sends ``stream``'s chunks as they come."""
    headers = {"content-type": "text/event-stream", "cache-control": "no-cache", **_served(stream)}
    return httpx.Response(200, headers=headers, stream=body)


def sse_chunk(chunk: Any) -> bytes:
    """One ``chat.completion.chunk`` as a server-sent event."""
    data: str = chunk.model_dump_json()
    return f"data: {data}\n\n".encode()


def sse_error(error: Exception) -> bytes:
    """The event that ends a stream which failed after its first chunk; the openai client raises ``APIError``.

    No ``[DONE]`` follows, so no client can take the partial answer for a whole one.
    """
    if isinstance(error, StreamInterruptedError):
        body = _error_body(str(error), "server_error", "stream_interrupted")
    else:
        logger.error("the openai transport's stream failed", exc_info=error)
        body = _error_body(f"the stream failed in understudy ({type(error).__name__}); see the understudy log")
    return b"event: error\ndata: " + json.dumps(body).encode() + b"\n\n"


def _served(response: Any) -> dict[str, str]:
    profile = served_by(response)
    return {SERVED_BY_HEADER: profile} if profile else {}


# -- errors ----------------------------------------------------------------------------------------------------


def error_answer(error: Exception) -> httpx.Response:
    """The OpenAI-style error answer for what a call raised: the status the provider gave, 404 for an unknown
    profile, 400 for a refused request, 500 for understudy's own failures. Never holds a secret."""
    match error:
        case RequestRefused():
            return _error(error.status, str(error), param=error.param, code=error.code)
        case ProfileNotFoundError():
            return _error(404, str(error), param="model", code="model_not_found")
        case ConfigError():
            return _error(500, f"understudy is misconfigured: {error}", code="understudy_config_error")
        case FallbackExhaustedError():
            return _exhausted(error)
    status = _status(error)
    if status is None:  # not a provider failure: a bug, whose traceback belongs in the log
        logger.error("the openai transport failed", exc_info=error)
        return _error(500, f"understudy failed ({type(error).__name__}); see the understudy log")
    return _error(status, str(error), code=_code(error))


def _exhausted(error: FallbackExhaustedError) -> httpx.Response:
    """The last model error's status, and a short message naming every profile tried (no provider text)."""
    by_profile: dict[str, list[Attempt]] = {}
    for attempt in error.attempts:
        by_profile.setdefault(attempt.profile, []).append(attempt)
    clauses = [
        f"{profile}: {_what(tries[-1])}" + (f" x{len(tries)}" if len(tries) > 1 else "")
        for profile, tries in by_profile.items()
    ]
    attempts = [
        {
            "profile": a.profile,
            "error": a.error_type,
            "status": _status(a.error) if a.loaded else None,
            "loaded": a.loaded,
        }
        for a in error.attempts
    ]
    message = f"every profile failed for {error.primary!r}: {'; '.join(clauses)}"
    return _error(_status(error.__cause__) or 502, message, code=_code(error.__cause__), attempts=attempts)


def _what(attempt: Attempt) -> str:
    if isinstance(attempt.error, ProfileCoolingDownError):
        return f"skipped, {attempt.error.reason}"  # the cooldown's cause and end: no provider text
    if not attempt.loaded:
        return f"not loaded, {attempt.error_type}"
    status = _status(attempt.error)
    return f"{attempt.error_type} ({status})" if status else attempt.error_type


def _status(error: BaseException | None) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) and 400 <= status <= 599 else None


def _code(error: BaseException | None) -> str | None:
    names = {cls.__name__ for cls in type(error).__mro__}
    return next((code for name, code in _CODES.items() if name in names), None)


def _error(
    status: int, message: str, *, param: str | None = None, code: str | None = None, **extra: Any
) -> httpx.Response:
    type_ = "server_error" if status >= 500 else _ERROR_TYPES.get(status, "invalid_request_error")
    return httpx.Response(status, json=_error_body(message, type_, code, param, **extra), headers=_NO_RETRY)


def _error_body(
    message: str, type_: str = "server_error", code: str | None = None, param: str | None = None, **extra: Any
) -> Mapping[str, Any]:
    text = redact(" ".join(message.split()), remembered_secrets())
    return {"error": {"message": text, "type": type_, "param": param, "code": code, **extra}}
