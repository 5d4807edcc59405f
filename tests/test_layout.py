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


# import-linter ignores these module pairs (pyproject.toml); this keeps each of them type-only.
TYPE_ONLY_UPWARD = {
    "plugins/hookspecs.py": ("understudy.profiles", "understudy.routing", "understudy.calls"),
    "plugins/builtins.py": ("understudy.routing",),
}


def test_the_hook_contracts_upward_imports_are_type_only() -> None:
    for module, packages in TYPE_ONLY_UPWARD.items():
        tree = ast.parse((SOURCE / module).read_text(encoding="utf-8"))
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for node in ast.walk(block)
        }
        upward = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(packages)
        ]
        assert upward, f"{module} no longer imports {packages}: drop its ignore_imports entry in pyproject.toml"
        at_run_time = [f"{module}:{node.lineno}" for node in upward if id(node) not in type_only]
        assert at_run_time == [], "these imports point up a layer at run time (docs/architecture.md)"
