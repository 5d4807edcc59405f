"""Whose fault a failure is: the model's (it counts against the profile's health) or the request's (it does not).

*Model-scoped* failures say the model or its provider is unwell right now: rate limits, 5xx, timeouts and
connection errors (``TRANSIENT_ERRORS`` and ``TRANSIENT_STATUS``, the same rule as retries). *Request-scoped*
ones say this request was wrong for this model: context too long, content policy, bad request, an unsupported
parameter. Another request would do fine, so they never make a profile cool down. A profile's
``[health]`` table moves exception names either way (``model_scoped``, ``request_scoped``), matched against
the error's class and every class above it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from understudy.calls.retry import is_transient
from understudy.failures.kinds import is_caller_error

if TYPE_CHECKING:
    from understudy.failures.names import ExceptionNames
    from understudy.profiles.health import HealthSettings

__all__ = ["Scope", "failure_scope"]

Scope = Literal["model", "request"]


def failure_scope(error: BaseException, names: ExceptionNames, settings: HealthSettings) -> Scope:
    """``"model"`` when ``error`` counts against the profile's health, ``"request"`` when it does not."""
    lineage = {cls.__name__ for cls in type(error).__mro__}
    if is_caller_error(error) or lineage.intersection(settings.request_scoped):
        return "request"
    if lineage.intersection(settings.model_scoped) or is_transient(error, names):
        return "model"
    return "request"
