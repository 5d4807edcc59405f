"""Streams that start their answer again when the provider cuts them: ``on_interrupt = "restart"``.

A stream cut after chunks went out (it broke, stalled past ``stall_timeout``, sent a chunk that is not JSON,
or ended with neither a finish reason nor ``[DONE]``) raises ``StreamInterruptedError`` by default. With
``on_interrupt = "restart"`` (in the primary's profile, or ``on_interrupt=`` per call) the call goes on
instead: a new walk tries the profiles the fallbacks table names for what cut the stream, passing over the
primary and every profile whose stream was cut already, and the stream yields a ``StreamRestart`` marker
before the first chunk of the new answer. Everything received before the marker is void. The walk sends a
``stream_restarted`` event, then the usual ones; if no profile serves, the stream raises what the walk
raised (``FallbackExhaustedError`` holding every attempt, the cut stream's first), or the
``StreamInterruptedError`` itself when the table names no fallback for it.

With ``on_interrupt = "continue"`` the stream goes on instead, with no marker: the next profile is sent the
request with the text received so far as the last message (an assistant prefill, ``"prefix": true``), and
its chunks carry on from there (``understudy.calls.continuations``: what is sent, and how the seam joins).
Only profiles known to take a prefill are tried (``assistant_prefill`` in the profile, else litellm's model
map); the others, and any that answers the prefill with a 400, are skipped with a reason. A continuation is
never spliced into a tool call, nor into an answer the request constrains (a JSON response format, a forced
tool choice, ``n`` > 1): there the stream raises its ``StreamInterruptedError``, and ``restart`` is the
alternative. A finish is held back until the stream ends, so the caller never sees an answer end before its
continuation (litellm 1.83 makes one up for a dropped connection).

Each restart's walk has the call's budget afresh (``deadline``, ``max_attempts``), as the budget of a stream
covers its walk up to its first chunk. The integrations hand SDKs streams that raise: a marker would reach a
consumer that cannot tell it from an answer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from understudy.calls.continuations import (
    Seam,
    caller_prefix,
    content_of,
    continuable,
    finishes,
    prefill_request,
    split_finish,
)
from understudy.calls.responses import carry_route
from understudy.calls.streams import AsyncFallbackStream, FallbackStream
from understudy.errors import Attempt, StreamInterruptedError
from understudy.events import StreamContinued, StreamRestarted
from understudy.failures.kinds import stream_cut
from understudy.redaction import scrub

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from understudy.profiles.profile import Profile

__all__ = [
    "ON_INTERRUPT",
    "AsyncRestartingStream",
    "Restart",
    "RestartingStream",
    "StreamRestart",
    "async_restarting",
    "interrupt_mode",
    "restarting",
    "seamless",
]

Mode = Literal["raise", "restart", "continue"]
ON_INTERRUPT: Final = ("raise", "restart", "continue")


@dataclass(frozen=True, slots=True)
class StreamRestart:
    """The chunk a restarting stream yields when the answer starts over: discard everything before it.

    Shaped like a usage-only chunk (no ``choices``), so code that reads ``chunk.choices`` passes over it.

    Attributes:
        from_profile: the profile whose stream was cut.
        to_profile: the profile whose answer follows.
        interrupted: the cut, with the void partial answer (``text``, ``tool_calls``, ``usage``).
    """

    from_profile: str
    to_profile: str
    interrupted: StreamInterruptedError = field(repr=False)
    choices: tuple[()] = ()
    usage: None = None


@dataclass(frozen=True, slots=True)
class Restart:
    """What the walk of a restart starts from: the cut, what counts as its cause, and who not to try again.

    A continuation has ``said`` (the text the caller received, from every profile) and ``prefix`` (the
    caller's own prefill, if its request ended with one); a restart has ``said = None``.
    """

    interrupted: StreamInterruptedError
    cause: Exception
    tried: frozenset[str]
    secrets: tuple[str, ...] = field(default=(), repr=False)  # the cut profile's, for the walk to mask
    said: str | None = None
    prefix: str = ""
    model: str = ""  # the cut profile's, to count what was said against max_tokens

    @property
    def prefill(self) -> str | None:
        """The text the next profile goes on from; None for a restart."""
        return None if self.said is None else self.prefix + self.said

    def request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments for the walk; a continuation's end with the text so far as a prefill.

        Raises:
            StreamInterruptedError: the cut, when what was said used up the call's ``max_tokens``.
        """
        if not self.prefill or self.said is None:
            return dict(kwargs)
        request = prefill_request(kwargs, self.prefix, self.said, self.model)
        if request is None:
            raise self.interrupted
        return request

    def attempt(self, secrets: set[str]) -> Attempt:
        """The cut stream, as the first attempt of the restart's walk."""
        return Attempt(self.interrupted.profile, self.cause, scrub(self.cause, secrets), 0.0)

    def event(self, base: dict[str, Any], secrets: set[str]) -> StreamRestarted | StreamContinued:
        cut = self.interrupted
        error_type, reason = type(self.cause).__name__, scrub(self.cause, secrets)
        event = StreamRestarted if self.said is None else StreamContinued
        return event(**base, profile=cut.profile, chunks=cut.chunks, error_type=error_type, reason=reason)


def interrupt_mode(kwargs: dict[str, Any], profile: Profile) -> Mode:
    """The call's ``on_interrupt=`` (taken out of ``kwargs``), else the primary profile's; ``continue``
    means ``raise`` for a request whose answer cannot be continued (``continuations.continuable``)."""
    mode = kwargs.pop("on_interrupt", None)
    mode = profile.on_interrupt if mode is None else mode
    if mode not in ON_INTERRUPT:
        raise ValueError(f'on_interrupt must be "raise", "restart" or "continue", not {mode!r}')
    if mode == "continue" and not continuable(kwargs, profile.params):
        return "raise"  # another model going on from a part of a constrained answer could break its shape
    return next(known for known in ON_INTERRUPT if known == mode)


def seamless(call: dict[str, Any], profile: Profile | None) -> dict[str, Any]:
    """``call`` as a stream handed to an SDK makes it: one that goes on when cut with ``continue`` (where the
    call or ``profile`` asks for it; a router's call, with no profile yet, only where the call does), else one
    that raises, since a restart marker would reach a consumer that cannot tell it from an answer."""
    if not call.get("stream"):
        return call
    requested = call.get("on_interrupt")
    if requested is None and profile is not None:
        requested = profile.on_interrupt
    continues = requested == "continue"
    return {**call, "on_interrupt": "continue" if continues else "raise"}


def restarting(
    response: Any,
    again: Callable[[Restart], Any],
    kwargs: dict[str, Any],
    *,
    continues: bool,
    gave_up: Callable[[BaseException], None] | None = None,
) -> Any:
    """``response`` as a stream that restarts (or, with ``continues``, goes on) when cut, if it is a stream.
    ``gave_up`` is told the error when a cut ends the call without a restart (a cut inside a tool call)."""
    if isinstance(response, FallbackStream):
        stream = RestartingStream(response, again, continues=continues, prefix=caller_prefix(kwargs))
        stream.gave_up = gave_up
        return stream
    return response


def async_restarting(
    response: Any,
    again: Callable[[Restart], Awaitable[Any]],
    kwargs: dict[str, Any],
    *,
    continues: bool,
    gave_up: Callable[[BaseException], None] | None = None,
) -> Any:
    """The async twin of ``restarting``."""
    if isinstance(response, AsyncFallbackStream):
        stream = AsyncRestartingStream(response, again, continues=continues, prefix=caller_prefix(kwargs))
        stream.gave_up = gave_up
        return stream
    return response


def cut_cause(interrupted: StreamInterruptedError, model: str) -> Exception:
    """What cut a stream, as the failure kind the fallbacks table knows (``stream_cut``)."""
    cause = interrupted.__cause__
    return stream_cut(cause if isinstance(cause, Exception) else ConnectionError(str(interrupted)), model)


class _Restarting:
    """What both twins share, all but the reading: the stream read now, its restarts so far (who was cut
    already), the chunks ready to hand out, and, continuing, what the caller has and what is held back."""

    def __init__(self, stream: Any, *, continues: bool, prefix: str) -> None:
        self._stream = stream
        self._continues = continues
        self._prefix = prefix
        self.restarts: list[StreamRestart] = []  # one per cut; yielded as markers unless the stream continues
        self._ready: deque[Any] = deque()
        self._said: list[str] = []
        self._sent = 0
        self._held: list[Any] = []  # a finish, and what came after it, until the stream is known to be whole
        self._seam: Seam | None = None
        self._over = False
        self.gave_up: Callable[[BaseException], None] | None = None  # told when a cut ends the call

    @property
    def profile(self) -> str:
        """The profile whose answer is being read now."""
        return str(self._stream.profile)

    def _take(self, chunk: Any) -> None:
        """A chunk read: ready to hand out, or held back (the seam undecided, or a finish, continuing)."""
        if not self._continues:
            self._ready.append(chunk)
            return
        if self._seam is not None:
            released = self._seam.take(chunk)
            if released is None:
                return
            self._seam = None
        else:
            released = [chunk]
        for each in released:
            self._hold_finish(each)

    def _hold_finish(self, chunk: Any) -> None:
        if self._held:  # after a finish, everything waits for the stream's end
            self._held.append(chunk)
        elif not finishes(chunk):
            self._ready.append(chunk)
        else:
            text, finish = split_finish(chunk)
            if text is not None:
                self._ready.append(text)  # the text goes out now; the finish waits for the stream's end
            self._held.append(finish)

    def _end(self) -> None:
        """The stream ended whole: what was held goes out."""
        for chunk in self._seam.flush() if self._seam is not None else ():
            self._hold_finish(chunk)
        self._seam = None
        self._ready.extend(self._held)
        self._held.clear()
        self._over = True

    def _given(self, chunk: Any) -> Any:
        """A chunk handed out: what the caller now has."""
        self._sent += 1
        content = content_of(chunk)
        if content:
            self._said.append(content)
        return chunk

    def _restart(self, interrupted: StreamInterruptedError) -> Restart:
        """What the walk of a restart starts from.

        Raises:
            StreamInterruptedError: continuing, a cut inside a tool call (never spliced), holding everything
                the caller received from every profile.
        """
        said = None
        if self._continues:
            self._held.clear()  # a finish before a cut was made up (a real one ends the stream whole)
            self._seam, self._ready = None, deque()  # the continuation goes on from what the caller has
            said = "".join(self._said)
            interrupted = _total(interrupted, said, self._sent)
            if interrupted.tool_calls:
                if self.gave_up is not None:
                    self.gave_up(interrupted)
                raise interrupted
        tried = frozenset(marker.from_profile for marker in self.restarts) | {interrupted.profile}
        profile = self._stream._caller.profile
        cause = cut_cause(interrupted, profile.model)
        return Restart(interrupted, cause, tried, tuple(profile.secrets()), said, self._prefix, profile.model)

    def _marker(self, restart: Restart, stream: Any) -> StreamRestart | None:
        """Read ``stream`` from now on; the marker to yield, or None when the stream continues."""
        carry_route(self._stream, stream)
        self._stream = stream
        marker = StreamRestart(restart.interrupted.profile, str(stream.profile), restart.interrupted)
        self.restarts.append(marker)
        if restart.prefill:
            self._seam = Seam(restart.prefill)
        return None if self._continues else marker

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_stream":  # copy and pickle probe before __init__ ran
            raise AttributeError(name)
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} profile={self.profile!r} restarts={len(self.restarts)}>"


