"""What every command shares: exit codes, error lines, JSON output and how files and paths are shown."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Final

from understudy.errors import ProfileError
from understudy.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from understudy.profiles.profile import Profile
    from understudy.profiles.store import ProfileStore
    from understudy.registry import LLMRegistry
    from understudy.routing.router_files import WatchedRouter

EXIT_PROBLEMS: Final = 1  # a profile is missing or broken, or `check` found problems
EXIT_USAGE: Final = 2  # the command line itself is wrong (argparse uses 2 as well)


def fail(message: str, code: int) -> int:
    """Print ``understudy: error: MESSAGE`` on stderr and return ``code``."""
    print(f"understudy: error: {message}", file=sys.stderr)
    return code


def print_json(data: Any, *, secrets: Sequence[str] = ()) -> None:
    """Print ``data`` as indented JSON, with secrets (and anything shaped like one) redacted."""
    print(redact(json.dumps(data, indent=2), secrets))


def display(path: Path | None) -> str:
    """A profile's file as tables show it."""
    return str(path) if path is not None else "(from a plugin)"


def dirs(store: ProfileStore) -> str:
    """The search path, as messages name it."""
    return ", ".join(str(p) for p in store.paths) or "(no directories)"


def locate(store: ProfileStore, name: str) -> Path | None:
    """The file of profile ``name``, even when the directory holds two (the error names the first)."""
    try:
        return store.locate(name)
    except ProfileError as exc:
        return exc.path


def load(store: ProfileStore, name: str) -> Profile | ProfileError:
    """The profile, or the error that stops it loading."""
    try:
        return store.load(name)
    except ProfileError as exc:
        return exc


def without_path(exc: ProfileError) -> str:
    """The error without its leading file name, for tables that show the file in a column of its own."""
    return str(exc).removeprefix(f"{exc.path}: ") if exc.path is not None else str(exc)


def times(count: int) -> str:
    return f"{count} time{'s' if count != 1 else ''}"


def arrow() -> str:
    """``→``, or ``->`` where stdout cannot encode it."""
    try:
        "→".encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "->"
    return "→"


class RouterLookup:
    """Routers by name for routes that hand off, from a registry built only when a route names one."""

    def __init__(self, store: ProfileStore) -> None:
        self.store = store
        self._registry: LLMRegistry | None = None

    def __call__(self, name: str) -> WatchedRouter:
        if self._registry is None:
            from understudy.registry import LLMRegistry  # the call machinery: only for routes that need it

            self._registry = LLMRegistry(self.store)
        return self._registry.router(name)
