"""TieredRouter: a classifier puts each request in a tier; the tier's candidates are the call's plan.

::

    router = TieredRouter(
        {
            "simple": {"profiles": ["mini", "haiku"], "description": "greetings, short factual questions"},
            "complex": ["opus", "gpt-4o"],
        },
        classifier="router-mini",  # a profile asked to label the request, or a function
        default_tier="simple",
        registry=registry,
    )
    router.select({}, messages=messages)
    # RouteDecision(profile="opus", route="tier:complex", fallbacks={"*": ["gpt-4o"]}, ...)

A tier lists its candidate profiles best first. The decision starts the call at the first candidate and makes
the others, in order, the fallback chain for any provider failure (``{"*": rest}``). That table *replaces* the
first candidate's own ``fallbacks`` for the call: the tier is the ordered plan, and following the table of
whichever profile comes first would send a "simple" request to profiles nobody put in that tier. A tier of one
candidate therefore has no fallback; list more candidates to get one.

Routing never blocks a call for longer than ``timeout``: the classifier runs on a worker thread and an answer
that comes later is dropped. A classifier that is too slow, raises, or names no tier sends the call to
``default_tier``, with ``route=None`` and a ``reason`` that says which of these happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import wait as wait_for
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from understudy.calls import backend
from understudy.profiles.store import ProfileStore
from understudy.routing import classifier_pool
from understudy.routing.classifier_runs import Outcome, ask_profile, call_function, describe, shorten
from understudy.routing.ranking import Rankings
from understudy.routing.routes import RouteDecision
from understudy.routing.tiers_config import (
    DEFAULT_TIMEOUT,
    Tier,
    TierLabels,
    classifier_of,
    classifier_prompt,
    profile_problems,
    read_router_file,
    router_file,
    system_prompt,
    validated_tiers,
)

if TYPE_CHECKING:
    import os
    from concurrent.futures import Future

    from understudy.calls.protocols import Registry
    from understudy.routing.tiers_config import RouterFile

__all__ = ["DEFAULT_TIMEOUT", "Classifier", "ClassifierFunction", "Tier", "TieredRouter"]

logger = logging.getLogger("understudy")

ClassifierFunction: TypeAlias = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]] | None], str | Awaitable[str]]
"""Puts a request in a tier: called with the call's context and messages, returns a tier name exactly.

