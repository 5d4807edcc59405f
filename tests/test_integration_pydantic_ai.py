"""pydantic-ai: a real Agent -> OpenAIChatModel -> the openai transport -> understudy -> litellm -> the fake."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from conftest import observe, stats, steps
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError, ModelRateLimitError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

from understudy.errors import ProfileNotFoundError
from understudy.integrations.pydantic_ai import PROVIDER_NAME, model
from understudy.testing import RateLimit, Reply, ServerError, StreamFailure

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import Behaviour, FakeProvider

HELLO: Any = [{"role": "user", "content": "hello"}]


class Answer(BaseModel):
    word: str
    length: int


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    """main (no retries) falls back to backup on any provider error."""
    fake_profile("main", num_retries=0, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)


def call(name: str, tokens: tuple[int, int], **arguments: Any) -> Reply:
    """A reply that calls tool ``name`` (``final_result`` is pydantic-ai's structured-output tool)."""
    return Reply("", tokens[0], tokens[1], tool_calls=[{"name": name, "arguments": json.dumps(arguments)}])


def lookup_agent(registry: LLMRegistry, looked_up: list[str]) -> Agent[None, Answer]:
    agent = Agent(model("main", registry), output_type=Answer)

    @agent.tool_plain
    def lookup(word: str) -> str:
        """Look a word up."""
        looked_up.append(word)
        return f"{word} has {len(word)} letters"

    return agent


def requests(fake_provider: FakeProvider) -> tuple[int, int]:
    return fake_provider.requests("main"), fake_provider.requests("backup")


# -- 1. Tools and structured output across a fallback ---------------------------------------------------------


@pytest.mark.usefixtures("chain")
async def test_a_tool_loop_runs_across_a_fallback_to_a_structured_output(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    # Turn 1: main is rate-limited, backup asks for the tool. Turn 2: main, recovered, gives the structured output.
    fake_provider.script("main", RateLimit(), call("final_result", word="understudy", length=10, tokens=(31, 9)))
    fake_provider.script("backup", call("lookup", word="understudy", tokens=(17, 4)))
    looked_up: list[str] = []

    result = await lookup_agent(registry, looked_up).run("How long is 'understudy'?")

    assert result.output == Answer(word="understudy", length=10)
    assert looked_up == ["understudy"]
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.requests, usage.tool_calls) == (48, 13, 2, 1)
    assert requests(fake_provider) == (2, 1)
    first, second = fake_provider.received("main")
    (backup,) = fake_provider.received("backup")
    assert {k: v for k, v in backup.items() if k != "model"} == {k: v for k, v in first.items() if k != "model"}
    # backup's tool call and the tool's answer reach main on the second turn, under the call's id.
    assistant, tool = second["messages"][-2:]
    assert tool == {
        "role": "tool",
        "tool_call_id": assistant["tool_calls"][0]["id"],
        "content": "understudy has 10 letters",
    }
    assert {t["function"]["name"] for t in second["tools"]} == {"lookup", "final_result"}
    assert [r.model_name for r in result.all_messages() if r.kind == "response"] == ["backup", "main"]
    assert {r.provider_name for r in result.all_messages() if r.kind == "response"} == {PROVIDER_NAME}


@pytest.mark.parametrize("failure", [RateLimit(), ServerError(503)], ids=["429", "503"])
@pytest.mark.usefixtures("chain")
def test_run_sync_falls_back_on_every_turn(
    registry: LLMRegistry, fake_provider: FakeProvider, failure: Behaviour
) -> None:
    fake_provider.script("main", failure, failure)
    fake_provider.script(
        "backup",
        call("lookup", word="fallback", tokens=(12, 3)),
        call("final_result", word="fallback", length=8, tokens=(20, 6)),
    )
    looked_up: list[str] = []

    result = lookup_agent(registry, looked_up).run_sync("How long is 'fallback'?")

    assert result.output == Answer(word="fallback", length=8)
    assert looked_up == ["fallback"]
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.requests) == (32, 9, 2)
    assert requests(fake_provider) == (2, 2)
    assert registry.stats_of("backup").served_as_fallback == 2


