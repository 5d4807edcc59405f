"""``understudy report``: the numbers of a usage log with known content, in text and JSON, over a window."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import pytest

from understudy.cli import main
from understudy.cli._common import arrow
from understudy.observability import switches, usage_schema
from understudy.observability.records import AttemptRecord, CallRecord
from understudy.observability.report import BUCKETS, build_report, parse_window

if TYPE_CHECKING:
    from pathlib import Path

HOUR = 3600.0


def call(call_id: str, primary: str, started: float, duration: float, *chain: tuple[str, str | None]) -> CallRecord:
    """A call whose attempts are ``chain`` (profile, error type); served by the last unless it failed too."""
    record = CallRecord(call_id, primary, "sync", False, None, started, duration)
    for n, (profile, error) in enumerate(chain):
        attempt = AttemptRecord(profile, f"openai/{profile}", "openai", None, None, 1, n > 0, started, duration)
        attempt.error_type = error
        if error is None:
            attempt.input_tokens, attempt.output_tokens, attempt.cost = 10, 5, 0.01
        elif n + 1 < len(chain):
            record.fallbacks.append((profile, chain[n + 1][0], error))
        record.attempts.append(attempt)
    if chain[-1][1] is None:
        record.served_by = chain[-1][0]
    else:
        record.outcome, record.error_type = "exhausted", "FallbackExhaustedError"
    return record


def known_calls(now: float) -> list[CallRecord]:
    """In the last hour: main 10 calls (7 served by it, 2 by backup after a 429, 1 exhausted), fast 4 (1 served
    by main after a timeout). Three days ago: 5 more calls main served itself."""
    recent = now - 600
    records = []
    for i in range(7):
        records.append(call(f"m{i}", "main", recent - i, 0.1 * (i + 1), ("main", None)))
    for i in (7, 8):
        records.append(call(f"m{i}", "main", recent - i, 0.1 * (i + 1), ("main", "RateLimitError"), ("backup", None)))
    records.append(
        call("m9", "main", recent - 9, 1.0, ("main", "InternalServerError"), ("backup", "ServiceUnavailableError"))
    )
    for i in range(3):
        records.append(call(f"f{i}", "fast", recent - i, 0.2 * (i + 1), ("fast", None)))
    records.append(call("f3", "fast", recent - 3, 0.8, ("fast", "Timeout"), ("main", None)))
    records += [call(f"old{i}", "main", now - 72 * HOUR - i, 2.0, ("main", None)) for i in range(5)]
    return records


def write_log(path: Path, records: list[CallRecord], *, attempts: bool) -> Path:
    connection = usage_schema.connect(path)
    try:
        usage_schema.insert(connection, records, attempts=attempts)
    finally:
        connection.close()
    return path


@pytest.fixture(params=[False, True], ids=["calls", "attempts"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_log(tmp_path / "usage.sqlite3", known_calls(time.time()), attempts=request.param)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report_json(capsys: pytest.CaptureFixture[str], log: Path, *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "report", "--log", str(log), "--json", *argv)
    assert code == 0, err
    found: dict[str, Any] = json.loads(out)
    return found


# -- the numbers ------------------------------------------------------------------------------------------------


def test_the_last_day_counts_each_primarys_calls_latency_tokens_and_cost(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = report_json(capsys, log)  # --since 24h by default
    main_, fast = found["profiles"]
    assert main_ == {
        "profile": "main",
        "calls": 10,
        "served": 7,
        "by_fallback": 2,
        "exhausted": 1,
        "failed": 0,
        "cancelled": 0,
        "input_tokens": 90,
        "output_tokens": 45,
        "cost": pytest.approx(0.09),
        "p50": pytest.approx(0.5),  # nearest rank: the 5th of 0.1 ... 1.0
        "p95": pytest.approx(1.0),
    }
    assert (fast["profile"], fast["calls"], fast["by_fallback"], fast["p50"], fast["p95"]) == ("fast", 4, 1, 0.4, 0.8)
    total = found["total"]
    assert (total["calls"], total["served"], total["by_fallback"], total["exhausted"]) == (14, 10, 3, 1)
    assert total["cost"] == pytest.approx(0.13)


def test_fallbacks_are_counted_by_who_they_served(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = report_json(capsys, log)
    assert found["fallbacks"] == [
        {"primary": "main", "served_by": "backup", "calls": 2, "share": 0.2},
        {"primary": "fast", "served_by": "main", "calls": 1, "share": 0.25},
    ]


def test_failures_by_kind_come_from_attempts_when_the_log_has_them_else_from_calls(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = report_json(capsys, log)
    kinds = {(k["profile"], k["error_type"]): (k["count"], k["out_of"]) for k in found["failures"]}
    if found["failures_from"] == "attempts":  # each failed attempt, out of the profile's attempts
        assert kinds == {
            ("main", "RateLimitError"): (2, 11),  # main was tried 10 times as primary, once as fast's fallback
            ("main", "InternalServerError"): (1, 11),
            ("backup", "ServiceUnavailableError"): (1, 3),
            ("fast", "Timeout"): (1, 4),
        }
    else:  # each call that left its primary (or failed), by the error that made it, out of the primary's calls
        assert kinds == {
            ("main", "RateLimitError"): (2, 10),
            ("main", "InternalServerError"): (1, 10),
            ("fast", "Timeout"): (1, 4),
        }
    rates = {(k["profile"], k["error_type"]): k["rate"] for k in found["failures"]}
    assert rates[("fast", "Timeout")] == 0.25


def test_the_chart_puts_each_call_in_its_bucket_of_the_window(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    timeline = report_json(capsys, log)["timeline"]
    assert timeline["bucket"] == pytest.approx(24 * HOUR / BUCKETS)
    assert len(timeline["calls"]) == len(timeline["fallbacks"]) == BUCKETS
    assert sum(timeline["calls"]) == 14 == timeline["calls"][-1]  # ten minutes ago: the last half hour
    assert timeline["fallbacks"][-1] == 3 and sum(timeline["fallbacks"]) == 3
    assert timeline["exhausted"][-1] == 1


def test_since_and_profile_narrow_the_calls(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    everything = report_json(capsys, log, "--since", "all")
    assert everything["since"] is None
    assert [(p["profile"], p["calls"]) for p in everything["profiles"]] == [("main", 15), ("fast", 4)]
    assert everything["profiles"][0]["p95"] == 2.0
    assert report_json(capsys, log, "--since", "30s")["total"]["calls"] == 0
    assert report_json(capsys, log, "--since", "15m")["total"]["calls"] == 14

    fast = report_json(capsys, log, "--profile", "fast")
    assert fast["profile"] == "fast"
    assert [p["profile"] for p in fast["profiles"]] == ["fast"]
    assert fast["fallbacks"] == [{"primary": "fast", "served_by": "main", "calls": 1, "share": 0.25}]
    assert {k["profile"] for k in fast["failures"]} == {"fast"}
    assert sum(fast["timeline"]["calls"]) == 4


def test_the_text_report_shows_the_same_numbers(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report", "--log", str(log))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"Usage log {log}: the last 24h (")
    assert lines[1] == "14 calls: 10 served by their primary, 3 by a fallback (21.4%), 1 exhausted, 0 failed"
    header = lines[3].split()
    assert header[:5] == ["PROFILE", "CALLS", "FALLBACK", "EXHAUSTED", "FAILED"]
    assert lines[4].split() == ["main", "10", "2", "1", "0", "500ms", "1.00s", "90", "45", "$0.0900"]
    assert lines[5].split()[:3] == ["fast", "4", "1"]
    to = arrow()
    assert f"  main {to} backup  2  20.0% of main's calls" in lines
    assert any(line.split()[:2] == ["fast", "Timeout"] and "25.0% of 4" in line for line in lines)
    chart = [line for line in lines if line.lstrip().startswith(("served by a fallback", "exhausted"))]
    assert len(chart) == 2
    assert chart[0].endswith("| peak 3 per column")
    assert chart[0].split("|")[1] == " " * (BUCKETS - 1) + "█"


def test_an_empty_window_says_so(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--log", str(log), "--since", "30s")
    assert code == 0
    assert out.splitlines()[-1] == "No calls in this window; --since all reads the whole log."


def test_a_report_over_many_calls_is_counted_by_sqlite(tmp_path: Path) -> None:
    now = time.time()
    records = [
        call(f"c{i}", "main", now - i, float(i % 100 + 1) / 100, ("main", None) if i % 10 else ("backup", None))
        for i in range(2_000)
    ]
    found = build_report(write_log(tmp_path / "usage.sqlite3", records, attempts=False), window=None, now=now)
    (main_,) = found.profiles
    assert (main_.calls, main_.by_fallback) == (2_000, 200)
    assert (main_.p50, main_.p95) == (0.5, 0.95)


# -- reading the command line --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("all", None)])
def test_since_takes_seconds_minutes_hours_days_or_all(text: str, seconds: int | None) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("since", ["5x", "h", "0h", "-1h", "1.5h", "yesterday"])
def test_a_bad_since_is_a_usage_error_that_shows_the_forms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], since: str
) -> None:
    code, out, err = run(capsys, "report", "--log", str(tmp_path / "nope.sqlite3"), f"--since={since}")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "30s, 15m, 1h, 7d" in err and "'all'" in err


def test_a_missing_log_says_how_to_switch_it_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.sqlite3"
    code, out, err = run(capsys, "report", "--log", str(missing))
    assert (code, out) == (1, "")
    assert err.startswith(f"understudy: error: no usage log at {missing}")
    assert "UNDERSTUDY_USAGE_LOG=1" in err and "--log PATH" in err
    assert "Traceback" not in err
    assert not missing.exists()  # reading never creates a log


def test_the_default_log_is_the_one_the_environment_names_else_the_data_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "report")
    assert code == 1 and str(switches.default_log_path()) in err
    named = write_log(tmp_path / "named.sqlite3", known_calls(time.time()), attempts=False)
    monkeypatch.setenv("UNDERSTUDY_USAGE_LOG", str(named))
    code, out, err = run(capsys, "report", "--json")
    assert code == 0, err
    assert json.loads(out)["log"] == str(named)


def test_a_file_that_is_not_a_usage_log_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database at all, but long enough to look like a header of one" * 10)
    code, _, err = run(capsys, "report", "--log", str(junk))
    assert code == 1
    assert "not a usage log" in err and "Traceback" not in err

    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as connection:
        connection.execute(f"PRAGMA user_version = {usage_schema.SCHEMA_VERSION + 1}")
    code, _, err = run(capsys, "report", "--log", str(newer))
    assert code == 1
    assert str(newer) in err and "pip install -U understudy" in err
