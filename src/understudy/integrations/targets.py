"""What a model name reaches through an integration: a profile, or a router file (``understudy/auto``).

A router by name routes each call as ``LLMRegistry.routed(name)`` does. The caller may give it a context and
a session through the request's metadata, the one field every SDK passes along::

    litellm.completion(model="understudy/auto", messages=..., metadata={
        "understudy_session": "conversation-42",            # for the router file's `stickiness`
        "understudy_context": {"platform": "discord"},      # what a match router matches on
    })

The openai client's ``metadata`` takes strings only: there ``understudy_context`` is a JSON object in a string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from understudy.calls.llm import LLM
from understudy.calls.restarts import seamless
from understudy.errors import ConfigError

if TYPE_CHECKING:
    from understudy.profiles.profile import Profile
    from understudy.routing.routed import RoutedLLM

__all__ = ["CONTEXT_KEY", "SESSION_KEY", "prepared", "profile_of", "routing_arguments"]

SESSION_KEY: Final = "understudy_session"
CONTEXT_KEY: Final = "understudy_context"


def profile_of(target: LLM | RoutedLLM) -> Profile | None:
    """The profile a name reached; None for a router, whose profile is chosen per call."""
    return target.profile if isinstance(target, LLM) else None


def prepared(target: LLM | RoutedLLM, call: dict[str, Any]) -> dict[str, Any]:
    """``call`` (a request body's arguments) as ``target.completion`` takes them: a stream made ``seamless``,
    and for a router, the context and session taken out of ``metadata`` (the rest of it stays)."""
    call = seamless(call, profile_of(target))
    if isinstance(target, LLM):
        return call
    metadata = call.pop("metadata", None)
    if isinstance(metadata, Mapping):
        rest = {key: value for key, value in metadata.items() if key not in (SESSION_KEY, CONTEXT_KEY)}
        if rest:
            call["metadata"] = rest
    return {**call, **routing_arguments(metadata)}


def routing_arguments(metadata: Any) -> dict[str, Any]:
    """``context`` and ``session`` for ``RoutedLLM.completion``, from a request's metadata (empty without).

    Raises:
        ConfigError: ``understudy_context`` is not an object (or a JSON object in a string), or
            ``understudy_session`` is not a string.
    """
    if not isinstance(metadata, Mapping):
        return {}
    found: dict[str, Any] = {}
    session = metadata.get(SESSION_KEY)
    if session is not None:
        if not isinstance(session, str):
            raise ConfigError(f"metadata.{SESSION_KEY} must be a string, not {type(session).__name__}")
        found["session"] = session
    context = metadata.get(CONTEXT_KEY)
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except json.JSONDecodeError:
            context = None if not context.strip() else context
    if context is not None:
        if not isinstance(context, Mapping):
            raise ConfigError(f"metadata.{CONTEXT_KEY} must be an object (or a JSON object in a string)")
        found["context"] = dict(context)
    return found
