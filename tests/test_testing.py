"""understudy.testing: the fake provider, driven over real HTTP by litellm.

Each behaviour is pinned to the exception class litellm really raises for it, so a litellm upgrade
that changes its error mapping fails here first.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import http.client
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import litellm
import pytest
from litellm.exceptions import MidStreamFallbackError

from understudy.testing import (
    Behaviour,
    ContentPolicyViolation,
    ContextLengthExceeded,
    DropConnection,
    FakeProvider,
    HTTPError,
    RateLimit,
    Reply,
    ServerError,
    Slow,
    StreamFailure,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


def complete(provider: FakeProvider, model: str = MODEL, **kwargs: Any) -> Any:
    """One litellm call to the fake provider, with every retry layer off unless overridden."""
    kwargs = {"num_retries": 0, "max_retries": 0, **kwargs}
    return litellm.completion(
        model=f"openai/{model}", api_base=provider.base_url, api_key="sk-fake", messages=MESSAGES, **kwargs
    )


async def acomplete(provider: FakeProvider, model: str = MODEL, **kwargs: Any) -> Any:
    kwargs = {"num_retries": 0, "max_retries": 0, **kwargs}
    return await litellm.acompletion(
        model=f"openai/{model}", api_base=provider.base_url, api_key="sk-fake", messages=MESSAGES, **kwargs
    )


def post(provider: FakeProvider, body: Any, path: str = "/v1/chat/completions") -> tuple[int, Any, Any]:
    """A raw HTTP POST: (status, headers, decoded JSON body)."""
    connection = http.client.HTTPConnection(provider.base_url.split("//")[1].split("/")[0], timeout=10)
    try:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request("POST", path, payload, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


def contents(stream: Any) -> list[str]:
    return [chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content]


# -- Reply -----------------------------------------------------------------------------------------------


def test_reply_returns_content_and_usage(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("hi there", prompt_tokens=7, completion_tokens=3))

    response = complete(provider)

    assert response.choices[0].message.content == "hi there"
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (7, 3)
    assert response.usage.total_tokens == 10


def test_default_reply_is_ok(provider: FakeProvider) -> None:
    assert complete(provider).choices[0].message.content == "ok"


def test_reply_tool_calls_become_openai_tool_calls(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("", tool_calls=[{"name": "lookup", "arguments": '{"q": "x"}'}]))

    response = complete(provider)

    (call,) = response.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("lookup", '{"q": "x"}')
    assert call.id.startswith("call_")
    assert response.choices[0].finish_reason == "tool_calls"


def test_streamed_reply_chunks_join_to_content_with_usage_chunk(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("one two three", prompt_tokens=4, completion_tokens=3))

    chunks = list(complete(provider, stream=True, stream_options={"include_usage": True}))

    assert "".join(contents(chunks)) == "one two three"
    assert len(contents(chunks)) == 3
    usages = [chunk.usage for chunk in chunks if getattr(chunk, "usage", None)]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usages] == [(4, 3)]


def test_streamed_reply_tool_calls_arrive_as_tool_call_deltas(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("", tool_calls=[{"name": "lookup", "arguments": "{}"}]))

    chunks = list(complete(provider, stream=True))

    calls = [call for chunk in chunks if chunk.choices for call in chunk.choices[0].delta.tool_calls or ()]
    assert [(call.function.name, call.function.arguments) for call in calls] == [("lookup", "{}")]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_streamed_reply_without_include_usage_sends_no_usage_chunk(provider: FakeProvider) -> None:
    chunks = list(complete(provider, stream=True))

    assert "".join(contents(chunks)) == "ok"
    assert not [chunk for chunk in chunks if getattr(chunk, "usage", None)]


def test_streamed_reply_is_sse_ending_with_done(provider: FakeProvider) -> None:
    connection = http.client.HTTPConnection(provider.base_url.split("//")[1].split("/")[0], timeout=10)
    body = {"model": MODEL, "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    connection.request("POST", "/v1/chat/completions", json.dumps(body))
    response = connection.getresponse()
    events = [line for line in response.read().decode().split("\n\n") if line]
    connection.close()

    assert response.headers["Content-Type"] == "text/event-stream"
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 15


# -- errors: each behaviour surfaces as one litellm exception class --------------------------------------


def test_rate_limit_raises_rate_limit_error_with_retry_after_headers(provider: FakeProvider) -> None:
    provider.script(MODEL, RateLimit(retry_after=0.25))

    with pytest.raises(litellm.RateLimitError) as caught:
        complete(provider)

    assert caught.type is litellm.RateLimitError
    # litellm keeps the provider's headers here; caught.value.response.headers is empty.
    headers = caught.value.litellm_response_headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "250")


def test_rate_limit_body_is_openai_shaped(provider: FakeProvider) -> None:
    provider.script(MODEL, RateLimit())

    status, headers, body = post(provider, {"model": MODEL})

    assert status == 429
    assert "retry-after" not in headers
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert body["error"]["type"] == "requests"


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (500, litellm.InternalServerError),
        (502, litellm.BadGatewayError),
        (503, litellm.ServiceUnavailableError),
        (504, litellm.Timeout),
    ],
)
def test_server_error_status_maps_to_litellm_class(
    provider: FakeProvider, status: int, exception: type[Exception]
) -> None:
    provider.script(MODEL, ServerError(status))

    with pytest.raises(exception) as caught:
        complete(provider)

    assert caught.type is exception


def test_context_length_exceeded_raises_context_window_exceeded_error(provider: FakeProvider) -> None:
    provider.script(MODEL, ContextLengthExceeded())

    with pytest.raises(litellm.ContextWindowExceededError):
        complete(provider)


def test_content_policy_violation_raises_content_policy_violation_error(provider: FakeProvider) -> None:
    provider.script(MODEL, ContentPolicyViolation())

    with pytest.raises(litellm.ContentPolicyViolationError):
        complete(provider)


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, litellm.BadRequestError),
        (401, litellm.AuthenticationError),
        (402, litellm.APIError),  # litellm's openai mapping has no class for 402 or 403
        (403, litellm.APIError),
        (404, litellm.NotFoundError),
        (422, litellm.BadRequestError),
    ],
)
def test_http_error_status_maps_to_litellm_class(
    provider: FakeProvider, status: int, exception: type[Exception]
) -> None:
    provider.script(MODEL, HTTPError(status, message="nope", code="some_code"))

    with pytest.raises(exception) as caught:
        complete(provider)

    assert caught.type is exception
    assert caught.value.status_code == status


def test_slow_beyond_client_timeout_raises_timeout(provider: FakeProvider) -> None:
    provider.script(MODEL, Slow(5))

    with pytest.raises(litellm.Timeout):
        complete(provider, timeout=0.2)


def test_slow_then_behaves_as_then(provider: FakeProvider) -> None:
    provider.script(MODEL, Slow(0.01, then=Reply("late")), Slow(0.01, then=ServerError(503)))

    assert complete(provider).choices[0].message.content == "late"
    with pytest.raises(litellm.ServiceUnavailableError):
        complete(provider)


def test_drop_connection_raises_internal_server_error_not_api_connection_error(provider: FakeProvider) -> None:
    # openai raises APIConnectionError("Connection error."); litellm's openai handler rewraps it with
    # status 500, so it surfaces as InternalServerError.
    provider.script(MODEL, DropConnection())

    with pytest.raises(litellm.InternalServerError) as caught:
        complete(provider)

    assert caught.type is litellm.InternalServerError
    assert "Connection error" in str(caught.value)


def test_stream_failure_before_first_chunk_raises_mid_stream_fallback_error(provider: FakeProvider) -> None:
    provider.script(MODEL, StreamFailure(after_chunks=0))
    received: list[str] = []

    stream = complete(provider, stream=True)
    with pytest.raises(MidStreamFallbackError) as caught:
        received.extend(contents(stream))

    assert received == []
    assert caught.value.is_pre_first_chunk
    assert type(caught.value.original_exception) is litellm.APIConnectionError


def test_stream_failure_after_two_chunks_delivers_them_then_raises(provider: FakeProvider) -> None:
    provider.script(MODEL, StreamFailure(after_chunks=2, content="partial answer"))
    received: list[str] = []

    stream = complete(provider, stream=True)
    with pytest.raises(MidStreamFallbackError) as caught:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)

    assert received == ["partial", " answer"]
    assert not caught.value.is_pre_first_chunk
    assert caught.value.generated_content == "partial answer"
    assert type(caught.value.original_exception) is litellm.APIConnectionError


def test_stream_failure_on_non_stream_request_drops_connection(provider: FakeProvider) -> None:
    provider.script(MODEL, StreamFailure(after_chunks=2))

    with pytest.raises(litellm.InternalServerError):
        complete(provider)


@pytest.mark.parametrize(
    ("behaviour", "exception"),
    [
        (RateLimit(retry_after=0.01), litellm.RateLimitError),
        (ServerError(503), litellm.ServiceUnavailableError),
        (ContextLengthExceeded(), litellm.ContextWindowExceededError),
        (ContentPolicyViolation(), litellm.ContentPolicyViolationError),
        (HTTPError(401), litellm.AuthenticationError),
        (DropConnection(), litellm.InternalServerError),
        (Slow(5), litellm.Timeout),
    ],
)
async def test_async_completion_raises_same_classes(
    provider: FakeProvider, behaviour: Behaviour, exception: type[Exception]
) -> None:
    provider.script(MODEL, behaviour)

    with pytest.raises(exception) as caught:
        await acomplete(provider, timeout=0.2)

    assert caught.type is exception


async def test_async_streamed_reply_and_stream_failure(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("a b c"), StreamFailure(after_chunks=1, content="a"))

    stream = await acomplete(provider, stream=True)
    assert "".join([chunk.choices[0].delta.content or "" async for chunk in stream]) == "a b c"

    received: list[str] = []
    stream = await acomplete(provider, stream=True)
    with pytest.raises(MidStreamFallbackError):
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert received == ["a"]


# -- litellm's retries, counted on the wire ----------------------------------------------------------------


def test_litellm_retries_twice_by_default_through_the_openai_client(provider: FakeProvider) -> None:
    provider.default(MODEL, RateLimit(retry_after=0.001))

    with pytest.raises(litellm.RateLimitError):
        complete(provider, num_retries=None, max_retries=None)

    assert provider.requests(MODEL) == 3


@pytest.mark.parametrize("off", [{"num_retries": 0}, {"max_retries": 0}], ids=["num_retries", "max_retries"])
def test_either_retry_setting_at_zero_sends_one_request(provider: FakeProvider, off: dict[str, int]) -> None:
    provider.default(MODEL, ServerError(500))

    with pytest.raises(litellm.InternalServerError):
        complete(provider, **{"num_retries": None, "max_retries": None, **off})

    assert provider.requests(MODEL) == 1


# -- scripting, counting, inspection --------------------------------------------------------------------


def test_script_is_consumed_in_order_then_default_applies(provider: FakeProvider) -> None:
    provider.script(MODEL, Reply("first"), ServerError(500))
    provider.script(MODEL, Reply("third"))
    provider.default(MODEL, Reply("always"))

    assert complete(provider).choices[0].message.content == "first"
    with pytest.raises(litellm.InternalServerError):
        complete(provider)
    assert complete(provider).choices[0].message.content == "third"
    assert [complete(provider).choices[0].message.content for _ in range(2)] == ["always", "always"]


def test_scripts_are_per_model(provider: FakeProvider) -> None:
    provider.script("model-a", Reply("a"))
    provider.default("model-b", ServerError(503))

    assert complete(provider, "model-a").choices[0].message.content == "a"
    assert complete(provider, "model-c").choices[0].message.content == "ok"
    with pytest.raises(litellm.ServiceUnavailableError):
        complete(provider, "model-b")
    assert [provider.requests(m) for m in ("model-a", "model-b", "model-c", "model-d")] == [1, 1, 1, 0]


def test_openai_prefixed_model_names_are_the_same_model(provider: FakeProvider) -> None:
    provider.script(f"openai/{MODEL}", Reply("prefixed"))

    assert complete(provider).choices[0].message.content == "prefixed"
    assert provider.requests(f"openai/{MODEL}") == provider.requests(MODEL) == 1


def test_request_counts_are_exact_under_concurrency(provider: FakeProvider) -> None:
    provider.script(MODEL, *[RateLimit()] * 10)

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda i: post(provider, {"model": MODEL, "n": i})[0], range(20)))

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
        with pytest.raises((litellm.InternalServerError, litellm.NotFoundError)):
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


def test_unknown_path_is_404_and_not_counted(provider: FakeProvider) -> None:
    status, _, body = post(provider, {"model": MODEL}, path="/v1/embeddings")

    assert status == 404 and "error" in body
    assert provider.requests(MODEL) == 0


def test_chat_completions_without_v1_prefix_is_accepted(provider: FakeProvider) -> None:
    status, _, body = post(provider, {"model": MODEL}, path="/chat/completions")

    assert status == 200 and body["choices"][0]["message"]["content"] == "ok"


def test_invalid_json_is_400(provider: FakeProvider) -> None:
    status, _, body = post(provider, b"not json")

    assert status == 400 and body["error"]["type"] == "invalid_request_error"


def test_behaviours_reject_impossible_statuses() -> None:
    with pytest.raises(ValueError, match="5xx"):
        ServerError(404)
    with pytest.raises(ValueError, match="4xx"):
        HTTPError(200)
    with pytest.raises(ValueError, match="after_chunks"):
        StreamFailure(after_chunks=-1)


# -- lifecycle ---------------------------------------------------------------------------------------------


def test_base_url_is_local_v1_and_unavailable_when_stopped() -> None:
    provider = FakeProvider()
    with pytest.raises(RuntimeError, match="not running"):
        _ = provider.base_url

    with provider:
        assert provider.base_url.startswith("http://127.0.0.1:")
        assert provider.base_url.endswith("/v1")
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
    port = int(provider.base_url.split(":")[2].split("/")[0])
    provider.script(MODEL, Slow(30))
    outcome: list[BaseException | int] = []

    def request() -> None:
        try:
            outcome.append(post(provider, {"model": MODEL})[0])
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
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionError | http.client.HTTPException)
    assert provider_threads(port) == []


def test_stop_closes_idle_keep_alive_connections() -> None:
    provider = FakeProvider().start()
    port = int(provider.base_url.split(":")[2].split("/")[0])
    complete(provider)
    assert len(provider_threads(port)) == 2  # server loop + the request thread of litellm's pooled connection

    provider.stop()

    assert provider_threads(port) == []


def test_importing_understudy_testing_does_not_import_litellm() -> None:
    code = "import sys, understudy.testing; print(sorted({'litellm', 'openai'} & set(sys.modules)))"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


def test_fake_provider_fixture_yields_started_provider(fake_provider: FakeProvider) -> None:
    fake_provider.script(MODEL, Reply("from fixture"))

    assert complete(fake_provider).choices[0].message.content == "from fixture"
