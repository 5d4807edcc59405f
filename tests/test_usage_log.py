"""The usage log: a SQLite row per call (and per attempt), never in a call's way, shared by processes."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pytest
from conftest import HELLO

from understudy import FallbackExhaustedError, LLMRegistry, ProfileStore, RetryPolicy
from understudy.calls.observers import observing
from understudy.errors import UsageLogVersionError
from understudy.observability import switches, usage_schema
from understudy.observability.records import AttemptRecord, CallRecord
from understudy.observability.usage_log import UsageLog
from understudy.plugins.manager import make_plugin_manager
from understudy.testing import RateLimit, Reply, ServerError

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.testing import FakeProvider

KEY = "sk-test-key-0000"


def registry_with(profiles_dir: Path, plugin: object) -> LLMRegistry:
    plugins = make_plugin_manager(entry_points=False)
    plugins.register(plugin)
    return LLMRegistry(ProfileStore([profiles_dir], plugin_manager=plugins), retry_policy=RetryPolicy(initial=0.001))


def rows(path: Path, table: str = "calls") -> list[dict[str, Any]]:
    with sqlite3.connect(path) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY rowid")]


def synthetic(call_id: str, *, primary: str = "main", started: float = 1_000.0) -> CallRecord:
    """A served call as a Recorder would describe it, for writing through UsageLog without a model."""
    attempt = AttemptRecord(primary, "openai/gpt-4o", "openai", None, None, 1, False, started, 0.5)
    attempt.input_tokens, attempt.output_tokens, attempt.cost = 10, 5, 0.001
    return CallRecord(call_id, primary, "sync", False, None, started, 0.5, served_by=primary, attempts=[attempt])


@pytest.fixture
def chain(fake_profile: WriteProfile, fake_provider: FakeProvider) -> FakeProvider:
    fake_profile("main", model="gpt-4o", fallbacks={"RateLimitError": ["backup"], "*": ["last"]})
    fake_profile("backup", model="gpt-4o-mini")
    fake_profile("last", model="gpt-4o-mini-2024-07-18")
    return fake_provider


# -- what a row holds -------------------------------------------------------------------------------------------


def test_every_call_is_a_row_and_every_attempt_too_when_asked(
    chain: FakeProvider, profiles_dir: Path, tmp_path: Path
) -> None:
    log = UsageLog(tmp_path / "usage.sqlite3", attempts=True)
    registry = registry_with(profiles_dir, log)
    chain.script("gpt-4o", Reply("one", prompt_tokens=10, completion_tokens=5), RateLimit(), ServerError(500))
    chain.script("gpt-4o-mini", Reply("two", prompt_tokens=20, completion_tokens=8))
    chain.default("gpt-4o-mini-2024-07-18", ServerError(503))
    llm = registry.get("main")

    llm.completion(messages=HELLO)  # the primary serves
    llm.completion(messages=HELLO)  # 429, the backup serves
    with pytest.raises(FallbackExhaustedError):
        llm.completion(messages=HELLO)  # 500, then the last fails too
    assert log.flush(timeout=10)

    plain, fallback, exhausted = rows(log.path)
    assert {k: plain[k] for k in ("primary_profile", "outcome", "served_by", "fallback", "attempts", "stream")} == {
        "primary_profile": "main",
        "outcome": "served",
        "served_by": "main",
        "fallback": 0,
        "attempts": 1,
        "stream": 0,
    }
    assert (plain["model"], plain["input_tokens"], plain["output_tokens"]) == ("openai/gpt-4o", 10, 5)
    assert plain["cost"] == pytest.approx(10 * 2.5e-6 + 5 * 10e-6) == plain["total_cost"]
    assert plain["mode"] == "sync" and plain["error_type"] is None and plain["duration"] > 0
    assert (fallback["served_by"], fallback["fallback"], fallback["fallback_error"]) == ("backup", 1, "RateLimitError")
    assert (fallback["attempts"], fallback["total_input_tokens"], fallback["total_output_tokens"]) == (2, 20, 8)
    assert (exhausted["outcome"], exhausted["served_by"], exhausted["error_type"]) == (
        "exhausted",
        None,
        "FallbackExhaustedError",
    )
    assert exhausted["fallback_error"] == "InternalServerError" and exhausted["cost"] is None

    attempts = [
        (a["call_id"], a["n"], a["profile"], a["as_fallback"], a["error_type"]) for a in rows(log.path, "attempts")
    ]
    ids = [plain["call_id"], fallback["call_id"], exhausted["call_id"]]
    assert attempts == [
        (ids[0], 1, "main", 0, None),
        (ids[1], 1, "main", 0, "RateLimitError"),
        (ids[1], 2, "backup", 1, None),
        (ids[2], 1, "main", 0, "InternalServerError"),
        (ids[2], 2, "last", 1, "ServiceUnavailableError"),
    ]
    assert log.written == 3 and log.dropped == log.failed == 0


def test_without_attempts_only_the_calls_are_written(chain: FakeProvider, profiles_dir: Path, tmp_path: Path) -> None:
    log = UsageLog(tmp_path / "usage.sqlite3")
    chain.script("gpt-4o", RateLimit())
    registry_with(profiles_dir, log).get("main").completion(messages=HELLO)
    assert log.flush(timeout=10)
    assert [(c["served_by"], c["attempts"]) for c in rows(log.path)] == [("backup", 2)]
    assert rows(log.path, "attempts") == []


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_a_stream_is_written_when_it_ends_with_its_usage(
    chain: FakeProvider, profiles_dir: Path, tmp_path: Path, asynchronous: bool
) -> None:
    log = UsageLog(tmp_path / "usage.sqlite3", attempts=True)
    llm = registry_with(profiles_dir, log).get("main")
    chain.script("gpt-4o", Reply("streamed answer", prompt_tokens=9, completion_tokens=4))
    kwargs: dict[str, Any] = {"messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}

    if asynchronous:
        stream = await llm.acompletion(**kwargs)
        assert log.flush(timeout=10) and log.written == 0  # still open: not written yet
        text = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    else:
        stream = llm.completion(**kwargs)
        assert log.flush(timeout=10) and log.written == 0
        text = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(text) == "streamed answer"
    assert log.flush(timeout=10)

    (call,) = rows(log.path)
    assert (call["stream"], call["mode"], call["outcome"]) == (1, "async" if asynchronous else "sync", "served")
    assert (call["input_tokens"], call["output_tokens"]) == (9, 4)
    (attempt,) = rows(log.path, "attempts")
    assert 0 < attempt["first_chunk"] <= attempt["duration"]


def test_the_log_holds_no_prompt_and_no_key(
    fake_profile: WriteProfile, fake_provider: FakeProvider, profiles_dir: Path, tmp_path: Path
) -> None:
    log = UsageLog(tmp_path / "usage.sqlite3", attempts=True)
    fake_profile("main", fallbacks={"*": ["backup"]}, api_key=KEY)
    fake_profile("backup", api_key=KEY)
    fake_provider.default("main", ServerError(500))
    registry_with(profiles_dir, log).get("main").completion(messages=[{"role": "user", "content": "the question"}])
    log.close()

    stored = b"".join(p.read_bytes() for p in tmp_path.glob("usage.sqlite3*"))
    assert b"the question" not in stored
    assert KEY.encode() not in stored
    assert rows(log.path, "attempts")[0]["message"]  # the error's text is kept, redacted


# -- never in a call's way ---------------------------------------------------------------------------------------


def test_a_full_queue_drops_and_counts_while_the_call_returns(
    fake_profile: WriteProfile, fake_provider: FakeProvider, profiles_dir: Path, tmp_path: Path
) -> None:
    log = UsageLog(tmp_path / "usage.sqlite3", queue_size=1)
    entered, release = threading.Event(), threading.Event()
    write = log._write

    def held(*args: Any) -> Any:  # the writer takes its first record, then waits here until released
        entered.set()
        release.wait()
        return write(*args)

    log._write = held  # type: ignore[method-assign]
    fake_profile("main")
    llm = registry_with(profiles_dir, log).get("main")
    try:
        llm.completion(messages=HELLO)
        assert entered.wait(timeout=10)  # the writer holds the first record
        answers = [llm.completion(messages=HELLO) for _ in range(3)]  # the second fills the queue
    finally:
        release.set()

    assert all(answer.choices[0].message.content for answer in answers)
    assert log.dropped == 2
    assert log.flush(timeout=10)
    assert log.written == 2 and len(rows(log.path)) == 2


def test_a_file_that_cannot_be_written_is_logged_and_the_call_goes_on(
    fake_profile: WriteProfile, profiles_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = UsageLog(tmp_path)  # a directory: SQLite cannot open it
    fake_profile("main")
    llm = registry_with(profiles_dir, log).get("main")
    with caplog.at_level(logging.WARNING, logger="understudy"):
        answers = [llm.completion(messages=HELLO) for _ in range(2)]
        assert log.flush(timeout=10)
    assert all(answer.choices[0].message.content for answer in answers)
    assert (log.written, log.failed) == (0, 2)
    warnings = [r.getMessage() for r in caplog.records if "usage log" in r.getMessage()]
    assert len(warnings) == 1 and str(tmp_path) in warnings[0]  # once, not once per call


def test_close_writes_what_is_queued_and_a_later_record_starts_a_new_writer(tmp_path: Path) -> None:
    log = UsageLog(tmp_path / "usage.sqlite3")
    for i in range(50):
        log.log(synthetic(f"c{i}"))
    log.close()
    assert len(rows(log.path)) == 50
    log.log(synthetic("after"))
    assert log.flush(timeout=10)
    assert len(rows(log.path)) == 51
    log.close()


def test_rows_still_queued_at_exit_are_written(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    result = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), "w", "200", "exit"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert len(rows(path)) == 200


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_starts_a_writer_of_its_own(tmp_path: Path) -> None:
    log = UsageLog(tmp_path / "usage.sqlite3")
    log.log(synthetic("parent"))
    assert log.flush(timeout=10)  # the parent's writer runs, and did not come along into the child
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 1
        try:
            log.log(synthetic("child"))
            code = 0 if log.flush(timeout=10) and log.written == 1 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.close()
    assert sorted(c["call_id"] for c in rows(log.path)) == ["child", "parent"]


# -- several processes, one file ------------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    from understudy.observability.records import AttemptRecord, CallRecord
    from understudy.observability.usage_log import UsageLog

    path, worker, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    log = UsageLog(path, attempts=True)
    if mode == "together":
        print("ready", flush=True)
        sys.stdin.readline()  # the parent lets every writer go at once: they create the file together too
    for i in range(count):
        attempt = AttemptRecord("main", "openai/gpt-4o", "openai", None, None, 1, False, time.time(), 0.1)
        log.log(CallRecord(f"{worker}-{i}", "main", "sync", False, None, time.time(), 0.1, "served", "main",
                           attempts=[attempt]))
        if mode == "together":
            log.flush()  # a transaction per call, so that the writers contend for the file
    if mode == "together":
        print(log.written, log.dropped, log.failed)
    # else: exit with the records still queued, for atexit to write
    """
)


