"""A profile's ``[health]`` table: when repeated failures make understudy stop calling it for a while."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_HEALTH_SECONDS", "HealthSettings"]

MAX_HEALTH_SECONDS: Final = 86_400  # a day: a longer window or cooldown is a typo


class HealthSettings(BaseModel):
    """How a profile's health memory (its circuit breaker) behaves; docs/resilience.md has the reasons.

    Attributes:
        enabled: false never skips the profile, whatever it does.
        failures: model-scoped failures (rate limit, 5xx, timeout, connection) within ``window`` that make
            the profile cool down. Each failed attempt counts, retries included.
        window: seconds over which failures are counted.
        cooldown: seconds the profile is skipped once it cools down; a 429's ``Retry-After`` sets its own.
        model_scoped: exception names to count against health besides the default ones (``NotFoundError``
            for a model that was withdrawn, say).
        request_scoped: exception names never to count (the request was wrong for the model, not the model
            wrong), besides the default ones.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    failures: Annotated[int, Field(ge=1, le=1000)] = 3
    window: Annotated[float, Field(gt=0, le=MAX_HEALTH_SECONDS, allow_inf_nan=False)] = 60.0
    cooldown: Annotated[float, Field(gt=0, le=MAX_HEALTH_SECONDS, allow_inf_nan=False)] = 30.0
    model_scoped: list[str] = Field(default_factory=list)
    request_scoped: list[str] = Field(default_factory=list)
