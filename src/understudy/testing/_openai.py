"""OpenAI's chat completions wire format, Azure OpenAI's variant of it, and the OpenAI-style shapes.

The shapes (content policy violation, Azure's content filter, a filtered completion, OpenRouter's 402)
are sent exactly as their provider sends them, whatever endpoint the request reached.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING

from understudy.testing._behaviours import AZURE_FILTER_CATEGORIES
from understudy.testing._behaviours import Reply as _Reply
from understudy.testing._wire import JSON, Answer, EventStream, retry_headers, split, words

if TYPE_CHECKING:
    from understudy.testing._behaviours import (
        AzureContentFilter,
        QuotaExceeded,
        RateLimit,
        Refusal,
        Reply,
        StreamFailure,
        Unterminated,
    )
    from understudy.testing._wire import Request

__all__ = [
    "AZURE",
    "OPENAI",
    "azure_content_filter",
    "content_filtered",
    "content_policy_violation",
    "quota_exceeded",
    "refusal",
    "unterminated",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class OpenAIWire:
    """``POST /v1/chat/completions``: chat completions, ``chat.completion.chunk`` streams, ``{"error": ...}``."""

    name = "openai"

    def reply(self, reply: Reply, request: Request) -> Answer | EventStream:
        if request.stream:
            include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
            return _stream(_reply_chunks(reply, request.model, include_usage))
        return Answer(200, _completion(reply, request.model))

    def stream_failure(self, failure: StreamFailure, request: Request) -> EventStream:
        completion_id = _id("chatcmpl-")
        deltas: list[JSON] = [{"content": piece} for piece in split(failure.content, failure.after_chunks)]
        if failure.tool_call:
            function = {"name": failure.tool_call, "arguments": '{"ci'}
            deltas.append({"tool_calls": [{"index": 0, "id": "call_cut", "type": "function", "function": function}]})
        if deltas:
            deltas[0]["role"] = "assistant"
        chunks = [_chunk(completion_id, request.model, delta) for delta in deltas]
        return EventStream([_event(chunk) for chunk in chunks], complete=False)

    def rate_limit(self, limit: RateLimit, request: Request) -> Answer:
        message = f"Rate limit reached for {request.model} on requests per min (RPM). Please try again later."
        return Answer(429, _error(message, "requests", "rate_limit_exceeded"), retry_headers(limit))

    def error(self, status: int, message: str, code: str | None) -> Answer:
        type_ = "server_error" if status >= 500 else _ERROR_TYPES.get(status, "api_error")
        return Answer(status, _error(message, type_, code))

    def context_length(self, limit: int) -> Answer:
        message = (
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {limit + 1000} tokens. Please reduce the length of the messages."
        )
        return Answer(400, _error(message, "invalid_request_error", "context_length_exceeded", "messages"))


class AzureWire(OpenAIWire):
    """``POST /openai/deployments/{deployment}/chat/completions``: OpenAI's format, Azure's 429."""

    name = "azure"

    def rate_limit(self, limit: RateLimit, request: Request) -> Answer:
        version = request.query.get("api-version", "2024-10-21")
        message = (
            f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {version} have "
            "exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second. "
            "Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the "
            "default rate limit."
        )
        return Answer(429, {"error": {"code": "429", "message": message}}, retry_headers(limit))


OPENAI = OpenAIWire()
AZURE = AzureWire()


# -- shapes sent as-is on every endpoint ----------------------------------------------------------------------


def content_policy_violation() -> Answer:
    """OpenAI's 400 for a request its safety system rejected."""
    message = (
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system."
    )
    return Answer(400, _error(message, "invalid_request_error", "content_policy_violation"))


def azure_content_filter(behaviour: AzureContentFilter) -> Answer:
    """Azure OpenAI's 400 for a prompt that triggered its content management policy."""
    message = (
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry. To learn more about our content filtering policies please read "
        "our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
    )
    error = {
        "message": message,
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": _filter_results(behaviour.category, behaviour.severity),
        },
    }
    return Answer(400, {"error": error})


