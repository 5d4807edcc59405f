"""Call observers: what sees one call from its start to its end, with every attempt and event in between.

Events (``understudy.events``) report the steps of a call that did not go plainly; an observer sees every call,
plain ones too, which traces, metrics and usage logs need (``understudy.observability``). A plugin hands out one
observer per call through the ``understudy_observe_call`` hook. With no plugin implementing it, a call pays one
look at the hook and nothing more.

The driver (``understudy.calls.drivers``) tells the observers, in order::

    event(e)              for every event, as it is sent to subscribers
    attempt_started(...)  just before a profile is called (in the calling thread or task)
    attempt_ended(...)    just after, with its response or its error
    ended(...)            the call's outcome: the response (a stream once its first chunk came) or the error

``ended`` may come while an attempt is open: the call was cancelled or interrupted during it, and that
attempt ended with the call's error. A stream goes on after ``ended``: ``on_stream_end(stream, callback)`` is
told when it finishes. An observer that raises is logged and dropped for the rest of the call; it never
breaks the call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import pluggy

    from understudy.events import Event
    from understudy.profiles.profile import Profile

__all__ = ["CallObserver", "CallStart", "Observers", "StreamEnd", "observe", "observing", "on_stream_end"]

logger = logging.getLogger("understudy")


@dataclass(frozen=True, slots=True)
class CallStart:
    """What an observer is told when a call starts.

    Attributes:
        call_id: the same as on the call's events.
        profile: the call's primary profile.
        mode: ``"sync"`` or ``"async"``.
        stream: whether the caller asked for a stream.
        route: for a routed call, which router and rule chose the primary.
        request: the caller's arguments as passed (``messages``, ``tools``, ``extra_headers`` ...), not the
            profile's settings or key. They may hold the caller's own credentials (a header): an observer that
            records more than the messages must redact (``understudy.redaction``).
        started: the wall-clock time (``time.time()``) the call started.
        restarts: a stream the provider cuts restarts or continues on the next profile
            (``on_interrupt``): the cut stream's end is not the call's, and the walk of the rest of the call
            tells the same observers (``ended`` again, with the new stream or the error).
    """

    call_id: str
    profile: Profile
    mode: Literal["sync", "async"]
    stream: bool = False
    route: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict, repr=False)
    started: float = field(default_factory=time.time)
    restarts: bool = False


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """How a stream ended: ``usage`` is its usage chunk (None when the provider sent none), ``cost`` its price
    where known, ``error`` what cut it (None for a whole answer or a stream the caller closed)."""

    usage: Any = None
    cost: float | None = None
    error: BaseException | None = None


class CallObserver(Protocol):
    """Sees one call; see the module's docstring for the order of the calls."""

    def attempt_started(self, profile: Profile, *, as_fallback: bool) -> None: ...

    def attempt_ended(self, response: Any, error: BaseException | None) -> None: ...

    def event(self, event: Event) -> None: ...

    def ended(self, response: Any, error: BaseException | None) -> None: ...


def observing(plugin_manager: pluggy.PluginManager) -> bool:
    """Whether any plugin observes calls (else a call need not describe itself)."""
    return bool(plugin_manager.hook.understudy_observe_call.get_hookimpls())


def observe(plugin_manager: pluggy.PluginManager, start: CallStart) -> Observers | None:
    """The observers the plugins give for the call ``start`` describes, or None when none does."""
    try:
        results = plugin_manager.hook.understudy_observe_call(call=start)
        observers = [observer for observer in results if observer is not None]
    except Exception:
        logger.exception("an understudy_observe_call plugin raised; the call goes on unobserved by it")
        return None
    return Observers(observers) if observers else None


class Observers:
    """Several observers told as one; one that raises is logged and left out of the rest of the call."""

    __slots__ = ("_observers",)

    def __init__(self, observers: list[CallObserver]) -> None:
        self._observers = observers

    def attempt_started(self, profile: Profile, *, as_fallback: bool) -> None:
        self._tell("attempt_started", profile, as_fallback=as_fallback)

    def attempt_ended(self, response: Any, error: BaseException | None) -> None:
        self._tell("attempt_ended", response, error)

    def event(self, event: Event) -> None:
        self._tell("event", event)

    def ended(self, response: Any, error: BaseException | None) -> None:
        self._tell("ended", response, error)

    def _tell(self, what: str, *args: Any, **kwargs: Any) -> None:
        for observer in list(self._observers):
            try:
                getattr(observer, what)(*args, **kwargs)
            except Exception:
                logger.exception("call observer %r raised in %s; it sees no more of this call", observer, what)
                self._observers.remove(observer)


def on_stream_end(stream: Any, callback: Callable[[StreamEnd], None]) -> bool:
    """Have ``callback`` told when ``stream`` (a response ``ended`` was given) finishes; False when it is not a
    stream understudy opened, or has finished already (then the callback is not called)."""
    watch = getattr(type(stream), "watch_end", None)
    return bool(watch(stream, callback)) if callable(watch) else False
