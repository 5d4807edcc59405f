"""``model_list``: its entries grouped by ``model_name`` and given profile names, and each entry's
``litellm_params`` made into profile fields, leaving out (with a warning) what a profile file must not or
cannot hold. An endpoint read from the environment (``api_base: os.environ/VAR``) becomes
``api_base_env = "VAR"``: the variable's name, never its value."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from understudy.errors import ConfigError
from understudy.profiles.profile import NAME_PATTERN, RESERVED_STEMS, Profile
from understudy.redaction import is_credential_key, redact

if TYPE_CHECKING:
    from understudy.importers.results import Notes

_ENV_PREFIX: Final = "os.environ/"
# The keys litellm reads the endpoint from: api_base, else base_url (litellm/main.py: api_base or base_url).
_ENDPOINT_KEYS: Final = ("api_base", "base_url")
# litellm_params keys that are profile fields (base_url is litellm's other name for api_base).
_FIELD_KEYS: Final = frozenset(
    {"model", "api_base", "base_url", "api_version", "temperature", "max_tokens", "timeout", "num_retries"}
)
# Keys only LiteLLM's router or proxy acts on: load balancing, budgets, credentials kept by the proxy.
_ROUTER_ONLY: Final = frozenset(
    {
        "rpm",
        "tpm",
        "max_parallel_requests",
        "order",
        "weight",
        "stream_timeout",
        "cooldown_time",
        "max_budget",
        "budget_duration",
        "tags",
        "region_name",
        "max_file_size_mb",
        "litellm_credential_name",
        "configurable_clientside_auth_params",
        "use_in_pass_through",
    }
)
# The other keys Profile refuses in params (profiles.py), and why.
_REFUSED: Final = {
    "max_retries": "understudy does the retrying; num_retries says how often",
    "retry_policy": "understudy does the retrying; num_retries says how often",
    "fallbacks": "the profile's fallbacks table replaces them",
    "messages": "they belong to each call",
    "stream": "they belong to each call",
    "api_key_env": "they are not LiteLLM parameters; write api_key: os.environ/VAR (or api_base: os.environ/VAR)",
    "api_base_env": "they are not LiteLLM parameters; write api_key: os.environ/VAR (or api_base: os.environ/VAR)",
    **dict.fromkeys(
        ("connect_timeout", "first_token_timeout", "stall_timeout"),
        "they are not LiteLLM parameters; set the profile field of that name in the imported file",
    ),
}


@dataclass
class Group:
    """The model_list entries that share a model_name: one deployment, or a load-balanced group."""

    model_name: str
    entries: list[tuple[int, Mapping[str, Any]]]
    names: list[str] = field(default_factory=list)  # a profile name per entry, the first being the group's


def read_groups(notes: Notes, data: Mapping[str, Any]) -> tuple[dict[str, Group], set[str]]:
    """The model groups in order of first appearance, named; and the wildcard model_names, which cannot
    become profiles."""
    model_list = data.get("model_list")
    if not isinstance(model_list, list) or not model_list:
        raise ConfigError(
            f"{notes.source}: no model_list; a LiteLLM Router config lists its models as "
            "model_list: [{model_name: ..., litellm_params: {model: ...}}, ...]"
        )
    groups: dict[str, Group] = {}
    wildcards: set[str] = set()
    for index, entry in enumerate(model_list):
        where = f"model_list[{index}]"
        if not isinstance(entry, Mapping):
            notes.problem(where, "must be a table with model_name and litellm_params")
            continue
        model_name = entry.get("model_name")
        params = entry.get("litellm_params")
        if not isinstance(model_name, str) or not model_name:
            notes.problem(f"{where}.model_name", "must be set to the name callers use for the model")
            continue
        if not isinstance(params, Mapping) or not isinstance(params.get("model"), str) or not params["model"]:
            notes.problem(f"{where}.litellm_params.model", "must be set to a litellm model string")
            continue
        if "*" in model_name or "*" in params["model"]:
            wildcards.add(model_name)
            notes.warn(
                where,
                f"{model_name!r} is a wildcard route, not imported: a profile is one model; write a profile "
                "for each model you call through it",
            )
            continue
        groups.setdefault(model_name, Group(model_name, [])).entries.append((index, entry))
    _name(notes, groups)
    return groups, wildcards - groups.keys()


def _name(notes: Notes, groups: dict[str, Group]) -> None:
    """Give each entry a profile name: the group's own first, then ``<name>-2``, ``<name>-3`` ..."""
    # Casefolded: gpt-4.toml and GPT-4.toml are one file on macOS and Windows. routes.toml and tiers.toml
    # beside the profiles are router files, so those names are taken from the start.
    taken: set[str] = {stem.casefold() for stem in RESERVED_STEMS}

    def claim(base: str, number: int | None) -> str:
        while True:
            suffix = f"-{number}" if number is not None else ""
            name = base[: 64 - len(suffix)].rstrip("._-") + suffix
            if name.casefold() not in taken:
                taken.add(name.casefold())
                return name
            number = 2 if number is None else number + 1

    for group in groups.values():
        base = _valid_name(group.model_name)
        group.names.append(claim(base, None))
        if group.names[0] != group.model_name:
            if base != group.model_name:
                why = (
                    "is not a valid profile name (1-64 letters, digits, '.', '_' or '-', starting with a "
                    "letter or digit)"
                )
            elif base.casefold() in RESERVED_STEMS:
                why = f"is reserved: {base.casefold()}.toml beside the profiles is a router file, not a profile" + (
                    "" if base in RESERVED_STEMS else " (file names ignore case on macOS and Windows)"
                )
            else:
                why = "would share its file with another profile (file names ignore case on macOS and Windows)"
            where = f"model_list[{group.entries[0][0]}]"
            notes.warn(where, f"model_name {group.model_name!r} {why}; its profile is {group.names[0]!r}")
    for group in groups.values():
        group.names += [claim(group.names[0], 2) for _ in group.entries[1:]]
        if len(group.entries) > 1:
            indexes = ", ".join(str(index) for index, _ in group.entries)
            notes.warn(
                f"model_list[{indexes}]",
                f"{group.model_name!r} is a load-balanced group of {len(group.entries)} deployments; understudy "
                f"does not balance load: {group.names[0]} is tried first, then {', '.join(group.names[1:])} "
                f"(its fallbacks under '*'); a fallback to {group.model_name!r} names them all",
            )


