"""What every router shares: the decision it returns and the protocol it implements.

A router chooses the *primary* profile of a call from a context (and, for classifier-driven routers, the
messages). The fallback strategy still applies after it: routing never replaces fallback, and a router that
raises never blocks a call (the call goes to the router's default profile).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from understudy.usage import ClassifierUsage

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["RouteDecision", "Router"]


class RouteDecision(BaseModel):
    """Which profile a call starts with, and why.

    Attributes:
        profile: the primary profile for this call.
        route: which rule chose it (``"routes[1]"``, ``"tier:complex"`` ...); None when the default was used.
        router: the router's name, for events and stats.
        overrides: profile fields this route changes for the call (``temperature`` ...); empty values never
            overwrite.
        fallbacks: a fallbacks table that replaces the profile's for this call; None keeps the profile's.
        reason: one human line: what matched, or why the default was used.
        error: set when the router fell back to its default because something failed (a classifier timed
            out or raised); the routed LLM then emits ``RoutingFailed`` with it. Such a decision never
            re-anchors a sticky session.
        candidates: the profiles the rule that decided considers fit for the request (a tier's), best first;
            with a switch cost, a session keeps its incumbent only while it is one of them. Empty: any.
        classifier: what the classifier profile spent on this decision, booked to the routed call (its
            ``RouteChosen`` event and its route's stats) apart from the profile's serving calls.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: str
    route: str | None = None
    router: str = "router"
    overrides: dict[str, Any] = Field(default_factory=dict)
    fallbacks: dict[str, list[str]] | None = None
    reason: str = ""
    error: str | None = None
    candidates: tuple[str, ...] = ()
    classifier: ClassifierUsage | None = None


@runtime_checkable
class Router(Protocol):
    """Anything that chooses a primary profile. ``MatchRouter`` and ``TieredRouter`` are the built-in ones.

    Attributes:
        name: shown in events and stats.
        default: the profile used when nothing matches, and when routing itself fails.
    """

    name: str

    @property
    def default(self) -> str: ...

    def select(
        self, context: Mapping[str, Any], *, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> RouteDecision:
        """Choose the primary profile for a call. May raise: the caller then uses ``default``."""
        ...

    def profiles(self) -> list[str]:
        """Every profile this router can choose or name as a fallback, for ``understudy check``."""
        ...