def test_several_processes_write_one_file_at_once(tmp_path: Path) -> None:
    path, workers, count = tmp_path / "shared" / "usage.sqlite3", 4, 150
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"w{n}", str(count), "together"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline() == "ready\n"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        results = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            process.kill() if process.poll() is None else None
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert out.split() == [str(count), "0", "0"], err  # written, dropped, failed
    calls = rows(path)
    assert len(calls) == workers * count
    assert len({c["call_id"] for c in calls}) == workers * count
    assert len(rows(path, "attempts")) == workers * count
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- the schema and its migrations ----------------------------------------------------------------------------------

# The version 1 schema as understudy 0.1 shipped it. Frozen here, not read from MIGRATIONS: a later version must
# still open a file this old, and editing a shipped migration must fail this test.
VERSION_1 = """
CREATE TABLE calls (call_id TEXT NOT NULL, started REAL NOT NULL, duration REAL NOT NULL,
    primary_profile TEXT NOT NULL, route TEXT, mode TEXT NOT NULL, stream INTEGER NOT NULL, outcome TEXT NOT NULL,
    served_by TEXT, fallback INTEGER NOT NULL, fallback_error TEXT, error_type TEXT, attempts INTEGER NOT NULL,
    skipped INTEGER NOT NULL, model TEXT, input_tokens INTEGER, output_tokens INTEGER, total_input_tokens INTEGER,
    total_output_tokens INTEGER, cost REAL, total_cost REAL);
CREATE TABLE attempts (call_id TEXT NOT NULL, n INTEGER NOT NULL, primary_profile TEXT NOT NULL,
    profile TEXT NOT NULL, model TEXT NOT NULL, provider TEXT, number INTEGER NOT NULL, as_fallback INTEGER NOT NULL,
    started REAL NOT NULL, duration REAL NOT NULL, first_chunk REAL, error_type TEXT, message TEXT,
    will_retry INTEGER NOT NULL, input_tokens INTEGER, output_tokens INTEGER, cost REAL, response_model TEXT);
CREATE INDEX calls_started ON calls (started, primary_profile, outcome, fallback);
CREATE INDEX calls_primary ON calls (primary_profile, started);
CREATE INDEX calls_latency ON calls (primary_profile, duration, started);
CREATE INDEX calls_served ON calls (primary_profile, served_by, started) WHERE fallback = 1;
CREATE INDEX calls_failed ON calls (primary_profile, fallback_error, error_type, started)
    WHERE (fallback_error IS NOT NULL OR error_type IS NOT NULL);
CREATE INDEX attempts_call ON attempts (call_id);
CREATE INDEX attempts_started ON attempts (started, primary_profile, profile, error_type);
INSERT INTO calls VALUES ('old', 1.0, 0.5, 'main', NULL, 'sync', 0, 'served', 'main', 0, NULL, NULL, 1, 0,
    'openai/gpt-4o', 10, 5, 10, 5, 0.001, 0.001);
PRAGMA user_version = 1;
"""


