"""The llm plugin: the real ``llm`` command and library -> understudy -> litellm -> the fake provider, over HTTP.

The command line runs in a fresh interpreter beside the suite (``fresh_interpreter``): one driver process runs
each ``llm`` command in turn, with a temporary ``LLM_USER_PATH`` and ``HOME``, profiles that point at a fake
provider started here, and a guard that refuses and records any connection beyond 127.0.0.1. The tests below
read what each command did, and what the fake provider received.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import llm
import pydantic
import pytest
from conftest import fresh_interpreter, fresh_result

import understudy.integrations.llm
from understudy import FallbackExhaustedError, LLMRegistry, ProfileStore, hookimpl
from understudy.integrations.llm import UnderstudyAsyncModel, UnderstudyModel, default_registry
from understudy.plugins import make_plugin_manager
from understudy.testing import FakeProvider, RateLimit, Reply, ServerError

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator

    from conftest import WriteProfile

    from understudy.events import Event

FRESH = "test_integration_llm.py::llm_commands"
KEY = "sk-test-key-0000"

# The commands, in order, each with its standard input; each prompt is answered as scripted in _llm_commands.
COMMANDS: dict[str, tuple[list[str], str]] = {
    "models": (["models"], ""),
    "stream": (["-m", "understudy/primary", "hi"], ""),
    "no_stream": (
        ["-m", "understudy/primary", "--no-stream", "-s", "be brief", "-o", "temperature", "0.5", "again"],
        "",
    ),
    "continue": (["chat", "-c"], "go on\nand on\nexit\n"),  # the last conversation, in llm chat
    "exhausted": (["-m", "understudy/doomed", "anyone?"], ""),
    "logs": (["logs", "--json", "-n", "5"], ""),
}

DRIVER = """
import json, os, subprocess, sys
imported = __import__("understudy") and "llm" in sys.modules
runs = {}
for name, (args, given) in json.loads(sys.argv[1]).items():
    done = subprocess.run([sys.executable, "-m", "llm", *args], input=given, capture_output=True, text=True)
    runs[name] = {"rc": done.returncode, "out": done.stdout, "err": done.stderr}
