"""litellm, imported once on first use and set up the way understudy needs it.

Importing litellm takes seconds, so understudy imports it only when a model is first called, and never charges
that import to a model attempt: the walk imports it before any clock starts. ``warm_up()`` pays it at start-up
instead, optionally on a background thread.

On first import, litellm downloads its model cost map from the internet unless ``LITELLM_LOCAL_MODEL_COST_MAP``
is set. understudy makes no request its user did not ask for: it sets the variable to ``True`` (the cost map
bundled with litellm is used) unless the user set it already; set ``LITELLM_LOCAL_MODEL_COST_MAP=False`` before
the first call to let litellm fetch the newest prices. A litellm imported before understudy's first call has
done its own fetch already.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Final

from understudy.calls.log_filter import install_log_filter

__all__ = ["COST_MAP_ENV", "litellm", "warm_up"]

COST_MAP_ENV: Final = "LITELLM_LOCAL_MODEL_COST_MAP"

_lock = threading.Lock()
_ready = False


def litellm() -> Any:
    """The litellm module, imported and configured on first use."""
    global _ready
    if _ready:
        return sys.modules["litellm"]
    with _lock:
        if "litellm" not in sys.modules:
            os.environ.setdefault(COST_MAP_ENV, "True")  # no cost-map download the user did not ask for
        import litellm as module

        # litellm prints a "Give Feedback / Get Help" banner to stdout on every exception it maps. understudy
        # expects and handles those exceptions; the banner would corrupt the output of the agent that runs it.
        module.suppress_debug_info = True
        # With litellm's debug logging on, its records carry keys and credential headers: mask them.
        install_log_filter()
        _ready = True
        return module


def warm_up(*, background: bool = False) -> threading.Thread | None:
    """Import litellm now, so that the first call does not wait for it.

    Args:
        background: import on a daemon thread and return it (join it to wait); else import before returning.
    """
    if not background:
        litellm()
        return None
    thread = threading.Thread(target=litellm, name="understudy-warm-up", daemon=True)
    thread.start()
    return thread
