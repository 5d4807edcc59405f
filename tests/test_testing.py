"""understudy.testing: the fake provider, checked on the wire and driven over real HTTP by litellm.

Each behaviour is checked twice: what the fake sends (read with httpx), and that litellm's real provider
code (``openai/``, ``azure/``, ``anthropic/``, ``gemini/``) reaches it and raises or returns. Which
exception class litellm picks moves between litellm releases; understudy's failure classifier pins that,
so these tests only require one of litellm's provider errors (all subclass ``openai.APIError``).
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import httpx
import litellm
import openai
import pytest

from understudy.testing import (
    AzureContentFilter,
    Behaviour,
    ContentFiltered,
    ContentPolicyViolation,
    ContextLengthExceeded,
    DropConnection,
    FakeProvider,
    HTTPError,
    Overloaded,
    PromptTooLong,
    QuotaExceeded,
    RateLimit,
    Reply,
    SafetyBlock,
    ServerError,
    Slow,
    StreamFailure,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

MODEL = "test-model"  # a name litellm does not know: 1.83 reroutes e.g. anthropic/gpt-4o-mini to /chat/completions
MESSAGES = [{"role": "user", "content": "hello"}]
ENDPOINTS = ["openai", "azure", "anthropic", "gemini"]
AZURE_VERSION = "2024-10-21"
HTTP = httpx.Client(timeout=10)  # one client for the raw requests: building one per request costs ~50 ms


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


def litellm_args(provider: FakeProvider, endpoint: str, model: str = MODEL) -> dict[str, Any]:
    """The model and api_base that send litellm's ``endpoint`` provider code to the fake."""
    return {
        "openai": {"model": f"openai/{model}", "api_base": provider.base_url},
        "azure": {"model": f"azure/{model}", "api_base": provider.azure_base_url, "api_version": AZURE_VERSION},
        "anthropic": {"model": f"anthropic/{model}", "api_base": provider.anthropic_base_url},
        "gemini": {"model": f"gemini/{model}", "api_base": provider.gemini_base_url},
    }[endpoint]


def complete(provider: FakeProvider, model: str = MODEL, endpoint: str = "openai", **kwargs: Any) -> Any:
    """One litellm call to the fake provider, with every retry layer off unless overridden."""
    kwargs = {"num_retries": 0, "max_retries": 0, **kwargs}
    return litellm.completion(messages=MESSAGES, api_key="sk-fake", **litellm_args(provider, endpoint, model), **kwargs)


async def acomplete(provider: FakeProvider, model: str = MODEL, endpoint: str = "openai", **kwargs: Any) -> Any:
    kwargs = {"num_retries": 0, "max_retries": 0, **kwargs}
    return await litellm.acompletion(
        messages=MESSAGES, api_key="sk-fake", **litellm_args(provider, endpoint, model), **kwargs
    )


def root(provider: FakeProvider) -> str:
    return provider.base_url.removesuffix("/v1")


def port(provider: FakeProvider) -> int:
    return int(root(provider).rsplit(":", 1)[1])


def native_request(endpoint: str, model: str = MODEL, *, stream: bool = False) -> tuple[str, dict[str, Any]]:
    """The path and body each provider's API takes, as its own SDK would send them."""
    if endpoint == "openai":
        return "/v1/chat/completions", {"model": model, "messages": MESSAGES, "stream": stream}
    if endpoint == "azure":
        path = f"/openai/deployments/{model}/chat/completions?api-version={AZURE_VERSION}"
        return path, {"messages": MESSAGES, "stream": stream}
    if endpoint == "anthropic":
        return "/v1/messages", {"model": model, "max_tokens": 100, "messages": MESSAGES, "stream": stream}
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{model}:{method}", {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


def post(provider: FakeProvider, body: Any, path: str = "/v1/chat/completions") -> httpx.Response:
    """A raw HTTP POST with httpx."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HTTP.post(root(provider) + path, content=content, headers={"Content-Type": "application/json"})


def post_native(provider: FakeProvider, endpoint: str, model: str = MODEL, *, stream: bool = False) -> httpx.Response:
    path, body = native_request(endpoint, model, stream=stream)
    return post(provider, body, path)


def sse_data(response: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of a server-sent-events body, JSON-decoded where they are JSON."""
    payloads = []
    for event in response.text.replace("\r\n", "\n").split("\n\n"):
        for line in event.split("\n"):
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                payloads.append(data if data == "[DONE]" else json.loads(data))
    return payloads


def contents(stream: Any) -> list[str]:
    return [chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content]