log = os.environ["UNDERSTUDY_TEST_NETWORK_LOG"]
network = open(log).read().split() if os.path.exists(log) else []
print(json.dumps({"import_understudy_imports_llm": imported, "runs": runs, "network": network}))
"""

# Installed in every interpreter of the run (sitecustomize): a connection beyond loopback is refused and recorded.
NETWORK_GUARD = """
import ipaddress, os, socket

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _check(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = str(address[0])
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        with open(os.environ["UNDERSTUDY_TEST_NETWORK_LOG"], "a") as log:
            log.write(host + "\\n")
        raise ConnectionRefusedError("the test run never connects outside 127.0.0.1; tried " + host)


socket.socket.connect = lambda self, address: (_check(self, address), _connect(self, address))[1]
socket.socket.connect_ex = lambda self, address: (_check(self, address), _connect_ex(self, address))[1]
"""

_provider: FakeProvider | None = None  # started when the commands are, stopped after this module's tests


def _profile(model: str, base_url: str, *, fallback: str | None = None) -> str:
    text = f'model = "openai/{model}"\napi_base = "{base_url}"\napi_key = "{KEY}"\nnum_retries = 0\n'
    return text + (f'\n[fallbacks]\n"*" = ["{fallback}"]\n' if fallback else "")


@fresh_interpreter(FRESH)
def _llm_commands(tmp: Path) -> tuple[list[str], dict[str, str], Path | None]:
    global _provider
    provider = _provider = FakeProvider().start()
    profiles = tmp / "profiles"
    profiles.mkdir()
    for name, fallback in [("primary", "backup"), ("backup", None), ("doomed", "doomed-too"), ("doomed-too", None)]:
        (profiles / f"{name}.toml").write_text(_profile(name, provider.base_url, fallback=fallback), encoding="utf-8")
    (profiles / "broken.toml").write_text("model = [\n", encoding="utf-8")  # listed, and fails only itself
    provider.script("primary", RateLimit(), RateLimit(), RateLimit(), RateLimit())
    provider.script(
        "backup",
        Reply("streamed from the backup", prompt_tokens=11, completion_tokens=4),
        Reply("a brief answer", prompt_tokens=12, completion_tokens=5),
        Reply("going on", prompt_tokens=13, completion_tokens=6),
        Reply("and still going", prompt_tokens=14, completion_tokens=7),
    )
    provider.script("doomed", RateLimit())
    provider.script("doomed-too", ServerError(503))
    (tmp / "site").mkdir()
    (tmp / "site" / "sitecustomize.py").write_text(NETWORK_GUARD, encoding="utf-8")
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp),
        "PYTHONPATH": str(tmp / "site"),
        "LLM_USER_PATH": str(tmp / "llm"),
        "UNDERSTUDY_PROFILES_PATH": str(profiles),
        "UNDERSTUDY_CONFIG_DIR": str(tmp / "config"),
        "UNDERSTUDY_DISABLE_PLUGINS": "*",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "UNDERSTUDY_TEST_NETWORK_LOG": str(tmp / "network.log"),
    }
    return [sys.executable, "-c", DRIVER, json.dumps(COMMANDS)], env, tmp


_results: dict[str, Any] = {}


@pytest.fixture(scope="module")
def commands() -> Iterator[dict[str, Any]]:
    """What the driver reported, with the provider that answered it and the run's directory."""
    if not _results:
        done: subprocess.CompletedProcess[str] = fresh_result(FRESH, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        _results.update(json.loads(done.stdout.strip().splitlines()[-1]))
    yield _results
    if _provider is not None:
        _provider.stop()


@pytest.fixture
def provider(commands: dict[str, Any]) -> FakeProvider:
    assert _provider is not None
    return _provider


def run(commands: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = commands["runs"][name]
    assert "Traceback" not in result["err"], result["err"]
    return result


# -- the llm command ----------------------------------------------------------------------------------------------


def test_llm_models_lists_every_profile_even_beside_a_broken_one(commands: dict[str, Any]) -> None:
    models = run(commands, "models")
    assert models["rc"] == 0, models["err"]
    listed = {line.split(": ", 1)[1].split()[0] for line in models["out"].splitlines() if "understudy/" in line}
    names = ["backup", "broken", "doomed", "doomed-too", "primary"]
    assert listed == {f"understudy/{name}" for name in names}


def test_a_prompt_to_a_rate_limited_primary_streams_the_fallbacks_answer(
    commands: dict[str, Any], provider: FakeProvider
) -> None:
    stream = run(commands, "stream")
    assert (stream["rc"], stream["out"]) == (0, "streamed from the backup\n"), stream["err"]
    first_primary, first_backup = provider.received("primary")[0], provider.received("backup")[0]
    assert first_primary["messages"] == first_backup["messages"] == [{"role": "user", "content": "hi"}]
    assert first_backup["stream"] is True and first_backup["stream_options"] == {"include_usage": True}


def test_no_stream_sends_the_system_prompt_and_options_and_falls_back_the_same_way(
    commands: dict[str, Any], provider: FakeProvider
) -> None:
    quiet = run(commands, "no_stream")
    assert (quiet["rc"], quiet["out"]) == (0, "a brief answer\n"), quiet["err"]
    body = provider.received("backup")[1]
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "again"}]
    assert body["temperature"] == 0.5 and not body.get("stream")


def test_llm_chat_continuing_the_last_conversation_sends_its_history_with_each_prompt(
    commands: dict[str, Any], provider: FakeProvider
) -> None:
    chat = run(commands, "continue")
    assert chat["rc"] == 0, chat["err"]
    assert "> going on\n" in chat["out"] and "> and still going\n" in chat["out"]
    earlier = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "a brief answer"},
    ]
    go_on = [*earlier, {"role": "user", "content": "go on"}]  # from the logs (-c)
    and_on = [*go_on, {"role": "assistant", "content": "going on"}, {"role": "user", "content": "and on"}]
    assert [body["messages"] for body in provider.received("primary")[2:]] == [go_on, and_on]
    assert [body["messages"] for body in provider.received("backup")[2:]] == [go_on, and_on]


