"""understudy behind the openai client: an in-process httpx transport that answers chat completions.

Any code built on the ``openai`` client (plain openai code, pydantic-ai's ``OpenAIChatModel``, LangChain's
``ChatOpenAI``, OpenAI Agents' ``OpenAIChatCompletionsModel``) gets understudy's fallbacks by being handed
this client; the request's ``model`` names the understudy profile to call::

    from understudy import LLMRegistry
    from understudy.integrations.openai import async_client, client

    registry = LLMRegistry()
    openai_client = client(registry)            # or async_client(registry) for openai.AsyncOpenAI
    reply = openai_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])

Each request runs ``registry.get(model).completion(...)`` (``acompletion`` on the async transport), so the
events and per-profile stats are the core API's. No server, no port: the transport answers in-process, and
no key or base URL is needed on the client side (the profile holds them).

What the caller sees:

- **A served call**: a ``ChatCompletion`` from whichever profile served it, with that provider's usage (for a
  stream, the usage chunk when ``stream_options={"include_usage": True}``); its ``model`` is the provider's
  name for the model that answered. The ``x-understudy-served-by`` response header names the profile:
  ``client.chat.completions.with_raw_response.create(...).headers``.
- **A stream** is forwarded chunk by chunk as server-sent events. It falls back before its first chunk; one
  that breaks after it ends with an error event (no ``[DONE]``), which the openai client raises as
  ``openai.APIError`` with ``code == "stream_interrupted"``, never as a silently shorter answer.
- **An exhausted chain**: the HTTP status of the last error (429 for a chain ending on a rate limit, 503 ...)
  and an OpenAI-style body whose message names every attempt, so the openai client raises its own
  ``openai.RateLimitError``, ``openai.InternalServerError`` ...; ``error.body["attempts"]`` lists them. A
  provider error with no fallback keeps its own status. An unknown profile is a 404, a malformed request a
  400. No answer holds a key.

Retries stay single: understudy retries each profile as its ``num_retries`` says, and every error answer
carries ``x-should-retry: false``, which the openai client obeys, so even a client built by hand with its
default ``max_retries=2`` never repeats an exhausted chain. ``client()`` also sets ``max_retries=0``. To
build your own (openai 3.x types ``http_client`` as ``httpx2.Client`` but takes an ``httpx.Client``)::

    openai.OpenAI(api_key="unused", base_url="http://understudy/v1",
                  http_client=httpx.Client(transport=transport(registry, sync=True)))

What is forwarded: every body field but ``model`` as ``LLM.completion``'s arguments (``tools``,
``response_format``, ``reasoning_effort``, ``user`` ...; a field the profile owns, such as ``api_key``, is
refused with a 400), and the request's headers as ``extra_headers``, except the client's own (``x-stainless-*``,
``user-agent`` ...) and credentials (``authorization`` ...); as with ``LLM.completion``, they are
added to the profile's own ``extra_headers``. The client's ``timeout`` is not forwarded: the profile's
``timeout`` bounds each attempt. Call ``understudy.warm_up()`` at start-up, so that the first request does not
import litellm on the event loop.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx
import openai

from understudy.errors import ConfigError
from understudy.integrations.openai_wire import (
    DONE,
    SERVED_BY_HEADER,
    RequestRefused,
    answer,
    error_answer,
    parse,
    sse_chunk,
    sse_error,
    stream_answer,
)
from understudy.integrations.targets import prepared
from understudy.registry import LLMRegistry

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator

__all__ = ["SERVED_BY_HEADER", "AsyncUnderstudyTransport", "UnderstudyTransport", "async_client", "client", "transport"]

# The client never reaches this host: the transport answers in-process. The key is never sent anywhere.
_BASE_URL = "http://understudy/v1"
_API_KEY = "understudy-holds-the-keys"


class _Transport:
    """What the sync and the async transport share: the registry whose profiles answer."""

    def __init__(self, registry: LLMRegistry | None = None) -> None:
        self.registry = registry if registry is not None else LLMRegistry()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(registry={self.registry!r})"


class UnderstudyTransport(_Transport, httpx.BaseTransport):
    """Answers ``POST .../chat/completions`` with ``registry.target(model).completion(...)`` (a profile, or a
    router file by name); for ``httpx.Client``."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            chat = parse(request.method, request.url.path, request.read(), request.headers)
            target = self.registry.target(chat.profile)
            response = target.completion(**_arguments(target, chat.kwargs))
        except Exception as exc:  # the transport never raises: the openai client would retry a raised error
            return error_answer(exc)
        if chat.stream:
            return stream_answer(response, _Events(response))
        return answer(response)


