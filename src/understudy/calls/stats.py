"""Usage stats per profile: every profile that serves or fails a call, primary or fallback."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

if TYPE_CHECKING:
    from understudy.usage import ClassifierUsage

__all__ = ["ProfileStats", "RouteStats", "StatsBook"]


class ProfileStats(BaseModel):
    """What one profile did, since its registry was built.

    Attributes:
        calls: model calls made (every try, retries included).
        successes: calls that returned a response.
        failures: calls that raised.
        failures_by_type: failures counted by exception class name.
        prompt_tokens: prompt tokens of successful calls, as the provider reported them.
        completion_tokens: completion tokens of successful calls.
        cost: USD from litellm's cost map over the successful calls whose cost is known; None when none is.
        uncosted_calls: successful calls whose cost litellm does not know (unknown stays unknown, not zero).
        total_latency: seconds spent in calls, failed ones included.
        served_as_fallback: successful calls this profile served in place of another.
        interrupted_streams: streams that failed after their first chunk (counted as successes too: the
            call had been served).
        cancelled: calls cancelled (or interrupted) while the provider was working on them; counted in
            ``calls`` and ``total_latency``, neither a success nor a failure.
        classifier_calls: successful calls that labelled a request for a tiered router (counted in
            ``successes`` too), so a profile that is both a classifier and a tier candidate shows each use.
    """

    model_config = ConfigDict(frozen=True)

    profile: str
    calls: int = 0
    successes: int = 0
    failures: int = 0
    failures_by_type: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    uncosted_calls: int = 0
    total_latency: float = 0.0
    served_as_fallback: int = 0
    interrupted_streams: int = 0
    cancelled: int = 0
    classifier_calls: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mean_latency(self) -> float | None:
        """Mean seconds per call, or None before the first call."""
        return self.total_latency / self.calls if self.calls else None


class RouteStats(BaseModel):
    """What one route of a routed LLM did.

    Attributes:
        route: ``router:rule``, as on the events (``"match:routes[1]"``, ``"match:default"``).
        calls: calls that took this route.
        served_by: successful calls by the profile that served them (the routed primary or a fallback).
        failures: calls that raised (every profile failed, or an error without fallback).
        sticky_calls: calls a sticky session started on the fallback it stays on.
        kept_calls: calls the switch cost kept on the session's previous pick.
        classifier_calls: calls whose route a classifier profile decided (a tiered router's).
        classifier_prompt_tokens: the classifications' prompt tokens, apart from the serving calls'.
        classifier_completion_tokens: their completion tokens.
        classifier_cost: their USD where litellm knows the price; None when none is known.
    """

    model_config = ConfigDict(frozen=True)

    route: str
    calls: int = 0
    served_by: dict[str, int] = Field(default_factory=dict)
    failures: int = 0
    sticky_calls: int = 0
    kept_calls: int = 0
    classifier_calls: int = 0
    classifier_prompt_tokens: int = 0
    classifier_completion_tokens: int = 0
    classifier_cost: float | None = None


class StatsBook:
    """Thread-safe counters behind ``LLMRegistry.stats()``; one lock, held only to add numbers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._routes: dict[str, dict[str, Any]] = {}

    def _row(self, profile: str) -> dict[str, Any]:
        row = self._rows.get(profile)
        if row is None:
            row = self._rows[profile] = ProfileStats(profile=profile).model_dump(exclude={"mean_latency"})
        return row

    def success(self, profile: str, *, latency: float, as_fallback: bool) -> None:
        """A call returned (for a stream: its first chunk arrived). Usage follows through ``usage``."""
        with self._lock:
            row = self._row(profile)
            row["calls"] += 1
            row["successes"] += 1
            row["total_latency"] += latency
            if as_fallback:
                row["served_as_fallback"] += 1

    def cancelled(self, profile: str, *, latency: float) -> None:
        """A call was cancelled before it returned; the provider may have done the work."""
        with self._lock:
            row = self._row(profile)
            row["calls"] += 1
            row["cancelled"] += 1
            row["total_latency"] += latency

    def usage(self, profile: str, *, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
        """Tokens and cost of a successful call (for a stream, known only at its end)."""
        with self._lock:
            row = self._row(profile)
            row["prompt_tokens"] += prompt_tokens
            row["completion_tokens"] += completion_tokens
            if cost is None:
                row["uncosted_calls"] += 1
            else:
                row["cost"] = (row["cost"] or 0.0) + cost

    def interrupted(self, profile: str) -> None:
        with self._lock:
            self._row(profile)["interrupted_streams"] += 1

    def failure(self, profile: str, *, latency: float, error_type: str) -> None:
        with self._lock:
            row = self._row(profile)
            row["calls"] += 1
            row["failures"] += 1
            row["total_latency"] += latency
            by_type = row["failures_by_type"]
            by_type[error_type] = by_type.get(error_type, 0) + 1

    def classified(self, profile: str) -> None:
        """A successful call of ``profile`` labelled a request for a tiered router."""
        with self._lock:
            self._row(profile)["classifier_calls"] += 1

    def route_call(
        self,
        route: str,
        served_by: str | None,
        *,
        sticky: bool = False,
        kept: bool = False,
        classifier: ClassifierUsage | None = None,
    ) -> None:
        """A routed call ended: served by that profile, or failed (None); ``classifier``: what deciding it cost."""
        with self._lock:
            row = self._routes.get(route)
            if row is None:
                row = self._routes[route] = RouteStats(route=route).model_dump()
            row["calls"] += 1
            row["sticky_calls"] += sticky
            row["kept_calls"] += kept
            if classifier is not None:
                row["classifier_calls"] += 1
                row["classifier_prompt_tokens"] += classifier.prompt_tokens
                row["classifier_completion_tokens"] += classifier.completion_tokens
                if classifier.cost is not None:
                    row["classifier_cost"] = (row["classifier_cost"] or 0.0) + classifier.cost
            if served_by is None:
                row["failures"] += 1
            else:
                row["served_by"][served_by] = row["served_by"].get(served_by, 0) + 1

    def route_served_moved(self, route: str, before: str | None, after: str | None) -> None:
        """A routed stream that restarted elsewhere: it counts as served by ``after`` instead of ``before``."""
        if before is None or before == after:
            return
        with self._lock:
            served = self._routes[route]["served_by"] if route in self._routes else {}
            if not served.get(before):
                return
            served[before] -= 1
            if not served[before]:
                del served[before]
            if after is not None:
                served[after] = served.get(after, 0) + 1

    def route_snapshot(self) -> dict[str, RouteStats]:
        with self._lock:
            return {
                name: RouteStats.model_validate({**row, "served_by": dict(row["served_by"])})
                for name, row in sorted(self._routes.items())
            }

    def snapshot(self) -> dict[str, ProfileStats]:
        with self._lock:
            return {
                name: ProfileStats.model_validate({**row, "failures_by_type": dict(row["failures_by_type"])})
                for name, row in sorted(self._rows.items())
            }
