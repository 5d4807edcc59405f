"""Structured events, one per step of a call that did not go plainly.

A call that succeeds on its primary's first try emits nothing. Otherwise, in order::

    AttemptFailed       a profile raised (will it be retried, and after how long)
    ProfileSkipped      a profile was not called: broken, unable to take the request, or cooling down
    FallbackTriggered   the call moves from one profile to the next, and why
    FallbackSucceeded   a fallback served the call
    FallbackExhausted   every profile failed; FallbackExhaustedError follows

A stream with ``on_interrupt = "restart"`` that the provider cut after chunks went out sends
``StreamRestarted`` (what the caller received is void), then the steps above for the rest of its chain; with
``on_interrupt = "continue"`` it sends ``StreamContinued`` (the next profile goes on from what was received).

A routed call starts with ``RouteChosen`` (which rule chose the primary, and why), after a ``RoutingFailed``
when routing failed and the default was used; every event of a routed call carries ``route``. A router file
that changed and no longer loads sends ``RouterReloadFailed``, outside any call.

Every event is a frozen pydantic model: ``event.model_dump_json()`` gives one JSON line, and
``EventAdapter.validate_json(line)`` reads it back. Messages never hold secrets.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from understudy.usage import ClassifierUsage

__all__ = [
    "AnyEvent",
    "AttemptFailed",
    "AttemptSummary",
    "Event",
    "EventAdapter",
    "FallbackExhausted",
    "FallbackSucceeded",
    "FallbackTriggered",
    "ProfileSkipped",
    "RouteChosen",
    "RouterReloadFailed",
    "RoutingFailed",
    "StreamContinued",
    "StreamRestarted",
]


class Event(BaseModel):
    """Fields every event has.

    Attributes:
        call_id: the same for every event of one call.
        primary: the profile the call started with.
        route: for a routed call, which router and rule chose the primary (``"match:routes[1]"``).
        timestamp: seconds since the epoch.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    call_id: str
    primary: str
    route: str | None = None
    timestamp: float = Field(default_factory=time.time)


class AttemptFailed(Event):
    """A profile raised.

    Attributes:
        profile: the profile that failed.
        attempt: which try of this profile (1 is the first).
        error_type: the exception's class name, e.g. ``"RateLimitError"``.
        message: the exception's text, secrets redacted.
        will_retry: True when the same profile is tried again after ``retry_in`` seconds.
        retry_in: the wait before the retry (honours ``Retry-After``), or None.
        latency: seconds this try took.
        cost: what this try cost in USD where the provider reported usage (a refused 200 answer), else None.
    """

    kind: Literal["attempt_failed"] = "attempt_failed"
    profile: str
    attempt: int
    error_type: str
    message: str
    will_retry: bool
    retry_in: float | None = None
    latency: float
    cost: float | None = None


class ProfileSkipped(Event):
    """A profile was not called: it could not be loaded or configured, could not take the request, or is
    cooling down after repeated failures.

    Attributes:
        profile: the profile skipped.
        error_type: ``"ProfileError"``, ``"ProfileNotFoundError"``, ``"UnsupportedParamsError"``,
            ``"ProfileCoolingDownError"`` or ``"ProfileUnfitError"``.
        reason: what is wrong and how to fix it, or why it is cooling down.
        until: for a profile cooling down, the wall-clock time (``time.time()``) its cooldown ends.
    """

    kind: Literal["profile_skipped"] = "profile_skipped"
    profile: str
    error_type: str
    reason: str
    until: float | None = None


class FallbackTriggered(Event):
    """The call moves on from one profile to the next.

    Attributes:
        from_profile: the profile that failed.
        to_profile: the profile tried next.
        error_type: the error that sent the call on.
        reason: its text, secrets redacted.
        model_calls: model calls made so far in this call, retries included.
    """

    kind: Literal["fallback_triggered"] = "fallback_triggered"
    from_profile: str
    to_profile: str
    error_type: str
    reason: str
    model_calls: int


class FallbackSucceeded(Event):
    """A fallback, not the primary, served the call.

    Attributes:
        served_by: the profile whose response the caller gets.
        attempts: model calls made in all, the successful one included.
        latency: seconds from the start of the call to the response.
        cost: the serving call's cost in USD from litellm's cost map, or None when unknown.
        total_cost: the whole call's: ``cost`` plus what failed attempts cost where their provider reported
            usage; None when ``cost`` is unknown.
    """

    kind: Literal["fallback_succeeded"] = "fallback_succeeded"
    served_by: str
    attempts: int
    latency: float
    cost: float | None = None
    total_cost: float | None = None


