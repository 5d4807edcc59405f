"""Where profiles are looked for: ``UNDERSTUDY_PROFILES_PATH``, else ``./profiles`` and the user's config dir.

Apart from ``store`` so that what only needs the path (the CLI's help, the llm plugin) imports no pydantic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import platformdirs

__all__ = ["CONFIG_DIR_ENV", "PROFILES_PATH_ENV", "default_search_path", "user_config_dir"]

PROFILES_PATH_ENV: Final = "UNDERSTUDY_PROFILES_PATH"
CONFIG_DIR_ENV: Final = "UNDERSTUDY_CONFIG_DIR"


def user_config_dir() -> Path:
    """understudy's directory in the user's config dir, or ``UNDERSTUDY_CONFIG_DIR`` when set."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override).expanduser() if override else platformdirs.user_config_path("understudy")


def default_search_path() -> list[Path]:
    """``UNDERSTUDY_PROFILES_PATH`` when set; else ``./profiles`` (if it exists), then the user's dir."""
    configured = os.environ.get(PROFILES_PATH_ENV)
    if configured:
        return [Path(p).expanduser() for p in configured.split(os.pathsep) if p]
    local = Path("profiles")
    dirs = [local.resolve()] if local.is_dir() else []
    return [*dirs, user_config_dir() / "profiles"]
