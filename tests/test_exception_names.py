"""Exception names: litellm's, Python's, and plugins'; resolved without importing what a file names."""

from __future__ import annotations

import importlib.metadata
import inspect

import litellm
import litellm.exceptions
import openai
import pluggy
import pytest

from understudy import FallbackStrategy, UnknownExceptionNameError, hookimpl
from understudy.failures.names import INTRODUCED, LITELLM_EXCEPTIONS, ExceptionNames, litellm_exception_classes
from understudy.plugins import get_plugin_manager, hookspecs, make_plugin_manager


def litellm_exported_exceptions() -> set[str]:
    return {
        name
        for name, value in vars(litellm).items()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == "litellm.exceptions"
    }


def litellm_defined_exceptions() -> set[str]:
    return {
        name
        for name, value in vars(litellm.exceptions).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == "litellm.exceptions"
        and not name.startswith("_")
    }


def installed_litellm() -> tuple[int, ...]:
    return tuple(int(part) for part in importlib.metadata.version("litellm").split(".")[:3])


def test_the_names_read_from_litellms_source_are_the_exception_classes_it_defines() -> None:
    """litellm 1.109 added classes a frozen name list rejected; names now come from the installed litellm."""
    assert set(litellm_exception_classes() or ()) == litellm_defined_exceptions()


def test_every_exception_litellm_exports_resolves_to_its_class() -> None:
    names = ExceptionNames(get_plugin_manager())
    assert sorted(litellm_exported_exceptions() - names.known()) == []
    for name in litellm_defined_exceptions():
        assert issubclass(getattr(litellm.exceptions, name), names.resolve(name))


def test_the_fallback_list_holds_only_names_every_supported_litellm_defines() -> None:
    assert set(LITELLM_EXCEPTIONS) <= litellm_defined_exceptions()


def test_names_added_after_the_oldest_supported_litellm_say_the_release_that_added_them() -> None:
    defined = litellm_defined_exceptions()
    for name, release in INTRODUCED.items():
        needed = tuple(int(part) for part in release.split("."))
        assert (name in defined) == (installed_litellm() >= needed), (name, release)
    assert not (set(INTRODUCED) & set(LITELLM_EXCEPTIONS))
    removed = {"GuardrailInterventionNormalStringError"}  # in 1.83.0, gone since 1.94.0
    assert defined <= set(LITELLM_EXCEPTIONS) | set(INTRODUCED) | removed, "record new litellm classes in INTRODUCED"


def test_a_name_the_installed_litellm_lacks_says_which_release_added_it() -> None:
    bare = pluggy.PluginManager("understudy")  # registers no name at all, like a litellm older than the name
    bare.add_hookspecs(hookspecs)
    with pytest.raises(UnknownExceptionNameError) as caught:
        ExceptionNames(bare).check("CallerCredentialRateLimitError")
    message = str(caught.value)
    assert "added in litellm 1.108.0" in message and importlib.metadata.version("litellm") in message
    assert "pip install 'litellm>=1.108.0'" in message


def test_a_names_lineage_read_from_source_is_its_class_hierarchy() -> None:
    names = ExceptionNames(get_plugin_manager())
    for name in litellm_defined_exceptions():
        mro = [c.__name__ for c in getattr(litellm.exceptions, name).__mro__ if c not in (Exception, BaseException)]
        assert names.lineage(name) == tuple(dict.fromkeys(c for c in mro if c != "object")), name
    assert names.lineage("Timeout")[:3] == ("Timeout", "APITimeoutError", "APIConnectionError")


def test_matching_a_name_gives_what_matching_its_class_gives() -> None:
    table = {
        "RateLimitError": ["a"],
        "APIConnectionError": ["b"],
        "ContextWindowExceededError": ["c"],
        "BadRequestError": [],
        "APIError": ["d"],
        "*": ["e"],
    }
    strategy = FallbackStrategy(table)
    names = ExceptionNames(get_plugin_manager())
    for name in sorted(names.known() - {"*"}):
        assert strategy.match_name(name) == strategy.match(
            getattr(litellm.exceptions, name, None) or names.resolve(name)
        ), name


def test_a_name_resolves_to_the_widest_class_of_that_name() -> None:
    """A name covers every class of that name: ``APIConnectionError`` also covers litellm's ``Timeout``."""
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
