"""The plugin manager: one ``pluggy.PluginManager("understudy")`` per process, built on first use.

Plugins come from the ``understudy`` entry-point group, loaded once. ``UNDERSTUDY_DISABLE_PLUGINS`` blocks
entry-point plugins by name (comma-separated; ``*`` blocks them all, which is what the test suite does).
understudy's own behaviour (``understudy.plugins.builtins``) is registered first, so a user plugin sits beside it.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Final

import pluggy

from understudy.plugins import hookspecs
from understudy.plugins.builtins import BUILTIN_PLUGINS

__all__ = [
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "get_plugin_manager",
    "list_plugins",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP: Final = "understudy"
DISABLE_ENV: Final = "UNDERSTUDY_DISABLE_PLUGINS"

logger = logging.getLogger("understudy")
logger.addHandler(logging.NullHandler())  # a library logs; the application decides where it goes

_manager: pluggy.PluginManager | None = None
_building: pluggy.PluginManager | None = None
_lock = threading.RLock()


def make_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """A new manager with the hook specs and built-in plugins, and entry-point plugins unless disabled."""
    pm = _base_manager()
    if entry_points:
        _load_entry_points(pm)
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built (and entry points loaded) on first call."""
    global _manager, _building
    if _manager is not None:
        return _manager
    with _lock:
        if _manager is None:
            if _building is not None:
                # A plugin module being imported by the loading below asked for the manager: give it the
                # one being built (re-entering on this thread) instead of deadlocking.
                return _building
            _building = _base_manager()
            try:
                _load_entry_points(_building)
                _manager = _building
            finally:
                _building = None
    return _manager


def _base_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("understudy")
    pm.add_hookspecs(hookspecs)
    for name, plugin in BUILTIN_PLUGINS:
        pm.register(plugin(), name=name)
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    if "*" in blocked:
        return
    # set_blocked would also unregister a built-in of that name; only entry points are blockable.
    for name in blocked - {name for name, _ in BUILTIN_PLUGINS}:
        pm.set_blocked(name)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin, for ``understudy plugins``."""

    name: str
    hooks: tuple[str, ...]
    distribution: str | None


def list_plugins(pm: pluggy.PluginManager | None = None) -> list[PluginInfo]:
    """Every plugin registered with ``pm`` (default: the process-wide manager), built-ins first."""
    pm = pm or get_plugin_manager()
    dists = {id(plugin): f"{dist.project_name} {dist.version}" for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        infos.append(PluginInfo(name=name, hooks=hooks, distribution=dists.get(id(plugin))))
    return infos
