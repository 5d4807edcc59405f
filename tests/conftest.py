"""Test isolation: no network, no installed plugins, no real user config dir."""

from __future__ import annotations

import os

# Set before anything imports litellm: use the bundled cost map, never fetch one.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["UNDERSTUDY_DISABLE_PLUGINS"] = "*"

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import litellm
import pytest

from understudy import LLMRegistry, ProfileStore, RetryPolicy

if TYPE_CHECKING:
    from understudy.testing import FakeProvider

# litellm prints a "Give Feedback" banner on every exception; the tests raise hundreds on purpose.
litellm.suppress_debug_info = True


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp user config dir and an empty profile path, so no test sees the real ones."""
    config = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("UNDERSTUDY_CONFIG_DIR", str(config))
    monkeypatch.setenv("UNDERSTUDY_PROFILES_PATH", str(config / "profiles"))
    monkeypatch.setenv("UNDERSTUDY_DISABLE_PLUGINS", "*")
    return config


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    path = tmp_path / "profiles"
    path.mkdir()
    return path


WriteProfile = Callable[..., Path]


@pytest.fixture
def write_profile(profiles_dir: Path) -> WriteProfile:
    """Write ``<name>.toml`` (or raw text with ``text=``) into the test's profile directory."""

    def write(name: str, text: str | None = None, *, suffix: str = ".toml", **fields: object) -> Path:
        path = profiles_dir / f"{name}{suffix}"
        path.write_text(text if text is not None else _toml(fields), encoding="utf-8")
        return path

    return write


def _toml(fields: dict[str, object]) -> str:
    lines, tables = [], []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "".join(f"{_key(k)} = {_value(v)}\n" for k, v in value.items()))
        else:
            lines.append(f"{key} = {_value(value)}\n")
    return "".join(lines) + "\n".join(tables)


def _key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else f'"{key}"'


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


@pytest.fixture
def fake_profile(write_profile: WriteProfile, fake_provider: FakeProvider) -> WriteProfile:
    """Write a profile whose model is served by the test's fake provider."""

    def write(name: str, model: str | None = None, **fields: object) -> Path:
        fields.setdefault("api_key", "sk-test-key-0000")
        return write_profile(name, model=f"openai/{model or name}", api_base=fake_provider.base_url, **fields)

    return write


@pytest.fixture
def registry(profiles_dir: Path) -> LLMRegistry:
    """A registry over the test's profile directory that retries without real waits."""
    return LLMRegistry(ProfileStore([profiles_dir]), retry_policy=RetryPolicy(initial=0.001, max_delay=0.5))
