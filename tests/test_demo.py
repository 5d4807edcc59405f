"""The offline demo: ``run_demo()`` in-process for what it prints, ``understudy demo`` once in a fresh
interpreter for what litellm might print on its own (banners, cost-map fetches, tracebacks)."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from conftest import fresh_interpreter, fresh_result

from understudy.demo import run_demo
from understudy.demo.runner import Symbols
from understudy.demo.scenarios import FAKE_KEY, SCENARIOS

# litellm's own typed dicts trip this pydantic warning on its first async call; nothing of ours.
pytestmark = pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier:UserWarning")


@pytest.fixture(scope="module")
def demo() -> tuple[int, str]:
    """One run of the demo for the whole module: it takes a few seconds."""
    out = io.StringIO()
    code = run_demo(out)
    return code, out.getvalue()


def section(output: str, number: int) -> str:
    """The lines printed under scenario ``number``'s heading."""
    start = output.index(f"\n{number}. ")
    end = output.find("\n\n", start + 1)
    return output[start : end if end != -1 else None]


def test_run_demo_exits_0(demo: tuple[int, str]) -> None:
    code, output = demo
    assert code == 0, output


def test_run_demo_prints_a_heading_per_scenario(demo: tuple[int, str]) -> None:
    _, output = demo
    for scenario in SCENARIOS:
        assert f"\n{scenario.title}\n" in output


def test_rate_limited_primary_is_retried_then_the_backup_serves(demo: tuple[int, str]) -> None:
    text = section(demo[1], 1)
    assert "↳ attempt 1 of primary failed: RateLimitError (retrying in 0.050s)" in text
    assert "↳ fallback primary → backup (RateLimitError)" in text
    assert re.search(r"✓ served by backup after 4 attempts in [\d.]+s, cost \$0\.0000\d\d", text)
    assert "answer from backup: 'Paris.'" in text


def test_primary_outage_is_served_by_the_local_model_at_unknown_cost(demo: tuple[int, str]) -> None:
    text = section(demo[1], 2)
    assert "failed: ServiceUnavailableError (retrying in" in text
    assert "↳ fallback primary → local" in text
    assert "✓ served by local after 4 attempts" in text
    assert "cost unknown" in text


def test_a_dropped_connection_reads_as_one_whatever_class_litellm_raised(demo: tuple[int, str]) -> None:
    """Regression: the scripted dropped connection was printed as "InternalServerError" (litellm's openai
    handler re-raises the client's APIConnectionError with status 500), which reads as a provider bug."""
    text = section(demo[1], 2)
    assert re.search(r"attempt 3 of primary failed: connection dropped, raised as \w+Error \(no retry\)", text)
    assert "↳ fallback primary → local (connection dropped)" in text
    assert "failed: InternalServerError" not in demo[1]


def test_prompt_too_large_goes_straight_to_the_long_context_profile(demo: tuple[int, str]) -> None:
    text = section(demo[1], 3)
    assert "attempt 1 of primary failed: ContextWindowExceededError (no retry)" in text
    assert "attempt 2" not in text
    assert "↳ fallback primary → long-context (ContextWindowExceededError)" in text
    assert "answer from long-context:" in text


def test_everything_down_prints_the_exhausted_error_and_each_attempt(demo: tuple[int, str]) -> None:
    text = section(demo[1], 4)
    assert "✗ every profile failed (5 attempts in" in text
    assert "FallbackExhaustedError: every profile failed for a call to 'primary'" in text
    attempts = re.findall(r"^\s+(\d)\. (\S+)\s+(\S+(?: dropped)?)", text.split("its attempts:")[1], re.MULTILINE)
    assert attempts == [
        ("1", "primary", "RateLimitError"),
        ("2", "primary", "RateLimitError"),
        ("3", "primary", "RateLimitError"),
        ("4", "backup", "RateLimitError"),
        ("5", "local", "connection dropped"),
    ]
    assert "attempt 1 of local failed: connection dropped" in text


def test_async_call_is_served_by_the_primary_after_a_retry(demo: tuple[int, str]) -> None:
    text = section(demo[1], 5)
    assert "attempt 1 of primary failed: BadGatewayError (retrying in" in text
    assert "answer from primary: 'Hello from asyncio!'" in text


