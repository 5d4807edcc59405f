"""The openai transport: the real openai client -> the transport -> understudy -> litellm -> the fake provider."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import httpx
import openai
import pytest
from conftest import observe, stats, steps

from understudy.integrations.openai import (
    SERVED_BY_HEADER,
    AsyncUnderstudyTransport,
    UnderstudyTransport,
    async_client,
    client,
    transport,
)
from understudy.testing import HTTPError, RateLimit, Reply, ServerError, Slow, StreamFailure

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import Behaviour, FakeProvider

HELLO: Any = [{"role": "user", "content": "hello"}]
KEY = "sk-test-key-0000"  # the fake profiles' api_key
URL = "http://understudy/v1/chat/completions"


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    """main (no retries) falls back to backup on any provider error."""
    fake_profile("main", num_retries=0, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)


def text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def post(
    registry: LLMRegistry, body: Any = None, *, method: str = "POST", url: str = URL, **kwargs: Any
) -> httpx.Response:
    """One request to the sync transport, read whole, as a raw HTTP response."""
    with httpx.Client(transport=transport(registry, sync=True)) as http:
        return http.request(method, url, json=body, **kwargs)


# -- 1. JSON answers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [RateLimit(), ServerError(503)], ids=["rate-limit", "503"])
@pytest.mark.usefixtures("chain")
def test_a_failing_primary_is_answered_by_its_fallback_with_the_fallbacks_usage(
    registry: LLMRegistry, fake_provider: FakeProvider, failure: Behaviour
) -> None:
    fake_provider.script("main", failure)
    fake_provider.script("backup", Reply("from backup", prompt_tokens=7, completion_tokens=3))

    with client(registry) as openai_client:
        raw = openai_client.chat.completions.with_raw_response.create(model="main", messages=HELLO)
    completion = raw.parse()

    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.choices[0].message.content == "from backup"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (7, 3)  # type: ignore[union-attr]
    assert raw.headers[SERVED_BY_HEADER] == "backup"
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)


@pytest.mark.usefixtures("chain")
async def test_the_async_client_falls_back_the_same_way(registry: LLMRegistry, fake_provider: FakeProvider) -> None:
    fake_provider.script("main", RateLimit())
    fake_provider.script("backup", Reply("from backup", prompt_tokens=7, completion_tokens=3))
    events = observe(registry)

    async with async_client(registry) as openai_client:
        raw = await openai_client.chat.completions.with_raw_response.create(model="main", messages=HELLO)
    completion = raw.parse()

    assert completion.choices[0].message.content == "from backup"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (7, 3)  # type: ignore[union-attr]
    assert raw.headers[SERVED_BY_HEADER] == "backup"
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)
    assert [e.kind for e in events] == ["attempt_failed", "fallback_triggered", "fallback_succeeded"]


def test_events_and_stats_are_the_core_apis(
    fake_profile: WriteProfile, registry: LLMRegistry, twin: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=1, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)
    scenario = (RateLimit(), RateLimit()), (Reply("from backup", prompt_tokens=7, completion_tokens=3),)
    core = twin
    core_events, transport_events = observe(core), observe(registry)

    fake_provider.script("main", *scenario[0])
    fake_provider.script("backup", *scenario[1])
    core.get("main").completion(messages=HELLO)
    fake_provider.script("main", *scenario[0])
    fake_provider.script("backup", *scenario[1])
    with client(registry) as openai_client:
        openai_client.chat.completions.create(model="main", messages=HELLO)

    assert steps(transport_events) == steps(core_events)
    assert [e.kind for e in transport_events] == [
        "attempt_failed",
        "attempt_failed",
        "fallback_triggered",
        "fallback_succeeded",
    ]
    assert stats(registry) == stats(core)
    assert registry.stats()["backup"].prompt_tokens == 7
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (4, 2)


def test_without_a_registry_the_default_search_path_answers(
    fake_profile: WriteProfile, profiles_dir: Path, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERSTUDY_PROFILES_PATH", str(profiles_dir))
    fake_profile("main", num_retries=0)
    fake_provider.script("main", Reply("from the default path"))

    with client() as openai_client:
        completion = openai_client.chat.completions.create(model="main", messages=HELLO)

    assert completion.choices[0].message.content == "from the default path"


# -- 2. SSE answers ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("chain")
def test_a_stream_is_sent_as_server_sent_events_ending_with_done(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", Reply("one two three"))

    response = post(registry, {"model": "main", "messages": HELLO, "stream": True})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers[SERVED_BY_HEADER] == "main"
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert all(event.startswith("data: ") for event in events[:-2])
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert "".join(chunk["choices"][0]["delta"]["content"] or "" for chunk in chunks) == "one two three"


@pytest.mark.usefixtures("chain")
def test_a_stream_failing_before_its_first_chunk_falls_back_with_exact_usage(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=0))
    fake_provider.script("backup", Reply("the whole answer", prompt_tokens=7, completion_tokens=3))

    with client(registry) as openai_client:
        raw = openai_client.chat.completions.with_raw_response.create(
            model="main", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(raw.parse())

    assert raw.headers[SERVED_BY_HEADER] == "backup"
    assert text(chunks) == "the whole answer"
    usage = [c.usage for c in chunks if c.usage is not None]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == [(7, 3)]
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)


@pytest.mark.usefixtures("chain")
async def test_an_async_stream_falls_back_before_its_first_chunk_with_exact_usage(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", ServerError(503))
    fake_provider.script("backup", Reply("the whole answer", prompt_tokens=7, completion_tokens=3))

    async with async_client(registry) as openai_client:
        stream = await openai_client.chat.completions.create(
            model="main", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]

    assert text(chunks) == "the whole answer"
    assert [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage] == [(7, 3)]
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)


@pytest.mark.usefixtures("chain")
def test_a_stream_reaches_the_client_chunk_by_chunk_not_buffered(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", Reply("one two three", prompt_tokens=7, completion_tokens=3))

    with client(registry) as openai_client:
        stream = openai_client.chat.completions.create(
            model="main", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        first = next(stream)
        # understudy books a stream's usage when its usage chunk, the last, passes through its FallbackStream:
        # had the transport read the stream whole before answering, the tokens would be booked already.
        assert first.choices[0].delta.content == "one"
        assert registry.stats_of("main").prompt_tokens == 0
        rest = list(stream)

    assert text([first, *rest]) == "one two three"
    assert registry.stats_of("main").prompt_tokens == 7


@pytest.mark.usefixtures("chain")
async def test_an_async_stream_reaches_the_client_chunk_by_chunk_not_buffered(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", Reply("one two three", prompt_tokens=7, completion_tokens=3))

    async with async_client(registry) as openai_client:
        stream = await openai_client.chat.completions.create(
            model="main", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        first = await stream.__anext__()
        assert first.choices[0].delta.content == "one"
        assert registry.stats_of("main").prompt_tokens == 0  # see the sync test
        rest = [chunk async for chunk in stream]

    assert text([first, *rest]) == "one two three"
    assert registry.stats_of("main").prompt_tokens == 7


@pytest.mark.parametrize("on_interrupt", ["raise", "restart"])
def test_a_stream_broken_after_its_first_chunk_raises_in_the_openai_client(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, on_interrupt: str
) -> None:
    """Even when the profile restarts: a restart marker would reach a client that cannot tell it from an answer."""
    fake_profile("main", fallbacks={"*": ["backup"]}, on_interrupt=on_interrupt)
    fake_profile("backup")
    fake_provider.script("main", StreamFailure(after_chunks=2, content="half an"))

    received = []
    with client(registry) as openai_client:
        stream = openai_client.chat.completions.create(model="main", messages=HELLO, stream=True)
        with pytest.raises(openai.APIError) as caught:
            for chunk in stream:
                received.append(chunk)

    assert text(received) == "half an"
    assert not isinstance(caught.value, openai.APIStatusError)  # raised mid-stream, after the 200
    assert caught.value.code == "stream_interrupted"
    assert "'main' failed after 2 chunk(s)" in caught.value.message
    assert fake_provider.requests("backup") == 0
    assert registry.stats_of("main").interrupted_streams == 1


def test_a_stream_cut_with_on_interrupt_continue_goes_on_in_the_openai_client(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup", assistant_prefill=True)
    fake_provider.script("main", StreamFailure(after_chunks=2, content="Paris is the"))
    fake_provider.script("backup", Reply(" capital of France."))

    with client(registry) as openai_client:
        stream = openai_client.chat.completions.create(
            model="main", messages=HELLO, stream=True, extra_body={"on_interrupt": "continue"}
        )
        received = list(stream)

    assert text(received) == "Paris is the capital of France."
    assert [c.choices[0].finish_reason for c in received if c.choices].count("stop") == 1
    assert fake_provider.received("backup")[0]["messages"][-1]["content"] == "Paris is the"


@pytest.mark.usefixtures("chain")
async def test_an_async_stream_broken_after_its_first_chunk_raises_in_the_openai_client(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=2, content="half an"))

    received = []
    async with async_client(registry) as openai_client:
        stream = await openai_client.chat.completions.create(model="main", messages=HELLO, stream=True)
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                received.append(chunk)

    assert text(received) == "half an"
    assert caught.value.code == "stream_interrupted"
    assert fake_provider.requests("backup") == 0


@pytest.mark.usefixtures("chain")
def test_a_broken_stream_ends_with_an_error_event_and_no_done(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=1))

    response = post(registry, {"model": "main", "messages": HELLO, "stream": True})

    last = response.text.split("\n\n")[-2]
    assert "[DONE]" not in response.text
    assert last.startswith("event: error\ndata: ")
    assert json.loads(last.partition("data: ")[2])["error"]["code"] == "stream_interrupted"


# -- 3. Errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("main_fails", "backup_fails", "status", "error_class"),
    [
        (ServerError(500), RateLimit(), 429, openai.RateLimitError),
        (RateLimit(), ServerError(503), 503, openai.InternalServerError),
    ],
    ids=["ends-on-429", "ends-on-503"],
)
@pytest.mark.usefixtures("chain")
def test_an_exhausted_chain_answers_with_the_last_errors_status(
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    main_fails: Behaviour,
    backup_fails: Behaviour,
    status: int,
    error_class: type[openai.APIStatusError],
) -> None:
    fake_provider.script("main", main_fails)
    fake_provider.script("backup", backup_fails)

    with client(registry) as openai_client, pytest.raises(error_class) as caught:
        openai_client.chat.completions.create(model="main", messages=HELLO)

    error = caught.value
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert error.body["type"] == ("rate_limit_error" if status == 429 else "server_error")
    assert error.body["message"].startswith("every profile failed for 'main': main: ")
    assert "; backup: " in error.body["message"]
    assert [(a["profile"], a["status"]) for a in error.body["attempts"]] == [
        ("main", 500 if status == 429 else 429),
        ("backup", status),
    ]
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)


def test_a_chain_skipped_while_cooling_down_answers_with_the_status_that_cooled_it_down(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, health={"failures": 1})
    fake_profile("backup", health={"failures": 1})
    fake_provider.default("main", ServerError(503))
    fake_provider.default("backup", RateLimit())

    with client(registry) as openai_client:
        with pytest.raises(openai.RateLimitError):
            openai_client.chat.completions.create(model="main", messages=HELLO)
        with pytest.raises(openai.RateLimitError) as caught:  # both cooling down: no request at all
            openai_client.chat.completions.create(model="main", messages=HELLO)

    assert isinstance(caught.value.body, dict)
    assert [a["profile"] for a in caught.value.body["attempts"]] == ["main", "backup"]
    assert "cooling down" in caught.value.body["message"]
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)


@pytest.mark.usefixtures("chain")
def test_an_exhausted_stream_is_an_error_answer_not_a_stream(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", RateLimit())
    fake_provider.script("backup", StreamFailure(after_chunks=0))

    with client(registry) as openai_client, pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(model="main", messages=HELLO, stream=True)

    assert caught.value.response.headers["content-type"] == "application/json"
    assert [a["profile"] for a in caught.value.body["attempts"]] == ["main", "backup"]  # type: ignore[index]


def test_a_broken_fallback_is_named_in_the_exhausted_answer(
    fake_profile: WriteProfile, write_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=0, fallbacks={"*": ["broken"]})
    write_profile("broken", text="model = 3\n")
    fake_provider.script("main", RateLimit())

    with client(registry) as openai_client, pytest.raises(openai.RateLimitError) as caught:
        openai_client.chat.completions.create(model="main", messages=HELLO)

    assert caught.value.body == {
        "message": "every profile failed for 'main': main: RateLimitError (429); broken: not loaded, ProfileError",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
        "attempts": [
            {"profile": "main", "error": "RateLimitError", "status": 429, "loaded": True},
            {"profile": "broken", "error": "ProfileError", "status": None, "loaded": False},
        ],
    }


def test_a_broken_primary_is_a_500_naming_its_file(write_profile: WriteProfile, registry: LLMRegistry) -> None:
    path = write_profile("broken", text="model = 3\n")

    with client(registry) as openai_client, pytest.raises(openai.InternalServerError) as caught:
        openai_client.chat.completions.create(model="broken", messages=HELLO)

    assert caught.value.status_code == 500
    assert caught.value.code == "understudy_config_error"
    assert str(path) in caught.value.message


@pytest.mark.parametrize(
    ("failure", "status", "error_class"),
    [
        (ServerError(503), 503, openai.InternalServerError),
        (HTTPError(401, f"Incorrect API key provided: {KEY}"), 401, openai.AuthenticationError),
    ],
    ids=["503", "401"],
)
def test_a_provider_error_without_a_fallback_keeps_its_own_status(
    fake_profile: WriteProfile,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    failure: Behaviour,
    status: int,
    error_class: type[openai.APIStatusError],
) -> None:
    fake_profile("alone", num_retries=0)
    fake_provider.script("alone", failure)

    with client(registry) as openai_client, pytest.raises(error_class) as caught:
        openai_client.chat.completions.create(model="alone", messages=HELLO)

    assert caught.value.status_code == status
    assert KEY not in caught.value.response.text
    assert fake_provider.requests("alone") == 1


def test_no_answer_holds_the_profiles_key(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=0, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)
    fake_profile("alone", num_retries=0)
    leaky = HTTPError(401, f"Incorrect API key provided: {KEY}")
    fake_provider.script("main", ServerError(503, f"upstream refused key {KEY}"))
    fake_provider.script("backup", leaky)
    fake_provider.script("alone", leaky)

    answers = [post(registry, {"model": name, "messages": HELLO}) for name in ("main", "alone")]

    assert [a.status_code for a in answers] == [401, 401]
    for response in answers:
        assert response.json()["error"]["message"]
        assert KEY not in response.text
        assert KEY not in str(response.headers)


def test_an_unknown_profile_is_a_404_naming_it_and_where_it_was_searched(
    registry: LLMRegistry, profiles_dir: Path
) -> None:
    with client(registry) as openai_client, pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(model="nope", messages=HELLO)

    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert "'nope'" in caught.value.message
    assert str(profiles_dir) in caught.value.message


@pytest.mark.parametrize(
    ("request_kwargs", "status", "param"),
    [
        ({"content": b"{not json"}, 400, None),
        ({"json": ["a", "list"]}, 400, None),
        ({"json": {"messages": HELLO}}, 400, "model"),
        ({"json": {"model": "main"}}, 400, "messages"),
        ({"json": {"model": "main", "messages": HELLO}, "url": "http://understudy/v1/embeddings"}, 404, None),
        ({"method": "GET", "url": "http://understudy/v1/models"}, 404, None),
    ],
    ids=["not-json", "not-an-object", "no-model", "no-messages", "embeddings", "get-models"],
)
@pytest.mark.usefixtures("chain")
def test_a_request_the_transport_cannot_serve_gets_an_openai_style_error(
    registry: LLMRegistry, fake_provider: FakeProvider, request_kwargs: dict[str, Any], status: int, param: str | None
) -> None:
    with httpx.Client(transport=transport(registry, sync=True)) as http:
        response = http.request(request_kwargs.pop("method", "POST"), request_kwargs.pop("url", URL), **request_kwargs)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"]
    assert error["type"] == ("invalid_request_error" if status == 400 else "not_found_error")
    assert error["param"] == param
    assert response.headers["x-should-retry"] == "false"
    assert fake_provider.requests("main") == 0


@pytest.mark.parametrize("field", ["api_key", "api_base", "num_retries"])
@pytest.mark.usefixtures("chain")
def test_a_body_field_the_profile_owns_is_refused(
    registry: LLMRegistry, fake_provider: FakeProvider, field: str
) -> None:
    with client(registry) as openai_client, pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="main", messages=HELLO, extra_body={field: "http://elsewhere"})

    assert f"{field} come from profile 'main'" in caught.value.message
    assert fake_provider.requests("main") == 0


# -- 4. Retries -------------------------------------------------------------------------------------------------


def test_client_switches_the_openai_clients_retries_off(registry: LLMRegistry) -> None:
    assert client(registry).max_retries == 0
    assert async_client(registry).max_retries == 0
    assert client(registry, max_retries=5).max_retries == 5  # asked for; x-should-retry still stops them


@pytest.mark.parametrize(
    ("failure", "error_class"),
    [(RateLimit(), openai.RateLimitError), (ServerError(503), openai.InternalServerError)],
    ids=["429", "503"],
)
@pytest.mark.usefixtures("chain")
def test_a_client_built_by_hand_with_its_default_retries_never_repeats_an_exhausted_chain(
    registry: LLMRegistry, fake_provider: FakeProvider, failure: Behaviour, error_class: type[openai.APIStatusError]
) -> None:
    fake_provider.default("main", failure)
    fake_provider.default("backup", failure)
    http_client = httpx.Client(transport=transport(registry, sync=True))
    # openai 3.x types http_client as an httpx2.Client; it takes an httpx.Client all the same.
    openai_client = openai.OpenAI(api_key="unused", base_url="http://understudy/v1", http_client=http_client)
    assert openai_client.max_retries == 2

    with openai_client, pytest.raises(error_class) as caught:
        openai_client.chat.completions.create(model="main", messages=HELLO)

    assert caught.value.response.headers["x-should-retry"] == "false"
    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)


@pytest.mark.usefixtures("chain")
async def test_an_async_client_built_by_hand_never_repeats_an_exhausted_chain(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", RateLimit())
    http_client = httpx.AsyncClient(transport=transport(registry))

    async with openai.AsyncOpenAI(api_key="unused", base_url="http://understudy/v1", http_client=http_client) as c:
        with pytest.raises(openai.RateLimitError):
            await c.chat.completions.create(model="main", messages=HELLO)

    assert (fake_provider.requests("main"), fake_provider.requests("backup")) == (1, 1)


# -- 5. Parameters ----------------------------------------------------------------------------------------------

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]
SCHEMA: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def test_parameters_reach_the_provider_as_the_core_api_sends_them(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("reasoner", "o3-mini", num_retries=0)  # a model litellm lets take reasoning_effort
    arguments: Any = {
        "messages": HELLO,
        "tools": TOOLS,
        "tool_choice": "auto",
        "response_format": SCHEMA,
        "reasoning_effort": "low",
        "user": "user-42",
        "seed": 3,
    }

    with client(registry) as openai_client:
        openai_client.chat.completions.create(model="reasoner", **arguments)
    registry.get("reasoner").completion(**arguments)

    through_transport, through_core = fake_provider.received("o3-mini")
    assert through_transport == through_core
    assert through_transport["model"] == "o3-mini"
    for name, value in arguments.items():
        assert through_transport[name] == value, name
    assert {"api_key", "api_base", "timeout"}.isdisjoint(through_transport)


def test_a_tool_call_comes_back_in_the_chat_completion(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=0)
    fake_provider.script("main", Reply("", tool_calls=[{"name": "lookup", "arguments": '{"q": "understudy"}'}]))

    with client(registry) as openai_client:
        completion = openai_client.chat.completions.create(model="main", messages=HELLO, tools=TOOLS)

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {"q": "understudy"})
    assert call.id.startswith("call_")
    assert fake_provider.received("main")[0]["tools"] == TOOLS


def test_extra_headers_are_forwarded_but_never_the_clients_credentials(
    write_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    write_profile("main", model="openai/main", api_base=fake_provider.base_url, api_key=KEY, num_retries=0)

    with client(registry, api_key="sk-caller-key-1111", organization="org-caller") as openai_client:
        openai_client.chat.completions.create(model="main", messages=HELLO, extra_headers={"X-Trace-Id": "trace-1"})

    (sent,) = fake_provider.received_headers("main")
    assert sent["x-trace-id"] == "trace-1"
    assert sent["authorization"] == f"Bearer {KEY}"  # the profile's key, not the client's
    assert "sk-caller-key-1111" not in str(sent)
    assert "openai-organization" not in sent


def test_a_request_without_extra_headers_keeps_the_profiles_own(
    write_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    write_profile(
        "main",
        model="openai/main",
        api_base=fake_provider.base_url,
        api_key=KEY,
        num_retries=0,
        params={"extra_headers": {"X-Profile": "kept"}},
    )

    with client(registry) as openai_client:
        openai_client.chat.completions.create(model="main", messages=HELLO)

    (sent,) = fake_provider.received_headers("main")
    assert sent["x-profile"] == "kept"


def test_the_clients_timeout_does_not_cut_a_call_the_profile_allows(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=0, timeout=30)
    fake_provider.script("main", Slow(0.3, Reply("worth the wait")))

    with client(registry) as openai_client:
        completion = openai_client.chat.completions.create(model="main", messages=HELLO, timeout=0.01)

    assert completion.choices[0].message.content == "worth the wait"
    assert "timeout" not in fake_provider.received("main")[0]


def test_the_profiles_timeout_bounds_each_attempt_whatever_the_client_allows(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=0, timeout=0.2, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)
    fake_provider.script("main", Slow(5, Reply("too late")))
    fake_provider.script("backup", Reply("in time"))

    with client(registry, timeout=60) as openai_client:
        raw = openai_client.chat.completions.with_raw_response.create(model="main", messages=HELLO)

    assert raw.parse().choices[0].message.content == "in time"
    assert raw.headers[SERVED_BY_HEADER] == "backup"
    assert registry.stats_of("main").failures_by_type == {"Timeout": 1}


# -- 6. Sync and async transports -------------------------------------------------------------------------------


def test_transport_is_async_unless_asked_for_sync(registry: LLMRegistry) -> None:
    assert isinstance(transport(registry), AsyncUnderstudyTransport)
    assert isinstance(transport(registry), httpx.AsyncBaseTransport)
    assert isinstance(transport(registry, sync=True), UnderstudyTransport)
    assert isinstance(transport(registry, sync=True), httpx.BaseTransport)
    assert transport(registry).registry is registry


def test_client_refuses_an_http_client_of_its_own(registry: LLMRegistry) -> None:
    with pytest.raises(TypeError, match="transport"):
        client(registry, http_client=httpx.Client())


async def test_the_async_transport_leaves_the_event_loop_free_during_a_call(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=0)
    fake_provider.script("main", Slow(0.5, Reply("done")))

    async with async_client(registry) as openai_client:
        call = asyncio.create_task(openai_client.chat.completions.create(model="main", messages=HELLO))
        for _ in range(2000):  # until the provider holds the request
            if fake_provider.requests("main"):
                break
            await asyncio.sleep(0.005)
        # This coroutine runs while the provider holds the request: the call is awaiting, not blocking the loop.
        assert fake_provider.requests("main") == 1
        assert not call.done()
        completion = await call

    assert completion.choices[0].message.content == "done"


def test_importing_understudy_does_not_import_the_openai_integration() -> None:
    code = "import sys, understudy; print(sorted(m for m in sys.modules if m.startswith('understudy.integrations.')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
