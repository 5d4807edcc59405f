"""What a call needs from outside: of each profile it tries (``Caller``), and of the registry (``Registry``).

The walk talks to a ``Caller``: build the request, call once (sync or async), price a response. Today that is
``LitellmCall``; another way to reach a model implements the same four methods and the walk does not change.
``Registry`` is what an ``LLM`` and a routed call use of the ``LLMRegistry`` that made them; it is a protocol so
that calls and routing need not import the registry, which sits above them both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable

    import pluggy

    from understudy.calls.llm import LLM
    from understudy.calls.retry import RetryPolicy
    from understudy.calls.stats import ProfileStats, StatsBook
    from understudy.events import Event
    from understudy.failures.names import ExceptionNames
    from understudy.health.circuit import HealthStore
    from understudy.profiles.profile import Profile
    from understudy.profiles.store import ProfileStore

__all__ = ["Caller", "Registry"]


class Caller(Protocol):
    """One profile's model, called once per ``call``: no retries and no fallbacks, those are the walk's."""

    @property
    def profile(self) -> Profile: ...

    @property
    def name(self) -> str: ...

    def request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The arguments of one call: the profile's settings, then the caller's.

        Raises:
            TypeError: the caller passed an argument the profile owns.
            ProfileError: the profile cannot be used (its key variable is not set).
        """
        ...

    def call(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
        """Send ``request`` once; return the response (a stream once its first chunk came) or raise the failure
        as the kind the provider reported. Books the call in the stats."""
        ...

    async def acall(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
        """The async twin of ``call``."""
        ...

    def cannot_serve(self, request: dict[str, Any]) -> str | None:
        """Why the model is known not to serve ``request`` (context window, tools, images, schema), or None."""
        ...

    def cost_of(self, response: Any) -> float | None:
        """The response's cost in USD, or None when unknown."""
        ...


class Registry(Protocol):
    """What calls and routing use of the ``LLMRegistry``."""

    store: ProfileStore
    retry_policy: RetryPolicy
    exception_names: ExceptionNames
    book: StatsBook
    health_store: HealthStore

    @property
    def plugin_manager(self) -> pluggy.PluginManager: ...

    def get(self, name: str) -> LLM: ...

    def stats_of(self, name: str) -> ProfileStats: ...

    def dispatch(self, event: Event) -> list[Awaitable[Any]]: ...
