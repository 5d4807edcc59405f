"""The example project in docs/testing.md ("Testing your agent's fallbacks") passes under plain ``pytest``.

Each fenced block of that section whose first line is a ``# <path>`` comment is one file of the project. They
are written to a temp dir and run with the ``pytest`` console script, as a user would, in a subprocess that
sees no installed understudy plugin, no real config dir and no network.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from conftest import fresh_interpreter, fresh_result

DOC: Path = Path(__file__).parents[1] / "docs" / "testing.md"
SECTION = "## Testing your agent's fallbacks"
FENCE = re.compile(r"^```[\w-]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PATH_COMMENT = re.compile(r"# ([\w./-]+\.(?:py|toml))")


def example_files(markdown: str) -> dict[str, str]:
    """``{path: text}`` of every block in the section that starts with a path comment."""
    section = markdown.split(SECTION, 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in FENCE.findall(section):
        match = PATH_COMMENT.fullmatch(block.partition("\n")[0])
        if match:
            files[match[1]] = block
    return files


def test_the_example_layout_is_a_whole_project() -> None:
    files = example_files(DOC.read_text(encoding="utf-8"))
    assert set(files) == {"pyproject.toml", "my_agent.py", "tests/conftest.py", "tests/test_agent_fallbacks.py"}
    assert 'pythonpath = ["."]' in files["pyproject.toml"]


@fresh_interpreter("test_docs_examples.py::example_project")
def _example_project(tmp_path: Path) -> tuple[list[str], dict[str, str], Path | None]:
    project = tmp_path / "project"
    for name, text in example_files(DOC.read_text(encoding="utf-8")).items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "profiles").mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "UNDERSTUDY_DISABLE_PLUGINS": "*",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "UNDERSTUDY_CONFIG_DIR": str(tmp_path / "config"),
        "UNDERSTUDY_PROFILES_PATH": str(tmp_path / "profiles"),
    }
    pytest_script = Path(sys.executable).with_name("pytest")
    return [str(pytest_script), "-p", "no:cacheprovider", "-q"], env, project


def test_the_example_project_passes_under_plain_pytest() -> None:
    """Regression: the documented layout passed only under ``python -m pytest``; plain ``pytest`` does not put
    the project dir on sys.path, so ``from my_agent import answer`` failed in every test."""
    result = fresh_result("test_docs_examples.py::example_project")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b3 passed\b", result.stdout), result.stdout
