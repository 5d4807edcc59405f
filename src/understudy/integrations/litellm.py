"""understudy as a litellm provider: ``litellm.completion(model="understudy/<profile>")`` runs that profile.

For code that already calls litellm, or an SDK that does. What a user adds::

    from understudy.integrations.litellm import register

    register()  # or register(my_registry); then, anywhere:
    litellm.completion(model="understudy/gpt-4o", messages=[...])  # acompletion, stream=True, tools ... too

Each call runs ``registry.get("gpt-4o")``, understudy's ``LLM``, with the profile's whole fallback chain: the same
events, the same per-profile stats and the same response as ``LLM.completion``; ``served_by(response)`` names the
profile that answered. ``register()`` also gives litellm each profile's primary model info (``register_model``),
so ``litellm.get_model_info("understudy/<profile>")`` answers with its context window, capabilities and prices.
A router file's name works the same way (``understudy/auto``): each call is routed as ``registry.routed("auto")``
routes it, with the context and session of the call's ``metadata`` (``understudy.integrations.targets``).

When every profile failed, the caller gets litellm's exception for the kind of the last failure: a chain that ended
on a 429 raises ``litellm.RateLimitError`` with ``status_code == 429`` and the provider's response, its message one
line per profile tried; its ``__cause__`` is the ``FallbackExhaustedError`` holding every attempt. A provider error
no fallback answers arrives as litellm raised it. An unknown profile raises ``litellm.NotFoundError``, a broken one
``litellm.BadRequestError`` (``__cause__``: understudy's error). litellm's exception mapping passes its own classes
through unchanged, and only those: anything else would reach the caller as an ``APIConnectionError`` and a traceback.

Retries are understudy's alone: the profile's ``num_retries`` apply, and the outer call's are ignored, not refused
(a handler sees ``num_retries`` and ``max_retries`` alike, and SDKs pass ``max_retries`` of their own). litellm
retries a failed call itself when given ``num_retries``; the handler answers such a second call (same
``litellm_call_id``) with the same error, calling no model. Every error carries ``num_retries = 0``, which a litellm
Router reads as the deployment's retry count, so it does not retry either; on litellm 1.83 the async path overwrites
it (litellm/utils.py:2084), so set ``num_retries: 0`` in the deployment's ``litellm_params`` there. Note that
without tenacity installed, litellm's sync ``num_retries`` path replaces any error, of any provider, with
``Exception("tenacity import failed ...")`` (``completion_with_retries`` in litellm/main.py).

Arguments: the caller's reach the profile's model; what litellm or an SDK injects does not override the profile
(``api_key``, ``api_base``, ``max_retries``, ``drop_params``, and litellm's default ``timeout``: only a timeout other
than 600 s and ``litellm.request_timeout`` counts as the caller's). litellm checks ``reasoning_effort``,
``thinking`` and ``verbosity`` against the fixed list of parameters it gives every custom provider, and drops
``user``, before any handler runs; pass ``allowed_openai_params=[...]`` (litellm's own switch, also a Router
deployment setting) and they arrive. Whether a profile's model takes them is that profile's business, as with
``LLM.completion``. litellm 1.83 never hands ``verbosity`` to a custom provider; send it in ``extra_body`` there.

Usage: a response carries the provider's token counts. So does a stream whose caller asks for them
(``stream_options={"include_usage": True}``): the usage rides on the chunk that finishes the answer, which litellm
keeps on every release, so litellm has no reason to estimate tokens of its own.

Streams fall back before their first chunk, as with ``LLM.completion``: a sync stream before ``litellm.completion``
returns, an async one on its first ``__anext__`` (litellm iterates an async handler lazily). Chunks carry the first
choice's text, tool calls and finish reason. ``served_by`` is None on a litellm stream: litellm builds its stream
wrapper's hidden params itself, out of a handler's reach; the ``FallbackSucceeded`` event names who served.
"""

from __future__ import annotations

