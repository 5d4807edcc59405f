"""The direct transport's streams: the provider's server-sent events as litellm's chunk objects.

They behave as litellm's stream wrapper does where understudy or its users can tell: ``received_finish_reason``
once the provider sent one, a chunk that is not JSON or an ``{"error": ...}`` event raised as litellm's error,
and, when the call asked for ``stream_options.include_usage`` and the provider never sent usage, the usage chunk
litellm adds from its own token counts.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from understudy.calls import backend
from understudy.calls.direct_http import aiter_events, iter_events
from understudy.failures.statuses import connection_error

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import httpx2

    from understudy.calls.direct_http import Post

__all__ = ["AsyncDirectStream", "DirectStream"]


class _Chunks:
    """What both direct stream twins share: litellm's chunk objects, and whether the provider finished."""

    def __init__(self, response: httpx2.Response, sent: Post, hidden: dict[str, Any]) -> None:
        self._response = response
        self._model = sent.model
        self._hidden_params = hidden
        self.received_finish_reason: str | None = None  # read by understudy.calls.streams, as litellm's
        self.model = sent.body["model"]
        self.created = int(time.time())
        options = sent.body.get("stream_options")
        self._messages = sent.body.get("messages")
        # Asked for usage: kept until the provider sends it, for litellm's estimate if it never does.
        self._kept: list[Any] | None = [] if isinstance(options, dict) and options.get("include_usage") else None

    def _chunk(self, data: str) -> Any:
        litellm = backend.litellm()
        try:
            payload = json.loads(data)
        except ValueError as exc:
            cause = ValueError(f"the provider sent a chunk that is not JSON: {data[:80]!r}")
            raise connection_error(cause, model=self._model, timed_out=False) from exc
        if not isinstance(payload, dict):
            cause = ValueError(f"the provider sent a chunk that is not an object: {data[:80]!r}")
            raise connection_error(cause, model=self._model, timed_out=False)
        error = payload.get("error")
        if error is not None and not payload.get("choices"):
            message = error.get("message") if isinstance(error, dict) else error
            raise litellm.exceptions.APIError(500, f"APIError: OpenAIException - {message}", "openai", self._model)
        for choice in payload.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self.received_finish_reason = choice["finish_reason"]
        chunk = litellm.ModelResponseStream(**payload)
        chunk._hidden_params = dict(self._hidden_params)
        if self._kept is not None:
            if payload.get("usage"):
                self._kept = None
            else:
                self._kept.append(chunk)
        return chunk

    def _usage_estimate(self) -> Any:
        """At the end of a stream that asked for usage and got none: the usage chunk litellm adds, from its own
        token counts (``litellm.stream_chunk_builder``); None when there is nothing to add."""
        kept, self._kept = self._kept, None
        if not kept or self.received_finish_reason is None:  # an unfinished answer: litellm adds none either
            return None
        litellm = backend.litellm()
        try:
            usage = litellm.stream_chunk_builder(chunks=kept, messages=self._messages).usage
        except Exception:  # litellm could not count: the stream ends without usage, as on its own path
            return None
        chunk = litellm.ModelResponseStream(id=kept[0].id, model=self.model, choices=[], usage=usage)
        chunk._hidden_params = dict(self._hidden_params)
        return chunk


class DirectStream(_Chunks):
    """A sync stream's chunks, read off the provider's server-sent events."""

    def __init__(self, response: httpx2.Response, sent: Post, hidden: dict[str, Any]) -> None:
        super().__init__(response, sent, hidden)
        self._events: Iterator[str] = iter_events(response, sent.model)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            data = next(self._events, None)
            chunk = self._chunk(data) if data is not None else self._usage_estimate()
        except BaseException:
            self.close()
            raise
        if chunk is None:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._response.close()


class AsyncDirectStream(_Chunks):
    """The async twin of ``DirectStream``."""

    def __init__(self, response: httpx2.Response, sent: Post, hidden: dict[str, Any]) -> None:
        super().__init__(response, sent, hidden)
        self._events: AsyncIterator[str] = aiter_events(response, sent.model)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            data = await anext(self._events, None)
            chunk = self._chunk(data) if data is not None else self._usage_estimate()
        except BaseException:
            await self.aclose()
            raise
        if chunk is None:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        await self._events.aclose()  # type: ignore[attr-defined]  # an async generator's
        await self._response.aclose()
