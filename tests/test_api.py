"""The public surface: what `understudy` exports, and that importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import understudy

PROMISED = {
    "ProfileStore",
    "Profile",
    "LLMRegistry",
    "LLM",
    "FallbackStrategy",
    "FallbackExhaustedError",
    "ProfileError",
    "ProfileNotFoundError",
    "hookimpl",
    "get_plugin_manager",
    "events",
}


def test_all_is_sorted_complete_and_holds_what_the_docs_promise() -> None:
    assert understudy.__all__ == sorted(understudy.__all__)
    assert set(understudy.__all__) >= PROMISED
    for name in understudy.__all__:
        assert hasattr(understudy, name), name
    public = {n for n in vars(understudy) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(understudy, n)).__name__ == "module"} - {"events"}
    assert public - modules == set(understudy.__all__)


def test_the_testing_module_is_public() -> None:
    import understudy.testing

    assert "FakeProvider" in understudy.testing.__all__


SDKS = ("litellm", "openai", "llm", "agents", "pydantic_ai", "langchain_core", "langchain_litellm", "langchain_openai")
OBSERVABILITY = ("sqlite3", "opentelemetry", "prometheus_client")  # the usage log's, the otel and prometheus plugins'


def test_importing_understudy_imports_neither_litellm_nor_any_sdk_nor_observability_library() -> None:
    code = (
        "import sys, understudy, understudy.testing, understudy.integrations; "
        f"print(sorted(m for m in {SDKS + OBSERVABILITY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_error_tree_separates_configuration_from_provider_failures() -> None:
    assert issubclass(understudy.ProfileNotFoundError, understudy.ProfileError)
    assert issubclass(understudy.ProfileError, understudy.ConfigError)
    assert issubclass(understudy.FallbackExhaustedError, understudy.UnderstudyError)
    assert issubclass(understudy.FallbackExhaustedError, ExceptionGroup)
    assert not issubclass(understudy.FallbackExhaustedError, understudy.ConfigError)


def test_importing_understudy_imports_a_name_only_when_it_is_used() -> None:
    code = (
        "import sys, understudy\n"
        "heavy = ('pydantic', 'pluggy', 'understudy.events', 'understudy.calls')\n"
        "before = sorted(m for m in heavy if m in sys.modules)\n"
        "understudy.LLMRegistry\n"
        "print(before, 'understudy.registry' in sys.modules, 'LLMRegistry' in dir(understudy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True", "True"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'LLMRegistery'"):
        understudy.LLMRegistery  # type: ignore[attr-defined]  # noqa: B018
