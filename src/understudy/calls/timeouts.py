"""An attempt's timeouts: connecting, waiting for the answer to start, and the gaps inside a stream.

litellm takes one ``timeout``; its HTTP clients apply it to connecting and to every read, so a provider that
accepts a connection, or sends its headers, and then says nothing holds the attempt for all of it (600 s when
none is set). A profile can set the three apart:

- ``connect_timeout``: establishing the connection.
- ``first_token_timeout``: until a plain call's answer arrives, or a stream's first chunk.
- ``stall_timeout``: the longest gap between a stream's chunks once it started.

They reach litellm as one ``httpx.Timeout`` whose read timeout is the first-token timeout on a plain call and
the longer of the two on a stream. On an async stream understudy also times the first chunk and each gap
itself, so each is held exactly; a sync stream is bounded by the longer of the two (a blocked read in a
thread cannot be cut short from outside).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from understudy.profiles.profile import Profile

__all__ = ["transport_timeout"]


def transport_timeout(profile: Profile, request: dict[str, Any]) -> Any:
    """The ``timeout`` to send for ``request``: the profile's three limits as an ``httpx.Timeout``, or the
    request's own ``timeout`` when the profile sets none of them (or the caller passed an ``httpx.Timeout``)."""
    total = request.get("timeout")
    if profile.connect_timeout is None and profile.first_token_timeout is None and profile.stall_timeout is None:
        return total
    if total is not None and not isinstance(total, int | float):
        return total  # the caller's own httpx.Timeout
    import httpx  # litellm's own HTTP client: imported by the time a call is made

    overall = float(total) if total is not None else None
    if request.get("stream"):
        reads = [t for t in (profile.first_token_timeout, profile.stall_timeout) if t is not None]
        read = max(reads) if reads else overall
    else:
        read = profile.first_token_timeout if profile.first_token_timeout is not None else overall
    connect = profile.connect_timeout if profile.connect_timeout is not None else overall
    default = overall if overall is not None else 600.0  # litellm's default, for writes and the pool
    return httpx.Timeout(default, connect=connect or default, read=read or default)
