"""The HTTP side of the direct transport: one pooled client per process (and per event loop), one POST per
attempt, the provider's failures raised as litellm's error classes.

httpx is litellm's own HTTP client (and the openai client's), so the direct transport adds no dependency.
Nothing here retries: the walk owns retries, as it does on litellm's path.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from typing import TYPE_CHECKING, Any, Final

import httpx

from understudy.failures.statuses import connection_error, status_error

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

__all__ = ["Post", "aiter_events", "apost", "iter_events", "post"]

_LIMITS: Final = httpx.Limits(max_connections=1000, max_keepalive_connections=100)  # the openai client's
_DEFAULT_TIMEOUT: Final = 600.0  # litellm's, when neither the profile nor the call sets one

_lock = threading.Lock()
_sync_client: httpx.Client | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


class Post:
    """One request to an OpenAI-compatible endpoint: where, with which headers and body, and how long to wait."""

    __slots__ = ("body", "content", "headers", "model", "stream", "timeout", "url")

    def __init__(self, url: str, headers: dict[str, str], body: dict[str, Any], model: str, timeout: Any) -> None:
        self.url = url
        self.headers = headers
        self.body = body
        self.model = model  # as the profile names it, for the errors
        self.stream = bool(body.get("stream"))
        if timeout is None:
            timeout = _DEFAULT_TIMEOUT
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(float(timeout))
        self.content = json.dumps(body, separators=(",", ":")).encode()  # TypeError: not plain JSON


def post(request: Post) -> httpx.Response:
    """Send ``request`` and return the provider's 2xx answer (a stream's still open).

    Raises:
        litellm's error for the status the provider sent (``understudy.failures.statuses``), or a
        ``Timeout`` / ``APIConnectionError`` when no answer came back.
    """
    client = _client()
    built = client.build_request(
        "POST", request.url, headers=request.headers, content=request.content, timeout=request.timeout
    )
    try:
        response = client.send(built, stream=request.stream)
        if response.status_code >= 400:
            try:
                response.read()
            finally:
                response.close()
    except httpx.TransportError as exc:
        raise _unanswered(exc, request.model) from exc
    if response.status_code >= 400:
        raise status_error(response.status_code, response.text, model=request.model, response=response)
    return response


async def apost(request: Post) -> httpx.Response:
    """The async twin of ``post``."""
    client = _async_client()
    built = client.build_request(
        "POST", request.url, headers=request.headers, content=request.content, timeout=request.timeout
    )
    try:
        response = await client.send(built, stream=request.stream)
        if response.status_code >= 400:
            try:
                await response.aread()
            finally:
                await response.aclose()
    except httpx.TransportError as exc:
        raise _unanswered(exc, request.model) from exc
    if response.status_code >= 400:
        raise status_error(response.status_code, response.text, model=request.model, response=response)
    return response


def iter_events(response: httpx.Response, model: str) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream, up to ``[DONE]``; transport failures as
    litellm's errors."""
    try:
        for line in response.iter_lines():
            if line.startswith("data:"):
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield data
    except httpx.TransportError as exc:
        raise _unanswered(exc, model) from exc


async def aiter_events(response: httpx.Response, model: str) -> AsyncIterator[str]:
    """The async twin of ``iter_events``."""
    try:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield data
    except httpx.TransportError as exc:
        raise _unanswered(exc, model) from exc


def _unanswered(error: httpx.TransportError, model: str) -> Exception:
    return connection_error(error, model=model, timed_out=isinstance(error, httpx.TimeoutException))


def _client() -> httpx.Client:
    global _sync_client
    client = _sync_client
    if client is None:
        with _lock:
            if _sync_client is None:
                _sync_client = httpx.Client(limits=_LIMITS, timeout=_DEFAULT_TIMEOUT)
            client = _sync_client
    return client


def _async_client() -> httpx.AsyncClient:
    """This event loop's client: an async client's connections belong to the loop that opened them."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = httpx.AsyncClient(limits=_LIMITS, timeout=_DEFAULT_TIMEOUT)
    return client
