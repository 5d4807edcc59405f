"""The HTTP side of the direct transport: one pooled client per process (and per event loop), one POST per
attempt, the provider's failures raised as litellm's error classes.

It speaks through httpx2, pydantic's maintained successor of httpx that the openai SDK (litellm's own
dependency) is built on: at 50 calls in flight httpcore 1's pool retries each request over its connections
several times before one takes it, and that churn made the direct path slower than the openai SDK by hand.
Nothing here retries: the walk owns retries, as it does on litellm's path.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from typing import TYPE_CHECKING, Any, Final

import httpx
import httpx2

from understudy.failures.statuses import connection_error, status_error

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

__all__ = ["Post", "aiter_events", "apost", "as_httpx", "iter_events", "post"]

_LIMITS: Final = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)  # the openai client's
_DEFAULT_TIMEOUT: Final = 600.0  # litellm's, when neither the profile nor the call sets one

_lock = threading.Lock()
_sync_client: httpx2.Client | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = weakref.WeakKeyDictionary()


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
        self.timeout = _timeout(timeout)
        self.content = json.dumps(body, separators=(",", ":")).encode()  # TypeError: not plain JSON


def post(request: Post) -> httpx2.Response:
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
    except httpx2.TransportError as exc:
        raise _unanswered(exc, request.model) from exc
    if response.status_code >= 400:
        raise status_error(response.status_code, response.text, model=request.model, response=as_httpx(response))
    return response


async def apost(request: Post) -> httpx2.Response:
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
    except httpx2.TransportError as exc:
        raise _unanswered(exc, request.model) from exc
    if response.status_code >= 400:
        raise status_error(response.status_code, response.text, model=request.model, response=as_httpx(response))
    return response


def as_httpx(response: httpx2.Response) -> httpx.Response:
    """The provider's answer as the ``httpx.Response`` litellm's own path gives its errors: litellm's classes
    check for that type and put a made-up 400 in place of anything else (litellm 1.83)."""
    request = response.request
    return httpx.Response(
        response.status_code,
        headers=response.headers.multi_items(),
        content=response.content,
        request=httpx.Request(request.method, str(request.url)),
    )


def iter_events(response: httpx2.Response, model: str) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream, up to ``[DONE]``; transport failures as
    litellm's errors."""
    try:
        for line in response.iter_lines():
            if line.startswith("data:"):
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield data
    except httpx2.TransportError as exc:
        raise _unanswered(exc, model) from exc


async def aiter_events(response: httpx2.Response, model: str) -> AsyncIterator[str]:
    """The async twin of ``iter_events``."""
    try:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield data
    except httpx2.TransportError as exc:
        raise _unanswered(exc, model) from exc


def _timeout(timeout: Any) -> httpx2.Timeout:
    """httpx2's timeout for a number or for the ``httpx.Timeout`` the profile's limits become."""
    if isinstance(timeout, httpx2.Timeout):
        return timeout
    if hasattr(timeout, "connect"):  # an httpx.Timeout: the same four limits
        return httpx2.Timeout(connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool)
    return httpx2.Timeout(float(timeout))


def _unanswered(error: httpx2.TransportError, model: str) -> Exception:
    return connection_error(error, model=model, timed_out=isinstance(error, httpx2.TimeoutException))


def _client() -> httpx2.Client:
    global _sync_client
    client = _sync_client
    if client is None:
        with _lock:
            if _sync_client is None:
                _sync_client = httpx2.Client(limits=_LIMITS, timeout=_DEFAULT_TIMEOUT)
            client = _sync_client
    return client


def _async_client() -> httpx2.AsyncClient:
    """This event loop's client: an async client's connections belong to the loop that opened them."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = httpx2.AsyncClient(limits=_LIMITS, timeout=_DEFAULT_TIMEOUT)
    return client
