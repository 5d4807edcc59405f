"""Reading a LiteLLM Router config and converting it into profiles: the file, the Router-level settings,
and the run that puts ``model_list``, the fallbacks and the settings together into an ``ImportResult``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from understudy.errors import ConfigError, UnknownExceptionNameError
from understudy.failures.names import ExceptionNames
from understudy.importers.litellm_fallbacks import FALLBACK_SETTINGS, profile_fallbacks, read_tables
from understudy.importers.litellm_model_list import entry_where, profile_fields, read_groups
from understudy.importers.litellm_walk import fallback_chains
from understudy.importers.results import ImportedProfile, ImportResult, Notes
from understudy.importers.toml_writer import profile_toml
from understudy.plugins import get_plugin_manager
from understudy.profiles.documents import DOCUMENT_SUFFIXES, DocumentError, read_document
from understudy.profiles.profile import Profile

if TYPE_CHECKING:
    import pluggy

__all__ = ["CONFIG_SUFFIXES", "import_litellm_config", "read_config"]

CONFIG_SUFFIXES: Final = DOCUMENT_SUFFIXES
# The top level is a Router(...) dict; router_settings and litellm_settings are the proxy's config.yaml. The
# Router takes router_settings as its arguments and litellm_settings only for what it was not given.
_SECTIONS: Final = ("", "router_settings", "litellm_settings")
_SETTINGS: Final = frozenset(
    {
        *FALLBACK_SETTINGS,
        "default_fallbacks",
        "max_fallbacks",
        "num_retries",
        "timeout",
        "drop_params",
        "default_litellm_params",
    }
)
# Settings LiteLLM reads from some sections only, and where it reads them instead. The proxy sets
# litellm.<key> for each key of litellm_settings (drop_params included; its timeout is request_timeout),
# while default_litellm_params and timeout are arguments of Router(...).
_READ_ONLY_IN: Final = {
    "drop_params": (("litellm_settings",), "litellm_settings.drop_params or a model's litellm_params"),
    "default_litellm_params": (("", "router_settings"), "router_settings.default_litellm_params"),
    "timeout": (("", "router_settings"), "router_settings.timeout or litellm_settings.request_timeout"),
}
# What LiteLLM's Router uses when the config says nothing (litellm/router.py, Router.__init__): num_retries
# is openai.DEFAULT_MAX_RETRIES, max_fallbacks is litellm.ROUTER_MAX_FALLBACKS (litellm/constants.py; the
# ROUTER_MAX_FALLBACKS variable can change it where LiteLLM runs, which a static import cannot see).
_LITELLM_NUM_RETRIES: Final = 2
_LITELLM_MAX_FALLBACKS: Final = 5
# Top-level keys that are not settings of the Router and say nothing about a model: skipped without a word.
_SKIPPED_SECTIONS: Final = frozenset({"model_list", "general_settings", "environment_variables", *_SECTIONS})
_MAX_RETRIES: Final = 10  # Profile.num_retries allows 0 to 10


def read_config(path: Path) -> dict[str, Any]:
    """Parse a config file by its suffix: ``.json``, ``.toml``, or ``.yaml``/``.yml`` (needs PyYAML).

    Raises:
        ConfigError: the file cannot be read or parsed, PyYAML is missing for YAML, or the file holds no
            table. A parse error gives the line, never the line's text, which may hold a key.
    """
    try:
        data = read_document(path)
    except DocumentError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file must hold one table (mapping) with a model_list")
    return data


def import_litellm_config(
    data: Mapping[str, Any], *, source: str, plugin_manager: pluggy.PluginManager | None = None
) -> ImportResult:
    """Convert a LiteLLM Router config into profiles, one per ``model_list`` entry (see ``understudy.importers``).

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


