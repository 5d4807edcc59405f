"""Streaming calls: fall back before the first chunk, never splice after it, never end a cut-off answer quietly.

A stream that fails before its first chunk has sent the caller nothing, so the call falls back like any
other failure: the call opens the stream and pulls the first chunk inside the attempt (on an async stream,
within the profile's ``first_token_timeout``). A stream that fails after chunks went out (it breaks, stalls
past ``stall_timeout``, sends a chunk that is not JSON, or ends with neither a finish reason nor ``[DONE]``)
cannot be continued by another model without gluing two answers together, so it raises
``StreamInterruptedError``, naming the profile and holding the partial answer; its connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from understudy.calls.observers import StreamEnd
from understudy.errors import StreamInterruptedError
from understudy.failures.kinds import empty_stream, first_token_timed_out, refused_chunk

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from understudy.calls.health_gate import StreamVerdict
    from understudy.calls.litellm_call import LitellmCall

__all__ = ["AsyncFallbackStream", "FallbackStream", "open_async_stream", "open_stream"]

logger = logging.getLogger("understudy")


class _StreamBase:
    """What both stream twins share: the first chunk, the answer so far, and the inner stream's attributes."""

    def __init__(self, caller: LitellmCall, inner: Any, first: Any) -> None:
        self._caller = caller
        self._inner = inner
        self._first = first
        self._usage: Any = None
        self._cost: float | None = None
        self._watchers: list[Callable[[StreamEnd], None]] = []
        self._done = False
        self._closed = False
        self._text: list[str] = []
        self._tools: dict[int, dict[str, str]] = {}
        if first is None:
            self._finished()  # an empty stream: nothing more will come
        self.chunks = 0
        self.profile = caller.name
        self.verdict: StreamVerdict | None = None  # the walk's: told how the stream ended, for health memory

    def _seen(self, chunk: Any) -> Any:
        self.chunks += 1
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None and self._usage is None:
            self._usage = usage
            self._cost = self._caller.record_stream_usage(usage)
        choices = getattr(chunk, "choices", None) or ()
        delta = getattr(choices[0], "delta", None) if choices else None
        content = getattr(delta, "content", None)
        if isinstance(content, str):
            self._text.append(content)
        for call in getattr(delta, "tool_calls", None) or ():
            self._tool_delta(call)
        return chunk

    def _tool_delta(self, call: Any) -> None:
        entry = self._tools.setdefault(getattr(call, "index", None) or 0, {"id": "", "name": "", "arguments": ""})
        function = getattr(call, "function", None)
        entry["id"] = getattr(call, "id", None) or entry["id"]
        entry["name"] = getattr(function, "name", None) or entry["name"]
        entry["arguments"] += getattr(function, "arguments", None) or ""

    def watch_end(self, callback: Callable[[StreamEnd], None]) -> bool:
        """Tell ``callback`` how the stream ends (``understudy.calls.observers.on_stream_end``); False when it
        has ended already."""
        if self._done:
            return False
        self._watchers.append(callback)
        return True

    def _finished(self, error: BaseException | None = None) -> None:
        if not self._done:
            self._done = True
            if self._usage is None:
                # No usage chunk (the caller did not ask for stream_options.include_usage, or the stream broke
                # first): the tokens and cost of this call are unknown, and the stats must say so rather than
                # count it as free.
                self._caller.book.usage(self._caller.name, prompt_tokens=0, completion_tokens=0, cost=None)
            end = StreamEnd(usage=self._usage, cost=self._cost, error=error)
            for callback in self._watchers:
                try:
                    callback(end)
                except Exception:
                    logger.exception("a stream's end watcher raised; the stream is unaffected")

    def _ended(self) -> None:
        """The inner stream stopped: a whole answer, unless the provider never finished it.

        Some litellm releases end a stream whose connection dropped as if it were complete, with a made-up
        ``stop``; litellm's stream still says the provider sent no finish reason, and that is believed.
        """
        if _unfinished(self._inner):
            cause = ConnectionError("the provider's stream ended before the answer was finished")
            raise self._interrupted(cause) from cause
        self._finished()
        if self.verdict is not None:
            self.verdict.whole()

    def _interrupted(self, error: Exception) -> StreamInterruptedError:
        self._closed = True  # over: reading on ends it, and never reports the cut twice
        self._finished(error)
        self._caller.book.interrupted(self._caller.name)
        interrupted = StreamInterruptedError(
            self._caller.name,
            self.chunks,
            error,
            text="".join(self._text),
            tool_calls=[self._tools[index] for index in sorted(self._tools)],
            usage=self._usage,
        )
        if self.verdict is not None:
            self.verdict.broken(error)
        return interrupted

    def _let_go(self) -> None:
        """The caller closed the stream: it ends here, with no verdict on the model unless it had one."""
        self._closed = True
        self._finished()
        if self.verdict is not None:
            self.verdict.dropped()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_inner":  # copy and pickle probe before __init__ ran
            raise AttributeError(name)
        # Everything else (``_hidden_params``, ``model``, litellm helpers) is the inner stream's.
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} profile={self.profile!r} chunks={self.chunks}>"


