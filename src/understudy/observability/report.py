"""What the usage log says about a window of time: calls per profile, failures by kind, who fallbacks served.

Everything is counted by SQLite (``GROUP BY``; percentiles with a window query), so a report over 100,000 calls
reads no row into Python. ``understudy report`` prints it (``understudy.cli.report``).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict

from understudy.observability import usage_schema

if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path

__all__ = ["Counts", "FailureKind", "FallbackUse", "ProfileUsage", "Report", "Timeline", "build_report", "parse_window"]

BUCKETS: Final = 48  # columns of the fallbacks-over-time chart
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WINDOW: Final = re.compile(r"(\d+)([smhd])")


def parse_window(text: str) -> float | None:
    """Seconds in a window such as ``30s``, ``15m``, ``1h`` or ``7d``; None for ``all``.

    Raises:
        ValueError: any other text (the message shows the accepted forms).
    """
    text = text.strip().lower()
    if text == "all":
        return None
    match = _WINDOW.fullmatch(text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"--since {text!r}: expected a number and a unit (30s, 15m, 1h, 7d) or 'all'")
    return int(match[1]) * _UNITS[match[2]]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Counts(_Model):
    """What a set of calls came to.

    Attributes:
        calls: how many.
        served: served by their primary.
        by_fallback: served by another profile.
        exhausted, failed, cancelled: every profile failed; an error no fallback answers; the caller gave up.
        input_tokens, output_tokens: every attempt's tokens, failed ones included.
        cost: every attempt's known cost in USD (None when none was known).
    """

    calls: int
    served: int
    by_fallback: int
    exhausted: int
    failed: int
    cancelled: int
    input_tokens: int
    output_tokens: int
    cost: float | None


class ProfileUsage(Counts):
    """The calls whose primary is ``profile``: what they came to (the fields of ``Counts``) and their latency in
    seconds, served or not (``p50``, ``p95``: nearest rank)."""

    profile: str
    p50: float
    p95: float


class FailureKind(_Model):
    """How often one profile failed with one kind of error: ``count`` of ``out_of`` attempts (or calls)."""

    profile: str
    error_type: str
    count: int
    out_of: int
    rate: float


class FallbackUse(_Model):
    """How many of ``primary``'s calls ``served_by`` answered, and what share of them that is."""

    primary: str
    served_by: str
    calls: int
    share: float


class Timeline(_Model):
    """Calls per bucket of ``bucket`` seconds from ``start``: all of them, those a fallback served, the exhausted."""

    start: float
    bucket: float
    calls: list[int]
    fallbacks: list[int]
    exhausted: list[int]


class Report(_Model):
    """The usage log over ``since`` to ``until`` (unix times; ``since`` None for the whole log).

    Attributes:
        failures_from: ``"attempts"`` when the log holds attempt rows (each failed attempt, by the profile that
            failed); else ``"calls"`` (each call that left its primary or failed, by the error that made it).
    """

    log: str
    since: float | None
    until: float
    profile: str | None
    total: Counts
    profiles: list[ProfileUsage]
    failures_from: Literal["attempts", "calls"]
    failures: list[FailureKind]
    fallbacks: list[FallbackUse]
    timeline: Timeline


def build_report(path: Path, *, window: float | None, profile: str | None = None, now: float | None = None) -> Report:
    """The report of the usage log at ``path`` over the last ``window`` seconds (None: all of it).

    Raises:
        UsageLogVersionError: the log was written by a newer understudy.
        sqlite3.Error: the file is not a usage log (or does not exist).
    """
    until = time.time() if now is None else now
    since = None if window is None else until - window
    connection = usage_schema.connect(path, create=False)
    try:
        rows = _Filter(since, profile)
        usage = _usage(connection, rows)
        failures_from, failures = _failures(connection, rows, usage)
        return Report(
            log=str(path),
            since=since,
            until=until,
            profile=profile,
            total=_total(usage),
            profiles=usage,
            failures_from=failures_from,
            failures=failures,
            fallbacks=_fallbacks(connection, rows, usage),
            timeline=_timeline(connection, rows, since, until),
        )
    finally:
        connection.close()


class _Filter:
    """The rows a report covers, as a ``WHERE`` and its parameters: the same for ``calls`` and ``attempts``."""

    def __init__(self, since: float | None, profile: str | None) -> None:
        self.since = since
        conditions: list[str] = ["1"]
        self.params: list[str | float] = []
        if since is not None:
            conditions.append("started >= ?")
            self.params.append(since)
        if profile is not None:
            conditions.append("primary_profile = ?")
            self.params.append(profile)
        self.where = " AND ".join(conditions)


