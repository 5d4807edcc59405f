"""What one call's walk keeps as it goes (``WalkState``), and the events it builds from that alone."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from understudy.calls.actions import Emit
from understudy.calls.budget import Budget
from understudy.events import AttemptSummary, FallbackExhausted
from understudy.redaction import credential_values, remember_secrets

if TYPE_CHECKING:
    from collections.abc import Generator

    from understudy.calls.actions import Action
    from understudy.calls.health_gate import HealthGate
    from understudy.calls.retry import RetryPolicy
    from understudy.calls.strategy import FallbackStrategy
    from understudy.errors import Attempt
    from understudy.failures.names import ExceptionNames

__all__ = ["WalkState", "exhausted", "new_call_id"]


def new_call_id() -> str:
    """The id every event of one call carries."""
    return uuid.uuid4().hex[:16]


@dataclass
class WalkState:
    primary: str
    strategy: FallbackStrategy
    retry_policy: RetryPolicy
    exception_names: ExceptionNames
    health: HealthGate
    route: str | None = None
    budget: Budget = field(default_factory=Budget)
    stopped: str | None = None  # why the budget ended the call, once it did
    call_id: str = field(default_factory=new_call_id)
    started: float = field(default_factory=time.perf_counter)
    attempts: list[Attempt] = field(default_factory=list)
    model_calls: int = 0
    failed_cost: float = 0.0  # what failed attempts cost, where their provider reported usage
    prefilled: bool = False  # a continuation: the request ends with the partial answer as a prefill
    secrets: set[str] = field(default_factory=set, repr=False)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def base(self) -> dict[str, Any]:
        """The fields every event of this call carries."""
        return {"call_id": self.call_id, "primary": self.primary, "route": self.route}

    def remember(self, secrets: list[str], request: dict[str, Any]) -> None:
        """What this call can send that must never be shown: for its events, and for the log filter."""
        secrets = [*secrets, *credential_values(request.get("extra_headers") or {})]
        if isinstance(request.get("api_key"), str):
            secrets.append(request["api_key"])
        self.secrets.update(secrets)
        remember_secrets(secrets)

    def tried(self) -> str:
        return "; ".join(f"{a.profile} {a.error_type}" for a in self.attempts)


def exhausted(state: WalkState) -> Generator[Action, Any, None]:
    """The ``FallbackExhausted`` event, before the walk raises ``FallbackExhaustedError``."""
    summaries = [
        AttemptSummary(
            profile=a.profile, error_type=a.error_type, message=a.message, duration=a.duration, loaded=a.loaded
        )
        for a in state.attempts
    ]
    stopped_by: Literal["deadline", "max_attempts"] | None = None
    if state.stopped is not None:
        stopped_by = "deadline" if "deadline" in state.stopped else "max_attempts"
    yield Emit(FallbackExhausted(**state.base(), attempts=summaries, latency=state.elapsed(), stopped_by=stopped_by))
