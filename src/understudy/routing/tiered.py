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
import contextvars
import difflib
import inspect
import json
import logging
import math
import queue
import re
import threading
import tomllib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from understudy.calls import backend
from understudy.errors import ProfileError, ProfileNotFoundError, RouteConfigError
from understudy.profiles.profile import NAME_PATTERN
from understudy.profiles.store import ProfileStore
from understudy.redaction import redact
from understudy.routing.routes import RouteDecision

if TYPE_CHECKING:
    import os

    from understudy.registry import LLMRegistry

__all__ = ["DEFAULT_TIMEOUT", "Classifier", "ClassifierFunction", "Tier", "TieredRouter"]

logger = logging.getLogger("understudy")

DEFAULT_TIMEOUT: Final = 2.0
# Classifier threads shared by every TieredRouter. When all are busy with slow classifiers, a decision that
# cannot start within its timeout goes to the default tier, and its reason says so.
_WORKER_THREADS: Final = 32

_NAME_RULE: Final = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
# A long message is cut in the middle for the classifier: the head usually says what the task is, the tail
# what is asked; a small labelling model needs neither the whole of a pasted document nor its cost.
_PROMPT_HEAD: Final = 3000
_PROMPT_TAIL: Final = 1000
_REASON_CHARS: Final = 200

ClassifierFunction: TypeAlias = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]] | None], str | Awaitable[str]]
"""Puts a request in a tier: called with the call's context and messages, returns a tier name exactly.

It may be ``async def``. It runs on a worker thread, so it may block, but only ``timeout`` seconds count.
"""

Classifier: TypeAlias = ClassifierFunction | str
"""A ``ClassifierFunction``, or the name of a profile asked to label the request."""


