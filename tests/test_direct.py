"""The direct transport: the same scenario through litellm and directly gives the same answers, errors, events,
stats and costs, and the provider receives the same request.

Every scenario runs twice against one fake provider, once over profiles with ``transport = "litellm"`` and once
over the same profiles with ``transport = "direct"``, and compares what a user can see. The oldest and the
newest litellm CI runs hold the direct path to each one's own mapping.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import litellm
import pytest
from conftest import _toml, stats, steps

from understudy import LLMRegistry, ProfileError, ProfileStore, RetryPolicy, served_by
from understudy.calls.direct_call import DirectCall
from understudy.calls.litellm_call import LitellmCall
from understudy.calls.transports import TRANSPORT_ENV
from understudy.testing import (
    ContentFiltered,
    ContentPolicyViolation,
    ContextLengthExceeded,
    DropConnection,
    HTTPError,
    MalformedChunk,
    QuotaExceeded,
    RateLimit,
    Refusal,
    Reply,
    ServerError,
    Slow,
    StreamFailure,
    Unterminated,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from understudy.events import Event
    from understudy.testing import Behaviour, FakeProvider

HELLO = [{"role": "user", "content": "hello"}]
TRANSPORTS = ("litellm", "direct")
NO_HEALTH = {"enabled": False}


class Twins:
    """One registry per transport over the same profiles, and the events each one emitted."""

    def __init__(self, root: Path, provider: FakeProvider) -> None:
        self.root = root
        self.provider = provider
        self.registries: dict[str, LLMRegistry] = {}
        self.events: dict[str, list[Event]] = {}

    def profile(self, name: str, model: str | None = None, **fields: Any) -> None:
        fields.setdefault("health", NO_HEALTH)
        for transport in TRANSPORTS:
            directory = self.root / transport
            directory.mkdir(exist_ok=True)
            text = _toml(
                {
                    "model": f"openai/{model or name}",
                    "api_base": self.provider.base_url,
                    "api_key": "sk-test-key-0000",
                    "transport": transport,
                    **fields,
                }
            )
            (directory / f"{name}.toml").write_text(text, encoding="utf-8")

    def registry(self, transport: str) -> LLMRegistry:
        if transport not in self.registries:
            store = ProfileStore([self.root / transport])
            registry = LLMRegistry(store, retry_policy=RetryPolicy(initial=0.001, max_delay=0.5))
            self.events[transport] = []
            registry.subscribe(self.events[transport].append)
            self.registries[transport] = registry
        return self.registries[transport]

    def both(self, scenario: Callable[[LLMRegistry], Any], script: Callable[[], None] = lambda: None) -> list[Any]:
        """``scenario``'s outcome on each transport, the provider scripted afresh (``script``) before each."""
        outcomes = []
        for transport in TRANSPORTS:
            self.provider.reset()
            script()
            outcomes.append(scenario(self.registry(transport)))
        return outcomes

    def same_story(self, *, usage: bool = True) -> None:
        """Both transports emitted the same events and booked the same stats (but for tokens and cost when not
        ``usage``)."""
        litellm_path, direct_path = (self.registries[t] for t in TRANSPORTS)
        assert story(self.events["direct"]) == story(self.events["litellm"])
        booked = [stats(registry) for registry in (direct_path, litellm_path)]
        if not usage:
            booked = [{name: _without(row, USAGE_FIELDS) for name, row in rows.items()} for rows in booked]
        assert booked[0] == booked[1]


USAGE_FIELDS = frozenset({"prompt_tokens", "completion_tokens", "cost", "uncosted_calls"})


def _without(row: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in fields}


