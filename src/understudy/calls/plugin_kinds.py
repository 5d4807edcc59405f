"""Failure kinds a plugin names: the ``understudy_classify`` hook, for errors litellm maps poorly.

understudy reads the kind of a failure from what the provider sent (``understudy.failures.kinds``). A
provider with its own dialect (a quota error spelled as a 400, a context-length message no rule knows, an
error hidden in a 200 body) is taught through the hook: it names one of litellm's exception classes, and
the error is raised as that class, chained to the original, so the fallbacks table answers it by that name.
A plugin that raises, or names a class litellm does not have, is logged and passed over.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from understudy.failures.kinds import as_kind

if TYPE_CHECKING:
    import pluggy

    from understudy.profiles.profile import Profile

__all__ = ["plugin_kind"]

logger = logging.getLogger("understudy")


def plugin_kind(
    plugin_manager: pluggy.PluginManager | None, profile: Profile, *, error: Exception | None, response: Any = None
) -> Exception | None:
    """The error a plugin says ``error`` (or the 200 ``response``) is, or None when no plugin has a say."""
    if plugin_manager is None:
        return None
    hook = plugin_manager.hook.understudy_classify
    if not hook.get_hookimpls():  # the common case costs one list lookup
        return None
    try:
        kind = hook(error=error, response=response, profile=profile)
    except Exception:
        logger.warning("an understudy_classify plugin raised; the failure keeps its kind", exc_info=True)
        return None
    if kind is None:
        return None
    if not isinstance(kind, str):
        logger.warning("understudy_classify returned %r; it must name a litellm exception class", kind)
        return None
    message = f"a plugin classified the answer of profile {profile.name!r} as {kind}"
    built = as_kind(error, kind, model=profile.model, message=message)
    if built is None:
        logger.warning("understudy_classify named %r, which litellm has no exception class for", kind)
    return built
