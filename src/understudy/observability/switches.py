"""The environment switches of understudy's observability plugins, and the plugins its entry points register.

The ``otel`` and ``usage-log`` entry points (``pyproject.toml``) name ``otel`` and ``usage_log`` here. Each is
decided once, when the plugin manager loads it: a plugin switched off, or whose library is not installed, is an
``Off`` placeholder with no hooks, so that a call pays nothing for it, and building the manager imports neither
OpenTelemetry nor ``sqlite3``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Final

import platformdirs

__all__ = [
    "ATTEMPTS_ENV",
    "DATA_DIR_ENV",
    "LOG_ENV",
    "Off",
    "configured_log_path",
    "default_log_path",
    "otel_installed",
    "otel_plugin",
    "switched_on",
    "usage_log_plugin",
    "user_data_dir",
]

DATA_DIR_ENV: Final = "UNDERSTUDY_DATA_DIR"
LOG_ENV: Final = "UNDERSTUDY_USAGE_LOG"
ATTEMPTS_ENV: Final = "UNDERSTUDY_USAGE_LOG_ATTEMPTS"
LOG_FILE_NAME: Final = "usage.sqlite3"
_ON: Final = frozenset({"1", "true", "yes", "on"})
_OFF: Final = frozenset({"", "0", "false", "no", "off"})


def switched_on(value: str | None) -> bool:
    """Whether an environment switch's value means on (``1``, ``true``, ``yes``, ``on``, in any case)."""
    return (value or "").strip().lower() in _ON


def user_data_dir() -> Path:
    """understudy's directory in the user's data dir, or ``UNDERSTUDY_DATA_DIR`` when set."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override).expanduser() if override else platformdirs.user_data_path("understudy")


def default_log_path() -> Path:
    """Where the usage log is written unless a path is given: ``usage.sqlite3`` in ``user_data_dir()``."""
    return user_data_dir() / LOG_FILE_NAME


def configured_log_path() -> Path | None:
    """The log ``UNDERSTUDY_USAGE_LOG`` switches on: None when unset or off, ``default_log_path()`` for ``1`` or
    ``true``, else the path it names."""
    value = os.environ.get(LOG_ENV, "").strip()
    if value.lower() in _OFF:
        return None
    return default_log_path() if switched_on(value) else Path(value).expanduser()


class Off:
    """An entry point's plugin that is switched off: it implements no hook. ``why`` says how to switch it on."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"Off({self.why!r})"


def usage_log_plugin() -> object:
    """A ``UsageLog`` where ``UNDERSTUDY_USAGE_LOG`` asks for one (``UNDERSTUDY_USAGE_LOG_ATTEMPTS=1``: with a row
    per attempt), else ``Off``."""
    path = configured_log_path()
    if path is None:
        return Off(f"set {LOG_ENV}=1 (or a path) to write the usage log")
    from understudy.observability.usage_log import UsageLog

    return UsageLog(path, attempts=switched_on(os.environ.get(ATTEMPTS_ENV)))


def otel_installed() -> bool:
    """Whether OpenTelemetry's API is installed (without importing it)."""
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except ModuleNotFoundError:  # no ``opentelemetry`` package at all: find_spec raises for a missing parent
        return False


def otel_plugin() -> object:
    """An ``OpenTelemetry`` on the global providers where OpenTelemetry is installed, else ``Off``."""
    if not otel_installed():
        return Off("pip install 'understudy[otel]' for traces and metrics through OpenTelemetry")
    from understudy.observability.otel import OpenTelemetry

    return OpenTelemetry()


_ENTRY_POINTS: Final = {"otel": otel_plugin, "usage_log": usage_log_plugin}
_made: dict[str, object] = {}


def __getattr__(name: str) -> object:
    """``otel`` and ``usage_log``, the entry points' plugins, decided on first use (PEP 562): when pluggy loads
    the entry point, not when a plugin module imports the switches above."""
    make = _ENTRY_POINTS.get(name)
    if make is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _made:
        _made[name] = make()
    return _made[name]