# -- 2. Streams -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [ServerError(503), StreamFailure(after_chunks=0)], ids=["503", "no-chunk"])
@pytest.mark.usefixtures("chain")
async def test_a_stream_falls_back_before_its_first_chunk_with_exact_usage(
    registry: LLMRegistry, fake_provider: FakeProvider, failure: Behaviour
) -> None:
    fake_provider.script("main", failure)
    fake_provider.script("backup", Reply("the whole answer from backup", prompt_tokens=7, completion_tokens=3))
    agent = Agent(model("main", registry))

    async with agent.run_stream("hello") as result:
        deltas = [delta async for delta in result.stream_text(delta=True, debounce_by=None)]

    assert "".join(deltas) == "the whole answer from backup"
    assert len(deltas) > 1  # chunk by chunk, not one buffered answer
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.requests) == (7, 3, 1)
    assert requests(fake_provider) == (1, 1)
    assert fake_provider.received("backup")[0]["stream_options"] == {"include_usage": True}


@pytest.mark.usefixtures("chain")
async def test_a_streamed_structured_output_falls_back_with_exact_usage(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", RateLimit())
    fake_provider.script("backup", call("final_result", word="stream", length=6, tokens=(9, 4)))
    agent = Agent(model("main", registry), output_type=Answer)

    async with agent.run_stream("hello") as result:
        output = await result.get_output()

    assert output == Answer(word="stream", length=6)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 4)
    assert requests(fake_provider) == (1, 1)


@pytest.mark.usefixtures("chain")
async def test_a_stream_broken_after_its_first_chunk_raises_instead_of_a_shorter_answer(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=2, content="half an"))
    agent = Agent(model("main", registry))

    with pytest.raises(ModelHTTPError) as caught:
        async with agent.run_stream("hello") as result:
            await result.get_output()

    error = caught.value
    assert (error.status_code, error.in_stream) == (500, True)  # pydantic-ai's status for an in-stream server_error
    assert isinstance(error.body, dict)
    assert error.body["code"] == "stream_interrupted"
    assert "the stream from profile 'main' failed after" in error.body["message"]
    assert requests(fake_provider) == (1, 0)
    assert registry.stats_of("main").interrupted_streams == 1


# -- 3. An exhausted chain ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("failure", "status"), [(RateLimit(), 429), (ServerError(503), 503)], ids=["429", "503"])
@pytest.mark.parametrize("settings", [None, {"max_retries": 3}], ids=["defaults", "max-retries-3"])
@pytest.mark.usefixtures("chain")
async def test_an_exhausted_chain_is_a_model_http_error_with_the_attempts_and_no_retries(
    registry: LLMRegistry, fake_provider: FakeProvider, failure: Behaviour, status: int, settings: Any
) -> None:
    fake_provider.default("main", failure)
    fake_provider.default("backup", failure)
    agent = Agent(model("main", registry), model_settings=settings)

    with pytest.raises(ModelHTTPError) as caught:
        await agent.run("hello")

    error = caught.value
    assert error.status_code == status
    assert isinstance(error, ModelRateLimitError) == (status == 429)
    assert isinstance(error.body, dict)
    assert [(a["profile"], a["status"]) for a in error.body["attempts"]] == [("main", status), ("backup", status)]
    assert "every profile failed for 'main'" in error.body["message"]
    assert requests(fake_provider) == (1, 1)  # neither the openai client nor pydantic-ai tried again


@pytest.mark.usefixtures("chain")
async def test_an_exhausted_stream_is_the_same_error(registry: LLMRegistry, fake_provider: FakeProvider) -> None:
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", RateLimit())

    with pytest.raises(ModelRateLimitError) as caught:
        async with Agent(model("main", registry)).run_stream("hello") as result:
            await result.get_output()

    assert isinstance(caught.value, ModelHTTPError)
    assert caught.value.status_code == 429
    assert [a["profile"] for a in caught.value.body["attempts"]] == ["main", "backup"]  # type: ignore[index]
    assert requests(fake_provider) == (1, 1)


# -- 4. Events and stats ------------------------------------------------------------------------------------------