def test_a_primary_that_keeps_failing_cools_down_and_is_skipped_without_a_request(demo: tuple[int, str]) -> None:
    text = demo[1].split("\n7. ")[1].split("Stats per profile")[0]
    assert text.count("attempt 2 of primary failed: ServiceUnavailableError (no retry)") == 1  # a 5xx: once
    assert text.count("attempt 1 of primary failed: ServiceUnavailableError (no retry)") == 1  # the third cools it
    assert text.count("skipped primary") == 1
    assert "skipped primary: cooling down: 3 failures in 60 s, the last ServiceUnavailableError (until " in text
    assert "fallback primary → local (ProfileCoolingDownError)" in text
    assert text.count("answer from local: 'Still here.'") == 3


def test_run_demo_ends_with_a_stats_row_per_profile(demo: tuple[int, str]) -> None:
    table = demo[1].split("Stats per profile (registry.stats()):\n")[1].splitlines()
    assert table[0].split()[:4] == ["profile", "attempts", "ok", "failed"]
    rows = {line.split()[0]: line.split() for line in table[2:6]}
    assert set(rows) == {"primary", "backup", "long-context", "local"}
    # profile, attempts, ok, failed, tokens, cost ...
    assert rows["primary"][1:4] == ["15", "1", "14"]  # scenario 7's second call skips it: no attempt
    assert rows["backup"][1:4] == ["3", "1", "2"]  # scenario 6 routes to backup, which fails over to local
    assert rows["local"][5] == "unknown"
    assert rows["long-context"][5].startswith("$")
    assert "RateLimitError x6" in " ".join(rows["primary"])


def test_the_stats_table_counts_attempts_and_says_so(demo: tuple[int, str]) -> None:
    """Regression: the column headed "calls" counted attempts (12 for the primary's 6 calls), retries included."""
    table = demo[1].split("Stats per profile (registry.stats()):\n")[1]
    assert "calls " not in table.splitlines()[0]
    assert "attempts: model calls, retries included" in table


def test_run_demo_never_prints_the_fake_key_or_a_traceback(demo: tuple[int, str]) -> None:
    _, output = demo
    assert FAKE_KEY not in output
    assert "Traceback" not in output
    assert "unexpected" not in output


def test_symbols_fall_back_to_ascii_when_the_output_cannot_encode_them() -> None:
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert Symbols.for_stream(ascii_out) == Symbols(step="->", ok="+", fail="x", arrow="->", rule="-")
    assert Symbols.for_stream(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")) == Symbols()


@fresh_interpreter("test_demo.py::demo_command")
def _demo_command(home: Path) -> tuple[list[str], dict[str, str], Path | None]:
    script = Path(sys.executable).with_name("understudy")
    env = {"PATH": str(script.parent), "HOME": str(home), "UNDERSTUDY_DISABLE_PLUGINS": "*"}
    return [str(script), "demo"], env, None


def test_understudy_demo_command_is_quiet_on_stderr_and_needs_no_key() -> None:
    """A fresh interpreter: litellm's import-time output (cost-map fetches, banners) would show here."""
    result = fresh_result("test_demo.py::demo_command")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert "Stats per profile" in result.stdout


def test_run_demo_shows_a_routed_call_that_still_falls_back(demo: tuple[int, str]) -> None:
    section = demo[1].split("6. A router picks")[1].split("\n7. ")[0]
    assert "routed to backup by match:routes[0]" in section
    assert "fallback backup" in section and "answer from local" in section


@pytest.mark.parametrize("where", ["before", "after"])
def test_demo_refuses_profiles_path_instead_of_ignoring_it(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ``understudy demo --profiles-path DIR`` checked DIR, then ignored it."""
    from understudy.cli import main

    monkeypatch.setattr("understudy.demo.run_demo", lambda *args, **kwargs: 0)
    option = ["--profiles-path", str(tmp_path)]
    argv = [*option, "demo"] if where == "before" else ["demo", *option]
    assert main(argv) == 2
    assert "--profiles-path" in capsys.readouterr().err
