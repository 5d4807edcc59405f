"""Streaming: fall back before the first chunk, refuse to splice after it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from understudy import FallbackStream, StreamInterruptedError, served_by
from understudy.testing import RateLimit, Reply, ServerError, StreamFailure

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.events import Event
    from understudy.testing import FakeProvider

HELLO = [{"role": "user", "content": "hello"}]


def text(chunks: list[object]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)  # type: ignore[attr-defined]


@pytest.mark.parametrize("failure", [StreamFailure(after_chunks=0), ServerError(503), RateLimit()])
def test_a_stream_that_fails_before_its_first_chunk_falls_back(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, failure: object
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", failure)
    fake_provider.script("backup", Reply("the whole answer"))
    events: list[Event] = []
    registry.subscribe(events.append)

    stream = registry.get("main").completion(messages=HELLO, stream=True)

    assert isinstance(stream, FallbackStream) and stream.profile == "backup"
    assert served_by(stream) == "backup"
    assert text(list(stream)) == "the whole answer"
    assert [e.kind for e in events] == ["attempt_failed", "fallback_triggered", "fallback_succeeded"]


def test_a_stream_that_fails_after_chunks_raises_instead_of_splicing(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", StreamFailure(after_chunks=2, content="half an"))

    stream = registry.get("main").completion(messages=HELLO, stream=True)
    received = []
    with pytest.raises(StreamInterruptedError) as caught:
        for chunk in stream:
            received.append(chunk)

    assert text(received) == "half an"
    assert (caught.value.profile, caught.value.chunks) == ("main", 2)
    assert (caught.value.text, caught.value.tool_calls, caught.value.usage) == ("half an", [], None)
    assert caught.value.__cause__ is not None
    assert fake_provider.requests("backup") == 0
    assert registry.stats()["main"].interrupted_streams == 1


def test_a_finished_stream_adds_its_usage_to_the_stats(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", "gpt-4o-mini")
    fake_provider.script("gpt-4o-mini", Reply("counted", prompt_tokens=12, completion_tokens=4))

    stream = registry.get("main").completion(messages=HELLO, stream=True, stream_options={"include_usage": True})
    assert text(list(stream)) == "counted"

    stats = registry.stats()["main"]
    assert (stats.calls, stats.successes, stats.prompt_tokens, stats.completion_tokens) == (1, 1, 12, 4)
    assert stats.cost is not None and stats.cost > 0


async def test_async_streams_fall_back_before_the_first_chunk_and_refuse_after(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", StreamFailure(after_chunks=0), StreamFailure(after_chunks=1, content="x"))
    fake_provider.script("backup", Reply("async answer"))
    llm = registry.get("main")

    stream = await llm.acompletion(messages=HELLO, stream=True)
    assert served_by(stream) == "backup"
    assert text([chunk async for chunk in stream]) == "async answer"

    stream = await llm.acompletion(messages=HELLO, stream=True)
    with pytest.raises(StreamInterruptedError):
        async for _ in stream:
            pass


def test_a_stream_without_a_usage_chunk_counts_as_uncosted_not_free(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", "gpt-4o-mini")

    stream = registry.get("main").completion(messages=HELLO, stream=True)
    first = next(stream)  # the stream is an iterator, like litellm's own
    rest = list(stream)

    assert text([first, *rest]) == "ok"
    stats = registry.stats()["main"]
    assert (stats.successes, stats.uncosted_calls, stats.cost) == (1, 1, None)
