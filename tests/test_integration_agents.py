"""The OpenAI Agents SDK over understudy, both ways a user reaches it, end to end.

(a) ``LitellmModel(model="understudy/<profile>")`` after ``understudy.integrations.litellm.register(registry)``;
(b) ``OpenAIChatCompletionsModel(model="<profile>", openai_client=understudy.integrations.openai.async_client(...))``.

The real Agents runner, real litellm, real HTTP to the fake provider on 127.0.0.1, nothing patched. Tracing is off:
the SDK would export every run to api.openai.com.
"""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import agents
import litellm
import openai
import pytest
from agents import (
    Agent,
    ModelRetrySettings,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    retry_policies,
)
from agents.extensions.models.litellm_model import LitellmModel
from conftest import observe, stats, steps
from openai.types.shared import Reasoning

from understudy import FallbackExhaustedError, LLMRegistry
from understudy.integrations.litellm import register
from understudy.integrations.openai import async_client
from understudy.testing import RateLimit, Reply, ServerError, StreamFailure

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from agents.models.interface import Model
    from conftest import WriteProfile

    from understudy.testing import Behaviour, FakeProvider

    MakeModel = Callable[[LLMRegistry, str], Model]

HELLO: Any = [{"role": "user", "content": "hello"}]
PARIS = {"name": "get_weather", "arguments": '{"city": "Paris"}'}


@pytest.fixture(autouse=True)
def agents_offline() -> Iterator[None]:
    """No trace export (the SDK's default sends each run to api.openai.com); no provider leaks into other tests."""
    agents.set_tracing_disabled(True)
    providers = list(litellm.custom_provider_map)
    yield
    litellm.custom_provider_map = providers


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    """main (no retries) falls back to backup on any provider error."""
    fake_profile("main", num_retries=0, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)


def via_litellm(registry: LLMRegistry, profile: str) -> Model:
    register(registry)
    return LitellmModel(model=f"understudy/{profile}")


def via_openai(registry: LLMRegistry, profile: str) -> Model:
    return OpenAIChatCompletionsModel(model=profile, openai_client=async_client(registry))


paths = pytest.mark.parametrize("make", [via_litellm, via_openai], ids=["litellm-model", "openai-client"])


def requests(fake_provider: FakeProvider) -> tuple[int, int]:
    return fake_provider.requests("main"), fake_provider.requests("backup")


async def streamed(agent: Agent[Any], prompt: str) -> tuple[Any, str]:
    """``Runner.run_streamed`` drained: the result and the text deltas the caller saw."""
    result = Runner.run_streamed(agent, prompt)
    deltas = [
        event.data.delta
        async for event in result.stream_events()
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
    ]
    return result, "".join(deltas)


def tokens(result: Any) -> tuple[int, int, int]:
    usage = result.context_wrapper.usage
    return usage.requests, usage.input_tokens, usage.output_tokens


# -- 1. a tool loop whose first turn falls back ------------------------------------------------------------------------