class _Converter:
    """One import. It gathers every problem before raising, so one run tells the user all that is wrong."""

    def __init__(self, data: Mapping[str, Any], source: str, plugin_manager: pluggy.PluginManager) -> None:
        self.data = data
        self.source = source
        self.exception_names = ExceptionNames.of(plugin_manager)
        self.notes = Notes(source)

    def run(self) -> ImportResult:
        settings = self._settings()
        num_retries = self._retries(settings.get("num_retries"))
        timeout = self._timeout(settings.get("timeout"))
        max_fallbacks = self._max_fallbacks(settings.get("max_fallbacks"))
        drop_params = self._drop_params(settings)
        groups, wildcards = read_groups(self.notes, self.data)
        tables = read_tables(self.notes, settings, set(groups), wildcards)
        self.notes.raise_problems()
        if "num_retries" not in settings:
            num_retries = _LITELLM_NUM_RETRIES  # what LiteLLM's Router does then; said in a warning below
        imported: dict[int, ImportedProfile] = {}
        unrouted: dict[str, list[str]] = {}  # a table's location -> profiles it gives no entry
        defaulted: list[str] = []  # the profiles given LiteLLM's default num_retries
        for group in groups.values():
            chains = fallback_chains(self.notes, group, tables, groups, max_fallbacks, settings.get("max_fallbacks"))
            for position, ((index, entry), name) in enumerate(zip(group.entries, group.names, strict=True)):
                fields = profile_fields(self.notes, index, entry)
                if drop_params is not None:
                    self._apply_drop_params(fields, drop_params, entry_where(index, group.model_name))
                fields.setdefault("timeout", timeout)
                if "num_retries" in fields:
                    where = f"model_list[{index}].litellm_params.num_retries"
                    fields["num_retries"] = self._retries((fields["num_retries"], where))
                else:
                    fields["num_retries"] = num_retries
                    if "num_retries" not in settings:
                        defaulted.append(name)
                siblings = group.names[1:] if position == 0 else []
                fields["fallbacks"] = profile_fallbacks(name, siblings, chains, tables, unrouted)
                fields["description"] = (
                    f"imported from {Path(self.source).name}, model_list[{index}] (model_name {group.model_name!r})"
                )
                values = {k: v for k, v in fields.items() if v is not None}
                profile = self._profile(name, entry_where(index, group.model_name), values)
                if profile is not None:
                    comment = f"Written by `understudy import litellm` from {self.source}."
                    imported[index] = ImportedProfile(profile, profile_toml(profile, comment=comment), index)
        self.notes.raise_problems()
        if defaulted:
            if len(defaulted) == len(imported):
                which = "every profile says"
            else:
                which = f"{', '.join(defaulted)} {'says' if len(defaulted) == 1 else 'say'}"
            self.notes.warn(
                "num_retries",
                f"not set, so LiteLLM's Router retries a failed call {_LITELLM_NUM_RETRIES} times "
                f"(openai.DEFAULT_MAX_RETRIES) before its fallbacks; {which} num_retries = {_LITELLM_NUM_RETRIES} "
                "to match (set num_retries in the config, 0 for none, and import again to choose)",
            )
        for where, names in unrouted.items():
            exception = next(table.exception for table in tables if table.where == where)
            self.notes.warn(
                where,
                f"gives no fallbacks for {', '.join(names)}; LiteLLM raises their {exception} unchanged, without "
                f"trying the general fallbacks, so their profiles say {exception} = [] (delete it to let '*' apply)",
            )
        profiles = tuple(imported[index] for index in sorted(imported))
        return ImportResult(self.source, profiles, tuple(dict.fromkeys(self.notes.warnings)))

    def _drop_params(self, settings: dict[str, tuple[Any, str]]) -> str | None:
        """Where LiteLLM is told to drop the params a provider does not support on every call, if it is:
        ``litellm_settings.drop_params`` (the proxy's ``litellm.drop_params``) or ``drop_params`` in the
        Router's ``default_litellm_params``. Each profile then says ``drop_params = true`` in its params."""
        found = None
        if "default_litellm_params" in settings:
            defaults, where = settings["default_litellm_params"]
            if not isinstance(defaults, Mapping):
                self.notes.problem(where, "must be a table of litellm parameters")
            else:
                others = [str(key) for key in defaults if key != "drop_params"]
                if others:
                    self.notes.warn(
                        where,
                        f"left out {', '.join(others)}: only drop_params is carried into the profiles; add the "
                        "others to each model_list entry's litellm_params and import again",
                    )
                if "drop_params" in defaults:
                    found = self._flag(defaults["drop_params"], f"{where}.drop_params")
        if "drop_params" in settings:
            found = self._flag(*settings["drop_params"]) or found  # LiteLLM's global flag wins over all
        return found

    def _flag(self, value: Any, where: str) -> str | None:
        if not isinstance(value, bool):
            self.notes.problem(where, "must be true or false")
            return None
        return where if value else None

    def _apply_drop_params(self, fields: dict[str, Any], where: str, entry: str) -> None:
        params = fields.setdefault("params", {})
        if params.get("drop_params") is False and where.startswith("litellm_settings"):
            self.notes.warn(
                entry,
                f"its drop_params = false has no effect in LiteLLM, as {where} is true; the profile says "
                "drop_params = true",
            )
            params["drop_params"] = True
        params.setdefault("drop_params", True)

    def _profile(self, name: str, where: str, values: dict[str, Any]) -> Profile | None:
        try:
            profile = Profile.model_validate({**values, "name": name})
        except ValidationError as exc:
            for error in exc.errors():
                # The message alone: pydantic's full text quotes the input, which may be a secret.
                at = ".".join(str(part) for part in error["loc"])
                self.notes.problem(where, f"{at}: {error['msg']}" if at else error["msg"])
            return None
        for exception in profile.fallbacks:
            try:
                self.exception_names.check(exception)
            except UnknownExceptionNameError as exc:
                self.notes.problem(where, str(exc))
        return profile

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
                self.notes.problem(section, "must be a table of settings")
                continue
            for key, value in table.items():
                where = f"{section}.{key}" if section else str(key)
                name = "timeout" if (section, key) == ("litellm_settings", "request_timeout") else key
                sections, instead = _READ_ONLY_IN.get(key, ((section,), ""))
                if section not in sections:
                    self.notes.warn(where, f"ignored: LiteLLM does not read it there (it reads {instead})")
                elif name not in _SETTINGS:
                    if section or key not in _SKIPPED_SECTIONS:
                        ignored.append(where)
                elif value is None or value == []:
                    continue  # LiteLLM reads both as "not set"
                elif name in found:
                    if found[name][0] != value:
                        self.notes.warn(where, f"ignored: {found[name][1]} is set too, and LiteLLM's Router uses that")
                else:
                    found[name] = (value, where)
        if ignored:
            self.notes.warn("", f"ignored, as understudy profiles have no counterpart: {', '.join(ignored)}")
        return found

    def _retries(self, setting: tuple[Any, str] | None) -> int | None:
        if setting is None:
            return None
        value, where = setting
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.notes.problem(where, "must be a whole number of retries, 0 or more")
            return None
        if value > _MAX_RETRIES:
            self.notes.warn(where, f"{value} retries lowered to {_MAX_RETRIES}, the most a profile allows")
            return _MAX_RETRIES
        return value

    def _max_fallbacks(self, setting: tuple[Any, str] | None) -> int:
        if setting is None:
            return _LITELLM_MAX_FALLBACKS
        value, where = setting
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.notes.problem(
                where, "must be a whole number, 0 or more: how deep LiteLLM follows fallbacks' fallbacks"
            )
            return _LITELLM_MAX_FALLBACKS
        return value

    def _timeout(self, setting: tuple[Any, str] | None) -> float | None:
        if setting is None:
            return None
        value, where = setting
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            self.notes.problem(where, "must be a number of seconds greater than 0")
            return None
        return float(value)
