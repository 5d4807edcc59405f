"""The threads a TieredRouter's classifier runs on, off the caller's thread: ``ClassifierPool`` and ``shared``,
the pool every router submits to. The caller waits on the returned future for at most its timeout; a job that has
not started when the caller gives up is cancelled and never runs, and one that never returns does not keep the
process from exiting."""

from __future__ import annotations

import contextvars
import queue
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["THREADS", "ClassifierPool", "shared"]

# Classifier threads shared by every TieredRouter. When all are busy with slow classifiers, a decision that
# cannot start within its timeout goes to the default tier, and its reason says so.
THREADS: Final = 32

_T = TypeVar("_T")


class ClassifierPool:
    """Up to ``size`` daemon threads, started as needed; a job runs in a copy of the caller's context variables.

    Not a ``concurrent.futures.ThreadPoolExecutor``, which joins its threads at interpreter exit even after
    ``shutdown(wait=False, cancel_futures=True)``: on Python 3.11 and 3.13 a process whose classifier never returns
    then never exits. Daemon threads do not hold the process.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = 0

    def submit(self, job: Callable[[], _T]) -> Future[_T]:
        """Queue ``job`` for the next free thread, starting one if none is idle and fewer than ``size`` run."""
        future: Future[_T] = Future()
        context = contextvars.copy_context()
        self._jobs.put((future, lambda: context.run(job)))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._threads < self.size:
                    self._threads += 1
                    name = f"understudy-classifier-{self._threads}"
                    threading.Thread(target=self._work, name=name, daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            future, job = self._jobs.get()
            if future.set_running_or_notify_cancel():  # False: the caller gave up before it started
                try:
                    future.set_result(job())
                except BaseException as exc:  # a router's job catches Exception itself; this keeps the thread alive
                    future.set_exception(exc)
            self._idle.release()


shared: Final = ClassifierPool(THREADS)