class FallbackStream(_StreamBase):
    """Iterates litellm's stream chunks for the profile that served the call."""

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._closed:
            raise StopIteration
        if self._first is not None:
            first, self._first = self._first, None
            return self._seen(first)
        try:
            chunk = next(self._inner)
        except StopIteration:
            self._ended()
            raise
        except Exception as exc:
            _close(self._inner)
            if _answered(self._inner):
                self._ended()
                self._closed = True
                raise StopIteration from None
            raise self._interrupted(exc) from exc
        except BaseException:  # the caller gave up mid-read (Ctrl-C): no verdict on the model, nothing held
            self._let_go()
            _close(self._inner)
            raise
        return self._seen(chunk)

    def close(self) -> None:
        """Stop reading and release the connection; the stream ends here."""
        self._let_go()
        _close(self._inner)


class AsyncFallbackStream(_StreamBase):
    """The async twin of ``FallbackStream``; each gap between chunks is held to the profile's ``stall_timeout``."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if self._closed:
            raise StopAsyncIteration
        if self._first is not None:
            first, self._first = self._first, None
            return self._seen(first)
        stall = self._caller.profile.stall_timeout
        try:
            async with asyncio.timeout(stall):
                chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            self._ended()
            raise
        except Exception as exc:
            await _aclose(self._inner)
            if _answered(self._inner):
                self._ended()
                self._closed = True
                raise StopAsyncIteration from None
            if isinstance(exc, TimeoutError) and stall:
                cause = TimeoutError(f"no chunk within the profile's stall_timeout of {stall:g} s")
                raise self._interrupted(cause) from exc
            raise self._interrupted(exc) from exc
        except BaseException:  # cancelled mid-read: no verdict on the model, nothing held
            self._let_go()
            await _aclose(self._inner)
            raise
        return self._seen(chunk)

    async def aclose(self) -> None:
        """Stop reading and release the connection; the stream ends here."""
        self._let_go()
        await _aclose(self._inner)


def open_stream(caller: LitellmCall, inner: Any) -> FallbackStream:
    """Pull the first chunk (a failure here raises, so the call can fall back) and wrap the rest.

    A stream that ends before its first chunk sent no answer at all (some litellm releases report a connection
    dropped at that point as an empty stream): it raises ``APIConnectionError``, so the call falls back.
    """
    try:
        first = next(inner, None)
    except BaseException:
        _close(inner)
        raise
    if first is None or (_hollow(first) and _unfinished(inner)):
        _close(inner)
        raise empty_stream(caller.profile.model)
    _refuse(caller, first, lambda: _close(inner))
    return FallbackStream(caller, inner, first)


async def open_async_stream(caller: LitellmCall, inner: Any) -> AsyncFallbackStream:
    """The async twin of ``open_stream``; the first chunk is held to the profile's ``first_token_timeout``."""
    limit = caller.profile.first_token_timeout
    try:
        async with asyncio.timeout(limit):
            first = await inner.__anext__()
    except StopAsyncIteration:
        await _aclose(inner)
        raise empty_stream(caller.profile.model) from None
    except TimeoutError as exc:
        await _aclose(inner)
        if limit is None:
            raise
        raise first_token_timed_out(caller.profile.model, limit) from exc
    except BaseException:
        await _aclose(inner)
        raise
    if _hollow(first) and _unfinished(inner):
        await _aclose(inner)
        raise empty_stream(caller.profile.model)
    try:
        _refuse(caller, first, lambda: None)
    except Exception:
        await _aclose(inner)
        raise
    return AsyncFallbackStream(caller, inner, first)


def _refuse(caller: LitellmCall, first: Any, close: Callable[[], None]) -> None:
    """A profile with ``refusal_is_failure`` fails a stream whose first chunk refuses, before the caller sees it."""
    if not caller.profile.refusal_is_failure:
        return
    refused = refused_chunk(first, caller.profile.model)
    if refused is not None:
        close()
        raise refused


def _close(inner: Any) -> None:
    """Release a sync stream's connection (litellm's wrapper, or the provider stream inside older ones)."""
    target = inner if callable(getattr(inner, "close", None)) else getattr(inner, "completion_stream", None)
    close = getattr(target, "close", None)
    with suppress(Exception):
        if callable(close):
            close()


async def _aclose(inner: Any) -> None:
    """Release an async stream's connection."""
    with suppress(Exception):
        if callable(getattr(inner, "aclose", None)):
            await inner.aclose()


def _answered(inner: Any) -> bool:
    """True when litellm's stream says the provider sent its finish reason: the answer is whole, and what
    fails after it (the usage chunk, ``[DONE]``, closing the connection) does not cut it."""
    return getattr(inner, "received_finish_reason", None) is not None


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
