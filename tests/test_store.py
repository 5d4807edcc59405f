"""ProfileStore: the search path, lazy loading, caching, and one broken file never hiding the others."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from understudy import ProfileError, ProfileNotFoundError, ProfileStore, hookimpl
from understudy.plugins import make_plugin_manager
from understudy.profiles import store as store_module
from understudy.profiles.profile import Profile
from understudy.profiles.store import default_search_path

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile


def test_listing_names_reads_no_file(
    write_profile: WriteProfile, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile("a", model="openai/a")
    write_profile("b", "not even toml = = =")
    write_profile("c", "{}", suffix=".json")
    (profiles_dir / "notes.txt").write_text("ignored")
    (profiles_dir / "bad name.toml").write_text('model = "x"')
    reads: list[Path] = []
    monkeypatch.setattr(store_module, "read_profile_bytes", lambda path: reads.append(path))

    assert ProfileStore([profiles_dir]).names() == ["a", "b", "c"]
    assert reads == []


def test_load_reads_only_the_named_file(
    write_profile: WriteProfile, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile("a", model="openai/a")
    write_profile("b", model="openai/b")
    real = store_module.read_profile_bytes
    reads: list[str] = []
    monkeypatch.setattr(store_module, "read_profile_bytes", lambda path: reads.append(path.stem) or real(path))

    assert ProfileStore([profiles_dir]).load("a").model == "openai/a"
    assert reads == ["a"]


def test_a_loaded_profile_is_cached_until_its_file_changes(write_profile: WriteProfile, profiles_dir: Path) -> None:
    path = write_profile("a", model="openai/one")
    store = ProfileStore([profiles_dir])
    first = store.load("a")
    assert store.load("a") is first

    path.write_text('model = "openai/two-changed"\n')
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert store.load("a").model == "openai/two-changed"


def test_one_broken_profile_never_stops_the_others(write_profile: WriteProfile, profiles_dir: Path) -> None:
    write_profile("good", model="openai/good")
    write_profile("broken", model="openai/x", temperature="warm")
    store = ProfileStore([profiles_dir])

    results = store.load_all()

    assert isinstance(results["good"], Profile)
    assert isinstance(results["broken"], ProfileError)
    assert store.load("good").model == "openai/good"


def test_a_missing_profile_names_the_directories_searched_and_close_matches(
    write_profile: WriteProfile, profiles_dir: Path
) -> None:
    write_profile("claude-sonnet", model="anthropic/x")
    with pytest.raises(ProfileNotFoundError) as caught:
        ProfileStore([profiles_dir]).load("claude-sonet")
    message = str(caught.value)
    assert str(profiles_dir) in message and "'claude-sonnet'" in message
    assert caught.value.close_matches == ("claude-sonnet",)


def test_an_earlier_directory_wins_a_name(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for directory, model in ((first, "openai/first"), (second, "openai/second")):
        directory.mkdir()
        (directory / "same.toml").write_text(f'model = "{model}"\n')
    (second / "only-second.json").write_text('{"model": "openai/o"}')

    store = ProfileStore([first, second])
    assert store.load("same").model == "openai/first"
    assert store.names() == ["only-second", "same"]


def test_toml_and_json_of_one_name_in_one_directory_is_an_error(
    write_profile: WriteProfile, profiles_dir: Path
) -> None:
    write_profile("twin", model="openai/a")
    write_profile("twin", '{"model": "openai/b"}', suffix=".json")
    with pytest.raises(ProfileError, match="keep one"):
        ProfileStore([profiles_dir]).load("twin")


def test_load_all_lists_once_and_agrees_with_load_name_by_name(tmp_path: Path) -> None:
    # load_all finds files from one listing of each directory: it must answer what load() answers for every
    # name, the earlier directory winning, a twin in one directory refused, a plugin's profile included.
    first, second = tmp_path / "first", tmp_path / "second"
    for directory in (first, second):
        directory.mkdir()
    (first / "same.toml").write_text('model = "openai/first"\n')
    (second / "same.toml").write_text('model = "openai/second"\n')
    (second / "twin.toml").write_text('model = "openai/a"\n')
    (second / "twin.json").write_text('{"model": "openai/b"}')
    (first / "broken.toml").write_text("model = \n")
    (first / "routes.toml").write_text("[[routes]]\n")  # a router file, not a profile

    class Vault:
        @hookimpl
        def understudy_profile_names(self) -> list[str]:
            return ["vaulted", "same"]

        @hookimpl
        def understudy_load_profile(self, name: str) -> Profile | None:
            return Profile(name=name, model="openai/from-vault") if name in ("vaulted", "same") else None

    pm = make_plugin_manager(entry_points=False)
    pm.register(Vault())
    store = ProfileStore([first, second], plugin_manager=pm)
    batch = store.load_all()

    assert list(batch) == ["broken", "same", "twin", "vaulted"]
    assert batch["same"].model == "openai/first"  # type: ignore[union-attr]
    assert batch["vaulted"].model == "openai/from-vault"  # type: ignore[union-attr]
    assert isinstance(batch["broken"], ProfileError)
    assert isinstance(batch["twin"], ProfileError)
    assert "keep one" in str(batch["twin"])
    for name, loaded in batch.items():
        try:
            one: Profile | ProfileError = store.load(name)
        except ProfileError as exc:
            one = exc
        assert str(one) == str(loaded) if isinstance(one, ProfileError) else one == loaded


def test_an_unknown_exception_name_lists_the_valid_ones(write_profile: WriteProfile, profiles_dir: Path) -> None:
    path = write_profile("p", model="openai/x", fallbacks={"RateLimit": ["q"]})
    with pytest.raises(ProfileError) as caught:
        ProfileStore([profiles_dir]).load("p")
    message = str(caught.value)
    assert str(path) in message and "'RateLimit'" in message and "RateLimitError" in message
    assert caught.value.field == "fallbacks"


def test_a_dotted_import_path_in_a_file_is_refused_not_imported(
    write_profile: WriteProfile, profiles_dir: Path
) -> None:
    write_profile("p", model="openai/x", fallbacks={"os.system": ["q"], "litellm.RateLimitError": ["q"]})
    with pytest.raises(ProfileError, match="unknown exception name"):
        ProfileStore([profiles_dir]).load("p")


def test_the_search_path_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERSTUDY_PROFILES_PATH", os.pathsep.join([str(tmp_path / "x"), str(tmp_path / "y")]))
    assert default_search_path() == [tmp_path / "x", tmp_path / "y"]


def test_without_the_variable_the_path_is_local_profiles_then_the_user_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    monkeypatch.delenv("UNDERSTUDY_PROFILES_PATH")
    monkeypatch.chdir(tmp_path)
    assert default_search_path() == [isolated_env / "profiles"]
    (tmp_path / "profiles").mkdir()
    assert default_search_path() == [tmp_path / "profiles", isolated_env / "profiles"]


def test_plugins_can_supply_profiles_but_files_win(write_profile: WriteProfile, profiles_dir: Path) -> None:
    class Vault:
        @hookimpl
        def understudy_profile_names(self) -> list[str]:
            return ["vaulted", "shadowed"]

        @hookimpl
        def understudy_load_profile(self, name: str) -> Profile | None:
            if name in ("vaulted", "shadowed"):
                return Profile(name=name, model="openai/from-vault")
            return None

    pm = make_plugin_manager(entry_points=False)
    pm.register(Vault())
    write_profile("shadowed", model="openai/from-file")
    store = ProfileStore([profiles_dir], plugin_manager=pm)

    assert store.names() == ["shadowed", "vaulted"]
    assert store.load("vaulted").model == "openai/from-vault"
    assert store.load("shadowed").model == "openai/from-file"
    with pytest.raises(ProfileNotFoundError):
        store.load("absent")


@pytest.mark.parametrize(
    ("fallbacks", "expected"),
    [
        ({"RateLimitErorr": ["q"]}, "Did you mean 'RateLimitError'?"),
        ({"litellm.RateLimitError": ["q"]}, "write the short name 'RateLimitError'"),
        ({"RateLimitError": "q"}, 'must be a list of profile names, e.g. RateLimitError = ["other-profile"]'),
        ({"RateLimitError": ["no spaces"]}, "'no spaces' is not a profile name: use 1-64 letters"),
    ],
)
def test_fallback_table_mistakes_get_messages_that_say_the_fix(
    write_profile: WriteProfile, profiles_dir: Path, fallbacks: dict[str, object], expected: str
) -> None:
    write_profile("p", model="openai/x", fallbacks=fallbacks)
    with pytest.raises(ProfileError) as caught:
        ProfileStore([profiles_dir]).load("p")
    assert expected in str(caught.value)
    assert str(caught.value).count("'*'") <= 1  # the wildcard is offered once, not listed twice


def test_an_edit_that_keeps_the_size_and_the_mtime_is_seen(write_profile: WriteProfile, profiles_dir: Path) -> None:
    """Regression: the cache was keyed on (mtime_ns, size) and missed a same-size edit with the mtime restored."""
    path = write_profile("a", model="openai/one")
    store = ProfileStore([profiles_dir])
    assert store.load("a").model == "openai/one"
    before = path.stat()
    path.write_text('model = "openai/two"\n')
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert store.load("a").model == "openai/two"


def test_an_unchanged_file_is_read_but_not_parsed_again(
    write_profile: WriteProfile, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile("a", model="openai/a")
    real = store_module.parse_profile
    parses: list[str] = []
    monkeypatch.setattr(store_module, "parse_profile", lambda path, data: parses.append(path.stem) or real(path, data))
    store = ProfileStore([profiles_dir])
    first = store.load("a")
    assert store.load("a") is first and store.load("a") is first
    assert parses == ["a"]


def test_a_file_untouched_since_it_was_read_is_not_read_again_unless_it_is_young(
    write_profile: WriteProfile, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every call loads its profile: an old file whose inode, size and times are unchanged is not read. A file
    changed within the last two seconds is read each time, since a coarse clock may hide a second write."""
    young = write_profile("young", model="openai/young")
    old = write_profile("old", model="openai/old")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    real = store_module.read_profile_bytes
    reads: list[str] = []
    monkeypatch.setattr(store_module, "read_profile_bytes", lambda path: reads.append(path.stem) or real(path))
    store = ProfileStore([profiles_dir])
    for _ in range(3):
        store.load("old")
        store.load("young")
    assert reads == ["old", "young", "young", "young"]
    old.write_text('model = "openai/older"\n')  # a write changes its times (and ctime cannot be set back)
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert store.load("old").model == "openai/older"
    assert young.exists()


