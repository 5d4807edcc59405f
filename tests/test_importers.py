"""Importing LiteLLM Router configs: ``understudy.importers`` and ``understudy import litellm``.

The same realistic config is written in both of LiteLLM's layouts (a ``Router(...)`` dict at the top level,
and the proxy's ``config.yaml`` with ``router_settings`` / ``litellm_settings``), each as YAML, JSON and
TOML, and every one must give the same profiles."""

from __future__ import annotations

import copy
import importlib.metadata
import itertools
import json
import math
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import litellm
import openai
import pytest
import yaml

from understudy import ConfigError, HealthSettings, Profile, ProfileStore, RetrySettings
from understudy.cli import main
from understudy.importers import import_litellm_config, profile_toml, read_config, write_profiles
from understudy.profiles.profile import _CALL_PARAMS, _FIELD_PARAMS, _OWNED_PARAMS
from understudy.testing import ContextLengthExceeded, HTTPError, RateLimit

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from understudy.testing import Behaviour, FakeProvider

LITERAL_KEY = "sk-ant-literal-secret-0123456789"
MASTER_KEY = "sk-master-secret-9876543210"
KEY_VALUES = {
    "AZURE_EU_KEY": "azure-env-value-0123456789",
    "OPENAI_API_KEY": "openai-env-value-0123456789",
    "GEMINI_API_KEY": "gemini-env-value-0123456789",
}
PLAIN_ENTRY: dict[str, Any] = {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o-mini"}}
CWE = "ContextWindowExceededError"
CPV = "ContentPolicyViolationError"

MODEL_LIST: list[dict[str, Any]] = [
    {
        "model_name": "gpt-4o",
        "litellm_params": {
            "model": "azure/gpt-4o-eu",
            "api_base": "https://eu-example.openai.azure.com",
            "api_key": "os.environ/AZURE_EU_KEY",
            "api_version": "2024-08-01-preview",
            "rpm": 600,
            "tpm": 90000,
        },
    },
    {
        "model_name": "gpt-4o",
        "litellm_params": {"model": "openai/gpt-4o", "api_key": "os.environ/OPENAI_API_KEY", "timeout": 45},
    },
    {
        "model_name": "claude-sonnet",
        "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5",
            "api_key": LITERAL_KEY,
            "max_tokens": 4096,
            "temperature": 0.2,
            "top_p": 0.9,
        },
    },
    {
        "model_name": "gemini-pro",
        "litellm_params": {
            "model": "gemini/gemini-2.5-pro",
            "api_key": "os.environ/GEMINI_API_KEY",
            "num_retries": 1,
            "max_retries": 3,
        },
    },
    {
        "model_name": "local/llama 3.1",
        "litellm_params": {"model": "ollama/llama3.1", "api_base": "http://localhost:11434"},
    },
]
FALLBACK_SETTINGS: dict[str, Any] = {
    "fallbacks": [{"gpt-4o": ["claude-sonnet", "local/llama 3.1"]}],
    "context_window_fallbacks": [{"gpt-4o": ["gemini-pro"]}, {"claude-sonnet": ["gemini-pro"]}],
    "content_policy_fallbacks": [{"gpt-4o": ["claude-sonnet"]}],
    "default_fallbacks": ["local/llama 3.1"],
}
# Router(model_list=..., fallbacks=..., ...) as a dict; default_litellm_params is where a Router drops params.
ROUTER_CONFIG: dict[str, Any] = {
    "model_list": MODEL_LIST,
    **FALLBACK_SETTINGS,
    "num_retries": 2,
    "timeout": 30,
    "default_litellm_params": {"drop_params": True},
}
# The proxy's config.yaml, as LiteLLM's docs lay it out.
PROXY_CONFIG: dict[str, Any] = {
    "model_list": MODEL_LIST,
    "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 2, "timeout": 30},
    "litellm_settings": {"drop_params": True, **FALLBACK_SETTINGS},
    "general_settings": {"master_key": MASTER_KEY},
}
PROXY_YAML = f"""\
model_list:
  - model_name: gpt-4o                  # two deployments: LiteLLM balances load between them
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://eu-example.openai.azure.com
      api_key: os.environ/AZURE_EU_KEY
      api_version: "2024-08-01-preview"
      rpm: 600
      tpm: 90000
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      timeout: 45
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: {LITERAL_KEY}
      max_tokens: 4096
      temperature: 0.2
      top_p: 0.9
  - model_name: gemini-pro
    litellm_params:
      model: gemini/gemini-2.5-pro
      api_key: os.environ/GEMINI_API_KEY
      num_retries: 1
      max_retries: 3
  - model_name: local/llama 3.1
    litellm_params:
      model: ollama/llama3.1
      api_base: http://localhost:11434

router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
  timeout: 30

litellm_settings:
  drop_params: true
  fallbacks: [{{"gpt-4o": ["claude-sonnet", "local/llama 3.1"]}}]
  context_window_fallbacks: [{{"gpt-4o": ["gemini-pro"]}}, {{"claude-sonnet": ["gemini-pro"]}}]
  content_policy_fallbacks: [{{"gpt-4o": ["claude-sonnet"]}}]
  default_fallbacks: ["local/llama 3.1"]

general_settings:
  master_key: {MASTER_KEY}
"""
ROUTER_TOML = f"""\
num_retries = 2
timeout = 30
fallbacks = [{{ gpt-4o = ["claude-sonnet", "local/llama 3.1"] }}]
context_window_fallbacks = [{{ gpt-4o = ["gemini-pro"] }}, {{ claude-sonnet = ["gemini-pro"] }}]
content_policy_fallbacks = [{{ gpt-4o = ["claude-sonnet"] }}]
default_fallbacks = ["local/llama 3.1"]
default_litellm_params = {{ drop_params = true }}

[[model_list]]
model_name = "gpt-4o"
litellm_params = {{ model = "azure/gpt-4o-eu", api_base = "https://eu-example.openai.azure.com", \
api_key = "os.environ/AZURE_EU_KEY", api_version = "2024-08-01-preview", rpm = 600, tpm = 90000 }}

[[model_list]]
model_name = "gpt-4o"
litellm_params = {{ model = "openai/gpt-4o", api_key = "os.environ/OPENAI_API_KEY", timeout = 45 }}

[[model_list]]
model_name = "claude-sonnet"
litellm_params = {{ model = "anthropic/claude-sonnet-4-5", api_key = "{LITERAL_KEY}", max_tokens = 4096, \
temperature = 0.2, top_p = 0.9 }}

[[model_list]]
model_name = "gemini-pro"
litellm_params = {{ model = "gemini/gemini-2.5-pro", api_key = "os.environ/GEMINI_API_KEY", num_retries = 1, \
max_retries = 3 }}

[[model_list]]
model_name = "local/llama 3.1"
litellm_params = {{ model = "ollama/llama3.1", api_base = "http://localhost:11434" }}
"""
LAYOUTS = {"router": ROUTER_CONFIG, "proxy": PROXY_CONFIG}

# Every profile the config gives, every field.
EXPECTED: dict[str, dict[str, Any]] = {
    "gpt-4o": {
        "model": "azure/gpt-4o-eu",
        "api_base": "https://eu-example.openai.azure.com",
        "api_key_env": "AZURE_EU_KEY",
        "api_version": "2024-08-01-preview",
        "timeout": 30.0,
        "num_retries": 2,
        "params": {"drop_params": True},
        "fallbacks": {
            CWE: ["gemini-pro"],
            CPV: ["claude-sonnet"],
            "*": ["gpt-4o-2", "claude-sonnet", "local-llama-3.1"],
        },
    },
    "gpt-4o-2": {
        "model": "openai/gpt-4o",
        "api_key_env": "OPENAI_API_KEY",
        "timeout": 45.0,
        "num_retries": 2,
        "params": {"drop_params": True},
        "fallbacks": {CWE: ["gemini-pro"], CPV: ["claude-sonnet"], "*": ["claude-sonnet", "local-llama-3.1"]},
    },
    "claude-sonnet": {
        "model": "anthropic/claude-sonnet-4-5",
        "max_tokens": 4096,
        "temperature": 0.2,
        "timeout": 30.0,
        "num_retries": 2,
        "params": {"top_p": 0.9, "drop_params": True},
        "fallbacks": {CWE: ["gemini-pro"], CPV: [], "*": ["local-llama-3.1"]},
    },
    "gemini-pro": {
        "model": "gemini/gemini-2.5-pro",
        "api_key_env": "GEMINI_API_KEY",
        "timeout": 30.0,
        "num_retries": 1,
        "params": {"drop_params": True},
        "fallbacks": {CWE: [], CPV: [], "*": ["local-llama-3.1"]},
    },
    "local-llama-3.1": {
        "model": "ollama/llama3.1",
        "api_base": "http://localhost:11434",
        "timeout": 30.0,
        "num_retries": 2,
        "params": {"drop_params": True},
        "fallbacks": {CWE: [], CPV: []},
    },
}
INDEXES = {"gpt-4o": 0, "gpt-4o-2": 1, "claude-sonnet": 2, "gemini-pro": 3, "local-llama-3.1": 4}
MODEL_NAMES = {"gpt-4o-2": "gpt-4o", "local-llama-3.1": "local/llama 3.1"}