class AsyncUnderstudyTransport(_Transport, httpx.AsyncBaseTransport):
    """The async twin of ``UnderstudyTransport``: awaits ``acompletion``; for ``httpx.AsyncClient``."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            chat = parse(request.method, request.url.path, await request.aread(), request.headers)
            target = self.registry.target(chat.profile)
            response = await target.acompletion(**_arguments(target, chat.kwargs))
        except Exception as exc:
            return error_answer(exc)
        if chat.stream:
            return stream_answer(response, _AsyncEvents(response))
        return answer(response)


def _arguments(target: Any, call: dict[str, Any]) -> dict[str, Any]:
    """``prepared`` arguments; routing metadata the caller got wrong is the caller's 400, not understudy's 500."""
    try:
        return prepared(target, call)
    except ConfigError as exc:
        raise RequestRefused(400, str(exc), param="metadata") from exc


class _Events(httpx.SyncByteStream):
    """A ``FallbackStream`` as server-sent events, one per chunk, pulled as the client reads."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._events = self._generate()

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def _generate(self) -> Generator[bytes]:
        try:
            for chunk in self._stream:
                yield sse_chunk(chunk)
        except Exception as exc:  # StreamInterruptedError: the client must see an error, not a short answer
            yield sse_error(exc)
            return
        yield DONE

    def close(self) -> None:
        self._events.close()
        close = getattr(self._stream, "close", None)  # litellm's stream, when its release has close()
        if callable(close):
            with suppress(Exception):
                close()


class _AsyncEvents(httpx.AsyncByteStream):
    """The async twin of ``_Events``, over an ``AsyncFallbackStream``."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._events = self._generate()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events

    async def _generate(self) -> AsyncGenerator[bytes]:
        try:
            async for chunk in self._stream:
                yield sse_chunk(chunk)
        except Exception as exc:
            yield sse_error(exc)
            return
        yield DONE

    async def aclose(self) -> None:
        await self._events.aclose()
        aclose = getattr(self._stream, "aclose", None)
        if callable(aclose):
            with suppress(Exception):
                await aclose()


@overload
def transport(registry: LLMRegistry | None = None, sync: Literal[False] = False) -> AsyncUnderstudyTransport: ...


@overload
def transport(registry: LLMRegistry | None, sync: Literal[True]) -> UnderstudyTransport: ...


@overload
def transport(registry: LLMRegistry | None = None, *, sync: Literal[True]) -> UnderstudyTransport: ...


@overload
def transport(
    registry: LLMRegistry | None = None, sync: bool = False
) -> UnderstudyTransport | AsyncUnderstudyTransport: ...


def transport(
    registry: LLMRegistry | None = None, sync: bool = False
) -> UnderstudyTransport | AsyncUnderstudyTransport:
    """An httpx transport that answers OpenAI chat completions with understudy's profiles, in-process.

    Args:
        registry: whose profiles answer, and where events and stats go (default: ``LLMRegistry()``, the
            default search path).
        sync: an ``httpx.BaseTransport`` for ``httpx.Client``; otherwise an ``httpx.AsyncBaseTransport`` for
            ``httpx.AsyncClient``.
    """
    return UnderstudyTransport(registry) if sync else AsyncUnderstudyTransport(registry)


def client(registry: LLMRegistry | None = None, **kwargs: Any) -> openai.OpenAI:
    """An ``openai.OpenAI`` whose chat completions are answered by ``registry``'s profiles.

    ``kwargs`` go to ``openai.OpenAI``; its retries are off (``max_retries=0``) and it needs no key or base URL.
    """
    http_client = httpx.Client(transport=transport(registry, sync=True))
    return openai.OpenAI(**_client_kwargs(kwargs, http_client))


def async_client(registry: LLMRegistry | None = None, **kwargs: Any) -> openai.AsyncOpenAI:
    """The ``openai.AsyncOpenAI`` twin of ``client``."""
    http_client = httpx.AsyncClient(transport=transport(registry))
    return openai.AsyncOpenAI(**_client_kwargs(kwargs, http_client))


def _client_kwargs(kwargs: dict[str, Any], http_client: httpx.Client | httpx.AsyncClient) -> dict[str, Any]:
    if "http_client" in kwargs:
        raise TypeError("client() builds its own http_client; to build yours, give it transport=transport(...)")
    return {"api_key": _API_KEY, "base_url": _BASE_URL, "max_retries": 0, **kwargs, "http_client": http_client}
