"""``understudy demo``: fallbacks at work, offline, against the fake provider (``runner``; the script of what
happens is ``scenarios``)."""

from understudy.demo.runner import run_demo

__all__ = ["run_demo"]
