"""A TieredRouter's configuration and its validation: the ``Tier`` and router-file models, reading a TOML or
JSON router file, the checks run at construction (every problem at once, each naming its key and the fix) and by
``understudy check`` (every profile named loads), and what the tiers give a classifier profile: the prompt it is
asked with, and the pattern that finds a tier's name in its answer."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from understudy.errors import ProfileError, ProfileNotFoundError, RouteConfigError
from understudy.profiles.documents import DocumentError, read_document
from understudy.profiles.profile import NAME_PATTERN, NAME_RULE

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from understudy.profiles.store import ProfileStore

__all__ = [
    "DEFAULT_TIMEOUT",
    "RouterFile",
    "Tier",
    "classifier_of",
    "classifier_prompt",
    "profile_problems",
    "read_router_file",
    "router_file",
    "system_prompt",
    "TierLabels",
    "validated_tiers",
]

DEFAULT_TIMEOUT: Final = 2.0

# A long message is cut in the middle for the classifier: the head usually says what the task is, the tail
# what is asked; a small labelling model needs neither the whole of a pasted document nor its cost.
_PROMPT_HEAD: Final = 3000
_PROMPT_TAIL: Final = 1000


class Tier(BaseModel):
    """One tier: the profiles that may serve it, best first, and which requests belong in it.

    Attributes:
        profiles: candidate profile names in order; the first serves, the others are its fallback chain.
        description: which requests belong here; a profile classifier sees it next to the tier's name.
        selection: ``"order"`` (default): as written. ``"cheapest_fit"``: the cheapest candidate whose
            ``quality`` reaches ``threshold`` serves, the other fit ones follow by price, then the rest by
            quality, best first (``understudy.routing.ranking``).
        threshold: the quality a candidate needs to be fit, for ``cheapest_fit``.
        quality: a score per candidate for this tier, higher is better; one without a score is never fit.
        cost: USD per million tokens (input and output together) per candidate, for a model litellm's price
            list lacks or to override it; else the price comes from the profile (litellm's
            ``input_cost_per_token`` / ``output_cost_per_token`` in ``params``), then from litellm's list.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    profiles: tuple[str, ...]
    description: str = ""
    selection: Literal["order", "cheapest_fit"] = "order"
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    quality: dict[str, float] = Field(default_factory=dict)
    cost: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ranking(self) -> Tier:
        strangers = sorted((set(self.quality) | set(self.cost)) - set(self.profiles))
        if strangers:
            raise ValueError(
                f"quality or cost names {', '.join(map(repr, strangers))}, which this tier does not list in profiles; "
                "add them to profiles or remove them"
            )
        if self.selection == "cheapest_fit" and self.threshold is None:
            raise ValueError('selection "cheapest_fit" needs a threshold: the quality a candidate must reach, e.g. 0.8')
        if self.selection == "cheapest_fit" and not self.quality:
            raise ValueError('selection "cheapest_fit" needs quality scores, e.g. quality = { mini = 0.7, big = 0.9 }')
        return self

    @field_validator("profiles")
    @classmethod
    def _candidates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('lists no profile; name at least one candidate, e.g. profiles = ["fast"]')
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"{name!r} is not a profile name: {NAME_RULE}")
        dupes = sorted({name for name in value if value.count(name) > 1})
        if dupes:
            raise ValueError(f"names {', '.join(map(repr, dupes))} more than once; list each candidate once")
        return value