def test_each_prompt_calls_each_profile_of_its_chain_once(commands: dict[str, Any], provider: FakeProvider) -> None:
    counts = {model: provider.requests(model) for model in ["primary", "backup", "doomed", "doomed-too"]}
    assert counts == {"primary": 4, "backup": 4, "doomed": 1, "doomed-too": 1}  # llm retries nothing itself


def test_llm_logs_show_the_providers_usage_and_who_served(commands: dict[str, Any]) -> None:
    logs = run(commands, "logs")
    assert logs["rc"] == 0, logs["err"]
    rows = {row["prompt"]: row for row in json.loads(logs["out"])}
    assert set(rows) == {"hi", "again", "go on", "and on"}  # the exhausted prompt is not logged
    usage = [(rows[p]["input_tokens"], rows[p]["output_tokens"]) for p in ("hi", "again", "go on", "and on")]
    assert usage == [(11, 4), (12, 5), (13, 6), (14, 7)]
    for row in rows.values():
        assert row["model"] == "understudy/primary"
        assert row["response_json"]["served_by"] == "backup"
        assert row["response_json"]["fallback"] is True
        assert row["response_json"]["finish_reason"] == "stop"
    conversations = [rows[p]["conversation_id"] for p in ("hi", "again", "go on", "and on")]
    assert conversations[0] != conversations[1] == conversations[2] == conversations[3]


def test_an_exhausted_chain_prints_one_line_per_attempt_and_exits_non_zero(commands: dict[str, Any]) -> None:
    exhausted = run(commands, "exhausted")
    assert exhausted["rc"] == 1 and exhausted["out"] == ""
    lines = exhausted["err"].splitlines()
    assert lines[0] == "Error: every profile failed for understudy/doomed:"
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "  1. doomed: RateLimitError",
        "  2. doomed-too: ServiceUnavailableError",
    ]
    assert KEY not in exhausted["err"]


def test_the_llm_commands_never_reach_beyond_loopback(commands: dict[str, Any]) -> None:
    assert commands["network"] == []


def test_importing_understudy_does_not_import_llm(commands: dict[str, Any]) -> None:
    assert commands["import_understudy_imports_llm"] is False


# -- the llm library, in this process -----------------------------------------------------------------------------


@pytest.fixture
def chain(
    fake_profile: WriteProfile, profiles_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[Event]:
    """main falls back to backup; llm's user dir and understudy's search path are the test's. Returns the events."""
    fake_profile("main", num_retries=0, fallbacks={"*": ["backup"]})
    fake_profile("backup", num_retries=0)
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "llm"))
    monkeypatch.setenv("UNDERSTUDY_PROFILES_PATH", str(profiles_dir))
    events: list[Event] = []
    default_registry().subscribe(events.append)
    return events


async def test_the_async_model_streams_the_fallbacks_answer_with_the_core_events_and_stats(
    chain: list[Event], fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", RateLimit())
    fake_provider.script("backup", Reply("async answer", prompt_tokens=7, completion_tokens=3))
    model = llm.get_async_model("understudy/main")  # found through the plugin's entry point
    assert isinstance(model, UnderstudyAsyncModel)

    response = model.prompt("hello", system="be kind")
    chunks = [chunk async for chunk in response]

    assert "".join(chunks) == "async answer" and len(chunks) > 1
    usage = await response.usage()
    assert (usage.input, usage.output) == (7, 3)
    assert (await response.json() or {})["served_by"] == "backup"
    assert [e.kind for e in chain] == ["attempt_failed", "fallback_triggered", "fallback_succeeded"]
    stats = default_registry().stats()
    assert (stats["main"].failures, stats["backup"].successes) == (1, 1)
    assert (stats["backup"].prompt_tokens, stats["backup"].completion_tokens) == (7, 3)
    assert fake_provider.received("backup")[0]["messages"] == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "hello"},
    ]


