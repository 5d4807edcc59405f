"""What a call to a profile does when it raises an error: the profiles it tries, in order, as data and words.

``understudy explain NAME --error ERROR`` shows it from the profile files. ``LLMRegistry.explain(name,
error)`` shows the same for a live registry, with each profile's health memory: a profile cooling down is
one a call would skip now, without a request.
"""

from __future__ import annotations

import datetime
import os
from typing import TYPE_CHECKING, Any

from understudy.calls.retry import is_transient_name, retries_for_name
from understudy.errors import ProfileError, ProfileNotFoundError
from understudy.failures.names import WILDCARD
from understudy.redaction import redact

if TYPE_CHECKING:
    from understudy.calls.strategy import FallbackStrategy
    from understudy.failures.names import ExceptionNames
    from understudy.health.circuit import ProfileHealth
    from understudy.profiles.profile import Profile
    from understudy.profiles.store import ProfileStore

__all__ = ["Explanation", "explanation"]


class Explanation(dict[str, Any]):
    """The chain a call walks, as ``understudy explain --json`` gives it; ``str()`` gives it in words::

    {"profile": {"name", "model", "source"}, "error": "RateLimitError", "transient": true | false | null,
     "matched": "RateLimitError" | "*" | null, "propagates": true | false, "reason": "...",
     "chain": [{"position", "name", "role", "status", "model", "retries", "skipped", "detail", "health"}]}

    ``health`` is None where it is not known (the command line), else ``{"state", "recent_failures",
    "until", "opened_by", "reason"}`` as ``registry.health()`` has it.
    """

    def __str__(self) -> str:
        profile, error = self["profile"], self["error"]
        what = "a provider error its fallbacks table does not name ('*')" if error == WILDCARD else error
        lines = [f"When profile {profile['name']!r} ({profile['source']}) raises {what}:"]
        primary, *fallbacks = self["chain"]
        lines.append(f"  1. {primary['name']}: {primary['detail']}")
        if self["propagates"]:
            lines.append(f"  then {self['reason']}")
            return "\n".join(lines)
        lines.append(f"  then, {self['reason']}:")
        lines += [f"  {step['position']}. {step['name']}: {step['detail']}" for step in fallbacks]
        lines.append("  Each is tried until one answers; if all fail, the call raises FallbackExhaustedError.")
        return "\n".join(lines)


def explanation(
    store: ProfileStore,
    profile: Profile,
    error: str,
    *,
    strategy: FallbackStrategy,
    names: ExceptionNames,
    health: dict[str, ProfileHealth] | None = None,
) -> Explanation:
    """What a call to ``profile`` does when it raises ``error`` (a registered exception name, or ``"*"``).

    ``health``: ``registry.health()``, to say which profiles a call would skip now; None when unknown.

    Raises:
        UnknownExceptionNameError: ``error`` is not a registered name.
        ImportError: the class registered for ``error`` cannot be imported.
    """
    names.check(error)
    if error == WILDCARD:
        chain = strategy.entries.get(WILDCARD)
        matched, transient = (WILDCARD if chain is not None else None), None
    else:  # by name: the hierarchy is read from litellm's source, so this answers without importing litellm
        matched, chain = strategy.match_name(error)
        transient = is_transient_name(error, names)
    retried = retries_for_name(error, profile, names) if transient else (0, None)
    steps = [_primary(profile, error, transient, retried)]
    steps += [
        {"position": position, "name": name, "role": "fallback", **_fallback(store, name)}
        for position, name in enumerate(chain or (), 2)
    ]
    if health is not None:
        for step in steps:
            _add_health(step, health.get(step["name"]))
    return Explanation(
        profile={"name": profile.name, "model": profile.model, "source": _display(profile)},
        error=error,
        transient=transient,
        matched=matched,
        propagates=not chain,
        reason=_match_reason(error, matched) if chain else _no_fallback_reason(error, matched),
        chain=steps,
    )


