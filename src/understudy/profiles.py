"""Profiles: one LLM configuration each, stored one per file as ``<name>.toml`` or ``<name>.json``."""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from understudy.errors import ProfileError
from understudy.redaction import credential_values, redact, redact_mapping

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["NAME_PATTERN", "PROFILE_SUFFIXES", "Profile", "load_profile_file", "validate_name"]

NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PROFILE_SUFFIXES: Final = (".toml", ".json")
ROUTES_FILE_STEM: Final = "routes"  # routes.toml beside the profiles is a router, not a profile
TIERS_FILE_STEM: Final = "tiers"  # and so is tiers.toml
RESERVED_STEMS: Final = frozenset({ROUTES_FILE_STEM, TIERS_FILE_STEM})
_NAME_RULE: Final = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keys that must not go in `params`: the profile's own fields (a duplicate would silently lose to them),
# what understudy sets on every call (retries), and what belongs to each call (messages, stream).
_FIELD_PARAMS: Final = frozenset(
    {"model", "api_key", "api_base", "api_version", "temperature", "max_tokens", "timeout"}
)
_CALL_PARAMS: Final = frozenset({"messages", "stream"})
_OWNED_PARAMS: Final = frozenset({"base_url", "num_retries", "max_retries", "retry_policy", "fallbacks"})

ProfileName = Annotated[str, Field(pattern=NAME_PATTERN.pattern)]


class Profile(BaseModel):
    """One LLM: a litellm model string, how to reach it, and where to go when it fails.

    Attributes:
        name: the profile name (the file stem).
        model: litellm model string, e.g. ``"openai/gpt-4o"``.
        api_key_env: name of the environment variable holding the key (preferred over ``api_key``).
        api_key: a literal key; held as a secret and never printed.
        timeout: seconds allowed per attempt.
        num_retries: understudy's retries of this profile on transient errors (rate limit, 5xx, timeout,
            connection), before the fallbacks are tried.
        params: passed to litellm as-is (``top_p``, ``reasoning_effort``, ``extra_headers`` ...).
        fallbacks: exception name (or ``"*"``) to the ordered profile names to try when this profile fails.
        source: the file the profile was loaded from, if any.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ProfileName
    model: Annotated[str, Field(min_length=1)]
    api_base: str | None = None
    api_key_env: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    timeout: Annotated[float, Field(gt=0)] | None = None
    num_retries: Annotated[int, Field(ge=0, le=10)] = 0
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    fallbacks: dict[str, list[ProfileName]] = Field(default_factory=dict)
    source: Path | None = Field(default=None, exclude=True, repr=False)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            # The value is not echoed: a key pasted here by mistake must not reach a log.
            raise ValueError("must be the name of an environment variable (letters, digits, _), not the key itself")
        return value

    @field_validator("params")
    @classmethod
    def _no_reserved_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        for keys, why in (
            (_FIELD_PARAMS, "set the profile's field of that name instead"),
            (_OWNED_PARAMS, "understudy sets it: retries come from num_retries, the endpoint from api_base"),
            (_CALL_PARAMS, "it belongs to each call: pass it to completion()"),
        ):
            clash = sorted(keys & value.keys())
            if clash:
                raise ValueError(f"{', '.join(clash)} cannot go in params; {why}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("set api_key_env or api_key, not both (api_key_env is preferred)")
        for error, targets in self.fallbacks.items():
            if self.name in targets:
                raise ValueError(f"fallbacks[{error!r}] names the profile itself; remove {self.name!r}")
            dupes = sorted({t for t in targets if targets.count(t) > 1})
            if dupes:
                raise ValueError(f"fallbacks[{error!r}] names {', '.join(dupes)} more than once")
        return self

    def resolve_api_key(self) -> str | None:
        """The key to send, read from ``api_key_env`` at call time.

        Raises:
            ProfileError: ``api_key_env`` names a variable that is not set.
        """
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ProfileError(
                f"environment variable {self.api_key_env} is not set; export {self.api_key_env}=... "
                "or point api_key_env at another variable",
                profile=self.name,
                path=self.source,
                field="api_key_env",
            )
        return value

    def secrets(self) -> list[str]:
        """Secret values this profile can send, for redaction: its key, credential-looking ``params``
        values (``extra_headers.Authorization`` ...), and a password inside ``api_base``."""
        found = [self.api_key.get_secret_value()] if self.api_key is not None else []
        if self.api_key_env and os.environ.get(self.api_key_env):
            found.append(os.environ[self.api_key_env])
        found.extend(credential_values(self.params))
        found.extend(credential_values(self.api_base or ""))
        return found

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The key is a SecretStr already; params and api_base may hold credentials too.
        secrets = self.secrets()
        for name, value in super().__repr_args__():
            if name == "params":
                yield name, redact_mapping(value, secrets)
            elif isinstance(value, str):
                yield name, redact(value, secrets)
            else:
                yield name, value

    def litellm_kwargs(self) -> dict[str, Any]:
        """The keyword arguments this profile contributes to ``litellm.completion``."""
        kwargs: dict[str, Any] = {"model": self.model, **self.params}
        for field in ("api_base", "api_version", "temperature", "max_tokens", "timeout"):
            value = getattr(self, field)
            if value is not None:
                kwargs[field] = value
        key = self.resolve_api_key()
        if key is not None:
            kwargs["api_key"] = key
        return kwargs


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid profile name.

    Raises:
        ProfileError: the name does not match ``NAME_PATTERN``.
    """
    if not NAME_PATTERN.match(name):
        raise ProfileError(f"invalid profile name {name!r}: {_NAME_RULE}", profile=name)
    if name in RESERVED_STEMS:
        raise ProfileError(f"{name!r} is reserved for a router file; name the profile otherwise", profile=name)
    return name