def toml_text(config: dict[str, Any]) -> str:
    """A config as TOML: settings first, then a table per section and per model_list entry."""
    lines = [f"{key} = {toml_value(value)}" for key, value in config.items() if not isinstance(value, dict | list)]
    lines += [
        f"{key} = {toml_value(value)}"
        for key, value in config.items()
        if key != "model_list" and isinstance(value, list)
    ]
    for key, value in config.items():
        if isinstance(value, dict):
            lines += [f"[{key}]", *(f"{k} = {toml_value(v)}" for k, v in value.items())]
    for entry in config["model_list"]:
        lines += ["[[model_list]]", *(f"{k} = {toml_value(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings, numbers and booleans read the same in TOML


def config_text(layout: str, fmt: str) -> str:
    if (layout, fmt) == ("proxy", "yaml"):
        return PROXY_YAML
    if (layout, fmt) == ("router", "toml"):
        return ROUTER_TOML
    config = LAYOUTS[layout]
    return {"json": json.dumps(config, indent=2), "yaml": yaml.safe_dump(config), "toml": toml_text(config)}[fmt]


def write_config(directory: Path, layout: str = "proxy", fmt: str = "yaml", *, name: str = "config") -> Path:
    path = directory / f"{name}.{fmt}"
    path.write_text(config_text(layout, fmt), encoding="utf-8")
    return path


def convert(config: dict[str, Any], source: str = "config.yaml") -> Any:
    return import_litellm_config(config, source=source)


def with_settings(**settings: Any) -> dict[str, Any]:
    """The router-layout config with settings replaced (None removes one)."""
    config = {**ROUTER_CONFIG, **settings}
    return {k: v for k, v in config.items() if v is not None}


def refusal(config: dict[str, Any], source: str = "config.yaml") -> str:
    with pytest.raises(ConfigError) as caught:
        convert(config, source)
    return str(caught.value)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def keys_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEY_VALUES.items():
        monkeypatch.setenv(name, value)


# -- reading the config ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
@pytest.mark.parametrize("layout", ["router", "proxy"])
def test_the_yaml_json_and_toml_versions_hold_the_same_config(tmp_path: Path, layout: str, fmt: str) -> None:
    assert read_config(write_config(tmp_path, layout, fmt)) == LAYOUTS[layout]


def test_a_config_with_an_unknown_suffix_is_refused_naming_the_formats(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[model_list]\n")
    with pytest.raises(ConfigError, match=r"config\.ini: cannot tell the format.*\.toml, \.json, \.yaml or \.yml"):
        read_config(path)


def test_yaml_without_pyyaml_says_to_install_it_or_convert_to_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError
    path = write_config(tmp_path)
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    assert str(caught.value).startswith(f"{path}: reading YAML needs PyYAML")
    assert "pip install pyyaml" in str(caught.value) and "convert the file to JSON" in str(caught.value)
    assert read_config(write_config(tmp_path, fmt="json")) == PROXY_CONFIG  # JSON needs nothing


def test_invalid_yaml_gives_the_line_but_never_its_text(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"model_list:\n  - model_name: x\n    litellm_params: {{api_key: {LITERAL_KEY}\n")
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    assert "invalid YAML" in str(caught.value) and "line" in str(caught.value)
    assert LITERAL_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "invalid JSON"), ("[1, 2]", "must hold one table")],
)
def test_a_config_that_is_not_one_json_table_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(path)


# -- the profiles -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
@pytest.mark.parametrize("layout", ["router", "proxy"])
def test_each_model_list_entry_becomes_a_profile_field_by_field(tmp_path: Path, layout: str, fmt: str) -> None:
    path = write_config(tmp_path, layout, fmt)
    result = import_litellm_config(read_config(path), source=str(path))
    assert [p.profile.name for p in result.profiles] == list(EXPECTED)
    for imported in result.profiles:
        name = imported.profile.name
        expected = {
            "name": name,
            "api_base": None,
            "api_base_env": None,
            "api_key_env": None,
            "api_key": None,
            "api_version": None,
            "temperature": None,
            "max_tokens": None,
            "params": {},
            "health": HealthSettings().model_dump(),
            "retries": RetrySettings().model_dump(),
            "connect_timeout": None,
            "first_token_timeout": None,
            "stall_timeout": None,
            "refusal_is_failure": False,
            "on_interrupt": "raise",
            "assistant_prefill": None,
            "transport": None,
            "deadline": None,
            "max_attempts": None,
            "max_input_tokens": None,
            "description": (
                f"imported from {path.name}, model_list[{INDEXES[name]}] (model_name {MODEL_NAMES.get(name, name)!r})"
            ),
            **EXPECTED[name],
        }
        assert imported.profile.model_dump() == expected, name
        assert imported.index == INDEXES[name]
        assert imported.filename == f"{name}.toml"


def test_the_toml_of_each_profile_loads_back_as_that_profile() -> None:
    result = convert(PROXY_CONFIG)
    for imported in result.profiles:
        loaded = Profile.model_validate({**tomllib.loads(imported.toml), "name": imported.profile.name})
        assert loaded == imported.profile
    assert result.files()["gpt-4o.toml"].startswith("# Written by `understudy import litellm` from config.yaml.\n")


def test_a_load_balanced_group_is_its_first_deployment_with_the_others_as_star_fallbacks() -> None:
    config = {
        "model_list": [
            {"model_name": "gpt-4o", "litellm_params": {"model": "azure/gpt-4o-eu"}},
            {"model_name": "gpt-4o", "litellm_params": {"model": "azure/gpt-4o-us"}},
            {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o"}},
        ]
    }
    result = convert(config)
    profiles = {p.profile.name: p.profile for p in result.profiles}
    assert [(name, p.model) for name, p in profiles.items()] == [
        ("gpt-4o", "azure/gpt-4o-eu"),
        ("gpt-4o-2", "azure/gpt-4o-us"),
        ("gpt-4o-3", "openai/gpt-4o"),
    ]
    assert profiles["gpt-4o"].fallbacks == {"*": ["gpt-4o-2", "gpt-4o-3"]}
    assert profiles["gpt-4o-2"].fallbacks == {}
    assert result.warnings[0] == (
        "model_list[0, 1, 2]: 'gpt-4o' is a load-balanced group of 3 deployments; understudy does not balance "
        "load: gpt-4o is tried first, then gpt-4o-2, gpt-4o-3 (its fallbacks under '*'); a fallback to 'gpt-4o' "
        "names them all"
    )
    assert [w for w in result.warnings[1:] if not w.startswith("num_retries: not set")] == []


def test_a_fallback_to_a_load_balanced_group_names_every_deployment_in_it() -> None:
    profiles = {p.profile.name: p.profile for p in convert(ROUTER_CONFIG).profiles}
    assert profiles["claude-sonnet"].fallbacks["*"] == ["local-llama-3.1"]
    config = with_settings(fallbacks=[{"claude-sonnet": ["gpt-4o"]}], default_fallbacks=None)
    profiles = {p.profile.name: p.profile for p in convert(config).profiles}
    assert profiles["claude-sonnet"].fallbacks["*"] == ["gpt-4o", "gpt-4o-2"]


def test_os_environ_keys_become_api_key_env() -> None:
    profiles = {p.profile.name: p.profile for p in convert(ROUTER_CONFIG).profiles}
    assert profiles["gpt-4o"].api_key_env == "AZURE_EU_KEY"
    assert profiles["gpt-4o-2"].api_key_env == "OPENAI_API_KEY"
    assert convert(ROUTER_CONFIG).key_variables() == ["AZURE_EU_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY"]


def test_a_literal_key_is_left_out_with_a_warning_that_says_how_to_supply_it() -> None:
    result = convert(ROUTER_CONFIG)
    claude = next(p for p in result.profiles if p.profile.name == "claude-sonnet")
    assert claude.profile.api_key is None and claude.profile.api_key_env is None
    warning = next(w for w in result.warnings if "literal api_key" in w)
    assert warning.startswith("model_list[2] ('claude-sonnet'): its literal api_key is left out")
    assert 'api_key_env = "ANTHROPIC_API_KEY"' in warning
    assert LITERAL_KEY not in repr(result)


def test_other_credentials_are_left_out_by_name_or_shape_and_never_repeated() -> None:
    secrets = ["AKIAsecretaccess0123", "hunter2-header-token", "s3cretpassw0rd", "sk-proj-shapedlikeakey0123"]
    config = {
        "model_list": [
            {
                "model_name": "bedrock",
                "litellm_params": {
                    "model": "bedrock/anthropic.claude-3",
                    "aws_secret_access_key": secrets[0],
                    "aws_region_name": "eu-west-1",
                    "extra_headers": {"Authorization": f"Bearer {secrets[1]}", "X-Team": "ml"},
                    "webhook_url": f"https://user:{secrets[2]}@hooks.example.com",
                    "extra_body": {"note": secrets[3]},
                    "input_cost_per_token": 0.000003,  # "token" in the name, but a number: kept
                },
            }
        ]
    }
    result = convert(config)
    profile = result.profiles[0].profile
    assert profile.params == {"aws_region_name": "eu-west-1", "input_cost_per_token": 0.000003}
    assert [w for w in result.warnings if not w.startswith("num_retries: not set")] == [
        "model_list[0] ('bedrock'): left out aws_secret_access_key, extra_headers, webhook_url, extra_body: they "
        "hold credentials, which are never written to a file; export them where litellm reads them",
    ]
    everything = repr(result) + "".join(result.files().values())
    assert not [secret for secret in secrets if secret in everything]


def test_router_only_and_refused_litellm_params_are_dropped_with_a_warning_naming_them() -> None:
    config = {
        "model_list": [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "rpm": 60,
                    "tpm": 1000,
                    "max_parallel_requests": 4,
                    "max_retries": 3,
                    "seed": 7,
                    "vertex_project": "os.environ/VERTEX_PROJECT",
                },
            }
        ]
    }
    result = convert(config)
    assert result.profiles[0].profile.params == {"seed": 7}
    assert set(result.warnings) - {w for w in result.warnings if w.startswith("num_retries: not set")} == {
        "model_list[0] ('m'): left out rpm, tpm, max_parallel_requests: only LiteLLM's router acts on them "
        "(load balancing, budgets)",
        "model_list[0] ('m'): left out max_retries: understudy does the retrying; num_retries says how often",
        "model_list[0] ('m'): left out vertex_project (os.environ/VERTEX_PROJECT): a profile reads only its key "
        "from the environment; set the value in the file, or leave it out where litellm reads the provider's "
        "variable itself",
    }


