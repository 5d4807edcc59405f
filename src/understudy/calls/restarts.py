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

Each restart's walk has the call's budget afresh (``deadline``, ``max_attempts``), as the budget of a stream
covers its walk up to its first chunk. The integrations hand SDKs streams that raise: a marker would reach a
consumer that cannot tell it from an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from understudy.calls.responses import carry_route
from understudy.calls.streams import AsyncFallbackStream, FallbackStream
from understudy.errors import Attempt, StreamInterruptedError
from understudy.events import StreamRestarted
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
]

ON_INTERRUPT: Final = ("raise", "restart")


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
    """What the walk of a restart starts from: the cut, what counts as its cause, and who not to try again."""

    interrupted: StreamInterruptedError
    cause: Exception
    tried: frozenset[str]
    secrets: tuple[str, ...] = field(default=(), repr=False)  # the cut profile's, for the walk to mask

    def attempt(self, secrets: set[str]) -> Attempt:
        """The cut stream, as the first attempt of the restart's walk."""
        return Attempt(self.interrupted.profile, self.cause, scrub(self.cause, secrets), 0.0)

    def event(self, base: dict[str, Any], secrets: set[str]) -> StreamRestarted:
        cut = self.interrupted
        error_type, reason = type(self.cause).__name__, scrub(self.cause, secrets)
        return StreamRestarted(**base, profile=cut.profile, chunks=cut.chunks, error_type=error_type, reason=reason)


def interrupt_mode(kwargs: dict[str, Any], profile: Profile) -> Literal["raise", "restart"]:
    """The call's ``on_interrupt=`` (taken out of ``kwargs``), else the primary profile's."""
    mode = kwargs.pop("on_interrupt", None)
    if mode is None:
        return profile.on_interrupt
    if mode not in ON_INTERRUPT:
        raise ValueError(f'on_interrupt must be "raise" or "restart", not {mode!r}')
    return "restart" if mode == "restart" else "raise"


def restarting(response: Any, again: Callable[[Restart], Any]) -> Any:
    """``response`` as a stream that restarts when cut, if it is a stream."""
    return RestartingStream(response, again) if isinstance(response, FallbackStream) else response


def async_restarting(response: Any, again: Callable[[Restart], Awaitable[Any]]) -> Any:
    """The async twin of ``restarting``."""
    return AsyncRestartingStream(response, again) if isinstance(response, AsyncFallbackStream) else response


def cut_cause(interrupted: StreamInterruptedError, model: str) -> Exception:
    """What cut a stream, as the failure kind the fallbacks table knows (``stream_cut``)."""
    cause = interrupted.__cause__
    return stream_cut(cause if isinstance(cause, Exception) else ConnectionError(str(interrupted)), model)


class _Restarting:
    """What both twins share: the stream being read, and its restarts so far (who was cut already)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.restarts: list[StreamRestart] = []

    @property
    def profile(self) -> str:
        """The profile whose answer is being read now."""
        return str(self._stream.profile)

    def _restart(self, interrupted: StreamInterruptedError) -> Restart:
        tried = frozenset(marker.from_profile for marker in self.restarts) | {interrupted.profile}
        profile = self._stream._caller.profile
        return Restart(interrupted, cut_cause(interrupted, profile.model), tried, tuple(profile.secrets()))

    def _marker(self, interrupted: StreamInterruptedError, stream: Any) -> StreamRestart:
        carry_route(self._stream, stream)
        self._stream = stream
        marker = StreamRestart(interrupted.profile, str(stream.profile), interrupted)
        self.restarts.append(marker)
        return marker

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_stream":  # copy and pickle probe before __init__ ran
            raise AttributeError(name)
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} profile={self.profile!r} restarts={len(self.restarts)}>"


class RestartingStream(_Restarting):
    """A ``FallbackStream`` that starts its answer again on the next profile when the provider cuts it."""

    def __init__(self, stream: FallbackStream, again: Callable[[Restart], Any]) -> None:
        super().__init__(stream)
        self._again = again

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._stream)
        except StreamInterruptedError as exc:
            restarted = self._again(self._restart(exc))  # raises when no profile serves
            return self._marker(exc, restarted)

    def close(self) -> None:
        self._stream.close()


class AsyncRestartingStream(_Restarting):
    """The async twin of ``RestartingStream``."""

    def __init__(self, stream: AsyncFallbackStream, again: Callable[[Restart], Awaitable[Any]]) -> None:
        super().__init__(stream)
        self._again = again

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._stream.__anext__()
        except StreamInterruptedError as exc:
            restarted = await self._again(self._restart(exc))
            return self._marker(exc, restarted)

    async def aclose(self) -> None:
        await self._stream.aclose()