async def test_events_and_stats_are_the_core_apis(
    fake_profile: WriteProfile, registry: LLMRegistry, twin: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", num_retries=1, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)
    scenario = (RateLimit(), RateLimit()), (Reply("from backup", prompt_tokens=7, completion_tokens=3),)
    core = twin
    core_events, agent_events = observe(core), observe(registry)

    fake_provider.script("main", *scenario[0])
    fake_provider.script("backup", *scenario[1])
    await core.get("main").acompletion(messages=HELLO)
    fake_provider.script("main", *scenario[0])
    fake_provider.script("backup", *scenario[1])
    result = await Agent(model("main", registry)).run("hello")

    assert result.output == "from backup"
    assert steps(agent_events) == steps(core_events)
    assert [e.kind for e in agent_events] == [
        "attempt_failed",
        "attempt_failed",
        "fallback_triggered",
        "fallback_succeeded",
    ]
    assert stats(registry) == stats(core)
    main, backup = registry.stats_of("main"), registry.stats_of("backup")
    assert (main.calls, main.failures, main.failures_by_type, main.successes) == (2, 2, {"RateLimitError": 2}, 0)
    assert (backup.successes, backup.served_as_fallback, backup.prompt_tokens, backup.completion_tokens) == (1, 1, 7, 3)
    assert requests(fake_provider) == (4, 2)


# -- 5. Capabilities come from the profile's primary model, not its name -----------------------------------------


def test_a_profile_named_like_a_reasoning_model_still_gets_its_temperature(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("o3-mini-like", "gpt-4o", num_retries=0, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)
    fake_provider.script("gpt-4o", RateLimit())
    fake_provider.script("backup", Reply("warm"))
    # What pydantic-ai would guess from the name alone: a reasoning model, which takes no temperature.
    assert dict(OpenAICompatibleProvider.model_profile("o3-mini-like") or {})["openai_supports_reasoning"]
    agent = Agent(model("o3-mini-like", registry), model_settings={"temperature": 0.3})

    assert agent.run_sync("hello").output == "warm"

    (primary,), (fallback,) = fake_provider.received("gpt-4o"), fake_provider.received("backup")
    assert primary["temperature"] == fallback["temperature"] == 0.3


def test_a_profile_whose_primary_is_a_reasoning_model_drops_sampling_settings_it_cannot_take(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    # litellm refuses temperature=0.3 for o3-mini before sending anything (the caller's error: no fallback walks
    # on it), so pydantic-ai must leave it out, as it does for o3-mini itself. The request is shaped for the
    # primary: a fallback gets the same body.
    fake_profile("plain", "o3-mini", num_retries=0, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)
    fake_provider.script("o3-mini", RateLimit())
    fake_provider.script("backup", Reply("cool"))
    llm_model = model("plain", registry)
    assert isinstance(llm_model, OpenAIChatModel)
    assert llm_model.model_name == "plain"
    assert llm_model.profile["openai_supports_reasoning"]
    agent = Agent(llm_model, model_settings={"temperature": 0.3})

    with pytest.warns(UserWarning, match="temperature"):
        assert agent.run_sync("hello").output == "cool"

    (primary,), (fallback,) = fake_provider.received("o3-mini"), fake_provider.received("backup")
    assert "temperature" not in primary
    assert "temperature" not in fallback
    assert primary["model"] == "o3-mini"  # the transport ran the profile the request's model named


# -- 6. Setup -----------------------------------------------------------------------------------------------------


def test_without_a_registry_the_default_search_path_answers(
    fake_profile: WriteProfile, profiles_dir: Path, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNDERSTUDY_PROFILES_PATH", str(profiles_dir))
    fake_profile("main", num_retries=0)
    fake_provider.script("main", Reply("from the default path"))

    assert Agent(model("main")).run_sync("hello").output == "from the default path"


def test_an_unknown_profile_is_refused_when_the_model_is_made(registry: LLMRegistry) -> None:
    with pytest.raises(ProfileNotFoundError, match="'nope'"):
        model("nope", registry)


def test_importing_understudy_does_not_import_pydantic_ai() -> None:
    code = "import sys, understudy, understudy.integrations; sys.exit('pydantic_ai' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
