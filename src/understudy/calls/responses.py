"""What understudy writes on a response it returns: which profile served it and, for a routed call, which route.

It rides in litellm's ``response._hidden_params["understudy"]``, so a response stays litellm's own object.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "HIDDEN_KEY",
    "carry_route",
    "failure_cost",
    "mark_failure_cost",
    "mark_route",
    "mark_served",
    "route_of",
    "served_by",
    "served_cost",
]

HIDDEN_KEY: Final = "understudy"


def mark_served(response: Any, profile: str, *, as_fallback: bool, cost: float | None = None) -> None:
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(hidden, dict):
        hidden[HIDDEN_KEY] = {"profile": profile, "fallback": as_fallback, "cost": cost}


def served_cost(response: Any) -> float | None:
    """What the serving attempt of a response from ``LLM.completion`` cost in USD, or None when unknown."""
    cost = (_info(response) or {}).get("cost")
    return float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None


def mark_failure_cost(error: BaseException, cost: float | None) -> None:
    """Note on a failed attempt's error what the attempt cost (a 200 answer that was refused was paid for)."""
    error.understudy_cost = cost  # type: ignore[attr-defined]


def failure_cost(error: BaseException) -> float | None:
    """What a failed attempt cost in USD, where the provider reported usage; None when unknown or nothing."""
    cost = getattr(error, "understudy_cost", None)
    return float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None


def mark_route(response: Any, route: str, reason: str | None) -> None:
    info = _info(response)
    if info is not None:
        info.update(route=route, route_reason=reason)


def carry_route(old: Any, new: Any) -> None:
    """Mark ``new`` (a restarted stream) with the route ``old`` was marked with, if any."""
    info = _info(old) or {}
    if isinstance(info.get("route"), str):
        mark_route(new, info["route"], info.get("route_reason"))


def route_of(response: Any) -> str | None:
    """For a response from a routed LLM: which router and rule chose its primary (``"match:routes[1]"``)."""
    route = (_info(response) or {}).get("route")
    return route if isinstance(route, str) else None


def served_by(response: Any) -> str | None:
    """The name of the profile that produced a response from ``LLM.completion``, or None."""
    profile = (_info(response) or {}).get("profile")
    return profile if isinstance(profile, str) else None


def _info(response: Any) -> dict[str, Any] | None:
    hidden = getattr(response, "_hidden_params", None)
    info = hidden.get(HIDDEN_KEY) if isinstance(hidden, dict) else None
    return info if isinstance(info, dict) else None
