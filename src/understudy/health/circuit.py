"""Health memory: a circuit breaker per profile, so that calls stop paying a provider that keeps failing.

A profile is *healthy* (closed) until ``failures`` model-scoped failures land within ``window`` seconds; it
then *cools down* (open) for ``cooldown`` seconds, during which calls skip it without sending a request. A
429's ``Retry-After`` cools it down for as long as the provider asked, from the first such answer. When the
cooldown is over, the next call is let through as the one *probe* (half-open) while concurrent calls go on
skipping it; the probe's model-scoped failure cools it down again, and anything else without an answer (a
request-scoped failure, a cancelled call) lets the next call probe instead, as does a probe that has not
reported within a cooldown. Any answer, the probe's or a
call's that started earlier, makes the profile healthy again and forgets its failures.

``HealthStore`` is the interface the walk uses; ``MemoryHealth`` keeps the state in this process, exact
under threads and asyncio alike (one lock, never held across a call). A shared store (Redis) implements the
same five methods. A probe is named by a token, so that a probe that reports late (after the profile healed
and cooled down again) cannot free or trip the newer probe's circuit.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from understudy.profiles.health import MAX_HEALTH_SECONDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from understudy.profiles.health import HealthSettings

__all__ = ["Failure", "HealthStore", "MemoryHealth", "ProfileHealth", "Verdict"]

State = Literal["healthy", "cooling_down", "half_open"]


@dataclass(frozen=True, slots=True)
class Failure:
    """A model-scoped failure of one attempt, as the walk saw it."""

    error_type: str
    error_class: type[BaseException] = field(repr=False)
    status_code: int | None = None
    retry_after: float | None = None  # seconds a 429 asked for


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a call may send a request to a profile now.

    Attributes:
        allowed: False: skip the profile (``until`` and ``reason`` say why).
        probe: this call is the half-open probe: a token to report its outcome with (``probe=``); None otherwise.
        until: wall-clock time (``time.time()``) the cooldown ends; None while another call probes.
        reason: one line for the skipped event.
        opened_by: the failure that made the profile cool down (its class picks the fallbacks of a skipped
            primary).
    """

    allowed: bool
    probe: int | None = None
    until: float | None = None
    reason: str = ""
    opened_by: Failure | None = None


@dataclass(frozen=True, slots=True)
class ProfileHealth:
    """What ``registry.health()`` shows for one profile."""

    state: State
    recent_failures: int
    until: float | None  # wall-clock end of the cooldown, while cooling down
    opened_by: str | None  # the error type that made it cool down
    reason: str


class HealthStore(Protocol):
    """The health state the walk reads and writes; implement it to share health between processes."""

    def check(self, profile: str, settings: HealthSettings) -> Verdict: ...

    def failed(self, profile: str, settings: HealthSettings, failure: Failure, *, probe: int | None) -> None: ...

    def succeeded(self, profile: str, *, probe: int | None) -> None: ...

    def released(self, profile: str, probe: int) -> None:
        """A probe ended without a verdict on the model (request-scoped failure, cancelled): let another probe."""
        ...

    def snapshot(self) -> dict[str, ProfileHealth]: ...


@dataclass(slots=True)
class _Circuit:
    failures: deque[float] = field(default_factory=deque)  # monotonic times, within the window
    open_until: float | None = None  # monotonic
    opened_by: Failure | None = None
    reason: str = ""
    probing: int | None = None  # the token of the probe in flight
    probe_since: float = 0.0  # monotonic: when it was let through
    window: float = 0.0  # the window of the last failure counted, for the snapshot


