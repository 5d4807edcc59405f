"""Health memory: a circuit breaker per profile, so that calls stop paying a provider that keeps failing.

A profile is *healthy* (closed) until ``failures`` model-scoped failures land within ``window`` seconds; it
then *cools down* (open) for ``cooldown`` seconds, during which calls skip it without sending a request. A
429's ``Retry-After`` cools it down for as long as the provider asked, from the first such answer. When the
cooldown is over, the next call is let through as the one *probe* (half-open) while concurrent calls go on
skipping it; the probe's model-scoped failure cools it down again, and anything else without an answer (a
request-scoped failure, a cancelled call) lets the next call probe instead. Any answer, the probe's or a
call's that started earlier, makes the profile healthy again and forgets its failures.

``HealthStore`` is the interface the walk uses; ``MemoryHealth`` keeps the state in this process, exact
under threads and asyncio alike (one lock, never held across a call). A shared store (Redis) implements the
same four methods.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

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
        probe: this call is the half-open probe; report its outcome with ``probe=True``.
        until: wall-clock time (``time.time()``) the cooldown ends; None while another call probes.
        reason: one line for the skipped event.
        opened_by: the failure that made the profile cool down (its class picks the fallbacks of a skipped
            primary).
    """

    allowed: bool
    probe: bool = False
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

    def failed(self, profile: str, settings: HealthSettings, failure: Failure, *, probe: bool) -> None: ...

    def succeeded(self, profile: str, *, probe: bool) -> None: ...

    def released(self, profile: str) -> None:
        """A probe ended without a verdict on the model (request-scoped failure, cancelled): let another probe."""
        ...

    def snapshot(self) -> dict[str, ProfileHealth]: ...


@dataclass(slots=True)
class _Circuit:
    failures: deque[float] = field(default_factory=deque)  # monotonic times, within the window
    open_until: float | None = None  # monotonic
    opened_by: Failure | None = None
    reason: str = ""
    probing: bool = False


class MemoryHealth:
    """``HealthStore`` in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

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
            if circuit.probing:
                return Verdict(
                    False, reason="another call is probing whether it recovered", opened_by=circuit.opened_by
                )
            circuit.probing = True
            return Verdict(True, probe=True, opened_by=circuit.opened_by)

    def failed(self, profile: str, settings: HealthSettings, failure: Failure, *, probe: bool) -> None:
        if not settings.enabled:
            return
        with self._lock:
            circuit = self._circuits.setdefault(profile, _Circuit())
            now = self._clock()
            circuit.failures.append(now)
            while circuit.failures and circuit.failures[0] <= now - settings.window:
                circuit.failures.popleft()
            if failure.retry_after is not None and failure.retry_after > 0:
                asked = now + failure.retry_after
                if circuit.open_until is None or asked > circuit.open_until:
                    self._open(circuit, failure, asked, f"the provider asked to wait {failure.retry_after:g} s")
            elif probe:
                self._open(circuit, failure, now + settings.cooldown, f"{failure.error_type} again after a cooldown")
            elif len(circuit.failures) >= settings.failures and (
                circuit.open_until is None or now >= circuit.open_until
            ):
                count = len(circuit.failures)
                failures = f"{count} failure{'s' if count != 1 else ''}"
                reason = f"{failures} in {settings.window:g} s, the last {failure.error_type}"
                self._open(circuit, failure, now + settings.cooldown, reason)
            if probe:
                circuit.probing = False

    def succeeded(self, profile: str, *, probe: bool) -> None:
        with self._lock:
            self._circuits.pop(profile, None)  # an answer is the evidence: healthy again, its past forgotten

    def released(self, profile: str) -> None:
        with self._lock:
            circuit = self._circuits.get(profile)
            if circuit is not None:
                circuit.probing = False

    def snapshot(self) -> dict[str, ProfileHealth]:
        with self._lock:
            now, wall = self._clock(), time.time()
            return {name: _shown(c, now, wall) for name, c in self._circuits.items()}

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
    probe = "a call is probing whether it recovered" if circuit.probing else "the next call probes whether it recovered"
    return ProfileHealth("half_open", 0, None, opened_by, probe)
