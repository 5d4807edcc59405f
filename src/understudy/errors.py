"""Every error understudy raises, in one tree.

::

    UnderstudyError
    ├── ConfigError                  something a user wrote is wrong; fix the file or the call
    │   ├── ProfileError             a profile file is invalid (names the file, the field, the fix)
    │   │   └── ProfileNotFoundError no profile of that name on the search path
    │   ├── UnknownExceptionNameError a fallback table names an exception nobody registered
    │   └── RouteConfigError         a router's configuration is invalid (names the file and the route)
    ├── FallbackExhaustedError       every profile of a call failed; also an ExceptionGroup
    ├── ProfileCoolingDownError      a profile was skipped: it is cooling down after repeated failures
    ├── ProfileUnfitError            a fallback was skipped: its model is known not to serve the request
    └── StreamInterruptedError       a stream failed after sending chunks; no other model may continue it

Configuration mistakes and provider failures never share a class: ``except ConfigError`` catches what a
person must fix, ``except FallbackExhaustedError`` what the providers did. Provider errors themselves are
litellm's and pass through unchanged when a call does not fall back.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

__all__ = [
    "Attempt",
    "ConfigError",
    "FallbackExhaustedError",
    "ProfileCoolingDownError",
    "ProfileError",
    "ProfileNotFoundError",
    "RouterFileError",
    "ProfileUnfitError",
    "RouteConfigError",
    "StreamInterruptedError",
    "UnderstudyError",
    "UnknownExceptionNameError",
    "UsageLogVersionError",
]


class UnderstudyError(Exception):
    """Base of every error understudy raises itself."""


class ConfigError(UnderstudyError):
    """Something a user wrote (a profile, a strategy, an argument) is wrong."""


class UsageLogVersionError(ConfigError):
    """A usage log (``understudy.observability.usage_log``) was written by a newer understudy; it is left as it is.

    Attributes:
        path: the file.
        version: its schema version, past the newest this understudy knows.
    """

    def __init__(self, message: str, *, path: Path, version: int) -> None:
        super().__init__(message)
        self.path = path
        self.version = version


class ProfileError(ConfigError):
    """A profile could not be read or is invalid.

    Attributes:
        profile: the profile name.
        path: the file, when there is one.
        field: the offending field, when one is to blame.
        reason: what is wrong and how to fix it, without the file and field prefix.
    """

    def __init__(
        self,
        message: str,
        *,
        profile: str | None = None,
        path: Path | None = None,
        field: str | None = None,
    ) -> None:
        self.profile = profile
        self.path = path
        self.field = field
        self.reason = message
        where = str(path) if path is not None else f"profile {profile!r}" if profile else ""
        if field:
            where = f"{where}: field {field!r}" if where else f"field {field!r}"
        super().__init__(f"{where}: {message}" if where else message)


class RouterFileError(ProfileError):
    """A file among the profiles is a router file (``kind = "tiered"`` or ``"match"``), not a profile.

    Attributes:
        kind: ``"tiered"`` or ``"match"``.
    """

    def __init__(self, kind: str, *, profile: str, path: Path) -> None:
        reader = "TieredRouter" if kind == "tiered" else "MatchRouter"
        super().__init__(
            f'is a router file (kind = "{kind}"), not a profile; {reader}.from_file reads it, and understudy check '
            "checks it as a router",
            profile=profile,
            path=path,
            field="kind",
        )
        self.kind = kind


class ProfileNotFoundError(ProfileError):
    """No profile of that name exists on the search path."""

    def __init__(self, name: str, searched: Sequence[Path], close: Sequence[str] = ()) -> None:
        self.searched = tuple(searched)
        self.close_matches = tuple(close)
        dirs = ", ".join(str(p) for p in searched) or "(no directories)"
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(
            f"no profile named {name!r}; searched {dirs}.{hint} Create {name}.toml in one of them "
            "or set UNDERSTUDY_PROFILES_PATH.",
            profile=name,
        )


class UnknownExceptionNameError(ConfigError):
    """A fallback table names an exception that no plugin registered."""

    def __init__(self, name: str, known: Iterable[str], *, note: str | None = None) -> None:
        self.name = name
        names = sorted(set(known) - {"*"})
        short = name.rpartition(".")[2].rpartition(":")[2]
        if note is not None:
            super().__init__(f"unknown exception name {name!r}: {note}")
            return
        if short != name and short in names:
            hint = f" Dotted paths are never imported; write the short name {short!r}."
        else:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"unknown exception name {name!r}.{hint} Use '*' or one of: {', '.join(names)}. "
            "A plugin can register more names through the understudy_exception_names hook."
        )


class RouteConfigError(ConfigError):
    """A router's configuration is invalid.

    Attributes:
        path: the file, when there is one.
        where: the place in it, e.g. ``"routes[2].match.platform"``.
    """

    def __init__(self, message: str, *, path: Path | None = None, where: str | None = None) -> None:
        self.path = path
        self.where = where
        self.reason = message
        prefix = ": ".join(str(part) for part in (path, where) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step of a call: one try of a profile, or a profile that could not be used.

    Attributes:
        profile: the profile name.
        error: what it raised (for a load failure, the ``ProfileError``).
        message: the error's text with secrets redacted; safe to log.
        duration: seconds spent on it.
        loaded: False when the profile could not be loaded or configured, so no model was called.
    """

    profile: str
    error: Exception
    message: str
    duration: float
    loaded: bool = True

    @property
    def error_type(self) -> str:
        return type(self.error).__name__


