"""Chaos: every fault the test double has, at random, under concurrency; what must hold whatever happens.

Bounded in count and time (about 60 calls, a few seconds): the faults that go quiet last 30 s, and the
profiles' first-token and stall timeouts of 0.3 s cut them. The seed is fixed, so a failure replays.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from conftest import observe

from understudy import FallbackExhaustedError, StreamInterruptedError, StreamRestart, served_by
from understudy.events import FallbackExhausted, FallbackSucceeded
from understudy.testing import (
    DropConnection,
    MalformedChunk,
    RateLimit,
    Reply,
    ServerError,
    Slow,
    Stall,
    StreamFailure,
    Unterminated,
)

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import Behaviour, FakeProvider

HELLO = [{"role": "user", "content": "hello"}]
QUIET = 30.0
DEADLINE = 4.0
LONGER = Reply("an answer of five words")  # so that a fault after two chunks comes before the finish
TOKENS = Reply().prompt_tokens  # every answer the double sends reports this many prompt tokens
FAULTS: list[Behaviour] = [
    RateLimit(),
    ServerError(503),
    ServerError(500),
    DropConnection(),
    Slow(QUIET),  # accepts, then says nothing
    Stall(QUIET),  # headers (or a stream's head), then nothing
    Stall(QUIET, after_chunks=2, then=LONGER),  # a stream that stalls mid-answer
    MalformedChunk(after_chunks=0),
    MalformedChunk(after_chunks=2, then=LONGER),
    StreamFailure(after_chunks=0),
    StreamFailure(after_chunks=2),
    Unterminated(),
]


@pytest.fixture
def chaos(fake_profile: WriteProfile, fake_provider: FakeProvider) -> None:
    """a → b → c → d on any failure; a fails every time, b and c half the time, d a quarter of the time."""
    limits = {"timeout": 5, "first_token_timeout": 0.3, "stall_timeout": 0.3, "num_retries": 1}
    fake_profile("a", fallbacks={"*": ["b", "c", "d"]}, **limits)
    for name in ("b", "c", "d"):
        fake_profile(name, **limits)
    rng = random.Random(20261202)
    for name, share in (("a", 1.0), ("b", 0.5), ("c", 0.5), ("d", 0.25)):
        fake_provider.script(name, *[rng.choice(FAULTS) if rng.random() < share else Reply() for _ in range(400)])


async def one_call(registry: LLMRegistry, stream: bool) -> tuple[str, Any, float]:
    """(outcome, detail, seconds): "served" with the profile, or the documented error's name."""
    started = time.perf_counter()
    llm = registry.get("a")
    try:
        if stream:
            response = await llm.acompletion(
                messages=HELLO, stream=True, stream_options={"include_usage": True}, deadline=DEADLINE
            )
            chunks = [chunk async for chunk in response]
            assert any(c.choices and c.choices[0].finish_reason for c in chunks), "a stream ended unfinished"
            # (a stream whole at its finish reason may have stalled or broken before its usage chunk)
            reported = any(getattr(c, "usage", None) and c.usage.prompt_tokens for c in chunks)
            outcome: tuple[str, Any] = ("served", (response.profile, reported))
        else:
            response = await llm.acompletion(messages=HELLO, deadline=DEADLINE)
            assert response.choices[0].finish_reason == "stop" and response.choices[0].message.content
            outcome = ("served", (served_by(response), True))
    except (FallbackExhaustedError, StreamInterruptedError) as exc:
        outcome = (type(exc).__name__, exc)
    return (*outcome, time.perf_counter() - started)


async def calls_tasks_left() -> list[asyncio.Task[Any]]:
    """The tasks still alive once the calls ended, but for the ones that are not a call's.

    Not a call's: litellm's logging worker, which lives for the loop's life, and the tasks asyncio starts to
    finalize the async generators the garbage collector finds suspended (litellm and the openai client leave
    some behind on every stream, closed or not), which must finish, and soon.
    """
    for _ in range(5):  # a generator's finalization may leave another one to finalize
        gc.collect()
        await asyncio.sleep(0)  # the finalizers' tasks are started by call_soon
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        finalizing = [t for t in others if not hasattr(t.get_coro(), "cr_code")]  # an async generator's aclose()
        if not finalizing:
            break
        _, pending = await asyncio.wait(finalizing, timeout=2)
        assert not pending, f"an async generator's finalization hangs: {pending}"
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    return [t for t in left if "litellm" not in t.get_coro().cr_code.co_filename]  # type: ignore[union-attr]


def sync_call(registry: LLMRegistry) -> tuple[str, Any, float]:
    started = time.perf_counter()
    try:
        response = registry.get("a").completion(messages=HELLO, deadline=DEADLINE)
        assert response.choices[0].finish_reason == "stop" and response.choices[0].message.content
        return "served", (served_by(response), True), time.perf_counter() - started
    except FallbackExhaustedError as exc:
        return type(exc).__name__, exc, time.perf_counter() - started