def chain_responses(error: BaseException) -> list[tuple[int, str]]:
    """(status, text) of every read httpx response on ``error``'s chain: causes, contexts and a
    ``MidStreamFallbackError``'s ``original_exception``. litellm builds its errors inside ``except`` blocks,
    so the provider's own response is on that chain even when the error's ``response`` is a stand-in."""
    found: list[tuple[int, str]] = []
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, httpx.Response):
            with suppress(httpx.ResponseNotRead):
                found.append((response.status_code, response.text))
        linked = (current.__cause__, current.__context__, getattr(current, "original_exception", None))
        todo += [link for link in linked if isinstance(link, BaseException)]
    return found


# -- Reply on every endpoint --------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_reply_through_litellm_returns_content_and_usage_on_every_endpoint(
    provider: FakeProvider, endpoint: str
) -> None:
    provider.script(MODEL, Reply("hi there", prompt_tokens=7, completion_tokens=3))

    response = complete(provider, endpoint=endpoint)

    assert response.choices[0].message.content == "hi there"
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (7, 3)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_streamed_reply_through_litellm_arrives_word_by_word_on_every_endpoint(
    provider: FakeProvider, endpoint: str
) -> None:
    provider.script(MODEL, Reply("one two three", prompt_tokens=4, completion_tokens=3))

    chunks = list(complete(provider, endpoint=endpoint, stream=True, stream_options={"include_usage": True}))

    assert contents(chunks) == ["one", " two", " three"]
    usages = [chunk.usage for chunk in chunks if getattr(chunk, "usage", None)]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usages][-1:] == [(4, 3)]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_reply_tool_calls_reach_litellm_as_tool_calls_on_every_endpoint(
    provider: FakeProvider, endpoint: str, stream: bool
) -> None:
    provider.script(MODEL, Reply("", tool_calls=[{"name": "lookup", "arguments": '{"q": "x"}'}]))
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

    response = complete(provider, endpoint=endpoint, tools=tools, stream=stream)

    if stream:
        calls = [call for chunk in response if chunk.choices for call in chunk.choices[0].delta.tool_calls or ()]
        name = "".join(call.function.name or "" for call in calls)
        arguments = "".join(call.function.arguments or "" for call in calls)
    else:
        (call,) = response.choices[0].message.tool_calls
        name, arguments = call.function.name, call.function.arguments
    assert (name, json.loads(arguments)) == ("lookup", {"q": "x"})


def test_openai_reply_tool_calls_get_call_ids_and_finish_reason(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("", tool_calls=[{"name": "lookup", "arguments": '{"q": "x"}'}]))

    body = post_native(provider, "openai").json()

    (call,) = body["choices"][0]["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["function"] == {"name": "lookup", "arguments": '{"q": "x"}'}
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["choices"][0]["message"]["content"] is None


def test_reply_is_a_chat_completion_on_openai_and_azure(provider: FakeProvider) -> None:
    for endpoint in ("openai", "azure"):
        provider.script(MODEL, Reply("hi", prompt_tokens=2, completion_tokens=1))
        body = post_native(provider, endpoint).json()
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"] == {"role": "assistant", "content": "hi"}
        assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}


def test_reply_is_an_anthropic_message_on_anthropic(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("hi", prompt_tokens=2, completion_tokens=1))
    provider.script(MODEL, Reply("", tool_calls=[{"name": "lookup", "arguments": '{"q": "x"}'}]))

    text, tool = post_native(provider, "anthropic").json(), post_native(provider, "anthropic").json()

    assert (text["type"], text["role"], text["model"]) == ("message", "assistant", MODEL)
    assert text["content"] == [{"type": "text", "text": "hi"}]
    assert text["stop_reason"] == "end_turn"
    assert text["usage"] == {"input_tokens": 2, "output_tokens": 1}
    (block,) = tool["content"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "lookup", {"q": "x"})
    assert tool["stop_reason"] == "tool_use"