@pytest.mark.parametrize("key", sorted(_FIELD_PARAMS | _OWNED_PARAMS | _CALL_PARAMS))
def test_no_key_that_profile_refuses_in_params_ever_reaches_params(key: str) -> None:
    value = {"timeout": 5, "temperature": 0.5, "max_tokens": 10, "stream": True}.get(key, "x")
    if key == "num_retries":
        value = 1
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/x", key: value}}]}
    profile = convert(config).profiles[0].profile
    assert key not in profile.params
    if key == "base_url":
        assert profile.api_base == "x"


def test_litellm_params_num_retries_and_timeout_win_over_the_router_level_ones() -> None:
    profiles = {p.profile.name: p.profile for p in convert(ROUTER_CONFIG).profiles}
    assert (profiles["gemini-pro"].num_retries, profiles["gemini-pro"].timeout) == (1, 30.0)
    assert (profiles["gpt-4o-2"].num_retries, profiles["gpt-4o-2"].timeout) == (2, 45.0)


def test_an_invalid_model_name_is_made_valid_with_a_warning_and_fallbacks_follow_it() -> None:
    result = convert(ROUTER_CONFIG)
    assert (
        "model_list[4]: model_name 'local/llama 3.1' is not a valid profile name (1-64 letters, digits, '.', '_' "
        "or '-', starting with a letter or digit); its profile is 'local-llama-3.1'"
    ) in result.warnings
    assert all("local/llama 3.1" not in targets for p in result.profiles for targets in p.profile.fallbacks.values())


def test_names_that_clash_after_cleaning_or_in_case_get_distinct_names() -> None:
    model_list = [
        {"model_name": name, "litellm_params": {"model": "openai/x"}}
        for name in ["team/gpt", "team gpt", "Team-GPT", "-" * 3, "x" * 80, "x" * 80]
    ]
    result = convert({"model_list": model_list})
    names = [p.profile.name for p in result.profiles]
    assert names == ["team-gpt", "team-gpt-2", "Team-GPT-3", "model", "x" * 64, "x" * 62 + "-2"]
    assert (
        "model_list[2]: model_name 'Team-GPT' would share its file with another profile (file names ignore case "
        "on macOS and Windows); its profile is 'Team-GPT-3'"
    ) in result.warnings


def test_default_fallbacks_apply_only_where_no_fallbacks_entry_does_and_never_to_themselves() -> None:
    profiles = {p.profile.name: p.profile for p in convert(ROUTER_CONFIG).profiles}
    assert profiles["gpt-4o"].fallbacks["*"] == ["gpt-4o-2", "claude-sonnet", "local-llama-3.1"]  # its own entry
    assert profiles["gemini-pro"].fallbacks["*"] == ["local-llama-3.1"]  # the default
    assert "*" not in profiles["local-llama-3.1"].fallbacks  # the default is itself


def test_a_star_entry_in_fallbacks_is_the_default_and_default_fallbacks_replaces_it() -> None:
    config = with_settings(fallbacks=[{"*": ["gemini-pro"]}], default_fallbacks=None)
    assert {p.profile.name: p.profile for p in convert(config).profiles}["claude-sonnet"].fallbacks["*"] == [
        "gemini-pro"
    ]
    result = convert(with_settings(fallbacks=[{"*": ["gemini-pro"]}]))
    assert {p.profile.name: p.profile for p in result.profiles}["claude-sonnet"].fallbacks["*"] == ["local-llama-3.1"]
    assert "fallbacks[0]: ignored: default_fallbacks replaces it, as in LiteLLM" in result.warnings


def test_a_context_window_table_gives_the_models_it_omits_an_empty_entry_as_litellm_raises_theirs() -> None:
    result = convert(ROUTER_CONFIG)
    profiles = {p.profile.name: p.profile for p in result.profiles}
    assert profiles["gemini-pro"].fallbacks[CWE] == []
    assert (
        "context_window_fallbacks: gives no fallbacks for gemini-pro, local-llama-3.1; LiteLLM raises their "
        f"{CWE} unchanged, without trying the general fallbacks, so their profiles say {CWE} = [] (delete it to "
        "let '*' apply)"
    ) in result.warnings
    without = {p.profile.name: p.profile for p in convert(with_settings(context_window_fallbacks=None)).profiles}
    assert CWE not in without["gemini-pro"].fallbacks


def test_a_fallback_to_itself_is_left_out_and_a_repeated_key_keeps_the_first_as_litellm_does() -> None:
    config = with_settings(
        fallbacks=[{"claude-sonnet": ["claude-sonnet", "gemini-pro"]}, {"claude-sonnet": ["gpt-4o"]}]
    )
    result = convert(config)
    assert {p.profile.name: p.profile for p in result.profiles}["claude-sonnet"].fallbacks["*"] == ["gemini-pro"]
    assert "fallbacks[0]: 'claude-sonnet' names itself as a fallback; left out" in result.warnings
    assert (
        "fallbacks[1]: ignored: fallbacks[0] gives 'claude-sonnet' fallbacks already, and LiteLLM uses that"
        in result.warnings
    )


def test_a_single_string_fallback_is_read_as_a_list_as_litellm_does() -> None:
    config = with_settings(fallbacks=[{"claude-sonnet": "gemini-pro"}])
    assert {p.profile.name: p.profile for p in convert(config).profiles}["claude-sonnet"].fallbacks["*"] == [
        "gemini-pro"
    ]


def test_router_settings_win_over_litellm_settings_with_a_warning() -> None:
    config = {**PROXY_CONFIG, "litellm_settings": {**PROXY_CONFIG["litellm_settings"], "num_retries": 5}}
    result = convert(config)
    assert {p.profile.num_retries for p in result.profiles if p.profile.name != "gemini-pro"} == {2}
    assert (
        "litellm_settings.num_retries: ignored: router_settings.num_retries is set too, and LiteLLM's Router uses that"
        in result.warnings
    )


def test_request_timeout_in_litellm_settings_is_the_timeout() -> None:
    config = {"model_list": MODEL_LIST[2:3], "litellm_settings": {"request_timeout": 600}}
    assert convert(config).profiles[0].profile.timeout == 600.0