def _primary(profile: Profile, error: str, transient: bool | None, retried: tuple[int, str | None]) -> dict[str, Any]:
    detail = f"primary, {profile.model}"
    count, kind = retried
    if transient and count and count == profile.num_retries:
        detail += f"; retried up to {_times(count)} ({error} is transient)"
    elif transient and count:
        detail += f"; retried up to {_times(count)} ({error} is transient; [retries] {kind} = {count})"
    elif transient and profile.num_retries:
        detail += f"; not retried ([retries] {kind} = 0, though {error} is transient)"
    elif transient:
        detail += f"; not retried (num_retries = 0, though {error} is transient)"
    elif transient is False:
        detail += f"; not retried ({error} is not transient: the same request fails the same way)"
    retries = None if transient is None else count
    return {
        "position": 1,
        "name": profile.name,
        "role": "primary",
        "status": "ok",
        "model": profile.model,
        "retries": retries,
        "skipped": False,
        "detail": detail,
        "health": None,
    }


def _fallback(store: ProfileStore, name: str) -> dict[str, Any]:
    """A fallback's status (``ok``, ``not_found``, ``invalid`` or ``key_not_set``), its model and retries,
    whether a call would skip it, and all that in words (``detail``)."""
    try:
        profile = store.load(name)
    except ProfileNotFoundError as exc:
        close = f" (did you mean {', '.join(repr(c) for c in exc.close_matches)}?)" if exc.close_matches else ""
        detail = f"not found{close}; the call would skip it"
        return {
            "status": "not_found",
            "model": None,
            "retries": None,
            "skipped": True,
            "detail": detail,
            "health": None,
        }
    except ProfileError as exc:
        message = str(exc).removeprefix(f"{exc.path}: ") if exc.path is not None else str(exc)
        detail = f"invalid, the call would skip it: {redact(message)}"
        return {"status": "invalid", "model": None, "retries": None, "skipped": True, "detail": detail, "health": None}
    status = {"status": "ok", "model": profile.model, "retries": profile.num_retries, "skipped": False}
    detail = f"ok, {profile.model}"
    if profile.num_retries:
        detail += f"; retried up to {_times(profile.num_retries)} on transient errors"
    if profile.api_key_env and not os.environ.get(profile.api_key_env):
        detail += f"; but {profile.api_key_env} is not set, so the call would skip it"
        status.update(status="key_not_set", skipped=True)
    return {**status, "detail": detail, "health": None}


def _unloaded(status: str, detail: str) -> dict[str, Any]:
    return {"status": status, "model": None, "retries": None, "skipped": True, "detail": detail, "health": None}


def _add_health(step: dict[str, Any], shown: ProfileHealth | None) -> None:
    """What health memory says of the step's profile now, in its ``health`` and ``detail``."""
    if step["status"] not in ("ok", "key_not_set"):
        return  # never loaded, so never called: no health to speak of
    if shown is None:
        step["health"] = {"state": "healthy", "recent_failures": 0, "until": None, "opened_by": None, "reason": ""}
        return
    step["health"] = {
        "state": shown.state,
        "recent_failures": shown.recent_failures,
        "until": shown.until,
        "opened_by": shown.opened_by,
        "reason": shown.reason,
    }
    if shown.state == "cooling_down":
        until = datetime.datetime.fromtimestamp(shown.until or 0).strftime("%H:%M:%S")
        then = f" and go to the fallbacks named for {shown.opened_by}" if step["role"] == "primary" else ""
        step["detail"] += f"; cooling down until {until} ({shown.opened_by}), so the call would skip it{then}"
        step["skipped"] = True
    elif shown.state == "half_open":
        step["detail"] += f"; recovering: {shown.reason}"
    else:
        step["detail"] += f"; healthy, {shown.recent_failures} recent failure(s)"


def _display(profile: Profile) -> str:
    return str(profile.source) if profile.source is not None else "(from a plugin)"


def _times(count: int) -> str:
    return f"{count} time{'s' if count != 1 else ''}"


def _match_reason(error: str, matched: str | None) -> str:
    if matched == WILDCARD and error != WILDCARD:
        return f"as fallbacks['*'] says (no entry names {error} or a base class of it)"
    if matched is not None and matched != error:
        return f"as fallbacks[{matched!r}] says ({error} is a kind of {matched})"
    return f"as fallbacks[{matched!r}] says"


def _no_fallback_reason(error: str, matched: str | None) -> str:
    if matched is None and error == WILDCARD:
        return "the error propagates unchanged: the fallbacks table has no '*' entry"
    if matched is None:
        return f"the error propagates unchanged: no fallbacks entry names {error}, a base class of it, or '*'"
    via = f" ({error} is a kind of {matched})" if matched not in (error, WILDCARD) else ""
    return f"the error propagates unchanged: fallbacks[{matched!r}] is an empty list{via}, which stops the walk"
