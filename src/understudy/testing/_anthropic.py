"""Anthropic's Messages wire format (``POST /v1/messages``) and Anthropic's own error shapes."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from understudy.testing._wire import JSON, Answer, EventStream, retry_headers, split, words

if TYPE_CHECKING:
    from understudy.testing._behaviours import PromptTooLong, RateLimit, Reply, StreamFailure
    from understudy.testing._wire import Request

__all__ = ["ANTHROPIC", "overloaded", "prompt_too_long"]

# https://platform.claude.com/docs/en/api/errors; any other 5xx is an api_error, any other 4xx invalid.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class AnthropicWire:
    """Messages with content blocks, ``message_start`` ... ``message_stop`` streams, ``{"type": "error"}``."""

    name = "anthropic"

    def reply(self, reply: Reply, request: Request) -> Answer | EventStream:
        if request.stream:
            return EventStream(_reply_events(reply, request.model))
        blocks: list[JSON] = [{"type": "text", "text": reply.content}] if reply.content or not reply.tool_calls else []
        blocks += _tool_blocks(reply)
        message = _message(request.model, reply.prompt_tokens, reply.completion_tokens)
        message.update(content=blocks, stop_reason=_stop_reason(reply))
        return Answer(200, message)

    def stream_failure(self, failure: StreamFailure, request: Request) -> EventStream:
        pieces = split(failure.content, failure.after_chunks)
        if not pieces and not failure.tool_call:
            return EventStream([], complete=False)
        events = [
            _event("message_start", {"message": _message(request.model, 10, 1)}),
            _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            *[_text_delta(piece) for piece in pieces],
        ]
        if failure.tool_call:
            block = {"type": "tool_use", "id": "toolu_cut", "name": failure.tool_call, "input": {}}
            events += [
                _event("content_block_stop", {"index": 0}),
                _event("content_block_start", {"index": 1, "content_block": block}),
                _event(
                    "content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}}
                ),
            ]
        return EventStream(events, complete=False)

    def rate_limit(self, limit: RateLimit, request: Request) -> Answer:
        message = (
            "This request would exceed the rate limit for your organization of 50 requests per minute. "
            "For details, refer to: https://docs.claude.com/en/api/rate-limits."
        )
        return Answer(429, _error("rate_limit_error", message), retry_headers(limit))

    def error(self, status: int, message: str, code: str | None) -> Answer:
        type_ = code or _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return Answer(status, _error(type_, message))

    def context_length(self, limit: int) -> Answer:
        return _prompt_too_long(limit + 1000, limit)


ANTHROPIC = AnthropicWire()


# -- shapes sent as-is on every endpoint ----------------------------------------------------------------------


def overloaded() -> Answer:
    """Anthropic's 529 when its API is temporarily overloaded."""
    return Answer(529, _error("overloaded_error", "Overloaded"))


def prompt_too_long(behaviour: PromptTooLong) -> Answer:
    """Anthropic's 400 for a prompt over the model's context window."""
    return _prompt_too_long(behaviour.tokens, behaviour.limit)


# -- rendering ------------------------------------------------------------------------------------------------


def _prompt_too_long(tokens: int, limit: int) -> Answer:
    return Answer(400, _error("invalid_request_error", f"prompt is too long: {tokens} tokens > {limit} maximum"))


def _error(type_: str, message: str) -> JSON:
    return {"type": "error", "error": {"type": type_, "message": message}}


def _message(model: str, input_tokens: int, output_tokens: int) -> JSON:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def _tool_blocks(reply: Reply) -> list[JSON]:
    return [
        {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:24]}",
            "name": call["name"],
            "input": json.loads(call.get("arguments") or "{}"),
        }
        for call in reply.tool_calls or ()
    ]


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_calls else "end_turn"


def _event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


def _text_delta(text: str, index: int = 0) -> str:
    return _event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": text}})


def _reply_events(reply: Reply, model: str) -> list[str]:
    """A reply as Messages stream events: text word by word, then one block per tool call."""
    events = [_event("message_start", {"message": _message(model, reply.prompt_tokens, 1)})]
    first_tool = 0
    if reply.content or not reply.tool_calls:
        events.append(_event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        events += [_text_delta(piece) for piece in words(reply.content)]
        events.append(_event("content_block_stop", {"index": 0}))
        first_tool = 1
    for index, block in enumerate(_tool_blocks(reply), start=first_tool):
        arguments = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events.append(_event("content_block_start", {"index": index, "content_block": {**block, "input": {}}}))
        events.append(_event("content_block_delta", {"index": index, "delta": arguments}))
        events.append(_event("content_block_stop", {"index": index}))
    stop = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
    events.append(_event("message_delta", {"delta": stop, "usage": {"output_tokens": reply.completion_tokens}}))
    events.append(_event("message_stop", {}))
    return events
