"""Plugins: the hooks (``hookspecs``), understudy's own implementations (``builtins``) and the manager.

A plugin is any object or module with functions marked ``@understudy.hookimpl``, registered through the
``understudy`` entry-point group or with ``get_plugin_manager().register(plugin)``.
"""

from understudy.plugins.builtins import BUILTIN_PLUGINS
from understudy.plugins.hookspecs import hookimpl
from understudy.plugins.manager import (
    DISABLE_ENV,
    ENTRY_POINT_GROUP,
    PluginInfo,
    get_plugin_manager,
    list_plugins,
    make_plugin_manager,
)

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "get_plugin_manager",
    "hookimpl",
    "list_plugins",
    "make_plugin_manager",
]
