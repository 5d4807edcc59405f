"""pytest plugin (entry point ``understudy``): the ``fake_provider`` fixture.

::

    def test_falls_back(fake_provider):
        fake_provider.script("gpt-4o-mini", ServerError(503))
        ...  # call litellm with api_base=fake_provider.base_url
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from understudy.testing._provider import FakeProvider

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["fake_provider"]


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A started :class:`~understudy.testing.FakeProvider`, stopped after the test."""
    with FakeProvider() as provider:
        yield provider
