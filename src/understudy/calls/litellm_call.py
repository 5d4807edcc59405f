"""LitellmCall: one profile's model called once through litellm, its failure classified, its stats booked.

The ``Caller`` the walk uses for every profile. Retries and fallbacks are the walk's; here litellm's and the
openai client's own retries are switched off, so nothing is retried twice.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from understudy.calls import backend
from understudy.calls.capabilities import unfit
from understudy.calls.plugin_kinds import plugin_kind
from understudy.calls.responses import mark_failure_cost, mark_served
from understudy.calls.streams import AsyncFallbackStream, FallbackStream, open_async_stream, open_stream
from understudy.calls.timeouts import transport_timeout
from understudy.errors import ConfigError
from understudy.failures.kinds import classify, is_caller_error, refusal

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pluggy

    from understudy.calls.stats import StatsBook
    from understudy.profiles.profile import Profile

__all__ = ["PROFILE_OWNED", "LitellmCall"]

# The profile decides these, and understudy owns retries; a caller passing them is almost surely confused.
PROFILE_OWNED: Final = frozenset(
    {"model", "api_key", "api_base", "base_url", "num_retries", "max_retries", "retry_policy", "fallbacks"}
)


class LitellmCall:
    """Calls ``profile``'s model with ``litellm.completion``, booking every call in ``book``."""

    def __init__(self, profile: Profile, book: StatsBook, plugin_manager: pluggy.PluginManager | None = None) -> None:
        self.profile = profile
        self.book = book
        self.plugin_manager = plugin_manager  # for the understudy_classify hook

    @property
    def name(self) -> str:
        return self.profile.name

    def request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The litellm arguments for one call: the profile's settings, then the caller's, retries off.

        A call's ``extra_headers`` are added to the profile's (a call's header of the same name wins), so a
        trace header never drops a proxy's key header.

        Raises:
            TypeError: the caller passed an argument the profile owns (``model``, ``api_key`` ...).
            ProfileError: the profile's key variable is not set.
            ConfigError: litellm's global ``num_retries`` is set, which would retry every call twice over.
        """
        owned = sorted(PROFILE_OWNED & kwargs.keys())
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
        profile = self.profile.litellm_kwargs()
        request = {**profile, **kwargs, "num_retries": 0, "max_retries": 0}  # understudy retries; they must not
        if isinstance(profile.get("extra_headers"), dict) and isinstance(kwargs.get("extra_headers"), dict):
            request["extra_headers"] = {**profile["extra_headers"], **kwargs["extra_headers"]}
        timeout = transport_timeout(self.profile, request)
        if timeout is not None:
            request["timeout"] = timeout
        return request

    def call(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
        """One litellm call, no fallback; records stats. For a stream, waits for the first chunk.

        Raises the provider's failure as the kind the provider reported (``understudy.failures.kinds``), and
        a filtered 200 answer as a ``ContentPolicyViolationError``.
        """
        litellm = backend.litellm()
        with self._booked() as started:
            response = litellm.completion(**request)
            if request.get("stream"):
                response = open_stream(self, response)
            else:
                self._refuse_filtered(response)
        return self._served(response, started, as_fallback)

    async def acall(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
        """The async twin of ``call``."""
        litellm = backend.litellm()
        with self._booked() as started:
            response = await litellm.acompletion(**request)
            if request.get("stream"):
                response = await open_async_stream(self, response)
            else:
                self._refuse_filtered(response)
        return self._served(response, started, as_fallback)

    def cannot_serve(self, request: dict[str, Any]) -> str | None:
        """Why this model is known not to serve ``request`` (``understudy.calls.capabilities``), or None."""
        return unfit(self.profile, request)

    def cost_of(self, response: Any) -> float | None:
        """The response's cost in USD from litellm's cost map, or None when unknown (or a stream)."""
        if isinstance(response, FallbackStream | AsyncFallbackStream):
            return None
        hidden = getattr(response, "_hidden_params", None) or {}
        if "response_cost" in hidden:  # litellm priced it already; None: it cannot, and asking again costs 0.3 ms
            cost = hidden["response_cost"]
            return float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
        try:
            return float(backend.litellm().completion_cost(completion_response=response))
        except Exception:
            return None

    def record_stream_usage(self, usage: Any) -> float | None:
        """Add a finished stream's usage chunk to this profile's stats; returns its cost where known."""
        prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
        cost: float | None
        try:
            litellm = backend.litellm()
            cost = sum(
                litellm.cost_per_token(model=self.profile.model, prompt_tokens=prompt, completion_tokens=completion)
            )
        except Exception:
            cost = None
        self.book.usage(self.name, prompt_tokens=prompt, completion_tokens=completion, cost=cost)
        return cost

    def _refuse_filtered(self, response: Any) -> None:
        refused = refusal(response, self.profile.model, opted_in=self.profile.refusal_is_failure)
        if refused is None:
            refused = plugin_kind(self.plugin_manager, self.profile, error=None, response=response)
        if refused is not None:
            mark_failure_cost(refused, self._book_usage(response))
            raise refused

    @contextmanager
    def _booked(self) -> Iterator[float]:
        """Time one call; book it if it fails and raise its error as the kind the provider reported.

        A request litellm refused before sending (a parameter the model does not take) is the caller's
        error, not this model's: it is not booked.
        """
        started = time.perf_counter()
        try:
            yield started
        except Exception as exc:
            latency = time.perf_counter() - started
            error = classify(exc)
            error = plugin_kind(self.plugin_manager, self.profile, error=error) or error
            if not is_caller_error(error):
                self.book.failure(self.name, latency=latency, error_type=type(error).__name__)
            if error is exc:
                raise
            raise error from exc
        except BaseException:  # cancelled or interrupted: the provider saw the request, so the stats count it
            self.book.cancelled(self.name, latency=time.perf_counter() - started)
            raise

    def _served(self, response: Any, started: float, as_fallback: bool) -> Any:
        self.book.success(self.name, latency=time.perf_counter() - started, as_fallback=as_fallback)
        cost = None if isinstance(response, FallbackStream | AsyncFallbackStream) else self._book_usage(response)
        mark_served(response, self.name, as_fallback=as_fallback, cost=cost)
        return response

    def _book_usage(self, response: Any) -> float | None:
        usage = getattr(response, "usage", None)
        cost = self.cost_of(response)
        self.book.usage(
            self.name,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cost=cost,
        )
        return cost

    def __repr__(self) -> str:
        return f"LitellmCall(profile={self.name!r}, model={self.profile.model!r})"
