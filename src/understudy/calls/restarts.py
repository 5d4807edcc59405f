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
its chunks carry on from there. Only profiles known to take a prefill are tried (``assistant_prefill`` in the
profile, else litellm's model map); the others, and any that answers the prefill with a 400, are skipped with
a reason. A continuation is never spliced into a tool call, nor into an answer the request constrains (a JSON
response format, a forced tool choice, ``n`` > 1): there the stream raises its ``StreamInterruptedError``, and
``restart`` is the alternative. A finish the cut stream made up before it broke is held back, so the caller
never sees an answer end before its continuation.

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
    "continuable",
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
    """What the walk of a restart starts from: the cut, what counts as its cause, and who not to try again."""

    interrupted: StreamInterruptedError
    cause: Exception
    tried: frozenset[str]
    secrets: tuple[str, ...] = field(default=(), repr=False)  # the cut profile's, for the walk to mask
    prefill: str | None = None  # continue: the text the caller has so far; None: restart

    def request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments for the walk: a continuation ends its messages with the text so far."""
        if not self.prefill:
            return dict(kwargs)
        prefill = {"role": "assistant", "content": self.prefill, "prefix": True}
        return {**kwargs, "messages": [*kwargs.get("messages", ()), prefill]}

    def attempt(self, secrets: set[str]) -> Attempt:
        """The cut stream, as the first attempt of the restart's walk."""
        return Attempt(self.interrupted.profile, self.cause, scrub(self.cause, secrets), 0.0)

    def event(self, base: dict[str, Any], secrets: set[str]) -> StreamRestarted | StreamContinued:
        cut = self.interrupted
        error_type, reason = type(self.cause).__name__, scrub(self.cause, secrets)
        event = StreamRestarted if self.prefill is None else StreamContinued
        return event(**base, profile=cut.profile, chunks=cut.chunks, error_type=error_type, reason=reason)


def interrupt_mode(kwargs: dict[str, Any], profile: Profile) -> Mode:
    """The call's ``on_interrupt=`` (taken out of ``kwargs``), else the primary profile's; ``continue``
    means ``raise`` for a request whose output is constrained (``continuable``)."""
    mode = kwargs.pop("on_interrupt", None) or profile.on_interrupt
    if mode not in ON_INTERRUPT:
        raise ValueError(f'on_interrupt must be "raise", "restart" or "continue", not {mode!r}')
    if mode == "continue" and not continuable(kwargs):
        return "raise"  # another model going on from a part of a constrained answer could break its shape
    return next(known for known in ON_INTERRUPT if known == mode)


def seamless(call: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """``call`` as a stream handed to an SDK makes it: one that goes on when cut with ``continue`` (where the
    call or ``profile`` asks for it), else one that raises, since a restart marker would reach a consumer
    that cannot tell it from an answer."""
    if not call.get("stream"):
        return call
    continues = (call.get("on_interrupt") or profile.on_interrupt) == "continue"
    return {**call, "on_interrupt": "continue" if continues else "raise"}


def continuable(kwargs: dict[str, Any]) -> bool:
    """Whether another model may go on from a partial answer to this request: not when it constrains the
    output (a JSON response format, a forced tool choice, several choices)."""
    response_format = kwargs.get("response_format")
    forced = kwargs.get("tool_choice") not in (None, "auto", "none")
    shaped = response_format is not None and response_format != {"type": "text"}
    return not (forced or shaped or (kwargs.get("n") or 1) > 1)


def restarting(response: Any, again: Callable[[Restart], Any], *, continues: bool = False) -> Any:
    """``response`` as a stream that restarts (or, with ``continues``, goes on) when cut, if it is a stream."""
    return RestartingStream(response, again, continues) if isinstance(response, FallbackStream) else response


def async_restarting(response: Any, again: Callable[[Restart], Awaitable[Any]], *, continues: bool = False) -> Any:
    """The async twin of ``restarting``."""
    if isinstance(response, AsyncFallbackStream):
        return AsyncRestartingStream(response, again, continues)
    return response


def cut_cause(interrupted: StreamInterruptedError, model: str) -> Exception:
    """What cut a stream, as the failure kind the fallbacks table knows (``stream_cut``)."""
    cause = interrupted.__cause__
    return stream_cut(cause if isinstance(cause, Exception) else ConnectionError(str(interrupted)), model)


class _Restarting:
    """What both twins share: the stream being read, its restarts so far (who was cut already), and with
    ``continues`` what the caller has received (the next profile's prefill) and the finish held back."""

    def __init__(self, stream: Any, continues: bool) -> None:
        self._stream = stream
        self._continues = continues
        self.restarts: list[StreamRestart] = []  # one per cut; yielded as markers unless the stream continues
        self._said: list[str] = []
        self._sent = 0
        self._held: list[Any] = []  # a finish, and what came after it, until the stream is known to be whole
        self._over = False

    @property
    def profile(self) -> str:
        """The profile whose answer is being read now."""
        return str(self._stream.profile)

    def _pass(self, chunk: Any) -> Any | None:
        """A chunk read: the one to hand out, or None when it is held back (a finish, while continuing)."""
        if not self._continues:
            return chunk
        if self._held or _finishes(chunk):
            self._held.append(chunk)
            return None
        return self._given(chunk)

    def _given(self, chunk: Any) -> Any:
        self._sent += 1
        choices = getattr(chunk, "choices", None) or ()
        content = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
        if isinstance(content, str):
            self._said.append(content)
        return chunk

    def _release(self) -> Any:
        """The stream ended whole: the next chunk held back, or StopIteration when none is left."""
        self._over = True
        if not self._held:
            raise StopIteration
        return self._given(self._held.pop(0))

    def _restart(self, interrupted: StreamInterruptedError) -> Restart | None:
        """What the walk of a restart starts from; None when the cut must be raised (inside a tool call)."""
        prefill = None
        if self._continues:
            self._held.clear()  # the cut stream's finish was made up: the answer goes on
            interrupted.text = prefill = "".join(self._said)  # everything the caller has, from every profile
            interrupted.chunks = self._sent
            if interrupted.tool_calls:
                return None
        tried = frozenset(marker.from_profile for marker in self.restarts) | {interrupted.profile}
        profile = self._stream._caller.profile
        cause = cut_cause(interrupted, profile.model)
        return Restart(interrupted, cause, tried, tuple(profile.secrets()), prefill)

    def _marker(self, interrupted: StreamInterruptedError, stream: Any) -> StreamRestart | None:
        """Read ``stream`` from now on; the marker to yield, or None when the stream continues."""
        carry_route(self._stream, stream)
        self._stream = stream
        marker = StreamRestart(interrupted.profile, str(stream.profile), interrupted)
        self.restarts.append(marker)
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

    def __init__(self, stream: FallbackStream, again: Callable[[Restart], Any], continues: bool = False) -> None:
        super().__init__(stream, continues)
        self._again = again

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        while not self._over:
            try:
                chunk = next(self._stream)
            except StopIteration:
                break
            except StreamInterruptedError as exc:
                restart = self._restart(exc)
                if restart is None:
                    raise
                marker = self._marker(exc, self._again(restart))  # again() raises when no profile serves
                if marker is not None:
                    return marker
                continue
            passed = self._pass(chunk)
            if passed is not None:
                return passed
        return self._release()

    def close(self) -> None:
        self._stream.close()


class AsyncRestartingStream(_Restarting):
    """The async twin of ``RestartingStream``."""

    def __init__(
        self, stream: AsyncFallbackStream, again: Callable[[Restart], Awaitable[Any]], continues: bool = False
    ) -> None:
        super().__init__(stream, continues)
        self._again = again

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        while not self._over:
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                break
            except StreamInterruptedError as exc:
                restart = self._restart(exc)
                if restart is None:
                    raise
                marker = self._marker(exc, await self._again(restart))
                if marker is not None:
                    return marker
                continue
            passed = self._pass(chunk)
            if passed is not None:
                return passed
        try:
            return self._release()
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._stream.aclose()


def _finishes(chunk: Any) -> bool:
    choices: Any = getattr(chunk, "choices", None) or ()
    return bool(choices) and getattr(choices[0], "finish_reason", None) is not None