def story(events: list[Event]) -> list[Any]:
    """``steps`` with each error message cut to the class it names: the provider's words are in both, but
    litellm's own wording around them differs between its releases and its sync and async paths."""

    def cut(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("litellm."):
            return value.split(":", 1)[0]
        if isinstance(value, dict):
            return {key: cut(item) for key, item in value.items()}
        if isinstance(value, list):
            return [cut(item) for item in value]
        return value

    return cut(steps(events))


@pytest.fixture
def twins(tmp_path: Path, fake_provider: FakeProvider) -> Twins:
    return Twins(tmp_path, fake_provider)


def outcome(run: Callable[[], Any]) -> tuple[str, Any]:
    """What a user sees of one call: the answer's server, text and tokens, or the error's class and whether it is
    the caller's (a ``BadRequestError``)."""
    try:
        response = run()
    except Exception as exc:
        return type(exc).__name__, isinstance(exc, litellm.BadRequestError)
    return "answer", (served_by(response), response.choices[0].message.content, response.usage.total_tokens)


def complete(name: str = "main", *, asynchronous: bool = False, **kwargs: Any) -> Callable[[LLMRegistry], Any]:
    kwargs.setdefault("messages", HELLO)

    def scenario(registry: LLMRegistry) -> Any:
        llm = registry.get(name)
        if asynchronous:
            return outcome(lambda: asyncio.run(llm.acompletion(**kwargs)))
        return outcome(lambda: llm.completion(**kwargs))

    return scenario


def streamed(*, asynchronous: bool = False, **kwargs: Any) -> Callable[[LLMRegistry], Any]:
    """A streamed call's text, finish reason, server and usage, or where and how it failed."""

    async def collect_async(llm: Any) -> list[Any]:
        return [chunk async for chunk in await llm.acompletion(messages=HELLO, stream=True, **kwargs)]

    def scenario(registry: LLMRegistry) -> Any:
        llm = registry.get("main")
        chunks: list[Any] = []
        try:
            if asynchronous:
                chunks = asyncio.run(collect_async(llm))
            else:
                stream = llm.completion(messages=HELLO, stream=True, **kwargs)
                chunks.extend(stream)
        except Exception as exc:
            return type(exc).__name__, getattr(exc, "text", None)  # litellm 1.83 adds chunks to a cut stream
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        usage = [c.usage.total_tokens for c in chunks if getattr(c, "usage", None)]
        return "stream", (text, finish, usage)

    return scenario


# -- errors: the same class for what the provider sent --------------------------------------------------------------

STATUSES = [400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529]
SHAPES: list[Behaviour] = [
    ContextLengthExceeded(),
    ContentPolicyViolation(),
    QuotaExceeded(),
    RateLimit(retry_after=0.01),
    ServerError(503),
    DropConnection(),
    MalformedChunk(),
    HTTPError(400, "Invalid value for 'temperature'.", code="invalid_value"),
    HTTPError(400, "This model's maximum context length is 8192 tokens."),
]


@pytest.mark.parametrize("status", STATUSES)
def test_each_status_raises_the_class_litellms_path_raises(twins: Twins, status: int) -> None:
    twins.profile("main")

    def scenario(registry: LLMRegistry) -> tuple[str, bool, int | None, bool]:
        with pytest.raises(Exception) as caught:
            registry.get("main").completion(messages=HELLO)
        error = caught.value
        said = "The fake provider says no." in str(error)
        return (
            type(error).__name__,
            isinstance(error, litellm.BadRequestError),
            getattr(error, "status_code", None),
            said,
        )

    litellm_path, direct_path = twins.both(
        scenario, lambda: twins.provider.script("main", HTTPError(status, "The fake provider says no."))
    )
    assert direct_path[:2] == litellm_path[:2]
    assert direct_path[3] and litellm_path[3]  # the provider's words, on both
    # The status the provider sent (litellm 1.83 says 400 for its ContextWindowExceededError of a 413).
    assert direct_path[2] in (litellm_path[2], status)
    twins.same_story()


def test_an_error_carries_the_providers_answer_as_litellms_path_does(twins: Twins) -> None:
    # litellm's classes check for an httpx.Response and put a made-up 400 in place of anything else.
    twins.profile("main")

    def scenario(registry: LLMRegistry) -> tuple[str, int, int]:
        with pytest.raises(litellm.RateLimitError) as caught:
            registry.get("main").completion(messages=HELLO)
        error = caught.value
        return type(error.response).__module__, error.status_code, error.response.status_code

    litellm_path, direct_path = twins.both(scenario, lambda: twins.provider.script("main", RateLimit(retry_after=7)))
    assert direct_path == litellm_path == ("httpx", 429, 429)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: type(shape).__name__)
def test_each_provider_failure_walks_the_same_fallbacks(twins: Twins, shape: Behaviour, asynchronous: bool) -> None:
    twins.profile(
        "main",
        "gpt-4o-mini",
        fallbacks={"ContextWindowExceededError": ["bigger"], "RateLimitError": ["limits"], "*": ["anything"]},
    )
    for name in ("bigger", "limits", "anything"):
        twins.profile(name)
    litellm_path, direct_path = twins.both(
        complete(asynchronous=asynchronous), lambda: twins.provider.script("gpt-4o-mini", shape)
    )
    assert direct_path == litellm_path
    twins.same_story()


