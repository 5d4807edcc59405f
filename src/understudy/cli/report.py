"""``understudy report``: what the usage log says about the last day (or ``--since`` window).

Per primary profile: its calls, how many a fallback served, how many failed, p50/p95 latency, tokens and cost;
then which fallbacks served whom, the failures by kind, and a chart of fallbacks over time. ``--json`` prints
the same as one document (``understudy.observability.report.Report``). Imports neither litellm nor the call
machinery: reading the log is SQLite's work.
"""

from __future__ import annotations

import math
import sqlite3
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Final

from understudy.cli._common import EXIT_PROBLEMS, EXIT_USAGE, arrow, fail, print_json
from understudy.observability.report import build_report, parse_window
from understudy.observability.switches import ATTEMPTS_ENV, LOG_ENV, configured_log_path, default_log_path

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from understudy.observability.report import ProfileUsage, Report, Timeline
    from understudy.profiles.store import ProfileStore

__all__ = ["report"]

_BLOCKS: Final = " ▁▂▃▄▅▆▇█"
_ASCII_BLOCKS: Final = " .:-=+*#@"


def report(args: argparse.Namespace, store: ProfileStore) -> int:
    """Print the report of the usage log (``--log``, else the one ``UNDERSTUDY_USAGE_LOG`` names, else the default)."""
    try:
        window = parse_window(args.since)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    path = args.log or configured_log_path() or default_log_path()
    if not path.is_file():
        return fail(
            f"no usage log at {path}. Switch it on by setting {LOG_ENV}=1 (or a path) where your "
            f"program calls models ({ATTEMPTS_ENV}=1 for a row per attempt too), or read another "
            "file with --log PATH",
            EXIT_PROBLEMS,
        )
    try:
        found = build_report(path, window=window, profile=args.profile)
    except sqlite3.Error as exc:
        return fail(f"{path}: not a usage log understudy can read ({exc})", EXIT_PROBLEMS)
    if args.json:
        print_json(found.model_dump(mode="json"))
        return 0
    print("\n".join(render(found, args.since)))
    return 0


def render(found: Report, since: str) -> list[str]:
    """The report as the terminal shows it; ``since`` is the window as the user wrote it."""
    window = "the whole log" if found.since is None else f"the last {since.strip().lower()}"
    start = found.since if found.since is not None else found.timeline.start
    lines = [f"Usage log {found.log}: {window} ({_when(start)} to {_when(found.until)})"]
    if found.profile is not None:
        lines[0] += f", calls to {found.profile}"
    total = found.total
    if total.calls == 0:
        hint = "; --since all reads the whole log." if found.since is not None else "."
        return [*lines, f"No calls in this window{hint}"]
    lines.append(
        f"{total.calls:,} calls: {total.served:,} served by their primary, {total.by_fallback:,} by a fallback "
        f"({_share(total.by_fallback, total.calls)}), {total.exhausted:,} exhausted, {total.failed:,} failed"
        + (f", {total.cancelled:,} cancelled" if total.cancelled else "")
    )
    lines += ["", *_profiles(found.profiles)]
    to = arrow()
    if found.fallbacks:
        lines += ["", "Fallbacks that served"]
        uses = [
            (f"{use.primary} {to} {use.served_by}", f"{use.calls:,}", f"{use.share:.1%} of {use.primary}'s calls")
            for use in found.fallbacks
        ]
        lines += _table(uses, right=(1,), indent="  ")
    if found.failures:
        unit = "attempts" if found.failures_from == "attempts" else "calls"
        why = "every failed attempt" if unit == "attempts" else "the error that made each call leave its primary"
        lines += ["", f"Failures by kind ({why})"]
        kinds = [
            (kind.profile, kind.error_type, f"{kind.count:,}", f"{kind.rate:.1%} of {kind.out_of:,} {unit}")
            for kind in found.failures
        ]
        lines += _table(kinds, right=(2,), indent="  ")
    return [*lines, "", *_chart(found.timeline, found.until)]


def _profiles(usage: Sequence[ProfileUsage]) -> list[str]:
    head = ("PROFILE", "CALLS", "FALLBACK", "EXHAUSTED", "FAILED", "P50", "P95", "TOKENS IN", "TOKENS OUT", "COST")
    rows = [
        (
            u.profile,
            f"{u.calls:,}",
            f"{u.by_fallback:,}",
            f"{u.exhausted:,}",
            f"{u.failed + u.cancelled:,}",
            _seconds(u.p50),
            _seconds(u.p95),
            f"{u.input_tokens:,}",
            f"{u.output_tokens:,}",
            f"${u.cost:,.4f}" if u.cost is not None else "-",
        )
        for u in usage
    ]
    return _table([head, *rows], right=tuple(range(1, len(head))))


def _chart(timeline: Timeline, until: float) -> list[str]:
    blocks = _blocks()
    lines = [f"Fallbacks over time (one column = {_span(timeline.bucket)}, {_when(timeline.start)} to {_when(until)})"]
    for label, series in (("served by a fallback", timeline.fallbacks), ("exhausted", timeline.exhausted)):
        peak = max(series)
        bar = "".join(blocks[math.ceil(count * 8 / peak)] if count else " " for count in series)
        lines.append(f"  {label:<20} |{bar}| " + (f"peak {peak:,} per column" if peak else "none"))
    start, end = _when(timeline.start, short=True), _when(until, short=True)
    lines.append(" " * 24 + start + end.rjust(len(timeline.fallbacks) - len(start)))
    return lines


def _table(rows: Sequence[Sequence[str]], *, right: tuple[int, ...] = (), indent: str = "") -> list[str]:
    """``rows`` in columns two spaces apart; the columns numbered in ``right`` aligned right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _blocks() -> str:
    try:
        _BLOCKS.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return _ASCII_BLOCKS
    return _BLOCKS


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"


def _when(timestamp: float, *, short: bool = False) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M")
