"""What the fake provider does with one request: small frozen dataclasses, one per behaviour.

Three families:

- Generic behaviours (``Reply``, ``RateLimit``, ``ServerError``, ``HTTPError``, ``ContextLengthExceeded``,
  ``StreamFailure``) render in the native format of the endpoint that received the request.
- Provider shapes (``ContentPolicyViolation``, ``AzureContentFilter``, ``Overloaded``, ``PromptTooLong``,
  ``SafetyBlock``, ``ContentFiltered``, ``QuotaExceeded``) send exactly what the named provider sends, on
  any endpoint, the way a gateway passes a provider's answer through.
- Transport behaviours (``Slow``, ``Stall``, ``DropConnection``, ``MalformedChunk``) act on the connection
  or on how an answer is sent: a provider that accepts and then says nothing (``Slow``), one that sends its
  headers or first chunks and then goes quiet (``Stall``), a stream that breaks (``StreamFailure``), one
  with a chunk that is not JSON (``MalformedChunk``), one that ends without finishing (``Unterminated``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "AzureContentFilter",
    "Behaviour",
    "ContentFiltered",
    "ContentPolicyViolation",
    "ContextLengthExceeded",
    "DropConnection",
    "HTTPError",
    "MalformedChunk",
    "Overloaded",
    "PromptTooLong",
    "QuotaExceeded",
    "RateLimit",
    "Refusal",
    "Reply",
    "SafetyBlock",
    "ServerError",
    "Slow",
    "Stall",
    "StreamFailure",
    "Unterminated",
]

AZURE_FILTER_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


@dataclass(frozen=True)
class Reply:
    """A successful answer in the endpoint's native format; streamed when the request asks for it.

    Args:
        content: The assistant message text.
        prompt_tokens: Reported as the usage's input tokens.
        completion_tokens: Reported as the usage's output tokens.
        tool_calls: Optional ``{"name": ..., "arguments": "<json string>"}`` items, sent as the
            endpoint's tool calls (OpenAI ``tool_calls`` with ``call_...`` ids, Anthropic ``tool_use``
            blocks, Gemini ``functionCall`` parts).
    """

    content: str = "ok"
    prompt_tokens: int = 10
    completion_tokens: int = 5
    tool_calls: Sequence[Mapping[str, str]] | None = None


@dataclass(frozen=True)
class RateLimit:
    """HTTP 429 with the endpoint's native error body.

    Args:
        retry_after: Seconds; when set, sent as ``retry-after`` (rounded up) and ``retry-after-ms``
            on every endpoint (and as a ``RetryInfo`` detail on Gemini's).
    """

    retry_after: float | None = None


@dataclass(frozen=True)
class ServerError:
    """An HTTP 5xx with the endpoint's native error body (litellm maps 500, 502, 503 and 504 apart)."""

    status: int = 500
    message: str = "The fake provider failed while processing your request."

    def __post_init__(self) -> None:
        if not 500 <= self.status <= 599:
            raise ValueError(f"ServerError status must be 5xx, got {self.status}")


@dataclass(frozen=True)
class ContextLengthExceeded:
    """HTTP 400 for a prompt longer than the context window, as the endpoint's provider words it.

    OpenAI and Azure: ``code: context_length_exceeded``; Anthropic: ``prompt is too long: N tokens > limit
    maximum``; Gemini: ``INVALID_ARGUMENT``, ``The input token count (N) exceeds the maximum ...``.
    """

    limit: int = 128000


@dataclass(frozen=True)
class HTTPError:
    """Any 4xx/5xx status with the endpoint's native error body.

    Args:
        status: The HTTP status code.
        message: The error message in the body.
        code: OpenAI's ``error.code``; Anthropic's ``error.type`` and Gemini's ``error.status`` when set.
    """

    status: int
    message: str = "Simulated provider error."
    code: str | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"HTTPError status must be 4xx or 5xx, got {self.status}")


@dataclass(frozen=True)
class ContentPolicyViolation:
    """OpenAI's HTTP 400 for a request its safety system rejected (``code: content_policy_violation``)."""


@dataclass(frozen=True)
class AzureContentFilter:
    """Azure OpenAI's HTTP 400 for a prompt its content filter rejected (``code: content_filter``).

    Args:
        category: The filtered category in ``innererror.content_filter_result``: ``"hate"``,
            ``"self_harm"``, ``"sexual"`` or ``"violence"``; the others are reported safe.
        severity: That category's severity: ``"low"``, ``"medium"`` or ``"high"``.
    """

    category: str = "hate"
    severity: str = "high"

    def __post_init__(self) -> None:
        if self.category not in AZURE_FILTER_CATEGORIES:
            raise ValueError(f"category must be one of {AZURE_FILTER_CATEGORIES}, got {self.category!r}")
        if self.severity not in ("low", "medium", "high"):
            raise ValueError(f"severity must be 'low', 'medium' or 'high', got {self.severity!r}")


@dataclass(frozen=True)
class Overloaded:
    """Anthropic's HTTP 529 ``overloaded_error``."""


