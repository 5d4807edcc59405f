"""understudy: keeps LLM agents working when a model fails.

When a call to a profile's model raises, the next profile its ``FallbackStrategy`` names for that kind of
failure steps in. Importing understudy is cheap: each public name is imported on first use, and litellm only
when a model is called.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    import understudy.events as events
    from understudy.calls.backend import warm_up
    from understudy.calls.llm import LLM
    from understudy.calls.responses import route_of, served_by
    from understudy.calls.restarts import AsyncRestartingStream, RestartingStream, StreamRestart
    from understudy.calls.retry import RetryPolicy
    from understudy.calls.stats import ProfileStats, RouteStats
    from understudy.calls.strategy import FallbackStrategy
    from understudy.calls.streams import AsyncFallbackStream, FallbackStream
    from understudy.errors import (
        Attempt,
        ConfigError,
        FallbackExhaustedError,
        ProfileCoolingDownError,
        ProfileError,
        ProfileNotFoundError,
        ProfileUnfitError,
        RouteConfigError,
        StreamInterruptedError,
        UnderstudyError,
        UnknownExceptionNameError,
    )
    from understudy.health.circuit import HealthStore, MemoryHealth, ProfileHealth
    from understudy.plugins import get_plugin_manager, hookimpl
    from understudy.profiles.health import HealthSettings
    from understudy.profiles.profile import Profile
    from understudy.profiles.retries import RetrySettings
    from understudy.profiles.store import ProfileStore
    from understudy.registry import LLMRegistry, Subscriber
    from understudy.routing.match import MatchRouter
    from understudy.routing.routed import RoutedLLM
    from understudy.routing.routes import RouteDecision, Router
    from understudy.routing.sessions import Stickiness
    from understudy.routing.tiered import Tier, TieredRouter

__version__ = "0.1.0"

# Every public name and the module it comes from. A name is imported on first use (PEP 562), so that
# ``import understudy`` costs next to nothing and a command that only reads profiles never pays for events,
# calls or plugins; ``from understudy import LLMRegistry`` imports what the registry needs, no more.
_EXPORTS: _typing.Final[dict[str, str]] = {
    "warm_up": "understudy.calls.backend",
    "LLM": "understudy.calls.llm",
    "route_of": "understudy.calls.responses",
    "served_by": "understudy.calls.responses",
    "AsyncRestartingStream": "understudy.calls.restarts",
    "RestartingStream": "understudy.calls.restarts",
    "StreamRestart": "understudy.calls.restarts",
    "RetryPolicy": "understudy.calls.retry",
    "ProfileStats": "understudy.calls.stats",
    "RouteStats": "understudy.calls.stats",
    "FallbackStrategy": "understudy.calls.strategy",
    "AsyncFallbackStream": "understudy.calls.streams",
    "FallbackStream": "understudy.calls.streams",
    "Attempt": "understudy.errors",
    "ConfigError": "understudy.errors",
    "FallbackExhaustedError": "understudy.errors",
    "ProfileCoolingDownError": "understudy.errors",
    "ProfileError": "understudy.errors",
    "ProfileNotFoundError": "understudy.errors",
    "ProfileUnfitError": "understudy.errors",
    "RouteConfigError": "understudy.errors",
    "StreamInterruptedError": "understudy.errors",
    "UnderstudyError": "understudy.errors",
    "UnknownExceptionNameError": "understudy.errors",
    "events": "understudy.events",
    "HealthStore": "understudy.health.circuit",
    "MemoryHealth": "understudy.health.circuit",
    "ProfileHealth": "understudy.health.circuit",
    "get_plugin_manager": "understudy.plugins",
    "hookimpl": "understudy.plugins",
    "HealthSettings": "understudy.profiles.health",
    "Profile": "understudy.profiles.profile",
    "RetrySettings": "understudy.profiles.retries",
    "ProfileStore": "understudy.profiles.store",
    "LLMRegistry": "understudy.registry",
    "Subscriber": "understudy.registry",
    "MatchRouter": "understudy.routing.match",
    "RoutedLLM": "understudy.routing.routed",
    "RouteDecision": "understudy.routing.routes",
    "Router": "understudy.routing.routes",
    "Stickiness": "understudy.routing.sessions",
    "Tier": "understudy.routing.tiered",
    "TieredRouter": "understudy.routing.tiered",
}


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'understudy' has no attribute {name!r}")
    value = _importlib.import_module(module) if name == "events" else getattr(_importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "AsyncFallbackStream",
    "AsyncRestartingStream",
    "Attempt",
    "ConfigError",
    "FallbackExhaustedError",
    "FallbackStrategy",
    "FallbackStream",
    "HealthSettings",
    "HealthStore",
    "LLM",
    "LLMRegistry",
    "MatchRouter",
    "MemoryHealth",
    "Profile",
    "ProfileCoolingDownError",
    "ProfileError",
    "ProfileHealth",
    "ProfileNotFoundError",
    "ProfileStats",
    "ProfileStore",
    "ProfileUnfitError",
    "RestartingStream",
    "RetryPolicy",
    "RetrySettings",
    "RouteConfigError",
    "RouteDecision",
    "RouteStats",
    "RoutedLLM",
    "Router",
    "Stickiness",
    "StreamInterruptedError",
    "StreamRestart",
    "Subscriber",
    "Tier",
    "TieredRouter",
    "UnderstudyError",
    "UnknownExceptionNameError",
    "events",
    "get_plugin_manager",
    "hookimpl",
    "route_of",
    "served_by",
    "warm_up",
]