def test_reply_is_a_generate_content_response_on_gemini(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("hi", prompt_tokens=2, completion_tokens=1))

    body = post_native(provider, "gemini").json()

    (candidate,) = body["candidates"]
    assert candidate["content"] == {"parts": [{"text": "hi"}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    assert body["usageMetadata"] == {"promptTokenCount": 2, "candidatesTokenCount": 1, "totalTokenCount": 3}


def test_streamed_reply_is_sse_of_chunks_ending_with_done_on_openai(provider: FakeProvider) -> None:
    body = {"model": MODEL, "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}

    response = post(provider, body)

    assert response.headers["Content-Type"] == "text/event-stream"
    *chunks, done = sse_data(response)
    assert done == "[DONE]"
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 15


def test_streamed_reply_without_include_usage_sends_no_usage_chunk(provider: FakeProvider) -> None:
    chunks = list(complete(provider, stream=True))

    assert "".join(contents(chunks)) == "ok"
    assert not [chunk for chunk in chunks if getattr(chunk, "usage", None)]


def test_streamed_reply_is_messages_events_on_anthropic(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("one two"))

    events = sse_data(post_native(provider, "anthropic", stream=True))

    assert [event["type"] for event in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert [event["delta"]["text"] for event in events if event["type"] == "content_block_delta"] == ["one", " two"]
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


def test_streamed_reply_is_one_generate_content_response_per_event_on_gemini(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("one two"))

    responses = sse_data(post_native(provider, "gemini", stream=True))

    assert [r["candidates"][0]["content"]["parts"][0]["text"] for r in responses] == ["one", " two"]
    assert [r["candidates"][0].get("finishReason") for r in responses] == [None, "STOP"]


# -- routing: endpoints, model keys, paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "named"),
    [
        ("openai", "openai/dep-1"),
        ("azure", "azure/dep-1"),
        ("anthropic", "anthropic/dep-1"),
        ("gemini", "gemini/dep-1"),
    ],
)
def test_each_endpoint_takes_the_model_key_from_its_path_or_body(
    provider: FakeProvider, endpoint: str, named: str
) -> None:
    provider.script(named, Reply("scripted"))
    path, body = native_request(endpoint, "dep-1")

    response = post(provider, body, path)

    assert response.status_code == 200 and "scripted" in response.text
    assert provider.requests(named) == provider.requests("dep-1") == 1
    assert provider.received(named) == [body]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_litellm_requests_are_counted_and_recorded_on_every_endpoint(provider: FakeProvider, endpoint: str) -> None:
    complete(provider, endpoint=endpoint, temperature=0.5)

    (body,) = provider.received(MODEL)
    assert provider.requests(litellm_args(provider, endpoint)["model"]) == 1
    assert "hello" in json.dumps(body)


def test_request_headers_are_recorded_with_lower_case_names_and_reset(provider: FakeProvider) -> None:
    complete(provider, extra_headers={"X-Trace-Id": "t-1"})

    (headers,) = provider.received_headers(MODEL)
    assert headers["x-trace-id"] == "t-1" and headers["content-type"] == "application/json"
    provider.reset()
    assert provider.received_headers(MODEL) == []


def test_gemini_v1_paths_are_served_too(provider: FakeProvider) -> None:
    _, body = native_request("gemini")

    response = post(provider, body, f"/v1/models/{MODEL}:generateContent")

    assert response.status_code == 200 and provider.requests(MODEL) == 1


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/v1/messages", f"/models/{MODEL}:generateContent"])
def test_unknown_path_is_a_404_naming_the_base_urls_and_is_not_counted(provider: FakeProvider, path: str) -> None:
    response = post(provider, {"model": MODEL}, path=path)

    assert response.status_code == 404
    assert "provider.gemini_base_url" in response.json()["error"]["message"]
    assert provider.requests(MODEL) == 0


def test_chat_completions_without_v1_prefix_is_accepted(provider: FakeProvider) -> None:
    response = post(provider, {"model": MODEL}, path="/chat/completions")

    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "ok"


@pytest.mark.parametrize(
    ("endpoint", "field"), [("openai", "type"), ("azure", "type"), ("anthropic", "type"), ("gemini", "status")]
)
def test_invalid_json_is_a_400_in_the_endpoints_format(provider: FakeProvider, endpoint: str, field: str) -> None:
    path, _ = native_request(endpoint)

    response = post(provider, b"not json", path)

    assert response.status_code == 400
    assert response.json()["error"][field] in {"invalid_request_error", "INVALID_ARGUMENT"}
    assert provider.requests(MODEL) == 0


# -- errors: generic behaviours render in each endpoint's format --------------------------------------------


def native_error(endpoint: str, response: httpx.Response) -> tuple[str, str]:
    """(error kind, message) from an error body, checking it has the endpoint's native shape."""
    body = response.json()
    if endpoint == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        return body["error"]["type"], body["error"]["message"]
    if endpoint == "gemini":
        assert body["error"]["code"] == response.status_code
        return body["error"]["status"], body["error"]["message"]
    if endpoint == "azure" and response.status_code == 429:
        return body["error"]["code"], body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]["code"] or body["error"]["type"], body["error"]["message"]


@pytest.mark.parametrize(
    ("behaviour", "status", "kinds"),
    [
        (RateLimit(), 429, {"openai": "rate_limit_exceeded", "azure": "429", "anthropic": "rate_limit_error"}),
        (ServerError(503), 503, {"openai": "server_error", "anthropic": "api_error", "gemini": "UNAVAILABLE"}),
        (ServerError(529), 529, {"anthropic": "overloaded_error"}),
        (HTTPError(401), 401, {"openai": "authentication_error", "gemini": "UNAUTHENTICATED"}),
        (HTTPError(402), 402, {"anthropic": "billing_error"}),
        (HTTPError(403, code="custom"), 403, {"openai": "custom", "anthropic": "custom", "gemini": "custom"}),
        (HTTPError(404), 404, {"anthropic": "not_found_error", "gemini": "NOT_FOUND"}),
        (ContextLengthExceeded(), 400, {"openai": "context_length_exceeded", "gemini": "INVALID_ARGUMENT"}),
    ],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_generic_errors_render_in_each_endpoints_native_format(
    provider: FakeProvider, endpoint: str, behaviour: Behaviour, status: int, kinds: dict[str, str]
) -> None:
    provider.script(MODEL, behaviour)

    response = post_native(provider, endpoint)

    assert response.status_code == status
    kind, message = native_error(endpoint, response)
    assert message
    if endpoint in kinds:
        assert kind == kinds[endpoint]


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("openai", "This model's maximum context length is 128000 tokens. However, your messages resulted in"),
        ("azure", "This model's maximum context length is 128000 tokens. However, your messages resulted in"),
        ("anthropic", "prompt is too long: 129000 tokens > 128000 maximum"),
        ("gemini", "The input token count (129000) exceeds the maximum number of tokens allowed (128000)."),
    ],
)
def test_context_length_exceeded_is_worded_as_each_provider_words_it(
    provider: FakeProvider, endpoint: str, message: str
) -> None:
    provider.script(MODEL, ContextLengthExceeded(limit=128000))

    assert message in post_native(provider, endpoint).text


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_rate_limit_retry_after_is_sent_as_headers_on_every_endpoint(provider: FakeProvider, endpoint: str) -> None:
    provider.script(MODEL, RateLimit(retry_after=0.25), RateLimit())

    delayed, plain = post_native(provider, endpoint), post_native(provider, endpoint)

    assert (delayed.headers["retry-after"], delayed.headers["retry-after-ms"]) == ("1", "250")
    assert "retry-after" not in plain.headers


def test_gemini_rate_limit_retry_after_is_also_a_retry_info_detail(provider: FakeProvider) -> None:
    provider.script(MODEL, RateLimit(retry_after=2))

    error = post_native(provider, "gemini").json()["error"]

    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]


