"""FallbackStrategy: most specific class first, the wildcard only for provider failures."""

from __future__ import annotations

import litellm
import openai
import pytest

from understudy import ConfigError, FallbackStrategy, Profile, UnknownExceptionNameError


def error(cls: type[Exception]) -> Exception:
    return cls.__new__(cls)  # litellm's constructors want provider details the strategy never reads


STRATEGY = FallbackStrategy(
    {
        "RateLimitError": ["claude", "gemini"],
        "BadRequestError": [],
        "ContextWindowExceededError": ["big"],
        "APIConnectionError": ["nearby"],
        "*": ["local"],
    }
)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (litellm.RateLimitError, ("claude", "gemini")),
        (litellm.ContextWindowExceededError, ("big",)),
        (litellm.ContentPolicyViolationError, ()),  # a BadRequestError: the empty list answers it
        (litellm.BadRequestError, ()),
        (litellm.APIConnectionError, ("nearby",)),
        (litellm.Timeout, ("nearby",)),  # openai's APIConnectionError is a base of litellm's Timeout
        (litellm.ServiceUnavailableError, ("local",)),
        (litellm.InternalServerError, ("local",)),
        (litellm.AuthenticationError, ("local",)),
        (TimeoutError, ("local",)),
        (ConnectionResetError, ("local",)),
    ],
)
def test_resolve_returns_the_list_of_the_most_specific_class(
    raised: type[Exception], expected: tuple[str, ...]
) -> None:
    assert STRATEGY.resolve(error(raised)) == expected


@pytest.mark.parametrize("raised", [TypeError, KeyError, ValueError, AttributeError, ZeroDivisionError])
def test_programming_errors_never_get_a_fallback(raised: type[Exception]) -> None:
    assert STRATEGY.resolve(raised("bug")) == ()
    assert not STRATEGY.is_provider_error(raised("bug"))


def test_openai_sdk_errors_count_as_provider_failures() -> None:
    assert STRATEGY.resolve(error(openai.APIStatusError)) == ("local",)


def test_exception_classes_work_as_keys_and_beat_the_wildcard() -> None:
    class QuotaError(Exception):
        pass

    strategy = FallbackStrategy({QuotaError: ["cheap"], "*": ["local"]})
    assert strategy.resolve(QuotaError()) == ("cheap",)
    assert strategy.is_provider_error(QuotaError())


def test_no_wildcard_means_no_fallback_for_unlisted_errors() -> None:
    strategy = FallbackStrategy({"RateLimitError": ["b"]})
    assert strategy.resolve(error(litellm.ServiceUnavailableError)) == ()


def test_an_unknown_name_fails_when_the_strategy_is_built() -> None:
    with pytest.raises(UnknownExceptionNameError, match="RateLimitError"):
        FallbackStrategy({"RateLimt": ["b"]})


@pytest.mark.parametrize("bad", [{"*": "single-string"}, {"*": ["not a name"]}, {42: ["b"]}])
def test_malformed_tables_fail_when_the_strategy_is_built(bad: dict[object, object]) -> None:
    with pytest.raises(ConfigError):
        FallbackStrategy(bad)  # type: ignore[arg-type]


def test_a_strategy_comes_from_a_profile_and_lists_its_targets() -> None:
    profile = Profile(name="p", model="x", fallbacks={"RateLimitError": ["a", "b"], "*": ["b", "c"]})
    strategy = FallbackStrategy.from_profile(profile)
    assert strategy.targets() == ["a", "b", "c"]
    assert strategy.entries == {"RateLimitError": ("a", "b"), "*": ("b", "c")}
    assert strategy == FallbackStrategy({"RateLimitError": ["a", "b"], "*": ["b", "c"]})


def test_resolve_class_explains_without_an_instance() -> None:
    assert STRATEGY.resolve_class(litellm.ContextWindowExceededError) == ("big",)


def test_an_entry_whose_class_cannot_be_imported_is_ignored_not_raised_mid_call() -> None:
    """Regression: a plugin name pointing at a missing module made every failing call raise ImportError."""
    from understudy import hookimpl
    from understudy.plugins import make_plugin_manager

    class Plugin:
        @hookimpl
        def understudy_exception_names(self) -> dict[str, str]:
            return {"GoneError": "no_such_module_anywhere:GoneError"}

    pm = make_plugin_manager(entry_points=False)
    pm.register(Plugin())
    strategy = FallbackStrategy({"GoneError": ["x"], "*": ["local"]}, plugin_manager=pm)
    assert strategy.resolve(error(litellm.ServiceUnavailableError)) == ("local",)


def test_two_keys_for_one_class_do_not_fail_mid_call_and_the_first_wins() -> None:
    strategy = FallbackStrategy({"APIConnectionError": ["first"], openai.APIConnectionError: ["second"]})
    assert strategy.resolve(error(litellm.APIConnectionError)) == ("first",)
    assert strategy.match(litellm.Timeout) == ("APIConnectionError", ("first",))
