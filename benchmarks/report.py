"""How fast the usage log writes and ``understudy report`` reads: a 100,000-call log in a temp dir.

Run from the repository root after installing it (``pip install -e .``)::

    python benchmarks/report.py [--calls 100000] [--keep DIR]

It writes synthetic calls (a week of them, about one in ten served by a fallback, with attempt rows) through
``UsageLog``, then times ``build_report`` in this process and ``understudy report`` as a whole process.
Nothing here asserts a time: it prints the numbers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from understudy.observability.records import AttemptRecord, CallRecord
from understudy.observability.report import build_report
from understudy.observability.usage_log import UsageLog

if TYPE_CHECKING:
    from collections.abc import Callable

WEEK = 7 * 86400
CHAINS = {  # primary: (its fallbacks, share of the calls)
    "main": (["backup", "local"], 0.6),
    "fast": (["main"], 0.3),
    "vision": (["main"], 0.1),
}
ERRORS = ["RateLimitError", "RateLimitError", "RateLimitError", "InternalServerError", "Timeout"]


def synthetic(count: int, now: float, seed: int = 12) -> list[CallRecord]:
    """``count`` calls over the week before ``now``: 88% served by the primary, 9% by a fallback, 2% exhausted."""
    rng = random.Random(seed)
    names, weights = list(CHAINS), [share for _, share in CHAINS.values()]
    records = []
    for i in range(count):
        primary = rng.choices(names, weights)[0]
        started = now - rng.random() * WEEK
        chain = [primary, *CHAINS[primary][0]]
        roll = rng.random()
        failing = 0 if roll < 0.88 else len(chain) if roll < 0.90 else rng.randint(1, len(chain) - 1)
        record = CallRecord(f"call-{i:07d}", primary, "sync", rng.random() < 0.2, None, started)
        clock = started
        for n, name in enumerate(chain[: failing + 1]):
            duration = rng.lognormvariate(-0.5, 0.6)
            attempt = AttemptRecord(name, f"openai/{name}-model", "openai", None, None, 1, n > 0, clock, duration)
            if n < failing:
                attempt.error_type = rng.choice(ERRORS)
                if n + 1 < len(chain):
                    record.fallbacks.append((name, chain[n + 1], attempt.error_type))
            else:
                attempt.input_tokens, attempt.output_tokens = rng.randint(50, 2000), rng.randint(10, 800)
                attempt.cost = attempt.input_tokens * 2.5e-6 + attempt.output_tokens * 1e-5
            record.attempts.append(attempt)
            clock += duration
        record.duration = clock - started
        if failing == len(chain):
            record.outcome, record.error_type = "exhausted", "FallbackExhaustedError"
        else:
            record.served_by = chain[failing]
        records.append(record)
    return sorted(records, key=lambda record: record.started)  # a log is written as calls end: in time order


def best(runs: int, work: Callable[[], object]) -> tuple[float, float]:
    """The fastest and the median of ``runs`` timings of ``work()``, in seconds."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the log into DIR and keep it")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        (args.keep / "usage.sqlite3").unlink(missing_ok=True)
        measure(args.keep / "usage.sqlite3", args.calls)
        return
    with tempfile.TemporaryDirectory(prefix="understudy-report-bench-") as directory:
        measure(Path(directory) / "usage.sqlite3", args.calls)


def measure(path: Path, calls: int) -> None:
    """Write ``calls`` synthetic calls to a new log at ``path``, then time reports of it."""
    now = time.time()
    records = synthetic(calls, now)
    rows = len(records) + sum(len(record.attempts) for record in records)
    log = UsageLog(path, attempts=True, queue_size=len(records) + 1)
    began = time.perf_counter()
    for record in records:
        log.log(record)
    queued = time.perf_counter() - began
    log.flush()
    wrote = time.perf_counter() - began
    log.close()
    assert log.written == len(records) and log.dropped == log.failed == 0, (log.written, log.dropped, log.failed)

    print(f"usage log: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print("| what | time |")
    print("|---|---|")
    print(f"| queue {len(records):,} records (the call's share) | {queued / len(records) * 1e6:.2f} µs each |")
    attempts = rows - len(records)
    print(f"| write {len(records):,} calls + {attempts:,} attempts | {wrote:.2f} s, {rows / wrote:,.0f} rows/s |")
    for label, window, profile in (("all", None, None), ("24h", 86400.0, None), ("all, --profile main", None, "main")):
        fastest, median = best(5, lambda w=window, p=profile: build_report(path, window=w, profile=p))
        print(f"| in-process report, --since {label} | {fastest * 1000:.0f} ms (median {median * 1000:.0f} ms) |")
    for argv in (["--since", "all"], ["--since", "all", "--json"], ["--since", "24h"]):
        command = [sys.executable, "-m", "understudy", "report", "--log", str(path), *argv]
        fastest, median = best(3, lambda c=command: subprocess.run(c, check=True, capture_output=True))
        shown = " ".join(argv)
        print(
            f"| `understudy report {shown}`, whole process | {fastest * 1000:.0f} ms (median {median * 1000:.0f} ms) |"
        )
    bare = best(3, lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))[0]
    print(f"| `python -c pass`, for scale | {bare * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