import inspect
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from understudy.calls import backend
from understudy.calls.restarts import seamless
from understudy.errors import (
    ConfigError,
    FallbackExhaustedError,
    ProfileCoolingDownError,
    ProfileNotFoundError,
    StreamInterruptedError,
)
from understudy.integrations.targets import profile_of, routing_arguments
from understudy.registry import LLMRegistry
from understudy.routing.routed import RoutedLLM

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from understudy.calls.llm import LLM
    from understudy.profiles.profile import Profile

__all__ = ["PROVIDER", "UnderstudyProvider", "register"]

PROVIDER: Final = "understudy"
"""The model prefix: ``understudy/<profile>``."""


# What litellm hands the handler that belongs to the profile or to litellm itself, never to the profile's model.
_NOT_FORWARDED: Final = frozenset({"max_retries", "num_retries", "stream", "api_key", "api_base", "base_url"})
_REMEMBERED_FAILURES: Final = 128  # a failed call litellm retries comes back within seconds

# Imported the way understudy imports it (no cost-map download the user did not ask for), and typed Any: the
# handler's signature and litellm's annotations of it change between the releases understudy supports.
litellm: Any = backend.litellm()
# What litellm passes a handler when the caller gave no timeout (litellm/main.py: `timeout or ... or 600`).
_LITELLM_DEFAULT_TIMEOUT: Final = 600.0

_lock = threading.Lock()


def register(registry: LLMRegistry | None = None) -> LLMRegistry:
    """Make ``understudy/<profile>`` a litellm model; returns the registry its calls go through.

    Idempotent: calling it again keeps one provider, which uses ``registry`` when one is given. It also registers
    each profile's primary model info with litellm (``litellm.register_model``).

    Args:
        registry: where profiles come from (default: an ``LLMRegistry`` on the default search path).
    """
    with _lock:
        provider = next(
            (
                entry["custom_handler"]
                for entry in litellm.custom_provider_map
                if entry.get("provider") == PROVIDER and isinstance(entry.get("custom_handler"), UnderstudyProvider)
            ),
            None,
        )
        if provider is None:
            provider = UnderstudyProvider(registry or LLMRegistry())
            others = [entry for entry in litellm.custom_provider_map if entry.get("provider") != PROVIDER]
            litellm.custom_provider_map = [*others, {"provider": PROVIDER, "custom_handler": provider}]
        elif registry is not None:
            provider.registry = registry
        # What litellm does at the start of every call: make the name a provider now, so that a Router built
        # before the first call (which checks each deployment's provider) knows it.
        litellm.utils.custom_llm_setup()
    provider.describe_all()
    return provider.registry


