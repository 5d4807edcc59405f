"""Exception names: litellm's, Python's, and plugins'; resolved without importing what a file names."""

from __future__ import annotations

import inspect

import litellm
import openai
import pytest

from understudy import UnknownExceptionNameError, hookimpl
from understudy.exception_names import LITELLM_EXCEPTIONS, ExceptionNames
from understudy.plugins import get_plugin_manager, make_plugin_manager


def litellm_exported_exceptions() -> set[str]:
    return {
        name
        for name, value in vars(litellm).items()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == "litellm.exceptions"
    }


def test_every_name_in_the_static_table_is_an_exception_litellm_exports() -> None:
    assert set(LITELLM_EXCEPTIONS) <= litellm_exported_exceptions()


def test_every_exception_litellm_exports_resolves() -> None:
    names = ExceptionNames(get_plugin_manager())
    missing = sorted(litellm_exported_exceptions() - names.known())
    assert missing == [], f"add {missing} to LITELLM_EXCEPTIONS"


def test_a_name_resolves_to_the_widest_class_of_that_name() -> None:
    names = ExceptionNames(get_plugin_manager())
    assert names.resolve("APIConnectionError") is openai.APIConnectionError
    assert names.resolve("RateLimitError") is openai.RateLimitError
    assert names.resolve("ContextWindowExceededError") is litellm.ContextWindowExceededError
    assert names.resolve("TimeoutError") is TimeoutError


def test_plugins_register_names_without_shadowing_the_builtins() -> None:
    class QuotaExceeded(Exception):
        pass

    class Plugin:
        @hookimpl
        def understudy_exception_names(self) -> dict[str, object]:
            return {"QuotaExceeded": QuotaExceeded, "RateLimitError": KeyError}

    pm = make_plugin_manager(entry_points=False)
    pm.register(Plugin())
    names = ExceptionNames(pm)
    assert names.resolve("QuotaExceeded") is QuotaExceeded
    assert names.resolve("RateLimitError") is openai.RateLimitError
    assert QuotaExceeded in names.provider_errors()


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownExceptionNameError) as caught:
        ExceptionNames(get_plugin_manager()).check("Nope")
    assert "RateLimitError" in str(caught.value) and "'*'" in str(caught.value)