@paths
@pytest.mark.parametrize("runner", ["run", "run_sync"])
@pytest.mark.usefixtures("chain")
def test_a_tool_loop_falls_back_on_its_first_turn_and_sums_the_providers_tokens(
    registry: LLMRegistry, fake_provider: FakeProvider, make: MakeModel, runner: str
) -> None:
    ran: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        ran.append(city)
        return f"sunny in {city}"

    fake_provider.script("main", RateLimit(), Reply("Sunny in Paris.", prompt_tokens=11, completion_tokens=4))
    fake_provider.script("backup", Reply("", prompt_tokens=7, completion_tokens=3, tool_calls=[PARIS]))
    agent = Agent(name="forecaster", instructions="Be brief.", model=make(registry, "main"), tools=[get_weather])

    if runner == "run":
        result = asyncio.run(Runner.run(agent, "Weather in Paris?"))
    else:
        result = Runner.run_sync(agent, "Weather in Paris?")

    assert result.final_output == "Sunny in Paris."
    assert ran == ["Paris"]
    # Two model turns for the runner; three requests for the provider (the 429, the backup's tool call, main's text).
    assert tokens(result) == (2, 7 + 11, 3 + 4)
    usages = result.context_wrapper.usage.request_usage_entries
    assert [(u.input_tokens, u.output_tokens) for u in usages] == [(7, 3), (11, 4)]
    assert requests(fake_provider) == (2, 1)
    *_, call, answer = fake_provider.received("main")[1]["messages"]  # the second turn carries the tool's result
    assert call["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert answer == {"role": "tool", "tool_call_id": call["tool_calls"][0]["id"], "content": "sunny in Paris"}


# -- 2. run_streamed ---------------------------------------------------------------------------------------------------


@paths
@pytest.mark.parametrize("failure", [ServerError(503), StreamFailure(after_chunks=0)], ids=["503", "broken-stream"])
@pytest.mark.usefixtures("chain")
def test_a_streamed_run_falls_back_before_its_first_chunk_with_exact_usage_given_include_usage(
    registry: LLMRegistry, fake_provider: FakeProvider, make: MakeModel, failure: Behaviour
) -> None:
    fake_provider.script("main", failure)
    fake_provider.script("backup", Reply("the whole answer", prompt_tokens=7, completion_tokens=3))
    agent = Agent(name="a", model=make(registry, "main"), model_settings=ModelSettings(include_usage=True))

    result, text = asyncio.run(streamed(agent, "hello"))

    assert text == result.final_output == "the whole answer"
    assert tokens(result) == (1, 7, 3)
    assert fake_provider.received("backup")[0]["stream_options"] == {"include_usage": True}
    assert (registry.stats_of("backup").prompt_tokens, registry.stats_of("backup").completion_tokens) == (7, 3)
    assert requests(fake_provider) == (1, 1)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="without ModelSettings(include_usage=True) the Agents SDK sends no stream_options, so no provider sends "
    "usage: LitellmModel adds them only when include_usage is set (agents/extensions/models/litellm_model.py:590), "
    "OpenAIChatCompletionsModel defaults them on only for https://api.openai.com (agents/models/chatcmpl_helpers.py:60"
    ", is_official_openai_base_url); the run reports requests=1 with 0/0 tokens, and understudy's stats 0/0 too",
)
@paths
@pytest.mark.usefixtures("chain")
def test_a_streamed_run_reports_the_providers_usage_without_include_usage(
    registry: LLMRegistry, fake_provider: FakeProvider, make: MakeModel
) -> None:
    fake_provider.script("main", RateLimit())
    fake_provider.script("backup", Reply("the whole answer", prompt_tokens=7, completion_tokens=3))
    agent = Agent(name="a", model=make(registry, "main"))

    result, text = asyncio.run(streamed(agent, "hello"))

    assert text == result.final_output == "the whole answer"
    assert requests(fake_provider) == (1, 1)
    assert tokens(result) == (1, 7, 3)


# -- 3. an exhausted chain ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_streamed"])
@pytest.mark.usefixtures("chain")
def test_litellm_model_an_exhausted_chain_raises_litellms_error_with_every_attempt(
    registry: LLMRegistry, fake_provider: FakeProvider, stream: bool
) -> None:
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", ServerError(503))
    agent = Agent(name="a", model=via_litellm(registry, "main"))

    with pytest.raises(openai.APIStatusError) as caught:
        asyncio.run(streamed(agent, "hello")) if stream else Runner.run_sync(agent, "hello")

    error: Any = caught.value
    assert error.status_code == 503
    if stream:
        # understudy's async stream falls back on litellm's first __anext__, and litellm's stream wrapper wraps any
        # error it raises there for its Router (litellm_core_utils/streaming_handler.py:2939 on 1.110, :2308 on
        # 1.83), keeping understudy's error, status and all, as original_exception.
        assert type(error) is litellm.exceptions.MidStreamFallbackError
        assert error.is_pre_first_chunk
        error = error.original_exception
    assert type(error) is litellm.ServiceUnavailableError
    assert error.status_code == 503
    exhausted = error.__cause__
    assert isinstance(exhausted, FallbackExhaustedError)
    assert [(a.profile, a.error_type) for a in exhausted.attempts] == [
        ("main", "RateLimitError"),
        ("backup", "ServiceUnavailableError"),
    ]
    assert requests(fake_provider) == (1, 1)


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_streamed"])
@pytest.mark.usefixtures("chain")
def test_openai_client_an_exhausted_chain_raises_the_last_status_with_every_attempt(
    registry: LLMRegistry, fake_provider: FakeProvider, stream: bool
) -> None:
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", ServerError(503))
    agent = Agent(name="a", model=via_openai(registry, "main"))

    with pytest.raises(openai.InternalServerError) as caught:
        asyncio.run(streamed(agent, "hello")) if stream else Runner.run_sync(agent, "hello")

    error = caught.value
    assert error.status_code == 503
    assert error.response.headers["x-should-retry"] == "false"
    assert isinstance(error.body, dict)
    assert [(a["profile"], a["error"], a["status"]) for a in error.body["attempts"]] == [
        ("main", "RateLimitError", 429),
        ("backup", "ServiceUnavailableError", 503),
    ]
    assert requests(fake_provider) == (1, 1)


