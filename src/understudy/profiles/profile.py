"""Profiles: one LLM configuration each, stored one per file as ``<name>.toml`` or ``<name>.json``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from understudy.errors import ProfileError
from understudy.profiles.health import MAX_HEALTH_SECONDS, HealthSettings
from understudy.profiles.retries import RetrySettings
from understudy.redaction import credential_values, redact, redact_mapping

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "MAX_NESTING",
    "MAX_PROFILE_BYTES",
    "MAX_TIMEOUT",
    "MAX_TOKENS",
    "NAME_PATTERN",
    "NAME_RULE",
    "PROFILE_SUFFIXES",
    "Profile",
    "validate_name",
]

_NAME_BODY: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
# \A...\Z: correct under .match, .search and .fullmatch alike (`$` also matches before a final "\n").
NAME_PATTERN: Final = re.compile(rf"\A{_NAME_BODY}\Z")
PROFILE_SUFFIXES: Final = (".toml", ".json")
MAX_PROFILE_BYTES: Final = 1024 * 1024  # a profile is a few hundred bytes; a bigger file is a mistake
MAX_NESTING: Final = 64  # levels of tables and lists; deeper data would exhaust the stack of what reads it
MAX_TIMEOUT: Final = 3600  # seconds per attempt
MAX_TOKENS: Final = 10_000_000
ROUTES_FILE_STEM: Final = "routes"  # routes.toml beside the profiles is a router, not a profile
TIERS_FILE_STEM: Final = "tiers"  # and so is tiers.toml
RESERVED_STEMS: Final = frozenset({ROUTES_FILE_STEM, TIERS_FILE_STEM})
ROUTER_KINDS: Final = frozenset({"tiered", "match"})  # a file saying kind = one of these is a router, not a profile
NAME_RULE: Final = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Keys that must not go in `params`: the profile's own fields (a duplicate would silently lose to them),
# what understudy sets on every call (retries), and what belongs to each call (messages, stream).
_FIELD_PARAMS: Final = frozenset(
    {"model", "api_key", "api_key_env", "api_base", "api_base_env", "api_version", "temperature", "max_tokens"}
    | {"timeout", "connect_timeout", "first_token_timeout", "stall_timeout"}
)
_CALL_PARAMS: Final = frozenset({"messages", "stream"})
_OWNED_PARAMS: Final = frozenset({"base_url", "num_retries", "max_retries", "retry_policy", "fallbacks"})
# What each field takes, and an example value, for error messages that say what to write.
_FIELD_RULES: Final = {
    "model": ("the litellm model string", '"openai/gpt-4o"'),
    "api_base": ("the endpoint URL", '"http://localhost:11434"'),
    "api_base_env": ("the name of the environment variable holding the endpoint URL", '"OPENAI_BASE_URL"'),
    "api_key_env": ("the name of the environment variable holding the key", '"OPENAI_API_KEY"'),
    "api_version": ("the provider's API version", '"2024-10-21"'),
    "temperature": ("a number from 0 to 2", "0.2"),
    "max_tokens": (f"a whole number from 1 to {MAX_TOKENS}", "4096"),
    "max_input_tokens": (f"a whole number from 1 to {MAX_TOKENS}", "128000"),
    "timeout": (f"a number of seconds, more than 0 and at most {MAX_TIMEOUT}", "30"),
    "connect_timeout": (f"a number of seconds, more than 0 and at most {MAX_TIMEOUT}", "5"),
    "first_token_timeout": (f"a number of seconds, more than 0 and at most {MAX_TIMEOUT}", "20"),
    "stall_timeout": (f"a number of seconds, more than 0 and at most {MAX_TIMEOUT}", "10"),
    "num_retries": ("a whole number from 0 to 10", "2"),
    "deadline": (f"a number of seconds, more than 0 and at most {MAX_TIMEOUT}", "20"),
    "max_attempts": ("a whole number from 1 to 100", "4"),
    "description": ("text", '"cloud primary"'),
    "refusal_is_failure": ("true or false", "true"),
    "on_interrupt": ('"raise", "restart" or "continue"', '"restart"'),
    "assistant_prefill": ("true or false", "true"),
    "health.enabled": ("true or false", "false"),
    "health.failures": ("a whole number from 1 to 1000", "3"),
    "health.window": (f"a number of seconds, more than 0 and at most {MAX_HEALTH_SECONDS}", "60"),
    "health.cooldown": (f"a number of seconds, more than 0 and at most {MAX_HEALTH_SECONDS}", "30"),
    "health.model_scoped": ("a list of exception names", '["NotFoundError"]'),
    "health.request_scoped": ("a list of exception names", '["BadRequestError"]'),
    **{f"retries.{kind}": ("a whole number from 0 to 10", "1") for kind in RetrySettings.model_fields},
}

# pydantic checks patterns with Rust's regex, which has no \Z but whose `$` matches only at the very end.
ProfileName = Annotated[str, Field(pattern=rf"^{_NAME_BODY}$")]


class Profile(BaseModel):
    """One LLM: a litellm model string, how to reach it, and where to go when it fails.

    A profile file is validated strictly: ``timeout = "30"``, ``max_tokens = 1.0`` and ``num_retries = true``
    are errors, not coerced. Numbers are finite and bounded: ``temperature`` 0 to 2, ``max_tokens`` 1 to
    ``MAX_TOKENS``, ``timeout`` more than 0 and at most ``MAX_TIMEOUT`` seconds, ``num_retries`` 0 to 10.

    Attributes:
        name: the profile name (the file stem).
        model: litellm model string, e.g. ``"openai/gpt-4o"``.
        api_base: the endpoint URL.
        api_base_env: name of the environment variable holding the endpoint URL, read at each call.
        api_key_env: name of the environment variable holding the key (preferred over ``api_key``).
        api_key: a literal key; held as a secret and never printed.
        timeout: seconds allowed per attempt.
        connect_timeout: seconds to establish the connection (``understudy.calls.timeouts``).
        first_token_timeout: seconds until a plain call's answer, or a stream's first chunk, arrives.
        stall_timeout: the longest gap between a stream's chunks, in seconds.
        max_input_tokens: the model's context window, where litellm does not know it (or knows it wrong): a
            fallback whose window cannot hold the prompt is skipped.
        num_retries: the most retries of this profile in one call, on transient errors (rate limit, 5xx,
            connection), before the fallbacks are tried.
        retries: how ``num_retries`` are spent per kind of failure (``[retries]``): a 5xx or a dropped
            connection once, a timeout never, by default.
        deadline: seconds for a whole call that starts here, retries and fallbacks included.
        max_attempts: model calls a call that starts here may make, retries and fallbacks included.
        refusal_is_failure: a 200 answer whose model refused (``message.refusal``) or whose filter cut it is
            a ``ContentPolicyViolationError``, so the fallbacks named for it answer instead; by default it is
            returned as the provider sent it.
        on_interrupt: what a stream that starts here does when the provider cuts it after chunks went out:
            ``"raise"`` ``StreamInterruptedError`` (the default), ``"restart"`` the answer on the next
            profile its fallbacks name, after a ``StreamRestart`` marker, or ``"continue"`` it there from the
            partial answer, as an assistant prefill (``understudy.calls.restarts``).
        assistant_prefill: whether the model goes on from a partial answer given as the last (assistant)
            message; None: as litellm's model map says (``supports_assistant_prefill``), unknown meaning no.
        transport: how the model is called: ``"litellm"``, or ``"direct"``, one HTTP request to an
            OpenAI-compatible endpoint without litellm's per-call logging and bookkeeping
            (``understudy.calls.direct_call``); ``openai/`` models only. None: litellm, unless the
            ``UNDERSTUDY_TRANSPORT`` environment variable says ``direct``.
        params: passed to litellm as-is (``top_p``, ``reasoning_effort``, ``extra_headers`` ...).
        fallbacks: exception name (or ``"*"``) to the ordered profile names to try when this profile fails.
        health: when repeated failures make calls skip this profile for a while (``[health]``).
        source: the file the profile was loaded from, if any.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ProfileName
    model: str
    api_base: str | None = None
    api_base_env: str | None = None
    api_key_env: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    temperature: Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS)] | None = None
    max_input_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS)] | None = None
    timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)] | None = None
    connect_timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)] | None = None
    first_token_timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)] | None = None
    stall_timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)] | None = None
    num_retries: Annotated[int, Field(ge=0, le=10)] = 0
    deadline: Annotated[float, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)] | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    refusal_is_failure: bool = False
    on_interrupt: Literal["raise", "restart", "continue"] = "raise"
    assistant_prefill: bool | None = None
    transport: Literal["litellm", "direct"] | None = None
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    fallbacks: dict[str, list[ProfileName]] = Field(default_factory=dict)
    health: HealthSettings = Field(default_factory=HealthSettings)
    retries: RetrySettings = Field(default_factory=RetrySettings)
    source: Path | None = Field(default=None, exclude=True, repr=False)

    @field_validator("model", "api_base", "api_version")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        if value is not None and value != value.strip():
            raise ValueError("must not have spaces or line breaks around it")
        return value

    @field_validator("api_key_env", "api_base_env")
    @classmethod
    def _env_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            what = "the key" if info.field_name == "api_key_env" else "the URL"
            # The value is not echoed: a key pasted here by mistake must not reach a log.
            raise ValueError(f"must be the name of an environment variable (letters, digits, _), not {what} itself")
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
        if self.api_base is not None and self.api_base_env is not None:
            raise ValueError("set api_base_env or api_base, not both")
        if self.transport == "direct" and not self.model.startswith("openai/"):
            raise ValueError(
                f"transport = 'direct' speaks the OpenAI wire only, and model {_clip(repr(self.model))} is not an "
                "openai/ model: write model = 'openai/<name>' for an OpenAI-compatible endpoint, or remove transport"
            )
        if self.transport == "direct" and self.api_version is not None:
            raise ValueError("transport = 'direct' takes no api_version (an Azure setting): remove one of them")
        for error, targets in self.fallbacks.items():
            if self.name in targets:
                raise ValueError(f"fallbacks[{error!r}] names the profile itself; remove {self.name!r}")
            dupes = sorted({t for t in targets if targets.count(t) > 1})
            if dupes:
                raise ValueError(f"fallbacks[{error!r}] names {', '.join(dupes)} more than once")
        return self

    @field_serializer("api_base", "params", when_used="json")
    def _redacted(self, value: Any) -> Any:
        # JSON is for display and logs; python-mode dumps keep the real values (a route's profile is rebuilt from them).
        return redact_mapping(value, self.secrets())

    def resolve_api_key(self) -> str | None:
        """The key to send, read from ``api_key_env`` at call time.

        Raises:
            ProfileError: ``api_key_env`` names a variable that is not set.
        """
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env is None:
            return None
        return self._from_env("api_key_env", self.api_key_env, "...")

    def resolve_api_base(self) -> str | None:
        """The endpoint to call: ``api_base``, or the URL read from ``api_base_env`` at call time.

        Raises:
            ProfileError: ``api_base_env`` names a variable that is not set.
        """
        if self.api_base_env is None:
            return self.api_base
        return self._from_env("api_base_env", self.api_base_env, "https://...")

    def _from_env(self, field: str, variable: str, placeholder: str) -> str:
        value = os.environ.get(variable)
        if not value:
            raise ProfileError(
                f"environment variable {variable} is not set; export {variable}={placeholder} "
                f"or point {field} at another variable",
                profile=self.name,
                path=self.source,
                field=field,
            )
        return value

    def secrets(self) -> list[str]:
        """Secret values this profile can send, for redaction: its key, credential-looking ``params``
        values (``extra_headers.Authorization`` ...), and a password inside the endpoint URL."""
        found = [self.api_key.get_secret_value()] if self.api_key is not None else []
        if self.api_key_env and os.environ.get(self.api_key_env):
            found.append(os.environ[self.api_key_env])
        found.extend(credential_values(self.params))
        found.extend(credential_values(self.api_base or ""))
        if self.api_base_env:
            found.extend(credential_values(os.environ.get(self.api_base_env, "")))
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
        """The keyword arguments this profile contributes to ``litellm.completion``.

        Raises:
            ProfileError: ``api_key_env`` or ``api_base_env`` names a variable that is not set.
        """
        kwargs: dict[str, Any] = {"model": self.model, **self.params}
        api_base = self.resolve_api_base()
        if api_base is not None:
            kwargs["api_base"] = api_base
        for field in ("api_version", "temperature", "max_tokens", "timeout"):
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
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ProfileError(f"invalid profile name {_clip(repr(name))}: {NAME_RULE}", profile=str(name)[:64])
    if name in RESERVED_STEMS:
        raise ProfileError(f"{name!r} is reserved for a router file; name the profile otherwise", profile=name)
    return name


def _clip(text: str, limit: int = 70) -> str:
    """``text`` cut to ``limit`` characters: a 1 MB key or value must not become a 1 MB message."""
    return text if len(text) <= limit else f"{text[: limit - 10]}...(cut)"