def load_profile_file(path: Path) -> Profile:
    """Parse and validate one profile file; its name is the file stem.

    Raises:
        ProfileError: the file cannot be read or parsed, or a field is invalid. The message names the file,
            every bad field and what to do.
    """
    name = validate_name(path.stem)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read the file: {exc}", profile=name, path=path) from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"invalid TOML: {exc}", profile=name, path=path) from exc
    except json.JSONDecodeError as exc:
        raise ProfileError(f"invalid JSON: {exc}", profile=name, path=path) from exc
    if not isinstance(data, dict):
        raise ProfileError("the file must hold one table of fields", profile=name, path=path)
    if "name" in data:
        raise ProfileError(
            "the name is the file stem; remove the field (or rename the file)", profile=name, path=path, field="name"
        )
    if "source" in data:
        raise ProfileError(
            "unknown field; remove it (understudy records the file itself)", profile=name, path=path, field="source"
        )
    try:
        return Profile.model_validate({**data, "name": name, "source": path})
    except ValidationError as exc:
        raise _profile_error(exc, name, path) from None


def _profile_error(exc: ValidationError, name: str, path: Path) -> ProfileError:
    problems: list[tuple[str | None, str]] = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or None  # None: a rule across fields
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(field or "", Profile.model_fields, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid fields: {', '.join(_FILE_FIELDS)}"
            problems.append((field, f"unknown field; {hint}"))
        elif error["type"] == "string_pattern_mismatch":
            problems.append((field, f"{error['input']!r} is not a profile name: {_NAME_RULE}"))
        elif field and field.startswith("fallbacks.") and error["type"] == "list_type":
            example = f'{error["loc"][1]} = ["other-profile"]'
            problems.append((field, f"must be a list of profile names, e.g. {example}"))
        else:
            # pydantic prefixes validator messages with "Value error, "; the rest is ours.
            problems.append((field, error["msg"].removeprefix("Value error, ")))
    if len(problems) == 1:
        field, message = problems[0]
        return ProfileError(message, profile=name, path=path, field=field)
    text = "; ".join(f"field {field!r}: {message}" if field else message for field, message in problems)
    return ProfileError(text, profile=name, path=path)


_FILE_FIELDS: Final = tuple(f for f in Profile.model_fields if f not in {"name", "source"})
