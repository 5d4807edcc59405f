"""Profile files: parsing, validation, and errors that name the file, the field and the fix."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from understudy import Profile, ProfileError
from understudy.profiles.files import load_profile_file
from understudy.profiles.profile import NAME_PATTERN, validate_name

if TYPE_CHECKING:
    from conftest import WriteProfile


def test_a_toml_profile_loads_with_its_name_from_the_file_stem(write_profile: WriteProfile) -> None:
    path = write_profile(
        "gpt-4o",
        model="openai/gpt-4o",
        api_key_env="OPENAI_API_KEY",
        timeout=30,
        num_retries=2,
        params={"top_p": 0.9},
        fallbacks={"RateLimitError": ["claude"], "*": ["local"]},
    )
    profile = load_profile_file(path)
    assert (profile.name, profile.model, profile.timeout, profile.num_retries) == ("gpt-4o", "openai/gpt-4o", 30, 2)
    assert profile.fallbacks == {"RateLimitError": ["claude"], "*": ["local"]}
    assert profile.source == path


def test_a_json_profile_loads_too(write_profile: WriteProfile) -> None:
    path = write_profile("local", '{"model": "ollama/llama3", "api_base": "http://localhost:11434"}', suffix=".json")
    assert load_profile_file(path).api_base == "http://localhost:11434"


def test_an_unknown_field_is_an_error_that_suggests_the_right_one(write_profile: WriteProfile) -> None:
    path = write_profile("p", model="openai/x", temprature=0.2)
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    message = str(caught.value)
    assert str(path) in message and "temprature" in message and "did you mean 'temperature'" in message
    assert caught.value.field == "temprature"


def test_every_bad_field_is_named_in_one_error(write_profile: WriteProfile) -> None:
    path = write_profile("p", model="openai/x", temperature=5, num_retries=-1)
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert "temperature" in str(caught.value) and "num_retries" in str(caught.value)


def test_a_missing_model_is_named(write_profile: WriteProfile) -> None:
    with pytest.raises(ProfileError, match="model"):
        load_profile_file(write_profile("p", description="no model"))


def test_invalid_toml_names_the_file_and_the_line(write_profile: WriteProfile) -> None:
    path = write_profile("p", 'model = "x"\nbroken = = 1\n')
    with pytest.raises(ProfileError, match=r"invalid TOML.*line 2") as caught:
        load_profile_file(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("stem", ["-leading-dash", "has space", "x" * 65])
def test_a_file_stem_that_is_not_a_valid_name_is_refused(write_profile: WriteProfile, stem: str) -> None:
    path = write_profile(stem, model="openai/x")
    with pytest.raises(ProfileError, match="invalid profile name"):
        load_profile_file(path)


def test_a_name_field_in_the_file_is_refused(write_profile: WriteProfile) -> None:
    with pytest.raises(ProfileError, match="file stem"):
        load_profile_file(write_profile("p", 'name = "other"\nmodel = "openai/x"\n'))


def test_api_key_and_api_key_env_together_are_refused(write_profile: WriteProfile) -> None:
    with pytest.raises(ProfileError, match="not both"):
        load_profile_file(write_profile("p", model="openai/x", api_key="k", api_key_env="K"))


def test_api_key_env_must_be_a_variable_name_and_a_pasted_key_is_not_echoed(write_profile: WriteProfile) -> None:
    with pytest.raises(ProfileError, match="not the key itself") as caught:
        load_profile_file(write_profile("p", model="openai/x", api_key_env="sk-live-123"))
    assert "sk-live-123" not in str(caught.value)  # a key pasted there by mistake must not reach a log


def test_params_cannot_override_what_understudy_sets(write_profile: WriteProfile) -> None:
    with pytest.raises(ProfileError, match="num_retries cannot go in params"):
        load_profile_file(write_profile("p", model="openai/x", params={"num_retries": 3}))


def test_a_fallback_list_naming_the_profile_itself_is_refused(write_profile: WriteProfile) -> None:
    with pytest.raises(ProfileError, match="names the profile itself"):
        load_profile_file(write_profile("p", model="openai/x", fallbacks={"*": ["q", "p"]}))


def test_a_fallback_target_must_be_a_valid_name(write_profile: WriteProfile) -> None:
    with pytest.raises(ProfileError, match="fallbacks"):
        load_profile_file(write_profile("p", model="openai/x", fallbacks={"*": ["not a name"]}))


def test_a_literal_key_never_shows_in_repr_dump_or_errors(write_profile: WriteProfile) -> None:
    profile = Profile(name="p", model="openai/x", api_key="sk-very-secret-key")
    assert "sk-very-secret-key" not in repr(profile)
    assert "sk-very-secret-key" not in profile.model_dump_json()
    assert profile.resolve_api_key() == "sk-very-secret-key"

    path = write_profile("q", model="openai/x", api_key="sk-very-secret-key", temperature="hot")
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert "sk-very-secret-key" not in str(caught.value)


def test_the_key_comes_from_the_named_variable_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = Profile(name="p", model="openai/x", api_key_env="UNDERSTUDY_K")
    monkeypatch.setenv("UNDERSTUDY_K", "value-1")
    assert profile.litellm_kwargs()["api_key"] == "value-1"
    assert profile.secrets() == ["value-1"]
    monkeypatch.delenv("UNDERSTUDY_K")
    with pytest.raises(ProfileError, match="export UNDERSTUDY_K="):
        profile.litellm_kwargs()


def test_litellm_kwargs_carry_only_the_fields_that_are_set() -> None:
    profile = Profile(name="p", model="openai/x", temperature=0.0, params={"top_p": 0.5})
    assert profile.litellm_kwargs() == {"model": "openai/x", "temperature": 0.0, "top_p": 0.5}


@pytest.mark.parametrize(
    ("params", "hint"),
    [
        ({"temperature": 0.3}, "field of that name"),
        ({"stream": True}, "pass it to completion()"),
        ({"max_retries": 2}, "num_retries"),
    ],
)
def test_params_that_would_silently_lose_or_fight_are_refused_with_the_fix(
    write_profile: WriteProfile, params: dict[str, object], hint: str
) -> None:
    with pytest.raises(ProfileError, match=hint):
        load_profile_file(write_profile("p", model="openai/x", params=params))


def test_a_source_field_in_the_file_is_refused(write_profile: WriteProfile) -> None:
    with pytest.raises(ProfileError, match="source"):
        load_profile_file(write_profile("p", 'model = "x"\nsource = "/etc/passwd"\n'))


def test_credentials_in_params_and_the_url_never_show_in_repr() -> None:
    profile = Profile(
        name="p",
        model="openai/x",
        api_base="https://user:url-pass-999@proxy.example/v1",
        params={"extra_headers": {"Authorization": "Bearer tok-abcdef-123456"}, "top_p": 0.5},
    )
    text = repr(profile)
    assert "url-pass-999" not in text and "tok-abcdef-123456" not in text and "top_p" in text
    assert {"url-pass-999", "Bearer tok-abcdef-123456"} <= set(profile.secrets())


def test_a_name_with_a_trailing_newline_is_not_a_name() -> None:
    """Regression: NAME_PATTERN ended in `$`, so .match() accepted "name\\n" (a `$` matches before a final \\n)."""
    assert NAME_PATTERN.match("name\n") is None and NAME_PATTERN.match("name")
    with pytest.raises(ProfileError, match="invalid profile name"):
        validate_name("name\n")


def test_api_base_env_is_read_at_call_time_and_its_url_password_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = Profile(name="p", model="openai/x", api_base_env="UNDERSTUDY_BASE")
    monkeypatch.setenv("UNDERSTUDY_BASE", "https://user:base-pass-777@proxy.example/v1")
    assert profile.litellm_kwargs() == {"model": "openai/x", "api_base": "https://user:base-pass-777@proxy.example/v1"}
    assert "base-pass-777" in profile.secrets()
    assert "base-pass-777" not in repr(profile) + profile.model_dump_json()
    monkeypatch.delenv("UNDERSTUDY_BASE")
    with pytest.raises(ProfileError, match="export UNDERSTUDY_BASE=") as caught:
        profile.litellm_kwargs()
    assert caught.value.field == "api_base_env" and caught.value.profile == "p"


def test_api_base_env_loads_from_a_file_and_refuses_api_base_beside_it(write_profile: WriteProfile) -> None:
    assert load_profile_file(write_profile("p", model="openai/x", api_base_env="BASE_URL")).api_base_env == "BASE_URL"
    with pytest.raises(ProfileError, match="not both"):
        load_profile_file(write_profile("q", model="openai/x", api_base="http://h", api_base_env="BASE_URL"))
    with pytest.raises(ProfileError, match="not the URL itself") as caught:
        load_profile_file(write_profile("r", model="openai/x", api_base_env="http://h"))
    assert "http://h" not in str(caught.value)


def test_the_json_dump_redacts_credentials_in_params_and_the_url_but_python_dumps_keep_them() -> None:
    """Regression: model_dump_json() showed credential headers in params and the password inside api_base."""
    profile = Profile(
        name="p",
        model="openai/x",
        api_base="https://user:url-pass-999@proxy.example/v1",
        params={"extra_headers": {"Authorization": "Bearer tok-abcdef-123456"}, "top_p": 0.5},
    )
    for text in (profile.model_dump_json(), json.dumps(profile.model_dump(mode="json"))):
        assert "url-pass-999" not in text and "tok-abcdef-123456" not in text
        shown = json.loads(text)
        assert shown["api_base"] == "https://user:***@proxy.example/v1" and shown["params"]["top_p"] == 0.5
    dumped = profile.model_dump()  # python mode: routed.py rebuilds profiles from it
    assert dumped["api_base"] == "https://user:url-pass-999@proxy.example/v1"
    assert dumped["params"]["extra_headers"]["Authorization"] == "Bearer tok-abcdef-123456"


def test_a_profile_built_in_python_is_bounded_too() -> None:
    for bad in ({"timeout": float("inf")}, {"temperature": float("nan")}, {"max_tokens": 0}, {"model": " "}):
        with pytest.raises(ValidationError):
            Profile.model_validate({"name": "p", "model": "openai/x", **bad})
