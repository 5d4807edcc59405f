"""What the fallback walk asks a driver to do: call a profile once, sleep, or emit an event.

The walk (``understudy.calls.walk``) yields these and performs no I/O; the drivers (``understudy.calls.drivers``)
carry each out, blocking or awaiting, and send back the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from understudy.calls.protocols import Caller
    from understudy.events import Event

__all__ = ["Action", "Call", "Emit", "Sleep"]


@dataclass(frozen=True, slots=True)
class Call:
    """Call ``caller`` once with ``request``; send back its response or throw its exception."""

    caller: Caller
    request: dict[str, Any] = field(repr=False)  # holds the key
    as_fallback: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds before the walk goes on."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Emit:
    """Send ``event`` to the plugins and subscribers."""

    event: Event


Action = Call | Sleep | Emit