@dataclass(frozen=True)
class PromptTooLong:
    """Anthropic's HTTP 400 ``prompt is too long: {tokens} tokens > {limit} maximum``."""

    tokens: int = 215000
    limit: int = 200000


@dataclass(frozen=True)
class SafetyBlock:
    """Gemini's HTTP 200 answer for blocked content: no text, ``SAFETY`` as the reason.

    Args:
        blocked: ``"prompt"``: ``promptFeedback.blockReason`` is ``SAFETY`` and there are no candidates.
            ``"response"``: one candidate with ``finishReason: SAFETY`` and no content.
    """

    blocked: Literal["prompt", "response"] = "prompt"

    def __post_init__(self) -> None:
        if self.blocked not in ("prompt", "response"):
            raise ValueError(f"blocked must be 'prompt' or 'response', got {self.blocked!r}")


@dataclass(frozen=True)
class ContentFiltered:
    """An HTTP 200 OpenAI-style completion whose answer a filter withheld.

    The choice has ``finish_reason: "content_filter"`` and ``content: null`` (with Azure's
    ``content_filter_results``), as Azure and OpenAI-compatible gateways send; streamed when asked.
    """


@dataclass(frozen=True)
class QuotaExceeded:
    """OpenRouter's HTTP 402 for an account out of credits: ``{"error": {"code": 402, "message": ...}}``."""

    message: str = "Insufficient credits. Add more using https://openrouter.ai/settings/credits"


@dataclass(frozen=True)
class Slow:
    """Wait ``seconds`` (cut short when the provider stops), then behave as ``then``."""

    seconds: float
    then: Behaviour = field(default_factory=Reply)


@dataclass(frozen=True)
class Stall:
    """Send the first part of ``then``'s answer, go quiet for ``seconds`` (cut short when the provider stops),
    then send the rest.

    On a stream, the first ``after_chunks`` events go out before the pause: 0 is a slow first token (the
    headers arrive at once, the first chunk late), 2 a stall mid-stream. On a plain call, the status line and
    headers go out before the pause and the body after it: a provider that answers with headers and then
    nothing. A client that gives up meanwhile is simply hung up on.
    """

    seconds: float
    after_chunks: int = 0
    then: Reply = field(default_factory=Reply)

    def __post_init__(self) -> None:
        if self.seconds < 0 or self.after_chunks < 0:
            raise ValueError(f"Stall needs seconds >= 0 and after_chunks >= 0, got {self.seconds}, {self.after_chunks}")


@dataclass(frozen=True)
class MalformedChunk:
    """``then``'s stream with an event that is not JSON after ``after_chunks`` events (the rest follows it).

    A request that does not stream gets a 200 whose body is cut-off JSON.
    """

    after_chunks: int = 1
    then: Reply = field(default_factory=Reply)

    def __post_init__(self) -> None:
        if self.after_chunks < 0:
            raise ValueError(f"after_chunks must be >= 0, got {self.after_chunks}")


@dataclass(frozen=True)
class Unterminated:
    """An OpenAI-style stream that carries ``content`` and ends its HTTP body cleanly, but without ``[DONE]``
    and, unless ``finished``, without a finish reason: an answer the provider never finished.

    With ``finished=True`` the finish reason is sent (the answer is complete; only ``[DONE]`` is missing).
    A request that does not stream gets the whole reply.
    """

    content: str = "partial answer"
    finished: bool = False


@dataclass(frozen=True)
class Refusal:
    """An HTTP 200 OpenAI-style answer whose model refused: ``message.refusal`` set, ``content`` null,
    ``finish_reason: "stop"``; streamed as ``delta.refusal`` chunks when asked."""

    refusal: str = "I'm sorry, I can't help with that."


@dataclass(frozen=True)
class DropConnection:
    """Close the connection without sending any response."""


@dataclass(frozen=True)
class StreamFailure:
    """Start a 200 stream in the endpoint's format, send ``after_chunks`` content chunks, then hang up.

    The chunks together carry ``content``. With ``tool_call`` (a tool's name), one more chunk starts a call
    to that tool, and the stream is cut inside its arguments. A request that does not stream is simply
    dropped.
    """

    after_chunks: int = 0
    content: str = "partial answer"
    tool_call: str | None = None

    def __post_init__(self) -> None:
        if self.after_chunks < 0:
            raise ValueError(f"after_chunks must be >= 0, got {self.after_chunks}")


Behaviour: TypeAlias = (
    Reply
    | RateLimit
    | ServerError
    | ContextLengthExceeded
    | HTTPError
    | ContentPolicyViolation
    | AzureContentFilter
    | Overloaded
    | PromptTooLong
    | SafetyBlock
    | ContentFiltered
    | QuotaExceeded
    | Slow
    | Stall
    | DropConnection
    | StreamFailure
    | MalformedChunk
    | Unterminated
    | Refusal
)
"""Anything :meth:`FakeProvider.script` and :meth:`FakeProvider.default` accept."""