def test_a_refusal_counts_as_a_failure_on_both_paths_when_the_profile_says_so(twins: Twins) -> None:
    twins.profile("main", refusal_is_failure=True, fallbacks={"*": ["backup"]})
    twins.profile("backup")
    litellm_path, direct_path = twins.both(complete(), lambda: twins.provider.script("main", Refusal()))
    assert direct_path == litellm_path == ("answer", ("backup", "ok", 15))
    twins.same_story()


def test_a_filtered_answer_falls_back_on_both_paths(twins: Twins) -> None:
    twins.profile("main", fallbacks={"ContentPolicyViolationError": ["backup"]})
    twins.profile("backup")
    litellm_path, direct_path = twins.both(complete(), lambda: twins.provider.script("main", ContentFiltered()))
    assert direct_path == litellm_path == ("answer", ("backup", "ok", 15))
    twins.same_story()


# -- answers: the same response, cost and stats ---------------------------------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_rate_limited_primary_and_its_fallback_book_the_same_costs(twins: Twins, asynchronous: bool) -> None:
    twins.profile("main", "gpt-4o-mini", fallbacks={"RateLimitError": ["backup"]})
    twins.profile("backup", "my-local-model")  # a model litellm cannot price
    litellm_path, direct_path = twins.both(
        complete(asynchronous=asynchronous),
        lambda: twins.provider.script("gpt-4o-mini", RateLimit(), Reply("first")),
    )
    assert direct_path == litellm_path == ("answer", ("backup", "ok", 15))
    twins.same_story()

    served = [twins.registries[t].get("main").completion(messages=HELLO) for t in TRANSPORTS]
    costs = [twins.registries[t].get("main").cost_of(response) for t, response in zip(TRANSPORTS, served, strict=True)]
    assert costs[0] == pytest.approx(4.5e-06) and costs[1] == costs[0]  # 10 in, 5 out at gpt-4o-mini's price
    assert [twins.registries[t].stats()["main"].cost for t in TRANSPORTS] == [pytest.approx(4.5e-06)] * 2
    assert [twins.registries[t].stats()["backup"].cost for t in TRANSPORTS] == [None, None]
    assert type(served[1]) is type(served[0])
    assert served[1]._hidden_params["custom_llm_provider"] == "openai"


def test_tool_calls_come_back_as_litellms_objects(twins: Twins) -> None:
    twins.profile("main")
    call = Reply("", tool_calls=[{"name": "lookup", "arguments": '{"q": "x"}'}])

    def scenario(registry: LLMRegistry) -> Any:
        message = registry.get("main").completion(messages=HELLO).choices[0].message
        return [(type(t).__name__, t.function.name, t.function.arguments) for t in message.tool_calls]

    litellm_path, direct_path = twins.both(scenario, lambda: twins.provider.script("main", call))
    assert direct_path == litellm_path == [("ChatCompletionMessageToolCall", "lookup", '{"q": "x"}')]


def test_the_provider_receives_the_same_request(twins: Twins) -> None:
    twins.profile("main", temperature=0.3, params={"seed": 7, "extra_headers": {"X-Team": "agents"}})
    rich = {
        "max_tokens": 64,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "user": "u-1",
        "metadata": {"trace": "never sent"},
        "extra_body": {"top_k": 3},
        "response_format": {"type": "json_object"},
    }
    allowed = {"user": "u-2", "allowed_openai_params": ["user"]}  # litellm sends it to another model if allowed

    def scenario(registry: LLMRegistry) -> Any:
        registry.get("main").completion(messages=HELLO, **rich)
        registry.get("main").completion(messages=HELLO, **allowed)
        headers = twins.provider.received_headers("main")[0]
        first, second = twins.provider.received("main")
        return first, second.get("user"), headers.get("x-team"), headers.get("authorization")

    litellm_path, direct_path = twins.both(scenario)
    assert direct_path == litellm_path
    body = direct_path[0]
    assert (body["seed"], body["top_k"], body["temperature"], "metadata" in body) == (7, 3, 0.3, False)
    assert direct_path[1:] == ("u-2", "agents", "Bearer sk-test-key-0000")