def test_a_file_caught_mid_rewrite_is_read_once_more(
    write_profile: WriteProfile, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a file rewritten in place (truncated, then written) made calls fail while it lasted."""
    path = write_profile("a", model="openai/a", timeout=30)
    whole = path.read_bytes()
    reads = iter([whole[:9], whole])  # the first read sees the writer halfway through
    monkeypatch.setattr(store_module, "read_profile_bytes", lambda _: next(reads))
    assert ProfileStore([profiles_dir]).load("a").timeout == 30


def test_a_file_broken_on_both_reads_raises_the_error(
    write_profile: WriteProfile, profiles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile("a", "model = = broken\n")
    real = store_module.read_profile_bytes
    reads: list[Path] = []
    monkeypatch.setattr(store_module, "read_profile_bytes", lambda path: reads.append(path) or real(path))
    with pytest.raises(ProfileError, match="invalid TOML"):
        ProfileStore([profiles_dir]).load("a")
    assert len(reads) == 2


def test_a_plugin_returning_something_other_than_a_profile_is_a_profile_error() -> None:
    """Regression: a plugin hook returning a dict raised AttributeError on `.name` out of load()."""

    class Broken:
        @hookimpl
        def understudy_load_profile(self, name: str) -> object:
            return {"name": name, "model": "openai/x"}

    pm = make_plugin_manager(entry_points=False)
    pm.register(Broken())
    with pytest.raises(ProfileError, match="returned a dict, not a Profile") as caught:
        ProfileStore([], plugin_manager=pm).load("p")
    assert caught.value.profile == "p"


def test_only_regular_files_are_listed(profiles_dir: Path, tmp_path: Path) -> None:
    """Regression: directories, fifos and dangling symlinks named *.toml were listed as profiles."""
    (profiles_dir / "dir.toml").mkdir()
    (profiles_dir / "dangling.toml").symlink_to(tmp_path / "nowhere.toml")
    (tmp_path / "real.toml").write_text('model = "openai/x"\n')
    (profiles_dir / "linked.toml").symlink_to(tmp_path / "real.toml")
    (profiles_dir / "plain.json").write_text('{"model": "openai/x"}')
    if hasattr(os, "mkfifo"):
        os.mkfifo(profiles_dir / "fifo.toml")
    (profiles_dir / "newline\n.toml").write_text('model = "openai/x"\n')
    store = ProfileStore([profiles_dir])
    assert store.names() == ["linked", "plain"]
    assert store.load("linked").model == "openai/x"


def test_one_of_each_broken_file_never_stops_the_others(profiles_dir: Path, tmp_path: Path) -> None:
    """Regression: a deep-nesting or huge-integer file raised raw RecursionError / ValueError out of load_all,
    taking down `understudy check`, `profiles list` and every call that had it as a fallback."""
    (profiles_dir / "good.toml").write_text('model = "openai/good"\n')
    (profiles_dir / "bom.toml").write_bytes(b'\xef\xbb\xbfmodel = "openai/bom"\n')
    (profiles_dir / "deep.toml").write_text('model = "x"\nparams = ' + "{a = " * 450 + "1" + "}" * 450 + "\n")
    (profiles_dir / "deep-json.json").write_text('{"model": "x", "params": ' + "[" * 50_000 + "]" * 50_000 + "}")
    (profiles_dir / "huge-int.toml").write_text('model = "x"\nmax_tokens = ' + "9" * 5000 + "\n")
    (profiles_dir / "inf.toml").write_text('model = "x"\ntimeout = inf\n')
    (profiles_dir / "x.toml").mkdir()
    (profiles_dir / "dangling.toml").symlink_to(tmp_path / "nowhere.toml")
    if hasattr(os, "mkfifo"):
        os.mkfifo(profiles_dir / "fifo.toml")
    store = ProfileStore([profiles_dir])

    names = store.names()
    results = store.load_all()
    asked = store.load_all(["x", "dangling", "fifo", "deep"])

    assert names == ["bom", "deep", "deep-json", "good", "huge-int", "inf"]
    assert {name for name, result in results.items() if isinstance(result, Profile)} == {"good", "bom"}
    broken = {name: result for name, result in {**results, **asked}.items() if isinstance(result, ProfileError)}
    assert set(broken) == {"deep", "deep-json", "huge-int", "inf", "x", "dangling", "fifo"}
    for name, error in broken.items():
        assert error.path is not None and error.path.stem == name and str(error.path) in str(error)
    assert "not a regular file" in broken["x"].reason and "not a regular file" in broken["dangling"].reason