def profile_fields(notes: Notes, index: int, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A profile's fields from one entry's litellm_params, without what must not or cannot be written."""
    where = entry_where(index, entry["model_name"])
    fields: dict[str, Any] = {}
    params: dict[str, Any] = {}
    left_out: dict[str, list[str]] = {}  # why -> keys
    # The key litellm takes the endpoint from; leaving it out would send the profile's calls elsewhere.
    endpoint = next((key for key in _ENDPOINT_KEYS if entry["litellm_params"].get(key)), None)
    for key, value in entry["litellm_params"].items():
        if value is None:
            continue  # LiteLLM's "not set"
        if key == endpoint and _from_env(value) and reads_endpoint_from_env():
            fields["api_base_env"] = value.removeprefix(_ENV_PREFIX)
        elif key == endpoint and (_from_env(value) or _holds_secret(key, value)):
            _endpoint_problem(notes, where, key, value)
        elif key == "api_key":
            _api_key(notes, value, where, entry["litellm_params"]["model"], fields)
        elif _from_env(value):
            why = (
                "a profile reads only its key from the environment; set the value in the file, or leave it out "
                "where litellm reads the provider's variable itself"
            )
            left_out.setdefault(why, []).append(f"{key} ({value})")
        elif key in _ROUTER_ONLY:
            left_out.setdefault("only LiteLLM's router acts on them (load balancing, budgets)", []).append(key)
        elif key in _REFUSED:
            left_out.setdefault(_REFUSED[key], []).append(key)
        elif _holds_secret(key, value):
            why = "they hold credentials, which are never written to a file; export them where litellm reads them"
            left_out.setdefault(why, []).append(key)
        elif not _writable(value):
            left_out.setdefault("a TOML file cannot hold their values (null, NaN or another type)", []).append(key)
        elif key == "base_url":
            fields.setdefault("api_base", value)  # api_base wins when both are given
        elif key in _FIELD_KEYS:
            fields[key] = value
        else:
            params[key] = value
    for why, keys in left_out.items():
        notes.warn(where, f"left out {', '.join(keys)}: {why}")
    if params:
        fields["params"] = params
    return fields


def reads_endpoint_from_env() -> bool:
    """True when profiles have ``api_base_env`` (the variable holding the endpoint URL)."""
    return "api_base_env" in Profile.model_fields


def _endpoint_problem(notes: Notes, where: str, key: str, value: Any) -> None:
    """An endpoint that cannot be written: leaving it out would send the calls to the provider's public
    endpoint instead, so it stops the import. The value is never quoted, only the variable's name."""
    consequence = f"without it the profile would call the provider's public endpoint instead of the one {key} names"
    if _from_env(value):
        variable = value.removeprefix(_ENV_PREFIX)
        notes.problem(
            where,
            f"{key} is read from the environment ({value}), which a profile cannot do, and {consequence}; set "
            f"{key} to the URL itself (the value of {variable}) in the config and import again",
        )
    else:
        notes.problem(
            where,
            f"{key} holds credentials (in the URL), which are never written to a file, and {consequence}; put "
            f"the URL without the credentials in the config's {key} and import again (if the endpoint "
            "needs a key, give it through api_key = os.environ/VAR, which becomes api_key_env)",
        )


def _api_key(notes: Notes, value: Any, where: str, model: str, fields: dict[str, Any]) -> None:
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        fields["api_key_env"] = value.removeprefix(_ENV_PREFIX)
        return
    provider, _, rest = model.partition("/")
    variable = re.sub(r"[^A-Za-z0-9]", "_", provider).upper() + "_API_KEY" if rest else "PROVIDER_API_KEY"
    notes.warn(
        where,
        f"its literal api_key is left out: a key must not sit in a file. Export it (e.g. as {variable}) and add "
        f'api_key_env = "{variable}" to the profile, or set the entry\'s api_key to os.environ/{variable} in '
        "the LiteLLM config and import again (with neither, litellm looks for the provider's usual variable)",
    )


def entry_where(index: int, model_name: str) -> str:
    """Where an entry is, as messages name it."""
    return f"model_list[{index}] ({model_name!r})"


def _valid_name(model_name: str) -> str:
    """``model_name`` if it is a valid profile name, else the nearest one: other characters become ``-``."""
    if NAME_PATTERN.match(model_name):
        return model_name
    name = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]", "-", model_name)).strip("._-")
    return name[:64].rstrip("._-") or "model"


def _from_env(value: Any) -> bool:
    """True for LiteLLM's ``os.environ/VAR``: a value the proxy reads from the environment."""
    return isinstance(value, str) and value.startswith(_ENV_PREFIX)


def _holds_secret(key: str, value: Any) -> bool:
    """True for a value that is a credential by its name (``aws_secret_access_key``, ``Authorization``
    inside ``extra_headers``) or by its shape (``sk-...``, a password in a URL)."""
    if isinstance(value, str):
        return is_credential_key(key) or redact(value) != value
    if isinstance(value, Mapping):
        return any(_holds_secret(str(k), v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_secret(key, v) for v in value)
    return False


def _writable(value: Any) -> bool:
    """True for a value TOML holds and gives back unchanged."""
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, str | bool | int):
        return True
    if isinstance(value, list):
        return all(_writable(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _writable(v) for k, v in value.items())
    return False
