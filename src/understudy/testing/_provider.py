"""The fake provider: an HTTP server on 127.0.0.1 that plays scripted behaviours in each provider's format."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import defaultdict, deque
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Self, cast

from understudy.testing._behaviours import Reply, Slow
from understudy.testing._endpoints import not_found, respond, route
from understudy.testing._wire import Answer, EventStream, Hangup, encode_answer, encode_stream_head

if TYPE_CHECKING:
    from types import TracebackType

    from understudy.testing._behaviours import Behaviour
    from understudy.testing._wire import JSON, Request, Response

__all__ = ["FakeProvider"]

# litellm's provider prefixes: "azure/gpt-4o" and "gpt-4o" name the same model.
_PREFIXES: Final = ("openai/", "azure/", "anthropic/", "gemini/")
_HANGUP_POLL: Final = 0.02  # seconds between looks at whether a client waiting on a silence hung up


class FakeProvider:
    """An LLM provider on 127.0.0.1 whose answers are scripted per model.

    It serves OpenAI's chat completions, Azure OpenAI's deployments, Anthropic's Messages and Gemini's
    generateContent. Each request's model (from the body, or from the path for Azure and Gemini) picks a
    queue of behaviours, consumed in order; once it is empty the model's default applies (``Reply()``
    unless set). ``"openai/<name>"``, ``"azure/<name>"``, ``"anthropic/<name>"``, ``"gemini/<name>"`` and
    ``"<name>"`` name the same model, so the names given to litellm work here too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Behaviour]] = defaultdict(deque)
        self._defaults: dict[str, Behaviour] = {}
        self._received: dict[str, list[JSON]] = defaultdict(list)
        self._headers: dict[str, list[dict[str, str]]] = defaultdict(list)
        self._stopping = threading.Event()
        self._answering = 0  # requests whose answer is not over yet
        self._idle = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving on 127.0.0.1 with a free port; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("FakeProvider is already running")
        self._stopping.clear()
        server = _Server(self)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},  # how long stop() waits for the accept loop
            name=f"FakeProvider:{server.server_address[1]}",
            daemon=True,
        )
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and join every server thread. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()  # wakes any Slow behaviour in flight
        server.shutdown()
        thread.join()
        server.server_close()  # cuts open connections and joins their threads
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the ``api_base`` for ``openai/`` models."""
        return f"{self._root()}/v1"

    @property
    def azure_base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the ``api_base`` for ``azure/<deployment>`` models.

        litellm's Azure client appends ``/openai/deployments/<deployment>/chat/completions``.
        """
        return self._root()

    @property
    def anthropic_base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the ``api_base`` for ``anthropic/`` models (litellm adds ``/v1/messages``)."""
        return self._root()

    @property
    def gemini_base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1beta``: the ``api_base`` for ``gemini/`` models.

        litellm appends ``/models/<model>:generateContent`` (or ``:streamGenerateContent?alt=sse``).
        """
        return f"{self._root()}/v1beta"

    def _root(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeProvider is not running; call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting and inspection ---------------------------------------------------------------------

    def script(self, model: str, *behaviours: Behaviour) -> None:
        """Queue behaviours for ``model``'s next requests, one per request, in order."""
        with self._lock:
            self._queues[_key(model)].extend(behaviours)

    def default(self, model: str, behaviour: Behaviour) -> None:
        """Set what ``model`` does once its queue is empty."""
        with self._lock:
            self._defaults[_key(model)] = behaviour

    def requests(self, model: str) -> int:
        """How many requests ``model`` received, on any endpoint, whatever they were answered with."""
        with self._lock:
            return len(self._received.get(_key(model), ()))

    def received(self, model: str) -> list[dict[str, Any]]:
        """The JSON bodies ``model`` received, oldest first."""
        with self._lock:
            return list(self._received.get(_key(model), ()))

    def received_headers(self, model: str) -> list[dict[str, str]]:
        """The HTTP headers of ``model``'s requests, oldest first, names in lower case."""
        with self._lock:
            return [dict(headers) for headers in self._headers.get(_key(model), ())]

    def answering(self, *, within: float = 0.0) -> int:
        """How many requests the double is still answering (a silence not yet over, a stream not yet sent),
        after waiting up to ``within`` seconds for them to end.

        A client that hangs up ends its answer at once: the double notices within a few milliseconds. So once
        a caller's calls are over, a count above 0 means some connection was left open mid-answer.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._answering == 0, timeout=within)
            return self._answering

    def reset(self) -> None:
        """Forget every script, default and received request."""
        with self._lock:
            self._queues.clear()
            self._defaults.clear()
            self._received.clear()
            self._headers.clear()

    def __repr__(self) -> str:
        with self._lock:
            counts = {model: len(bodies) for model, bodies in self._received.items()}
            pending = {model: len(queue) for model, queue in self._queues.items() if queue}
        where = self.base_url if self._server is not None else "stopped"
        return f"<FakeProvider {where} requests={counts} pending={pending}>"

    def _take(self, request: Request, headers: dict[str, str]) -> Behaviour:
        """Record one request and pop the behaviour that answers it."""
        model = _key(request.model)
        with self._lock:
            self._received[model].append(request.body)
            self._headers[model].append(headers)
            queue = self._queues.get(model)
            if queue:
                return queue.popleft()
            return self._defaults.get(model, Reply())


def _key(model: str) -> str:
    for prefix in _PREFIXES:
        if model.startswith(prefix):
            return model.removeprefix(prefix)
    return model


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its provider and, on close, cuts and joins every request thread."""

    request_queue_size = 128  # the default 5 makes a burst of connections wait a second for SYN retries

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"FakeProvider:{self.server_address[1]} request",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Close the listener, unblock request threads (idle keep-alive ones too) and join them."""
        super().server_close()
        with self._connections_lock:
            connections = list(self._connections.items())
        for connection, _ in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for _, thread in connections:
            thread.join()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (timeouts, dropped streams) are expected, not worth a traceback


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked streams whose truncation clients detect
    # TCP_NODELAY on each accepted socket. With Nagle's algorithm on, a write that follows another
    # write waits for the client's delayed ACK of the first (~40 ms on Linux); every response is also
    # written whole (see encode_answer), and each stream event is meant to leave as soon as it is written.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        provider = cast("_Server", self.server).provider
        with provider._idle:
            provider._answering += 1
        try:
            self._answer(provider)
        finally:
            with provider._idle:
                provider._answering -= 1
                provider._idle.notify_all()

    def _answer(self, provider: FakeProvider) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        found = route(self.path)
        if found is None:
            self._send(not_found(self.path))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send(found.wire.error(400, "The request body is not a JSON object.", None))
            return
        request = found.request(body)
        behaviour = provider._take(request, {name.lower(): value for name, value in self.headers.items()})
        while isinstance(behaviour, Slow):
            if self._quiet(behaviour.seconds):
                return
            behaviour = behaviour.then
        self._send(respond(behaviour, request))

    def _send(self, response: Response) -> None:
        match response:
            case Answer(pause=pause):
                head, body = encode_answer(response)
                if not pause:
                    self.wfile.write(head + body)  # one write, and one segment
                    return
                self.wfile.write(head)
                if self._quiet(pause):
                    return
                self.wfile.write(body)
            case EventStream(events=events, complete=complete, pause=pause):
                self.wfile.write(encode_stream_head())
                for index, event in enumerate(events):  # one write per event, so the client sees each as it is sent
                    if pause is not None and index == pause[0] and self._quiet(pause[1]):
                        return
                    data = event.encode()
                    self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
                if complete:
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.close_connection = True  # no terminating chunk: the client sees a truncated body
            case Hangup():
                self.close_connection = True

    def _quiet(self, seconds: float) -> bool:
        """Say nothing for ``seconds``; True (and hang up) when the provider stops or the client hangs up."""
        stopping = cast("_Server", self.server).provider._stopping
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if stopping.is_set() or self._client_gone(min(left, _HANGUP_POLL)):
                self.close_connection = True
                return True
        return False

    def _client_gone(self, wait: float) -> bool:
        """True when the client closed its end, looking for up to ``wait`` seconds."""
        readable, _, _ = select.select([self.connection], [], [], wait)
        if not readable:
            return False
        try:
            gone: bool = self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
        if not gone:  # the client sent more (it pipelines): not a hang-up, and nothing to spin on
            cast("_Server", self.server).provider._stopping.wait(wait)
        return gone
