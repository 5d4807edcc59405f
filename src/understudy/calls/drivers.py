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
from understudy.calls.actions import Call, Emit, Sleep

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
    if watch is not None:
        return _watched(watch, run_sync, steps, emit)
    send: Any = None
    thrown: Exception | None = None
    try:
        while True:
            try:
                action = steps.throw(thrown) if thrown is not None else steps.send(send)
            except StopIteration as done:
                return done.value
            send, thrown = None, None
            if isinstance(action, Call):
                try:
                    send = action.caller.call(action.request, as_fallback=action.as_fallback)
                except Exception as exc:
                    thrown = exc
            elif isinstance(action, Sleep):
                time.sleep(action.seconds)
            else:
                emit_sync(emit, action.event)
    finally:
        steps.close()  # interrupted (KeyboardInterrupt ...): the walk lets go of what it holds, a probe at once


async def run_async(
    steps: Generator[Action, Any, Any], emit: Callable[[Event], list[Any]], watch: Observers | None = None
) -> Any:
    """Drive a walk with awaited calls and sleeps; awaits async subscribers."""
    backend.litellm()
    if watch is not None:
        return await _awatched(watch, steps, emit)
    send: Any = None
    thrown: Exception | None = None
    try:
        while True:
            try:
                action = steps.throw(thrown) if thrown is not None else steps.send(send)
            except StopIteration as done:
                return done.value
            send, thrown = None, None
            if isinstance(action, Call):
                try:
                    send = await action.caller.acall(action.request, as_fallback=action.as_fallback)
                except Exception as exc:
                    thrown = exc
            elif isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            else:
                await emit_async(emit, action.event)
    finally:
        steps.close()  # cancelled: the walk lets go of what it holds (a probe) now, not when collected


def _watched(watch: Observers, run: Callable[..., Any], steps: Generator[Action, Any, Any], emit: Any) -> Any:
    try:
        response = run(_told(watch, steps), emit)
    except BaseException as exc:
        watch.ended(None, exc)
        raise
    watch.ended(response, None)
    return response


async def _awatched(watch: Observers, steps: Generator[Action, Any, Any], emit: Any) -> Any:
    try:
        response = await run_async(_told(watch, steps), emit)
    except BaseException as exc:
        watch.ended(None, exc)
        raise
    watch.ended(response, None)
    return response


def _told(watch: Observers, steps: Generator[Action, Any, Any]) -> Generator[Action, Any, Any]:
    """The walk ``steps``, with ``watch`` told of each event and each attempt as the driver performs it.

    An attempt's call runs between two steps of this generator, in the driver's own thread or task, so an
    observer may make something current (a trace span) for the attempt's duration.
    """
    send: Any = None
    thrown: Exception | None = None
    try:
        while True:
            try:
                action = steps.throw(thrown) if thrown is not None else steps.send(send)
            except StopIteration as done:
                return done.value
            send, thrown = None, None
            if isinstance(action, Call):
                watch.attempt_started(action.caller.profile, as_fallback=action.as_fallback)
                try:
                    send = yield action
                except Exception as exc:
                    watch.attempt_ended(None, exc)
                    thrown = exc
                    continue
                # Cancelled or interrupted mid-attempt, the driver closes this generator: the attempt is still
                # open when ``ended`` tells the observers the call's error.
                watch.attempt_ended(send, None)
            else:
                if isinstance(action, Emit):
                    watch.event(action.event)
                send = yield action
    finally:
        steps.close()


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
