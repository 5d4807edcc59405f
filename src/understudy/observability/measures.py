"""The metrics understudy reports, and what a finished call adds to each: one list for OpenTelemetry and
Prometheus alike (docs/observability.md lists them).

Names follow OpenTelemetry's GenAI semantic conventions where they have one (``gen_ai.client.*``); the rest are
understudy's own, under ``understudy.``. Prometheus spells the same names with underscores and units
(``understudy_call_duration_seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator

    from understudy.observability.records import AttemptRecord, CallRecord

__all__ = ["COST_BUCKETS", "DURATION_BUCKETS", "METRICS", "TOKEN_BUCKETS", "Measure", "Metric", "measures"]

DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
"""Seconds; the GenAI conventions' advice for ``gen_ai.client.operation.duration``."""
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
"""Tokens; the GenAI conventions' advice for ``gen_ai.client.token.usage``."""
COST_BUCKETS: Final = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
"""USD per call."""

_ATTEMPT: Final = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "server.address",
    "error.type",
    "understudy.profile",
)


@dataclass(frozen=True, slots=True)
class Metric:
    """One instrument: its name, kind, unit, what it counts, and the attributes its points carry."""

    name: str
    kind: Literal["counter", "histogram"]
    unit: str
    description: str
    attributes: tuple[str, ...]
    buckets: tuple[float, ...] | None = None


METRICS: Final = (
    Metric(
        "gen_ai.client.operation.duration",
        "histogram",
        "s",
        "Duration of each model call (attempt), failed ones included",
        _ATTEMPT,
        DURATION_BUCKETS,
    ),
    Metric(
        "gen_ai.client.token.usage",
        "histogram",
        "{token}",
        "Tokens each model call used, by gen_ai.token.type (input, output)",
        (*_ATTEMPT[:5], "gen_ai.token.type", "understudy.profile"),
        TOKEN_BUCKETS,
    ),
    Metric(
        "understudy.calls",
        "counter",
        "{call}",
        "Calls, by primary profile, route, outcome and the profile that served",
        ("understudy.profile", "understudy.route", "understudy.outcome", "understudy.served_by"),
    ),
    Metric(
        "understudy.call.duration",
        "histogram",
        "s",
        "Duration of each call, its fallbacks and retries included",
        ("understudy.profile", "understudy.route", "understudy.outcome"),
        DURATION_BUCKETS,
    ),
    Metric(
        "understudy.attempts",
        "counter",
        "{attempt}",
        "Model calls made, by profile and whether they were a fallback",
        ("understudy.profile", "understudy.fallback", "understudy.route"),
    ),
    Metric(
        "understudy.failures",
        "counter",
        "{attempt}",
        "Model calls that failed, by profile and error type (a caller giving up is not counted)",
        ("understudy.profile", "error.type", "understudy.route"),
    ),
    Metric(
        "understudy.fallbacks",
        "counter",
        "{fallback}",
        "Moves from one profile to the next, by from, to and the error that caused them",
        ("understudy.fallback.from", "understudy.fallback.to", "error.type", "understudy.route"),
    ),
    Metric(
        "understudy.skips",
        "counter",
        "{skip}",
        "Profiles passed over without a call (cooling down, unable to serve, broken), by reason",
        ("understudy.profile", "error.type", "understudy.route"),
    ),
    Metric(
        "understudy.tokens",
        "counter",
        "{token}",
        "Tokens used, by profile and gen_ai.token.type",
        ("understudy.profile", "gen_ai.token.type", "understudy.route"),
    ),
    Metric(
        "understudy.cost",
        "counter",
        "USD",
        "What model calls cost where the price is known, by profile",
        ("understudy.profile", "understudy.route"),
    ),
    Metric(
        "understudy.call.cost",
        "histogram",
        "USD",
        "What each call cost in all (every attempt whose price is known), by primary profile",
        ("understudy.profile", "understudy.route", "understudy.outcome"),
        COST_BUCKETS,
    ),
)
"""Every metric, in the order docs/observability.md lists them."""


@dataclass(frozen=True, slots=True)
class Measure:
    """One point: add ``value`` to (or record it in) metric ``name`` with these attributes."""

    name: str
    value: float
    attributes: dict[str, str | bool]


def attempt_attributes(attempt: AttemptRecord) -> dict[str, str | bool]:
    """The GenAI conventions' attributes of one model call (those known), with its profile."""
    attributes: dict[str, str | bool] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": attempt.model}
    if attempt.provider:
        attributes["gen_ai.provider.name"] = attempt.provider
    if attempt.response_model:
        attributes["gen_ai.response.model"] = attempt.response_model
    if attempt.server:
        attributes["server.address"] = attempt.server
    if attempt.error_type:
        attributes["error.type"] = attempt.error_type
    attributes["understudy.profile"] = attempt.profile
    return attributes


def measures(record: CallRecord) -> Iterator[Measure]:
    """What one finished call adds to each metric."""
    route = {"understudy.route": record.route} if record.route else {}
    for attempt in record.attempts:
        attributes = attempt_attributes(attempt)
        yield Measure("gen_ai.client.operation.duration", attempt.duration, attributes)
        yield Measure(
            "understudy.attempts",
            1,
            {"understudy.profile": attempt.profile, "understudy.fallback": attempt.as_fallback, **route},
        )
        if attempt.error_type and not attempt.cancelled:  # a caller giving up is no failure of the model
            yield Measure(
                "understudy.failures",
                1,
                {"understudy.profile": attempt.profile, "error.type": attempt.error_type, **route},
            )
        usage = {k: v for k, v in attributes.items() if k != "error.type"}
        for kind, tokens in (("input", attempt.input_tokens), ("output", attempt.output_tokens)):
            if tokens is not None:
                yield Measure("gen_ai.client.token.usage", tokens, {**usage, "gen_ai.token.type": kind})
                yield Measure(
                    "understudy.tokens",
                    tokens,
                    {"understudy.profile": attempt.profile, "gen_ai.token.type": kind, **route},
                )
        if attempt.cost:
            yield Measure("understudy.cost", attempt.cost, {"understudy.profile": attempt.profile, **route})
    for source, target, error_type in record.fallbacks:
        yield Measure(
            "understudy.fallbacks",
            1,
            {"understudy.fallback.from": source, "understudy.fallback.to": target, "error.type": error_type, **route},
        )
    for skip in record.skipped:
        yield Measure(
            "understudy.skips", 1, {"understudy.profile": skip.profile, "error.type": skip.error_type, **route}
        )
    call: dict[str, str | bool] = {"understudy.profile": record.primary, **route, "understudy.outcome": record.outcome}
    yield Measure("understudy.call.duration", record.duration, call)
    if record.total_cost is not None:
        yield Measure("understudy.call.cost", record.total_cost, call)
    yield Measure(
        "understudy.calls", 1, {**call, **({"understudy.served_by": record.served_by} if record.served_by else {})}
    )