def test_rate_limit_headers_reach_litellms_exception(provider: FakeProvider) -> None:
    provider.script(MODEL, RateLimit(retry_after=0.25))

    with pytest.raises(openai.APIError) as caught:
        complete(provider)

    # litellm keeps the provider's headers here; caught.value.response.headers may be a stand-in's.
    headers = caught.value.litellm_response_headers  # type: ignore[attr-defined]
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "250")


def test_azure_rate_limit_names_the_requested_api_version(provider: FakeProvider) -> None:
    provider.script(MODEL, RateLimit())

    assert f"API version {AZURE_VERSION}" in post_native(provider, "azure").json()["error"]["message"]


# -- errors: provider shapes are sent exactly as their provider sends them, on every endpoint ---------------

AZURE_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry. To learn more about our content filtering policies please read "
    "our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)
SAFE = {"filtered": False, "severity": "safe"}
SHAPES: dict[str, tuple[Behaviour, int, dict[str, Any]]] = {
    "ContentPolicyViolation": (
        ContentPolicyViolation(),
        400,
        {
            "error": {
                "message": "Your request was rejected as a result of our safety system. Your prompt may contain "
                "text that is not allowed by our safety system.",
                "type": "invalid_request_error",
                "param": None,
                "code": "content_policy_violation",
            }
        },
    ),
    "AzureContentFilter": (
        AzureContentFilter(),
        400,
        {
            "error": {
                "message": AZURE_FILTER_MESSAGE,
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        "hate": {"filtered": True, "severity": "high"},
                        "self_harm": SAFE,
                        "sexual": SAFE,
                        "violence": SAFE,
                    },
                },
            }
        },
    ),
    "Overloaded": (
        Overloaded(),
        529,
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ),
    "PromptTooLong": (
        PromptTooLong(),
        400,
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "prompt is too long: 215000 tokens > 200000 maximum"},
        },
    ),
    "QuotaExceeded": (
        QuotaExceeded(),
        402,
        {
            "error": {
                "code": 402,
                "message": "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
            }
        },
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_provider_error_shapes_send_their_providers_exact_body_on_every_endpoint(
    provider: FakeProvider, endpoint: str, shape: str
) -> None:
    behaviour, status, body = SHAPES[shape]
    provider.script(MODEL, behaviour)

    response = post_native(provider, endpoint)

    assert (response.status_code, response.json()) == (status, body)


def test_azure_content_filter_reports_the_chosen_category() -> None:
    with FakeProvider() as provider:
        provider.script(MODEL, AzureContentFilter(category="violence", severity="medium"))
        result = post_native(provider, "azure").json()["error"]["innererror"]["content_filter_result"]

    assert result == {
        "hate": SAFE,
        "self_harm": SAFE,
        "sexual": SAFE,
        "violence": {"filtered": True, "severity": "medium"},
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_safety_block_on_the_prompt_is_a_200_with_prompt_feedback_and_no_candidates(
    provider: FakeProvider, endpoint: str
) -> None:
    provider.script(MODEL, SafetyBlock())

    response = post_native(provider, endpoint)

    body = response.json()
    assert response.status_code == 200 and "candidates" not in body
    assert body["promptFeedback"]["blockReason"] == "SAFETY"
    assert {rating["category"] for rating in body["promptFeedback"]["safetyRatings"]} >= {"HARM_CATEGORY_HATE_SPEECH"}
    assert body["usageMetadata"]["promptTokenCount"] == 10


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_safety_block_on_the_response_is_a_200_with_a_safety_finished_candidate(
    provider: FakeProvider, endpoint: str
) -> None:
    provider.script(MODEL, SafetyBlock(blocked="response"))

    response = post_native(provider, endpoint)

    (candidate,) = response.json()["candidates"]
    assert response.status_code == 200 and "content" not in candidate
    assert candidate["finishReason"] == "SAFETY"
    assert [r["category"] for r in candidate["safetyRatings"] if r.get("blocked")] == ["HARM_CATEGORY_HATE_SPEECH"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_content_filtered_is_a_200_completion_with_no_content(provider: FakeProvider, endpoint: str) -> None:
    provider.script(MODEL, ContentFiltered())

    response = post_native(provider, endpoint)

    (choice,) = response.json()["choices"]
    assert response.status_code == 200
    assert (choice["finish_reason"], choice["message"]["content"]) == ("content_filter", None)
    assert choice["content_filter_results"]["violence"]["filtered"] is True


def test_content_filtered_streams_as_chunks_ending_with_content_filter(provider: FakeProvider) -> None:
    provider.script(MODEL, ContentFiltered())

    *chunks, done = sse_data(post_native(provider, "openai", stream=True))

    assert done == "[DONE]"
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks] == [None, "content_filter"]
    assert not any(chunk["choices"][0]["delta"].get("content") for chunk in chunks)


def test_safety_block_streams_as_one_event_on_gemini(provider: FakeProvider) -> None:
    provider.script(MODEL, SafetyBlock())

    (event,) = sse_data(post_native(provider, "gemini", stream=True))

    assert event["promptFeedback"]["blockReason"] == "SAFETY"


@pytest.mark.parametrize(
    ("behaviour", "endpoint"),
    [
        (SafetyBlock(), "gemini"),
        (SafetyBlock(blocked="response"), "gemini"),
        (ContentFiltered(), "openai"),
        (ContentFiltered(), "azure"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_filtered_answers_reach_litellm_as_answers_without_content(
    provider: FakeProvider, behaviour: Behaviour, endpoint: str, stream: bool
) -> None:
    provider.script(MODEL, behaviour)

    response = complete(provider, endpoint=endpoint, stream=stream)

    if stream:
        assert contents(list(response)) == []
    else:
        assert not response.choices[0].message.content
    assert provider.requests(MODEL) == 1


# -- every error reaches litellm's real provider code on every endpoint --------------------------------------

ERRORS: list[Behaviour] = [
    RateLimit(retry_after=0.01),
    ServerError(500),
    ServerError(502),
    ServerError(503),
    ServerError(504),
    HTTPError(400),
    HTTPError(401),
    HTTPError(402),
    HTTPError(403),
    HTTPError(404),
    HTTPError(422),
    ContextLengthExceeded(),
    *(behaviour for behaviour, _, _ in SHAPES.values()),
]


@pytest.mark.parametrize("behaviour", ERRORS, ids=repr)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_every_error_raises_a_litellm_error_built_from_the_fakes_response(
    provider: FakeProvider, endpoint: str, behaviour: Behaviour, stream: bool
) -> None:
    provider.script(MODEL, behaviour)
    provider.script(MODEL, behaviour)
    sent = post_native(provider, endpoint, stream=stream)

    with pytest.raises(openai.APIError) as caught:
        result = complete(provider, endpoint=endpoint, stream=stream)
        if stream:
            list(result)  # litellm's gemini streams raise on the first read, not on the call

    assert (sent.status_code, sent.text) in chain_responses(caught.value)
    assert provider.requests(MODEL) == 2


@pytest.mark.parametrize("behaviour", [SafetyBlock(), SafetyBlock(blocked="response"), ContentFiltered()], ids=repr)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_200_shape_on_another_endpoint_reaches_litellm(
    provider: FakeProvider, endpoint: str, behaviour: Behaviour
) -> None:
    """A gateway passing another provider's 200 through: litellm either returns or raises one of its errors."""
    provider.script(MODEL, behaviour)

    with suppress(openai.APIError):
        complete(provider, endpoint=endpoint)

    assert provider.requests(MODEL) == 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_drop_connection_raises_a_litellm_error(provider: FakeProvider, endpoint: str) -> None:
    provider.script(MODEL, DropConnection())

    with pytest.raises(openai.APIError):
        complete(provider, endpoint=endpoint)

    assert provider.requests(MODEL) == 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_slow_beyond_the_client_timeout_raises_before_the_answer(provider: FakeProvider, endpoint: str) -> None:
    provider.script(MODEL, Slow(5))
    started = time.monotonic()

    with pytest.raises(openai.APIError):
        complete(provider, endpoint=endpoint, timeout=0.2)

    assert time.monotonic() - started < 4


def test_slow_then_behaves_as_then(provider: FakeProvider) -> None:
    provider.script(MODEL, Slow(0.01, then=Reply("late")), Slow(0.01, then=ServerError(503)))

    assert complete(provider).choices[0].message.content == "late"
    assert post_native(provider, "openai").status_code == 503


def test_drop_connection_sends_no_response(provider: FakeProvider) -> None:
    provider.script(MODEL, DropConnection())

    with pytest.raises(httpx.RemoteProtocolError):
        post_native(provider, "openai")


# -- stream failures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_stream_failure_sends_its_chunks_then_truncates_the_body(provider: FakeProvider, endpoint: str) -> None:
    provider.script(MODEL, StreamFailure(after_chunks=2, content="partial answer"))
    path, body = native_request(endpoint, stream=True)
    received = b""

    with (
        pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"),
        httpx.stream("POST", root(provider) + path, json=body) as response,
    ):
        for data in response.iter_bytes():
            received += data

    assert response.status_code == 200
    assert b"partial" in received and b" answer" in received


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("after", "expected"), [(0, []), (2, ["partial", " answer"])])
def test_stream_failure_delivers_its_chunks_through_litellm_then_raises(
    provider: FakeProvider, endpoint: str, after: int, expected: list[str]
) -> None:
    provider.script(MODEL, StreamFailure(after_chunks=after, content="partial answer"))
    received: list[str] = []

    stream = complete(provider, endpoint=endpoint, stream=True)
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.extend(contents([chunk]))

    assert received == expected


def test_stream_failure_on_non_stream_request_drops_connection(provider: FakeProvider) -> None:
    provider.script(MODEL, StreamFailure(after_chunks=2))

    with pytest.raises(httpx.RemoteProtocolError):
        post_native(provider, "openai")


async def test_async_streamed_reply_and_stream_failure(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("a b c"), StreamFailure(after_chunks=1, content="a"))

    stream = await acomplete(provider, stream=True)
    assert "".join([chunk.choices[0].delta.content or "" async for chunk in stream]) == "a b c"

    received: list[str] = []
    stream = await acomplete(provider, stream=True)
    try:
        async for chunk in stream:
            received.extend([chunk.choices[0].delta.content] if chunk.choices[0].delta.content else [])
    except openai.APIError:
        pass  # litellm 1.83's async streams end quietly on a truncated body instead; later releases raise
    assert received == ["a"]


@pytest.mark.parametrize(
    "behaviour",
    [RateLimit(retry_after=0.01), ServerError(503), ContextLengthExceeded(), HTTPError(401), DropConnection(), Slow(5)],
    ids=repr,
)
async def test_async_completion_raises_a_litellm_error(provider: FakeProvider, behaviour: Behaviour) -> None:
    provider.script(MODEL, behaviour)

    with pytest.raises(openai.APIError):
        await acomplete(provider, timeout=0.2)


# -- litellm's retries, counted on the wire ----------------------------------------------------------------


def test_litellm_retries_twice_by_default_through_the_openai_client(provider: FakeProvider) -> None:
    provider.default(MODEL, RateLimit(retry_after=0.001))

    with pytest.raises(openai.APIError):
        complete(provider, num_retries=None, max_retries=None)

    assert provider.requests(MODEL) == 3


@pytest.mark.parametrize("off", [{"num_retries": 0}, {"max_retries": 0}], ids=["num_retries", "max_retries"])
def test_either_retry_setting_at_zero_sends_one_request(provider: FakeProvider, off: dict[str, int]) -> None:
    provider.default(MODEL, ServerError(500))

    with pytest.raises(openai.APIError):
        complete(provider, **{"num_retries": None, "max_retries": None, **off})

    assert provider.requests(MODEL) == 1


# -- scripting, counting, inspection --------------------------------------------------------------------


def test_script_is_consumed_in_order_then_default_applies(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("first"), ServerError(500))
    provider.script(MODEL, Reply("third"))
    provider.default(MODEL, Reply("always"))

    assert complete(provider).choices[0].message.content == "first"
    with pytest.raises(openai.APIError):
        complete(provider)
    assert complete(provider).choices[0].message.content == "third"
    assert [complete(provider).choices[0].message.content for _ in range(2)] == ["always", "always"]


def test_scripts_are_per_model(provider: FakeProvider) -> None:
    provider.script("model-a", Reply("a"))
    provider.default("model-b", ServerError(503))

    assert complete(provider, "model-a").choices[0].message.content == "a"
    assert complete(provider, "model-c").choices[0].message.content == "ok"
    with pytest.raises(openai.APIError):
        complete(provider, "model-b")
    assert [provider.requests(m) for m in ("model-a", "model-b", "model-c", "model-d")] == [1, 1, 1, 0]


def test_a_script_is_shared_by_every_endpoint(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("first"), Reply("second"), Reply("third"))

    answers = [complete(provider, endpoint=endpoint).choices[0].message.content for endpoint in ENDPOINTS[1:]]

    assert answers == ["first", "second", "third"]


def test_provider_prefixed_model_names_are_the_same_model(provider: FakeProvider) -> None:
    provider.script(f"openai/{MODEL}", Reply("prefixed"))

    assert complete(provider).choices[0].message.content == "prefixed"
    assert provider.requests(f"openai/{MODEL}") == provider.requests(f"azure/{MODEL}") == provider.requests(MODEL) == 1


def test_request_counts_are_exact_under_concurrency(provider: FakeProvider) -> None:
    provider.script(MODEL, *[RateLimit()] * 10)

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda i: post(provider, {"model": MODEL, "n": i}).status_code, range(20)))

    assert provider.requests(MODEL) == 20
    assert sorted(statuses) == [200] * 10 + [429] * 10
    assert sorted(body["n"] for body in provider.received(MODEL)) == list(range(20))


def test_received_returns_request_bodies_in_order(provider: FakeProvider) -> None:
    complete(provider, temperature=0.5)
    list(complete(provider, stream=True))

    first, second = provider.received(MODEL)
    assert first["model"] == MODEL
    assert first["messages"] == MESSAGES
    assert first["temperature"] == 0.5
    assert second["stream"] is True
    provider.received(MODEL).clear()  # a copy: the provider's record is untouched
    assert provider.requests(MODEL) == 2


def test_errors_count_as_requests(provider: FakeProvider) -> None:
    provider.script(MODEL, DropConnection(), HTTPError(404))

    for _ in range(2):
        with pytest.raises(openai.APIError):
            complete(provider)

    assert provider.requests(MODEL) == 2


def test_reset_clears_scripts_defaults_and_counts(provider: FakeProvider) -> None:
    provider.script(MODEL, ServerError(500))
    provider.default(MODEL, ServerError(503))
    post(provider, {"model": MODEL})

    provider.reset()

    assert provider.requests(MODEL) == 0
    assert provider.received(MODEL) == []
    assert complete(provider).choices[0].message.content == "ok"


def test_behaviours_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match="5xx"):
        ServerError(404)
    with pytest.raises(ValueError, match="4xx"):
        HTTPError(200)
    with pytest.raises(ValueError, match="after_chunks"):
        StreamFailure(after_chunks=-1)
    with pytest.raises(ValueError, match="category"):
        AzureContentFilter(category="rude")
    with pytest.raises(ValueError, match="severity"):
        AzureContentFilter(severity="safe")
    with pytest.raises(ValueError, match="blocked"):
        SafetyBlock(blocked="answer")  # type: ignore[arg-type]


# -- speed ------------------------------------------------------------------------------------------------------


def test_a_whole_response_leaves_in_one_write() -> None:
    """Regression: headers and body went out as two writes, and Nagle's algorithm held the body back until
    the client's delayed ACK of the headers (~40 ms a request on Linux). One write arrives in one read."""
    with FakeProvider() as provider, socket.create_connection(("127.0.0.1", port(provider))) as sock:
        provider.script(MODEL, Reply("x" * 2000), ServerError(503))
        body = json.dumps({"model": MODEL}).encode()
        request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: fake\r\nContent-Length: %d\r\n\r\n%s" % (
            len(body),
            body,
        )
        sock.settimeout(10)
        for _ in range(2):
            sock.sendall(request)
            data = sock.recv(1 << 20)
            head, _, payload = data.partition(b"\r\n\r\n")
            length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
            assert len(payload) == length, "the response arrived in more than one read"