class MemoryHealth:
    """``HealthStore`` in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}
        self._tokens = itertools.count(1)

    def check(self, profile: str, settings: HealthSettings) -> Verdict:
        if not settings.enabled:
            return _ALLOWED
        with self._lock:
            circuit = self._circuits.get(profile)
            if circuit is None or circuit.open_until is None:
                return _ALLOWED
            now = self._clock()
            if now < circuit.open_until:
                until = time.time() + (circuit.open_until - now)
                return Verdict(False, until=until, reason=circuit.reason, opened_by=circuit.opened_by)
            if circuit.probing is not None and now - circuit.probe_since < settings.cooldown:
                return Verdict(
                    False, reason="another call is probing whether it recovered", opened_by=circuit.opened_by
                )
            # No probe out, or one that has not reported within a cooldown: taken as lost (a stream its caller
            # dropped unclosed, a process that died with a shared store), so that one lost probe cannot keep
            # the profile skipped for ever.
            circuit.probing, circuit.probe_since = next(self._tokens), now
            return Verdict(True, probe=circuit.probing, opened_by=circuit.opened_by)

    def failed(self, profile: str, settings: HealthSettings, failure: Failure, *, probe: int | None) -> None:
        if not settings.enabled:
            return
        with self._lock:
            circuit = self._circuits.setdefault(profile, _Circuit())
            probe_failed = probe is not None and circuit.probing == probe  # a stale token is an ordinary failure
            now = self._clock()
            circuit.window = settings.window
            circuit.failures.append(now)
            while circuit.failures and circuit.failures[0] <= now - settings.window:
                circuit.failures.popleft()
            if failure.retry_after is not None and failure.retry_after > 0:
                # A day at most: a header of years (or inf) must not retire a profile for good.
                wait = min(failure.retry_after, MAX_HEALTH_SECONDS) if math.isfinite(failure.retry_after) else None
                asked = now + (wait if wait is not None else MAX_HEALTH_SECONDS)
                if circuit.open_until is None or asked > circuit.open_until:
                    self._open(circuit, failure, asked, f"the provider asked to wait {asked - now:g} s")
            elif probe_failed:
                self._open(circuit, failure, now + settings.cooldown, f"{failure.error_type} again after a cooldown")
            elif len(circuit.failures) >= settings.failures and (
                circuit.open_until is None or now >= circuit.open_until
            ):
                count = len(circuit.failures)
                failures = f"{count} failure{'s' if count != 1 else ''}"
                reason = f"{failures} in {settings.window:g} s, the last {failure.error_type}"
                self._open(circuit, failure, now + settings.cooldown, reason)
            if probe_failed:
                circuit.probing = None

    def succeeded(self, profile: str, *, probe: int | None) -> None:
        with self._lock:
            self._circuits.pop(profile, None)  # an answer is the evidence: healthy again, its past forgotten

    def released(self, profile: str, probe: int) -> None:
        with self._lock:
            circuit = self._circuits.get(profile)
            if circuit is not None and circuit.probing == probe:
                circuit.probing = None

    def snapshot(self) -> dict[str, ProfileHealth]:
        with self._lock:
            now, wall = self._clock(), time.time()
            for circuit in self._circuits.values():
                while circuit.failures and circuit.failures[0] <= now - circuit.window:
                    circuit.failures.popleft()
            shown = {name: _shown(c, now, wall) for name, c in self._circuits.items()}
            return {name: h for name, h in shown.items() if h.state != "healthy" or h.recent_failures}

    @staticmethod
    def _open(circuit: _Circuit, failure: Failure, until: float, reason: str) -> None:
        circuit.open_until, circuit.opened_by, circuit.reason = until, failure, f"cooling down: {reason}"
        circuit.failures.clear()


_ALLOWED = Verdict(True)


def _shown(circuit: _Circuit, now: float, wall: float) -> ProfileHealth:
    opened_by = circuit.opened_by.error_type if circuit.opened_by else None
    if circuit.open_until is None:
        return ProfileHealth("healthy", len(circuit.failures), None, None, "")
    if now < circuit.open_until:
        return ProfileHealth("cooling_down", 0, wall + circuit.open_until - now, opened_by, circuit.reason)
    probing = circuit.probing is not None
    probe = "a call is probing whether it recovered" if probing else "the next call probes whether it recovered"
    return ProfileHealth("half_open", 0, None, opened_by, probe)