It may be ``async def``. It runs on a worker thread, so it may block, but only ``timeout`` seconds count.
"""

Classifier: TypeAlias = ClassifierFunction | str
"""A ``ClassifierFunction``, or the name of a profile asked to label the request."""


class TieredRouter:
    """Routes each call to a tier chosen by a classifier; implements ``understudy.routing.routes.Router``.

    Args:
        tiers: tier name to its candidates: a list of profile names, best first, or
            ``{"profiles": [...], "description": "..."}`` (or a ``Tier``).
        classifier: a ``ClassifierFunction``, or the name of a profile to ask. A profile is called through
            ``registry.get(name).completion(...)``, so its usage is in the registry's stats and its own
            fallbacks apply; give it a short ``timeout`` and a small ``max_tokens`` in its profile file.
        default_tier: where a request goes when the classifier is too slow, raises or names no tier.
        timeout: seconds a decision may take; never more is added to a call.
        name: the router's name in decisions, events and stats.
        registry: where a profile classifier is called; required for one.
        path: the file the configuration came from, named in errors (``from_file`` sets it).

    Attributes:
        default: the default tier's first candidate (the ``Router`` protocol's ``default``).
        rankings: each tier's candidates in the order its ``selection`` says (``rankings.of(tier)``).

    Raises:
        RouteConfigError: the configuration is inconsistent; the message names each key and how to fix it.
    """

    def __init__(
        self,
        tiers: Mapping[str, Sequence[str] | Mapping[str, Any] | Tier],
        *,
        classifier: Classifier,
        default_tier: str,
        timeout: float = DEFAULT_TIMEOUT,
        name: str = "tiered",
        registry: Registry | None = None,
        path: Path | None = None,
    ) -> None:
        self.path = path
        self.tiers: dict[str, Tier] = validated_tiers(
            tiers,
            classifier=classifier,
            default_tier=default_tier,
            timeout=timeout,
            name=name,
            has_registry=registry is not None,
            path=path,
        )
        self.classifier = classifier
        self.default_tier = default_tier
        self.timeout = float(timeout)
        self.name = name
        self.registry = registry
        self.default = self.tiers[default_tier].profiles[0]
        # One of the two is set: the function to call, or the registry and the profile to ask.
        self._function = None if isinstance(classifier, str) else classifier
        self._asked = (registry, classifier) if isinstance(classifier, str) and registry is not None else None
        self._system_prompt = system_prompt(self.tiers, default_tier)
        self._labels = TierLabels(self.tiers)
        self.rankings = Rankings(self.tiers, registry)

    # -- loading --------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        registry: Registry | None = None,
        classifier: ClassifierFunction | None = None,
        path: Path | None = None,
    ) -> TieredRouter:
        """A router from its configuration as a dict (the shape of a router file; ``path``, the file it came
        from, is named in errors).

        Keys: ``tiers`` (each a list of profiles or ``{profiles, description}``), ``default_tier``,
        ``classifier`` (a profile name), ``timeout``, ``name``. A classifier function cannot be written in a
        file: pass it as ``classifier=`` instead, when the data names none.

        Raises:
            RouteConfigError: a key is missing, unknown or invalid; the message names the key and the fix.
        """
        return cls._from_config(router_file(data, path), registry=registry, classifier=classifier, path=path)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        registry: Registry | None = None,
        classifier: ClassifierFunction | None = None,
    ) -> TieredRouter:
        """A router from a TOML, JSON or YAML file: ``default_tier``, ``classifier`` (a profile), ``timeout``,
        and a ``[tiers.NAME]`` table per tier with ``profiles`` and ``description`` (docs/routing.md).

        Raises:
            RouteConfigError: the file cannot be read or parsed, or a key is invalid; names the file and the key.
        """
        file = Path(path)
        return cls._from_config(read_router_file(file), registry=registry, classifier=classifier, path=file)

    @classmethod
    def _from_config(
        cls, parsed: RouterFile, registry: Registry | None, classifier: ClassifierFunction | None, path: Path | None
    ) -> TieredRouter:
        """A router from a validated router file (or ``from_dict``'s data), and ``classifier=`` if it was given."""
        return cls(
            parsed.tiers,
            classifier=classifier_of(parsed, classifier, path),
            default_tier=parsed.default_tier,
            timeout=parsed.timeout,
            name=parsed.name,
            registry=registry,
            path=path,
        )

    # -- the Router protocol ----------------------------------------------------------------------------------

    def select(
        self, context: Mapping[str, Any], *, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> RouteDecision:
        """Ask the classifier for a tier; start at its first candidate, fall back along the others.

        Waits at most ``timeout`` seconds and never raises: a slow, failing or unclear classifier gives the
        default tier's decision with ``route=None``. It blocks while it waits; async code uses ``aselect``.
        """
        job = self._start(context, messages)
        if isinstance(job, RouteDecision):
            return job
        wait_for([job], timeout=self.timeout)
        return self._finish(job)

    async def aselect(
        self, context: Mapping[str, Any], *, messages: Sequence[Mapping[str, Any]] | None = None
    ) -> RouteDecision:
        """``select`` for async callers: waits on the event loop, so neither the loop nor its default
        executor is held while the classifier thinks."""
        job = self._start(context, messages)
        if isinstance(job, RouteDecision):
            return job
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job)), timeout=self.timeout)
        return self._finish(job)

    def profiles(self) -> list[str]:
        """Every candidate of every tier, then the classifier profile: what ``understudy check`` checks."""
        classifier = [self.classifier] if isinstance(self.classifier, str) else []
        return list(dict.fromkeys([*(name for tier in self.tiers.values() for name in tier.profiles), *classifier]))

    def check(self, store: ProfileStore | None = None) -> list[str]:
        """The problems of the profiles this router can reach: those that do not exist or do not load.

        Reads profile files and calls no model. Empty when every profile loads.

        Args:
            store: where to look (default: the registry's store, else the default search path).
        """
        if store is None:
            store = self.registry.store if self.registry is not None else ProfileStore()
        classifier = self.classifier if isinstance(self.classifier, str) else None
        return profile_problems(self.tiers, classifier, store, self.path)

    # -- one decision ---------------------------------------------------------------------------------------

    def _start(
        self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None
    ) -> RouteDecision | Future[Outcome]:
        """Submit the classifier to a worker, or return the decision when there is nothing to ask."""
        try:
            function = self._function
            if function is not None:
                # Snapshots: after a timeout the caller goes on, and may change its context while the late
                # classifier still reads it.
                arguments = (dict(context or {}), list(messages) if messages is not None else None)
                return classifier_pool.shared.submit(lambda: call_function(function, *arguments, self.name))
            if self._asked is None:
                raise AssertionError("unreachable: __init__ requires a registry for a profile classifier")
            registry, profile = self._asked
            backend.litellm()  # its first import takes seconds: paid here, never inside the decision's timeout
            prompt = classifier_prompt(self._system_prompt, messages)
            if prompt is None:
                return self._fallback("had no user message to label")
            return classifier_pool.shared.submit(lambda: ask_profile(registry, profile, prompt, self.name))
        except Exception as exc:  # routing never breaks a call
            logger.warning("router %r could not start its classifier", self.name, exc_info=True)
            return self._fallback(f"could not start: {describe(exc)}")

    def _finish(self, job: Future[Outcome]) -> RouteDecision:
        """The decision once the wait is over, whether or not the classifier answered."""
        if not job.done():
            if job.cancel():
                threads = classifier_pool.shared.size
                return self._fallback(
                    f"could not start within {self.timeout:g}s: all {threads} classifier threads are busy "
                    "with slow classifiers"
                )
            return self._fallback(f"took longer than {self.timeout:g}s (a later answer is dropped)")
        try:
            outcome = job.result()
        except BaseException as exc:  # the worker itself failed: still only a routing failure
            outcome = Outcome(error=exc)
        decision = self._answered(outcome)
        return decision if outcome.usage is None else decision.model_copy(update={"classifier": outcome.usage})

    def _answered(self, outcome: Outcome) -> RouteDecision:
        if outcome.error is not None:
            return self._fallback(f"raised {describe(outcome.error)}")
        if isinstance(self.classifier, str):
            return self._from_label(self.classifier, outcome.answer)
        answer = outcome.answer
        if isinstance(answer, str) and answer in self.tiers:
            return self._decision(answer, f"classifier {_label(self.classifier)} chose tier {answer!r}", chosen=True)
        return self._fallback(f"returned {shorten(repr(answer))}, which is not a tier ({_list(self.tiers)})")

    def _from_label(self, profile: str, answer: object) -> RouteDecision:
        """Read a model's answer leniently: the first tier name in it, whatever the case and punctuation."""
        text = answer if isinstance(answer, str) else ""
        tier = self._labels.find(text)
        if tier is None:
            shown = shorten(repr(answer)) if answer is not None else "nothing"
            return self._fallback(f"answered {shown}, which names no tier ({_list(self.tiers)})")
        said = f" (it answered {shorten(repr(text.strip()))})" if text.strip() != tier else ""
        return self._decision(tier, f"classifier profile {profile!r} labelled the request {tier!r}{said}", chosen=True)

    def _fallback(self, why: str) -> RouteDecision:
        decision = self._decision(
            self.default_tier, f"default tier {self.default_tier!r}: the classifier {why}", chosen=False
        )
        return decision.model_copy(update={"error": f"the classifier {why}"})

    def _decision(self, tier: str, reason: str, *, chosen: bool) -> RouteDecision:
        first, *rest = self.rankings.of(tier)
        return RouteDecision(
            profile=first,
            route=f"tier:{tier}" if chosen else None,
            router=self.name,
            fallbacks={"*": rest},
            reason=reason + self.rankings.why(tier),
            candidates=(first, *rest),
        )

    def __repr__(self) -> str:
        classifier = self.classifier if isinstance(self.classifier, str) else _label(self.classifier)
        tiers = {name: list(tier.profiles) for name, tier in self.tiers.items()}
        return (
            f"TieredRouter(name={self.name!r}, tiers={tiers!r}, default_tier={self.default_tier!r}, "
            f"classifier={classifier!r}, timeout={self.timeout:g})"
        )


def _label(function: Callable[..., Any]) -> str:
    """``classify`` or ``Rules.classify``; a function defined inside another loses the ``f.<locals>.`` part."""
    qualname = getattr(function, "__qualname__", None)
    return qualname.rpartition("<locals>.")[2] if isinstance(qualname, str) else repr(function)


def _list(names: Mapping[str, Any]) -> str:
    return ", ".join(names)
