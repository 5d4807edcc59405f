"""``understudy demo``: fallbacks at work against the fake provider, offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from understudy.cli._common import EXIT_USAGE, fail

if TYPE_CHECKING:
    import argparse

    from understudy.profiles.store import ProfileStore

__all__ = ["demo"]


def demo(args: argparse.Namespace, store: ProfileStore) -> int:
    """Run the offline demo (it brings its own profiles; the search path plays no part)."""
    if args.profiles_path or getattr(args, "sub_profiles_path", None):
        return fail("--profiles-path does not apply to demo: it writes its own profiles and serves them", EXIT_USAGE)
    from understudy.demo import run_demo  # it imports litellm: only this command may

    return run_demo()
