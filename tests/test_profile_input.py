"""Hostile profile files: whatever a file holds, reading it ends in a Profile or a ProfileError naming the file."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import pytest

from understudy import ProfileError, ProfileStore
from understudy.profiles.files import load_profile_file
from understudy.profiles.profile import MAX_NESTING, MAX_PROFILE_BYTES

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


def _write(write_profile: WriteProfile, suffix: str, **fields: object) -> Path:
    """The fields as a TOML or a JSON profile file (strings escaped, so "\n" stays in the value)."""
    if suffix == ".json":
        return write_profile("p", json.dumps(fields), suffix=".json")
    strings = "".join(f"{key} = {json.dumps(value)}\n" for key, value in fields.items() if isinstance(value, str))
    path = write_profile("p", **{key: value for key, value in fields.items() if not isinstance(value, str)})
    path.write_text(strings + path.read_text())
    return path


def _refused(path: Path) -> ProfileError:
    """The ProfileError loading ``path`` raises, checked to name the file, through both ways of loading."""
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert caught.value.path == path and str(path) in str(caught.value)
    with pytest.raises(ProfileError) as through_store:
        ProfileStore([path.parent]).load(path.stem)
    assert str(through_store.value) == str(caught.value)
    return caught.value


# -- files a parser cannot survive --------------------------------------------------------------------------


def test_a_deeply_nested_toml_table_is_a_profile_error(write_profile: WriteProfile) -> None:
    """Regression: a 2 KB, 450-deep inline table made tomllib raise a raw RecursionError out of load()."""
    path = write_profile("p", 'model = "openai/x"\nparams = ' + "{a = " * 450 + "1" + "}" * 450 + "\n")
    assert path.stat().st_size < 4096
    assert "nested" in _refused(path).reason  # too deep to parse, or parsed and deeper than MAX_NESTING


def test_deeply_nested_json_arrays_are_a_profile_error(write_profile: WriteProfile) -> None:
    """Regression: deep JSON arrays made json.loads raise a raw RecursionError out of load()."""
    path = write_profile(
        "p", '{"model": "openai/x", "params": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}", suffix=".json"
    )
    assert "nested" in _refused(path).reason  # too deep to parse, or parsed and deeper than MAX_NESTING


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_nesting_a_parser_survives_but_nothing_needs_is_refused_naming_the_field(
    write_profile: WriteProfile, suffix: str
) -> None:
    """Regression: params 500 levels deep loaded, then model_dump_json() failed and secrets() (redaction,
    on every call) overflowed the stack once the call was a little deeper."""
    value: object = 1
    for _ in range(MAX_NESTING + 1 if suffix == ".toml" else 500):
        value = [value]
    error = _refused(_write(write_profile, suffix, model="openai/x", params={"a": value}))
    assert error.field == "params" and f"more than {MAX_NESTING} levels" in error.reason


def test_nesting_up_to_the_limit_loads(write_profile: WriteProfile) -> None:
    value: object = 1
    for _ in range(MAX_NESTING - 1):
        value = {"a": value}
    path = write_profile("p", json.dumps({"model": "openai/x", "params": value}), suffix=".json")
    assert load_profile_file(path).params == value


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_an_integer_too_long_for_python_is_a_profile_error(write_profile: WriteProfile, suffix: str) -> None:
    """Regression: a 5,000-digit integer raised a raw ValueError (Python's int-string limit) out of load()."""
    digits = "9" * 5000
    text = (
        f'model = "openai/x"\nmax_tokens = {digits}\n'
        if suffix == ".toml"
        else f'{{"model": "x", "max_tokens": {digits}}}'
    )
    error = _refused(write_profile("p", text, suffix=suffix))
    assert "digits" in error.reason and "set_int_max_str_digits" not in error.reason  # no advice to hack Python


def test_a_file_over_the_size_cap_is_refused_naming_the_cap(write_profile: WriteProfile) -> None:
    """Regression: a profile file of any size was read whole into memory; a huge one could exhaust it."""
    path = write_profile("p", 'model = "openai/x"\n')
    with path.open("r+b") as file:
        file.truncate(8 * MAX_PROFILE_BYTES)  # sparse: nothing to read, only a size
    error = _refused(path)
    assert str(MAX_PROFILE_BYTES) in error.reason and "larger than" in error.reason


def test_a_file_at_the_size_cap_is_read(write_profile: WriteProfile) -> None:
    head = 'model = "openai/x"\n'
    path = write_profile("p", head + "#" * (MAX_PROFILE_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_PROFILE_BYTES
    assert load_profile_file(path).model == "openai/x"


@needs_fifo
def test_a_fifo_is_refused_without_waiting_for_a_writer(profiles_dir: Path) -> None:
    """Regression: load_profile_file on a fifo named *.toml blocked forever waiting for a writer."""
    path = profiles_dir / "p.toml"
    os.mkfifo(path)
    with pytest.raises(ProfileError, match="not a regular file") as caught:
        load_profile_file(path)
    assert caught.value.path == path


def test_a_directory_is_refused_as_a_profile_file(profiles_dir: Path) -> None:
    (profiles_dir / "p.toml").mkdir()
    with pytest.raises(ProfileError, match="not a regular file"):
        load_profile_file(profiles_dir / "p.toml")


def test_a_missing_file_is_a_profile_error_naming_it(profiles_dir: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read the file") as caught:
        load_profile_file(profiles_dir / "gone.toml")
    assert caught.value.path == profiles_dir / "gone.toml"


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_utf8_bom_is_accepted(profiles_dir: Path, suffix: str) -> None:
    """Regression: a UTF-8 BOM (Windows editors write one) gave an unclear TOML/JSON error."""
    path = profiles_dir / f"p{suffix}"
    text = 'model = "openai/x"\n' if suffix == ".toml" else '{"model": "openai/x"}'
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_profile_file(path).model == "openai/x"


def test_bytes_that_are_not_utf8_say_so(profiles_dir: Path) -> None:
    path = profiles_dir / "p.toml"
    path.write_bytes(b'model = "caf\xe9"\n')
    assert "save the file as UTF-8" in _refused(path).reason


# -- values that validated and then failed every call -------------------------------------------------------


@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", float("inf")),
        ("timeout", float("nan")),
        ("timeout", 1e308),
        ("timeout", 0),
        ("timeout", 3601),
        ("temperature", float("inf")),
        ("temperature", float("nan")),
        ("temperature", -0.1),
        ("temperature", 2.5),
        ("max_tokens", 0),
        ("max_tokens", 10_000_001),
        ("num_retries", 11),
    ],
)
def test_a_number_out_of_its_bounds_is_refused_with_what_to_write(
    write_profile: WriteProfile, suffix: str, field: str, value: float
) -> None:
    """Regression: timeout = inf, nan or 1e308 validated, then every call failed before sending."""
    error = _refused(_write(write_profile, suffix, **{"model": "openai/x", field: value}))
    example = f"{field} = " if suffix == ".toml" else f'"{field}": '
    assert error.field == field and "write" in error.reason and example in error.reason


@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize(
    ("field", "value", "got"),
    [
        ("num_retries", True, "not true/false"),
        ("num_retries", 1.0, "not a decimal number"),
        ("max_tokens", 1.0, "not a decimal number"),
        ("max_tokens", "5", "not a string"),
        ("timeout", "30", "not a string"),
        ("temperature", False, "not true/false"),
        ("model", 5, "not a number"),
        ("api_base", ["http://x"], "not list"),
        ("description", 3, "not a number"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(
    write_profile: WriteProfile, suffix: str, field: str, value: object, got: str
) -> None:
    """Regression: num_retries = true, max_tokens = 1.0 or "5" and timeout = "30" were silently coerced."""
    error = _refused(_write(write_profile, suffix, **{"model": "openai/x", field: value}))
    example = f"{field} = " if suffix == ".toml" else f'"{field}": '
    assert error.field == field and got in error.reason and example in error.reason


@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", ""),
        ("model", "   "),
        ("model", "openai/gpt-4o\n"),
        ("api_base", ""),
        ("api_base", " \t"),
        ("api_version", ""),
        ("api_key_env", ""),
        ("api_key_env", "KEY\n"),
        ("api_base_env", " "),
    ],
)
def test_a_blank_or_padded_string_is_refused(write_profile: WriteProfile, suffix: str, field: str, value: str) -> None:
    """Regression: a blank model or api_base validated, then every call failed at the provider."""
    error = _refused(_write(write_profile, suffix, **{"model": "openai/x", field: value}))
    assert error.field == field and "write e.g." in error.reason


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_numbers_at_their_bounds_and_ints_for_floats_load(write_profile: WriteProfile, suffix: str) -> None:
    bounds = {"timeout": 3600, "temperature": 2, "max_tokens": 10_000_000, "num_retries": 10}
    profile = load_profile_file(_write(write_profile, suffix, model="openai/x", **bounds))
    assert (profile.timeout, profile.temperature, profile.max_tokens, profile.num_retries) == (3600, 2, 10**7, 10)
    assert isinstance(profile.timeout, float)


def test_a_huge_value_is_not_echoed_whole(write_profile: WriteProfile) -> None:
    path = write_profile("p", model="openai/x", fallbacks={"*": ["x " * 100_000]})
    assert len(str(_refused(path))) < 500


def test_thousands_of_unknown_fields_make_a_short_error(write_profile: WriteProfile) -> None:
    fields = {f"field{i}": i for i in range(2000)}
    error = _refused(write_profile("p", model="openai/x", **fields))
    assert "and 1990 more" in error.reason and len(str(error)) < 4000


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_unsearchable_directory_is_a_profile_error_not_an_os_error(
    profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: checking a file raising PermissionError escaped ProfileStore.load as a raw OSError."""
    real_stat = os.stat

    def denied(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if str(path).startswith(str(profiles_dir)):  # as root, a chmod cannot make a directory unsearchable
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", denied)
    with pytest.raises(ProfileError, match="Permission denied") as caught:
        ProfileStore([profiles_dir]).load("p")
    assert caught.value.path == profiles_dir / "p.toml"
