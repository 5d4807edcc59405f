"""LLM: what an agent holds. One profile, its fallback strategy, and litellm's call signature."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Final, Unpack

from understudy.calls import backend
from understudy.calls.strategy import FallbackStrategy
from understudy.calls.streams import AsyncFallbackStream, FallbackStream, open_async_stream, open_stream
from understudy.calls.walk import run_async, run_sync, walk
from understudy.errors import ConfigError
from understudy.failures.classify import classify, is_caller_error, refusal

if TYPE_CHECKING:
    from understudy.calls.args import CompletionArgs
    from understudy.calls.stats import ProfileStats
    from understudy.profiles.profile import Profile
    from understudy.registry import LLMRegistry

__all__ = ["LLM", "route_of", "served_by"]

# The profile decides these, and understudy owns retries; a caller passing them is almost surely confused.
_PROFILE_OWNED: Final = frozenset(
    {"model", "api_key", "api_base", "base_url", "num_retries", "max_retries", "retry_policy", "fallbacks"}
)
HIDDEN_KEY: Final = "understudy"


class LLM:
    """One profile, callable like ``litellm.completion``, falling back as its strategy says.

    Get one from ``LLMRegistry.get(name)``; the registry keeps one per profile and tracks the stats of
    every profile a call touches.

    Attributes:
        profile: the profile this LLM calls first.
        fallback_strategy: where to go when it fails; starts as the profile's ``fallbacks`` table and may be
            replaced.
        registry: the registry it belongs to.
    """

    def __init__(self, profile: Profile, registry: LLMRegistry) -> None:
        self.profile = profile
        self.registry = registry
        self.fallback_strategy = FallbackStrategy.from_profile(profile, plugin_manager=registry.plugin_manager)

    @property
    def name(self) -> str:
        return self.profile.name

    def completion(self, **kwargs: Unpack[CompletionArgs]) -> Any:
        """``litellm.completion`` with this profile's model and settings, falling back on failure.

        Takes litellm's keyword arguments (``messages``, ``tools``, ``response_format`` ...) and returns
        litellm's response; ``served_by(response)`` names the profile that produced it. With
        ``stream=True`` it returns a ``FallbackStream`` once the first chunk has arrived: a stream that
        fails before that falls back; one that fails later raises ``StreamInterruptedError``.

        Raises:
            FallbackExhaustedError: every profile the strategy reached failed.
            StreamInterruptedError: while iterating a stream, after chunks were received.
            Exception: the provider's own error when the strategy names no fallback for it, and any
                programming error unchanged.
        """
        return run_sync(walk(self, dict(kwargs)), self.registry.dispatch)

    async def acompletion(self, **kwargs: Unpack[CompletionArgs]) -> Any:
        """The async twin of ``completion``: same arguments, same fallbacks, same events."""
        return await run_async(walk(self, dict(kwargs)), self.registry.dispatch)

    def stats(self) -> ProfileStats:
        """This profile's usage stats (as primary and as anyone's fallback)."""
        return self.registry.stats_of(self.name)

    def _request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The litellm arguments for one call: the profile's settings, then the caller's, retries off.

        Raises:
            TypeError: the caller passed an argument the profile owns (``model``, ``api_key`` ...).
            ProfileError: the profile's key variable is not set.
            ConfigError: litellm's global ``num_retries`` is set, which would retry every call twice over.
        """
        owned = sorted(_PROFILE_OWNED & kwargs.keys())
        if owned:
            raise TypeError(
                f"{', '.join(owned)} come from the profile, not the call; edit profile {self.name!r} "
                "(understudy owns retries: set num_retries there)"
            )
        litellm = sys.modules.get("litellm")
        if litellm is not None and getattr(litellm, "num_retries", None):
            # litellm's sync path reads `num_retries or litellm.num_retries`, so the 0 passed below cannot
            # switch a global setting off: litellm would retry underneath understudy's own retries.
            raise ConfigError(
                f"litellm.num_retries is {litellm.num_retries}; set it to None: understudy owns retries "
                "(set num_retries in each profile instead)"
            )
        # litellm and the openai client retry by default; understudy retries, so they must not.
        return {**self.profile.litellm_kwargs(), **kwargs, "num_retries": 0, "max_retries": 0}

    def _call(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
        """One litellm call, no fallback; records stats. For a stream, waits for the first chunk.

        Raises the provider's failure as the kind the provider reported (``understudy.failures.classify``), and a
        filtered 200 answer as a ``ContentPolicyViolationError``.
        """
        litellm = _litellm()
        started = time.perf_counter()
        try:
            response = litellm.completion(**request)
            if request.get("stream"):
                response = open_stream(self, response)
            else:
                self._refuse_filtered(response)
        except Exception as exc:
            error = self._failed(exc, started)
            if error is exc:
                raise
            raise error from exc
        except BaseException:  # cancelled or interrupted: the provider saw the request, so the stats count it
            self.registry.book.cancelled(self.name, latency=time.perf_counter() - started)
            raise
        return self._served(response, started, as_fallback)

    async def _acall(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
        """The async twin of ``_call``."""
        litellm = _litellm()
        started = time.perf_counter()
        try:
            response = await litellm.acompletion(**request)
            if request.get("stream"):
                response = await open_async_stream(self, response)
            else:
                self._refuse_filtered(response)
        except Exception as exc:
            error = self._failed(exc, started)
            if error is exc:
                raise
            raise error from exc
        except BaseException:
            self.registry.book.cancelled(self.name, latency=time.perf_counter() - started)
            raise
        return self._served(response, started, as_fallback)

    def _refuse_filtered(self, response: Any) -> None:
        refused = refusal(response, self.profile.model)
        if refused is not None:
            usage = getattr(response, "usage", None)
            self.registry.book.usage(
                self.name,
                prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                cost=self.cost_of(response),
            )
            raise refused

    def cost_of(self, response: Any) -> float | None:
        """The response's cost in USD from litellm's cost map, or None when unknown (or a stream)."""
        if isinstance(response, FallbackStream | AsyncFallbackStream):
            return None
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        if isinstance(cost, int | float):
            return float(cost)
        try:
            return float(_litellm().completion_cost(completion_response=response))
        except Exception:
            return None

    def record_stream_usage(self, usage: Any) -> None:
        """Add a finished stream's usage chunk to this profile's stats."""
        prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
        cost: float | None
        try:
            litellm = _litellm()
            cost = sum(
                litellm.cost_per_token(model=self.profile.model, prompt_tokens=prompt, completion_tokens=completion)
            )
        except Exception:
            cost = None
        self.registry.book.usage(self.name, prompt_tokens=prompt, completion_tokens=completion, cost=cost)

    def _failed(self, error: Exception, started: float) -> Exception:
        """Book a failed call and return its error as the kind of failure the provider reported.

        A request litellm refused before sending (a parameter the model does not take) is the caller's
        error, not this model's: it is not booked.
        """
        latency = time.perf_counter() - started
        error = classify(error)
        if not is_caller_error(error):
            self.registry.book.failure(self.name, latency=latency, error_type=type(error).__name__)
        return error

    def _served(self, response: Any, started: float, as_fallback: bool) -> Any:
        book = self.registry.book
        book.success(self.name, latency=time.perf_counter() - started, as_fallback=as_fallback)
        if not isinstance(response, FallbackStream | AsyncFallbackStream):
            usage = getattr(response, "usage", None)
            book.usage(
                self.name,
                prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                cost=self.cost_of(response),
            )
        hidden = getattr(response, "_hidden_params", None)
        if isinstance(hidden, dict):
            hidden[HIDDEN_KEY] = {"profile": self.name, "fallback": as_fallback}
        return response

    def __repr__(self) -> str:
        return f"LLM(profile={self.name!r}, model={self.profile.model!r})"


_litellm = backend.litellm


def route_of(response: Any) -> str | None:
    """For a response from a routed LLM: which router and rule chose its primary (``"match:routes[1]"``)."""
    hidden = getattr(response, "_hidden_params", None)
    info = hidden.get(HIDDEN_KEY) if isinstance(hidden, dict) else None
    route = info.get("route") if isinstance(info, dict) else None
    return route if isinstance(route, str) else None


def served_by(response: Any) -> str | None:
    """The name of the profile that produced a response from ``LLM.completion``, or None."""
    hidden = getattr(response, "_hidden_params", None)
    info = hidden.get(HIDDEN_KEY) if isinstance(hidden, dict) else None
    return info.get("profile") if isinstance(info, dict) else None