# The Agents runner retries only when ModelSettings.retry says so (agents/model_settings.py:188, default None);
# this is a user who opted in, with the policy that follows the provider's advice.
PROVIDER_SUGGESTED = ModelSettings(
    retry=ModelRetrySettings(
        max_retries=2, backoff={"initial_delay": 0, "max_delay": 0}, policy=retry_policies.provider_suggested()
    )
)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(via_litellm, id="litellm-model"),
        pytest.param(via_openai, id="openai-client"),
    ],
)
@pytest.mark.usefixtures("chain")
def test_an_opted_in_runner_retry_that_follows_the_provider_never_repeats_an_exhausted_chain(
    registry: LLMRegistry, fake_provider: FakeProvider, make: MakeModel
) -> None:
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", ServerError(503))
    agent = Agent(name="a", model=make(registry, "main"), model_settings=PROVIDER_SUGGESTED)

    with pytest.raises(openai.APIStatusError):
        Runner.run_sync(agent, "hello")

    assert requests(fake_provider) == (1, 1)


@pytest.mark.usefixtures("chain")
def test_litellm_model_litellms_own_retries_never_call_a_model_again(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """``extra_args={"num_retries": 2}`` makes litellm retry; understudy answers its retries without a model call."""
    fake_provider.default("main", RateLimit())
    fake_provider.default("backup", ServerError(503))
    settings = ModelSettings(extra_args={"num_retries": 2, "max_retries": 2})
    agent = Agent(name="a", model=via_litellm(registry, "main"), model_settings=settings)

    with pytest.raises(litellm.ServiceUnavailableError) as caught:
        Runner.run_sync(agent, "hello")

    assert isinstance(caught.value.__cause__, FallbackExhaustedError)
    assert requests(fake_provider) == (1, 1)


# -- 4. events and stats -----------------------------------------------------------------------------------------------


@paths
@pytest.mark.parametrize("exhausted", [False, True], ids=["served", "exhausted"])
@pytest.mark.usefixtures("chain")
def test_events_and_stats_are_the_core_apis(
    registry: LLMRegistry, twin: LLMRegistry, fake_provider: FakeProvider, make: MakeModel, exhausted: bool
) -> None:
    backup = ServerError(503) if exhausted else Reply("from backup", prompt_tokens=7, completion_tokens=3)
    core = twin
    core_events, agent_events = observe(core), observe(registry)

    fake_provider.script("main", RateLimit())
    fake_provider.script("backup", backup)
    with pytest.raises(FallbackExhaustedError) if exhausted else nullcontext():
        core.get("main").completion(messages=HELLO)
    fake_provider.script("main", RateLimit())
    fake_provider.script("backup", backup)
    agent = Agent(name="a", model=make(registry, "main"))
    with pytest.raises(openai.APIStatusError) if exhausted else nullcontext():
        Runner.run_sync(agent, "hello")

    assert steps(agent_events) == steps(core_events)
    kinds = ["attempt_failed", "fallback_triggered", "attempt_failed", "fallback_exhausted"]
    assert [e.kind for e in agent_events] == (kinds if exhausted else [*kinds[:2], "fallback_succeeded"])
    assert stats(registry) == stats(core)
    assert registry.stats_of("backup").prompt_tokens == (0 if exhausted else 7)
    assert requests(fake_provider) == (2, 2)


# -- 5. parameters -----------------------------------------------------------------------------------------------------

# The profile's own model takes reasoning_effort (a model litellm does not know takes it only when allowed).
THINKER = {"allowed_openai_params": ["reasoning_effort"]}


@pytest.mark.parametrize(
    ("make", "extra_args"),
    [
        # litellm checks reasoning_effort against the fixed list it gives every custom provider; this lets it through.
        pytest.param(via_litellm, {"allowed_openai_params": ["reasoning_effort"]}, id="litellm-model"),
        # The openai client sends it as it is (and would refuse allowed_openai_params: it is litellm's switch).
        pytest.param(via_openai, None, id="openai-client"),
    ],
)
def test_model_settings_reach_the_provider(
    fake_profile: WriteProfile,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    make: MakeModel,
    extra_args: dict[str, Any] | None,
) -> None:
    fake_profile("thinker", num_retries=0, params=THINKER)
    settings = ModelSettings(
        temperature=0.25,
        extra_headers={"X-Trace-Id": "trace-7"},
        reasoning=Reasoning(effort="low"),
        extra_args=extra_args,
    )
    agent = Agent(name="a", model=make(registry, "thinker"), model_settings=settings)

    assert Runner.run_sync(agent, "hello").final_output == "ok"

    (body,) = fake_provider.received("thinker")
    assert (body["temperature"], body["reasoning_effort"]) == (0.25, "low")
    assert "allowed_openai_params" not in body
    assert fake_provider.received_headers("thinker")[0]["x-trace-id"] == "trace-7"


def test_litellm_model_reasoning_without_allowed_openai_params_is_refused_by_litellm(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("thinker", num_retries=0, params=THINKER)
    settings = ModelSettings(reasoning=Reasoning(effort="low"))
    agent = Agent(name="a", model=via_litellm(registry, "thinker"), model_settings=settings)

    with pytest.raises(litellm.UnsupportedParamsError, match="allowed_openai_params"):
        Runner.run_sync(agent, "hello")

    assert fake_provider.requests("thinker") == 0
