"""Streaming calls: fall back before the first chunk, never splice after it.

A stream that fails before its first chunk has sent the caller nothing, so the call falls back like any
other failure: the engine opens the stream and pulls the first chunk inside the attempt. A stream that
fails after chunks went out cannot be continued by another model without gluing two answers together,
so it raises ``StreamInterruptedError`` instead, naming the profile and how much it had sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from understudy.errors import StreamInterruptedError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from understudy.llm import LLM

__all__ = ["AsyncFallbackStream", "FallbackStream", "open_async_stream", "open_stream"]


class _StreamBase:
    """What both stream twins share: the first chunk, bookkeeping, and the inner stream's attributes."""

    def __init__(self, llm: LLM, inner: Any, first: Any) -> None:
        self._llm = llm
        self._inner = inner
        self._first = first
        self._usage_seen = False
        self._done = False
        if first is None:
            self._finished()  # an empty stream: nothing more will come
        self.chunks = 0
        self.profile = llm.name

    def _seen(self, chunk: Any) -> Any:
        self.chunks += 1
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None and not self._usage_seen:
            self._usage_seen = True
            self._llm.record_stream_usage(usage)
        return chunk

    def _finished(self) -> None:
        if not self._done:
            self._done = True
            if not self._usage_seen:
                # No usage chunk (the caller did not ask for stream_options.include_usage): the tokens and
                # cost of this call are unknown, and the stats must say so rather than count it as free.
                self._llm.registry.book.usage(self._llm.name, prompt_tokens=0, completion_tokens=0, cost=None)

    def _interrupted(self, error: Exception) -> StreamInterruptedError:
        self._finished()
        self._llm.registry.book.interrupted(self._llm.name)
        return StreamInterruptedError(self._llm.name, self.chunks, error)

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
            self._finished()
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
            self._finished()
            raise
        except Exception as exc:
            raise self._interrupted(exc) from exc
        return self._seen(chunk)


def open_stream(llm: LLM, inner: Any) -> FallbackStream:
    """Pull the first chunk (a failure here raises, so the call can fall back) and wrap the rest."""
    return FallbackStream(llm, inner, next(inner, None))


async def open_async_stream(llm: LLM, inner: Any) -> AsyncFallbackStream:
    """The async twin of ``open_stream``."""
    try:
        first = await inner.__anext__()
    except StopAsyncIteration:
        first = None
    return AsyncFallbackStream(llm, inner, first)
