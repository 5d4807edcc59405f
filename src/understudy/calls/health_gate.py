"""The walk's side of health memory: ask the store before a profile is called, tell it how each attempt went.

The store may be shared (another process, a server), so nothing it does may break a call: a store that
raises is logged and treated as "healthy, nothing recorded". A timeout of an attempt whose timeout the call's
deadline cut short says nothing about the model and is not counted, nor is any failure of an attempt the
deadline left less than a tenth of a second.

A stream's verdict waits for its end (``StreamVerdict``): a stream that opened and then broke is the
provider's failure, and counting its first chunk as an answer would keep a provider whose every stream
breaks healthy for ever.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from understudy.calls.retry import retry_after
from understudy.calls.scopes import failure_scope
from understudy.failures.kinds import stream_cut
from understudy.health.circuit import Failure, Verdict

if TYPE_CHECKING:
    from understudy.calls.protocols import Caller
    from understudy.calls.strategy import FallbackStrategy
    from understudy.failures.names import ExceptionNames
    from understudy.health.circuit import HealthStore

__all__ = ["HealthGate", "StreamVerdict"]

logger = logging.getLogger("understudy")

_ALLOWED = Verdict(True)
_TOO_SHORT = 0.1  # seconds: an attempt the deadline left this little proves nothing about the model


class HealthGate:
    """One call's questions to a ``HealthStore`` (or to none: then every profile is healthy)."""

    def __init__(self, store: HealthStore | None, strategy: FallbackStrategy, names: ExceptionNames) -> None:
        self.store = store
        self.strategy = strategy
        self.names = names

    def check(self, caller: Caller) -> Verdict:
        if self.store is None:
            return _ALLOWED
        try:
            return self.store.check(caller.name, caller.profile.health)
        except Exception:
            logger.warning("understudy: the health store failed; calling %r as if healthy", caller.name, exc_info=True)
            return _ALLOWED

    def failed(self, caller: Caller, error: Exception, probe: int | None, *, capped_to: float | None) -> None:
        """Count a failed attempt against the profile if it is the model's fault; else free its probe.

        ``capped_to``: the timeout the call's deadline cut the attempt to, if it did.
        """
        if self.store is None:
            return
        settings = caller.profile.health
        timed_out = any(c.__name__ in ("Timeout", "TimeoutError") for c in type(error).__mro__)
        cut_short = capped_to is not None and (timed_out or capped_to < _TOO_SHORT)
        model_scoped = self.strategy.is_provider_error(error) and failure_scope(error, self.names, settings) == "model"
        if cut_short or not model_scoped:
            self.released(caller, probe)
            return
        status = getattr(error, "status_code", None)
        status_code = status if isinstance(status, int) else None
        failure = Failure(type(error).__name__, type(error), status_code, retry_after(error))
        self._safely("failed", caller.name, settings, failure, probe=probe)

    def succeeded(self, caller: Caller, probe: int | None) -> None:
        if self.store is not None:
            self._safely("succeeded", caller.name, probe=probe)

    def released(self, caller: Caller, probe: int | None) -> None:
        if self.store is not None and probe is not None:
            self._safely("released", caller.name, probe)

    def stream_verdict(self, caller: Caller, probe: int | None) -> StreamVerdict:
        """What a stream that opened reports when it ends; until then its probe (if it is one) stays out."""
        return StreamVerdict(self, caller, probe)

    def _safely(self, method: str, *args: object, **kwargs: object) -> None:
        try:
            getattr(self.store, method)(*args, **kwargs)
        except Exception:
            logger.warning("understudy: the health store failed to record %s; the call goes on", method, exc_info=True)


class StreamVerdict:
    """A served stream's health verdict, given once: whole, broken by the provider, or closed by its caller."""

    def __init__(self, gate: HealthGate, caller: Caller, probe: int | None) -> None:
        self._gate: HealthGate | None = gate
        self._caller = caller
        self._probe = probe

    def whole(self) -> None:
        if (gate := self._take()) is not None:
            gate.succeeded(self._caller, self._probe)

    def broken(self, cause: Exception) -> None:
        """The provider cut the stream (it broke, stalled, sent garbage or stopped short): counted as its cause,
        or as the timeout or lost connection it amounts to."""
        if (gate := self._take()) is not None:
            gate.failed(self._caller, stream_cut(cause, self._caller.profile.model), self._probe, capped_to=None)

    def dropped(self) -> None:
        """The caller stopped reading first: no verdict on the model."""
        if (gate := self._take()) is not None:
            gate.released(self._caller, self._probe)

    def _take(self) -> HealthGate | None:
        gate, self._gate = self._gate, None
        return gate
