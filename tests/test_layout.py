"""The size rules of docs/architecture.md: a module past 400 lines, or a class past 250, is two concepts.

(The import direction is import-linter's contract in pyproject.toml, which CI checks with ``lint-imports``.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import understudy

MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250
SOURCE = Path(understudy.__file__).parent


def test_no_module_is_past_400_lines() -> None:
    long = {str(p.relative_to(SOURCE)): n for p in SOURCE.rglob("*.py") if (n := _lines(p)) > MAX_MODULE_LINES}
    assert long == {}, "split these modules by concept (docs/architecture.md)"


def test_no_class_is_past_250_lines() -> None:
    long = {}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and (size := (node.end_lineno or 0) - node.lineno + 1) > MAX_CLASS_LINES:
                long[f"{path.relative_to(SOURCE)}:{node.name}"] = size
    assert long == {}, "a class this long is two concepts: split it (docs/architecture.md)"


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())