class _StreamCut(Event):
    """A stream its provider cut after chunks went out, going on on another profile."""

    profile: str
    chunks: int
    error_type: str
    reason: str


class StreamRestarted(_StreamCut):
    """A stream the provider cut after chunks went out starts its answer again on the next profile.

    Everything the caller received from ``profile`` is void; the stream yields a ``StreamRestart`` marker
    before the first chunk of the new answer.

    Attributes:
        profile: the profile whose stream was cut.
        chunks: how many of its chunks the caller had received (and must now discard).
        error_type: what cut it.
        reason: its text, secrets redacted.
    """

    kind: Literal["stream_restarted"] = "stream_restarted"


class StreamContinued(_StreamCut):
    """A stream the provider cut after chunks went out goes on: the next profile continues the answer from
    the text the caller received, given to it as an assistant prefill. Nothing received is void.

    Attributes:
        profile: the profile whose stream was cut.
        chunks: how many chunks the caller had received, from every profile so far.
        error_type: what cut it.
        reason: its text, secrets redacted.
    """

    kind: Literal["stream_continued"] = "stream_continued"


class RouteChosen(Event):
    """A routed call's primary was chosen; the first event of every routed call (after any
    ``RoutingFailed``).

    Attributes:
        router: the router (or plugin) that decided.
        profile: the profile it chose (the call's primary, unless ``sticky_on`` says otherwise).
        reason: why: the rule that matched, the tier, or why the default was used.
        sticky_on: the fallback the session stays on, when the call starts there instead of ``profile``.
        kept: True when the switch cost kept the session on its previous pick.
        classifier: what the classifier profile spent deciding this call; None when no profile was asked
            (a match router, a classifier function, a decision reused from the session).
    """

    kind: Literal["route_chosen"] = "route_chosen"
    router: str
    profile: str
    reason: str
    sticky_on: str | None = None
    kept: bool = False
    classifier: ClassifierUsage | None = None


class RoutingFailed(Event):
    """Routing failed; the call went to the router's default profile instead of failing.

    Attributes:
        router: the router's name.
        error_type: the exception's class name when the router raised; None when the router handled the
            failure itself (a classifier that timed out) and chose its default.
        message: what went wrong, secrets redacted.
    """

    kind: Literal["routing_failed"] = "routing_failed"
    router: str
    error_type: str | None
    message: str


class RouterReloadFailed(Event):
    """A router file changed and its new version does not load; the last good version keeps routing.

    Sent once per broken version, outside any call (``call_id`` and ``primary`` are empty), when a call through
    the router by name (``LLMRegistry.routed``, ``understudy/<router>``) finds the change.

    Attributes:
        router: the router's name (the file's stem).
        path: the file.
        message: what is wrong with it and how to fix it, secrets redacted.
    """

    kind: Literal["router_reload_failed"] = "router_reload_failed"
    router: str
    path: str
    message: str


class AttemptSummary(BaseModel):
    """One step of an exhausted call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: str
    error_type: str
    message: str
    duration: float
    loaded: bool = True


class FallbackExhausted(Event):
    """Every profile the call could reach failed; ``FallbackExhaustedError`` is raised next.

    Attributes:
        attempts: every step in order.
        latency: seconds from the start of the call.
        stopped_by: ``"deadline"`` or ``"max_attempts"`` when the call's budget ended it before its chain did.
    """

    kind: Literal["fallback_exhausted"] = "fallback_exhausted"
    attempts: list[AttemptSummary]
    latency: float
    stopped_by: Literal["deadline", "max_attempts"] | None = None


AnyEvent = Annotated[
    AttemptFailed
    | ProfileSkipped
    | FallbackTriggered
    | FallbackSucceeded
    | FallbackExhausted
    | RouteChosen
    | RoutingFailed
    | RouterReloadFailed
    | StreamRestarted
    | StreamContinued,
    Field(discriminator="kind"),
]
"""Any concrete event, discriminated by ``kind``."""

EventAdapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
"""Validates or parses any event: ``EventAdapter.validate_json(line)``."""
