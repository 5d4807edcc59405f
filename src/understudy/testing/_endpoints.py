"""Which paths the fake provider serves, in which wire format, and how a behaviour is answered there.

=========================================================  ==========  ======================
path                                                       format      model key
=========================================================  ==========  ======================
``/v1/chat/completions``, ``/chat/completions``            openai      the body's ``model``
``/openai/deployments/{deployment}/chat/completions``      azure       the deployment
``/v1/messages``                                           anthropic   the body's ``model``
``/v1beta/models/{model}:generateContent`` (and ``v1``)    gemini      the path's model
``/v1beta/models/{model}:streamGenerateContent``           gemini      the path's model
=========================================================  ==========  ======================
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from understudy.testing import _anthropic, _gemini, _openai
from understudy.testing._behaviours import (
    AzureContentFilter,
    ContentFiltered,
    ContentPolicyViolation,
    ContextLengthExceeded,
    DropConnection,
    HTTPError,
    MalformedChunk,
    Overloaded,
    PromptTooLong,
    QuotaExceeded,
    RateLimit,
    Refusal,
    Reply,
    SafetyBlock,
    ServerError,
    Slow,
    Stall,
    StreamFailure,
    Unterminated,
)
from understudy.testing._wire import Answer, EventStream, Hangup, Request

if TYPE_CHECKING:
    from understudy.testing._behaviours import Behaviour
    from understudy.testing._wire import JSON, Response, WireFormat

__all__ = ["Route", "not_found", "respond", "route"]

_OPENAI_PATH = re.compile(r"/(?:v1/)?chat/completions")
_AZURE_PATH = re.compile(r"/openai/deployments/(?P<model>[^/]+)/chat/completions")
_ANTHROPIC_PATH = re.compile(r"/v1/messages")
_GEMINI_PATH = re.compile(r"/v1(?:beta)?/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)")


@dataclass(frozen=True)
class Route:
    """A served path: its wire format, and what the path itself says about the request."""

    wire: WireFormat
    path_model: str | None = None
    streaming_path: bool = False
    query: tuple[tuple[str, str], ...] = ()

    def request(self, body: JSON) -> Request:
        """The request ``body`` makes on this route."""
        model = self.path_model if self.path_model is not None else str(body.get("model", ""))
        stream = self.streaming_path or bool(body.get("stream"))
        return Request(self.wire, model, body, stream, dict(self.query))


def route(target: str) -> Route | None:
    """The route for a request target (path and query), or None when the fake does not serve it."""
    parts = urlsplit(target)
    path, query = parts.path, tuple(parse_qsl(parts.query))
    if _OPENAI_PATH.fullmatch(path):
        return Route(_openai.OPENAI, query=query)
    if found := _AZURE_PATH.fullmatch(path):
        return Route(_openai.AZURE, unquote(found["model"]), query=query)
    if _ANTHROPIC_PATH.fullmatch(path):
        return Route(_anthropic.ANTHROPIC, query=query)
    if found := _GEMINI_PATH.fullmatch(path):
        return Route(_gemini.GEMINI, unquote(found["model"]), found["method"] == "streamGenerateContent", query)
    return None


def not_found(target: str) -> Answer:
    """The 404 for an unserved path, saying which ``api_base`` each litellm provider needs."""
    message = (
        f"Unknown path {target}. The fake provider serves openai/ models at api_base=provider.base_url, "
        "azure/ at provider.azure_base_url, anthropic/ at provider.anthropic_base_url and gemini/ at "
        "provider.gemini_base_url."
    )
    return _openai.OPENAI.error(404, message, None)


def respond(behaviour: Behaviour, request: Request) -> Response:
    """What ``behaviour`` sends in answer to ``request`` (``Slow`` is the caller's to wait out)."""
    wire = request.wire
    match behaviour:
        case Reply():
            return wire.reply(behaviour, request)
        case RateLimit():
            return wire.rate_limit(behaviour, request)
        case ServerError(status=status, message=message):
            return wire.error(status, message, None)
        case HTTPError(status=status, message=message, code=code):
            return wire.error(status, message, code)
        case ContextLengthExceeded(limit=limit):
            return wire.context_length(limit)
        case ContentPolicyViolation():
            return _openai.content_policy_violation()
        case AzureContentFilter():
            return _openai.azure_content_filter(behaviour)
        case ContentFiltered():
            return _openai.content_filtered(request)
        case QuotaExceeded():
            return _openai.quota_exceeded(behaviour)
        case Overloaded():
            return _anthropic.overloaded()
        case PromptTooLong():
            return _anthropic.prompt_too_long(behaviour)
        case SafetyBlock():
            return _gemini.safety_block(behaviour, request)
        case StreamFailure() if request.stream:
            return wire.stream_failure(behaviour, request)
        case StreamFailure() | DropConnection():
            return Hangup()
        case Stall(seconds=seconds, after_chunks=after, then=then):
            answer = wire.reply(then, request)
            if isinstance(answer, EventStream):
                return dataclasses.replace(answer, pause=(after, seconds))
            return dataclasses.replace(answer, pause=seconds)
        case MalformedChunk(after_chunks=after, then=then):
            return _malformed(wire.reply(then, request), after)
        case Unterminated():
            return _openai.unterminated(behaviour, request)
        case Refusal():
            return _openai.refusal(behaviour, request)
        case Slow():
            raise TypeError("Slow is waited out by the HTTP handler before respond() is called")


def _malformed(answer: Answer | EventStream, after: int) -> Answer | EventStream:
    """``answer`` with an event that is not JSON after ``after`` events, or a body of cut-off JSON."""
    if isinstance(answer, EventStream):
        events = list(answer.events)
        events.insert(min(after, len(events)), 'data: {"choices": [{"delta": {"content": "cut\n\n')
        return dataclasses.replace(answer, events=events)
    body = json.dumps(answer.body).encode()
    return dataclasses.replace(answer, raw=body[: len(body) // 2])