def test_settings_understudy_has_no_counterpart_for_are_named_in_one_warning() -> None:
    result = convert(PROXY_CONFIG)
    assert "ignored, as understudy profiles have no counterpart: router_settings.routing_strategy" in result.warnings
    assert not any("drop_params" in warning for warning in result.warnings)  # carried, not ignored
    assert not any("general_settings" in warning or MASTER_KEY in warning for warning in result.warnings)


@pytest.mark.parametrize(
    "settings",
    [{"litellm_settings": {"drop_params": True}}, {"default_litellm_params": {"drop_params": True}}],
    ids=["litellm_settings", "default_litellm_params"],
)
def test_a_global_drop_params_lands_in_every_profiles_params(settings: dict[str, Any]) -> None:
    """Regression: litellm_settings.drop_params was ignored with a warning, so every imported profile sent the
    params its provider refuses, which LiteLLM had dropped."""
    model_list = [MODEL_LIST[2], {"model_name": "own", "litellm_params": {"model": "openai/x", "drop_params": True}}]
    result = convert({"model_list": model_list, "num_retries": 0, **settings})
    assert [p.profile.params for p in result.profiles] == [{"top_p": 0.9, "drop_params": True}, {"drop_params": True}]
    assert "drop_params = true" in result.files()["claude-sonnet.toml"]
    assert not any("drop_params" in warning for warning in result.warnings)


def test_an_entrys_drop_params_false_gives_way_to_litellms_global_flag_with_a_warning() -> None:
    entry = {"model_name": "m", "litellm_params": {"model": "openai/x", "drop_params": False}}
    result = convert({"model_list": [entry], "num_retries": 0, "litellm_settings": {"drop_params": True}})
    assert result.profiles[0].profile.params == {"drop_params": True}
    assert result.warnings == (
        "model_list[0] ('m'): its drop_params = false has no effect in LiteLLM, as litellm_settings.drop_params is "
        "true; the profile says drop_params = true",
    )
    kept = convert({"model_list": [entry], "num_retries": 0, "default_litellm_params": {"drop_params": True}})
    assert kept.profiles[0].profile.params == {"drop_params": False}  # a default: the entry's own value wins


def test_drop_params_false_or_where_litellm_does_not_read_it_adds_nothing() -> None:
    for settings in ({"litellm_settings": {"drop_params": False}}, {"drop_params": True}):
        result = convert({"model_list": [PLAIN_ENTRY], "num_retries": 0, **settings})
        assert "drop_params" not in result.profiles[0].profile.params
    assert result.warnings == (
        "drop_params: ignored: LiteLLM does not read it there (it reads litellm_settings.drop_params or a model's "
        "litellm_params)",
    )
    message = refusal({"model_list": [PLAIN_ENTRY], "litellm_settings": {"drop_params": "yes"}})
    assert "litellm_settings.drop_params: must be true or false" in message


def test_default_litellm_params_other_than_drop_params_are_named_as_left_out() -> None:
    settings = {"default_litellm_params": {"drop_params": True, "temperature": 0.1, "seed": 3}}
    result = convert({"model_list": [PLAIN_ENTRY], "num_retries": 0, **settings})
    assert result.profiles[0].profile.params == {"drop_params": True}
    assert result.warnings == (
        "default_litellm_params: left out temperature, seed: only drop_params is carried into the profiles; add "
        "the others to each model_list entry's litellm_params and import again",
    )


def test_litellm_settings_timeout_is_not_the_timeout_as_litellm_reads_request_timeout() -> None:
    """Regression: litellm_settings.timeout was imported as every profile's timeout, though the proxy only sets
    litellm.timeout with it, which LiteLLM's Router never reads (it reads request_timeout)."""
    result = convert({"model_list": [PLAIN_ENTRY], "num_retries": 0, "litellm_settings": {"timeout": 5}})
    assert result.profiles[0].profile.timeout is None
    assert result.warnings == (
        "litellm_settings.timeout: ignored: LiteLLM does not read it there (it reads router_settings.timeout or "
        "litellm_settings.request_timeout)",
    )


def test_num_retries_above_ten_is_lowered_to_ten_with_a_warning() -> None:
    result = convert(with_settings(num_retries=25))
    assert {p.profile.num_retries for p in result.profiles if p.profile.name != "gemini-pro"} == {10}
    assert "num_retries: 25 retries lowered to 10, the most a profile allows" in result.warnings


def test_a_wildcard_route_is_not_imported_and_cannot_be_a_fallback() -> None:
    wildcard = {"model_name": "anthropic/*", "litellm_params": {"model": "anthropic/*"}}
    result = convert({"model_list": [*MODEL_LIST, wildcard]})
    assert [p.profile.name for p in result.profiles] == list(EXPECTED)
    assert any(w.startswith("model_list[5]: 'anthropic/*' is a wildcard route, not imported") for w in result.warnings)
    message = refusal({"model_list": [*MODEL_LIST, wildcard], "fallbacks": [{"gpt-4o": ["anthropic/*"]}]})
    assert "fallbacks[0]: fallback 'anthropic/*' is a wildcard route, which is not imported" in message


def test_import_litellm_config_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = convert(PROXY_CONFIG)
    assert list(result.files()) == [f"{name}.toml" for name in EXPECTED]
    assert list(tmp_path.iterdir()) == []


# -- as LiteLLM's Router does it: fallbacks of fallbacks, retries --------------------------------------------------
#
# LiteLLM's own Router, over HTTP to the fake provider. Every deployment is one fake model, "walk", and names its
# model group in each request body (extra_body), so the bodies fake_provider.received("walk") holds, oldest first,
# are the model groups the Router tried, in order. The Router's retries are 0 and its cooldowns off, so each try
# is one request.

GROUPS = ["p", "a", "b", "c", "d", "e", "f", "g", "h"]
WALK_MODEL = "walk"
# litellm 1.83.0 and 1.110.2 both map this 400 to ContentPolicyViolationError: their exception_mapping_utils.py
# matches "Invalid prompt" with "violating our usage policy" (or "request was rejected as a result of the safety
# system"). Neither maps OpenAI's body with code content_policy_violation, nor ContentPolicyViolation()'s "our
# safety system": both raise a plain BadRequestError for those, which no content_policy_fallbacks would catch.
USAGE_POLICY = (
    "Invalid prompt: your prompt was flagged as potentially violating our usage policy. Please try again with a "
    "different prompt."
)
FAILURES: dict[str, Behaviour] = {
    "*": RateLimit(),
    CWE: ContextLengthExceeded(),
    CPV: HTTPError(400, message=USAGE_POLICY, code="invalid_prompt"),
}
LITELLM_VERSION = tuple(int(part) for part in importlib.metadata.version("litellm").split(".")[:2])
# What LiteLLM 1.83.0's Router does instead, seen over HTTP: it tries a model again whenever a list names it
# ("nested" p: a c d f b a c d e f; a cycle goes round until max_fallbacks), goes on with default_fallbacks after
# a fallback with no entry of its own (d, then f) instead of the primary's entry, raises the error unchanged when
# only "*" in context_window_fallbacks (or content_policy_fallbacks) would answer it, and so stops at a fallback
# whose ContextWindowExceededError that table has no entry for.
OLDER_WALK = pytest.mark.xfail(
    LITELLM_VERSION < (1, 110),
    reason="the lists follow LiteLLM 1.110's walk; 1.83.0's differs (see OLDER_WALK)",
    strict=True,
)

# pydantic warns about one of litellm's TypedDicts the first time a Router is built in the process.
ROUTER_WARNINGS = pytest.mark.filterwarnings("ignore:Items? .* (is|are) using the `ReadOnly` qualifier:UserWarning")


