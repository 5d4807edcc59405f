"""The two drivers of a walk: ``run_sync`` performs its actions with blocking calls, ``run_async`` awaits them.

Each also delivers events: sync subscribers are called in the calling thread; async ones are awaited on async
calls and, on sync calls, run on the running loop if there is one, else to completion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from understudy.calls import backend
from understudy.calls.actions import Call, Sleep

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from understudy.calls.actions import Action
    from understudy.calls.observers import Observers
    from understudy.events import Event

__all__ = ["emit_async", "emit_sync", "run_async", "run_sync"]

logger = logging.getLogger("understudy")


def run_sync(
    steps: Generator[Action, Any, Any], emit: Callable[[Event], list[Any]], watch: Observers | None = None
) -> Any:
    """Drive a walk with blocking calls and sleeps, telling ``watch`` (the call's observers) as it goes."""
    backend.litellm()  # the first import takes seconds: before the walk's clocks start, not inside an attempt
    send: Any = None
    thrown: Exception | None = None
    try:
        while True:
            try:
                action = steps.throw(thrown) if thrown is not None else steps.send(send)
            except StopIteration as done:
                result = done.value
                break
            send, thrown = None, None
            if isinstance(action, Call):
                if watch is not None:
                    watch.attempt_started(action.caller.profile, as_fallback=action.as_fallback)
                try:
                    send = action.caller.call(action.request, as_fallback=action.as_fallback)
                except Exception as exc:
                    thrown = exc
                if watch is not None:
                    watch.attempt_ended(send, thrown)
            elif isinstance(action, Sleep):
                time.sleep(action.seconds)
            else:
                if watch is not None:
                    watch.event(action.event)
                emit_sync(emit, action.event)
    except BaseException as exc:  # the walk's error, or an interruption (an attempt may be open: ended closes it)
        if watch is not None:
            watch.ended(None, exc)
        raise
    finally:
        steps.close()  # interrupted (KeyboardInterrupt ...): the walk lets go of what it holds, a probe at once
    if watch is not None:  # outside the try: an interruption while observers hear of the end is not a second end
        watch.ended(result, None)
    return result


async def run_async(
    steps: Generator[Action, Any, Any], emit: Callable[[Event], list[Any]], watch: Observers | None = None
) -> Any:
    """Drive a walk with awaited calls and sleeps; awaits async subscribers. Observers are told as ``run_sync``
    tells them, in the task making each attempt."""
    backend.litellm()
    send: Any = None
    thrown: Exception | None = None
    try:
        while True:
            try:
                action = steps.throw(thrown) if thrown is not None else steps.send(send)
            except StopIteration as done:
                result = done.value
                break
            send, thrown = None, None
            if isinstance(action, Call):
                if watch is not None:
                    watch.attempt_started(action.caller.profile, as_fallback=action.as_fallback)
                try:
                    send = await action.caller.acall(action.request, as_fallback=action.as_fallback)
                except Exception as exc:
                    thrown = exc
                if watch is not None:
                    watch.attempt_ended(send, thrown)
            elif isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            else:
                if watch is not None:
                    watch.event(action.event)
                await emit_async(emit, action.event)
    except BaseException as exc:  # cancelled: an attempt may be open, and ended closes it
        if watch is not None:
            watch.ended(None, exc)
        raise
    finally:
        steps.close()  # cancelled: the walk lets go of what it holds (a probe) now, not when collected
    if watch is not None:
        watch.ended(result, None)
    return result


def emit_sync(emit: Callable[[Event], list[Any]], event: Event) -> None:
    """Deliver an event from sync code; async subscribers run on the running loop, or to completion."""
    for pending in emit(event):
        _run_detached(pending)


async def emit_async(emit: Callable[[Event], list[Any]], event: Event) -> None:
    """Deliver an event from async code, awaiting async subscribers."""
    for pending in emit(event):
        try:
            await pending
        except Exception:
            logger.exception("an async event subscriber raised; the call goes on")


def _run_detached(awaitable: Any) -> None:
    """Run an async subscriber's coroutine from sync code: on the running loop if any, else to completion."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        task = loop.create_task(_guarded(awaitable))
        _background.add(task)
        task.add_done_callback(_background.discard)
    else:
        asyncio.run(_guarded(awaitable))


async def _guarded(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("an async event subscriber raised; the call goes on")


_background: set[asyncio.Task[None]] = set()
