"""Streaming calls: fall back before the first chunk, never splice after it.

A stream that fails before its first chunk has sent the caller nothing, so the call falls back like any
other failure: the call opens the stream and pulls the first chunk inside the attempt. A stream that
fails after chunks went out cannot be continued by another model without gluing two answers together,
so it raises ``StreamInterruptedError`` instead, naming the profile and how much it had sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from understudy.errors import StreamInterruptedError
from understudy.failures.kinds import empty_stream

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from understudy.calls.litellm_call import LitellmCall

__all__ = ["AsyncFallbackStream", "FallbackStream", "open_async_stream", "open_stream"]


class _StreamBase:
    """What both stream twins share: the first chunk, bookkeeping, and the inner stream's attributes."""

    def __init__(self, caller: LitellmCall, inner: Any, first: Any) -> None:
        self._caller = caller
        self._inner = inner
        self._first = first
        self._usage_seen = False
        self._done = False
        if first is None:
            self._finished()  # an empty stream: nothing more will come
        self.chunks = 0
        self.profile = caller.name

    def _seen(self, chunk: Any) -> Any:
        self.chunks += 1
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None and not self._usage_seen:
            self._usage_seen = True
            self._caller.record_stream_usage(usage)
        return chunk

    def _finished(self) -> None:
        if not self._done:
            self._done = True
            if not self._usage_seen:
                # No usage chunk (the caller did not ask for stream_options.include_usage): the tokens and
                # cost of this call are unknown, and the stats must say so rather than count it as free.
                self._caller.book.usage(self._caller.name, prompt_tokens=0, completion_tokens=0, cost=None)

    def _ended(self) -> None:
        """The inner stream stopped: a whole answer, unless the provider never finished it.

        Some litellm releases end a stream whose connection dropped as if it were complete, with a made-up
        ``stop``; litellm's stream still says the provider sent no finish reason, and that is believed.
        """
        if _unfinished(self._inner):
            raise self._interrupted(ConnectionError("the provider's stream ended before the answer was finished"))
        self._finished()

    def _interrupted(self, error: Exception) -> StreamInterruptedError:
        self._finished()
        self._caller.book.interrupted(self._caller.name)
        return StreamInterruptedError(self._caller.name, self.chunks, error)

    def __getattr__(self, name: str) -> Any:
        # Everything else (``_hidden_params``, ``model``, litellm helpers) is the inner stream's.
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} profile={self.profile!r} chunks={self.chunks}>"


class FallbackStream(_StreamBase):
    """Iterates litellm's stream chunks for the profile that served the call."""

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._first is not None:
            first, self._first = self._first, None
            return self._seen(first)
        try:
            chunk = next(self._inner)
        except StopIteration:
            self._ended()
            raise
        except Exception as exc:
            raise self._interrupted(exc) from exc
        return self._seen(chunk)


class AsyncFallbackStream(_StreamBase):
    """The async twin of ``FallbackStream``."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if self._first is not None:
            first, self._first = self._first, None
            return self._seen(first)
        try:
            chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            self._ended()
            raise
        except Exception as exc:
            raise self._interrupted(exc) from exc
        return self._seen(chunk)


def open_stream(caller: LitellmCall, inner: Any) -> FallbackStream:
    """Pull the first chunk (a failure here raises, so the call can fall back) and wrap the rest.

    A stream that ends before its first chunk sent no answer at all (some litellm releases report a connection
    dropped at that point as an empty stream): it raises ``APIConnectionError``, so the call falls back.
    """
    first = next(inner, None)
    if first is None or (_hollow(first) and _unfinished(inner)):
        raise empty_stream(caller.profile.model)
    return FallbackStream(caller, inner, first)


async def open_async_stream(caller: LitellmCall, inner: Any) -> AsyncFallbackStream:
    """The async twin of ``open_stream``."""
    try:
        first = await inner.__anext__()
    except StopAsyncIteration:
        raise empty_stream(caller.profile.model) from None
    if _hollow(first) and _unfinished(inner):
        raise empty_stream(caller.profile.model)
    return AsyncFallbackStream(caller, inner, first)


def _unfinished(inner: Any) -> bool:
    """True when litellm's stream says the provider sent no finish reason (False when it cannot say)."""
    return getattr(inner, "received_finish_reason", "unknown") is None


def _hollow(chunk: Any) -> bool:
    """A first chunk that already finishes the answer and carries nothing: what litellm 1.83's async stream
    makes up when the connection dropped before the provider sent a chunk."""
    choices = getattr(chunk, "choices", None) or []
    if not choices or getattr(chunk, "usage", None) is not None:
        return False
    for choice in choices:
        delta = getattr(choice, "delta", None)
        if getattr(choice, "finish_reason", None) is None or getattr(delta, "role", None):
            return False
        if getattr(delta, "content", None) or getattr(delta, "tool_calls", None):
            return False
    return True
