"""``on_interrupt = "continue"``: a stream the provider cut goes on, on a fallback that takes the partial answer."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from conftest import HELLO, observe

from understudy import FallbackExhaustedError, StreamInterruptedError, StreamRestart, served_by
from understudy.testing import HTTPError, Reply, StreamFailure

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
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