def test_accepted_sockets_have_tcp_nodelay(provider: FakeProvider) -> None:
    """Each stream event is its own write; without TCP_NODELAY, Nagle delays every write after the first."""
    with httpx.Client() as client:
        client.post(provider.base_url + "/chat/completions", json={"model": MODEL})
        connections = list(provider._server._connections)  # type: ignore[union-attr]  # the keep-alive socket

        assert connections
        assert all(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for conn in connections)


# -- lifecycle ---------------------------------------------------------------------------------------------


def test_base_urls_are_local_and_unavailable_when_stopped() -> None:
    provider = FakeProvider()
    for name in ("base_url", "azure_base_url", "anthropic_base_url", "gemini_base_url"):
        with pytest.raises(RuntimeError, match="not running"):
            getattr(provider, name)

    with provider:
        address = root(provider)
        assert address.startswith("http://127.0.0.1:")
        assert provider.base_url == f"{address}/v1"
        assert provider.azure_base_url == provider.anthropic_base_url == address
        assert provider.gemini_base_url == f"{address}/v1beta"
        assert provider.base_url in repr(provider)

    assert "stopped" in repr(provider)
    provider.stop()  # idempotent


def test_start_twice_is_an_error(provider: FakeProvider) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        provider.start()


def test_repr_shows_counts_and_pending_scripts(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply(), Reply())
    post(provider, {"model": MODEL})

    assert f"requests={{'{MODEL}': 1}}" in repr(provider)
    assert f"pending={{'{MODEL}': 1}}" in repr(provider)


