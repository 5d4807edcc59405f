"""The usage log's file: where it lives, its tables, and opening it at the schema version this code writes.

One SQLite file (``<user data dir>/usage.sqlite3``, or the path given) that several processes may write at
once: WAL journal, a busy timeout, short ``BEGIN IMMEDIATE`` transactions retried while another process holds
the lock. It holds what a ``CallRecord`` holds and nothing more: no prompt, no answer, no key.

Schema version 1 (``PRAGMA user_version``); times are unix seconds, durations seconds, costs USD::

    calls: one row per finished call
        call_id              the call's id, as on its events
        started, duration    when the call started; how long it took (for a stream, to its end)
        primary_profile      the profile the call asked for
        route                for a routed call, the router and rule that chose the primary (else NULL)
        mode, stream         "sync" or "async"; 1 for a stream
        outcome              served | exhausted (every profile failed) | failed (an error no fallback
                             answers) | cancelled (the caller gave up)
        served_by            the profile whose answer the caller got (NULL unless served)
        fallback             1 when a profile other than the primary served
        fallback_error       the error that made the call leave its primary (its first fallback's error)
        error_type           the error the call raised (NULL when served)
        attempts, skipped    how many model calls it made; how many profiles it passed over
        model                the serving attempt's model
        input_tokens, output_tokens              the serving attempt's usage
        total_input_tokens, total_output_tokens  every attempt's usage added up
        cost, total_cost     the serving attempt's cost; every attempt's (NULL when unknown)

    attempts: one row per model call, when the log records attempts
        call_id, n           the call (calls.call_id); the attempt's place in it (1 is the first)
        primary_profile      the call's primary profile (as in calls)
        profile, model, provider
        number               which try of this profile (1 is the first; 2 a retry)
        as_fallback          1 when the profile was called as a fallback
        started, duration, first_chunk           first_chunk: a stream's seconds to its first chunk
        error_type, message  the error and its text, redacted (NULL when the attempt succeeded)
        will_retry           1 when the same profile was tried again after this error
        input_tokens, output_tokens, cost, response_model

Indexes, each for a question ``understudy report`` asks: calls by time (``calls_started``), by primary
(``calls_primary``), by latency (``calls_latency``: percentiles by walking it), the calls a fallback served, by
whom (``calls_served``), the calls that failed or left their primary, by error (``calls_failed``); attempts by
call and by time.

Migrations: ``MIGRATIONS`` lists every schema change in order and is only ever appended to; a file is brought
to the newest version when it is opened, in one transaction. A file newer than this code refuses to open.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from understudy.errors import UsageLogVersionError
from understudy.observability.switches import LOG_ENV

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from understudy.observability.records import CallRecord

__all__ = [
    "FAILED",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "connect",
    "insert",
    "migrate",
    "write",
]

BUSY_TIMEOUT: Final = 5.0  # seconds SQLite waits for another process's lock before it reports "locked"
RETRY_WAITS: Final = (0.05, 0.2, 1.0)  # then, seconds between the tries of a transaction that still found it locked
FAILED: Final = "(fallback_error IS NOT NULL OR error_type IS NOT NULL)"
"""The calls that failed or left their primary, as ``calls_failed`` says it: a query that says it alike uses it."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change: the statements that bring a file from ``version - 1`` to ``version``."""

    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "calls and attempts",
        (
            """CREATE TABLE calls (
                call_id TEXT NOT NULL,
                started REAL NOT NULL,
                duration REAL NOT NULL,
                primary_profile TEXT NOT NULL,
                route TEXT,
                mode TEXT NOT NULL,
                stream INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                served_by TEXT,
                fallback INTEGER NOT NULL,
                fallback_error TEXT,
                error_type TEXT,
                attempts INTEGER NOT NULL,
                skipped INTEGER NOT NULL,
                model TEXT,
                input_tokens INTEGER,
                output_tokens INTEGER,
                total_input_tokens INTEGER,
                total_output_tokens INTEGER,
                cost REAL,
                total_cost REAL
            )""",
            """CREATE TABLE attempts (
                call_id TEXT NOT NULL,
                n INTEGER NOT NULL,
                primary_profile TEXT NOT NULL,
                profile TEXT NOT NULL,
                model TEXT NOT NULL,
                provider TEXT,
                number INTEGER NOT NULL,
                as_fallback INTEGER NOT NULL,
                started REAL NOT NULL,
                duration REAL NOT NULL,
                first_chunk REAL,
                error_type TEXT,
                message TEXT,
                will_retry INTEGER NOT NULL,
                input_tokens INTEGER,
                output_tokens INTEGER,
                cost REAL,
                response_model TEXT
            )""",
            "CREATE INDEX calls_started ON calls (started, primary_profile, outcome, fallback)",
            "CREATE INDEX calls_primary ON calls (primary_profile, started)",
            "CREATE INDEX calls_latency ON calls (primary_profile, duration, started)",
            "CREATE INDEX calls_served ON calls (primary_profile, served_by, started) WHERE fallback = 1",
            "CREATE INDEX calls_failed ON calls (primary_profile, fallback_error, error_type, started)"
            " WHERE (fallback_error IS NOT NULL OR error_type IS NOT NULL)",
            "CREATE INDEX attempts_call ON attempts (call_id)",
            "CREATE INDEX attempts_started ON attempts (started, primary_profile, profile, error_type)",
        ),
    ),
)
"""Every schema change, oldest first. Append a step for a new version; never edit one that shipped."""

