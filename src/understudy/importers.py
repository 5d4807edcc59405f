"""Import profiles from a LiteLLM Router config: one profile file per ``model_list`` entry.

The conversion is static: it reads the config as data, so it never imports litellm and needs no key. It is
also pure: ``import_litellm_config`` returns the profiles, the TOML text of each and warnings, and
``write_profiles`` writes them. Where each part of a LiteLLM config lands:

=====================================  =======================================================================
LiteLLM                                profile
=====================================  =======================================================================
``model_list[i].model_name``           the profile name (made valid if it is not, and never ``routes`` or
                                       ``tiers``, the router files' names); entries sharing a name are a
                                       load-balanced group: ``<name>``, ``<name>-2`` ..., the others under
                                       the first one's ``fallbacks."*"``; a fallback to the group names all
``litellm_params.api_key``             ``api_key_env`` for ``os.environ/VAR``; a literal key is left out
``litellm_params.api_base``            ``api_base``; one read from the environment or holding credentials
                                       stops the import, since without it the profile would call the
                                       provider's public endpoint
``litellm_params`` (the rest)          the profile field of that name, else ``params``; keys only LiteLLM's
                                       router acts on (``rpm``, ``tpm`` ...) are left out
``fallbacks``, ``default_fallbacks``   ``fallbacks."*"``
``context_window_fallbacks``           ``fallbacks.ContextWindowExceededError``
``content_policy_fallbacks``           ``fallbacks.ContentPolicyViolationError``
``max_fallbacks``                      how deep the fallbacks' own fallbacks are followed (default 5)
``num_retries``, ``timeout``           each profile's ``num_retries`` and ``timeout`` (its own
                                       ``litellm_params`` win); with no ``num_retries`` anywhere, LiteLLM's
                                       default, 2
=====================================  =======================================================================

LiteLLM's Router follows a fallback's own fallbacks; understudy walks one list, the one the primary's error
picks. So each list is the whole walk LiteLLM makes (``run_async_fallback`` in ``litellm/router_utils/
fallback_event_handlers.py``) when every model in it fails with the same kind of error: depth first, each
model group once, never the profile itself, a fallback with no entry of its own going on with the
primary's entry before the ``"*"`` one, and no deeper than ``max_fallbacks``. Where a fallback failing with
another kind of error would make LiteLLM go elsewhere, a warning says where.

Router-level settings may sit at the top level (``Router(...)``'s arguments as a dict) or under
``router_settings`` / ``litellm_settings`` (the proxy's ``config.yaml``, where the timeout is
``request_timeout``). A setting given in both keeps ``router_settings``' value, as LiteLLM does.
"""

from __future__ import annotations

import difflib
import importlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from understudy.errors import ConfigError, UnknownExceptionNameError
from understudy.exception_names import WILDCARD, ExceptionNames
from understudy.plugins import get_plugin_manager
from understudy.profiles import NAME_PATTERN, RESERVED_STEMS, Profile
from understudy.redaction import is_credential_key, redact

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "CONFIG_SUFFIXES",
    "ImportResult",
    "ImportedProfile",
    "WriteReport",
    "import_litellm_config",
    "profile_toml",
    "read_config",
    "write_profiles",
]

CONFIG_SUFFIXES: Final = (".yaml", ".yml", ".json", ".toml")
_ENV_PREFIX: Final = "os.environ/"
# The top level is a Router(...) dict; router_settings and litellm_settings are the proxy's config.yaml. The
# Router takes router_settings as its arguments and litellm_settings only for what it was not given.
_SECTIONS: Final = ("", "router_settings", "litellm_settings")
_FALLBACK_SETTINGS: Final = {
    "fallbacks": WILDCARD,
    "context_window_fallbacks": "ContextWindowExceededError",
    "content_policy_fallbacks": "ContentPolicyViolationError",
}
_SETTINGS: Final = frozenset({*_FALLBACK_SETTINGS, "default_fallbacks", "max_fallbacks", "num_retries", "timeout"})
# What LiteLLM's Router uses when the config says nothing (litellm/router.py, Router.__init__): num_retries
# is openai.DEFAULT_MAX_RETRIES, max_fallbacks is litellm.ROUTER_MAX_FALLBACKS (litellm/constants.py; the
# ROUTER_MAX_FALLBACKS variable can change it where LiteLLM runs, which a static import cannot see).
_LITELLM_NUM_RETRIES: Final = 2
_LITELLM_MAX_FALLBACKS: Final = 5
# The keys litellm reads the endpoint from: api_base, else base_url (litellm/main.py: api_base or base_url).
_ENDPOINT_KEYS: Final = ("api_base", "base_url")
# Top-level keys that are not settings of the Router and say nothing about a model: skipped without a word.
_SKIPPED_SECTIONS: Final = frozenset({"model_list", "general_settings", "environment_variables", *_SECTIONS})
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
}
_MAX_RETRIES: Final = 10  # Profile.num_retries allows 0 to 10
_MAX_LISTED: Final = 20  # model_names listed in an error before "..."
_MAX_CLAUSES: Final = 6  # places listed in one warning about fallback walks before "..."


