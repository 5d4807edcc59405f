"""Deciding once per conversation: a session's last real routing decision, reused for a while.

With ``Stickiness(decision_ttl=...)``, a routed call whose session was routed less than ``decision_ttl`` seconds
ago starts from that session's decision instead of asking the router again. That means no classifier call per
turn for a ``TieredRouter``. Only real decisions are kept: one the router made because routing failed (its
default, after a classifier timed out) is never reused, so the next call asks again. The memory is bounded
(``max_sessions``; the least recently used are forgotten first) and thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from understudy.routing.routes import RouteDecision

__all__ = ["DecisionMemory"]


class DecisionMemory:
    """Each session's last real decision and when it was made, for ``ttl`` seconds."""

    def __init__(self, ttl: float, max_sessions: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._max = max_sessions
        self._decisions: OrderedDict[str, tuple[RouteDecision, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: str) -> RouteDecision | None:
        """The session's decision, marked as reused, if it is younger than ``ttl``; else None."""
        with self._lock:
            found = self._decisions.get(session)
            if found is None:
                return None
            decision, made = found
            age = self._clock() - made
            if age >= self.ttl:
                del self._decisions[session]
                return None
            self._decisions.move_to_end(session)
        return decision.model_copy(update={"reason": f"{decision.reason} (this session's decision of {age:.0f}s ago)"})

    def put(self, session: str, decision: RouteDecision) -> None:
        """Remember ``decision`` for ``session`` when it is a real one (not made because routing failed)."""
        if decision.error is not None:
            return
        with self._lock:
            self._decisions[session] = (decision, self._clock())
            self._decisions.move_to_end(session)
            while len(self._decisions) > self._max:
                self._decisions.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._decisions)