class UnderstudyProvider(litellm.CustomLLM):  # type: ignore[misc]  # litellm is Any here
    """litellm's custom handler for ``understudy/<profile>``; made and installed by ``register()``."""

    def __init__(self, registry: LLMRegistry) -> None:
        super().__init__()
        self.registry = registry
        self._failed: OrderedDict[str, Exception] = OrderedDict()
        self._described: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- litellm's four entry points ----------------------------------------------------------------------------

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        name, llm, call, call_id = self._prepare(kwargs)
        with self._translated(name, call_id):
            return llm.completion(**call)

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        name, llm, call, call_id = self._prepare(kwargs)
        with self._translated(name, call_id):
            return await llm.acompletion(**call)

    def streaming(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        name, llm, call, call_id = self._prepare(kwargs)
        with self._translated(name, call_id):
            # falls back (or raises) before this returns
            stream = llm.completion(**seamless({**call, "stream": True}, profile_of(llm)))
        return self._chunks(name, stream)

    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        # litellm wraps what this returns without awaiting it: an async generator, run on the first __anext__.
        name, llm, call, call_id = self._prepare(kwargs)
        with self._translated(name, call_id):
            stream = await llm.acompletion(**seamless({**call, "stream": True}, profile_of(llm)))
            chunks = _Chunks()
            async for chunk in stream:
                for generic in chunks.take(chunk):
                    yield generic
            for generic in chunks.finish():
                yield generic

    # -- model info ---------------------------------------------------------------------------------------------

    def describe_all(self) -> None:
        """Register every profile's primary model info with litellm under ``understudy/<profile>``."""
        known: dict[str, Any] = {}
        for name, profile in self.registry.store.load_all().items():
            if not isinstance(profile, Exception) and self._described.get(name) != profile.model:
                info = _model_info(profile)
                if info is not None:
                    known[f"{PROVIDER}/{name}"] = info
                self._described[name] = profile.model
        if known:
            litellm.register_model(known)

    def _describe(self, profile: Profile) -> None:
        if self._described.get(profile.name) != profile.model:  # new or changed since register()
            self._described[profile.name] = profile.model
            info = _model_info(profile)
            if info is not None:
                litellm.register_model({f"{PROVIDER}/{profile.name}": info})

    # -- one call -------------------------------------------------------------------------------------------------

    def _prepare(self, kwargs: dict[str, Any]) -> tuple[str, LLM | RoutedLLM, dict[str, Any], str | None]:
        """The name called, its LLM (a profile's, or a router file's), the caller's arguments for it, and
        litellm's id of this call."""
        name = kwargs["model"]
        litellm_params = kwargs.get("litellm_params") or {}
        call_id = litellm_params.get("litellm_call_id")
        optional = kwargs.get("optional_params") or {}
        call: dict[str, Any] = {k: v for k, v in optional.items() if k not in _NOT_FORWARDED}
        with self._translated(name, call_id):
            self._replay(call_id)
            llm = self.registry.target(name)
            if isinstance(llm, RoutedLLM):
                call.update(routing_arguments(litellm_params.get("metadata")))  # a bad one: BadRequestError
        if not isinstance(llm, RoutedLLM):
            self._describe(llm.profile)
        call["messages"] = kwargs["messages"]
        headers = {**(call.get("extra_headers") or {}), **(kwargs.get("headers") or {})}
        if headers:
            call["extra_headers"] = headers
        timeout = kwargs.get("timeout")
        if timeout is not None and timeout not in (_LITELLM_DEFAULT_TIMEOUT, litellm.request_timeout):
            call["timeout"] = timeout
        return name, llm, call, call_id

    def _chunks(self, profile: str, stream: Any) -> Iterator[dict[str, Any]]:
        with self._translated(profile, None):
            chunks = _Chunks()
            for chunk in stream:
                yield from chunks.take(chunk)
            yield from chunks.finish()

    def _replay(self, call_id: str | None) -> None:
        """A call litellm sends again after it failed: raise what it raised, without calling any model."""
        with self._lock:
            error = self._failed.get(call_id) if call_id else None
        if error is not None:
            raise error

    @contextmanager
    def _translated(self, profile: str, call_id: str | None) -> Iterator[None]:
        """Raise what the caller's SDK handles: litellm's exception classes, which litellm passes through."""
        try:
            yield
        except Exception as exc:
            error = _for_litellm(exc, profile)
            if call_id:
                with self._lock:
                    self._failed[call_id] = error
                    while len(self._failed) > _REMEMBERED_FAILURES:
                        self._failed.popitem(last=False)
            if error is exc:
                raise
            raise error from exc

    def __repr__(self) -> str:
        return f"UnderstudyProvider(registry={self.registry!r})"


class _Chunks:
    """litellm stream chunks as litellm's ``GenericStreamingChunk`` dicts, the custom handler's stream format.

    The chunk that finishes the answer is held back until the stream ends, so that the usage chunk the provider
    sends after it can ride on it: litellm 1.83 drops any chunk after the finishing one that has no text and no
    tool call, and litellm estimates tokens for a stream whose chunks carry no usage.
    """

    def __init__(self) -> None:
        self._finish: dict[str, Any] | None = None
        self._usage: dict[str, int] | None = None

    def take(self, chunk: Any) -> list[dict[str, Any]]:
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            self._usage = {
                "prompt_tokens": usage.prompt_tokens or 0,
                "completion_tokens": usage.completion_tokens or 0,
                "total_tokens": usage.total_tokens or 0,
            }
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return []
        choice = choices[0]
        delta = getattr(choice, "delta", None)
        text = getattr(delta, "content", None) or ""
        calls = [_tool_call(call) for call in getattr(delta, "tool_calls", None) or []]
        out = [_generic(text if i == 0 else "", call) for i, call in enumerate(calls)] or [_generic(text, None)]
        reason = getattr(choice, "finish_reason", None)
        if reason:
            self._finish = _generic("", None, finish_reason=reason)
        return [generic for generic in out if generic["text"] or generic["tool_use"] is not None]

    def finish(self) -> list[dict[str, Any]]:
        if self._finish is None and self._usage is None:
            return []
        last = self._finish or _generic("", None, finish_reason="stop")
        last["usage"] = self._usage
        return [last]


def _generic(text: str, tool_use: dict[str, Any] | None, *, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "text": text,
        "tool_use": tool_use,
        "is_finished": finish_reason is not None,
        "finish_reason": finish_reason or "",
        "usage": None,
        "index": 0,
    }


def _tool_call(call: Any) -> dict[str, Any]:
    function = getattr(call, "function", None)
    return {
        "id": getattr(call, "id", None),
        "type": "function",
        "function": {"name": getattr(function, "name", None), "arguments": getattr(function, "arguments", None) or ""},
        "index": getattr(call, "index", 0) or 0,
    }


def _model_info(profile: Profile) -> dict[str, Any] | None:
    """The primary model's info from litellm's map, as an entry for ``understudy/<profile>``; None if unknown."""
    try:
        info = litellm.get_model_info(profile.model)
    except Exception:
        return None
    entry = {k: v for k, v in dict(info).items() if v is not None and k not in ("key", "supported_openai_params")}
    entry["litellm_provider"] = PROVIDER
    return entry


def _for_litellm(error: Exception, profile: str) -> Exception:
    """``error`` as one of litellm's exception classes where it is not one already (see the module docstring)."""
    built: Exception
    if isinstance(error, FallbackExhaustedError):
        last = error.__cause__
        kind: Any = type(last)
        if isinstance(last, ProfileCoolingDownError) and last.opened_by_class is not None:
            kind = last.opened_by_class  # skipped without a request: the kind of failure that cooled it down
        own = issubclass(kind, tuple(litellm.LITELLM_EXCEPTION_TYPES)) and kind.__module__ == "litellm.exceptions"
        response = getattr(last, "response", None)
        built = _build(
            kind if own else litellm.APIError,
            message=error.message,
            model=profile,
            status_code=getattr(last, "status_code", None) or 500,
            response=response if type(response).__name__ == "Response" else None,
            request=getattr(last, "request", None),
        )
    elif isinstance(error, ProfileNotFoundError):
        built = _build(litellm.NotFoundError, message=str(error), model=profile)
    elif isinstance(error, ConfigError):
        built = _build(litellm.BadRequestError, message=str(error), model=profile)
    elif isinstance(error, StreamInterruptedError):
        built = _build(litellm.APIConnectionError, message=str(error), model=profile)
    elif _passes_through(error):
        built = error
    else:
        return error  # a programming error: litellm's mapping shows its traceback
    # understudy has retried already: a Router reads num_retries as the deployment's retries, and SDKs that honour
    # provider hints (OpenAI Agents' provider_suggested policy) read x-should-retry, as the openai client does.
    built.num_retries = 0  # type: ignore[attr-defined]
    built.headers = {**(getattr(built, "headers", None) or {}), "x-should-retry": "false"}  # type: ignore[attr-defined]
    return built


def _passes_through(error: BaseException | None) -> bool:
    """True for the classes litellm's exception mapping returns unchanged (``exception_type``'s first check)."""
    return isinstance(error, tuple(litellm.LITELLM_EXCEPTION_TYPES))


def _build(cls: Any, **candidates: Any) -> Exception:
    """An instance of litellm's exception class ``cls``, with the arguments this release's constructor takes."""
    accepted = inspect.signature(cls).parameters
    error: Exception = cls(
        **{k: v for k, v in candidates.items() if k in accepted and v is not None}, llm_provider=PROVIDER
    )
    return error