@pytest.fixture
def routers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For tests that build LiteLLM Routers: each registers process-wide callbacks, removed afterwards; and no
    socket may connect anywhere but 127.0.0.1, so a Router that strays from the fake provider fails the test."""
    lists = {
        name: list(value) for name, value in vars(litellm).items() if "callback" in name and isinstance(value, list)
    }
    connect = socket.socket.connect

    def local_only(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"a test connected to {address[0]}, not to the fake provider")
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    # LiteLLM formats a whole traceback for a debug log on every failed call, even with debug logs off; a short
    # one halves these tests' time and changes nothing the Router does.
    monkeypatch.setattr(sys, "tracebacklimit", 3, raising=False)
    yield
    for name, saved in lists.items():
        getattr(litellm, name)[:] = saved


def groups_config(**settings: Any) -> dict[str, Any]:
    """One deployment per model_name p, a, b ... h (valid profile names, so each profile is its group), and
    the Router settings given."""
    model_list = [{"model_name": name, "litellm_params": {"model": f"openai/{name}"}} for name in GROUPS]
    return {"model_list": model_list, **settings}


def fallbacks_of(config: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    return {p.profile.name: p.profile.fallbacks for p in convert(config).profiles}


def litellm_router(config: dict[str, Any], provider: FakeProvider) -> litellm.Router:
    """LiteLLM's own Router for a config in the Router layout, every deployment served by ``provider``, without
    retries or cooldowns."""
    config = copy.deepcopy(config)  # the Router appends default_fallbacks to the fallbacks list it is given
    for entry in config["model_list"]:
        entry["litellm_params"] = {
            "model": f"openai/{WALK_MODEL}",
            "api_base": provider.base_url,
            "api_key": "sk-test-not-a-key",
            "max_retries": 0,
            "timeout": 10,
            "extra_body": {"group": entry["model_name"]},
        }
    return litellm.Router(**{**config, "num_retries": 0, "disable_cooldowns": True})


async def litellm_tries(
    router: litellm.Router, provider: FakeProvider, primary: str, failures: str | Sequence[str]
) -> list[str]:
    """The model groups LiteLLM's Router falls back to, in order, after a call to ``primary`` fails, as the
    provider received them. Each request fails as ``failures`` says: with one kind of error (a key of FAILURES),
    or with one kind per request in order, the primary's first and the last repeating."""
    kinds = [failures] if isinstance(failures, str) else list(failures)
    provider.reset()
    provider.script(WALK_MODEL, *(FAILURES[kind] for kind in kinds[:-1]))
    provider.default(WALK_MODEL, FAILURES[kinds[-1]])
    with pytest.raises(openai.APIError):
        await router.acompletion(model=primary, messages=[{"role": "user", "content": "hi"}])
    tried = [body["group"] for body in provider.received(WALK_MODEL)]
    assert tried[0] == primary
    return tried[1:]


CHAIN = [{first: [then]} for first, then in itertools.pairwise(GROUPS)]  # p -> a -> b ... -> h
WALKS: dict[str, dict[str, Any]] = {
    "nested": groups_config(
        fallbacks=[{"p": ["a", "b"]}, {"a": ["c"]}, {"c": ["d"]}, {"b": ["a", "e"]}], default_fallbacks=["f"]
    ),
    "the primary's entry before default_fallbacks": groups_config(
        fallbacks=[{"p": ["a", "b", "e"]}, {"a": ["c"]}], default_fallbacks=["d"]
    ),
    "cycles": groups_config(fallbacks=[{"p": ["a"]}, {"a": ["p", "b"]}, {"b": ["a", "c"]}, {"c": ["b"]}]),
    "deeper than the default max_fallbacks": groups_config(fallbacks=CHAIN),
    "max_fallbacks 2": groups_config(fallbacks=CHAIN, max_fallbacks=2),
    "wide and nested, max_fallbacks 3": groups_config(
        fallbacks=[{"p": ["a", "b", "c"]}, {"a": ["d", "e"]}, {"d": ["f"]}, {"b": ["g"]}], max_fallbacks=3
    ),
    "max_fallbacks 0": groups_config(fallbacks=[{"p": ["a"]}], default_fallbacks=["b"], max_fallbacks=0),
    "per kind of error": groups_config(
        fallbacks=[{"p": ["f"]}, {"f": ["g"]}],
        context_window_fallbacks=[{"p": ["a"]}, {"a": ["b"]}, {"*": ["c"]}],
        content_policy_fallbacks=[{"*": ["d"]}, {"d": ["e", "h"]}],
    ),
}
# (walk, primary, the kind of error every model fails with): a call per case, each one request per try.
WALK_CASES = [
    pytest.param("nested", "p", "*", marks=OLDER_WALK, id="depth first, each once, then the primary's entry"),
    pytest.param("nested", "d", "*", id="a group without an entry of its own: default_fallbacks"),
    pytest.param("the primary's entry before default_fallbacks", "p", "*", marks=OLDER_WALK, id="entry first"),
    pytest.param("cycles", "p", "*", marks=OLDER_WALK, id="cycles: each group once"),
    pytest.param("deeper than the default max_fallbacks", "p", "*", id="default max_fallbacks"),
    pytest.param("max_fallbacks 2", "p", CWE, id="max_fallbacks 2; context window without its own table"),
    pytest.param("max_fallbacks 2", "p", CPV, id="max_fallbacks 2; content policy without its own table"),
    pytest.param("wide and nested, max_fallbacks 3", "p", "*", id="wide and nested, max_fallbacks 3"),
    pytest.param("max_fallbacks 0", "p", "*", id="max_fallbacks 0"),
    pytest.param("per kind of error", "p", "*", id="per kind: the general table"),
    pytest.param("per kind of error", "p", CWE, id="per kind: context window, fallbacks of fallbacks"),
    pytest.param("per kind of error", "b", CWE, marks=OLDER_WALK, id="per kind: context window '*'"),
    pytest.param("per kind of error", "d", CPV, id="per kind: content policy, its own entry"),
]


@pytest.mark.usefixtures("routers")
@ROUTER_WARNINGS
@pytest.mark.parametrize(("walk", "primary", "error"), WALK_CASES)
async def test_each_list_is_the_walk_litellms_router_makes_when_every_fallback_fails_the_same_way(
    walk: str, primary: str, error: str, fake_provider: FakeProvider
) -> None:
    config = WALKS[walk]
    table = fallbacks_of(config)[primary]
    listed = table.get(error, table.get("*", []))  # as understudy resolves that error for the profile
    assert listed == await litellm_tries(litellm_router(config, fake_provider), fake_provider, primary, error)


def test_the_walk_cases_cover_every_walk_and_each_kind_of_error() -> None:
    assert {case.values[0] for case in WALK_CASES} == set(WALKS)
    assert {case.values[2] for case in WALK_CASES} == set(FAILURES)


def test_a_fallbacks_own_fallbacks_follow_it_depth_first_each_once_never_the_profile_itself() -> None:
    fallbacks = fallbacks_of(WALKS["nested"])
    # d has no entry of its own: LiteLLM goes on with the primary's entry (b), never reaching the default f.
    assert fallbacks["p"] == {"*": ["a", "c", "d", "b", "e"]}
    assert fallbacks["b"] == {"*": ["a", "c", "d", "e"]}
    assert fallbacks["d"] == {"*": ["f"]}
    assert fallbacks["f"] == {}  # the default is itself
    assert fallbacks_of(WALKS["cycles"])["p"] == {"*": ["a", "b", "c"]}


def test_context_window_fallbacks_of_fallbacks_are_followed_in_their_own_table() -> None:
    fallbacks = fallbacks_of(WALKS["per kind of error"])
    assert fallbacks["p"] == {CWE: ["a", "b"], CPV: ["d", "e", "h"], "*": ["f", "g"]}
    assert fallbacks["b"][CWE] == ["c"]


def test_fallbacks_deeper_than_max_fallbacks_are_left_out_with_a_warning() -> None:
    result = convert(WALKS["deeper than the default max_fallbacks"])
    assert {p.profile.name: p.profile.fallbacks for p in result.profiles}["p"] == {"*": ["a", "b", "c", "d", "e"]}
    assert (
        "model_list[0] ('p'): fallbacks deeper than max_fallbacks = 5 (LiteLLM default) are left out, as LiteLLM "
        "never reaches them: f, g, h for '*'"
    ) in result.warnings
    proxy = {"model_list": groups_config()["model_list"], "router_settings": {"max_fallbacks": 2, "fallbacks": CHAIN}}
    result = convert(proxy)
    assert {p.profile.name: p.profile.fallbacks for p in result.profiles}["p"] == {"*": ["a", "b"]}
    assert (
        "model_list[0] ('p'): fallbacks deeper than router_settings.max_fallbacks = 2 are left out, as LiteLLM "
        "never reaches them: c, d, e, f, g, h for '*'"
    ) in result.warnings
    assert not any("ignored" in warning for warning in result.warnings)  # max_fallbacks is read, not ignored
    assert fallbacks_of(WALKS["max_fallbacks 0"])["p"] == {}


ELSEWHERE = groups_config(context_window_fallbacks=[{"p": ["a"]}], fallbacks=[{"p": ["b"]}, {"a": ["c"]}])


