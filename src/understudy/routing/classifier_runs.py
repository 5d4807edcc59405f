"""A TieredRouter's classifier, run once on a classifier thread: what it answered, or what it raised.

Never an exception in the future itself (``Outcome`` holds it), so nobody has to retrieve one from a future
whose caller stopped waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from understudy.calls.responses import served_by, served_cost
from understudy.redaction import redact
from understudy.usage import ClassifierUsage

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from understudy.calls.protocols import Registry

__all__ = ["Outcome", "ask_profile", "call_function", "describe", "shorten"]

logger = logging.getLogger("understudy")

_REASON_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a classifier did on its worker: an answer, or the error it raised. Never an exception in the
    future itself, so nobody has to retrieve one from a future whose caller stopped waiting."""

    answer: object = None
    error: BaseException | None = None
    usage: ClassifierUsage | None = None


def call_function(
    function: Callable[..., object], context: dict[str, Any], messages: list[Mapping[str, Any]] | None, router: str
) -> Outcome:
    """What ``function`` answers, awaited if it is async; runs on a classifier thread."""
    try:
        answer: object = function(context, messages)
        if inspect.isawaitable(answer):
            answer = asyncio.run(_awaited(answer))  # on a worker thread: no running loop here
    except (Exception, asyncio.CancelledError) as exc:
        # A CancelledError from inside an async classifier must not reach the caller, where it would
        # look like the caller's own task being cancelled.
        logger.warning("router %r: its classifier raised", router, exc_info=True)
        return Outcome(error=exc)
    return Outcome(answer=answer)


def ask_profile(registry: Registry, profile: str, prompt: list[dict[str, str]], router: str) -> Outcome:
    """What the classifier profile answers to ``prompt``; runs on a classifier thread."""
    try:
        response = registry.get(profile).completion(messages=prompt)
        answer = response.choices[0].message.content
    except Exception as exc:
        # The registry's stats and events already hold the provider's failure; one line is enough.
        logger.warning("router %r: classifier profile %r failed: %s", router, profile, describe(exc))
        return Outcome(error=exc)
    answered = served_by(response) or profile
    registry.book.classified(answered)
    return Outcome(answer=answer, usage=_usage(answered, response))


def _usage(profile: str, response: Any) -> ClassifierUsage:
    usage = getattr(response, "usage", None)
    return ClassifierUsage(
        profile=profile,
        prompt_tokens=getattr(usage, "prompt_tokens", None) or 0,
        completion_tokens=getattr(usage, "completion_tokens", None) or 0,
        cost=served_cost(response),
    )


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {shorten(redact(' '.join(str(error).split())))}"


def shorten(text: str) -> str:
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."
