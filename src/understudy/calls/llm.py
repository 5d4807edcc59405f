"""LLM: what an agent holds. One profile, its fallback strategy, and litellm's call signature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Unpack

from understudy.calls.drivers import run_async, run_sync
from understudy.calls.observers import CallStart, observe, observing
from understudy.calls.restarts import async_restarting, interrupt_mode, restarting
from understudy.calls.strategy import FallbackStrategy
from understudy.calls.transports import caller_for
from understudy.calls.walk import new_call_id, walk

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

    from understudy.calls.actions import Action
    from understudy.calls.args import CompletionArgs
    from understudy.calls.observers import Observers
    from understudy.calls.protocols import Caller, Registry
    from understudy.calls.restarts import Restart
    from understudy.calls.stats import ProfileStats
    from understudy.events import Event
    from understudy.profiles.profile import Profile

__all__ = ["LLM"]


class LLM:
    """One profile, callable like ``litellm.completion``, falling back as its strategy says.

    Get one from ``LLMRegistry.get(name)``; the registry keeps one per profile and tracks the stats of
    every profile a call touches.

    Attributes:
        profile: the profile this LLM calls first.
        fallback_strategy: where to go when it fails; starts as the profile's ``fallbacks`` table and may be
            replaced.
        registry: the registry it belongs to.
        caller: how its model is called once (``LitellmCall``, or ``DirectCall`` for a direct profile); the
            fallback walk goes through it.
    """

    def __init__(self, profile: Profile, registry: Registry) -> None:
        self.registry = registry
        self.caller: Caller = caller_for(profile, registry.book, registry.plugin_manager)
        self.fallback_strategy = FallbackStrategy.from_profile(profile, plugin_manager=registry.plugin_manager)

    @property
    def profile(self) -> Profile:
        return self.caller.profile

    @profile.setter
    def profile(self, profile: Profile) -> None:
        self.caller = caller_for(profile, self.registry.book, self.registry.plugin_manager)

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
        return self.run(dict(kwargs))

    async def acompletion(self, **kwargs: Unpack[CompletionArgs]) -> Any:
        """The async twin of ``completion``: same arguments, same fallbacks, same events."""
        return await self.arun(dict(kwargs))

    def run(self, kwargs: dict[str, Any], on_restart: Callable[[Any], None] | None = None, **walk: Any) -> Any:
        """One call's walk, driven with blocking calls; a stream cut with ``on_interrupt = "restart"``
        restarts, and one with ``"continue"`` goes on (``understudy.calls.restarts``).

        ``walk``: ``route``, ``call_id``, ``resolve`` and ``preface``, as ``steps`` takes them. ``on_restart``
        is given each restarted stream once it is open.
        """
        mode = interrupt_mode(kwargs, self.profile)
        restarts = mode != "raise" and bool(kwargs.get("stream"))
        watch = self._observers(kwargs, walk, "sync", restarts)  # first: it gives the call its id, for the walk
        if not restarts:
            return run_sync(self.steps(kwargs, **walk), self.registry.dispatch, watch)
        walk.setdefault("call_id", new_call_id())  # the restarts' events belong to the same call
        response = run_sync(self.steps(dict(kwargs), **walk), self.registry.dispatch, watch)
        walk.pop("preface", None)  # said once, by the first walk

        def again(restart: Restart) -> Any:
            steps = self.steps(restart.request(kwargs), restart=restart, **walk)
            stream = run_sync(steps, self.registry.dispatch, watch)  # the same call: the same observers
            if on_restart is not None:
                on_restart(stream)
            return stream

        return restarting(response, again, kwargs, continues=mode == "continue", gave_up=_ended(watch))

    async def arun(self, kwargs: dict[str, Any], on_restart: Callable[[Any], None] | None = None, **walk: Any) -> Any:
        """The async twin of ``run``."""
        mode = interrupt_mode(kwargs, self.profile)
        restarts = mode != "raise" and bool(kwargs.get("stream"))
        watch = self._observers(kwargs, walk, "async", restarts)
        if not restarts:
            return await run_async(self.steps(kwargs, **walk), self.registry.dispatch, watch)
        walk.setdefault("call_id", new_call_id())
        response = await run_async(self.steps(dict(kwargs), **walk), self.registry.dispatch, watch)
        walk.pop("preface", None)

        async def again(restart: Restart) -> Any:
            steps = self.steps(restart.request(kwargs), restart=restart, **walk)
            stream = await run_async(steps, self.registry.dispatch, watch)
            if on_restart is not None:
                on_restart(stream)
            return stream

        return async_restarting(response, again, kwargs, continues=mode == "continue", gave_up=_ended(watch))

    def _observers(
        self, kwargs: dict[str, Any], walk: dict[str, Any], mode: Literal["sync", "async"], restarts: bool
    ) -> Observers | None:
        """What the plugins observing calls (``understudy_observe_call``) watch this call with, or None.
        ``restarts``: a stream cut after chunks went out restarts or continues, so its cut is not the end."""
        plugins = self.registry.plugin_manager
        if not observing(plugins):
            return None
        call_id = walk.setdefault("call_id", new_call_id())
        stream = bool(kwargs.get("stream"))
        start = CallStart(call_id, self.profile, mode, stream, walk.get("route"), kwargs, restarts=restarts)
        return observe(plugins, start)

    def stats(self) -> ProfileStats:
        """This profile's usage stats (as primary and as anyone's fallback)."""
        return self.registry.stats_of(self.name)

    def cost_of(self, response: Any) -> float | None:
        """The response's cost in USD from litellm's cost map, or None when unknown (or a stream)."""
        return self.caller.cost_of(response)

    def steps(
        self,
        kwargs: dict[str, Any],
        *,
        route: str | None = None,
        call_id: str | None = None,
        resolve: Callable[[str], Caller] | None = None,
        restart: Restart | None = None,
        preface: Iterable[Event] = (),
    ) -> Generator[Action, Any, Any]:
        """The fallback walk of one call from this LLM, for a driver (``understudy.calls.drivers``) to run.

        ``resolve`` turns a fallback's name into its caller (default: the registry's LLM of that name);
        ``preface``: events the walk sends before its first attempt (a routed call's ``RouteChosen``).
        """
        return walk(
            self.caller,
            self.fallback_strategy,
            kwargs,
            resolve=resolve or (lambda name: self.registry.get(name).caller),
            retry_policy=self.registry.retry_policy,
            exception_names=self.registry.exception_names,
            route=route,
            call_id=call_id,
            health=self.registry.health_store,
            restart=restart,
            preface=preface,
        )

    def __repr__(self) -> str:
        return f"LLM(profile={self.name!r}, model={self.profile.model!r})"


def _ended(watch: Observers | None) -> Callable[[BaseException], None] | None:
    """What a restarting stream that gives up tells the call's observers."""
    return None if watch is None else (lambda error: watch.ended(None, error))