@pytest.mark.usefixtures("routers")
@ROUTER_WARNINGS
async def test_where_a_fallback_failing_otherwise_sends_litellm_elsewhere_a_warning_names_it(
    fake_provider: FakeProvider,
) -> None:
    config = ELSEWHERE
    result = convert(config)
    assert {p.profile.name: p.profile.fallbacks for p in result.profiles}["p"] == {CWE: ["a"], "*": ["b"]}
    assert (
        "model_list[0] ('p'): each fallbacks list is LiteLLM's walk when every fallback fails with the first "
        "error's kind; LiteLLM picks a fallback's own fallbacks by the error that fallback raised, understudy "
        f"keeps to the one list, so LiteLLM also tries, in the '*' list: a, c if b raises {CWE}; in the {CWE} "
        "list: c if a raises another error (add them to the list to try them too)"
    ) in result.warnings
    # What the warning says, by LiteLLM's own Router: a RateLimitError at a, the others failing as p did.
    router = litellm_router(config, fake_provider)
    assert await litellm_tries(router, fake_provider, "p", [CWE, "*", CWE]) == ["a", "c"]


@OLDER_WALK
@pytest.mark.usefixtures("routers")
@ROUTER_WARNINGS
async def test_a_fallback_raising_another_kind_of_error_makes_litellm_go_on_as_the_warning_says(
    fake_provider: FakeProvider,
) -> None:
    # p: a rate limit, so b (its '*' list); b: a context window error, so a (p's ContextWindowExceededError
    # list), then a's own '*' list: c.
    router = litellm_router(ELSEWHERE, fake_provider)
    assert await litellm_tries(router, fake_provider, "p", ["*", CWE, "*"]) == ["b", "a", "c"]


@pytest.mark.usefixtures("routers")
@ROUTER_WARNINGS
async def test_without_num_retries_profiles_get_litellms_default_with_a_warning(fake_provider: FakeProvider) -> None:
    config = {"model_list": MODEL_LIST[2:4]}
    result = convert(config)
    served = {"api_base": fake_provider.base_url, "api_key": "sk-test-not-a-key"}  # it is built, never called
    router = litellm.Router(
        model_list=[
            {**entry, "litellm_params": {**entry["litellm_params"], **served}} for entry in config["model_list"]
        ]
    )
    assert {p.profile.name: p.profile.num_retries for p in result.profiles} == {
        "claude-sonnet": router.num_retries,  # 2: openai.DEFAULT_MAX_RETRIES
        "gemini-pro": 1,  # its own litellm_params.num_retries
    }
    assert "num_retries = 2\n" in result.files()["claude-sonnet.toml"]
    assert (
        "num_retries: not set, so LiteLLM's Router retries a failed call 2 times (openai.DEFAULT_MAX_RETRIES) "
        "before its fallbacks; claude-sonnet says num_retries = 2 to match (set num_retries in the config, 0 for "
        "none, and import again to choose)"
    ) in result.warnings
    everyone = convert({"model_list": MODEL_LIST[:3]})
    assert {p.profile.num_retries for p in everyone.profiles} == {2}
    assert any("; every profile says num_retries = 2 to match" in warning for warning in everyone.warnings)
    for settings in ({"num_retries": 0}, {"litellm_settings": {"num_retries": 0}}):
        result = convert({**config, **settings})
        assert result.profiles[0].profile.num_retries == 0
        assert not any(warning.startswith("num_retries") for warning in result.warnings)


@pytest.mark.parametrize("reserved", ["routes", "tiers", "Routes", "TIERS"])
def test_a_model_name_reserved_for_router_files_is_renamed_with_a_warning_and_fallbacks_follow_it(
    tmp_path: Path, reserved: str
) -> None:
    model_list = [
        {"model_name": reserved, "litellm_params": {"model": "openai/gpt-4o"}},
        {"model_name": "backup", "litellm_params": {"model": "openai/gpt-4o-mini"}},
    ]
    result = convert({"model_list": model_list, "fallbacks": [{"backup": [reserved]}], "num_retries": 0})
    renamed = f"{reserved}-2"
    assert [p.profile.name for p in result.profiles] == [renamed, "backup"]
    assert result.profiles[1].profile.fallbacks == {"*": [renamed]}
    case = "" if reserved.islower() else " (file names ignore case on macOS and Windows)"
    assert result.warnings == (
        f"model_list[0]: model_name {reserved!r} is reserved: {reserved.lower()}.toml beside the profiles is a "
        f"router file, not a profile{case}; its profile is {renamed!r}",
    )
    write_profiles(result, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([f"{renamed}.toml", "backup.toml"])
    assert ProfileStore([tmp_path]).load("backup").fallbacks == {"*": [renamed]}
    assert ProfileStore([tmp_path]).load(renamed).model == "openai/gpt-4o"


# -- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "where"),
    [
        ("fallbacks", [{"gpt-4o": ["claude-sonet"]}], "fallbacks[0]"),
        ("context_window_fallbacks", [{"gpt-4o": ["gemini-pro"]}, {"gpt-4o-mini": ["claude-sonet"]}], None),
        ("content_policy_fallbacks", [{"gpt-4o": ["claude-sonet"]}], "content_policy_fallbacks[0]"),
        ("default_fallbacks", ["claude-sonet"], "default_fallbacks"),
    ],
)
@pytest.mark.parametrize("layout", ["router", "proxy"])
def test_a_fallback_to_an_unknown_model_name_is_refused_naming_file_place_and_valid_names(
    setting: str, value: list[Any], where: str | None, layout: str
) -> None:
    if layout == "router":
        config = with_settings(**{setting: value})
    else:
        config = {**PROXY_CONFIG, "litellm_settings": {**PROXY_CONFIG["litellm_settings"], setting: value}}
    message = refusal(config, source="conf/config.yaml")
    prefix = "" if layout == "router" else "litellm_settings."
    valid = "the model_names are: claude-sonnet, gemini-pro, gpt-4o, local/llama 3.1"
    if where is None:  # the unknown key and the unknown target of context_window_fallbacks[1]
        assert message == (
            f"conf/config.yaml: 2 problems: {prefix}{setting}[1]: the key 'gpt-4o-mini' is not a model_name in "
            f"model_list; did you mean 'gpt-4o'? {valid}; {prefix}{setting}[1]: fallback 'claude-sonet' is not a "
            f"model_name in model_list; did you mean 'claude-sonnet'? {valid}"
        )
    else:
        assert message == (
            f"conf/config.yaml: {prefix}{where}: fallback 'claude-sonet' is not a model_name in model_list; "
            f"did you mean 'claude-sonnet'? {valid}"
        )


def test_every_problem_is_reported_at_once() -> None:
    config = with_settings(
        fallbacks=[{"gpt-4o": ["nope"]}],
        content_policy_fallbacks=[{"gpt-4o": ["also-nope"]}],
        num_retries=-1,
    )
    message = refusal(config)
    assert message.startswith("config.yaml: 3 problems: ")
    for part in ("num_retries: must be a whole number", "'nope' is not a model_name", "'also-nope' is not a"):
        assert part in message


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "config.yaml: no model_list; a LiteLLM Router config lists its models as model_list: ["),
        ({"model_list": [{"model_name": "m"}]}, "model_list[0].litellm_params.model: must be set to a litellm model"),
        ({"model_list": [{"litellm_params": {"model": "x"}}]}, "model_list[0].model_name: must be set"),
        ({"model_list": ["gpt-4o"]}, "model_list[0]: must be a table with model_name and litellm_params"),
        ({"model_list": MODEL_LIST, "fallbacks": {"gpt-4o": ["gemini-pro"]}}, "fallbacks: must be a list of"),
        (
            {"model_list": MODEL_LIST, "fallbacks": [{"gpt-4o": ["gemini-pro"], "claude-sonnet": ["gemini-pro"]}]},
            "fallbacks[0]: must map one model_name to its fallbacks",
        ),
        ({"model_list": MODEL_LIST, "timeout": "soon"}, "timeout: must be a number of seconds greater than 0"),
        ({"model_list": MODEL_LIST, "max_fallbacks": -1}, "max_fallbacks: must be a whole number, 0 or more"),
        ({"model_list": MODEL_LIST, "router_settings": ["x"]}, "router_settings: must be a table of settings"),
    ],
)
def test_a_malformed_config_is_refused_naming_the_place_at_fault(config: dict[str, Any], message: str) -> None:
    assert message in refusal(config)


def test_an_entry_that_makes_an_invalid_profile_is_refused_by_field_without_quoting_values() -> None:
    model_list = [
        {"model_name": "hot", "litellm_params": {"model": "openai/x", "temperature": 5}},
        {"model_name": "pasted", "litellm_params": {"model": "openai/x", "api_key": f"os.environ/{LITERAL_KEY}"}},
    ]
    message = refusal({"model_list": model_list})
    assert "model_list[0] ('hot'): temperature: Input should be less than or equal to 2" in message
    assert "model_list[1] ('pasted'): api_key_env: Value error, must be the name of an environment variable" in message
    assert LITERAL_KEY not in message


