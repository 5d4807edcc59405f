"""The fake provider: an OpenAI-compatible HTTP server on 127.0.0.1 that plays scripted behaviours."""

from __future__ import annotations

import itertools
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Self, cast

from understudy.testing._behaviours import (
    ContentPolicyViolation,
    ContextLengthExceeded,
    DropConnection,
    HTTPError,
    RateLimit,
    Reply,
    ServerError,
    Slow,
    StreamFailure,
)

if TYPE_CHECKING:
    from types import TracebackType

    from understudy.testing._behaviours import Behaviour

__all__ = ["FakeProvider"]

_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_JSON = dict[str, Any]


class FakeProvider:
    """An OpenAI-compatible chat completions server whose answers are scripted per model.

    Each request's ``model`` picks a queue of behaviours, consumed in order; once it is empty the
    model's default applies (``Reply()`` unless set). ``"openai/<name>"`` and ``"<name>"`` name the
    same model, so the names given to litellm work here too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Behaviour]] = defaultdict(deque)
        self._defaults: dict[str, Behaviour] = {}
        self._received: dict[str, list[_JSON]] = defaultdict(list)
        self._stopping = threading.Event()
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
        """``http://127.0.0.1:PORT/v1``, to pass to litellm as ``api_base``."""
        if self._server is None:
            raise RuntimeError("FakeProvider is not running; call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

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
        """How many requests ``model`` received, whatever they were answered with."""
        with self._lock:
            return len(self._received.get(_key(model), ()))

    def received(self, model: str) -> list[dict[str, Any]]:
        """The JSON bodies ``model`` received, oldest first."""
        with self._lock:
            return list(self._received.get(_key(model), ()))

    def reset(self) -> None:
        """Forget every script, default and received request."""
        with self._lock:
            self._queues.clear()
            self._defaults.clear()
            self._received.clear()

    def __repr__(self) -> str:
        with self._lock:
            counts = {model: len(bodies) for model, bodies in self._received.items()}
            pending = {model: len(queue) for model, queue in self._queues.items() if queue}
        where = self.base_url if self._server is not None else "stopped"
        return f"<FakeProvider {where} requests={counts} pending={pending}>"

    def _take(self, body: _JSON) -> Behaviour:
        """Record one request and pop the behaviour that answers it."""
        model = _key(str(body.get("model", "")))
        with self._lock:
            self._received[model].append(body)
            queue = self._queues.get(model)
            if queue:
                return queue.popleft()
            return self._defaults.get(model, Reply())


def _key(model: str) -> str:
    return model.removeprefix("openai/")


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

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.split("?")[0] not in _PATHS:
            self._send_json(404, _error(f"Unknown path {self.path}", "invalid_request_error"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_json(400, _error("The request body is not a JSON object.", "invalid_request_error"))
            return
        provider = cast("_Server", self.server).provider
        self._behave(provider._take(body), body, provider._stopping)

    def _behave(self, behaviour: Behaviour, body: _JSON, stopping: threading.Event) -> None:
        model = str(body.get("model", ""))
        stream = bool(body.get("stream"))
        match behaviour:
            case Reply() if stream:
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._stream(_stream_chunks(behaviour, model, include_usage), done=True)
            case Reply():
                self._send_json(200, _completion(behaviour, model))
            case RateLimit(retry_after=retry_after):
                message = f"Rate limit reached for {model} on requests per min (RPM). Please try again later."
                headers = {}
                if retry_after is not None:
                    headers["retry-after"] = str(math.ceil(retry_after))
                    headers["retry-after-ms"] = str(round(retry_after * 1000))
                self._send_json(429, _error(message, "requests", "rate_limit_exceeded"), headers)
            case ServerError(status=status, message=message):
                self._send_json(status, _error(message, "server_error"))
            case ContextLengthExceeded(limit=limit):
                message = (
                    f"This model's maximum context length is {limit} tokens. However, your messages "
                    f"resulted in {limit + 1000} tokens. Please reduce the length of the messages."
                )
                error = _error(message, "invalid_request_error", "context_length_exceeded", "messages")
                self._send_json(400, error)
            case ContentPolicyViolation():
                message = (
                    "Your request was rejected as a result of our safety system. Your prompt may contain "
                    "text that is not allowed by our safety system."
                )
                self._send_json(400, _error(message, "invalid_request_error", "content_policy_violation"))
            case HTTPError(status=status, message=message, code=code):
                self._send_json(status, _error(message, _ERROR_TYPES.get(status, "api_error"), code))
            case Slow(seconds=seconds, then=then):
                if stopping.wait(seconds):
                    self.close_connection = True  # the provider is stopping: hang up
                else:
                    self._behave(then, body, stopping)
            case DropConnection():
                self.close_connection = True
            case StreamFailure() if stream:
                self._stream(_failure_chunks(behaviour, model), done=False)
            case StreamFailure():
                self.close_connection = True

    def _send_json(self, status: int, payload: _JSON, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, chunks: list[_JSON], *, done: bool) -> None:
        """Send ``chunks`` as SSE over chunked encoding; without ``done``, hang up mid-body."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
        if done:
            events.append("data: [DONE]\n\n")
        for event in events:
            data = event.encode()
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        if done:
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.close_connection = True  # no terminating chunk: the client sees a truncated body


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def _error(message: str, type_: str, code: str | None = None, param: str | None = None) -> _JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _completion(reply: Reply, model: str) -> _JSON:
    message: _JSON = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
        message["content"] = reply.content or None
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(reply)}],
        "usage": _usage(reply),
    }


def _tool_calls(reply: Reply) -> list[_JSON]:
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call["name"], "arguments": call.get("arguments", "{}")},
        }
        for call in reply.tool_calls or ()
    ]


def _finish_reason(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def _usage(reply: Reply) -> _JSON:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _chunk(completion_id: str, model: str, delta: _JSON, finish_reason: str | None = None) -> _JSON:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def _stream_chunks(reply: Reply, model: str, include_usage: bool) -> list[_JSON]:
    """A reply as ``chat.completion.chunk`` objects: content word by word, finish, then usage."""
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    pieces = _words(reply.content) or [""]
    deltas: list[_JSON] = [{"content": piece} for piece in pieces]
    for index, call in enumerate(_tool_calls(reply)):
        deltas.append({"tool_calls": [{"index": index, **call}]})
    deltas[0]["role"] = "assistant"
    chunks = [_chunk(completion_id, model, delta) for delta in deltas]
    chunks.append(_chunk(completion_id, model, {}, _finish_reason(reply)))
    if include_usage:
        usage_chunk = _chunk(completion_id, model, {})
        usage_chunk.update(choices=[], usage=_usage(reply))
        chunks.append(usage_chunk)
    return chunks


def _failure_chunks(failure: StreamFailure, model: str) -> list[_JSON]:
    """``failure.content`` spread over exactly ``failure.after_chunks`` chunks."""
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    count, text = failure.after_chunks, failure.content
    bounds = [len(text) * i // count for i in range(count + 1)] if count else []
    deltas: list[_JSON] = [{"content": text[start:end]} for start, end in itertools.pairwise(bounds)]
    if deltas:
        deltas[0]["role"] = "assistant"
    return [_chunk(completion_id, model, delta) for delta in deltas]


def _words(text: str) -> list[str]:
    """Split ``text`` into words (leading whitespace attached) that join back to exactly ``text``."""
    return re.findall(r"\s*\S+|\s+$", text)