SCHEMA_VERSION: Final = len(MIGRATIONS)

_CALL_COLUMNS: Final = (
    "call_id, started, duration, primary_profile, route, mode, stream, outcome, served_by, fallback, fallback_error, "
    "error_type, attempts, skipped, model, input_tokens, output_tokens, total_input_tokens, total_output_tokens, "
    "cost, total_cost"
)
_ATTEMPT_COLUMNS: Final = (
    "call_id, n, primary_profile, profile, model, provider, number, as_fallback, started, duration, first_chunk, "
    "error_type, message, will_retry, input_tokens, output_tokens, cost, response_model"
)
_INSERT_CALL: Final = f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES ({', '.join('?' * _CALL_COLUMNS.count(','))}, ?)"
_INSERT_ATTEMPT: Final = (
    f"INSERT INTO attempts ({_ATTEMPT_COLUMNS}) VALUES ({', '.join('?' * _ATTEMPT_COLUMNS.count(','))}, ?)"
)

Row = tuple[str | int | float | None, ...]


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """Open the usage log at ``path``, brought to ``SCHEMA_VERSION``; with ``create`` false, only a file that exists.

    The connection is in autocommit mode: write through ``write`` (or ``insert``), which opens each
    transaction itself.

    Raises:
        UsageLogVersionError: the file was written by a newer understudy (its version is past ``SCHEMA_VERSION``).
        sqlite3.Error: the file cannot be opened or is not a SQLite database.
    """
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    else:
        uri = f"{path.resolve().as_uri()}?mode=rw"
        connection = sqlite3.connect(uri, timeout=BUSY_TIMEOUT, isolation_level=None, uri=True, check_same_thread=False)
    try:
        _retry(lambda: connection.execute("PRAGMA journal_mode = WAL"))
        connection.execute("PRAGMA synchronous = NORMAL")  # WAL stays consistent; a power cut may lose the last rows
        migrate(connection, path)
    except BaseException:
        connection.close()
        raise
    return connection


def migrate(connection: sqlite3.Connection, path: Path, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
    """Apply the ``migrations`` the file at ``path`` lacks, in order, in one transaction.

    Raises:
        UsageLogVersionError: the file's version is past the newest of ``migrations``.
    """
    latest = len(migrations)
    if _version(connection, path, latest) == latest:
        return

    def upgrade(transaction: sqlite3.Connection) -> None:
        for migration in migrations[_version(transaction, path, latest) :]:  # another process may have begun
            for statement in migration.statements:
                transaction.execute(statement)
        transaction.execute(f"PRAGMA user_version = {latest:d}")

    write(connection, upgrade)


def insert(connection: sqlite3.Connection, records: Iterable[CallRecord], *, attempts: bool) -> None:
    """Write one row per record into ``calls`` (and, with ``attempts``, one per attempt), in one transaction."""
    records = list(records)
    calls = [_call_row(record) for record in records]
    tries = [row for record in records for row in _attempt_rows(record)] if attempts else []

    def rows(transaction: sqlite3.Connection) -> None:
        transaction.executemany(_INSERT_CALL, calls)
        if tries:
            transaction.executemany(_INSERT_ATTEMPT, tries)

    write(connection, rows)


def write(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], object]) -> None:
    """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction, tried again while another process holds the lock."""

    def once() -> None:
        connection.execute("BEGIN IMMEDIATE")  # take the write lock now: a deferred one can fail half-way
        try:
            work(connection)
            connection.execute("COMMIT")
        except BaseException:
            connection.rollback()
            raise

    _retry(once)


def _retry(step: Callable[[], object]) -> None:
    for wait in (*RETRY_WAITS, None):
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if wait is None or exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            time.sleep(wait)


def _version(connection: sqlite3.Connection, path: Path, latest: int) -> int:
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version > latest:
        raise UsageLogVersionError(
            f"{path}: the usage log is at schema version {version}, newer than this understudy knows "
            f"({latest}); upgrade understudy (pip install -U understudy), or log to another file "
            f"(${LOG_ENV}=PATH, or UsageLog(path=...))",
            path=path,
            version=version,
        )
    return int(version)


def _call_row(record: CallRecord) -> Row:
    serving = record.serving
    return (
        record.call_id,
        record.started,
        record.duration,
        record.primary,
        record.route,
        record.mode,
        int(record.stream),
        record.outcome,
        record.served_by,
        int(record.fallback),
        record.fallbacks[0][2] if record.fallbacks else None,
        record.error_type,
        len(record.attempts),
        len(record.skipped),
        serving.model if serving is not None else None,
        serving.input_tokens if serving is not None else None,
        serving.output_tokens if serving is not None else None,
        _total(attempt.input_tokens for attempt in record.attempts),
        _total(attempt.output_tokens for attempt in record.attempts),
        record.cost,
        record.total_cost,
    )


def _attempt_rows(record: CallRecord) -> list[Row]:
    return [
        (
            record.call_id,
            n,
            record.primary,
            attempt.profile,
            attempt.model,
            attempt.provider,
            attempt.number,
            int(attempt.as_fallback),
            attempt.started,
            attempt.duration,
            attempt.first_chunk,
            attempt.error_type,
            attempt.message,
            int(attempt.will_retry),
            attempt.input_tokens,
            attempt.output_tokens,
            attempt.cost,
            attempt.response_model,
        )
        for n, attempt in enumerate(record.attempts, start=1)
    ]


def _total(values: Iterable[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None