@dataclass(frozen=True)
class ImportedProfile:
    """One profile made from one ``model_list`` entry.

    Attributes:
        profile: the validated profile (``source`` is None until a file is written).
        toml: the text of its file, which loads back as the same profile.
        index: the entry's index in ``model_list``.
    """

    profile: Profile
    toml: str
    index: int

    @property
    def filename(self) -> str:
        return f"{self.profile.name}.toml"


@dataclass(frozen=True)
class ImportResult:
    """What an import produced.

    Attributes:
        source: the config it came from, as messages name it.
        profiles: one per imported ``model_list`` entry, in ``model_list`` order.
        warnings: what was renamed, left out or approximated, each naming where in the config; never a secret.
    """

    source: str
    profiles: tuple[ImportedProfile, ...]
    warnings: tuple[str, ...]

    def files(self) -> dict[str, str]:
        """File name to TOML text, in ``model_list`` order."""
        return {imported.filename: imported.toml for imported in self.profiles}

    def key_variables(self) -> list[str]:
        """The ``api_key_env`` variables the profiles read, sorted: what to export before using them."""
        return sorted({p.profile.api_key_env for p in self.profiles if p.profile.api_key_env})


@dataclass(frozen=True)
class WriteReport:
    """What ``write_profiles`` did.

    Attributes:
        written: the files written.
        skipped: the files left alone, each with why.
    """

    written: tuple[Path, ...] = ()
    skipped: tuple[tuple[Path, str], ...] = ()


# -- reading a config file ------------------------------------------------------------------------------


