"""The hooks a plugin can implement, and the two markers (``hookspec``, ``hookimpl``). Every hook is prefixed
``understudy_``.

A plugin is any object or module with functions marked ``@understudy.hookimpl``, registered through the
``understudy`` entry-point group or with ``get_plugin_manager().register(plugin)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from understudy.calls.observers import CallObserver, CallStart
    from understudy.events import Event
    from understudy.profiles.profile import Profile
    from understudy.routing.routes import RouteDecision, Router

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("understudy")
hookimpl = pluggy.HookimplMarker("understudy")
"""Marks a function as the implementation of an ``understudy_*`` hook."""


@hookspec
def understudy_fallback_event(event: Event) -> None:
    """Called for every step of a call that did not go plainly: an attempt failed, a fallback was
    triggered, a profile was skipped, a fallback served the call, or every profile failed.

    Called in the thread of the call, as each step happens; keep it quick. An ``async def``
    implementation is awaited on async calls (and run to completion on sync ones). An exception raised here
    is logged and never breaks the call or the other plugins. Wrappers (``hookimpl(wrapper=True)``) are
    not called for this hook: there is no result to wrap.

    Args:
        event: a frozen event from ``understudy.events``; ``event.kind`` says which.
    """


@hookspec
def understudy_observe_call(call: CallStart) -> CallObserver | None:
    """Observe one call, plain ones too: return an observer (``understudy.calls.observers.CallObserver``) to
    be told of its attempts, its events and its end, or None to let it pass.

    Called once per call, in the calling thread, before its first attempt; keep it quick. A plugin that
    raises is logged and the call goes on unobserved by it. Traces, metrics and the usage log
    (``understudy.observability``) are built on it.

    Args:
        call: which call starts (``call_id``, primary ``profile``, ``mode``, ``stream``, ``route``, the
            caller's ``request``).
    """


@hookspec
def understudy_exception_names() -> Mapping[str, str | type[BaseException]]:  # type: ignore[empty-body]
    """Register exception names that profile ``fallbacks`` tables may use.

    Called whenever names are listed or resolved. Return a mapping from name to the class, or to a
    ``"module:Class"`` reference imported only when an error must be matched (so checking profiles stays
    cheap). A name registered by an earlier plugin (the built-ins come first) is not overridden. Every class
    registered here also counts as a provider failure for the ``"*"`` entry.
    """


@hookspec(firstresult=True)
def understudy_classify(error: Exception | None, response: object, profile: Profile) -> str | None:
    """Name the kind of a failure litellm maps poorly, as one of litellm's exception class names.

    Asked for every failed attempt (``error`` set, ``response`` None) and every plain 200 answer (``error``
    None, ``response`` the answer), after understudy's own reading of what the provider sent. Return e.g.
    ``"ContextWindowExceededError"`` for a provider's own context-length message, ``"RateLimitError"`` for
    a quota error spelled as a 400, or a name for an error hidden in a 200 body; the call then raises that
    class (chained to the original) and the fallbacks table answers it by name. Return None to leave it as
    it is. Stops at the first non-None result. A plugin that raises, or names a class litellm lacks, is
    logged and passed over. Keep it quick: it runs on every answer of every call while a plugin implements it.

    Args:
        error: the attempt's error, as understudy classified it; None for a 200 answer.
        response: the 200 answer (litellm's ``ModelResponse``); None for a failure.
        profile: the profile that was called.
    """


@hookspec(firstresult=True)
def understudy_load_profile(name: str) -> Profile | None:
    """Supply a profile that is not in the profile files (a secrets manager, a service, code).

    Asked only when no profile file of that name exists on the search path: files always win. Stops at
    the first non-None result.

    Args:
        name: the profile name asked for.

    Returns:
        The profile, or None when this plugin does not have it.
    """


@hookspec
def understudy_profile_names() -> Iterable[str]:  # type: ignore[empty-body]
    """Name the profiles this plugin can supply through ``understudy_load_profile``, for listing.

    Must be cheap: naming profiles never loads them.
    """


@hookspec(firstresult=True)
def understudy_route(
    router: Router, context: Mapping[str, object], messages: Sequence[Mapping[str, object]] | None
) -> RouteDecision | None:
    """Choose the primary profile of a routed call. Stops at the first non-None result.

    The built-in implementation asks ``router.select(context, messages=messages)``; it is registered first,
    so it is asked last, and a plugin's non-None answer wins. A plugin that raises is reported with a
    ``RoutingFailed`` event and passed over. Called once per call, in the calling thread, also for async
    calls: keep it quick and non-blocking (a router that must wait should offer ``aselect``).

    Args:
        router: the router the routed LLM was built with.
        context: the call's context.
        messages: the call's messages, for classifier-driven routing.
    """