async def test_the_async_model_without_streaming_answers_whole(chain: list[Event], fake_provider: FakeProvider) -> None:
    fake_provider.script("backup", Reply("whole", prompt_tokens=4, completion_tokens=2))
    response = llm.get_async_model("understudy/backup").prompt("hi", stream=False, max_tokens=20)

    assert await response.text() == "whole"
    usage = await response.usage()
    assert (usage.input, usage.output) == (4, 2)
    assert (await response.json() or {})["fallback"] is False
    assert fake_provider.received("backup")[0]["max_tokens"] == 20


def test_a_conversation_sends_its_history_with_each_prompt(chain: list[Event], fake_provider: FakeProvider) -> None:
    fake_provider.script("backup", Reply("first answer"), Reply("second answer"))
    model = llm.get_model("understudy/backup")
    assert isinstance(model, UnderstudyModel)
    conversation = model.conversation()

    assert conversation.prompt("one", system="be kind").text() == "first answer"
    assert conversation.prompt("two").text() == "second answer"

    assert fake_provider.received("backup")[1]["messages"] == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "two"},
    ]


def test_an_exhausted_chain_is_a_model_error_naming_each_attempt(
    chain: list[Event], fake_provider: FakeProvider
) -> None:
    fake_provider.script("main", ServerError(503))
    fake_provider.script("backup", RateLimit())

    with pytest.raises(llm.ModelError) as caught:
        llm.get_model("understudy/main").prompt("hi").text()

    first, *attempts = str(caught.value).splitlines()
    assert first == "every profile failed for understudy/main:"
    assert [line.split(" (")[0] for line in attempts] == [
        "  1. main: ServiceUnavailableError",
        "  2. backup: RateLimitError",
    ]
    assert isinstance(caught.value.__cause__, FallbackExhaustedError)


@pytest.mark.usefixtures("chain")
def test_a_broken_or_unknown_profile_is_a_model_error_and_the_others_still_answer(write_profile: WriteProfile) -> None:
    write_profile("broken", text="model = [\n")
    with pytest.raises(llm.ModelError, match=r"broken\.toml"):
        llm.get_model("understudy/broken").prompt("hi").text()
    with pytest.raises(llm.ModelError, match="no profile named 'gone'"):
        UnderstudyModel("gone").prompt("hi").text()
    assert llm.get_model("understudy/backup").prompt("hi").text() == "ok"


@pytest.mark.usefixtures("chain")
def test_options_out_of_range_are_refused_before_any_call(fake_provider: FakeProvider) -> None:
    with pytest.raises(pydantic.ValidationError):
        llm.get_model("understudy/main").prompt("hi", temperature=5)
    assert fake_provider.requests("main") == 0


def test_a_failing_profile_names_hook_registers_no_model_and_says_why(
    profiles_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Vault:
        @hookimpl
        def understudy_profile_names(self) -> list[str]:
            raise ConnectionError("vault unreachable")

    pm = make_plugin_manager(entry_points=False)
    pm.register(Vault())
    registry = LLMRegistry(ProfileStore([profiles_dir], plugin_manager=pm))
    monkeypatch.setattr(understudy.integrations.llm, "default_registry", lambda: registry)
    registered: list[Any] = []

    understudy.integrations.llm.register_models(lambda *models, **aliases: registered.append(models))

    assert registered == []
    assert "ConnectionError: vault unreachable" in caplog.text
