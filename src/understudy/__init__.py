"""understudy: keeps LLM agents working when a model fails.

When a call to a profile's model raises, the next profile its ``FallbackStrategy`` names for that kind of
failure steps in. Importing understudy is cheap: litellm is imported only when a model is called.
"""

from __future__ import annotations

from understudy import events
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
