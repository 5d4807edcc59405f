"""What one call did, attempt by attempt, as plain data: the common ground of traces, metrics and the usage log.

``Recorder`` is a call observer (``understudy.calls.observers``) that writes a ``CallRecord`` as the call goes
and hands it to ``finished`` at its end: when the response comes back or, for a stream, when the stream ends.
Messages are redacted; a record holds no secret and no prompt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from understudy.calls.observers import StreamEnd, on_stream_end
from understudy.calls.responses import served_by, served_cost
from understudy.errors import FallbackExhaustedError
from understudy.events import AttemptFailed, FallbackTriggered, ProfileSkipped
from understudy.redaction import scrub

if TYPE_CHECKING:
    from collections.abc import Callable

    from understudy.calls.observers import CallStart
    from understudy.events import Event
    from understudy.profiles.profile import Profile

__all__ = ["AttemptRecord", "CallRecord", "Outcome", "Recorder", "Skip"]

Outcome = Literal["served", "exhausted", "failed", "cancelled"]
"""``served``: a profile answered; ``exhausted``: every profile failed (``FallbackExhaustedError``); ``failed``:
the call raised something else (an error no fallback answers, a caller's mistake); ``cancelled``: the caller
gave up (a cancelled task, Ctrl-C)."""


@dataclass(slots=True)
class AttemptRecord:
    """One model call of a call."""

    profile: str
    model: str
    provider: str | None
    server: str | None
    port: int | None
    number: int  # which try of this profile: 1 is the first
    as_fallback: bool
    started: float  # time.time()
    duration: float = 0.0  # seconds, to the response (for a stream, to its end)
    first_chunk: float | None = None  # a stream's: seconds to its first chunk
    error_type: str | None = None
    cancelled: bool = False  # the caller gave up during it (error_type says how): not the model's failure
    message: str | None = None  # the error's text, redacted
    will_retry: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    _clock: float = field(default=0.0, repr=False)


@dataclass(frozen=True, slots=True)
class Skip:
    """A profile the call passed over without calling it."""

    profile: str
    error_type: str
    reason: str


@dataclass(slots=True)
class CallRecord:
    """One call, from its start to its end."""

    call_id: str
    primary: str
    mode: Literal["sync", "async"]
    stream: bool
    route: str | None
    started: float
    duration: float = 0.0
    outcome: Outcome = "served"
    served_by: str | None = None
    error_type: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    fallbacks: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, error type)

    @property
    def fallback(self) -> bool:
        """True when a profile other than the primary served the call."""
        return self.served_by is not None and self.served_by != self.primary

    @property
    def cost(self) -> float | None:
        """What the serving attempt cost in USD, or None when unknown (or nothing served)."""
        served = self.serving
        return served.cost if served is not None else None

    @property
    def total_cost(self) -> float | None:
        """Every attempt's known cost added up; None when none is known."""
        costs = [attempt.cost for attempt in self.attempts if attempt.cost is not None]
        return sum(costs) if costs else None

    @property
    def serving(self) -> AttemptRecord | None:
        """The attempt whose answer the caller got."""
        if self.outcome != "served" or not self.attempts or self.attempts[-1].error_type is not None:
            return None
        return self.attempts[-1]


class Recorder:
    """A call observer that keeps a ``CallRecord`` and hands it to ``then`` at the end; subclasses act on it
    through the four hooks at the end instead."""

    def __init__(self, start: CallStart, then: Callable[[CallRecord], object] | None = None) -> None:
        self.start = start
        self._then = then
        self.record = CallRecord(
            start.call_id, start.profile.name, start.mode, start.stream, start.route, start.started
        )
        self._clock = time.perf_counter()
        self._open: AttemptRecord | None = None
        self._profiles: dict[str, Profile] = {}
        self._tries: dict[str, int] = {}

    # -- the observer protocol --------------------------------------------------------------------------------

    def attempt_started(self, profile: Profile, *, as_fallback: bool) -> None:
        number = self._tries[profile.name] = self._tries.get(profile.name, 0) + 1
        self._profiles[profile.name] = profile
        server, port = _server(profile.api_base)
        attempt = AttemptRecord(
            profile=profile.name,
            model=profile.model,
            provider=_provider(profile.model),
            server=server,
            port=port,
            number=number,
            as_fallback=as_fallback,
            started=time.time(),
            _clock=time.perf_counter(),
        )
        self.record.attempts.append(attempt)
        self._open = attempt
        self.attempt_opened(attempt)

    def attempt_ended(self, response: Any, error: BaseException | None) -> None:
        attempt, self._open = self._open, None
        if attempt is None:
            return
        attempt.duration = time.perf_counter() - attempt._clock
        if error is not None:
            self._failed(attempt, error)
            self.attempt_closed(attempt)
            return
        hidden = getattr(response, "_hidden_params", None)
        if isinstance(hidden, dict) and isinstance(hidden.get("custom_llm_provider"), str):
            attempt.provider = hidden["custom_llm_provider"]
        attempt.response_model = _text(getattr(response, "model", None))
        attempt.response_id = _text(getattr(response, "id", None))
        if self.start.stream:
            attempt.first_chunk = attempt.duration  # the stream's end closes it (see ended)
            return
        _usage(attempt, getattr(response, "usage", None))
        attempt.cost = served_cost(response)
        attempt.finish_reasons = tuple(
            reason for choice in getattr(response, "choices", None) or () if (reason := _finish(choice))
        )
        self.attempt_closed(attempt)

    def event(self, event: Event) -> None:
        if isinstance(event, AttemptFailed):
            attempt = self._last(event.profile)
            if attempt is not None:
                attempt.message, attempt.will_retry = event.message, event.will_retry
                if event.cost is not None:
                    attempt.cost = event.cost
        elif isinstance(event, ProfileSkipped):
            self.record.skipped.append(Skip(event.profile, event.error_type, event.reason))
        elif isinstance(event, FallbackTriggered):
            self.record.fallbacks.append((event.from_profile, event.to_profile, event.error_type))
        self.noted(event)

    def ended(self, response: Any, error: BaseException | None) -> None:
        record = self.record
        if error is not None:
            if self._open is not None:  # cancelled or interrupted mid-attempt
                self.attempt_ended(None, error)
            record.error_type = type(error).__name__
            record.outcome = _outcome(error)
            record.served_by = None  # a restarted stream's first profile served a part, then failed
            record.duration = time.perf_counter() - self._clock
            self.finished(record)
            return
        record.served_by = served_by(response) or (record.attempts[-1].profile if record.attempts else None)
        if self.start.stream and record.attempts and on_stream_end(response, self._stream_ended):
            return
        if self.start.stream and record.attempts:  # not a stream understudy watches: its end is unknown
            self.attempt_closed(record.attempts[-1])
        record.duration = time.perf_counter() - self._clock
        self.finished(record)

    # -- for subclasses ---------------------------------------------------------------------------------------

    def attempt_opened(self, attempt: AttemptRecord) -> None:
        """An attempt starts (in the thread or task that makes it)."""

    def attempt_closed(self, attempt: AttemptRecord) -> None:
        """An attempt's record is complete (for a stream that served, when the stream ended)."""

    def noted(self, event: Event) -> None:
        """An event of this call was sent."""

    def finished(self, record: CallRecord) -> None:
        """The call is over and its record complete: by default, ``then(record)`` when one was given."""
        if self._then is not None:
            self._then(record)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _stream_ended(self, end: StreamEnd) -> None:
        record, attempt = self.record, self.record.attempts[-1]
        attempt.duration = time.perf_counter() - attempt._clock
        _usage(attempt, end.usage)
        attempt.cost = end.cost
        if end.error is not None:  # cut after chunks went out
            self._failed(attempt, end.error)
            if self.start.restarts:  # the call goes on on the next profile: its walk tells us the rest
                self.attempt_closed(attempt)
                return
            record.outcome, record.error_type = "failed", "StreamInterruptedError"
        self.attempt_closed(attempt)
        record.duration = time.perf_counter() - self._clock
        self.finished(record)

    def _failed(self, attempt: AttemptRecord, error: BaseException) -> None:
        attempt.error_type = type(error).__name__
        attempt.cancelled = not isinstance(error, Exception)
        provider = getattr(error, "llm_provider", None)
        if isinstance(provider, str) and provider:
            attempt.provider = provider
        profile = self._profiles.get(attempt.profile)
        attempt.message = scrub(error, profile.secrets() if profile is not None else ())

    def _last(self, profile: str) -> AttemptRecord | None:
        for attempt in reversed(self.record.attempts):
            if attempt.profile == profile:
                return attempt
        return None


def _outcome(error: BaseException) -> Outcome:
    if not isinstance(error, Exception):
        return "cancelled"
    return "exhausted" if isinstance(error, FallbackExhaustedError) else "failed"


def _provider(model: str) -> str | None:
    prefix, slash, _ = model.partition("/")
    return prefix if slash else None


@lru_cache(maxsize=256)
def _server(api_base: str | None) -> tuple[str | None, int | None]:
    if not api_base:
        return None, None
    try:
        url = urlsplit(api_base)
        return url.hostname, url.port  # never the userinfo: it may hold a password
    except ValueError:
        return None, None


def _usage(attempt: AttemptRecord, usage: Any) -> None:
    if usage is None:
        return
    prompt, completion = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
    attempt.input_tokens = prompt if isinstance(prompt, int) else None
    attempt.output_tokens = completion if isinstance(completion, int) else None


def _finish(choice: Any) -> str | None:
    reason = getattr(choice, "finish_reason", None)
    return reason if isinstance(reason, str) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
