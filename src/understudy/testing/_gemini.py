"""Gemini's generateContent wire format (``POST /v1beta/models/{model}:generateContent``) and its shapes."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from understudy.testing._wire import JSON, Answer, EventStream, retry_headers, split, words

if TYPE_CHECKING:
    from understudy.testing._behaviours import RateLimit, Reply, SafetyBlock, StreamFailure
    from understudy.testing._wire import Request

__all__ = ["GEMINI", "safety_block"]

# google.rpc.Code names, as Google's APIs send them in error.status.
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_HARM_CATEGORIES = (
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
_BLOCKED_CATEGORY = "HARM_CATEGORY_HATE_SPEECH"


class GeminiWire:
    """``GenerateContentResponse`` objects (one per SSE event when streaming), ``{"error": {"status": ...}}``."""

    name = "gemini"

    def reply(self, reply: Reply, request: Request) -> Answer | EventStream:
        if not request.stream:
            parts: list[JSON] = [{"text": reply.content}] if reply.content or not reply.tool_calls else []
            return Answer(200, _response(request.model, parts + _call_parts(reply), reply, final=True))
        pieces: list[list[JSON]] = [[{"text": piece}] for piece in words(reply.content)]
        if reply.tool_calls:
            pieces.append(_call_parts(reply))
        pieces = pieces or [[{"text": ""}]]
        responses = [_response(request.model, parts, reply, final=False) for parts in pieces[:-1]]
        responses.append(_response(request.model, pieces[-1], reply, final=True))
        return EventStream([_event(response) for response in responses])

    def stream_failure(self, failure: StreamFailure, request: Request) -> EventStream:
        pieces = split(failure.content, failure.after_chunks)
        events = [
            _event({"candidates": [_candidate([{"text": piece}])], **_version(request.model)}) for piece in pieces
        ]
        if failure.tool_call:  # Gemini sends a call whole: the cut comes right after it
            call = {"functionCall": {"name": failure.tool_call, "args": {"city": "Paris"}}}
            events.append(_event({"candidates": [_candidate([call])], **_version(request.model)}))
        return EventStream(events, complete=False)

    def rate_limit(self, limit: RateLimit, request: Request) -> Answer:
        message = (
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
        )
        body = _error_body(429, message)
        if limit.retry_after is not None:
            retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{limit.retry_after:g}s"}
            body["error"]["details"] = [retry]
        return Answer(429, body, retry_headers(limit))

    def error(self, status: int, message: str, code: str | None) -> Answer:
        return Answer(status, _error_body(status, message, code))

    def context_length(self, limit: int) -> Answer:
        message = f"The input token count ({limit + 1000}) exceeds the maximum number of tokens allowed ({limit})."
        return Answer(400, _error_body(400, message))


GEMINI = GeminiWire()


# -- shapes sent as-is on every endpoint ----------------------------------------------------------------------


def safety_block(behaviour: SafetyBlock, request: Request) -> Answer | EventStream:
    """Gemini's 200 answer for a prompt or a response its safety filters blocked."""
    usage = {"promptTokenCount": 10, "totalTokenCount": 10}
    if behaviour.blocked == "prompt":
        feedback = {"blockReason": "SAFETY", "safetyRatings": _safety_ratings(blocked=False)}
        body: JSON = {"promptFeedback": feedback, "usageMetadata": usage, **_version(request.model)}
    else:
        candidate = {"finishReason": "SAFETY", "index": 0, "safetyRatings": _safety_ratings(blocked=True)}
        body = {"candidates": [candidate], "usageMetadata": usage, **_version(request.model)}
    return EventStream([_event(body)]) if request.stream else Answer(200, body)


# -- rendering ------------------------------------------------------------------------------------------------


def _error_body(status: int, message: str, code: str | None = None) -> JSON:
    return {"error": {"code": status, "message": message, "status": code or _STATUSES.get(status, "UNKNOWN")}}


def _safety_ratings(*, blocked: bool) -> list[JSON]:
    ratings: list[JSON] = []
    for category in _HARM_CATEGORIES:
        rating: JSON = {"category": category, "probability": "NEGLIGIBLE"}
        if category == _BLOCKED_CATEGORY:
            rating["probability"] = "HIGH"
            if blocked:
                rating["blocked"] = True
        ratings.append(rating)
    return ratings


def _call_parts(reply: Reply) -> list[JSON]:
    return [
        {"functionCall": {"name": call["name"], "args": json.loads(call.get("arguments") or "{}")}}
        for call in reply.tool_calls or ()
    ]


def _candidate(parts: list[JSON], finish_reason: str | None = None) -> JSON:
    candidate: JSON = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish_reason:
        candidate["finishReason"] = finish_reason
    return candidate


def _version(model: str) -> JSON:
    return {"modelVersion": model, "responseId": uuid.uuid4().hex[:22]}


def _response(model: str, parts: list[JSON], reply: Reply, *, final: bool) -> JSON:
    """One ``GenerateContentResponse``; the final one carries ``finishReason`` and the whole usage."""
    output = reply.completion_tokens if final else 0
    usage = {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": output,
        "totalTokenCount": reply.prompt_tokens + output,
    }
    candidate = _candidate(parts, "STOP" if final else None)
    return {"candidates": [candidate], "usageMetadata": usage, **_version(model)}


def _event(response: JSON) -> str:
    return f"data: {json.dumps(response)}\r\n\r\n"
