"""The spans of one call, for ``understudy.observability.otel`` (imported on first use).

A call is a span ``understudy <primary>``; each attempt is a child span ``chat <model>`` with the GenAI
conventions' attributes, current while the request is made (so an HTTP client's own spans nest under it). A
fallback shows as a failed child with ``error.type``, then the next child with ``understudy.fallback.from``;
skips, fallbacks and routing are events on the call's span.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from understudy.events import AttemptFailed
from understudy.observability.measures import attempt_attributes
from understudy.observability.records import Recorder
from understudy.redaction import redact, redact_mapping

if TYPE_CHECKING:
    from understudy.calls.observers import CallStart
    from understudy.events import Event
    from understudy.observability.otel_metrics import Meters
    from understudy.observability.records import AttemptRecord, CallRecord
    from understudy.profiles.profile import Profile

__all__ = ["Traced"]

_REQUEST_PARAMS = (
    ("temperature", "gen_ai.request.temperature"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("top_p", "gen_ai.request.top_p"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
)
_EVENT_SKIPS = {"kind", "call_id", "primary", "route", "timestamp", "attempts"}


class Traced(Recorder):
    """One call's spans (with ``tracer``), and its metric points when it is over (on ``meters``)."""

    def __init__(self, start: CallStart, tracer: Any, meters: Meters | None, *, capture: bool) -> None:
        super().__init__(start)
        self._tracer = tracer
        self._meters = meters
        self._capture = capture
        self._span: Any = None
        self._parent: Any = None
        self._attempt_spans: dict[int, Any] = {}
        self._token: Any = None
        self._pending: tuple[AttemptRecord, Any, int] | None = None  # a failed attempt, until its event comes
        if tracer is not None:
            attributes: dict[str, Any] = {"understudy.profile": start.profile.name, "understudy.call_id": start.call_id}
            if start.route:
                attributes["understudy.route"] = start.route
            if start.stream:
                attributes["understudy.stream"] = True
            self._span = tracer.start_span(f"understudy {start.profile.name}", attributes=attributes)
            self._parent = trace.set_span_in_context(self._span)

    def attempt_started(self, profile: Profile, *, as_fallback: bool) -> None:
        super().attempt_started(profile, as_fallback=as_fallback)
        span = self._attempt_spans.get(id(self.record.attempts[-1]))
        if span is not None:  # current while the request is made: an HTTP client's spans nest under it
            self._token = otel_context.attach(trace.set_span_in_context(span))

    def attempt_ended(self, response: Any, error: BaseException | None) -> None:
        if self._token is not None:
            otel_context.detach(self._token)
            self._token = None
        if self._capture and error is None and not self.start.stream and self.record.attempts:
            span = self._attempt_spans.get(id(self.record.attempts[-1]))
            messages = [getattr(choice, "message", None) for choice in getattr(response, "choices", None) or ()]
            if span is not None and messages:
                answers = [getattr(m, "model_dump", lambda m=m: m)() for m in messages]
                profile = self._profiles[self.record.attempts[-1].profile]
                span.set_attribute("gen_ai.output.messages", _json(answers, profile.secrets()))
        super().attempt_ended(response, error)

    def attempt_opened(self, attempt: AttemptRecord) -> None:
        self._flush()
        tracer = self._tracer
        if tracer is None:
            return
        attributes: dict[str, Any] = attempt_attributes(attempt)
        model = attempt.model.split("/", 1)[1] if attempt.provider else attempt.model
        attributes["gen_ai.request.model"] = model
        if attempt.port is not None:
            attributes["server.port"] = attempt.port
        attributes["understudy.attempt"] = attempt.number
        attributes["understudy.fallback"] = attempt.as_fallback
        if attempt.as_fallback and len(self.record.attempts) > 1:
            attributes["understudy.fallback.from"] = self.record.attempts[-2].profile
        profile = self._profiles[attempt.profile]
        settings = {"temperature": profile.temperature, "max_tokens": profile.max_tokens, **profile.params}
        settings.update(self.start.request)
        for name, attribute in _REQUEST_PARAMS:
            value = settings.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[attribute] = value
        if self._capture and self.start.request.get("messages") is not None:
            attributes["gen_ai.input.messages"] = _json(self.start.request["messages"], profile.secrets())
        self._attempt_spans[id(attempt)] = tracer.start_span(
            f"chat {model}", context=self._parent, kind=SpanKind.CLIENT, attributes=attributes
        )

    def attempt_closed(self, attempt: AttemptRecord) -> None:
        span = self._attempt_spans.pop(id(attempt), None)
        if span is None:
            return
        end = time.time_ns()
        if attempt.error_type is not None:
            self._flush()
            self._pending = (attempt, span, end)  # AttemptFailed, next, says whether it is retried
            return
        _set_outcome(span, attempt)
        span.end(end_time=end)

    def noted(self, event: Event) -> None:
        if isinstance(event, AttemptFailed):
            if self._pending is not None and self._pending[0].profile == event.profile:
                self._pending[1].set_attribute("understudy.will_retry", event.will_retry)
                if event.retry_in is not None:
                    self._pending[1].set_attribute("understudy.retry_in", event.retry_in)
            self._flush()
            return
        self._flush()
        if self._span is None:
            return
        attributes: dict[str, Any] = {}
        for name, value in event.model_dump(exclude=_EVENT_SKIPS).items():
            if isinstance(value, str | bool | int | float):
                attributes["error.type" if name == "error_type" else f"understudy.{name}"] = value
        self._span.add_event(f"understudy.{event.kind}", attributes)

    def finished(self, record: CallRecord) -> None:
        self._flush()
        if self._meters is not None:
            self._meters.count(record)
        span = self._span
        if span is None:
            return
        found = {
            "understudy.outcome": record.outcome,
            "understudy.attempts": len(record.attempts),
            "understudy.fallbacks": len(record.fallbacks),
            "understudy.served_by": record.served_by,
            "understudy.cost": record.cost,
            "understudy.total_cost": record.total_cost,
        }
        span.set_attributes({name: value for name, value in found.items() if value is not None})
        if record.error_type is not None:
            span.set_attribute("error.type", record.error_type)
            span.set_status(Status(StatusCode.ERROR, f"{record.outcome}: {record.error_type}"))
        span.end()

    def _flush(self) -> None:
        if self._pending is not None:
            attempt, span, end = self._pending
            self._pending = None
            _set_outcome(span, attempt)
            span.end(end_time=end)


def _set_outcome(span: Any, attempt: AttemptRecord) -> None:
    found = {
        "gen_ai.response.model": attempt.response_model,
        "gen_ai.response.id": attempt.response_id,
        "gen_ai.response.finish_reasons": list(attempt.finish_reasons) or None,
        "gen_ai.usage.input_tokens": attempt.input_tokens,
        "gen_ai.usage.output_tokens": attempt.output_tokens,
        "understudy.cost": attempt.cost,
        "understudy.time_to_first_chunk": attempt.first_chunk,
        "error.type": attempt.error_type,
    }
    span.set_attributes({name: value for name, value in found.items() if value is not None})
    if attempt.error_type is not None:
        span.set_status(Status(StatusCode.ERROR, attempt.message or attempt.error_type))


def _json(value: Any, secrets: list[str]) -> str:
    try:
        return redact(json.dumps(redact_mapping(value, secrets), default=str, ensure_ascii=False), secrets)
    except (TypeError, ValueError):
        return "[unserializable]"
