"""Retries of one profile: which errors are transient, and how long to wait before trying again."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from understudy.errors import UnknownExceptionNameError

if TYPE_CHECKING:
    from understudy.failures.names import ExceptionNames
    from understudy.profiles.profile import Profile

__all__ = [
    "TRANSIENT_ERRORS",
    "TRANSIENT_STATUS",
    "RetryKind",
    "RetryPolicy",
    "Retries",
    "is_transient",
    "is_transient_class",
    "is_transient_name",
    "retry_after",
    "retries_for_name",
    "retry_kind",
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

RetryKind = Literal["rate_limit", "server_error", "connection", "timeout"]
_TIMEOUT_ERRORS: Final = ("Timeout", "TimeoutError")  # before connection: litellm's Timeout is an APIConnectionError
_TIMEOUT_STATUS: Final = frozenset({408, 504})  # a gateway that waited out the provider's silence
_CONNECTION_ERRORS: Final = ("APIConnectionError", "ConnectionError")


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


class Retries:
    """How many more times one profile may be tried in one call: ``num_retries`` in all, and at most what its
    ``[retries]`` table allows for each kind of failure."""

    __slots__ = ("_left", "_settings", "_spent")

    def __init__(self, profile: Profile) -> None:
        self._left = profile.num_retries
        self._settings = profile.retries
        self._spent: dict[RetryKind, int] = {}

    def allow(self, error: BaseException, names: ExceptionNames) -> bool:
        """True (and counted) when ``error`` may be retried on the same profile."""
        kind = retry_kind(error, names)
        if kind is None or self._left <= 0:
            return False
        limit = getattr(self._settings, kind)
        spent = self._spent.get(kind, 0)
        if limit is not None and spent >= limit:
            return False
        self._spent[kind] = spent + 1
        self._left -= 1
        return True


def retry_kind(error: BaseException, names: ExceptionNames) -> RetryKind | None:
    """Which ``[retries]`` entry a failure draws on; None when it is never worth retrying."""
    if not is_transient(error, names):
        return None
    status = getattr(error, "status_code", None)
    error_class = type(error)
    if status == 429 or retry_after(error) is not None or _is_a(error_class, ("RateLimitError",), names):
        return "rate_limit"
    if status in _TIMEOUT_STATUS or _is_a(error_class, _TIMEOUT_ERRORS, names):
        return "timeout"
    if _is_a(error_class, _CONNECTION_ERRORS, names):  # litellm gives these a status of 500
        return "connection"
    return "server_error"


def is_transient(error: BaseException, names: ExceptionNames) -> bool:
    """True when retrying the same profile may succeed (rate limit, 5xx, timeout, connection)."""
    return getattr(error, "status_code", None) in TRANSIENT_STATUS or is_transient_class(type(error), names)


def is_transient_class(error_class: type[BaseException], names: ExceptionNames) -> bool:
    """True when every error of this class is worth retrying (``is_transient`` without a status code)."""
    return _is_a(error_class, TRANSIENT_ERRORS, names)


def _is_a(error_class: type[BaseException], wanted: tuple[str, ...], names: ExceptionNames) -> bool:
    for name in wanted:
        try:
            if issubclass(error_class, names.resolve(name)):
                return True
        except (UnknownExceptionNameError, ImportError, AttributeError):
            continue
    return False


def is_transient_name(name: str, names: ExceptionNames) -> bool:
    """``is_transient_class`` for a registered exception name, without importing litellm."""
    return any(ancestor in TRANSIENT_ERRORS for ancestor in names.lineage(name))


def retries_for_name(name: str, profile: Profile, names: ExceptionNames) -> tuple[int, RetryKind | None]:
    """How often ``profile`` retries an error of the registered class ``name`` (no status or ``Retry-After``
    known), and the ``[retries]`` entry it draws on; without importing litellm."""
    lineage = set(names.lineage(name))
    if not lineage.intersection(TRANSIENT_ERRORS):
        return 0, None
    kind: RetryKind = "server_error"
    if "RateLimitError" in lineage:
        kind = "rate_limit"
    elif lineage.intersection(_TIMEOUT_ERRORS):
        kind = "timeout"
    elif lineage.intersection(_CONNECTION_ERRORS):
        kind = "connection"
    limit = getattr(profile.retries, kind)
    return (profile.num_retries if limit is None else min(limit, profile.num_retries)), kind


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
