"""Retries of one profile: which errors are transient, and how long to wait before trying again."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from understudy.errors import UnknownExceptionNameError

if TYPE_CHECKING:
    from understudy.failures.names import ExceptionNames

__all__ = [
    "TRANSIENT_ERRORS",
    "TRANSIENT_STATUS",
    "RetryPolicy",
    "is_transient",
    "is_transient_class",
    "is_transient_name",
    "retry_after",
]

# Model-scoped, passing failures: trying the same profile again may work. Request-scoped ones (context
# too long, content policy, bad request) never are: the same request fails the same way.
TRANSIENT_ERRORS: Final = (
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "BadGatewayError",
    "APIConnectionError",
    "Timeout",
    "TimeoutError",
    "ConnectionError",
)
TRANSIENT_STATUS: Final = frozenset({408, 429, 500, 502, 503, 504, 529})  # 529: Anthropic's "overloaded"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Jittered exponential backoff that honours ``Retry-After``.

    Attributes:
        initial: the first wait in seconds.
        multiplier: each further wait is this many times longer.
        max_delay: no wait is longer. A provider asking (through ``Retry-After``) for a longer wait is not
            retried at all: the call moves on to its fallbacks instead of stalling.
        jitter: draw each backoff uniformly from [0, delay] ("full jitter") so that clients that failed
            together do not retry together.
    """

    initial: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 20.0
    jitter: bool = True

    def delay(self, retry: int, error: BaseException) -> float | None:
        """Seconds to wait before retry number ``retry`` (1 is the first), or None not to retry."""
        asked = retry_after(error)
        if asked is not None:
            return asked if asked <= self.max_delay else None
        backoff = min(self.max_delay, self.initial * self.multiplier ** (retry - 1))
        return random.uniform(0, backoff) if self.jitter else backoff


def is_transient(error: BaseException, names: ExceptionNames) -> bool:
    """True when retrying the same profile may succeed (rate limit, 5xx, timeout, connection)."""
    return getattr(error, "status_code", None) in TRANSIENT_STATUS or is_transient_class(type(error), names)


def is_transient_class(error_class: type[BaseException], names: ExceptionNames) -> bool:
    """True when every error of this class is worth retrying (``is_transient`` without a status code)."""
    for name in TRANSIENT_ERRORS:
        try:
            if issubclass(error_class, names.resolve(name)):
                return True
        except (UnknownExceptionNameError, ImportError, AttributeError):
            continue
    return False


def is_transient_name(name: str, names: ExceptionNames) -> bool:
    """``is_transient_class`` for a registered exception name, without importing litellm."""
    return any(ancestor in TRANSIENT_ERRORS for ancestor in names.lineage(name))


def retry_after(error: BaseException) -> float | None:
    """The wait a provider asked for in ``retry-after-ms`` or ``Retry-After``, in seconds, if any."""
    headers = _headers(error)
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _headers(error: BaseException) -> dict[str, str]:
    # litellm keeps the provider's headers in litellm_response_headers; its exception's `response` is
    # often a stand-in with none. Other clients (openai, httpx) carry them on `response`.
    merged: dict[str, str] = {}
    response: Any = getattr(error, "response", None)
    for headers in (getattr(response, "headers", None), getattr(error, "litellm_response_headers", None)):
        if headers:
            merged.update({str(k).lower(): str(v) for k, v in dict(headers).items()})
    return merged
