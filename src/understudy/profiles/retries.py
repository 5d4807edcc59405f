"""A profile's ``[retries]`` table: how its ``num_retries`` are spent, per kind of failure."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RetrySettings"]

_Count = Annotated[int, Field(ge=0, le=10)]


class RetrySettings(BaseModel):
    """The most retries of one profile in one call for each kind of failure, within ``num_retries``.

    The defaults spend retries where the same provider usually answers (docs/resilience.md has the reasons):

    Attributes:
        rate_limit: a 429, or any answer that says when to come back (``Retry-After``). None (the default):
            all of ``num_retries``; a wait the provider asked for is honoured when it fits.
        server_error: a 5xx (500, 502, 503, 529): once, since a one-off failure is usually followed by an answer.
        connection: a connection refused, reset or dropped: once, for the same reason.
        timeout: a timeout (and a 408 or 504, a gateway that waited out the same silence): never, since
            waiting out the same silence again is the costliest mistake; the call hops on at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit: _Count | None = None
    server_error: _Count = 1
    connection: _Count = 1
    timeout: _Count = 0