# -- streams ----------------------------------------------------------------------------------------------------------


STREAM_SHAPES: list[Behaviour] = [
    Reply("the whole answer"),
    StreamFailure(after_chunks=0),
    StreamFailure(after_chunks=2, content="half an"),
    MalformedChunk(after_chunks=1),
    Unterminated(),
    Unterminated(finished=True),
    RateLimit(),
]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("shape", STREAM_SHAPES, ids=repr)
def test_a_stream_tells_the_same_story(twins: Twins, shape: Behaviour, asynchronous: bool) -> None:
    twins.profile("main", "gpt-4o-mini", fallbacks={"*": ["backup"]})
    twins.profile("backup")
    litellm_path, direct_path = twins.both(
        streamed(asynchronous=asynchronous, stream_options={"include_usage": True}),
        lambda: twins.provider.script("gpt-4o-mini", shape),
    )
    assert direct_path == litellm_path
    # litellm 1.83 makes up a finish and an estimated usage for a stream cut short, and books them; the
    # direct path books what the provider sent: no usage.
    twins.same_story(usage=direct_path[0] != "StreamInterruptedError")


# -- what goes direct -------------------------------------------------------------------------------------------------


def test_a_call_with_an_argument_only_litellm_knows_goes_through_litellm(twins: Twins) -> None:
    twins.profile("main")
    assert (
        twins.registry("direct")
        .get("main")
        .completion(messages=HELLO, mock_response="mocked")
        .choices[0]
        .message.content
        == "mocked"
    )
    assert twins.provider.requests("main") == 0


def test_the_environment_sends_openai_profiles_direct_and_a_profile_overrides_it(
    profiles_dir: Path, fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = f'api_base = "{fake_provider.base_url}"\napi_key = "sk-test-key-0000"\n'
    (profiles_dir / "plain.toml").write_text(f'model = "openai/m"\n{common}', encoding="utf-8")
    (profiles_dir / "azure.toml").write_text(f'model = "openai/m"\napi_version = "2024-06-01"\n{common}')
    (profiles_dir / "claude.toml").write_text(f'model = "anthropic/claude-3-5-haiku"\n{common}')
    (profiles_dir / "pinned.toml").write_text(f'model = "openai/m"\ntransport = "litellm"\n{common}')

    def callers() -> dict[str, type]:
        registry = LLMRegistry(ProfileStore([profiles_dir]))
        return {name: type(registry.get(name).caller) for name in ("plain", "azure", "claude", "pinned")}

    monkeypatch.delenv(TRANSPORT_ENV, raising=False)
    assert set(callers().values()) == {LitellmCall}
    monkeypatch.setenv(TRANSPORT_ENV, "direct")
    assert callers() == {"plain": DirectCall, "azure": LitellmCall, "claude": LitellmCall, "pinned": LitellmCall}


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"model": "anthropic/claude-3-5-haiku"}, "model = 'openai/<name>'"),
        ({"model": "openai/m", "api_version": "2024-06-01"}, "takes no api_version"),
    ],
)
def test_a_direct_profile_that_cannot_go_direct_is_refused_with_the_fix(
    profiles_dir: Path, fields: dict[str, str], says: str
) -> None:
    (profiles_dir / "main.toml").write_text(_toml({**fields, "transport": "direct"}), encoding="utf-8")
    (profiles_dir / "other.toml").write_text('model = "openai/m"\n', encoding="utf-8")
    registry = LLMRegistry(ProfileStore([profiles_dir]))
    with pytest.raises(ProfileError) as caught:
        registry.get("main")
    assert "main.toml" in str(caught.value) and "transport" in str(caught.value) and says in str(caught.value)
    assert registry.get("other").name == "other"  # one broken profile never stops the others


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_profile_timeout_is_the_same_timeout_on_both_paths(twins: Twins, asynchronous: bool) -> None:
    twins.profile("main", timeout=0.2, fallbacks={"Timeout": ["backup"]})
    twins.profile("backup")
    litellm_path, direct_path = twins.both(
        complete(asynchronous=asynchronous), lambda: twins.provider.script("main", Slow(5))
    )
    assert direct_path == litellm_path == ("answer", ("backup", "ok", 15))
    twins.same_story()
