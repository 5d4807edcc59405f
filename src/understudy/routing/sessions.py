"""Sticky sessions: whether a session stays on the profile that last served it.

``per_call`` (the default): every call starts at the routed primary. ``session``: once a fallback serves a
session, its next calls start there, as long as the router keeps picking the same primary. ``ttl``: the
same, but after ``ttl`` seconds the routed primary is probed again; the session returns to it if it answers,
and waits another ``ttl`` if it does not. ``switch_cost``, in any mode, keeps a session on the profile it
was last routed to unless the router's new pick is cheaper by more than that factor: switching throws the
provider's prompt cache away.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from understudy.routing.routes import RouteDecision

__all__ = ["SessionBook", "SessionState", "Stickiness"]


class Stickiness(BaseModel):
    """How a routed LLM treats calls that share a session key.

    Attributes:
        mode: ``per_call``, ``session`` or ``ttl``.
        ttl: seconds a session stays on a fallback before the primary is probed again (mode ``ttl``).
        switch_cost: keep a session on its current pick unless the new pick is cheaper by more than this
            factor (1.5: at least a third cheaper). None never holds a session back.
        max_sessions: sessions remembered; the least recently used are forgotten first.
        decision_ttl: seconds a session's last real routing decision is reused instead of routing again
            (``understudy.routing.decision_memory``): a tiered router's classifier is then asked once per
            conversation and ttl, not every turn. None routes every call.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["per_call", "session", "ttl"] = "per_call"
    ttl: Annotated[float, Field(gt=0)] | None = None
    switch_cost: Annotated[float, Field(ge=1)] | None = None
    max_sessions: Annotated[int, Field(gt=0)] = 10_000
    decision_ttl: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _ttl_with_mode(self) -> Stickiness:
        if (self.mode == "ttl") != (self.ttl is not None):
            raise ValueError("mode 'ttl' needs ttl seconds, and ttl needs mode 'ttl'")
        return self

    @property
    def remembers(self) -> bool:
        """Whether sessions need memory at all (``per_call`` without a switch cost does not)."""
        return self.mode != "per_call" or self.switch_cost is not None or self.decision_ttl is not None

    @classmethod
    def of(cls, value: Stickiness | str | float | None) -> Stickiness:
        """Accept the shorthands: ``"per_call"``, ``"session"``, or a number of seconds for ``ttl``."""
        if isinstance(value, Stickiness):
            return value
        if value is None:
            return cls()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls(mode="ttl", ttl=float(value))
        if value == "per_call":
            return cls(mode="per_call")
        if value == "session":
            return cls(mode="session")
        raise ValueError(f"stickiness {value!r}: use 'per_call', 'session', seconds for a ttl, or Stickiness(...)")


@dataclass(slots=True)
class SessionState:
    """What one session remembers.

    Attributes:
        picked: the primary it was last routed to (after switch cost).
        route: the rule that picked it; stickiness belongs to that route.
        decision: the decision that picked it, reused when the switch cost keeps the session there.
        stuck_on: the fallback it stays on, if any; only while the same route keeps picking ``picked``.
        stuck_since: when it got stuck, or when the last probe of the primary failed (monotonic seconds).
        issued: calls started; each carries its number, so a slow old call cannot overwrite a newer outcome.
        applied: the number of the newest call whose outcome was recorded.
    """

    picked: str | None = None
    route: str | None = None
    decision: RouteDecision | None = None
    stuck_on: str | None = None
    stuck_since: float = 0.0
    issued: int = 0
    applied: int = 0


class SessionBook:
    """Bounded, thread-safe session memory (least recently used forgotten first)."""

    def __init__(self, max_sessions: int) -> None:
        self._max = max_sessions
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, session: str) -> tuple[SessionState, int]:
        """A call starts: a copy of the session's state, and the call's number."""
        with self._lock:
            state = self._states.get(session) or SessionState()
            state.issued += 1
            self._store(session, state)
            return replace(state), state.issued

    def get(self, session: str) -> SessionState | None:
        with self._lock:
            state = self._states.get(session)
            return replace(state) if state is not None else None

    def record(
        self,
        session: str,
        number: int,
        *,
        decision: RouteDecision,
        route: str,
        served_by: str | None,
        sticky: bool,
        probed: bool,
    ) -> None:
        """A call ended: remember the pick, and whether the session now stays on a fallback.

        Args:
            number: the call's number from ``begin``; an outcome older than one already applied is ignored.
            served_by: the profile that answered, or None when the call failed.
            sticky: whether the policy keeps sessions on the fallback that served them.
            probed: the call was a ttl probe of the primary; if a fallback answered, the ttl starts again.
        """
        picked = decision.profile
        with self._lock:
            state = self._states.get(session)
            if state is None or number < state.applied:
                return  # forgotten while the call ran, or a newer call already decided where it is
            state.applied = number
            if decision.error is not None:
                return  # routing failed and the router guessed (its default): a guess never re-anchors
            if (state.picked, state.route) != (picked, route):
                state.picked, state.route, state.stuck_on = picked, route, None  # what stuck belonged to the old route
            state.decision = decision
            if served_by == picked:
                state.stuck_on = None  # the primary answered: back to it
            elif served_by is not None and sticky and (served_by != state.stuck_on or probed):
                state.stuck_on, state.stuck_since = served_by, time.monotonic()
            self._store(session, state)

    def claim_probe(self, session: str, ttl: float) -> bool:
        """True for the one call that probes the primary once the ttl has lapsed; the ttl restarts, so the
        session's other calls meanwhile stay on the fallback instead of all waiting on a dead primary."""
        with self._lock:
            state = self._states.get(session)
            now = time.monotonic()
            if state is None or state.stuck_on is None or now - state.stuck_since < ttl:
                return False
            state.stuck_since = now
            return True

    def unstick(self, session: str, name: str) -> None:
        """Forget that a session stays on ``name`` (it can no longer be used); a newer stick is kept."""
        with self._lock:
            state = self._states.get(session)
            if state is not None and state.stuck_on == name:
                state.stuck_on = None

    def _store(self, session: str, state: SessionState) -> None:
        self._states[session] = state
        self._states.move_to_end(session)
        while len(self._states) > self._max:
            self._states.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)
