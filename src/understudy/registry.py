"""LLMRegistry: one LLM per profile, created on first use, with the usage stats of every profile."""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from understudy.calls.explanation import Explanation, explanation
from understudy.calls.llm import LLM
from understudy.calls.retry import RetryPolicy
from understudy.calls.stats import ProfileStats, RouteStats, StatsBook
from understudy.errors import ProfileNotFoundError, RouteConfigError, RouterFileError
from understudy.events import Event
from understudy.failures.names import ExceptionNames
from understudy.health.circuit import HealthStore, MemoryHealth, ProfileHealth
from understudy.profiles.profile import RESERVED_STEMS
from understudy.profiles.store import ProfileStore
from understudy.routing.routed import RoutedLLM
from understudy.routing.router_files import RouterFiles, WatchedRouter
from understudy.routing.sessions import Stickiness

if TYPE_CHECKING:
    import pluggy

    from understudy.routing.routes import Router

__all__ = ["LLMRegistry", "Subscriber"]

logger = logging.getLogger("understudy")

Subscriber: TypeAlias = Callable[[Event], Awaitable[None] | None]
"""A plain callback for events: sync, or async (awaited on async calls, run to completion on sync ones)."""


class LLMRegistry:
    """Creates one ``LLM`` per profile on first ``get(name)`` and reuses it.

    Every profile that serves or fails a call, primary or fallback, has its stats here. Fallback profiles
    are loaded through ``get`` only when a call reaches them.

    Args:
        store: where profiles come from (default: a ``ProfileStore`` on the default search path).
        retry_policy: backoff between retries of one profile.
        health: which profiles are cooling down after repeated failures (default: a ``MemoryHealth``, this
            process's memory); pass a shared ``HealthStore`` to share it between processes.
    """

    def __init__(
        self,
        store: ProfileStore | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        health: HealthStore | None = None,
    ) -> None:
        self.store = store or ProfileStore()
        self.retry_policy = retry_policy or RetryPolicy()
        self.exception_names = ExceptionNames.of(self.store.plugin_manager)
        self.book = StatsBook()
        self.health_store: HealthStore = health if health is not None else MemoryHealth()
        self._llms: dict[str, LLM] = {}
        self._router_files = RouterFiles(self)
        self._routed: dict[str, RoutedLLM] = {}
        self._stickiness_set: set[str] = set()  # routers whose stickiness code gave: the file's no longer counts
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        return self.store.plugin_manager

    def get(self, name: str) -> LLM:
        """The LLM for profile ``name``, loading the profile on first use.

        A profile whose content changed is loaded anew, with a new LLM (a strategy replaced on the old one
        does not carry over). A profile that fails to load is not remembered, so the next ``get`` tries
        again.

        Raises:
            ProfileNotFoundError: no such profile.
            ProfileError: its file is invalid.
        """
        profile = self.store.load(name)
        with self._lock:
            llm = self._llms.get(name)
            if llm is None or llm.profile != profile:
                llm = self._llms[name] = LLM(profile, self)
            return llm

    def get_routed(self, router: Router, *, stickiness: Stickiness | str | float | None = None) -> RoutedLLM:
        """What an agent holds when a router picks the primary: routes each call, then falls back.

        Args:
            router: a ``MatchRouter``, ``TieredRouter`` or any ``Router``.
            stickiness: ``"per_call"`` (default), ``"session"``, seconds for a ttl, or a ``Stickiness``.

        Raises:
            RouteConfigError: the router names profiles that do not exist (checked now, not mid-call).
        """
        known = set(self.store.names())
        check_names = getattr(router, "check_names", None)
        if callable(check_names):  # a router that can say which of its rules is wrong
            check_names(known)
        missing = [name for name in router.profiles() if name not in known]
        if missing:
            raise RouteConfigError(
                f"router {router.name!r} names profiles that do not exist: {', '.join(missing)}; "
                f"create them or fix the routes (searched {', '.join(str(p) for p in self.store.paths)})",
                path=getattr(router, "path", None),
            )
        return RoutedLLM(self, router, stickiness)

    def router(self, name: str) -> WatchedRouter:
        """The router file called ``name`` beside the profiles (``routes``, ``tiers``, or a file that says
        ``kind = "tiered"`` or ``"match"``), read again whenever it changes; an edit that does not load keeps
        the last good version routing and sends ``RouterReloadFailed``.

        Raises:
            RouteConfigError: no such router file, or it does not load; names the file, the key and the fix.
        """
        return self._router_files.get(name)

    def routed(self, name: str, *, stickiness: Stickiness | str | float | None = None) -> RoutedLLM:
        """The routed LLM of router file ``name``: what ``understudy/<name>`` reaches through the litellm
        provider and the openai transport. One per name. Its stickiness is the file's ``stickiness`` key
        (followed when the file changes), unless ``stickiness`` is given, which replaces it from then on.

        Raises:
            RouteConfigError: no such router file, or it does not load.
        """
        router = self.router(name)
        with self._lock:
            routed = self._routed.get(name)
            if stickiness is not None:
                self._stickiness_set.add(name)
                chosen = Stickiness.of(stickiness)
            elif routed is not None and name in self._stickiness_set:
                return routed
            else:
                chosen = Stickiness.of(router.stickiness)
            if routed is None:
                routed = self._routed[name] = RoutedLLM(self, router, chosen)
            elif routed.stickiness != chosen:
                routed.stickiness = chosen  # sessions are kept; only the decision memory starts again
            return routed

    def target(self, name: str) -> LLM | RoutedLLM:
        """What a call addressed to ``name`` runs: the profile called ``name``, else the router file called
        ``name`` (for the litellm provider and the openai transport).

        Raises:
            ProfileNotFoundError: neither a profile nor a router file has that name.
            ProfileError: the profile's file is invalid.
            RouteConfigError: the router file does not load.
        """
        if name in RESERVED_STEMS or self._router_files.loaded(name):
            return self.routed(name)  # a router read by name: no profile lookup (and parse) on every call
        try:
            return self.get(name)
        except RouterFileError:
            return self.routed(name)
        except ProfileNotFoundError:
            if self._router_files.locate(name) is not None:  # a YAML router file: never a profile
                return self.routed(name)
            raise

    def route_stats(self) -> dict[str, RouteStats]:
        """Per route of every routed LLM: calls, who served them, failures."""
        return self.book.route_snapshot()

    def stats(self) -> dict[str, ProfileStats]:
        """Usage stats of every profile that was called, by name."""
        return self.book.snapshot()

    def health(self) -> dict[str, ProfileHealth]:
        """Each profile that failed lately or is cooling down, with its state; a profile not listed is healthy."""
        return self.health_store.snapshot()

    def explain(self, name: str, error: str = "*") -> Explanation:
        """What a call to profile ``name`` does now when it raises ``error`` (an exception name, or ``"*"``):
        the profiles it tries, in order, each with its health, so a profile cooling down shows as skipped.
        ``print()`` it for words; it is the dict ``understudy explain --json`` prints, with ``health``.

        Raises:
            ProfileError: the profile cannot be loaded.
            UnknownExceptionNameError: ``error`` is not a registered exception name.
        """
        llm = self.get(name)
        return explanation(
            self.store,
            llm.profile,
            error,
            strategy=llm.fallback_strategy,
            names=self.exception_names,
            health=self.health(),
        )

    def stats_of(self, name: str) -> ProfileStats:
        """One profile's stats (all zero before its first call)."""
        return self.book.snapshot().get(name) or ProfileStats(profile=name)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event of this registry's calls; returns an unsubscribe function.

        The callback may be sync or async. One that raises is logged and never breaks the call or the other
        subscribers.
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def dispatch(self, event: Event) -> list[Awaitable[Any]]:
        """Deliver ``event`` to every plugin and subscriber; return what async subscribers left to await."""
        pending: list[Awaitable[Any]] = []
        hook = self.plugin_manager.hook.understudy_fallback_event
        # One hookimpl at a time, in pluggy's order (last registered first), so a plugin that raises cannot
        # keep the event from the others. Wrappers make no sense for a notification and are not called.
        for impl in reversed(hook.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                _warn_wrapper_once(impl.plugin_name)
                continue
            self._deliver(f"plugin {impl.plugin_name!r}", impl.function, [event] * len(impl.argnames), pending)
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            self._deliver(f"subscriber {callback!r}", callback, [event], pending)
        return pending

    @staticmethod
    def _deliver(who: str, function: Callable[..., Any], args: list[Event], pending: list[Awaitable[Any]]) -> None:
        try:
            result = function(*args)
        except Exception:
            logger.exception("event %s raised; the call goes on", who)
            return
        if inspect.isawaitable(result):
            pending.append(result)

    def __repr__(self) -> str:
        return f"LLMRegistry(store={self.store!r}, loaded={sorted(self._llms)!r})"


_warned_wrappers: set[str] = set()


def _warn_wrapper_once(plugin: str) -> None:
    if plugin not in _warned_wrappers:
        _warned_wrappers.add(plugin)
        logger.warning("plugin %r wraps understudy_fallback_event; wrappers are not called for events", plugin)