def _usage(connection: sqlite3.Connection, rows: _Filter) -> list[ProfileUsage]:
    # GROUP BY +primary_profile: a scan and a sort beat walking calls_primary, which reads the rows out of order.
    found = connection.execute(
        f"""SELECT primary_profile, count(*), sum(outcome = 'served' AND fallback = 0), sum(fallback),
                sum(outcome = 'exhausted'), sum(outcome = 'failed'), sum(outcome = 'cancelled'),
                coalesce(sum(total_input_tokens), 0), coalesce(sum(total_output_tokens), 0), sum(total_cost)
            FROM calls WHERE {rows.where} GROUP BY +primary_profile""",
        rows.params,
    ).fetchall()
    usage = [
        ProfileUsage(
            profile=name,
            calls=calls,
            served=served,
            by_fallback=by_fallback,
            exhausted=exhausted,
            failed=failed,
            cancelled=cancelled,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            p50=_percentile(connection, rows.since, name, calls, 50),
            p95=_percentile(connection, rows.since, name, calls, 95),
        )
        for name, calls, served, by_fallback, exhausted, failed, cancelled, input_tokens, output_tokens, cost in found
    ]
    return sorted(usage, key=lambda u: (-u.calls, u.profile))


def _percentile(connection: sqlite3.Connection, since: float | None, profile: str, calls: int, share: int) -> float:
    """The nearest-rank percentile of the ``calls`` durations of ``profile``'s calls since ``since``: the one
    at rank ceil(share% of calls), found by walking ``calls_latency`` (no sort)."""
    rank = -(-calls * share // 100)
    after, params = ("AND started >= ?", [since]) if since is not None else ("", [])
    (duration,) = connection.execute(
        f"""SELECT duration FROM calls INDEXED BY calls_latency WHERE primary_profile = ? {after}
            ORDER BY duration LIMIT 1 OFFSET ?""",
        [profile, *params, rank - 1],
    ).fetchone()
    return float(duration)


def _total(usage: list[ProfileUsage]) -> Counts:
    costs = [u.cost for u in usage if u.cost is not None]
    fields = ("calls", "served", "by_fallback", "exhausted", "failed", "cancelled", "input_tokens", "output_tokens")
    return Counts(cost=sum(costs) if costs else None, **{f: sum(getattr(u, f) for u in usage) for f in fields})


def _failures(
    connection: sqlite3.Connection, rows: _Filter, usage: list[ProfileUsage]
) -> tuple[Literal["attempts", "calls"], list[FailureKind]]:
    (recorded,) = connection.execute(
        f"SELECT EXISTS (SELECT 1 FROM attempts WHERE {rows.where})", rows.params
    ).fetchone()
    if recorded:
        found = connection.execute(
            f"""SELECT profile, error_type, count(*) FROM attempts INDEXED BY attempts_started
                WHERE {rows.where} GROUP BY profile, error_type""",
            rows.params,
        ).fetchall()
        out_of: dict[str, int] = {}
        for name, _, count in found:
            out_of[name] = out_of.get(name, 0) + count
        source: Literal["attempts", "calls"] = "attempts"
    else:
        found = connection.execute(
            f"""SELECT primary_profile, coalesce(fallback_error, error_type), count(*)
                FROM calls INDEXED BY calls_failed WHERE {usage_schema.FAILED} AND {rows.where} GROUP BY 1, 2""",
            rows.params,
        ).fetchall()
        out_of = {u.profile: u.calls for u in usage}
        source = "calls"
    kinds = [
        FailureKind(profile=name, error_type=kind, count=count, out_of=out_of[name], rate=count / out_of[name])
        for name, kind, count in found
        if kind is not None
    ]
    return source, sorted(kinds, key=lambda k: (-k.count, k.profile, k.error_type))


def _fallbacks(connection: sqlite3.Connection, rows: _Filter, usage: list[ProfileUsage]) -> list[FallbackUse]:
    of_primary = {u.profile: u.calls for u in usage}
    found = connection.execute(
        f"""SELECT primary_profile, served_by, count(*) FROM calls INDEXED BY calls_served
            WHERE fallback = 1 AND {rows.where} GROUP BY primary_profile, served_by""",
        rows.params,
    ).fetchall()
    uses = [
        FallbackUse(primary=primary, served_by=served_by, calls=count, share=count / of_primary[primary])
        for primary, served_by, count in found
    ]
    return sorted(uses, key=lambda u: (-u.calls, u.primary, u.served_by))


def _timeline(connection: sqlite3.Connection, rows: _Filter, since: float | None, until: float) -> Timeline:
    if since is None:  # the whole log: from its first call
        (first,) = connection.execute(f"SELECT min(started) FROM calls WHERE {rows.where}", rows.params).fetchone()
        since = min(float(first), until) if first is not None else until
    bucket = max(until - since, 1.0) / BUCKETS
    counts = [[0] * BUCKETS for _ in range(3)]
    found = connection.execute(
        f"""SELECT max(0, min(CAST((started - ?) / ? AS INTEGER), {BUCKETS - 1})) AS slot,
                count(*), sum(fallback), sum(outcome = 'exhausted')
            FROM calls INDEXED BY calls_started WHERE {rows.where} GROUP BY slot""",
        [since, bucket, *rows.params],
    )
    for slot, *values in found:
        for series, value in zip(counts, values, strict=True):
            series[slot] = value
    return Timeline(start=since, bucket=bucket, calls=counts[0], fallbacks=counts[1], exhausted=counts[2])