class Tier(BaseModel):
    """One tier: the profiles that may serve it, best first, and which requests belong in it.

    Attributes:
        profiles: candidate profile names in order; the first serves, the others are its fallback chain.
        description: which requests belong here; a profile classifier sees it next to the tier's name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    profiles: tuple[str, ...]
    description: str = ""

    @field_validator("profiles")
    @classmethod
    def _candidates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('lists no profile; name at least one candidate, e.g. profiles = ["fast"]')
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"{name!r} is not a profile name: {_NAME_RULE}")
        dupes = sorted({name for name in value if value.count(name) > 1})
        if dupes:
            raise ValueError(f"names {', '.join(map(repr, dupes))} more than once; list each candidate once")
        return value


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
        registry: LLMRegistry | None = None,
        path: Path | None = None,
    ) -> None:
        self.path = path
        problems: list[tuple[str, str]] = []
        self.tiers: dict[str, Tier] = _tiers(tiers, problems)
        if not isinstance(name, str) or not name:
            problems.append(("name", "must be a non-empty string; it names the router in events and stats"))
        if default_tier not in self.tiers and self.tiers:
            close = difflib.get_close_matches(str(default_tier), self.tiers, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(("default_tier", f"{default_tier!r} is not a tier; {hint}use one of: {_list(self.tiers)}"))
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            problems.append(
                ("timeout", f"{timeout!r} is not a number of seconds > 0; e.g. timeout = {DEFAULT_TIMEOUT}")
            )
        if isinstance(classifier, str):
            if not NAME_PATTERN.match(classifier):
                problems.append(("classifier", f"{classifier!r} is not a profile name: {_NAME_RULE}"))
            elif registry is None:
                problems.append(
                    (
                        "classifier",
                        f"profile {classifier!r} can only be asked through a registry; pass "
                        "registry=LLMRegistry(...) (its usage is tracked there like any other call)",
                    )
                )
        elif not callable(classifier):
            problems.append(("classifier", f"{classifier!r} is neither a function nor a profile name"))
        if problems:
            raise _config_error(problems, path)
        self.classifier = classifier
        self.default_tier = default_tier
        self.timeout = float(timeout)
        self.name = name
        self.registry = registry
        self.default = self.tiers[default_tier].profiles[0]
        # One of the two is set: the function to call, or the registry and the profile to ask.
        self._function = None if isinstance(classifier, str) else classifier
        self._asked = (registry, classifier) if isinstance(classifier, str) and registry is not None else None
        self._system_prompt = _system_prompt(self.tiers, default_tier)
        # Longest names first, so that at one position "simple.plus" wins over "simple".
        names = sorted(self.tiers, key=len, reverse=True)
        self._tier_pattern = re.compile(
            "|".join(rf"(?<![\w-]){re.escape(tier)}(?![\w-])" for tier in names), re.IGNORECASE
        )
        self._by_folded = {tier.casefold(): tier for tier in self.tiers}

    # -- loading --------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        registry: LLMRegistry | None = None,
        classifier: ClassifierFunction | None = None,
    ) -> TieredRouter:
        """A router from its configuration as a dict (the shape of a router file).

        Keys: ``tiers`` (each a list of profiles or ``{profiles, description}``), ``default_tier``,
        ``classifier`` (a profile name), ``timeout``, ``name``. A classifier function cannot be written in a
        file: pass it as ``classifier=`` instead, when the data names none.

        Raises:
            RouteConfigError: a key is missing, unknown or invalid; the message names the key and the fix.
        """
        return cls._from_data(data, registry=registry, classifier=classifier, path=None)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        registry: LLMRegistry | None = None,
        classifier: ClassifierFunction | None = None,
    ) -> TieredRouter:
        """A router from a TOML or JSON file::

            default_tier = "simple"
            classifier = "router-mini"
            timeout = 1.5

            [tiers.simple]
            profiles = ["mini", "haiku"]
            description = "greetings, short factual questions"

            [tiers.complex]
            profiles = ["opus", "gpt-4o"]

        Raises:
            RouteConfigError: the file cannot be read or parsed, or a key is invalid; names the file and the key.
        """
        file = Path(path)
        if file.suffix not in {".toml", ".json"}:
            raise RouteConfigError("a router file must end in .toml or .json", path=file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RouteConfigError(f"cannot read the file: {exc}", path=file) from exc
        try:
            data = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RouteConfigError(f"invalid TOML: {exc}", path=file) from exc
        except json.JSONDecodeError as exc:
            raise RouteConfigError(f"invalid JSON: {exc}", path=file) from exc
        return cls._from_data(data, registry=registry, classifier=classifier, path=file)

    @classmethod
    def _from_data(
        cls,
        data: Any,
        *,
        registry: LLMRegistry | None,
        classifier: ClassifierFunction | None,
        path: Path | None,
    ) -> TieredRouter:
        if not isinstance(data, Mapping):
            raise RouteConfigError("must be one table of keys (tiers, default_tier, classifier, timeout)", path=path)
        try:
            parsed = _RouterFile.model_validate(data)
        except ValidationError as exc:
            raise _config_error(_problems_of(exc), path) from None
        if parsed.classifier is not None and classifier is not None:
            raise RouteConfigError(
                "is set both in the data and as classifier=; keep one", path=path, where="classifier"
            )
        chosen: Classifier | None = parsed.classifier if parsed.classifier is not None else classifier
        if chosen is None:
            fix = 'name the profile that labels requests (classifier = "router-mini") or pass classifier=function'
            raise RouteConfigError(f"missing; {fix}", path=path, where="classifier")
        return cls(
            parsed.tiers,
            classifier=chosen,
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
        names = [name for tier in self.tiers.values() for name in tier.profiles]
        if isinstance(self.classifier, str):
            names.append(self.classifier)
        return list(dict.fromkeys(names))

    def check(self, store: ProfileStore | None = None) -> list[str]:
        """The problems of the profiles this router can reach: those that do not exist or do not load.

        Reads profile files and calls no model. Empty when every profile loads.

        Args:
            store: where to look (default: the registry's store, else the default search path).
        """
        if store is None:
            store = self.registry.store if self.registry is not None else ProfileStore()
        named_by: dict[str, list[str]] = {}
        for tier_name, tier in self.tiers.items():
            for profile in tier.profiles:
                named_by.setdefault(profile, []).append(f"tiers.{tier_name}.profiles")
        if isinstance(self.classifier, str):
            named_by.setdefault(self.classifier, []).append("classifier")
        prefix = f"{self.path}: " if self.path else ""
        dirs = ", ".join(str(path) for path in store.paths) or "(no directories)"
        problems = []
        for profile, keys in named_by.items():
            what = f"{prefix}profile {profile!r} (in {', '.join(keys)})"
            try:
                store.load(profile)
            except ProfileNotFoundError as exc:
                close = f"did you mean {exc.close_matches[0]!r}? Or " if exc.close_matches else ""
                problems.append(f"{what} does not exist; {close}create {profile}.toml in {dirs}, or remove it")
            except ProfileError as exc:
                problems.append(f"{what} does not load: {exc}")
        return problems

    # -- one decision ---------------------------------------------------------------------------------------

    def _start(
        self, context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None
    ) -> RouteDecision | Future[_Outcome]:
        """Submit the classifier to a worker, or return the decision when there is nothing to ask."""
        try:
            function = self._function
            if function is not None:
                # Snapshots: after a timeout the caller goes on, and may change its context while the late
                # classifier still reads it.
                arguments = (dict(context or {}), list(messages) if messages is not None else None)
                return _workers.submit(lambda: self._call_function(function, *arguments))
            if self._asked is None:
                raise AssertionError("unreachable: __init__ requires a registry for a profile classifier")
            registry, profile = self._asked
            backend.litellm()  # its first import takes seconds: paid here, never inside the decision's timeout
            text = _last_user_text(messages)
            if text is None:
                return self._fallback("had no user message to label")
            prompt = [{"role": "system", "content": self._system_prompt}, {"role": "user", "content": text}]
            return _workers.submit(lambda: self._ask_profile(registry, profile, prompt))
        except Exception as exc:  # routing never breaks a call
            logger.warning("router %r could not start its classifier", self.name, exc_info=True)
            return self._fallback(f"could not start: {_describe(exc)}")

    def _call_function(
        self, function: ClassifierFunction, context: dict[str, Any], messages: list[Mapping[str, Any]] | None
    ) -> _Outcome:
        try:
            answer: object = function(context, messages)
            if inspect.isawaitable(answer):
                answer = asyncio.run(_awaited(answer))  # on a worker thread: no running loop here
        except (Exception, asyncio.CancelledError) as exc:
            # A CancelledError from inside an async classifier must not reach the caller, where it would
            # look like the caller's own task being cancelled.
            logger.warning("router %r: its classifier raised", self.name, exc_info=True)
            return _Outcome(error=exc)
        return _Outcome(answer=answer)

    def _ask_profile(self, registry: LLMRegistry, profile: str, prompt: list[dict[str, str]]) -> _Outcome:
        try:
            response = registry.get(profile).completion(messages=prompt)
            answer = response.choices[0].message.content
        except Exception as exc:
            # The registry's stats and events already hold the provider's failure; one line is enough.
            logger.warning("router %r: classifier profile %r failed: %s", self.name, profile, _describe(exc))
            return _Outcome(error=exc)
        return _Outcome(answer=answer)

    def _finish(self, job: Future[_Outcome]) -> RouteDecision:
        """The decision once the wait is over, whether or not the classifier answered."""
        if not job.done():
            if job.cancel():
                return self._fallback(
                    f"could not start within {self.timeout:g}s: all {_workers.size} classifier threads are busy "
                    "with slow classifiers"
                )
            return self._fallback(f"took longer than {self.timeout:g}s (a later answer is dropped)")
        try:
            outcome = job.result()
        except BaseException as exc:  # the worker itself failed: still only a routing failure
            outcome = _Outcome(error=exc)
        if outcome.error is not None:
            return self._fallback(f"raised {_describe(outcome.error)}")
        if isinstance(self.classifier, str):
            return self._from_label(self.classifier, outcome.answer)
        answer = outcome.answer
        if isinstance(answer, str) and answer in self.tiers:
            return self._decision(answer, f"classifier {_label(self.classifier)} chose tier {answer!r}", chosen=True)
        return self._fallback(f"returned {_shorten(repr(answer))}, which is not a tier ({_list(self.tiers)})")

    def _from_label(self, profile: str, answer: object) -> RouteDecision:
        """Read a model's answer leniently: the first tier name in it, whatever the case and punctuation."""
        text = answer if isinstance(answer, str) else ""
        found = self._tier_pattern.search(text)
        if found is None:
            shown = _shorten(repr(answer)) if answer is not None else "nothing"
            return self._fallback(f"answered {shown}, which names no tier ({_list(self.tiers)})")
        tier = self._by_folded[found.group(0).casefold()]
        said = f" (it answered {_shorten(repr(text.strip()))})" if text.strip() != tier else ""
        return self._decision(tier, f"classifier profile {profile!r} labelled the request {tier!r}{said}", chosen=True)

    def _fallback(self, why: str) -> RouteDecision:
        decision = self._decision(
            self.default_tier, f"default tier {self.default_tier!r}: the classifier {why}", chosen=False
        )
        return decision.model_copy(update={"error": f"the classifier {why}"})

    def _decision(self, tier: str, reason: str, *, chosen: bool) -> RouteDecision:
        first, *rest = self.tiers[tier].profiles
        return RouteDecision(
            profile=first,
            route=f"tier:{tier}" if chosen else None,
            router=self.name,
            fallbacks={"*": rest},
            reason=reason,
        )

    def __repr__(self) -> str:
        classifier = self.classifier if isinstance(self.classifier, str) else _label(self.classifier)
        tiers = {name: list(tier.profiles) for name, tier in self.tiers.items()}
        return (
            f"TieredRouter(name={self.name!r}, tiers={tiers!r}, default_tier={self.default_tier!r}, "
            f"classifier={classifier!r}, timeout={self.timeout:g})"
        )


class _RouterFile(BaseModel):
    """What a router file (or ``from_dict``'s data) may hold."""

    model_config = ConfigDict(extra="forbid")

    tiers: dict[str, Tier]
    default_tier: str
    classifier: str | None = None
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0, allow_inf_nan=False)
    name: str = Field(default="tiered", min_length=1)

    @field_validator("tiers", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `simple = ["mini"]` is short for `[tiers.simple] profiles = ["mini"]`.
        if isinstance(value, Mapping):
            return {
                tier: {"profiles": spec} if isinstance(spec, list | tuple) else spec for tier, spec in value.items()
            }
        return value


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a classifier did on its worker: an answer, or the error it raised. Never an exception in the
    future itself, so nobody has to retrieve one from a future whose caller stopped waiting."""

    answer: object = None
    error: BaseException | None = None


class _Workers:
    """A small pool of daemon threads shared by every TieredRouter, started as needed.

    Not a ``ThreadPoolExecutor``: the interpreter joins its threads at exit, so a classifier that never returns
    would keep the agent's process from exiting. A classifier runs in a copy of the caller's context variables.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._jobs: queue.SimpleQueue[tuple[Future[_Outcome], Callable[[], _Outcome]]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = 0

    def submit(self, job: Callable[[], _Outcome]) -> Future[_Outcome]:
        future: Future[_Outcome] = Future()
        context = contextvars.copy_context()
        self._jobs.put((future, lambda: context.run(job)))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._threads < self.size:
                    self._threads += 1
                    name = f"understudy-classifier-{self._threads}"
                    threading.Thread(target=self._work, name=name, daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            future, job = self._jobs.get()
            if future.set_running_or_notify_cancel():  # False: the caller gave up before it started
                try:
                    future.set_result(job())
                except BaseException as exc:  # a job catches Exception itself; this keeps the thread alive
                    future.set_exception(exc)
            self._idle.release()


_workers: Final = _Workers(_WORKER_THREADS)


def _tiers(
    tiers: Mapping[str, Sequence[str] | Mapping[str, Any] | Tier], problems: list[tuple[str, str]]
) -> dict[str, Tier]:
    """Each tier as a ``Tier``; what is wrong goes to ``problems`` as (key, message)."""
    if not isinstance(tiers, Mapping) or not tiers:
        problems.append(("tiers", 'no tier defined; define at least one, e.g. tiers = {"simple": ["fast"]}'))
        return {}
    result: dict[str, Tier] = {}
    folded: dict[str, str] = {}
    for name, spec in tiers.items():
        key = f"tiers.{name}"
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            problems.append((key, f"{name!r} is not a valid tier name: {_NAME_RULE}"))
            continue
        other = folded.setdefault(name.casefold(), name)
        if other != name:
            problems.append((key, f"differs from tier {other!r} only in case; a model's answer cannot tell them apart"))
            continue
        try:
            if isinstance(spec, Tier):
                result[name] = spec
            elif isinstance(spec, Mapping):
                result[name] = Tier.model_validate(spec)
            elif isinstance(spec, str) or not isinstance(spec, Sequence):
                problems.append((key, f'must be a list of profile names (e.g. ["fast", "backup"]), not {spec!r}'))
            else:
                result[name] = Tier(profiles=tuple(spec))
        except ValidationError as exc:
            problems.extend(_problems_of(exc, prefix=key))
    return result


def _problems_of(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """pydantic's errors as (dotted key, message that says the fix)."""
    problems = []
    for error in exc.errors():
        key = prefix
        for part in error["loc"]:
            key = f"{key}[{part}]" if isinstance(part, int) else f"{key}.{part}" if key else str(part)
        if error["type"] in {"model_type", "dict_type"}:
            what = "a table of tiers" if key == "tiers" else "a list of profile names or a table with profiles"
            problems.append((key, f'must be {what}, e.g. simple = ["fast", "backup"]'))
        elif error["type"] == "extra_forbidden":
            known = Tier.model_fields if key.startswith("tiers.") else _RouterFile.model_fields
            close = difflib.get_close_matches(key.rpartition(".")[2], known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(known)}"
            problems.append((key, f"unknown key; {hint}"))
        elif error["type"] == "missing":
            problems.append((key, "missing; it is required"))
        else:
            problems.append((key, error["msg"].removeprefix("Value error, ")))
    return problems


def _config_error(problems: list[tuple[str, str]], path: Path | None) -> RouteConfigError:
    if len(problems) == 1:
        key, message = problems[0]
        return RouteConfigError(message, path=path, where=key)
    return RouteConfigError("; ".join(f"{key}: {message}" for key, message in problems), path=path)


def _system_prompt(tiers: Mapping[str, Tier], default_tier: str) -> str:
    lines = [f"- {name}: {tier.description}" if tier.description else f"- {name}" for name, tier in tiers.items()]
    return (
        "You route requests to the right tier of language models. Put the user's request in exactly one of "
        "these tiers:\n" + "\n".join(lines) + f"\n\nAnswer with the tier name only. If unsure, answer {default_tier}."
    )


def _last_user_text(messages: Sequence[Mapping[str, Any]] | None) -> str | None:
    """The text of the last user message that has any, cut to a size a small model reads quickly."""
    for message in reversed(messages or ()):
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, Sequence):  # content parts: keep the text ones
            text = "\n".join(
                part["text"] for part in content if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            )
        else:
            continue
        if text.strip():
            if len(text) > _PROMPT_HEAD + _PROMPT_TAIL:
                text = f"{text[:_PROMPT_HEAD]}\n[...]\n{text[-_PROMPT_TAIL:]}"
            return text
    return None


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {_shorten(redact(' '.join(str(error).split())))}"


def _shorten(text: str) -> str:
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _label(function: Callable[..., Any]) -> str:
    """``classify`` or ``Rules.classify``; a function defined inside another loses the ``f.<locals>.`` part."""
    qualname = getattr(function, "__qualname__", None)
    return qualname.rpartition("<locals>.")[2] if isinstance(qualname, str) else repr(function)


def _list(names: Mapping[str, Any]) -> str:
    return ", ".join(names)