class RouterFile(BaseModel):
    """What a router file (or ``TieredRouter.from_dict``'s data) may hold."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None  # "tiered": says what the file is, so that one under any name is read as a router
    tiers: dict[str, Tier]
    default_tier: str
    classifier: str | None = None
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0, allow_inf_nan=False)
    name: str = Field(default="tiered", min_length=1)

    @field_validator("kind")
    @classmethod
    def _tiered(cls, value: str | None) -> str | None:
        if value not in (None, "tiered"):
            reader = "MatchRouter.from_file" if value == "match" else 'kind = "tiered" for a tiered router'
            raise ValueError(f"is {value!r}: this file is read as a tiered router; use {reader}")
        return value

    @field_validator("tiers", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `simple = ["mini"]` is short for `[tiers.simple] profiles = ["mini"]`.
        if isinstance(value, Mapping):
            return {
                tier: {"profiles": spec} if isinstance(spec, list | tuple) else spec for tier, spec in value.items()
            }
        return value


def read_router_file(file: Path) -> RouterFile:
    """The configuration in a ``.toml``, ``.json`` or ``.yaml`` router file (YAML needs PyYAML).

    Raises:
        RouteConfigError: the file cannot be read or parsed, or a key is invalid; names the file and the key.
    """
    try:
        data = read_document(file)
    except DocumentError as exc:
        raise RouteConfigError(str(exc), path=file) from None
    return router_file(data, file)


def router_file(data: Any, path: Path | None) -> RouterFile:
    """``data`` (the shape of a router file) validated; ``path`` is the file it came from, named in errors.

    Raises:
        RouteConfigError: a key is missing, unknown or invalid; the message names each key and the fix.
    """
    if not isinstance(data, Mapping):
        raise RouteConfigError("must be one table of keys (tiers, default_tier, classifier, timeout)", path=path)
    try:
        return RouterFile.model_validate(data)
    except ValidationError as exc:
        raise _config_error(_problems_of(exc), path) from None


def classifier_of(parsed: RouterFile, given: Callable[..., Any] | None, path: Path | None) -> str | Callable[..., Any]:
    """The classifier of a router built from ``parsed``: the profile it names, or ``given``, the function passed
    as ``classifier=`` (a file cannot hold one).

    Raises:
        RouteConfigError: both are set, or neither is.
    """
    if parsed.classifier is not None and given is not None:
        raise RouteConfigError("is set both in the data and as classifier=; keep one", path=path, where="classifier")
    chosen = parsed.classifier if parsed.classifier is not None else given
    if chosen is None:
        fix = 'name the profile that labels requests (classifier = "router-mini") or pass classifier=function'
        raise RouteConfigError(f"missing; {fix}", path=path, where="classifier")
    return chosen


def validated_tiers(
    tiers: Mapping[str, Sequence[str] | Mapping[str, Any] | Tier],
    *,
    classifier: object,
    default_tier: str,
    timeout: float,
    name: str,
    has_registry: bool,
    path: Path | None,
) -> dict[str, Tier]:
    """Each tier as a ``Tier``, once a router's settings are consistent (``TieredRouter``'s arguments).

    Raises:
        RouteConfigError: every problem at once; the message names each key and how to fix it.
    """
    problems: list[tuple[str, str]] = []
    result = _tiers(tiers, problems)
    if not isinstance(name, str) or not name:
        problems.append(("name", "must be a non-empty string; it names the router in events and stats"))
    if default_tier not in result and result:
        close = difflib.get_close_matches(str(default_tier), result, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(("default_tier", f"{default_tier!r} is not a tier; {hint}use one of: {', '.join(result)}"))
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        problems.append(("timeout", f"{timeout!r} is not a number of seconds > 0; e.g. timeout = {DEFAULT_TIMEOUT}"))
    if isinstance(classifier, str):
        if not NAME_PATTERN.match(classifier):
            problems.append(("classifier", f"{classifier!r} is not a profile name: {NAME_RULE}"))
        elif not has_registry:
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
    return result


def profile_problems(
    tiers: Mapping[str, Tier], classifier: str | None, store: ProfileStore, path: Path | None
) -> list[str]:
    """What is wrong with each profile the tiers and the classifier profile name: it does not exist or does not
    load from ``store``. Each problem names the keys that name the profile, and ``path`` when there is one."""
    named_by: dict[str, list[str]] = {}
    for tier_name, tier in tiers.items():
        for profile in tier.profiles:
            named_by.setdefault(profile, []).append(f"tiers.{tier_name}.profiles")
    if classifier is not None:
        named_by.setdefault(classifier, []).append("classifier")
    prefix = f"{path}: " if path else ""
    dirs = ", ".join(str(directory) for directory in store.paths) or "(no directories)"
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


def system_prompt(tiers: Mapping[str, Tier], default_tier: str) -> str:
    """What a classifier profile is told: the tiers, their descriptions, and to answer with one name."""
    lines = [f"- {name}: {tier.description}" if tier.description else f"- {name}" for name, tier in tiers.items()]
    return (
        "You route requests to the right tier of language models. Put the user's request in exactly one of "
        "these tiers:\n" + "\n".join(lines) + f"\n\nAnswer with the tier name only. If unsure, answer {default_tier}."
    )


def classifier_prompt(system: str, messages: Sequence[Mapping[str, Any]] | None) -> list[dict[str, str]] | None:
    """What a classifier profile is asked: ``system`` (see ``system_prompt``), then the request's last user text;
    None when the request has none."""
    text = _last_user_text(messages)
    if text is None:
        return None
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


class TierLabels:
    """Finds a tier's name in a model's answer as a whole word, whatever the case and punctuation around it."""

    def __init__(self, tiers: Mapping[str, Tier]) -> None:
        # Longest names first, so that at one position "simple.plus" wins over "simple".
        names = sorted(tiers, key=len, reverse=True)
        self._pattern = re.compile("|".join(rf"(?<![\w-]){re.escape(tier)}(?![\w-])" for tier in names), re.I)
        self._by_folded = {tier.casefold(): tier for tier in tiers}

    def find(self, text: str) -> str | None:
        """The first tier named in ``text``, as the configuration spells it; None when it names none."""
        found = self._pattern.search(text)
        return self._by_folded[found.group(0).casefold()] if found is not None else None


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
            problems.append((key, f"{name!r} is not a valid tier name: {NAME_RULE}"))
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
            known = Tier.model_fields if key.startswith("tiers.") else RouterFile.model_fields
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