def read_config(path: Path) -> dict[str, Any]:
    """Parse a config file by its suffix: ``.json``, ``.toml``, or ``.yaml``/``.yml`` (needs PyYAML).

    Raises:
        ConfigError: the file cannot be read or parsed, PyYAML is missing for YAML, or the file holds no
            table. A parse error gives the line, never the line's text, which may hold a key.
    """
    suffix = path.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ConfigError(f"{path}: cannot tell the format from the suffix; name it .yaml, .yml, .json or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc}") from None
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            data = _load_yaml(path, text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file must hold one table (mapping) with a model_list")
    return data


def _load_yaml(path: Path, text: str) -> Any:
    try:
        # Imported by name, here: PyYAML is not a dependency of understudy (LiteLLM's proxy brings it).
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise ConfigError(
            f"{path}: reading YAML needs PyYAML, which is not installed; `pip install pyyaml`, or convert the "
            "config to JSON (e.g. `yq -o json config.yaml > config.json`) and import that"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML: {getattr(exc, 'problem', None) or 'cannot parse'}{where}") from None


# -- converting --------------------------------------------------------------------------------------------


def import_litellm_config(
    data: Mapping[str, Any], *, source: str, plugin_manager: pluggy.PluginManager | None = None
) -> ImportResult:
    """Convert a LiteLLM Router config into profiles, one per ``model_list`` entry (see the module docstring).

    Args:
        data: the config, as ``read_config`` returns it or as passed to ``Router(...)``.
        source: what messages call the config (its file name).
        plugin_manager: where the exception names come from (default: process-wide).

    Returns:
        The profiles, the TOML text of each, and warnings.

    Raises:
        ConfigError: the config is malformed, a fallback names a model_name that model_list does not have, or
            an entry makes an invalid profile. The message names the config and every place at fault, and for
            an unknown name, the close matches and the valid model_names.
    """
    return _Converter(data, source, plugin_manager or get_plugin_manager()).run()


@dataclass
class _Group:
    """The model_list entries that share a model_name: one deployment, or a load-balanced group."""

    model_name: str
    entries: list[tuple[int, Mapping[str, Any]]]
    names: list[str] = field(default_factory=list)  # a profile name per entry, the first being the group's


@dataclass(frozen=True)
class _Rule:
    targets: tuple[str, ...]  # model_names, in order
    where: str


@dataclass
class _Table:
    """One kind of fallbacks (general, context window or content policy): per model_name, and for the rest."""

    exception: str  # the key it becomes in a profile's fallbacks
    where: str
    by_group: dict[str, _Rule] = field(default_factory=dict)
    generic: _Rule | None = None

    def lookup(self, model_names: tuple[str, ...]) -> tuple[str, ...] | None:
        """The fallbacks LiteLLM takes from this table for a failure of the first of ``model_names``: the first
        entry of theirs, else ``"*"``'s; None for neither (``get_fallback_model_group_for_lookup_groups``)."""
        for model_name in model_names:
            rule = self.by_group.get(model_name)
            if rule is not None:
                return rule.targets
        return self.generic.targets if self.generic is not None else None


class _Converter:
    """One import. It gathers every problem before raising, so one run tells the user all that is wrong."""

    def __init__(self, data: Mapping[str, Any], source: str, plugin_manager: pluggy.PluginManager) -> None:
        self.data = data
        self.source = source
        self.exception_names = ExceptionNames(plugin_manager)
        self.warnings: list[str] = []
        self.problems: list[str] = []

    def run(self) -> ImportResult:
        settings = self._settings()
        num_retries = self._retries(settings.get("num_retries"))
        timeout = self._timeout(settings.get("timeout"))
        max_fallbacks = self._max_fallbacks(settings.get("max_fallbacks"))
        groups, wildcards = self._groups()
        tables = self._tables(settings, set(groups), wildcards)
        self._raise_problems()
        if "num_retries" not in settings:
            num_retries = _LITELLM_NUM_RETRIES  # what LiteLLM's Router does then; said in a warning below
        imported: dict[int, ImportedProfile] = {}
        unrouted: dict[str, list[str]] = {}  # a table's location -> profiles it gives no entry
        defaulted: list[str] = []  # the profiles given LiteLLM's default num_retries
        for group in groups.values():
            chains = self._chains(group, tables, groups, max_fallbacks, settings.get("max_fallbacks"))
            for position, ((index, entry), name) in enumerate(zip(group.entries, group.names, strict=True)):
                fields = self._fields(index, entry)
                fields.setdefault("timeout", timeout)
                if "num_retries" in fields:
                    where = f"model_list[{index}].litellm_params.num_retries"
                    fields["num_retries"] = self._retries((fields["num_retries"], where))
                else:
                    fields["num_retries"] = num_retries
                    if "num_retries" not in settings:
                        defaulted.append(name)
                siblings = group.names[1:] if position == 0 else []
                fields["fallbacks"] = self._fallbacks(name, siblings, chains, tables, unrouted)
                fields["description"] = (
                    f"imported from {Path(self.source).name}, model_list[{index}] (model_name {group.model_name!r})"
                )
                values = {k: v for k, v in fields.items() if v is not None}
                profile = self._profile(name, _entry(index, group.model_name), values)
                if profile is not None:
                    comment = f"Written by `understudy import litellm` from {self.source}."
                    imported[index] = ImportedProfile(profile, profile_toml(profile, comment=comment), index)
        self._raise_problems()
        if defaulted:
            if len(defaulted) == len(imported):
                which = "every profile says"
            else:
                which = f"{', '.join(defaulted)} {'says' if len(defaulted) == 1 else 'say'}"
            self._warn(
                "num_retries",
                f"not set, so LiteLLM's Router retries a failed call {_LITELLM_NUM_RETRIES} times "
                f"(openai.DEFAULT_MAX_RETRIES) before its fallbacks; {which} num_retries = {_LITELLM_NUM_RETRIES} "
                "to match (set num_retries in the config, 0 for none, and import again to choose)",
            )
        for where, names in unrouted.items():
            exception = next(table.exception for table in tables if table.where == where)
            self._warn(
                where,
                f"gives no fallbacks for {', '.join(names)}; LiteLLM raises their {exception} unchanged, without "
                f"trying the general fallbacks, so their profiles say {exception} = [] (delete it to let '*' apply)",
            )
        profiles = tuple(imported[index] for index in sorted(imported))
        return ImportResult(self.source, profiles, tuple(dict.fromkeys(self.warnings)))

    def _warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}" if where else message)

    def _problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def _raise_problems(self) -> None:
        if len(self.problems) == 1:
            raise ConfigError(f"{self.source}: {self.problems[0]}")
        if self.problems:
            raise ConfigError(f"{self.source}: {len(self.problems)} problems: {'; '.join(self.problems)}")

    # -- Router-level settings ------------------------------------------------------------------------------

    def _settings(self) -> dict[str, tuple[Any, str]]:
        """Each Router-level setting that is set: its value and where it was found."""
        found: dict[str, tuple[Any, str]] = {}
        ignored: list[str] = []
        for section in _SECTIONS:
            table = self.data.get(section) if section else self.data
            if table is None:
                continue
            if not isinstance(table, Mapping):
                self._problem(section, "must be a table of settings")
                continue
            for key, value in table.items():
                where = f"{section}.{key}" if section else str(key)
                name = "timeout" if (section, key) == ("litellm_settings", "request_timeout") else key
                if name not in _SETTINGS:
                    if section or key not in _SKIPPED_SECTIONS:
                        ignored.append(where)
                elif value is None or value == []:
                    continue  # LiteLLM reads both as "not set"
                elif name in found:
                    if found[name][0] != value:
                        self._warn(where, f"ignored: {found[name][1]} is set too, and LiteLLM's Router uses that")
                else:
                    found[name] = (value, where)
        if ignored:
            self._warn("", f"ignored, as understudy profiles have no counterpart: {', '.join(ignored)}")
        return found

    def _retries(self, setting: tuple[Any, str] | None) -> int | None:
        if setting is None:
            return None
        value, where = setting
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self._problem(where, "must be a whole number of retries, 0 or more")
            return None
        if value > _MAX_RETRIES:
            self._warn(where, f"{value} retries lowered to {_MAX_RETRIES}, the most a profile allows")
            return _MAX_RETRIES
        return value

    def _max_fallbacks(self, setting: tuple[Any, str] | None) -> int:
        if setting is None:
            return _LITELLM_MAX_FALLBACKS
        value, where = setting
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self._problem(where, "must be a whole number, 0 or more: how deep LiteLLM follows fallbacks' fallbacks")
            return _LITELLM_MAX_FALLBACKS
        return value

    def _timeout(self, setting: tuple[Any, str] | None) -> float | None:
        if setting is None:
            return None
        value, where = setting
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            self._problem(where, "must be a number of seconds greater than 0")
            return None
        return float(value)

    # -- model_list --------------------------------------------------------------------------------------

    def _groups(self) -> tuple[dict[str, _Group], set[str]]:
        """The model groups in order of first appearance, named; and the wildcard model_names, which cannot
        become profiles."""
        model_list = self.data.get("model_list")
        if not isinstance(model_list, list) or not model_list:
            raise ConfigError(
                f"{self.source}: no model_list; a LiteLLM Router config lists its models as "
                "model_list: [{model_name: ..., litellm_params: {model: ...}}, ...]"
            )
        groups: dict[str, _Group] = {}
        wildcards: set[str] = set()
        for index, entry in enumerate(model_list):
            where = f"model_list[{index}]"
            if not isinstance(entry, Mapping):
                self._problem(where, "must be a table with model_name and litellm_params")
                continue
            model_name = entry.get("model_name")
            params = entry.get("litellm_params")
            if not isinstance(model_name, str) or not model_name:
                self._problem(f"{where}.model_name", "must be set to the name callers use for the model")
                continue
            if not isinstance(params, Mapping) or not isinstance(params.get("model"), str) or not params["model"]:
                self._problem(f"{where}.litellm_params.model", "must be set to a litellm model string")
                continue
            if "*" in model_name or "*" in params["model"]:
                wildcards.add(model_name)
                self._warn(
                    where,
                    f"{model_name!r} is a wildcard route, not imported: a profile is one model; write a profile "
                    "for each model you call through it",
                )
                continue
            groups.setdefault(model_name, _Group(model_name, [])).entries.append((index, entry))
        self._name(groups)
        return groups, wildcards - groups.keys()

    def _name(self, groups: dict[str, _Group]) -> None:
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
                self._warn(where, f"model_name {group.model_name!r} {why}; its profile is {group.names[0]!r}")
        for group in groups.values():
            group.names += [claim(group.names[0], 2) for _ in group.entries[1:]]
            if len(group.entries) > 1:
                indexes = ", ".join(str(index) for index, _ in group.entries)
                self._warn(
                    f"model_list[{indexes}]",
                    f"{group.model_name!r} is a load-balanced group of {len(group.entries)} deployments; understudy "
                    f"does not balance load: {group.names[0]} is tried first, then {', '.join(group.names[1:])} "
                    f"(its fallbacks under '*'); a fallback to {group.model_name!r} names them all",
                )

    def _fields(self, index: int, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A profile's fields from one entry's litellm_params, without what must not or cannot be written."""
        where = _entry(index, entry["model_name"])
        fields: dict[str, Any] = {}
        params: dict[str, Any] = {}
        left_out: dict[str, list[str]] = {}  # why -> keys
        # The key litellm takes the endpoint from; leaving it out would send the profile's calls elsewhere.
        endpoint = next((key for key in _ENDPOINT_KEYS if entry["litellm_params"].get(key)), None)
        for key, value in entry["litellm_params"].items():
            if value is None:
                continue  # LiteLLM's "not set"
            if key == endpoint and (_from_env(value) or _holds_secret(key, value)):
                self._endpoint_problem(where, key, value)
            elif key == "api_key":
                self._api_key(value, where, entry["litellm_params"]["model"], fields)
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
            self._warn(where, f"left out {', '.join(keys)}: {why}")
        if params:
            fields["params"] = params
        return fields

    def _endpoint_problem(self, where: str, key: str, value: Any) -> None:
        """An endpoint that cannot be written: leaving it out would send the calls to the provider's public
        endpoint instead, so it stops the import. The value is never quoted, only the variable's name."""
        consequence = f"without it the profile would call the provider's public endpoint instead of the one {key} names"
        if _from_env(value):
            variable = value.removeprefix(_ENV_PREFIX)
            self._problem(
                where,
                f"{key} is read from the environment ({value}), which a profile cannot do, and {consequence}; set "
                f"{key} to the URL itself (the value of {variable}) in the config and import again",
            )
        else:
            self._problem(
                where,
                f"{key} holds credentials (in the URL), which are never written to a file, and {consequence}; put "
                f"the URL without the credentials in the config's {key} and import again (if the endpoint "
                "needs a key, give it through api_key = os.environ/VAR, which becomes api_key_env)",
            )

    def _api_key(self, value: Any, where: str, model: str, fields: dict[str, Any]) -> None:
        if isinstance(value, str) and value.startswith(_ENV_PREFIX):
            fields["api_key_env"] = value.removeprefix(_ENV_PREFIX)
            return
        provider, _, rest = model.partition("/")
        variable = re.sub(r"[^A-Za-z0-9]", "_", provider).upper() + "_API_KEY" if rest else "PROVIDER_API_KEY"
        self._warn(
            where,
            f"its literal api_key is left out: a key must not sit in a file. Export it (e.g. as {variable}) and add "
            f'api_key_env = "{variable}" to the profile, or set the entry\'s api_key to os.environ/{variable} in '
            "the LiteLLM config and import again (with neither, litellm looks for the provider's usual variable)",
        )

    def _profile(self, name: str, where: str, values: dict[str, Any]) -> Profile | None:
        try:
            profile = Profile.model_validate({**values, "name": name})
        except ValidationError as exc:
            for error in exc.errors():
                # The message alone: pydantic's full text quotes the input, which may be a secret.
                at = ".".join(str(part) for part in error["loc"])
                self._problem(where, f"{at}: {error['msg']}" if at else error["msg"])
            return None
        for exception in profile.fallbacks:
            try:
                self.exception_names.check(exception)
            except UnknownExceptionNameError as exc:
                self._problem(where, str(exc))
        return profile

    # -- fallbacks -----------------------------------------------------------------------------------------

    def _tables(self, settings: dict[str, tuple[Any, str]], known: set[str], wildcards: set[str]) -> list[_Table]:
        tables = [
            self._table(exception, *settings[key], known, wildcards)
            for key, exception in _FALLBACK_SETTINGS.items()
            if key in settings
        ]
        if "default_fallbacks" in settings:
            value, where = settings["default_fallbacks"]
            general = next((t for t in tables if t.exception == WILDCARD), None)
            if general is None:
                general = _Table(WILDCARD, where)
                tables.insert(0, general)
            elif general.generic is not None:
                self._warn(general.generic.where, f"ignored: {where} replaces it, as in LiteLLM")
            targets = self._targets(value, where, known, wildcards)
            if targets is not None:
                general.generic = _Rule(targets, where)
        return tables

    def _table(self, exception: str, value: Any, where: str, known: set[str], wildcards: set[str]) -> _Table:
        table = _Table(exception, where)
        if not isinstance(value, list):
            self._problem(where, 'must be a list of {model_name: [fallback model_names]}, e.g. [{"gpt-4": ["claude"]}]')
            return table
        for index, item in enumerate(value):
            at = f"{where}[{index}]"
            if not isinstance(item, Mapping) or len(item) != 1:
                self._problem(at, 'must map one model_name to its fallbacks, e.g. {"gpt-4": ["claude"]}')
                continue
            ((model_name, value_targets),) = item.items()
            key_known = model_name == WILDCARD or self._reference(model_name, at, known, wildcards, what="the key")
            targets = self._targets(value_targets, at, known, wildcards)
            if model_name == WILDCARD:
                if table.generic is not None:
                    self._warn(table.generic.where, f"ignored: {at} is another '*' entry, and LiteLLM uses the last")
                if targets is not None:
                    table.generic = _Rule(targets, at)
            elif key_known:
                if model_name in table.by_group:
                    first = table.by_group[model_name].where
                    self._warn(at, f"ignored: {first} gives {model_name!r} fallbacks already, and LiteLLM uses that")
                elif targets is not None:
                    if model_name in targets:
                        self._warn(at, f"{model_name!r} names itself as a fallback; left out")
                    table.by_group[model_name] = _Rule(tuple(t for t in targets if t != model_name), at)
        return table

    def _targets(self, value: Any, where: str, known: set[str], wildcards: set[str]) -> tuple[str, ...] | None:
        if isinstance(value, str):
            value = [value]  # LiteLLM takes {"gpt-4": "claude"} too
        if not isinstance(value, list):
            self._problem(where, "the fallbacks must be a list of model_names")
            return None
        targets = []
        for position, item in enumerate(value):
            name = item.get("model") if isinstance(item, Mapping) else item
            if not isinstance(name, str):
                # Not quoted: a mis-pasted item may hold a key.
                self._problem(where, f"fallback {position + 1} of the list is not a model_name")
                continue
            if isinstance(item, Mapping) and len(item) > 1:
                self._warn(where, f"fallback {name!r} is imported as its model alone; its other settings are not")
            if self._reference(name, where, known, wildcards, what="fallback"):
                targets.append(name)
        return tuple(targets)

    def _reference(self, name: Any, where: str, known: set[str], wildcards: set[str], *, what: str) -> bool:
        if name in known:
            return True
        if name in wildcards:
            self._problem(where, f"{what} {name!r} is a wildcard route, which is not imported; name a model_name")
            return False
        names = sorted(known)
        close = difflib.get_close_matches(name, names, n=3) if isinstance(name, str) else []
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        listed = ", ".join(names[:_MAX_LISTED]) + (f" ... ({len(names)} in all)" if len(names) > _MAX_LISTED else "")
        self._problem(where, f"{what} {name!r} is not a model_name in model_list; {hint}the model_names are: {listed}")
        return False

    def _chains(
        self,
        group: _Group,
        tables: list[_Table],
        groups: dict[str, _Group],
        max_fallbacks: int,
        max_setting: tuple[Any, str] | None,
    ) -> dict[str, list[str] | None]:
        """What a group's profiles fall back to, per kind of error: the profile names of every model group
        LiteLLM's Router would try, in its order (see ``_walk``); None where the table of that kind gives the
        group no entry, so LiteLLM raises the error unchanged. Warns where the walk is cut by
        ``max_fallbacks``, and where a fallback failing with another kind of error sends LiteLLM elsewhere."""
        primary = group.model_name
        general = next((table for table in tables if table.exception == WILDCARD), None)
        # The table LiteLLM consults per kind of error: a specific table if the config has one, else the general.
        kinds = [(WILDCARD, general), *((table.exception, table) for table in tables if table is not general)]
        chains: dict[str, list[str] | None] = {}
        cut: list[str] = []
        elsewhere: list[str] = []
        for exception, table in kinds:
            if table is None:
                chains[exception] = []
                continue
            if exception != WILDCARD and table.lookup((primary,)) is None:
                chains[exception] = None
                continue
            walked = _walk(primary, _tables_of(table), max_fallbacks)
            chains[exception] = _names(groups, (target for target, _ in walked))
            reached = {target for target, _ in walked}
            beyond = [target for target, _ in _walk(primary, _tables_of(table), None) if target not in reached]
            if beyond:
                cut.append(f"{', '.join(_names(groups, beyond))} for {_key(exception)}")
            # (the error one fallback raises instead, what LiteLLM then tries that this list does not name), the
            # others failing as the primary did -> those fallbacks
            parted: dict[tuple[str, tuple[str, ...]], list[str]] = {}
            for hop, depth in walked:
                if depth >= max_fallbacks:
                    continue  # LiteLLM does not look up this fallback's own fallbacks, whatever its error
                for other, alternative in kinds:
                    if alternative is None or alternative is table:
                        continue
                    walk = _walk(primary, _tables_of(table, (hop, alternative)), max_fallbacks)
                    extra = tuple(target for target, _ in walk if target not in reached)
                    if extra:
                        parted.setdefault((other, extra), []).append(groups[hop].names[0])
            clauses = [
                f"{', '.join(_names(groups, extra))} if {' or '.join(hops)} raises {_kind(other)}"
                for (other, extra), hops in parted.items()
            ]
            if clauses:
                elsewhere.append(f"in the {_key(exception)} list: {_listed(clauses, ', ')}")
        where = _group_where(group)
        if cut:
            setting = f"{max_setting[1]} = {max_fallbacks}" if max_setting else f"max_fallbacks = {max_fallbacks}"
            self._warn(
                where,
                f"fallbacks deeper than {setting}{'' if max_setting else ' (LiteLLM default)'} are left out, as "
                f"LiteLLM never reaches them: {_listed(cut, '; ')}",
            )
        if elsewhere:
            self._warn(
                where,
                "each fallbacks list is LiteLLM's walk when every fallback fails with the first error's kind; "
                "LiteLLM picks a fallback's own fallbacks by the error that fallback raised, understudy keeps to "
                f"the one list, so LiteLLM also tries, {'; '.join(elsewhere)} (add them to the list to try them too)",
            )
        return chains

    def _fallbacks(
        self,
        name: str,
        siblings: list[str],
        chains: dict[str, list[str] | None],
        tables: list[_Table],
        unrouted: dict[str, list[str]],
    ) -> dict[str, list[str]]:
        """One profile's fallbacks table: the specific entries first, then ``"*"`` (the group's other
        deployments, then the general fallbacks)."""
        fallbacks: dict[str, list[str]] = {}
        for table in tables:
            if table.exception == WILDCARD:
                continue
            chain = chains[table.exception]
            if chain is None:
                # LiteLLM raises this error unchanged for a model its table does not name, instead of using
                # the general fallbacks; an empty list does the same here.
                fallbacks[table.exception] = []
                unrouted.setdefault(table.where, []).append(name)
            else:
                fallbacks[table.exception] = chain
        general = siblings + (chains[WILDCARD] or [])
        if general:
            fallbacks[WILDCARD] = general
        return fallbacks


def _walk(primary: str, table_of: Callable[[str], _Table], max_fallbacks: int | None) -> list[tuple[str, int]]:
    """The model groups LiteLLM's Router tries, in order, after ``primary`` fails and each of them fails too,
    each with its depth (LiteLLM's ``fallback_depth`` when that group's own fallbacks are looked up).
    ``table_of`` gives the fallbacks table a failed group's error makes LiteLLM consult.

    As ``run_async_fallback`` (litellm/router_utils/fallback_event_handlers.py) does it: depth first, a failed
    fallback's own list before the next entry; a group the request tried already is skipped; a fallback's
    list is the entry under its own name, else the primary's (``fallback_lookup_groups``), else ``"*"``; and
    a list is not looked into once the depth reaches ``max_fallbacks`` (None: no limit), the primary's at 0.
    """
    attempted = {primary}
    tried: list[tuple[str, int]] = []

    def targets(failed: str) -> Iterator[str]:
        return iter(table_of(failed).lookup((failed,) if failed == primary else (failed, primary)) or ())

    frames = [(primary, 0, targets(primary))] if max_fallbacks is None or max_fallbacks > 0 else []
    while frames:
        failed, depth, pending = frames[-1]
        target = next((t for t in pending if t != failed and t not in attempted), None)
        if target is None:
            frames.pop()
            continue
        attempted.add(target)
        depth += 1
        tried.append((target, depth))
        frames[-1] = (failed, depth, pending)
        if max_fallbacks is None or depth < max_fallbacks:
            frames.append((target, depth, targets(target)))
    return tried


def _tables_of(table: _Table, exception: tuple[str, _Table] | None = None) -> Callable[[str], _Table]:
    """For ``_walk``: every failure consults ``table``, but that of the model group ``exception`` names, which
    consults the table given with it (the group failed with another kind of error)."""

    def table_of(failed: str) -> _Table:
        return exception[1] if exception is not None and failed == exception[0] else table

    return table_of


def _names(groups: dict[str, _Group], model_names: Iterable[str]) -> list[str]:
    """The profile names of model groups: every deployment of each."""
    return [name for model_name in model_names for name in groups[model_name].names]


def _kind(exception: str) -> str:
    """A kind of error as a warning names it: ``"*"`` stands for every error without a list of its own."""
    return "another error" if exception == WILDCARD else exception


def _key(exception: str) -> str:
    """A key of a profile's fallbacks table as a warning names it."""
    return repr(WILDCARD) if exception == WILDCARD else exception


def _listed(parts: list[str], separator: str) -> str:
    shown = separator.join(parts[:_MAX_CLAUSES])
    return shown + (f"{separator}... ({len(parts)} in all)" if len(parts) > _MAX_CLAUSES else "")


def _group_where(group: _Group) -> str:
    indexes = ", ".join(str(index) for index, _ in group.entries)
    return f"model_list[{indexes}] ({group.model_name!r})"


def _entry(index: int, model_name: str) -> str:
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


# -- TOML --------------------------------------------------------------------------------------------------

_FILE_ORDER: Final = (
    "model",
    "description",
    "api_base",
    "api_key_env",
    "api_version",
    "temperature",
    "max_tokens",
    "timeout",
    "num_retries",
)
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def profile_toml(profile: Profile, *, comment: str | None = None) -> str:
    """The text of ``profile``'s TOML file, which loads back as an equal profile.

    Args:
        profile: the profile; its name is the file's stem, so it is not written.
        comment: a line to open the file with, as a TOML comment.

    Raises:
        ValueError: the profile holds a literal ``api_key`` (never written to a file: use ``api_key_env``),
            or a ``params`` value TOML cannot hold (``None``, NaN, an object).
    """
    if profile.api_key is not None:
        raise ValueError(f"profile {profile.name!r} holds a literal api_key; a file holds api_key_env instead")
    lines = [f"# {' '.join(comment.split())}", ""] if comment else []
    for key in _FILE_ORDER:
        value = getattr(profile, key)
        if value is not None and value != "" and not (key == "num_retries" and value == 0):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # `timeout = 60`, as people write it; the field reads it back as 60.0
            lines.append(f"{key} = {_toml_value(value)}")
    for table in ("params", "fallbacks"):
        mapping: dict[str, Any] = getattr(profile, table)
        if mapping:
            lines += ["", f"[{table}]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in mapping.items())]
    text = "\n".join(lines) + "\n"
    if Profile.model_validate({**tomllib.loads(text), "name": profile.name}) != profile.model_copy(
        update={"source": None}
    ):
        raise ValueError(f"profile {profile.name!r} does not survive a round trip through TOML")
    return text


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and not math.isnan(value):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise ValueError(f"a TOML file cannot hold NaN or a {type(value).__name__}")


def _toml_string(text: str) -> str:
    escaped = "".join(
        _ESCAPES.get(char) or (f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char)
        for char in text
    )
    return f'"{escaped}"'


# -- writing -----------------------------------------------------------------------------------------------


def write_profiles(result: ImportResult, out_dir: Path, *, force: bool = False) -> WriteReport:
    """Write each profile as ``out_dir/<name>.toml``, creating ``out_dir`` if needed.

    An existing file is left alone unless ``force``. When ``<name>.json`` exists, the TOML is never written
    (a directory holding both is an error for that name), and the JSON file is left alone.

    Raises:
        ConfigError: ``out_dir`` or a file cannot be written.
    """
    written: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out_dir}: {exc}") from None
    for imported in result.profiles:
        path = out_dir / imported.filename
        twin = path.with_suffix(".json")
        if twin.exists():
            skipped.append((path, f"{twin.name} defines profile {imported.profile.name!r}; remove it first"))
            continue
        try:
            # "x" fails if the file exists, so a file created since the check is not overwritten either.
            with path.open("w" if force else "x", encoding="utf-8") as file:
                file.write(imported.toml)
        except FileExistsError:
            skipped.append((path, "it exists; --force overwrites it"))
            continue
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc}") from None
        written.append(path)
    return WriteReport(tuple(written), tuple(skipped))
