"""How a profile's model is called: through litellm (the default), or directly (``understudy.calls.direct_call``).

A profile's ``transport`` decides. A profile that sets none goes through litellm, unless the
``UNDERSTUDY_TRANSPORT`` environment variable is ``direct``: then every ``openai/`` profile without an
``api_version`` goes direct, and every other profile through litellm.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from understudy.calls.litellm_call import LitellmCall

if TYPE_CHECKING:
    import pluggy

    from understudy.calls.stats import StatsBook
    from understudy.profiles.profile import Profile

__all__ = ["TRANSPORT_ENV", "caller_for", "goes_direct"]

TRANSPORT_ENV: Final = "UNDERSTUDY_TRANSPORT"


def caller_for(profile: Profile, book: StatsBook, plugin_manager: pluggy.PluginManager | None) -> LitellmCall:
    """The caller for ``profile``: a ``DirectCall`` when it goes direct, else a ``LitellmCall``."""
    if goes_direct(profile):
        from understudy.calls.direct_call import DirectCall  # imports httpx: only when a profile goes direct

        return DirectCall(profile, book, plugin_manager)
    return LitellmCall(profile, book, plugin_manager)


def goes_direct(profile: Profile) -> bool:
    """True when ``profile``'s calls skip litellm."""
    if profile.transport is not None:
        return profile.transport == "direct"
    chosen = os.environ.get(TRANSPORT_ENV, "").strip().lower()
    return chosen == "direct" and profile.model.startswith("openai/") and profile.api_version is None
