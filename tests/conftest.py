"""Test isolation: no network, no installed plugins, no real user config or data dir."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import subprocess
import tempfile

# Set before anything imports litellm: use the bundled cost map, never fetch one.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["UNDERSTUDY_DISABLE_PLUGINS"] = "*"

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import litellm
import pytest

from understudy import LLMRegistry, ProfileStore, RetryPolicy

if TYPE_CHECKING:
    from understudy.events import Event
    from understudy.testing import FakeProvider

# litellm prints a "Give Feedback" banner on every exception; the tests raise hundreds on purpose.
litellm.suppress_debug_info = True


# -- no network: a test that connects (or looks up a name) outside loopback fails --------------------------------

_outside: list[str] = []
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _is_local(host: object) -> bool:
    if host is None or host in ("localhost", b"localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:
        return False


def _check(address: Any, family: int) -> None:
    if family == socket.AF_UNIX:
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_local(host):
        _outside.append(f"{host}:{address[1] if isinstance(address, tuple) and len(address) > 1 else '?'}")
        # Raised where the connection was attempted; a client may swallow it, so the test fails at teardown too.
        raise ConnectionRefusedError(f"the test suite never connects outside 127.0.0.1; tried {host}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address, self.family)
    return _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address, self.family)
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    _check((host, args[0] if args else None), socket.AF_INET)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """Fails the test that tried to reach beyond loopback, even when the client caught the refusal."""
    _outside.clear()
    yield
    tried, _outside[:] = list(_outside), []
    if tried:
        pytest.fail(f"the test tried to reach the network outside 127.0.0.1: {', '.join(sorted(set(tried)))}")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp user config dir, data dir and an empty profile path, so no test sees the real ones."""
    config = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("UNDERSTUDY_CONFIG_DIR", str(config))
    monkeypatch.setenv("UNDERSTUDY_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("UNDERSTUDY_USAGE_LOG", raising=False)  # `understudy report` reads the log it names
    monkeypatch.delenv("UNDERSTUDY_USAGE_LOG_ATTEMPTS", raising=False)
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


@pytest.fixture
def twin(profiles_dir: Path) -> LLMRegistry:
    """A second registry over the same profiles: the same scenario called through the core API, to compare with."""
    return LLMRegistry(ProfileStore([profiles_dir]), retry_policy=RetryPolicy(initial=0.001, max_delay=0.5))


# -- comparing an integration's story with the core API's ------------------------------------------------------------


HELLO = [{"role": "user", "content": "hello"}]


def call(registry: LLMRegistry, asynchronous: bool, name: str = "main", **kwargs: Any) -> Any:
    """One call to profile ``name`` (``messages`` default to a hello), sync or through ``acompletion``."""
    kwargs.setdefault("messages", HELLO)
    llm = registry.get(name)
    if asynchronous:
        return asyncio.run(llm.acompletion(**kwargs))
    return llm.completion(**kwargs)


def observe(registry: LLMRegistry) -> list[Event]:
    """The list that every event of ``registry`` is appended to from now on."""
    events: list[Event] = []
    registry.subscribe(events.append)
    return events


def steps(events: list[Event]) -> list[dict[str, Any]]:
    """Events without what differs between two runs of one scenario (ids, clocks, jitter)."""
    dumps = [e.model_dump(exclude={"call_id", "timestamp", "latency", "retry_in"}) for e in events]
    for dump in dumps:
        if isinstance(dump.get("attempts"), list):  # fallback_exhausted: each attempt's duration
            dump["attempts"] = [{k: v for k, v in a.items() if k != "duration"} for a in dump["attempts"]]
    return dumps


def stats(registry: LLMRegistry) -> dict[str, dict[str, Any]]:
    """Per-profile stats without the latencies."""
    return {name: s.model_dump(exclude={"total_latency", "mean_latency"}) for name, s in registry.stats().items()}


# -- fresh interpreters, run beside the suite ------------------------------------------------------------------------
# A few tests need a process that has not imported litellm yet (its first import is what they check), and each
# such process spends seconds importing it. They are registered at import time with ``fresh_interpreter`` and all
# started when collection ends, so they run on the other core while the suite goes on; the test waits for its own.

FreshScript = Callable[[Path], tuple[list[str], dict[str, str], Path | None]]
_fresh_scripts: dict[str, FreshScript] = {}
_fresh_runs: dict[str, subprocess.Popen[str]] = {}


def fresh_interpreter(name: str) -> Callable[[FreshScript], FreshScript]:
    """Register ``prepare(tmp_dir) -> (argv, env, cwd)``: a command the session starts early; see ``fresh_result``."""

    def register(prepare: FreshScript) -> FreshScript:
        _fresh_scripts[name] = prepare
        return prepare

    return register


def pytest_collection_finish(session: pytest.Session) -> None:
    selected = {item.nodeid.split("::")[0] for item in session.items}
    for name, prepare in _fresh_scripts.items():
        if not any(name.startswith(path.removeprefix("tests/")) for path in selected):
            continue  # its test was not selected: do not pay for it
        argv, env, cwd = prepare(Path(tempfile.mkdtemp(prefix="understudy-fresh-")))
        _fresh_runs[name] = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


def fresh_result(name: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Wait for the registered command ``name`` and return what it did."""
    run = _fresh_runs.get(name)
    if run is None:  # collected some other way: run it now
        argv, env, cwd = _fresh_scripts[name](Path(tempfile.mkdtemp(prefix="understudy-fresh-")))
        return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    out, err = run.communicate(timeout=timeout)
    return subprocess.CompletedProcess(run.args, run.returncode, out, err)