def schema(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every table and index, with its SQL stripped of whitespace."""
    found = connection.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
    return [(name, "".join(sql.split())) for name, sql in found]


def test_the_migrations_are_numbered_one_by_one_from_1() -> None:
    assert [m.version for m in usage_schema.MIGRATIONS] == list(range(1, usage_schema.SCHEMA_VERSION + 1))


def test_a_version_1_file_opens_keeps_its_rows_and_takes_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_1)
    log = UsageLog(path)
    log.log(synthetic("new"))
    assert log.flush(timeout=10) and log.failed == 0
    log.close()
    assert [c["call_id"] for c in rows(path)] == ["old", "new"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (usage_schema.SCHEMA_VERSION,)


def test_the_first_migration_creates_version_1_as_it_shipped(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "frozen.sqlite3") as frozen:
        frozen.executescript(VERSION_1)
        expected = schema(frozen)
    path = tmp_path / "new.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        usage_schema.migrate(connection, path, usage_schema.MIGRATIONS[:1])
        assert schema(connection) == expected
    finally:
        connection.close()


def test_a_later_migration_is_applied_in_order_to_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_1)
    step = usage_schema.Migration(2, "a column", ("ALTER TABLE calls ADD COLUMN region TEXT DEFAULT 'eu'",))
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        usage_schema.migrate(connection, path, (*usage_schema.MIGRATIONS[:1], step))
        assert connection.execute("PRAGMA user_version").fetchone() == (2,)
        assert connection.execute("SELECT call_id, region FROM calls").fetchall() == [("old", "eu")]
        usage_schema.migrate(connection, path, (*usage_schema.MIGRATIONS[:1], step))  # at the newest: nothing to do
    finally:
        connection.close()


def test_a_file_from_a_newer_understudy_is_refused_naming_the_file_and_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as newer:
        newer.execute(f"PRAGMA user_version = {usage_schema.SCHEMA_VERSION + 1}")
    with pytest.raises(UsageLogVersionError) as refused:
        usage_schema.connect(path)
    assert (refused.value.path, refused.value.version) == (path, usage_schema.SCHEMA_VERSION + 1)
    message = str(refused.value)
    assert str(path) in message
    assert f"schema version {usage_schema.SCHEMA_VERSION + 1}" in message
    assert "pip install -U understudy" in message and "UNDERSTUDY_USAGE_LOG" in message

    log = UsageLog(path)  # through the plugin: logged, counted, never raised
    with caplog.at_level(logging.WARNING, logger="understudy"):
        assert log.log(synthetic("c1"))
        assert log.flush(timeout=10)
    assert log.failed == 1
    assert "pip install -U understudy" in caplog.text
    log.close()


# -- switched on by the environment -------------------------------------------------------------------------------


def test_switched_off_the_entry_point_registers_a_plugin_with_no_hook(
    fake_profile: WriteProfile, profiles_dir: Path
) -> None:
    plugin = switches.usage_log_plugin()
    assert isinstance(plugin, switches.Off) and "UNDERSTUDY_USAGE_LOG" in plugin.why
    registry = registry_with(profiles_dir, plugin)
    assert not observing(registry.plugin_manager)  # a call pays nothing for it
    fake_profile("main")
    registry.get("main").completion(messages=HELLO)
    assert not switches.default_log_path().exists()


@pytest.mark.parametrize("value", ["1", "true", "PATH"])
def test_the_environment_switches_the_log_on_when_the_plugin_manager_is_built(
    fake_profile: WriteProfile, profiles_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    chosen = tmp_path / "chosen" / "usage.sqlite3"
    monkeypatch.setenv("UNDERSTUDY_USAGE_LOG", str(chosen) if value == "PATH" else value)
    monkeypatch.setenv("UNDERSTUDY_USAGE_LOG_ATTEMPTS", "1")
    plugin = switches.usage_log_plugin()
    assert isinstance(plugin, UsageLog)
    fake_profile("main")
    llm = registry_with(profiles_dir, plugin).get("main")
    llm.completion(messages=HELLO)
    monkeypatch.setenv("UNDERSTUDY_USAGE_LOG", str(tmp_path / "elsewhere.sqlite3"))  # read once: no effect now
    llm.completion(messages=HELLO)

    assert plugin.flush(timeout=10)
    plugin.close()
    expected = chosen if value == "PATH" else switches.default_log_path()
    assert plugin.path == expected
    assert str(expected).startswith(str(tmp_path.parent))  # the test's data dir, never the user's
    assert len(rows(expected)) == 2 and len(rows(expected, "attempts")) == 2
    assert not (tmp_path / "elsewhere.sqlite3").exists()


def test_the_plugin_is_installed_as_understudys_usage_log_entry_point() -> None:
    (point,) = [p for p in entry_points(group="understudy") if p.name == "usage-log"]
    assert point.value == "understudy.observability.switches:usage_log"
    assert isinstance(point.load(), switches.Off)  # the suite's environment does not switch it on


def test_loading_the_entry_points_switched_off_imports_neither_the_records_nor_sqlite() -> None:
    # Every process that builds the plugin manager loads them (`understudy check` too): they must stay cheap.
    code = (
        "import sys, understudy.observability.switches\n"
        "heavy = ('understudy.observability.records', 'understudy.events', 'pydantic', 'litellm', 'sqlite3',\n"
        "         'opentelemetry.trace', 'opentelemetry.metrics', 'understudy.observability.usage_log')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "UNDERSTUDY_USAGE_LOG"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    assert result.stdout.strip() == "[]"