class RestartingStream(_Restarting):
    """A ``FallbackStream`` that starts its answer again (or goes on with it) on the next profile when the
    provider cuts it."""

    def __init__(
        self, stream: FallbackStream, again: Callable[[Restart], Any], *, continues: bool = False, prefix: str = ""
    ) -> None:
        super().__init__(stream, continues=continues, prefix=prefix)
        self._again = again

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        while not self._ready:
            if self._over:
                raise StopIteration
            try:
                chunk = next(self._stream)
            except StopIteration:
                self._end()
                continue
            except StreamInterruptedError as exc:
                restart = self._restart(exc)
                marker = self._marker(restart, self._again(restart))  # again() raises when no profile serves
                if marker is not None:
                    return marker
                continue
            self._take(chunk)
        return self._given(self._ready.popleft())

    def close(self) -> None:
        self._stream.close()


class AsyncRestartingStream(_Restarting):
    """The async twin of ``RestartingStream``."""

    def __init__(
        self,
        stream: AsyncFallbackStream,
        again: Callable[[Restart], Awaitable[Any]],
        *,
        continues: bool = False,
        prefix: str = "",
    ) -> None:
        super().__init__(stream, continues=continues, prefix=prefix)
        self._again = again

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        while not self._ready:
            if self._over:
                raise StopAsyncIteration
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                self._end()
                continue
            except StreamInterruptedError as exc:
                restart = self._restart(exc)
                marker = self._marker(restart, await self._again(restart))
                if marker is not None:
                    return marker
                continue
            self._take(chunk)
        return self._given(self._ready.popleft())

    async def aclose(self) -> None:
        await self._stream.aclose()


def _total(interrupted: StreamInterruptedError, said: str, sent: int) -> StreamInterruptedError:
    """The cut, as what the caller received from every profile: the text and chunks of all of them."""
    if interrupted.text == said and interrupted.chunks == sent:
        return interrupted
    cause = interrupted.__cause__ if isinstance(interrupted.__cause__, BaseException) else interrupted
    total = StreamInterruptedError(
        interrupted.profile, sent, cause, text=said, tool_calls=interrupted.tool_calls, usage=interrupted.usage
    )
    total.__cause__ = interrupted.__cause__
    return total
