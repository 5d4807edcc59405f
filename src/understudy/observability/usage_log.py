"""The usage log: one SQLite row per finished call (and, if asked, per attempt), for ``understudy report``.

Opt in without code by setting ``UNDERSTUDY_USAGE_LOG`` (``1`` for ``<user data dir>/usage.sqlite3``, or a
path) and, for a row per attempt too, ``UNDERSTUDY_USAGE_LOG_ATTEMPTS=1``: the ``usage-log`` entry point
(``understudy.observability.switches``) reads them when the plugin manager is built. Or register an
instance::

    from understudy import get_plugin_manager
    from understudy.observability.usage_log import UsageLog

    get_plugin_manager().register(UsageLog("usage.sqlite3", attempts=True))

Writing never slows or breaks a call: the call's end only puts its record on a bounded queue, and a writer
thread (a daemon, started at the first record) writes what it finds there in batches, one short transaction
each. When the writer cannot keep up and the queue is full, a record is dropped and counted (``dropped``),
never waited for; a record the writer cannot write (the file is unwritable, from a newer understudy) is logged
on the ``understudy`` logger and counted (``failed``). What is queued at exit is written then (``close``, which
``atexit`` calls; a process that ends with ``os._exit``, as a multiprocessing worker does, must call it itself).
A forked child starts a writer of its own.
The file and its tables are described in ``understudy.observability.usage_schema``.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Final

from understudy.observability import usage_schema
from understudy.observability.records import Recorder
from understudy.observability.switches import default_log_path
from understudy.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    import sqlite3

    from understudy.calls.observers import CallObserver, CallStart
    from understudy.observability.records import CallRecord

__all__ = ["UsageLog"]

logger = logging.getLogger("understudy")

BATCH: Final = 500  # records per transaction: enough to keep up, short enough not to hold the lock long


class _Flush(threading.Event):
    """Put on the queue by ``flush``; the writer sets it once everything queued before it is handled."""


_STOP: Final = None  # put on the queue by ``close``: the writer handles what came before it, then ends

_open_logs: weakref.WeakSet[UsageLog] = weakref.WeakSet()  # what a forked child must reset (_after_fork)


class UsageLog:
    """The plugin: writes every finished call to the SQLite file at ``path``.

    Args:
        path: the file (default: ``usage.sqlite3`` in the user's data dir, or in ``UNDERSTUDY_DATA_DIR``).
        attempts: write a row per attempt too (the ``attempts`` table), not only one per call.
        queue_size: how many records may wait for the writer; past it a record is dropped (``dropped``).

    Attributes:
        written: records written so far.
        dropped: records dropped because the queue was full.
        failed: records the writer could not write (each failure is logged on the ``understudy`` logger).
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, attempts: bool = False, queue_size: int = 10_000
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"UsageLog: queue_size must be at least 1, not {queue_size}")
        self.path = Path(path).expanduser() if path is not None else default_log_path()
        self.attempts = attempts
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self._queue: queue.Queue[CallRecord | _Flush | None] = queue.Queue(queue_size)
        self._lock = threading.Lock()  # starting and stopping the writer
        self._drops = threading.Lock()
        self._writer: threading.Thread | None = None
        self._warned = False
        _open_logs.add(self)

    @hookimpl
    def understudy_observe_call(self, call: CallStart) -> CallObserver:
        return Recorder(call, self.log)

    def log(self, record: CallRecord) -> bool:
        """Queue ``record`` for the writer, never waiting; False when the queue was full and it was dropped."""
        if self._writer is None:
            self._start()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            with self._drops:
                self.dropped += 1
            return False
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record queued so far is written (or has failed); False when ``timeout`` ran out."""
        if self._writer is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        done = _Flush()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued (waiting at most about ``timeout`` seconds) and stop the writer. Registered with
        ``atexit``; a record logged afterwards starts a new writer."""
        with self._lock:
            writer = self._writer
            if writer is None:
                return
            atexit.unregister(self.close)
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                return  # the writer is stuck: leave it, a daemon, to the interpreter's exit
            writer.join(timeout)
            if not writer.is_alive():
                self._writer = None

    def _start(self) -> None:
        with self._lock:
            if self._writer is not None:
                return
            self._writer = threading.Thread(target=self._run, name="understudy-usage-log", daemon=True)
            self._writer.start()
        atexit.register(self.close)

    def _forked(self) -> None:
        """In a forked child: the parent's writer did not come along, and the queue's lock may be held by it."""
        self._queue = queue.Queue(self._queue.maxsize)
        self._lock, self._drops = threading.Lock(), threading.Lock()
        self._writer = None
        self.written = self.dropped = self.failed = 0

    # -- the writer thread ------------------------------------------------------------------------------------

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                batch = [self._queue.get()]
                while len(batch) < BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                records = [item for item in batch if item is not _STOP and not isinstance(item, _Flush)]
                if records:
                    connection = self._write(connection, records)
                for item in batch:
                    if isinstance(item, _Flush):
                        item.set()
                if _STOP in batch:
                    return
        finally:
            if connection is not None:
                connection.close()

    def _write(self, connection: sqlite3.Connection | None, records: list[CallRecord]) -> sqlite3.Connection | None:
        """Write one batch; return the connection to reuse (None after an error, to open afresh next time)."""
        try:
            if connection is None:
                connection = usage_schema.connect(self.path)
            usage_schema.insert(connection, records, attempts=self.attempts)
        except Exception as exc:
            self.failed += len(records)
            if not self._warned:  # once until it works again: a broken file must not flood the log
                logger.warning("usage log %s: %d call record(s) not written: %s", self.path, len(records), exc)
                self._warned = True
            if connection is not None:
                connection.close()
            return None
        self.written += len(records)
        self._warned = False
        return connection

    def __repr__(self) -> str:
        return f"UsageLog({str(self.path)!r}, attempts={self.attempts})"


def _after_fork() -> None:
    for log in list(_open_logs):
        log._forked()


if hasattr(os, "register_at_fork"):  # a forked worker (gunicorn, multiprocessing) starts its own writer
    os.register_at_fork(after_in_child=_after_fork)
