"""The litellm error for an OpenAI-compatible endpoint's HTTP status, as litellm's own OpenAI mapping raises it.

understudy's direct transport (``understudy.calls.direct_call``) calls OpenAI-compatible endpoints without litellm,
and must raise what litellm would have: the same class for the same status, so that a fallbacks table, the
retries and health memory see the same kinds on both paths. ``classify`` then reads the body's codes and
message as it does for litellm's errors (a 400 that says "maximum context length" becomes a
``ContextWindowExceededError`` on both). tests/test_direct.py holds this table to litellm's, status by status,
on the oldest and the newest litellm CI runs.
"""

from __future__ import annotations

from typing import Any, Final

from understudy.failures.kinds import build_error

__all__ = ["connection_error", "status_error"]

# The class litellm's OpenAI mapping raises for a status; any other 4xx or 5xx is an ``APIError`` carrying it.
_BY_STATUS: Final = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    408: "Timeout",
    422: "BadRequestError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
    504: "Timeout",
}
# What litellm's mapping names each class in its message, after the ``litellm.<Class>:`` it adds itself.
_LABEL: Final = {"BadRequestError": "", "Timeout": "Timeout Error: "}


def status_error(status: int, text: str, *, model: str, response: Any) -> Exception:
    """The litellm error for an answer with ``status`` and body ``text``, carrying the provider's ``response``
    (its headers, for ``Retry-After``, and its body, for ``classify``)."""
    import litellm.exceptions

    name = _BY_STATUS.get(status, "APIError")
    cls = getattr(litellm.exceptions, name, None) or litellm.exceptions.APIError
    label = _LABEL.get(cls.__name__, f"{cls.__name__}: ")
    message = f"{label}OpenAIException - {_message(text)}"
    error = build_error(
        cls,
        message=message,
        model=model,
        llm_provider="openai",
        status_code=status,
        response=response,
        request=getattr(response, "request", None),
        exception_status_code=status,
    )
    if error is None:  # a litellm whose constructor changed: its most general class still carries the status
        error = litellm.exceptions.APIError(status, message, "openai", model)
    error.litellm_response_headers = response.headers  # type: ignore[attr-defined]  # as litellm sets it
    if getattr(error, "response", None) is None:  # litellm 1.83's APIError keeps none: classify reads the status
        error.response = response  # type: ignore[attr-defined]
    return error


def connection_error(cause: Exception, *, model: str, timed_out: bool) -> Exception:
    """The litellm error for a request that got no answer: a ``Timeout`` when it ran out of time, else an
    ``APIConnectionError`` (what ``classify`` makes of litellm's own error for a dropped connection)."""
    import litellm.exceptions

    cls = litellm.exceptions.Timeout if timed_out else litellm.exceptions.APIConnectionError
    label = "Timeout Error: " if timed_out else "APIConnectionError: "
    built = build_error(cls, message=f"{label}OpenAIException - {cause}", model=model, llm_provider="openai")
    if built is None:
        return cause
    built.__cause__ = cause
    return built


def _message(text: str) -> str:
    """The error body's ``error.message`` where it has one (as litellm shows it), else the body itself."""
    import json

    try:
        body = json.loads(text)
    except ValueError:
        return text
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else text
