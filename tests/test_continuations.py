"""``on_interrupt = "continue"``: a stream the provider cut goes on, on a fallback that takes the partial answer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from conftest import HELLO, observe

from understudy import FallbackExhaustedError, RestartingStream, StreamInterruptedError, StreamRestart, served_by
from understudy.testing import HTTPError, Reply, Stall, StreamFailure

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.calls.restarts import Restart
    from understudy.testing import FakeProvider

both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
QUIET = {"health": {"enabled": False}}


def read(registry: LLMRegistry, asynchronous: bool, **kwargs: Any) -> list[Any]:
    """Every chunk of a streamed hello from main."""
    kwargs.setdefault("on_interrupt", "continue")

    async def areads() -> list[Any]:
        stream = await registry.get("main").acompletion(messages=HELLO, stream=True, **kwargs)
        return [chunk async for chunk in stream]

    if asynchronous:
        return asyncio.run(areads())
    return list(registry.get("main").completion(messages=HELLO, stream=True, **kwargs))


def text(chunks: list[Any]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def prefill(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text, "prefix": True}


def finishes(chunks: list[Any]) -> list[int]:
    """Where in the stream a chunk says the answer finished."""
    return [i for i, chunk in enumerate(chunks) if chunk.choices and chunk.choices[0].finish_reason]


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    fake_profile("main", fallbacks={"*": ["plain", "backup", "last"]}, **QUIET)
    fake_profile("plain", **QUIET)  # litellm knows nothing of its model: not known to take a prefill
    fake_profile("backup", assistant_prefill=True, **QUIET)
    fake_profile("last", assistant_prefill=True, **QUIET)


@both
@pytest.mark.usefixtures("chain")
def test_a_cut_stream_goes_on_from_the_partial_answer_on_a_fallback_that_takes_a_prefill(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=2, content="Paris is the"))
    fake_provider.script("backup", Reply(" capital of France."))
    events = observe(registry)

    chunks = read(registry, asynchronous)

    assert text(chunks) == "Paris is the capital of France."
    assert not [c for c in chunks if isinstance(c, StreamRestart)]
    # one finish, at the end: a finish litellm made up for the cut stream (1.83 does) never reaches the caller
    assert finishes(chunks) and finishes(chunks)[0] >= len(chunks) - 2
    (sent,) = fake_provider.received("backup")
    assert sent["messages"] == [*HELLO, prefill("Paris is the")]
    assert [fake_provider.requests(n) for n in ("main", "plain", "backup", "last")] == [1, 0, 1, 0]
    kinds = ["stream_continued", "profile_skipped", "fallback_triggered", "fallback_succeeded"]
    assert [e.kind for e in events] == kinds
    continued, skipped = events[0], events[1]
    assert (continued.profile, continued.error_type) == ("main", "APIConnectionError")  # type: ignore[attr-defined]
    assert skipped.profile == "plain"  # type: ignore[attr-defined]
    assert "assistant_prefill = true" in skipped.reason  # type: ignore[attr-defined]
    assert len({e.call_id for e in events}) == 1
    stats = registry.stats()
    assert (stats["main"].interrupted_streams, stats["backup"].successes) == (1, 1)
    assert registry.stats_of("plain").calls == 0


@both
def test_a_fallback_that_refuses_the_prefill_is_skipped_with_its_reason(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup", "last"]}, on_interrupt="continue", **QUIET)
    fake_profile("backup", assistant_prefill=True, **QUIET)
    fake_profile("last", assistant_prefill=True, **QUIET)
    fake_provider.script("main", StreamFailure(after_chunks=1, content="Once"))
    fake_provider.script("backup", HTTPError(400, "the final message must be from the user"))
    fake_provider.script("last", Reply(" upon a time"))
    events = observe(registry)

    chunks = read(registry, asynchronous, on_interrupt=None)  # the profile's own on_interrupt

    assert text(chunks) == "Once upon a time"
    assert served_by(chunks[-1]) in ("last", None)
    skipped = [e for e in events if e.kind == "profile_skipped"]
    assert [e.profile for e in skipped] == ["backup"]  # type: ignore[attr-defined]
    assert "did not take the partial answer as a prefill" in skipped[0].reason  # type: ignore[attr-defined]
    assert "the final message must be from the user" in skipped[0].reason  # type: ignore[attr-defined]
    assert fake_provider.received("last")[0]["messages"][-1] == prefill("Once")


@both
def test_a_second_cut_goes_on_with_everything_received_so_far(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup", "last"]}, **QUIET)
    fake_profile("backup", fallbacks={"*": ["main", "last"]}, assistant_prefill=True, **QUIET)
    fake_profile("last", assistant_prefill=True, **QUIET)
    fake_provider.script("main", StreamFailure(after_chunks=2, content="one two"))
    fake_provider.script("backup", StreamFailure(after_chunks=1, content=" three"))
    fake_provider.script("last", Reply(" four"))
    events = observe(registry)

    chunks = read(registry, asynchronous)

    assert text(chunks) == "one two three four"
    assert fake_provider.received("last")[0]["messages"][-1] == prefill("one two three")
    continued = [e for e in events if e.kind == "stream_continued"]
    assert [e.profile for e in continued] == ["main", "backup"]  # type: ignore[attr-defined]
    assert continued[1].chunks > continued[0].chunks  # type: ignore[attr-defined]
    assert [fake_provider.requests(n) for n in ("main", "backup", "last")] == [1, 1, 1]


@both
@pytest.mark.usefixtures("chain")
def test_a_cut_inside_a_tool_call_is_never_continued(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=1, content="Let me look", tool_call="weather"))
    received: list[Any] = []

    async def areads() -> None:
        async for chunk in await registry.get("main").acompletion(messages=HELLO, stream=True, on_interrupt="continue"):
            received.append(chunk)

    with pytest.raises(StreamInterruptedError) as raised:
        if asynchronous:
            asyncio.run(areads())
        else:
            received.extend(registry.get("main").completion(messages=HELLO, stream=True, on_interrupt="continue"))

    assert raised.value.text == "Let me look"
    assert [call["name"] for call in raised.value.tool_calls] == ["weather"]
    assert sum(fake_provider.requests(n) for n in ("plain", "backup", "last")) == 0


@both
@pytest.mark.usefixtures("chain")
def test_a_request_that_constrains_its_answer_raises_instead(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=1, content='{"city": "Pa'))

    with pytest.raises(StreamInterruptedError) as raised:
        read(registry, asynchronous, response_format={"type": "json_object"})

    assert raised.value.text == '{"city": "Pa'
    assert sum(fake_provider.requests(n) for n in ("plain", "backup", "last")) == 0


@both
def test_when_no_fallback_can_go_on_the_call_raises_every_attempt(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["plain", "refuses"]}, **QUIET)
    fake_profile("plain", **QUIET)
    fake_profile("refuses", assistant_prefill=False, **QUIET)
    fake_provider.script("main", StreamFailure(after_chunks=2, content="half an"))

    with pytest.raises(FallbackExhaustedError) as raised:
        read(registry, asynchronous)

    attempts = raised.value.attempts
    assert [(a.profile, a.error_type) for a in attempts] == [
        ("main", "APIConnectionError"),
        ("plain", "ProfileUnfitError"),
        ("refuses", "ProfileUnfitError"),
    ]
    assert "assistant_prefill = false" in attempts[2].message
    assert fake_provider.requests("plain") == fake_provider.requests("refuses") == 0


@both
def test_with_no_fallback_named_the_cut_is_raised_with_all_the_text_received(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, **QUIET)
    fake_profile("backup", assistant_prefill=True, **QUIET)  # names no fallback of its own
    fake_provider.script("main", StreamFailure(after_chunks=2, content="one two"))
    fake_provider.script("backup", StreamFailure(after_chunks=1, content=" three"))
    events = observe(registry)

    with pytest.raises(StreamInterruptedError) as raised:
        read(registry, asynchronous)

    assert (raised.value.profile, raised.value.text) == ("backup", "one two three")
    assert [e.kind for e in events].count("stream_continued") == 1  # none for the cut nobody goes on from


@both
def test_a_model_litellm_knows_takes_a_prefill_in_its_own_format(
    fake_profile: WriteProfile,
    write_profile: WriteProfile,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    asynchronous: bool,
) -> None:
    fake_profile("main", fallbacks={"*": ["claude"]}, **QUIET)
    write_profile(
        "claude",
        model="anthropic/claude-sonnet-4-5",
        api_base=fake_provider.anthropic_base_url,
        api_key="sk-ant-0",
        **QUIET,
    )
    fake_provider.script("main", StreamFailure(after_chunks=2, content="Paris is the"))
    fake_provider.script("claude-sonnet-4-5", Reply(" capital of France."))

    chunks = read(registry, asynchronous)

    assert text(chunks) == "Paris is the capital of France."
    (sent,) = fake_provider.received("claude-sonnet-4-5")
    assert sent["messages"][-1]["role"] == "assistant"
    assert "Paris is the" in str(sent["messages"][-1]["content"])


def test_assistant_prefill_false_overrides_litellms_map(
    fake_profile: WriteProfile, write_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["claude"]}, **QUIET)
    claude = {"api_base": fake_provider.anthropic_base_url, "api_key": "sk-ant-0"}
    write_profile("claude", model="anthropic/claude-sonnet-4-5", assistant_prefill=False, **claude, **QUIET)
    fake_provider.script("main", StreamFailure(after_chunks=2, content="Paris is the"))

    with pytest.raises(FallbackExhaustedError) as raised:
        read(registry, False)

    assert "assistant_prefill = false" in raised.value.attempts[-1].message
    assert fake_provider.requests("claude-sonnet-4-5") == 0


@pytest.mark.usefixtures("chain")
def test_a_provider_that_sends_the_prefill_back_first_is_not_heard_twice(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=2, content="Paris is the"))
    fake_provider.script("backup", Reply("Paris is the capital of France."))  # as Mistral answers a prefix

    assert text(read(registry, False)) == "Paris is the capital of France."


def test_the_prefill_goes_without_its_trailing_whitespace_and_the_seam_has_it_once(
    fake_profile: WriteProfile, write_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["claude"]}, **QUIET)
    claude = {"api_base": fake_provider.anthropic_base_url, "api_key": "sk-ant-0"}
    write_profile("claude", model="anthropic/claude-sonnet-4-5", **claude, **QUIET)
    fake_provider.script("main", StreamFailure(after_chunks=1, content="First paragraph.\n\n"))
    fake_provider.script("claude-sonnet-4-5", Reply("\n\nSecond paragraph."))

    assert text(read(registry, False)) == "First paragraph.\n\nSecond paragraph."
    assert fake_provider.received("claude-sonnet-4-5")[0]["messages"][-1]["content"] in (
        "First paragraph.",
        [{"type": "text", "text": "First paragraph."}],
    )


@both
@pytest.mark.parametrize(
    "where",
    [
        {"params": {"response_format": {"type": "json_object"}}},  # the primary profile's
        {"extra_body": {"response_format": {"type": "json_object"}}},
        {"extra_body": {"n": 2}},
        {"tool_choice": {"type": "function", "function": {"name": "weather"}}},
    ],
    ids=["profile", "extra_body", "n", "tool_choice"],
)
def test_an_answer_whose_shape_is_constrained_anywhere_is_never_continued(
    fake_profile: WriteProfile,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    asynchronous: bool,
    where: dict[str, Any],
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, params=where.get("params", {}), **QUIET)
    fake_profile("backup", assistant_prefill=True, **QUIET)
    fake_provider.script("main", StreamFailure(after_chunks=1, content='{"city": "Pa'))
    call = {key: value for key, value in where.items() if key != "params"}

    with pytest.raises(StreamInterruptedError):
        read(registry, asynchronous, **call)

    assert fake_provider.requests("backup") == 0


def test_a_fallback_whose_own_params_constrain_the_answer_is_passed_over(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["json", "backup"]}, **QUIET)
    fake_profile("json", assistant_prefill=True, params={"response_format": {"type": "json_object"}}, **QUIET)
    fake_profile("backup", assistant_prefill=True, **QUIET)
    fake_provider.script("main", StreamFailure(after_chunks=1, content="Once"))
    fake_provider.script("backup", Reply(" upon a time"))
    events = observe(registry)

    assert text(read(registry, False)) == "Once upon a time"
    (skipped,) = [e for e in events if e.kind == "profile_skipped"]
    assert "constrain it (response_format)" in skipped.reason  # type: ignore[attr-defined]
    assert fake_provider.requests("json") == 0


@pytest.mark.usefixtures("chain")
def test_the_calls_max_tokens_is_lowered_by_what_was_said_and_spent_means_raise(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=3, content="one two three"))
    fake_provider.script("backup", Reply(" four"))

    read(registry, False, max_tokens=10)
    assert 0 < fake_provider.received("backup")[0]["max_tokens"] < 10

    fake_provider.script("main", StreamFailure(after_chunks=3, content="one two three"))
    with pytest.raises(StreamInterruptedError):
        read(registry, False, max_tokens=2)  # the cut answer had used its tokens up: nothing to go on with
    assert fake_provider.requests("backup") == 1


@pytest.mark.usefixtures("chain")
def test_a_callers_own_prefill_is_extended_not_repeated(registry: LLMRegistry, fake_provider: FakeProvider) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=2, content=" upon a"))
    fake_provider.script("backup", Reply(" time"))
    messages = [*HELLO, prefill("Once")]

    chunks = list(registry.get("main").completion(messages=messages, stream=True, on_interrupt="continue"))

    assert text(chunks) == " upon a time"  # the caller's prefill is its own: the stream carries what follows
    assert fake_provider.received("backup")[0]["messages"] == [*HELLO, prefill("Once upon a")]


@both
def test_a_stream_whole_at_its_finish_reason_is_not_continued_when_it_stalls_after(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]}, stall_timeout=0.5, timeout=0.5, **QUIET)
    fake_profile("backup", assistant_prefill=True, **QUIET)
    # the words and the finish go out, then silence before the usage chunk and [DONE]
    fake_provider.script("main", Stall(30, after_chunks=4, then=Reply("Paris is France.")))

    chunks = read(registry, asynchronous, stream_options={"include_usage": True})

    assert text(chunks) == "Paris is France."
    assert fake_provider.requests("backup") == 0
    assert registry.stats_of("main").interrupted_streams == 0


# -- the seam, on plain fakes ------------------------------------------------------------------------------------


class Cut:
    """Enough of a ``FallbackStream`` for the restarting stream: its chunks, then a cut (or the end)."""

    def __init__(self, name: str, chunks: list[Any], *, cut: bool) -> None:
        self.profile = name
        self._chunks = iter(chunks)
        self._cut = cut
        self._caller = SimpleNamespace(profile=SimpleNamespace(model=f"openai/{name}", secrets=list))

    def __next__(self) -> Any:
        try:
            return next(self._chunks)
        except StopIteration:
            if self._cut:
                raise StreamInterruptedError(self.profile, 2, ConnectionError("cut")) from None
            raise


def chunk(content: str | None, finish: str | None = None) -> Any:
    return SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=content), finish_reason=finish)])


def test_text_in_a_finish_the_cut_stream_made_up_reaches_the_caller_and_the_prefill() -> None:
    first = Cut("main", [chunk("Paris is"), chunk(" the", "stop")], cut=True)  # text and finish in one chunk
    restarts: list[Restart] = []

    def again(restart: Restart) -> Any:
        restarts.append(restart)
        return Cut("backup", [chunk(" capital."), chunk(None, "stop")], cut=False)

    chunks = list(RestartingStream(first, again, continues=True))  # type: ignore[arg-type]

    assert text(chunks) == "Paris is the capital."
    assert restarts[0].prefill == "Paris is the"
    assert finishes(chunks) == [len(chunks) - 1]