def content_filtered(request: Request) -> Answer | EventStream:
    """A 200 completion (or stream) whose choice ends with ``content_filter`` and carries no content."""
    results = _filter_results("violence", "medium")
    if request.stream:
        completion_id = _id("chatcmpl-")
        chunks = [
            _chunk(completion_id, request.model, {"role": "assistant", "content": None}),
            _chunk(completion_id, request.model, {}, "content_filter"),
        ]
        chunks[-1]["choices"][0]["content_filter_results"] = results
        return _stream(chunks)
    usage = {"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10}
    completion = _completion_envelope(request.model, {"role": "assistant", "content": None}, "content_filter", usage)
    completion["choices"][0]["content_filter_results"] = results
    return Answer(200, completion)


def quota_exceeded(behaviour: QuotaExceeded) -> Answer:
    """OpenRouter's 402 for an account out of credits."""
    return Answer(402, {"error": {"code": 402, "message": behaviour.message}})


def unterminated(behaviour: Unterminated, request: Request) -> Answer | EventStream:
    """A stream without ``[DONE]`` (and without a finish reason unless ``finished``) whose body ends cleanly."""
    reply = _Reply(behaviour.content)
    if not request.stream:
        return Answer(200, _completion(reply, request.model))
    chunks = _reply_chunks(reply, request.model, include_usage=False)
    if not behaviour.finished:
        chunks = chunks[:-1]  # the finish chunk
    return EventStream([_event(chunk) for chunk in chunks])


def refusal(behaviour: Refusal, request: Request) -> Answer | EventStream:
    """A 200 whose model refused: ``message.refusal`` set, ``content`` null."""
    if request.stream:
        completion_id = _id("chatcmpl-")
        deltas: list[JSON] = [{"refusal": piece} for piece in words(behaviour.refusal)]
        deltas[0].update(role="assistant", content=None)
        chunks = [_chunk(completion_id, request.model, delta) for delta in deltas]
        chunks.append(_chunk(completion_id, request.model, {}, "stop"))
        return _stream(chunks)
    usage = {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18}
    message = {"role": "assistant", "content": None, "refusal": behaviour.refusal}
    return Answer(200, _completion_envelope(request.model, message, "stop", usage))


# -- rendering ------------------------------------------------------------------------------------------------


def _id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def _error(message: str, type_: str, code: str | None = None, param: str | None = None) -> JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _filter_results(category: str, severity: str) -> JSON:
    safe = {"filtered": False, "severity": "safe"}
    return {
        name: {"filtered": True, "severity": severity} if name == category else safe for name in AZURE_FILTER_CATEGORIES
    }


def _completion(reply: Reply, model: str) -> JSON:
    message: JSON = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
        message["content"] = reply.content or None
    return _completion_envelope(model, message, _finish_reason(reply), _usage(reply))


def _completion_envelope(model: str, message: JSON, finish_reason: str, usage: JSON) -> JSON:
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }


def _tool_calls(reply: Reply) -> list[JSON]:
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call["name"], "arguments": call.get("arguments", "{}")},
        }
        for call in reply.tool_calls or ()
    ]


def _finish_reason(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def _usage(reply: Reply) -> JSON:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _chunk(completion_id: str, model: str, delta: JSON, finish_reason: str | None = None) -> JSON:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def _reply_chunks(reply: Reply, model: str, include_usage: bool) -> list[JSON]:
    """A reply as ``chat.completion.chunk`` objects: content word by word, finish, then usage."""
    completion_id = _id("chatcmpl-")
    deltas: list[JSON] = [{"content": piece} for piece in words(reply.content) or [""]]
    for index, call in enumerate(_tool_calls(reply)):
        deltas.append({"tool_calls": [{"index": index, **call}]})
    deltas[0]["role"] = "assistant"
    chunks = [_chunk(completion_id, model, delta) for delta in deltas]
    chunks.append(_chunk(completion_id, model, {}, _finish_reason(reply)))
    if include_usage:
        usage_chunk = _chunk(completion_id, model, {})
        usage_chunk.update(choices=[], usage=_usage(reply))
        chunks.append(usage_chunk)
    return chunks


def _event(chunk: JSON) -> str:
    return f"data: {json.dumps(chunk)}\n\n"


def _stream(chunks: list[JSON]) -> EventStream:
    return EventStream([*map(_event, chunks), "data: [DONE]\n\n"])
