"""README's "Use it" snippet runs, as written, against the fake provider (examples/offline_quickstart.py)."""

from __future__ import annotations

import re
import runpy
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "offline_quickstart.py"


def readme_snippet() -> str:
    use_it = (ROOT / "README.md").read_text(encoding="utf-8").split("## Use it", 1)[1]
    return re.search(r"```python\n(.*?)```", use_it, re.S).group(1)  # type: ignore[union-attr]


def example_snippet() -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    body = text.split("# --- README's snippet, as written ---\n", 1)[1].split("# --- end of README's snippet", 1)[0]
    return textwrap.dedent(body)


def test_the_example_runs_readmes_snippet_character_for_character() -> None:
    assert example_snippet().strip() == readme_snippet().strip()


def test_readmes_snippet_falls_back_offline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's snippet could not run against the fake provider without undocumented steps."""
    # The example sets these for itself; setting them first lets the test put them back afterwards.
    monkeypatch.setenv("UNDERSTUDY_PROFILES_PATH", "")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-openai")
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert "claude-sonnet Hello from the understudy" in lines
    assert sum(line.startswith("attempt_failed ") for line in lines) == 3  # the first try and num_retries = 2
    assert any(line.startswith("fallback_succeeded ") for line in lines)
    assert lines[-1].startswith("profile='gpt-4o' calls=3 successes=0 failures=3")
