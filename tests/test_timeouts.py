"""Connect, first-token and stall timeouts, and a stream contract that never ends a cut-off answer quietly.

Each fault is the test double's, over real HTTP: a provider that sends its headers and then nothing, a first
chunk that comes late, a stream that stalls, a chunk that is not JSON, a stream without its terminator. The
faults last 30 s, so a timeout that did not fire shows as the wrong profile serving (or a hung test), not as
a clock reading.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from conftest import call, observe

from understudy import StreamInterruptedError, served_by
from understudy.calls.budget import Budget
from understudy.events import AttemptFailed
from understudy.testing import MalformedChunk, Reply, Stall, StreamFailure, Unterminated

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import Behaviour, FakeProvider

HELLO = [{"role": "user", "content": "hello"}]
QUIET = 30.0  # seconds a stalled provider stays quiet: far longer than any timeout below
both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


def read_all(registry: LLMRegistry, asynchronous: bool, **kwargs: Any) -> tuple[Any, list[Any]]:
    """Open a stream from main and read it to the end: (the stream, its chunks)."""
    llm = registry.get("main")
    if not asynchronous:
        stream = llm.completion(messages=HELLO, stream=True, **kwargs)
        return stream, list(stream)

    async def run() -> tuple[Any, list[Any]]:
        stream = await llm.acompletion(messages=HELLO, stream=True, **kwargs)
        return stream, [chunk async for chunk in stream]

    return asyncio.run(run())


def text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.fixture
def chain(fake_profile: WriteProfile) -> None:
    """main falls back to backup on anything; a timeout of 30 s, two retries, health off."""
    off = {"enabled": False}
    fake_profile("main", timeout=QUIET, first_token_timeout=0.3, num_retries=2, fallbacks={"*": ["backup"]}, health=off)
    fake_profile("backup", health=off)


# -- the transport's timeouts ---------------------------------------------------------------------------------


def test_a_profiles_three_timeouts_reach_litellm_as_one_httpx_timeout(
    fake_profile: WriteProfile, registry: LLMRegistry
) -> None:
    fake_profile("main", timeout=60, connect_timeout=2, first_token_timeout=20, stall_timeout=5)
    caller = registry.get("main").caller  # the profile's litellm call, as the walk makes it
    plain, streamed = caller.request({"messages": HELLO}), caller.request({"messages": HELLO, "stream": True})

    assert plain["timeout"] == httpx.Timeout(60, connect=2, read=20)
    assert streamed["timeout"] == httpx.Timeout(60, connect=2, read=20)  # a sync stream: the longer of the two
    fake_profile("plain", timeout=60)
    assert registry.get("plain").caller.request({"messages": HELLO})["timeout"] == 60  # as before


def test_a_deadline_cuts_every_limit_of_an_httpx_timeout() -> None:
    request = {"timeout": httpx.Timeout(60, connect=2, read=20)}
    capped, cut_to = Budget(deadline=1.0).cap(request)
    assert cut_to is not None and cut_to <= 1.0
    timeout = capped["timeout"]
    assert max(timeout.connect, timeout.read, timeout.write, timeout.pool) <= 1.0


@both
@pytest.mark.usefixtures("chain")
def test_a_plain_call_that_gets_headers_and_then_nothing_falls_back_at_its_first_token_timeout(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.default("main", Stall(QUIET, then=Reply("too late")))
    events = observe(registry)

    response = call(registry, asynchronous)

    assert (served_by(response), response.choices[0].message.content) == ("backup", "ok")
    assert fake_provider.requests("main") == 1  # a timeout is not retried: hop on at once
    failed = [e for e in events if isinstance(e, AttemptFailed)]
    assert [(e.error_type, e.will_retry) for e in failed] == [("Timeout", False)]


@both
@pytest.mark.usefixtures("chain")
def test_a_stream_whose_first_chunk_is_late_falls_back_transparently(
    registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_provider.default("main", Stall(QUIET, after_chunks=0, then=Reply("too late")))
    fake_provider.default("backup", Reply("the whole answer"))

    stream, chunks = read_all(registry, asynchronous)

    assert stream.profile == "backup" and text(chunks) == "the whole answer"
    assert fake_provider.requests("main") == 1


def test_an_async_stream_holds_its_first_chunk_and_its_gaps_to_their_own_limits(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """A slow first token within first_token_timeout is fine although it is longer than stall_timeout."""
    fake_profile("main", first_token_timeout=QUIET, stall_timeout=0.3, fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", Stall(0.6, after_chunks=0, then=Reply("worth the wait")))

    stream, chunks = read_all(registry, asynchronous=True)

    assert stream.profile == "main" and text(chunks) == "worth the wait"


@both
def test_a_stream_that_stalls_mid_answer_is_interrupted_with_what_it_had_sent(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    # In sync code the transport holds every read to the longer limit: leave first_token_timeout unset there.
    first_token = 5 if asynchronous else None
    fake_profile("main", timeout=QUIET, first_token_timeout=first_token, stall_timeout=0.3, fallbacks={"*": ["b"]})
    fake_profile("b")
    fake_provider.default("main", Stall(QUIET, after_chunks=2, then=Reply("one two three")))

    with pytest.raises(StreamInterruptedError) as caught:
        read_all(registry, asynchronous)

    assert (caught.value.profile, caught.value.chunks, caught.value.text) == ("main", 2, "one two")
    assert fake_provider.requests("b") == 0  # a started answer is never spliced with another model's
    assert registry.stats()["main"].interrupted_streams == 1


# -- the stream contract: a cut-off answer never ends like a whole one ---------------------------------------------


@both
@pytest.mark.parametrize(
    "fault",
    [MalformedChunk(after_chunks=2, then=Reply("one two three")), Unterminated("one two three")],
    ids=["malformed-chunk", "no-finish-no-done"],
)
def test_a_stream_that_goes_wrong_after_content_is_an_interruption_never_an_end(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, fault: Behaviour, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", fault)

    with pytest.raises(StreamInterruptedError) as caught:
        read_all(registry, asynchronous)

    assert caught.value.profile == "main" and caught.value.text.startswith("one")
    assert caught.value.__cause__ is not None


@both
@pytest.mark.parametrize(
    "fault", [MalformedChunk(after_chunks=0), StreamFailure(after_chunks=0)], ids=["malformed", "dropped"]
)
def test_a_stream_that_goes_wrong_before_its_first_chunk_falls_back(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, fault: Behaviour, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", fault)
    fake_provider.default("backup", Reply("the whole answer"))

    stream, chunks = read_all(registry, asynchronous)

    assert stream.profile == "backup" and text(chunks) == "the whole answer"


@both
def test_a_stream_that_sent_its_finish_reason_but_no_done_is_complete(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main")
    fake_provider.default("main", Unterminated("all of it", finished=True))

    _, chunks = read_all(registry, asynchronous)

    assert text(chunks) == "all of it"
    assert registry.stats()["main"].interrupted_streams == 0


@both
@pytest.mark.parametrize(
    "after_the_finish",
    [Stall(30, after_chunks=4, then=Reply("all of it")), MalformedChunk(4, then=Reply("all of it"))],
    ids=["stall", "malformed"],
)
def test_a_stream_that_fails_after_its_finish_reason_is_complete(
    fake_profile: WriteProfile,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    asynchronous: bool,
    after_the_finish: Behaviour,
) -> None:
    """The words and the finish went out; what fails before the usage chunk or [DONE] does not cut it."""
    fake_profile("main", stall_timeout=0.5, timeout=0.5)
    fake_provider.default("main", after_the_finish)

    _, chunks = read_all(registry, asynchronous, stream_options={"include_usage": True})

    assert text(chunks) == "all of it"
    stats = registry.stats()["main"]
    assert (stats.interrupted_streams, stats.successes) == (0, 1)


@both
def test_a_plain_answer_that_is_not_json_falls_back(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.default("main", MalformedChunk())

    assert served_by(call(registry, asynchronous)) == "backup"


@both
def test_closing_a_stream_early_ends_it(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main")
    fake_provider.default("main", Reply("one two three four"))
    llm = registry.get("main")
    if asynchronous:

        async def run() -> list[Any]:
            stream = await llm.acompletion(messages=HELLO, stream=True)
            await stream.__anext__()
            await stream.aclose()
            return [chunk async for chunk in stream]

        assert asyncio.run(run()) == []
    else:
        stream = llm.completion(messages=HELLO, stream=True)
        next(stream)
        stream.close()
        assert list(stream) == []
    assert registry.stats()["main"].interrupted_streams == 0
