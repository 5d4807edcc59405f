"""What the fake provider does with one request: small frozen dataclasses, one per behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "Behaviour",
    "ContentPolicyViolation",
    "ContextLengthExceeded",
    "DropConnection",
    "HTTPError",
    "RateLimit",
    "Reply",
    "ServerError",
    "Slow",
    "StreamFailure",
]


@dataclass(frozen=True)
class Reply:
    """A successful chat completion; streamed as SSE when the request asks for ``stream``.

    Args:
        content: The assistant message text.
        prompt_tokens: Reported in ``usage``.
        completion_tokens: Reported in ``usage``.
        tool_calls: Optional ``{"name": ..., "arguments": "<json string>"}`` items, sent as OpenAI
            tool calls with generated ids; the finish reason becomes ``"tool_calls"``.
    """

    content: str = "ok"
    prompt_tokens: int = 10
    completion_tokens: int = 5
    tool_calls: Sequence[Mapping[str, str]] | None = None


@dataclass(frozen=True)
class RateLimit:
    """HTTP 429 with OpenAI's error body.

    Args:
        retry_after: Seconds; when set, sent as ``retry-after`` (rounded up) and ``retry-after-ms``.
    """

    retry_after: float | None = None


@dataclass(frozen=True)
class ServerError:
    """An HTTP 5xx with an error body (litellm maps 500, 502, 503 and 504 to distinct classes)."""

    status: int = 500
    message: str = "The fake provider failed while processing your request."

    def __post_init__(self) -> None:
        if not 500 <= self.status <= 599:
            raise ValueError(f"ServerError status must be 5xx, got {self.status}")


@dataclass(frozen=True)
class ContextLengthExceeded:
    """OpenAI's HTTP 400 for a prompt longer than the model's context window."""

    limit: int = 128000


@dataclass(frozen=True)
class ContentPolicyViolation:
    """OpenAI's HTTP 400 for a request its safety system rejected."""


@dataclass(frozen=True)
class HTTPError:
    """Any 4xx/5xx status with an OpenAI-style error body.

    Args:
        status: The HTTP status code.
        message: ``error.message`` in the body.
        code: ``error.code`` in the body.
    """

    status: int
    message: str = "Simulated provider error."
    code: str | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"HTTPError status must be 4xx or 5xx, got {self.status}")


@dataclass(frozen=True)
class Slow:
    """Wait ``seconds`` (cut short when the provider stops), then behave as ``then``."""

    seconds: float
    then: Behaviour = field(default_factory=Reply)


@dataclass(frozen=True)
class DropConnection:
    """Close the connection without sending any response."""


@dataclass(frozen=True)
class StreamFailure:
    """Start a 200 SSE stream, send ``after_chunks`` content chunks, then drop the connection.

    The chunks together carry ``content``. A request without ``stream`` is simply dropped.
    """

    after_chunks: int = 0
    content: str = "partial answer"

    def __post_init__(self) -> None:
        if self.after_chunks < 0:
            raise ValueError(f"after_chunks must be >= 0, got {self.after_chunks}")


Behaviour: TypeAlias = (
    Reply
    | RateLimit
    | ServerError
    | ContextLengthExceeded
    | ContentPolicyViolation
    | HTTPError
    | Slow
    | DropConnection
    | StreamFailure
)
"""Anything :meth:`FakeProvider.script` and :meth:`FakeProvider.default` accept."""
