"""``understudy plugins``: every registered plugin and the hooks it implements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from understudy.cli._common import print_json
from understudy.plugins import BUILTIN_PLUGINS, list_plugins

if TYPE_CHECKING:
    import argparse

    from understudy.profiles.store import ProfileStore

__all__ = ["plugins"]


def plugins(args: argparse.Namespace, store: ProfileStore) -> int:
    """Every registered plugin: its name, the hooks it implements and the distribution it came from."""
    builtin = {name for name, _ in BUILTIN_PLUGINS}
    infos = list_plugins(store.plugin_manager)
    origins = [info.distribution or ("built-in" if info.name in builtin else "-") for info in infos]
    if args.json:
        rows = [
            {"name": info.name, "hooks": list(info.hooks), "distribution": origin}
            for info, origin in zip(infos, origins, strict=True)
        ]
        print_json(rows)
        return 0
    table = [("NAME", "HOOKS", "DISTRIBUTION")]
    table += [(info.name, ", ".join(info.hooks) or "-", origin) for info, origin in zip(infos, origins, strict=True)]
    widths = [max(len(line[i]) for line in table) for i in range(2)]
    for line in table:
        print(f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]}")
    return 0
