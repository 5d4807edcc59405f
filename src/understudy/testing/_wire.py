"""What every wire format shares: the parsed request, the responses a behaviour becomes, the bytes.

Rendering is pure: a wire format turns a behaviour and a :class:`Request` into an :class:`Answer`, an
:class:`EventStream` or a :class:`Hangup`, and the HTTP handler performs the I/O.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from understudy.testing._behaviours import RateLimit, Reply, StreamFailure

__all__ = [
    "JSON",
    "Answer",
    "EventStream",
    "Hangup",
    "Request",
    "Response",
    "WireFormat",
    "encode_answer",
    "encode_stream_head",
    "retry_headers",
    "split",
    "words",
]

JSON: TypeAlias = dict[str, Any]

# Statuses providers send that http.HTTPStatus does not know.
_REASONS = {529: "Site is overloaded"}


@dataclass(frozen=True)
class Request:
    """One request as the fake provider understood it.

    Attributes:
        wire: The wire format of the endpoint it reached.
        model: The model as the request named it: the path's (Azure deployment, Gemini model) or the body's.
        body: The decoded JSON body.
        stream: Whether the request asked for a stream.
        query: The URL's query parameters (Azure's ``api-version``).
    """

    wire: WireFormat
    model: str
    body: JSON
    stream: bool
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A complete HTTP response with a JSON body."""

    status: int
    body: JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    pause: float = 0.0  # seconds between the headers and the body
    raw: bytes | None = None  # the body's bytes as sent, when they are not ``body``'s JSON


@dataclass(frozen=True)
class EventStream:
    """A 200 server-sent-events response; each event is written on its own, as it would be generated.

    Attributes:
        events: The encoded events, each ending with a blank line.
        complete: False to hang up after the events, without the chunked terminator.
        pause: ``(n, seconds)``: go quiet for ``seconds`` after the first ``n`` events.
    """

    events: Sequence[str]
    complete: bool = True
    pause: tuple[int, float] | None = None


@dataclass(frozen=True)
class Hangup:
    """Close the connection without (any more of) a response."""


Response: TypeAlias = Answer | EventStream | Hangup


class WireFormat(Protocol):
    """How one provider's API spells answers and errors; the generic behaviours render through it."""

    name: str

    def reply(self, reply: Reply, request: Request) -> Answer | EventStream:
        """A success, streamed when the request asks for it."""
        ...

    def stream_failure(self, failure: StreamFailure, request: Request) -> EventStream:
        """A stream of ``failure.after_chunks`` content chunks that ends without its terminator."""
        ...

    def rate_limit(self, limit: RateLimit, request: Request) -> Answer:
        """HTTP 429."""
        ...

    def error(self, status: int, message: str, code: str | None) -> Answer:
        """Any 4xx/5xx; ``code`` is the provider's most specific error field, when given."""
        ...

    def context_length(self, limit: int) -> Answer:
        """HTTP 400 for a prompt over ``limit`` tokens."""
        ...


def encode_answer(answer: Answer) -> tuple[bytes, bytes]:
    """Status line and headers, and the body: written in one go unless the answer pauses between them."""
    body = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **answer.headers}
    return _head(answer.status, headers), body


def encode_stream_head() -> bytes:
    """Status line and headers of a chunked ``text/event-stream`` response."""
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Transfer-Encoding": "chunked"}
    return _head(200, headers)


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = _REASONS.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {reason}", "Server: understudy-fake-provider", f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def retry_headers(limit: RateLimit) -> dict[str, str]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``, when the behaviour sets a delay."""
    if limit.retry_after is None:
        return {}
    return {"retry-after": str(math.ceil(limit.retry_after)), "retry-after-ms": str(round(limit.retry_after * 1000))}


def words(text: str) -> list[str]:
    """Split ``text`` into words (leading whitespace attached) that join back to exactly ``text``."""
    return re.findall(r"\s*\S+|\s+$", text)


def split(text: str, count: int) -> list[str]:
    """``text`` spread over exactly ``count`` pieces (none when ``count`` is 0)."""
    bounds = [len(text) * i // count for i in range(count + 1)] if count else []
    return [text[start:end] for start, end in itertools.pairwise(bounds)]
