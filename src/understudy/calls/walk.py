"""The fallback walk of one call, written once for sync and async.

``walk()`` is a generator that decides everything and performs no I/O: it yields an action (call this
profile, sleep, emit this event) and a driver (``understudy.calls.drivers``) carries it out and sends back
the result, or throws the call's exception in at the ``yield``. Sync and async callers therefore take exactly
the same path through retries and fallbacks. The walk knows each profile only as a ``Caller``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from understudy.calls.actions import Action, Call, Emit, Sleep
from understudy.calls.budget import Budget
from understudy.calls.health_gate import HealthGate
from understudy.calls.responses import failure_cost
from understudy.calls.retry import Retries, retry_after
from understudy.calls.streams import AsyncFallbackStream, FallbackStream
from understudy.calls.walk_state import WalkState, exhausted, new_call_id
from understudy.errors import (
    Attempt,
    FallbackExhaustedError,
    ProfileCoolingDownError,
    ProfileError,
    ProfileUnfitError,
)
from understudy.events import (
    AttemptFailed,
    FallbackSucceeded,
    FallbackTriggered,
    ProfileSkipped,
)
from understudy.failures.kinds import is_bad_request, is_caller_error
from understudy.failures.names import WILDCARD
from understudy.redaction import redact, scrub

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

    from understudy.calls.protocols import Caller
    from understudy.calls.restarts import Restart
    from understudy.calls.retry import RetryPolicy
    from understudy.calls.strategy import FallbackStrategy
    from understudy.events import Event
    from understudy.failures.names import ExceptionNames
    from understudy.health.circuit import HealthStore, Verdict

__all__ = ["new_call_id", "walk"]


def walk(
    primary: Caller,
    strategy: FallbackStrategy,
    kwargs: dict[str, Any],
    *,
    resolve: Callable[[str], Caller],
    retry_policy: RetryPolicy,
    exception_names: ExceptionNames,
    route: str | None = None,
    call_id: str | None = None,
    health: HealthStore | None = None,
    restart: Restart | None = None,
    preface: Iterable[Event] = (),
) -> Generator[Action, Any, Any]:
    """Try ``primary`` (with its retries), then the profiles ``strategy`` names for the error, in order.

    ``resolve`` turns a fallback's name into its caller; a routed call passes one so that a sticky session
    falling back to its routed primary gets the route's overrides too. ``health`` (if any) is asked before a
    profile is called, and told how each attempt went: a profile that is cooling down is skipped, and a
    skipped primary hands over to the fallbacks named for the failure that made it cool down. ``restart``: a
    stream that was cut starts its answer again (``understudy.calls.restarts``), the primary and the profiles
    already cut passed over. ``preface``: events sent before anything else (a routed call's route).
    """
    for event in preface:
        yield Emit(event)
    kwargs = dict(kwargs)
    budget = Budget.of(kwargs, primary.profile)  # takes deadline= and max_attempts= out of what litellm gets
    gate = HealthGate(health, strategy, exception_names)
    state = WalkState(primary.name, strategy, retry_policy, exception_names, gate, route=route, budget=budget)
    if call_id is not None:
        state.call_id = call_id
    request = primary.request(kwargs)  # a broken primary is the caller's error: raise it, do not fall back
    state.remember(primary.profile.secrets(), request)

    if restart is None:
        response, error = yield from _try(state, primary, request, as_fallback=False)
        if error is None:
            return response
    else:  # the cut stream is the call's first attempt
        error = restart.cause
        state.secrets.update(restart.secrets)
        state.attempts.append(restart.attempt(state.secrets))
        state.prefilled = bool(restart.prefill)
    if error is _SKIPPED:
        raise AssertionError("unreachable: a primary is never skipped")
    cooling: list[tuple[Caller, dict[str, Any], ProfileCoolingDownError]] = []
    if isinstance(error, ProfileCoolingDownError):
        cooling.append((primary, request, error))
        opened_by = error.opened_by_class
        chain = [name for name in strategy.resolve_class(opened_by) if name != primary.name] if opened_by else []
        if not chain:
            response, after = yield from _after_cooldown(state, cooling)
            if after is None:
                return response
            yield from exhausted(state)
            raise FallbackExhaustedError(primary.name, state.attempts) from (error if after is _NOT_TRIED else after)
    else:
        passed_over = {primary.name, *(restart.tried if restart else ())}
        chain = [name for name in strategy.resolve(error) if name not in passed_over]
        if restart is not None:
            if not chain:
                raise restart.interrupted  # nothing to restart on: the stream's own error, as without a restart
            yield Emit(restart.event(state.base(), state.secrets))
        if not chain and state.stopped is not None:  # the budget ended it: the documented error, with why
            yield from exhausted(state)
            raise FallbackExhaustedError(primary.name, state.attempts, stopped=state.stopped) from error
        if not chain:
            raise error  # no fallback for this kind of failure: the caller sees the provider's own error

    last_profile, last_error = (restart.interrupted.profile if restart else primary.name), error
    for name in chain:
        state.stopped = state.stopped or budget.stop_reason(state.model_calls)
        if state.stopped is not None:
            break
        started = time.perf_counter()
        try:
            caller = resolve(name)
            request = caller.request(kwargs)
        except ProfileError as exc:
            # A profile that cannot be loaded is a configuration problem, not a model failure: skip it,
            # say so, and leave it uncached so the next call tries to load it again.
            message = scrub(exc, state.secrets)
            state.attempts.append(Attempt(name, exc, message, time.perf_counter() - started, loaded=False))
            yield Emit(ProfileSkipped(**state.base(), profile=name, error_type=type(exc).__name__, reason=message))
            continue
        state.remember(caller.profile.secrets(), request)
        unfit = caller.cannot_serve(request)
        if unfit is not None:  # known not to work there (too long, tools, images, schema): no request
            skip = ProfileUnfitError(name, unfit)
            state.attempts.append(Attempt(name, skip, str(skip), time.perf_counter() - started, loaded=False))
            yield Emit(ProfileSkipped(**state.base(), profile=name, error_type=type(skip).__name__, reason=unfit))
            continue
        yield Emit(
            FallbackTriggered(
                **state.base(),
                from_profile=last_profile,
                to_profile=name,
                error_type=type(last_error).__name__,
                reason=redact(str(last_error), state.secrets),
                model_calls=state.model_calls,
            )
        )
        response, error = yield from _try(state, caller, request, as_fallback=True)
        if error is _STOPPED:
            break
        if error is _SKIPPED:
            continue
        if isinstance(error, ProfileCoolingDownError):  # stands for the failures that cooled it down
            cooling.append((caller, request, error))
            last_profile, last_error = name, error
            continue
        if error is None:
            yield _served(state, caller, response)
            return response
        last_profile, last_error = name, error

    response, after = yield from _after_cooldown(state, cooling)
    if after is None:
        return response
    cause = last_error if after is _NOT_TRIED else after
    yield from exhausted(state)
    raise FallbackExhaustedError(primary.name, state.attempts, stopped=state.stopped) from cause


def _after_cooldown(
    state: WalkState, cooling: list[tuple[Caller, dict[str, Any], ProfileCoolingDownError]]
) -> Generator[Action, Any, tuple[Any, Exception | None]]:
    """When every candidate was cooling down and the call's deadline leaves room, wait for the one that
    recovers first and try it once. Returns (response, None), or (None, its error; None when nothing was tried
    except the skips)."""
    timed = [(skip.until, caller, request) for caller, request, skip in cooling if skip.until is not None]
    if state.budget.deadline is None or state.stopped is not None or state.model_calls or not timed:
        return None, _NOT_TRIED
    until, caller, request = min(timed, key=lambda entry: entry[0])
    wait = max(0.0, until - time.time()) + _CLOCK_SLACK
    if not state.budget.fits(wait):
        return None, _NOT_TRIED
    yield Sleep(wait)
    as_fallback = caller.name != state.primary
    response, error = yield from _try(state, caller, request, as_fallback=as_fallback)
    if error is None and as_fallback:
        yield _served(state, caller, response)
    return response, error


def _served(state: WalkState, caller: Caller, response: Any) -> Emit:
    """The ``FallbackSucceeded`` event of a fallback that served the call."""
    cost = caller.cost_of(response)
    total = None if cost is None else cost + state.failed_cost
    return Emit(
        FallbackSucceeded(
            **state.base(),
            served_by=caller.name,
            attempts=state.model_calls,
            latency=state.elapsed(),
            cost=cost,
            total_cost=total,
        )
    )


def _try(
    state: WalkState, caller: Caller, request: dict[str, Any], *, as_fallback: bool
) -> Generator[Action, Any, tuple[Any, Exception | None]]:
    """Call one profile, retrying transient failures; return (response, None) or (None, last error).

    A profile that is cooling down is not called: the error returned is a ``ProfileCoolingDownError``.
    """
    verdict = state.health.check(caller)
    if not verdict.allowed:
        return None, (yield from _cooling_down(state, caller, verdict))
    probe = verdict.probe
    retries = Retries(caller.profile)
    last: Exception | None = None
    for attempt in range(1, caller.profile.num_retries + 2):
        if attempt > 1 or as_fallback:  # the primary's first attempt always goes; then time may have run out
            state.stopped = state.budget.stop_reason(state.model_calls)
            if state.stopped is not None:
                state.health.released(caller, probe)
                return None, last if last is not None else _STOPPED
        started = time.perf_counter()
        state.model_calls += 1
        sent, capped_to = state.budget.cap(request)  # no attempt outlives the call's deadline
        try:
            response = yield Call(caller, sent, as_fallback)
        except Exception as exc:
            latency = time.perf_counter() - started  # first: what follows resolves names, which takes time once
            last = exc
            state.health.failed(caller, exc, probe, capped_to=capped_to)
            probe = None
            refused_prefill = state.prefilled and is_bad_request(exc)
            if (is_caller_error(exc) or refused_prefill) and state.strategy.match(type(exc))[0] in (None, WILDCARD):
                # litellm refused the request before sending it (a parameter this model does not take): the
                # caller's error, not the model's, so "*" does not walk on it. A fallback that cannot take the
                # request (or a continuation's prefill) is passed over; the primary's refusal goes to the caller.
                message = scrub(exc, state.secrets)
                if refused_prefill:
                    message = f"it did not take the partial answer as a prefill: {message}"
                if not as_fallback:
                    exc.add_note(
                        f"understudy: profile {caller.name!r} cannot take this request; remove the parameter, or add "
                        "drop_params = true to the profile's params to let litellm drop what the model lacks"
                    )
                    raise
                state.attempts.append(Attempt(caller.name, exc, message, latency, loaded=refused_prefill))
                yield Emit(
                    ProfileSkipped(**state.base(), profile=caller.name, error_type=type(exc).__name__, reason=message)
                )
                return None, _SKIPPED
            if not state.strategy.is_provider_error(exc):
                if state.attempts:  # say what happened before it, since no exhausted error will
                    exc.add_note(f"understudy: raised by profile {caller.name!r} after: {state.tried()}")
                raise  # a programming error is never answered with a fallback
            message = scrub(exc, state.secrets)
            state.attempts.append(Attempt(caller.name, exc, message, latency))
            delay, probe = _retry_delay(state, caller, retries, attempt, exc)
            state.failed_cost += failure_cost(exc) or 0.0
            failure = AttemptFailed(
                **state.base(),
                profile=caller.name,
                attempt=attempt,
                error_type=type(exc).__name__,
                message=message,
                will_retry=delay is not None,
                retry_in=delay,
                latency=latency,
                cost=failure_cost(exc),
            )
        except BaseException:  # cancelled, or the caller closed the walk: no verdict on the model
            state.health.released(caller, probe)
            raise
        else:
            if isinstance(response, FallbackStream | AsyncFallbackStream):
                response.verdict = state.health.stream_verdict(caller, probe)  # told when the stream ends
            else:
                state.health.succeeded(caller, probe)
            return response, None
        try:  # holding the retry's probe, if any: a cancelled wait gives it back
            yield Emit(failure)
            if delay is None:
                return None, last
            yield Sleep(delay)
        except BaseException:
            state.health.released(caller, probe)
            raise
    raise AssertionError("unreachable: the last attempt returns")


def _retry_delay(
    state: WalkState, caller: Caller, retries: Retries, attempt: int, error: Exception
) -> tuple[float | None, int | None]:
    """Seconds to wait before trying ``caller`` again (None: move on), and the probe token of that retry."""
    if not retries.allow(error, state.exception_names):
        return None, None
    delay = state.retry_policy.delay(attempt, error)
    if delay is None or not state.budget.fits(delay):
        return None, None  # too long a wait for the policy, or it would outlast the deadline: move on
    if retry_after(error) is not None:  # a wait the provider asked for is this call's own to honour
        return delay, None
    verdict = state.health.check(caller)  # cooled down by this failure (or others): move on
    return (delay, verdict.probe) if verdict.allowed else (None, None)


def _cooling_down(
    state: WalkState, caller: Caller, verdict: Verdict
) -> Generator[Action, Any, ProfileCoolingDownError]:
    """Skip a profile that is cooling down: say so in an attempt and an event, send nothing."""
    opened_by = verdict.opened_by
    error = ProfileCoolingDownError(
        caller.name,
        verdict.reason,
        until=verdict.until,
        opened_by=opened_by.error_type if opened_by else None,
        status_code=opened_by.status_code if opened_by else None,
        opened_by_class=opened_by.error_class if opened_by else None,
    )
    state.attempts.append(Attempt(caller.name, error, str(error), 0.0, loaded=False))
    yield Emit(
        ProfileSkipped(
            **state.base(),
            profile=caller.name,
            error_type=type(error).__name__,
            reason=error.reason,
            until=verdict.until,
        )
    )
    return error


class _Skipped(Exception):
    """What ``_try`` returns for a fallback that could not take the request (no model was called)."""


_SKIPPED: Final = _Skipped()
_STOPPED: Final = _Skipped()  # a fallback not called: the call's budget ran out before it
_NOT_TRIED: Final = _Skipped()  # no profile recovered in time: nothing more was tried
_CLOCK_SLACK: Final = 0.01  # seconds: a cooldown's end is wall-clock, the store's clock monotonic