def test_an_endpoint_with_credentials_in_the_url_stops_the_import_with_the_fix() -> None:
    params = {"model": "openai/gpt-4o", "api_base": f"https://team:{LITERAL_KEY}@proxy.example.com/v1"}
    assert refusal({"model_list": [{"model_name": "m", "litellm_params": params}]}) == (
        "config.yaml: model_list[0] ('m'): api_base holds credentials (in the URL), which are never written to a "
        "file, and without it the profile would call the provider's public endpoint instead of the one api_base "
        "names; put the URL without the credentials in the config's api_base and import again (if the endpoint "
        "needs a key, give it through api_key = os.environ/VAR, which becomes api_key_env)"
    )


@pytest.mark.parametrize("key", ["api_base", "base_url"])
def test_an_endpoint_read_from_the_environment_becomes_api_base_env_never_its_value(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: ``api_base: os.environ/AZURE_API_BASE``, as LiteLLM's own Azure examples write it, stopped the
    import."""
    monkeypatch.setenv("AZURE_API_BASE", "https://secret-tenant.openai.azure.com")
    params = {"model": "azure/gpt-4o", key: "os.environ/AZURE_API_BASE", "api_key": "os.environ/AZURE_API_KEY"}
    result = convert({"model_list": [{"model_name": "m", "litellm_params": params}], "num_retries": 0})
    profile = result.profiles[0].profile
    assert (profile.api_base, profile.api_base_env, profile.api_key_env) == (None, "AZURE_API_BASE", "AZURE_API_KEY")
    assert 'api_base_env = "AZURE_API_BASE"\napi_key_env = "AZURE_API_KEY"\n' in result.files()["m.toml"]
    assert result.endpoint_variables() == ["AZURE_API_BASE"]
    assert result.warnings == ()
    assert "secret-tenant" not in repr(result) + result.files()["m.toml"]


def test_litellm_params_named_like_profile_variables_are_left_out_with_the_litellm_way() -> None:
    params = {"model": "openai/x", "api_key_env": "MY_KEY", "api_base_env": "MY_URL"}
    result = convert({"model_list": [{"model_name": "m", "litellm_params": params}], "num_retries": 0})
    assert (result.profiles[0].profile.api_key_env, result.profiles[0].profile.params) == (None, {})
    assert result.warnings == (
        "model_list[0] ('m'): left out api_key_env, api_base_env: they are not LiteLLM parameters; write api_key: "
        "os.environ/VAR (or api_base: os.environ/VAR)",
    )


def test_a_base_url_litellm_does_not_use_beside_an_api_base_is_only_left_out() -> None:
    params = {"model": "openai/gpt-4o", "api_base": "https://proxy.example.com/v1", "base_url": "os.environ/OTHER"}
    result = convert({"model_list": [{"model_name": "m", "litellm_params": params}], "num_retries": 0})
    assert result.profiles[0].profile.api_base == "https://proxy.example.com/v1"  # litellm: api_base or base_url
    assert result.warnings[0].startswith("model_list[0] ('m'): left out base_url (os.environ/OTHER)")


def test_an_endpoint_refused_exits_1_writes_nothing_and_never_prints_the_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.json"
    entry = {"model_name": "m", "litellm_params": {"model": "openai/x", "api_base": f"https://u:{MASTER_KEY}@h.io"}}
    config.write_text(json.dumps({"model_list": [entry]}))
    code, stdout, err = run(capsys, "import", "litellm", str(config), "--out", str(tmp_path / "profiles"))
    assert (code, stdout) == (1, "")
    assert err.startswith(f"understudy: error: {config}: model_list[0] ('m'): api_base holds credentials")
    assert MASTER_KEY not in err
    assert not (tmp_path / "profiles").exists()


# -- profile_toml and write_profiles ---------------------------------------------------------------------------


def test_profile_toml_keeps_odd_strings_nested_params_and_special_floats() -> None:
    profile = Profile(
        name="odd",
        model="openai/gpt-4o",
        description='quote " backslash \\ newline \n tab \t bell \x07 del \x7f emoji 🦙 accents é',
        params={
            "extra_body": {"nested": {"deep": [1, 2.5, "x"]}, "empty": {}, "flag": True},
            "stop": ["\n\n", "###"],
            "logit bias": {"50256": -100},
            "top_p": float("inf"),
        },
        fallbacks={"*": ["a"], "RateLimitError": []},
    )
    text = profile_toml(profile)
    assert Profile.model_validate({**tomllib.loads(text), "name": "odd"}) == profile
    assert math.isinf(tomllib.loads(text)["params"]["top_p"])


def test_profile_toml_refuses_a_literal_key_and_a_value_toml_cannot_hold() -> None:
    with pytest.raises(ValueError, match="literal api_key"):
        profile_toml(Profile(name="p", model="openai/x", api_key=LITERAL_KEY))
    with pytest.raises(ValueError, match="cannot hold NaN or a NoneType"):
        profile_toml(Profile(name="p", model="openai/x", params={"seed": None}))


def test_write_profiles_leaves_existing_files_alone_unless_forced(tmp_path: Path) -> None:
    result = convert(PROXY_CONFIG)
    out = tmp_path / "new" / "profiles"
    first = write_profiles(result, out)
    assert first.written == tuple(out / f"{name}.toml" for name in EXPECTED)
    (out / "gpt-4o.toml").write_text("# mine\n")
    again = write_profiles(result, out)
    assert again.written == ()
    assert dict(again.skipped)[out / "gpt-4o.toml"] == "it exists; --force overwrites it"
    assert (out / "gpt-4o.toml").read_text() == "# mine\n"
    forced = write_profiles(result, out, force=True)
    assert len(forced.written) == len(EXPECTED)
    assert (out / "gpt-4o.toml").read_text() == result.files()["gpt-4o.toml"]


def test_write_profiles_never_writes_beside_a_json_profile_of_that_name(tmp_path: Path) -> None:
    (tmp_path / "claude-sonnet.json").write_text('{"model": "anthropic/mine"}')
    report = write_profiles(convert(PROXY_CONFIG), tmp_path, force=True)
    assert dict(report.skipped) == {
        tmp_path / "claude-sonnet.toml": "claude-sonnet.json defines profile 'claude-sonnet'; remove it first"
    }
    assert not (tmp_path / "claude-sonnet.toml").exists()


def test_written_profiles_load_with_profile_store_as_imported(tmp_path: Path) -> None:
    result = convert(PROXY_CONFIG)
    write_profiles(result, tmp_path)
    store = ProfileStore([tmp_path])
    assert store.names() == sorted(EXPECTED)
    for imported in result.profiles:
        loaded = store.load(imported.profile.name)
        assert loaded.source == tmp_path / imported.filename
        assert loaded.model_copy(update={"source": None}) == imported.profile


# -- the command ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_import_writes_one_file_per_entry_to_profiles_by_default_and_says_what_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, fmt=fmt)
    code, out, err = run(capsys, "import", "litellm", f"config.{fmt}")
    assert code == 0
    assert out.splitlines() == [
        *(f"wrote   {Path('profiles') / name}.toml" for name in EXPECTED),
        f"5 of 5 profile(s) from config.{fmt} written to profiles",
        "Next: export AZURE_EU_KEY=... GEMINI_API_KEY=... OPENAI_API_KEY=..., then run "
        "`understudy check --profiles-path profiles`",
    ]
    assert sorted(p.name for p in (tmp_path / "profiles").iterdir()) == sorted(f"{n}.toml" for n in EXPECTED)
    warnings = err.splitlines()
    assert all(line.startswith("understudy: warning: ") for line in warnings)
    assert len(warnings) == len(convert(PROXY_CONFIG).warnings)


def test_written_profiles_pass_check_once_their_key_variables_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "imported"
    assert run(capsys, "import", "litellm", str(write_config(tmp_path)), "--out", str(out))[0] == 0
    code, report, _ = run(capsys, "check", "--profiles-path", str(out))
    assert code == 1
    assert "AZURE_EU_KEY is not set" in report
    for name, value in KEY_VALUES.items():
        monkeypatch.setenv(name, value)
    code, report, _ = run(capsys, "check", "--profiles-path", str(out))
    assert code == 0, report
    assert report.splitlines()[-1] == "5 profiles checked: all ok"
    code, chain, _ = run(capsys, "--profiles-path", str(out), "explain", "gpt-4o", "--error", CWE)
    assert code == 0
    assert "  2. gemini-pro: ok, gemini/gemini-2.5-pro" in chain


def test_import_without_force_leaves_existing_files_alone_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, out = write_config(tmp_path), tmp_path / "profiles"
    out.mkdir()
    (out / "gemini-pro.toml").write_text('model = "gemini/mine"\n')
    code, stdout, _ = run(capsys, "import", "litellm", str(config), "--out", str(out))
    assert code == 1
    assert f"skipped {out / 'gemini-pro.toml'}: it exists; --force overwrites it" in stdout.splitlines()
    assert f"4 of 5 profile(s) from {config} written to {out}" in stdout
    assert (out / "gemini-pro.toml").read_text() == 'model = "gemini/mine"\n'
    code, stdout, _ = run(capsys, "import", "litellm", str(config), "--out", str(out), "--force")
    assert code == 0
    assert f"wrote   {out / 'gemini-pro.toml'}" in stdout.splitlines()
    assert 'model = "gemini/gemini-2.5-pro"' in (out / "gemini-pro.toml").read_text()


def test_dry_run_prints_every_file_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, out = write_config(tmp_path), tmp_path / "profiles"
    out.mkdir()
    (out / "gpt-4o.toml").write_text("# mine\n")
    code, stdout, _ = run(capsys, "import", "litellm", str(config), "--out", str(out), "--dry-run")
    assert code == 0
    assert [p.name for p in out.iterdir()] == ["gpt-4o.toml"]
    assert (out / "gpt-4o.toml").read_text() == "# mine\n"
    assert f"# ---- {out / 'gpt-4o.toml'} (exists: left alone without --force)" in stdout.splitlines()
    assert f"# ---- {out / 'gpt-4o-2.toml'}" in stdout.splitlines()
    for text in convert(PROXY_CONFIG, source=str(config)).files().values():
        assert text in stdout
    assert stdout.splitlines()[-1] == f"dry run: 5 profile(s) from {config}, nothing written"
    (out / "claude-sonnet.json").write_text('{"model": "anthropic/mine"}')
    _, stdout, _ = run(capsys, "import", "litellm", str(config), "--out", str(out), "--dry-run", "--force")
    assert f"# ---- {out / 'gpt-4o.toml'}" in stdout.splitlines()
    assert (
        f"# ---- {out / 'claude-sonnet.toml'} (claude-sonnet.json exists: left alone, and this file not written)"
        in stdout.splitlines()
    )


def test_import_json_gives_each_file_and_each_warning_as_a_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, out = write_config(tmp_path), tmp_path / "profiles"
    notes = convert(PROXY_CONFIG, source=str(config)).notes
    code, stdout, err = run(capsys, "import", "litellm", str(config), "--out", str(out), "--json")
    assert (code, err) == (0, "")  # the warnings are in the JSON, not on stderr
    data = json.loads(stdout)
    assert data["files"] == [
        {
            "profile": name,
            "path": str(out / f"{name}.toml"),
            "index": INDEXES[name],
            "status": "written",
            "reason": None,
        }
        for name in EXPECTED
    ]
    assert data["warnings"] == [{"where": n.where, "message": n.message, "severity": "warning"} for n in notes]
    assert any(w["where"] == "model_list[2] ('claude-sonnet')" for w in data["warnings"])
    assert (data["errors"], data["dry_run"], data["config"], data["out"]) == ([], False, str(config), str(out))
    assert data["variables"] == data["unset_variables"] == ["AZURE_EU_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY"]
    assert data["next"] == f"understudy check --profiles-path {out}"

    code, stdout, _ = run(capsys, "import", "litellm", str(config), "--out", str(out), "--json")
    assert code == 1
    assert {(f["status"], f["reason"]) for f in json.loads(stdout)["files"]} == {
        ("skipped", "it exists; --force overwrites it")
    }
    (out / "gpt-4o.toml").unlink()
    code, stdout, _ = run(capsys, "import", "litellm", str(config), "--out", str(out), "--json", "--dry-run")
    files = {f["profile"]: f for f in json.loads(stdout)["files"]}
    assert code == 0 and not (out / "gpt-4o.toml").exists()
    assert (files["gpt-4o"]["status"], files["gpt-4o-2"]["status"]) == ("would write", "would skip")
    assert files["gpt-4o"]["toml"] == convert(PROXY_CONFIG, source=str(config)).files()["gpt-4o.toml"]


def test_import_json_of_a_refused_config_gives_every_problem_as_a_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.json"
    config.write_text(json.dumps(with_settings(fallbacks=[{"gpt-4o": ["claude-sonet"]}], timeout="soon")))
    code, stdout, err = run(capsys, "import", "litellm", str(config), "--out", str(tmp_path / "profiles"), "--json")
    assert code == 1
    assert err.startswith(f"understudy: error: {config}: 2 problems: ")
    data = json.loads(stdout)
    assert data["files"] == [] and not (tmp_path / "profiles").exists()
    assert [(e["where"], e["severity"]) for e in data["errors"]] == [("timeout", "error"), ("fallbacks[0]", "error")]
    assert data["errors"][1]["message"].startswith("fallback 'claude-sonet' is not a model_name in model_list")
    code, stdout, _ = run(capsys, "import", "litellm", str(tmp_path / "missing.json"), "--json")
    assert code == 1
    assert json.loads(stdout)["errors"][0]["message"].startswith(f"{tmp_path / 'missing.json'}: cannot read the file")


def test_import_names_the_endpoint_variables_to_export_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AZURE_API_BASE", raising=False)
    params = {"model": "azure/gpt-4o", "api_base": "os.environ/AZURE_API_BASE", "api_key": "os.environ/AZURE_KEY"}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_list": [{"model_name": "m", "litellm_params": params}], "num_retries": 0}))
    code, stdout, _ = run(capsys, "import", "litellm", str(config), "--out", str(tmp_path / "out"))
    assert code == 0
    then = f"then run `understudy check --profiles-path {tmp_path / 'out'}`"
    assert f"Next: export AZURE_API_BASE=... AZURE_KEY=..., {then}" in stdout.splitlines()
    assert ProfileStore([tmp_path / "out"]).load("m").api_base_env == "AZURE_API_BASE"


def test_no_output_or_written_file_ever_holds_a_key(
    tmp_path: Path, keys_set: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config, out = write_config(tmp_path), tmp_path / "profiles"
    outputs = []
    runs = ((["--dry-run"], 0), (["--dry-run", "--json"], 0), ([], 0), ([], 1), (["--json"], 1))
    for extra, expected in runs:  # the runs after the first write skip every file
        code, stdout, stderr = run(capsys, "import", "litellm", str(config), "--out", str(out), *extra)
        assert code == expected
        outputs.append(stdout + stderr)
    written = "".join(path.read_text() for path in out.iterdir())
    for secret in (LITERAL_KEY, MASTER_KEY, *KEY_VALUES.values()):
        assert secret not in "".join(outputs) + written


def test_an_unknown_reference_exits_1_with_one_error_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.json"
    config.write_text(json.dumps(with_settings(fallbacks=[{"gpt-4o": ["claude-sonet"]}])))
    code, stdout, err = run(capsys, "import", "litellm", str(config), "--out", str(tmp_path / "profiles"))
    assert code == 1
    assert stdout == ""
    assert err.count("\n") == 1
    assert err.startswith(f"understudy: error: {config}: fallbacks[0]: fallback 'claude-sonet' is not a model_name")
    assert not (tmp_path / "profiles").exists()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["import", "litellm", "missing.yaml"], 1, "missing.yaml: cannot read the file"),
        (["import", "litellm", "config.ini"], 1, "cannot tell the format from the suffix"),
        (["import", "litellm"], 2, "the following arguments are required: CONFIG"),
        (["import", "openrouter", "config.yaml"], 2, "invalid choice: 'openrouter'"),
    ],
)
def test_import_command_errors_and_their_exit_codes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.ini").write_text("")
    got, stdout, err = run(capsys, *argv)
    assert (got, stdout) == (code, "")
    assert message in err


def test_import_is_listed_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "--help")
    assert code == 0
    assert "import" in stdout and "convert another tool's model config into profile files" in stdout


def test_import_never_imports_litellm(tmp_path: Path) -> None:
    yaml_config, json_config = write_config(tmp_path), write_config(tmp_path, "router", "json")
    commands = [
        ["import", "litellm", str(yaml_config), "--dry-run"],
        ["import", "litellm", str(yaml_config), "--out", str(tmp_path / "a")],
        ["import", "litellm", str(json_config), "--out", str(tmp_path / "b")],
    ]
    script = (
        "import sys\n"
        "from understudy.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    assert main(argv) == 0, argv\n"
        "    assert 'litellm' not in sys.modules, f'understudy {argv} imported litellm'\n"
        "print('LITELLM NOT IMPORTED')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "LITELLM NOT IMPORTED" in result.stdout
    assert len(list((tmp_path / "b").iterdir())) == len(EXPECTED)
