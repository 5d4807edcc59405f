"""The fallback walk of one call, written once for sync and async.

``walk()`` is a generator that decides everything and performs no I/O: it yields an action (call this
profile, sleep, emit this event) and the driver, ``run_sync`` or ``run_async``, carries it out and sends
back the result, or throws the call's exception in at the ``yield``. Sync and async callers therefore
take exactly the same path through retries and fallbacks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from understudy.calls import backend
from understudy.calls.retry import is_transient
from understudy.errors import Attempt, FallbackExhaustedError, ProfileError
from understudy.events import (
    AttemptFailed,
    AttemptSummary,
    Event,
    FallbackExhausted,
    FallbackSucceeded,
    FallbackTriggered,
    ProfileSkipped,
)
from understudy.failures.classify import is_caller_error
from understudy.failures.names import WILDCARD
from understudy.redaction import credential_values, redact, remember_secrets, scrub

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from understudy.calls.llm import LLM
    from understudy.calls.strategy import FallbackStrategy

__all__ = ["Call", "Emit", "Sleep", "emit_async", "emit_sync", "run_async", "run_sync", "walk"]

logger = logging.getLogger("understudy")


@dataclass(frozen=True, slots=True)
class Call:
    """Call ``llm`` once with ``request``; send back its response or throw its exception."""

    llm: LLM
    request: dict[str, Any] = field(repr=False)  # holds the key
    as_fallback: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Emit:
    event: Event


Action = Call | Sleep | Emit


@dataclass
class _State:
    primary: str
    strategy: FallbackStrategy
    route: str | None = None
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started: float = field(default_factory=time.perf_counter)
    attempts: list[Attempt] = field(default_factory=list)
    model_calls: int = 0
    secrets: set[str] = field(default_factory=set, repr=False)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def walk(
    primary: LLM,
    kwargs: dict[str, Any],
    *,
    route: str | None = None,
    call_id: str | None = None,
    resolve: Callable[[str], LLM] | None = None,
) -> Generator[Action, Any, Any]:
    """Try ``primary`` (with its retries), then the profiles its strategy names for the error, in order.

    ``resolve`` turns a fallback's name into its LLM (default: the registry's); a routed call passes one so
    that a sticky session falling back to its routed primary gets the route's overrides too.
    """
    strategy = primary.fallback_strategy
    state = _State(primary=primary.name, strategy=strategy, route=route)
    if call_id is not None:
        state.call_id = call_id
    registry = primary.registry
    request = primary._request(kwargs)  # a broken primary is the caller's error: raise it, do not fall back
    _remember(state, primary.profile.secrets(), request)

    response, error = yield from _try(state, primary, request, as_fallback=False)
    if error is None:
        return response
    if error is _SKIPPED:
        raise AssertionError("unreachable: a primary is never skipped")
    chain = [name for name in strategy.resolve(error) if name != primary.name]
    if not chain:
        raise error  # no fallback for this kind of failure: the caller sees the provider's own error

    last_profile, last_error = primary.name, error
    for name in chain:
        started = time.perf_counter()
        try:
            llm = (resolve or registry.get)(name)
            request = llm._request(kwargs)
        except ProfileError as exc:
            # A profile that cannot be loaded is a configuration problem, not a model failure: skip it,
            # say so, and leave it uncached so the next call tries to load it again.
            message = scrub(exc, state.secrets)
            state.attempts.append(Attempt(name, exc, message, time.perf_counter() - started, loaded=False))
            yield Emit(ProfileSkipped(**_base(state), profile=name, error_type=type(exc).__name__, reason=message))
            continue
        _remember(state, llm.profile.secrets(), request)
        yield Emit(
            FallbackTriggered(
                **_base(state),
                from_profile=last_profile,
                to_profile=name,
                error_type=type(last_error).__name__,
                reason=redact(str(last_error), state.secrets),
                model_calls=state.model_calls,
            )
        )
        response, error = yield from _try(state, llm, request, as_fallback=True)
        if error is _SKIPPED:
            continue
        if error is None:
            yield Emit(
                FallbackSucceeded(
                    **_base(state),
                    served_by=name,
                    attempts=state.model_calls,
                    latency=state.elapsed(),
                    cost=llm.cost_of(response),
                )
            )
            return response
        last_profile, last_error = name, error

    summaries = [
        AttemptSummary(
            profile=a.profile,
            error_type=a.error_type,
            message=a.message,
            duration=a.duration,
            loaded=a.loaded,
        )
        for a in state.attempts
    ]
    yield Emit(FallbackExhausted(**_base(state), attempts=summaries, latency=state.elapsed()))
    raise FallbackExhaustedError(primary.name, state.attempts) from last_error


def _try(
    state: _State, llm: LLM, request: dict[str, Any], *, as_fallback: bool
) -> Generator[Action, Any, tuple[Any, Exception | None]]:
    """Call one profile, retrying transient failures; return (response, None) or (None, last error)."""
    retries = llm.profile.num_retries
    for attempt in range(1, retries + 2):
        started = time.perf_counter()
        state.model_calls += 1
        try:
            response = yield Call(llm, request, as_fallback)
        except Exception as exc:
            latency = time.perf_counter() - started  # first: what follows resolves names, which takes time once
            if is_caller_error(exc) and state.strategy.match(type(exc))[0] in (None, WILDCARD):
                # litellm refused the request before sending it (a parameter this model does not take): the
                # caller's error, not the model's, so "*" does not walk on it. A fallback that cannot take the
                # request is passed over; the primary's refusal goes to the caller.
                message = scrub(exc, state.secrets)
                if not as_fallback:
                    exc.add_note(
                        f"understudy: profile {llm.name!r} cannot take this request; remove the parameter, or add "
                        "drop_params = true to the profile's params to let litellm drop what the model lacks"
                    )
                    raise
                state.attempts.append(Attempt(llm.name, exc, message, latency, loaded=False))
                yield Emit(
                    ProfileSkipped(**_base(state), profile=llm.name, error_type=type(exc).__name__, reason=message)
                )
                return None, _SKIPPED
            if not state.strategy.is_provider_error(exc):
                if state.attempts:  # say what happened before it, since no exhausted error will
                    exc.add_note(f"understudy: raised by profile {llm.name!r} after: {_tried(state)}")
                raise  # a programming error is never answered with a fallback
            message = scrub(exc, state.secrets)
            state.attempts.append(Attempt(llm.name, exc, message, latency))
            delay = None
            if attempt <= retries and is_transient(exc, llm.registry.exception_names):
                delay = llm.registry.retry_policy.delay(attempt, exc)
            yield Emit(
                AttemptFailed(
                    **_base(state),
                    profile=llm.name,
                    attempt=attempt,
                    error_type=type(exc).__name__,
                    message=message,
                    will_retry=delay is not None,
                    retry_in=delay,
                    latency=latency,
                )
            )
            if delay is None:
                return None, exc
            yield Sleep(delay)
        else:
            return response, None
    raise AssertionError("unreachable: the last attempt returns")


class _Skipped(Exception):
    """What ``_try`` returns for a fallback that could not take the request (no model was called)."""


_SKIPPED: Final = _Skipped()


def _remember(state: _State, secrets: list[str], request: dict[str, Any]) -> None:
    """What this call can send that must never be shown: for its events, and for the log filter."""
    secrets = [*secrets, *credential_values(request.get("extra_headers") or {})]
    if isinstance(request.get("api_key"), str):
        secrets.append(request["api_key"])
    state.secrets.update(secrets)
    remember_secrets(secrets)


def _tried(state: _State) -> str:
    return "; ".join(f"{a.profile} {a.error_type}" for a in state.attempts)


def _base(state: _State) -> dict[str, Any]:
    return {"call_id": state.call_id, "primary": state.primary, "route": state.route}


def run_sync(steps: Generator[Action, Any, Any], emit: Callable[[Event], list[Any]]) -> Any:
    """Drive a walk with blocking calls and sleeps."""
    backend.litellm()  # the first import takes seconds: before the walk's clocks start, not inside an attempt
    send: Any = None
    thrown: Exception | None = None
    while True:
        try:
            action = steps.throw(thrown) if thrown is not None else steps.send(send)
        except StopIteration as done:
            return done.value
        send, thrown = None, None
        if isinstance(action, Call):
            try:
                send = action.llm._call(action.request, as_fallback=action.as_fallback)
            except Exception as exc:
                thrown = exc
        elif isinstance(action, Sleep):
            time.sleep(action.seconds)
        else:
            emit_sync(emit, action.event)


async def run_async(steps: Generator[Action, Any, Any], emit: Callable[[Event], list[Any]]) -> Any:
    """Drive a walk with awaited calls and sleeps; awaits async subscribers."""
    backend.litellm()
    send: Any = None
    thrown: Exception | None = None
    while True:
        try:
            action = steps.throw(thrown) if thrown is not None else steps.send(send)
        except StopIteration as done:
            return done.value
        send, thrown = None, None
        if isinstance(action, Call):
            try:
                send = await action.llm._acall(action.request, as_fallback=action.as_fallback)
            except Exception as exc:
                thrown = exc
        elif isinstance(action, Sleep):
            await asyncio.sleep(action.seconds)
        else:
            await emit_async(emit, action.event)


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
