"""A call's budget: a deadline for the whole call and a cap on its attempts, retries and fallbacks together.

The budget comes from the call (``deadline=``, ``max_attempts=``) or else from the primary's profile; a
fallback's own settings do not change a call that is under way. Each attempt's timeout is capped by what
remains, a retry whose wait does not fit is not made (the call moves on), and once either limit is reached
the call stops with ``FallbackExhaustedError`` saying which. For a stream, the budget covers the walk up to
its first chunk: what follows is the caller's to read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from understudy.profiles.profile import Profile

__all__ = ["BUDGET_ARGS", "Budget"]

BUDGET_ARGS: Final = ("deadline", "max_attempts")  # a call's own, never passed to litellm
LITELLM_DEFAULT_TIMEOUT: Final = 600.0  # what litellm waits when no timeout is given


@dataclass(slots=True)
class Budget:
    deadline: float | None = None  # seconds for the whole call
    max_attempts: int | None = None  # model calls, retries and fallbacks together
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def of(cls, kwargs: dict[str, Any], profile: Profile) -> Budget:
        """The call's budget (removing its arguments from ``kwargs``), else the primary profile's."""
        deadline, attempts = kwargs.pop("deadline", None), kwargs.pop("max_attempts", None)
        number = isinstance(deadline, int | float) and not isinstance(deadline, bool)
        if deadline is not None and not (number and math.isfinite(deadline) and deadline > 0):
            raise ValueError(f"deadline must be a number of seconds above 0, not {deadline!r}")
        if attempts is not None and not (
            isinstance(attempts, int) and not isinstance(attempts, bool) and attempts >= 1
        ):
            raise ValueError(f"max_attempts must be a whole number from 1, not {attempts!r}")
        return cls(
            deadline if deadline is not None else profile.deadline,
            attempts if attempts is not None else profile.max_attempts,
        )

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 once it passed), or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - (time.perf_counter() - self.started))

    def stop_reason(self, attempts_made: int) -> str | None:
        """Why no further attempt may start, or None when one may."""
        if self.max_attempts is not None and attempts_made >= self.max_attempts:
            return f"it made its max_attempts of {self.max_attempts}"
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            return f"it ran out of its deadline of {self.deadline:g} s"
        return None

    def fits(self, wait: float) -> bool:
        """True when waiting ``wait`` seconds still leaves time for an attempt."""
        remaining = self.remaining()
        return remaining is None or wait < remaining

    def cap(self, request: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        """``request`` with its timeouts no longer than what remains, and the cap when it cut one (else None).

        An ``httpx.Timeout`` has each of its limits cut.
        """
        remaining = self.remaining()
        if remaining is None:
            return request, None
        capped = dict(request)
        cut = False
        for key, default in (("timeout", LITELLM_DEFAULT_TIMEOUT), ("stream_timeout", None)):
            limit: Any = request.get(key, default)
            if isinstance(limit, int | float) and not isinstance(limit, bool) and limit > remaining:
                capped[key], cut = remaining, True
            elif _is_httpx_timeout(limit):
                limits = {part: getattr(limit, part) for part in ("connect", "read", "write", "pool")}
                if any(value is None or value > remaining for value in limits.values()):
                    shorter = {part: remaining if v is None else min(v, remaining) for part, v in limits.items()}
                    capped[key], cut = type(limit)(**shorter), True
        return (capped, remaining) if cut else (request, None)


def _is_httpx_timeout(value: Any) -> bool:
    return type(value).__name__ == "Timeout" and all(hasattr(value, part) for part in ("connect", "read", "pool"))