def provider_threads(port: int) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(f"FakeProvider:{port}")]


def test_stop_returns_while_slow_request_in_flight_and_leaves_no_thread() -> None:
    provider = FakeProvider().start()
    address = port(provider)
    provider.script(MODEL, Slow(30))
    outcome: list[BaseException | int] = []

    def request() -> None:
        try:
            outcome.append(post(provider, {"model": MODEL}).status_code)
        except Exception as error:
            outcome.append(error)

    client = threading.Thread(target=request)
    client.start()
    deadline = time.monotonic() + 10
    while provider.requests(MODEL) == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert provider.requests(MODEL) == 1

    provider.stop()
    client.join(timeout=10)

    assert not client.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError)
    assert provider_threads(address) == []


def test_stop_closes_idle_keep_alive_connections() -> None:
    provider = FakeProvider().start()
    address = port(provider)
    complete(provider)
    assert len(provider_threads(address)) == 2  # server loop + the request thread of litellm's pooled connection

    provider.stop()

    assert provider_threads(address) == []


def test_importing_understudy_testing_does_not_import_litellm() -> None:
    code = "import sys, understudy.testing; print(sorted({'litellm', 'openai'} & set(sys.modules)))"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


def test_fake_provider_fixture_yields_started_provider(fake_provider: FakeProvider) -> None:
    fake_provider.script(MODEL, Reply("from fixture"))

    assert complete(fake_provider).choices[0].message.content == "from fixture"


def test_the_public_names_are_exported() -> None:
    import understudy.testing

    assert understudy.testing.__all__ == sorted(understudy.testing.__all__)
    for name in understudy.testing.__all__:
        assert hasattr(understudy.testing, name), name


def test_the_double_counts_answers_in_progress_and_ends_one_whose_client_hung_up(fake_provider: FakeProvider) -> None:
    fake_provider.script("quiet", Slow(30))
    body = json.dumps({"model": "quiet", "messages": [{"role": "user", "content": "hi"}]}).encode()
    port = int(fake_provider.base_url.rsplit(":", 1)[1].split("/")[0])
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    deadline = time.monotonic() + 5
    while fake_provider.requests("quiet") == 0 and time.monotonic() < deadline:
        time.sleep(0.005)

    assert fake_provider.answering() == 1  # waiting out its 30 s of silence
    client.close()
    assert fake_provider.answering(within=5) == 0  # the client hung up: the silence ends with it
