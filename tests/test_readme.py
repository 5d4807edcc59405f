"""README's "Use it" snippet runs, as written, against the fake provider (examples/offline_quickstart.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

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


def test_readmes_snippet_falls_back_offline(tmp_path: Path) -> None:
    """README's snippet could not run against the fake provider without undocumented steps."""
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "UNDERSTUDY_DISABLE_PLUGINS": "*",
        "UNDERSTUDY_CONFIG_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "claude-sonnet Hello from the understudy" in lines
    assert sum(line.startswith("attempt_failed ") for line in lines) == 3  # the first try and num_retries = 2
    assert any(line.startswith("fallback_succeeded ") for line in lines)
    assert lines[-1].startswith("profile='gpt-4o' calls=3 successes=0 failures=3")