class FallbackExhaustedError(UnderstudyError, ExceptionGroup[Exception]):
    """Every profile a call could reach failed.

    It is an ``ExceptionGroup`` of every error in order, so ``except* RateLimitError`` sees the original
    provider errors, and a plain ``except FallbackExhaustedError`` (or ``except Exception``) catches it
    whole. Its ``__cause__`` is the last model error (a profile that could not be loaded raised none).

    Attributes:
        attempts: every step in order, load failures included (``Attempt.loaded`` is False for those).
        primary: the profile the call started with.
        stopped: why the call's budget ended it before its chain did (its deadline, its max_attempts), if so.
    """

    attempts: tuple[Attempt, ...]
    primary: str
    stopped: str | None

    def __new__(
        cls, primary: str, attempts: Sequence[Attempt], message: str | None = None, *, stopped: str | None = None
    ) -> Self:
        errors = [a.error for a in attempts]
        if message is None and stopped is not None:
            message = (
                f"the call to {primary!r} stopped because {stopped} (to allow more, raise deadline= or max_attempts= "
                f"on the call, or in profile {primary!r}): {_summary(attempts)}"
            )
        elif message is None:
            message = f"every profile failed for a call to {primary!r}: {_summary(attempts)}"
        self = super().__new__(cls, message, errors)
        self.attempts = tuple(attempts)
        self.primary = primary
        self.stopped = stopped
        return self

    def __init__(
        self, primary: str, attempts: Sequence[Attempt], message: str | None = None, *, stopped: str | None = None
    ) -> None:
        super().__init__(self.message, list(self.exceptions))

    def derive(self, excs: Sequence[Exception]) -> FallbackExhaustedError:  # type: ignore[override]
        # except* splits the group and re-raises what no clause handled: keep that part a
        # FallbackExhaustedError, with the attempts it still holds, so outer handlers still catch it.
        kept = [a for a in self.attempts if any(a.error is e for e in excs)]
        return FallbackExhaustedError(self.primary, kept, self.message, stopped=self.stopped)


class StreamInterruptedError(UnderstudyError):
    """A streaming call failed after it had sent chunks to the caller.

    understudy falls back when a stream fails before its first chunk. After that, by default
    (``on_interrupt = "raise"``), the call stops here: another model's answer would be glued onto a partial
    one. ``"restart"`` and ``"continue"`` go on on a fallback instead (``understudy.calls.restarts``).
    A stream that breaks, stalls past its ``stall_timeout``, sends a chunk that is not JSON, or ends with
    neither a finish reason nor ``[DONE]`` is interrupted, never a normal end. The provider's error is the
    ``__cause__``.

    Attributes:
        profile: the profile whose stream broke.
        chunks: how many chunks the caller had received.
        text: the answer's text so far (what the caller received).
        tool_calls: the tool calls so far, each ``{"id", "name", "arguments"}``; the last may be cut off.
        usage: the provider's usage, if it reported any before the break (most send it only at the end).
    """

    def __init__(
        self,
        profile: str,
        chunks: int,
        error: BaseException,
        *,
        text: str = "",
        tool_calls: list[dict[str, str]] | None = None,
        usage: Any = None,
    ) -> None:
        self.profile = profile
        self.chunks = chunks
        self.text = text
        self.tool_calls = tool_calls or []
        self.usage = usage
        super().__init__(
            f"the stream from profile {profile!r} failed after {chunks} chunk(s) ({type(error).__name__}); "
            'the answer is incomplete. Call again, or set on_interrupt = "restart" or "continue" to go on '
            "on a fallback."
        )


class ProfileCoolingDownError(UnderstudyError):
    """A profile was skipped without sending a request: it is cooling down after repeated failures.

    Attributes:
        profile: the profile skipped.
        until: wall-clock time (``time.time()``) its cooldown ends; None while another call probes it.
        opened_by: the error type that made it cool down.
        status_code: that error's HTTP status, if it had one (so an SDK maps this skip as it would the error).
    """

    def __init__(
        self,
        profile: str,
        reason: str,
        *,
        until: float | None,
        opened_by: str | None,
        status_code: int | None,
        opened_by_class: type[BaseException] | None = None,
    ) -> None:
        self.profile = profile
        self.until = until
        self.opened_by = opened_by
        self.status_code = status_code
        self.opened_by_class = opened_by_class  # picks the fallbacks of a skipped primary
        when = f" (until {datetime.fromtimestamp(until, UTC).isoformat(timespec='seconds')})" if until else ""
        self.reason = f"{reason}{when}"
        super().__init__(f"profile {profile!r} skipped, {self.reason}")


class ProfileUnfitError(UnderstudyError):
    """A fallback was skipped without a request: its model is known not to serve this request.

    Attributes:
        profile: the profile skipped.
        reason: why (the prompt does not fit its context window, tools, images or a JSON schema it does not take).
    """

    def __init__(self, profile: str, reason: str) -> None:
        self.profile = profile
        self.reason = reason
        super().__init__(f"profile {profile!r} skipped: {reason}")


def _summary(attempts: Sequence[Attempt]) -> str:
    """One clause per profile, in the order they were tried: its last error and how many tries."""
    by_profile: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_profile.setdefault(attempt.profile, []).append(attempt)
    clauses = []
    for profile, tries in by_profile.items():
        last = tries[-1]
        skipped = isinstance(last.error, ProfileCoolingDownError | ProfileUnfitError)
        what = last.error_type if last.loaded or skipped else f"not loaded, {last.error_type}"
        times = f" x{len(tries)}" if len(tries) > 1 else ""
        text = " ".join(last.message.split())
        if len(text) > 160:
            text = text[:157] + "..."
        clauses.append(f"{profile}: {what}{times}" + (f" ({text})" if text else ""))
    return "; ".join(clauses)