@pytest.mark.usefixtures("chaos")
def test_under_any_mix_of_faults_every_call_ends_whole_or_in_the_documented_error(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    events = observe(registry)

    async def waves() -> list[tuple[str, Any, float]]:
        results: list[tuple[str, Any, float]] = []
        for wave in range(6):  # in waves, so that the health memory learns between them
            results += await asyncio.gather(*(one_call(registry, stream=(wave + i) % 2 == 0) for i in range(8)))
        assert await calls_tasks_left() == []
        assert fake_provider.answering(within=2.0) == 0  # each silence it was waiting out, the client hung up
        return results

    results = asyncio.run(waves())
    with ThreadPoolExecutor(4) as pool:
        results += list(pool.map(lambda _: sync_call(registry), range(12)))
    assert fake_provider.answering(within=2.0) == 0

    # Every call ended in a whole answer or one documented error, within its deadline (and the slack of one
    # attempt's cleanup).
    assert {outcome for outcome, _, _ in results} <= {"served", "FallbackExhaustedError", "StreamInterruptedError"}
    assert max(seconds for _, _, seconds in results) < DEADLINE + 2
    served = [profile for outcome, (profile, _), _ in _served(results)]
    assert len(served) > len(results) // 2  # the chain answers most calls, although a fails nearly always

    # The tokens in the registry are what the double reported for the answers served, plus what broken streams
    # had reported (litellm 1.83 makes up a usage chunk for a stream that ended unfinished): none lost, none twice.
    reported = sum(usage for _, (_, usage), _ in _served(results))
    broken = [detail.usage for outcome, detail, _ in results if outcome == "StreamInterruptedError" and detail.usage]
    stats = registry.stats()
    assert sum(s.prompt_tokens for s in stats.values()) == TOKENS * reported + sum(u.prompt_tokens for u in broken)

    # One terminal event per call that needed one. A fallback stream's is sent at its first chunk, so a stream
    # a fallback started and then broke has one too.
    exhausted = [e for e in events if isinstance(e, FallbackExhausted)]
    succeeded = [e for e in events if isinstance(e, FallbackSucceeded)]
    assert len(exhausted) == sum(outcome == "FallbackExhaustedError" for outcome, _, _ in results)
    interrupted = [detail.profile for outcome, detail, _ in results if outcome == "StreamInterruptedError"]
    assert len(succeeded) == sum(profile != "a" for profile in served + interrupted)
    assert len({e.call_id for e in exhausted + succeeded}) == len(exhausted) + len(succeeded)

    # The health memory visibly cut what the dead primary was sent: not one request per call and retry.
    assert fake_provider.requests("a") < len(results)
    assert registry.health()["a"].state in {"cooling_down", "half_open"}


def _served(results: list[tuple[str, Any, float]]) -> list[tuple[str, Any, float]]:
    return [result for result in results if result[0] == "served"]


@pytest.fixture(params=["restart", "continue"])
def going_on(request: pytest.FixtureRequest, fake_profile: WriteProfile, fake_provider: FakeProvider) -> str:
    """The chaos chain, its streams going on when cut: ``on_interrupt`` of the parameter, every profile
    taking a prefill."""
    limits = {"timeout": 5, "first_token_timeout": 0.3, "stall_timeout": 0.3, "assistant_prefill": True}
    fake_profile("a", fallbacks={"*": ["b", "c", "d"]}, on_interrupt=request.param, **limits)
    for name, others in (("b", ["c", "d", "a"]), ("c", ["d", "b", "a"]), ("d", ["b", "c", "a"])):
        fake_profile(name, fallbacks={"*": others}, **limits)
    rng = random.Random(20261203)
    for name, share in (("a", 0.9), ("b", 0.5), ("c", 0.5), ("d", 0.25)):
        fake_provider.script(name, *[rng.choice(FAULTS) if rng.random() < share else Reply() for _ in range(200)])
    return str(request.param)


def test_streams_that_go_on_when_cut_end_whole_or_in_the_documented_error(
    going_on: str, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    events = observe(registry)

    async def one_stream() -> tuple[str, float]:
        started = time.perf_counter()
        try:
            response = await registry.get("a").acompletion(messages=HELLO, stream=True, deadline=DEADLINE)
            chunks = [chunk async for chunk in response]
        except (FallbackExhaustedError, StreamInterruptedError) as exc:
            return type(exc).__name__, time.perf_counter() - started
        answer = chunks[max((i for i, c in enumerate(chunks) if isinstance(c, StreamRestart)), default=-1) + 1 :]
        finishes = [i for i, c in enumerate(answer) if c.choices and c.choices[0].finish_reason]
        assert finishes and finishes[0] >= len(answer) - 2, "the answer finished before its end"
        assert going_on == "restart" or len(answer) == len(chunks), "a continued stream yielded a marker"
        return "served", time.perf_counter() - started

    async def waves() -> list[tuple[str, float]]:
        results: list[tuple[str, float]] = []
        for _ in range(4):
            results += await asyncio.gather(*(one_stream() for _ in range(8)))
        assert await calls_tasks_left() == []
        assert fake_provider.answering(within=2.0) == 0
        return results

    results = asyncio.run(waves())

    assert {outcome for outcome, _ in results} <= {"served", "FallbackExhaustedError", "StreamInterruptedError"}
    assert sum(outcome == "served" for outcome, _ in results) > len(results) // 2
    assert max(seconds for _, seconds in results) < DEADLINE * 3  # each restart's walk has the budget afresh
    went_on = [e for e in events if e.kind in ("stream_restarted", "stream_continued")]
    assert {e.kind for e in went_on} == {{"restart": "stream_restarted", "continue": "stream_continued"}[going_on]}
    assert len(went_on) >= 3, "the faults cut too few streams after their first chunk to test going on"
