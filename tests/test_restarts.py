"""``on_interrupt = "restart"``: a stream the provider cut after chunks starts its answer again on a fallback."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from conftest import HELLO, observe

from understudy import (
    FallbackExhaustedError,
    MatchRouter,
    RestartingStream,
    StreamInterruptedError,
    StreamRestart,
    route_of,
    served_by,
)
from understudy.testing import Reply, ServerError, Stall, StreamFailure

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import FakeProvider

both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


def read(registry: LLMRegistry, asynchronous: bool, **kwargs: Any) -> list[Any]:
    """Every chunk (markers included) of a streamed hello from main."""

    async def areads() -> list[Any]:
        stream = await registry.get("main").acompletion(messages=HELLO, stream=True, **kwargs)
        return [chunk async for chunk in stream]

    if asynchronous:
        return asyncio.run(areads())
    return list(registry.get("main").completion(messages=HELLO, stream=True, **kwargs))


def answers(chunks: list[Any]) -> list[str]:
    """The text of each answer a stream carried, split at its restart markers."""
    texts = [""]
    for chunk in chunks:
        if isinstance(chunk, StreamRestart):
            texts.append("")
        elif chunk.choices:
            texts[-1] += chunk.choices[0].delta.content or ""
    return texts


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    fake_profile("main", fallbacks={"*": ["backup", "last"]}, health={"enabled": False})
    fake_profile("backup", health={"enabled": False})
    fake_profile("last", health={"enabled": False})


@both
@pytest.mark.usefixtures("chain")
def test_a_cut_stream_restarts_on_the_fallback_after_a_marker(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=2, content="half an"))
    fake_provider.script("backup", Reply("the whole answer"))
    events = observe(registry)

    chunks = read(registry, asynchronous, on_interrupt="restart")

    assert answers(chunks) == ["half an", "the whole answer"]
    (marker,) = [c for c in chunks if isinstance(c, StreamRestart)]
    assert (marker.from_profile, marker.to_profile) == ("main", "backup")
    assert marker.interrupted.text == "half an"
    assert [e.kind for e in events] == ["stream_restarted", "fallback_triggered", "fallback_succeeded"]
    restarted, triggered, succeeded = events
    # (litellm 1.83 passes on a finish it made up for the cut stream: a third chunk)
    assert (restarted.profile, restarted.chunks) == ("main", marker.interrupted.chunks)  # type: ignore[attr-defined]
    assert restarted.error_type == "APIConnectionError"  # type: ignore[attr-defined]
    assert (triggered.from_profile, triggered.to_profile) == ("main", "backup")  # type: ignore[attr-defined]
    assert succeeded.served_by == "backup"  # type: ignore[attr-defined]
    assert len({e.call_id for e in events}) == 1
    assert [fake_provider.requests(n) for n in ("main", "backup", "last")] == [1, 1, 0]
    stats = registry.stats()
    assert (stats["main"].interrupted_streams, stats["backup"].successes) == (1, 1)


@both
def test_the_profile_sets_the_default_and_each_cut_profile_is_passed_over(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup", "last"]}, on_interrupt="restart")
    fake_profile("backup", fallbacks={"*": ["main"]})
    fake_profile("last")
    fake_provider.script("main", StreamFailure(after_chunks=1, content="a"))
    fake_provider.script("backup", StreamFailure(after_chunks=2, content="b b"))
    fake_provider.script("last", Reply("done"))

    chunks = read(registry, asynchronous)

    assert answers(chunks) == ["a", "b b", "done"]
    markers = [(c.from_profile, c.to_profile) for c in chunks if isinstance(c, StreamRestart)]
    assert markers == [("main", "backup"), ("backup", "last")]
    assert [fake_provider.requests(n) for n in ("main", "backup", "last")] == [1, 1, 1]


@both
@pytest.mark.usefixtures("chain")
def test_a_restart_nobody_serves_raises_every_attempt_the_cut_first(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=1))
    fake_provider.script("backup", ServerError(503))
    fake_provider.script("last", ServerError(500))
    received: list[Any] = []

    async def areads() -> None:
        async for chunk in await registry.get("main").acompletion(messages=HELLO, stream=True, on_interrupt="restart"):
            received.append(chunk)

    with pytest.raises(FallbackExhaustedError) as caught:
        if asynchronous:
            asyncio.run(areads())
        else:
            received.extend(registry.get("main").completion(messages=HELLO, stream=True, on_interrupt="restart"))

    assert [a.profile for a in caught.value.attempts] == ["main", "backup", "last"]
    assert not any(isinstance(c, StreamRestart) for c in received)


@both
def test_without_a_fallback_for_the_cut_the_stream_raises_as_it_would_without_restart(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"RateLimitError": ["backup"]}, on_interrupt="restart")
    fake_profile("backup")
    fake_provider.script("main", StreamFailure(after_chunks=1))

    with pytest.raises(StreamInterruptedError) as caught:
        read(registry, asynchronous)

    assert caught.value.profile == "main"
    assert fake_provider.requests("backup") == 0


@pytest.mark.usefixtures("chain")
def test_a_stream_that_is_not_cut_reads_as_a_plain_one(registry: LLMRegistry, fake_provider: FakeProvider) -> None:
    fake_provider.script("main", Reply("fine"))

    stream = registry.get("main").completion(messages=HELLO, stream=True, on_interrupt="restart")
    chunks = list(stream)

    assert isinstance(stream, RestartingStream)
    assert answers(chunks) == ["fine"]
    assert (served_by(stream), stream.profile, stream.restarts) == ("main", "main", [])


@pytest.mark.usefixtures("chain")
def test_on_interrupt_takes_raise_or_restart_only(registry: LLMRegistry) -> None:
    with pytest.raises(ValueError, match='on_interrupt must be "raise", "restart" or "continue", not \'again\''):
        registry.get("main").completion(messages=HELLO, stream=True, on_interrupt="again")


@pytest.mark.usefixtures("chain")
def test_reading_on_after_a_failed_restart_ends_the_stream_without_a_second_walk(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", StreamFailure(after_chunks=1))
    fake_provider.script("backup", ServerError(503))
    fake_provider.script("last", ServerError(503))
    events = observe(registry)
    stream = registry.get("main").completion(messages=HELLO, stream=True, on_interrupt="restart")

    with pytest.raises(FallbackExhaustedError):
        list(stream)
    assert list(stream) == []  # over: no second restart

    assert [e.kind for e in events].count("fallback_exhausted") == 1
    assert (fake_provider.requests("backup"), registry.stats()["main"].interrupted_streams) == (1, 1)


def test_no_restart_event_when_nothing_restarts(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"RateLimitError": ["backup"]}, on_interrupt="restart")
    fake_profile("backup")
    fake_provider.script("main", StreamFailure(after_chunks=1))
    events = observe(registry)

    with pytest.raises(StreamInterruptedError):
        list(registry.get("main").completion(messages=HELLO, stream=True))

    assert events == []


def test_a_probe_stream_cancelled_mid_read_gives_its_probe_and_connection_back(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", health={"failures": 1, "cooldown": 0.05}, stall_timeout=30)
    fake_provider.script("main", ServerError(503), Stall(30, after_chunks=1))
    with pytest.raises(Exception):  # noqa: B017  # the 503, in whichever class litellm picks
        registry.get("main").completion(messages=HELLO)
    probe_after(registry, 0.05)

    async def cancelled_read() -> None:
        stream = await registry.get("main").acompletion(messages=HELLO, stream=True)  # the probe
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # the caller's own limit: a cancellation inside the read
                async for _ in stream:
                    pass

    asyncio.run(cancelled_read())

    assert registry.health()["main"].reason == "the next call probes whether it recovered"
    assert fake_provider.answering(within=5) == 0


def probe_after(registry: LLMRegistry, cooldown: float) -> None:
    """Wait out a cooldown of ``cooldown`` seconds (a state change, not a timing assert)."""
    deadline = time.monotonic() + 5
    while registry.health()["main"].state == "cooling_down" and time.monotonic() < deadline:
        time.sleep(cooldown / 5)


def test_a_routed_stream_that_restarts_keeps_its_route_and_the_session_follows_who_served(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("fast", fallbacks={"*": ["backup"]}, on_interrupt="restart", health={"enabled": False})
    fake_profile("backup", fallbacks={"*": ["fast"]}, health={"enabled": False})
    fake_provider.script("fast", StreamFailure(after_chunks=1), Reply("again"))
    fake_provider.script("backup", Reply("from backup"))
    agent = registry.get_routed(MatchRouter("fast", [{"match": {"a": 1}, "profile": "fast"}]), stickiness="session")

    stream = agent.completion(messages=HELLO, stream=True, context={"a": 1}, session="s")
    assert answers(list(stream))[-1] == "from backup"

    assert served_by(stream) == "backup"
    assert route_of(stream) == "match:routes[0]"
    state = agent.sessions.get("s")
    assert state is not None and state.stuck_on == "backup"
    # the route's stats count the call for whoever served it, not for the stream that was cut
    stats = registry.route_stats()["match:routes[0]"]
    assert (stats.calls, stats.served_by) == (1, {"backup": 1})
