"""The plugin system: one manager, prefixed hooks, entry points that tests can block."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pluggy
import pytest

from understudy import LLMRegistry, ProfileStore, RetryPolicy, get_plugin_manager, hookimpl, served_by
from understudy.plugins import list_plugins, make_plugin_manager
from understudy.testing import HTTPError, Reply, ServerError

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.events import Event
    from understudy.testing import FakeProvider


def test_there_is_one_process_wide_manager_named_understudy() -> None:
    pm = get_plugin_manager()
    assert pm is get_plugin_manager()
    assert pm.project_name == "understudy"


def test_every_hook_is_prefixed_and_documented() -> None:
    pm = make_plugin_manager(entry_points=False)
    names = [name for name in dir(pm.hook) if not name.startswith("_")]
    assert names == [
        "understudy_classify",
        "understudy_exception_names",
        "understudy_fallback_event",
        "understudy_load_profile",
        "understudy_observe_call",
        "understudy_profile_names",
        "understudy_route",
    ]
    for name in names:
        spec = getattr(pm.hook, name).spec
        assert spec is not None and (spec.function.__doc__ or "").strip()


def test_a_hook_with_a_wrong_signature_is_refused_at_registration() -> None:
    class Wrong:
        @hookimpl
        def understudy_fallback_event(self, event: object, extra: object) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError):
        make_plugin_manager(entry_points=False).register(Wrong())


def test_builtin_behaviour_is_registered_as_plugins() -> None:
    names = [info.name for info in list_plugins(make_plugin_manager(entry_points=False))]
    assert names == ["understudy.exception-names", "understudy.log", "understudy.route"]


def test_plugins_receive_every_event_even_when_another_plugin_raises(
    fake_profile: WriteProfile, profiles_dir: Path, fake_provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    class Broken:
        @hookimpl
        def understudy_fallback_event(self, event: Event) -> None:
            raise RuntimeError("plugin bug")

    class Listener:
        @hookimpl
        def understudy_fallback_event(self, event: Event) -> None:
            seen.append(event.kind)

    pm = make_plugin_manager(entry_points=False)
    pm.register(Listener())
    pm.register(Broken())
    registry = LLMRegistry(ProfileStore([profiles_dir], plugin_manager=pm), retry_policy=RetryPolicy(initial=0))
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))

    assert served_by(registry.get("main").completion(messages=[{"role": "user", "content": "hi"}])) == "backup"
    assert seen == ["attempt_failed", "fallback_triggered", "fallback_succeeded"]
    assert "plugin bug" in caplog.text


ENTRY_POINT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from understudy.plugins import get_plugin_manager, list_plugins
    get_plugin_manager()
    print(json.dumps([p.name for p in list_plugins()]))
    """
)


def make_distribution(root: Path) -> Path:
    """A tiny installed distribution exposing one plugin through the `understudy` entry-point group."""
    site = root / "site"
    (site / "shouty_plugin.py").parent.mkdir(parents=True)
    (site / "shouty_plugin.py").write_text(
        "import understudy\n"
        "understudy.get_plugin_manager()  # a plugin asking for the manager while it loads must not deadlock\n"
        "@understudy.hookimpl\n"
        "def understudy_exception_names():\n"
        "    return {'ShoutError': 'builtins:OSError'}\n"
    )
    dist = site / "shouty-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shouty\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[understudy]\nshouty = shouty_plugin\n")
    return site


BUILTINS = ["understudy.exception-names", "understudy.log", "understudy.route"]
OWN = ["otel", "usage-log"]  # understudy's entry points: each does nothing until installed and configured


@pytest.mark.parametrize(
    ("disable", "expected"),
    [
        ("", [*BUILTINS, "shouty", *OWN]),  # understudy's own entry points (observability.md)
        ("shouty", [*BUILTINS, *OWN]),
        ("shouty,otel", [*BUILTINS, "usage-log"]),
        ("shouty,otel,usage-log", BUILTINS),
        ("*", BUILTINS),
        ("understudy.exception-names, understudy.log, understudy.route", [*BUILTINS, "shouty", *OWN]),
    ],
)
def test_entry_point_plugins_load_unless_disabled_and_builtins_always_stay(
    tmp_path: Path, disable: str, expected: list[str]
) -> None:
    site = make_distribution(tmp_path)
    env = {"UNDERSTUDY_DISABLE_PLUGINS": disable, "PATH": "", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_SCRIPT, str(site)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == expected


async def test_async_hook_implementations_are_awaited(
    fake_profile: WriteProfile, profiles_dir: Path, fake_provider: FakeProvider
) -> None:
    seen: list[str] = []

    class AsyncListener:
        @hookimpl
        async def understudy_fallback_event(self, event: Event) -> None:
            seen.append(event.kind)

    pm = make_plugin_manager(entry_points=False)
    pm.register(AsyncListener())
    registry = LLMRegistry(ProfileStore([profiles_dir], plugin_manager=pm), retry_policy=RetryPolicy(initial=0))
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))

    await registry.get("main").acompletion(messages=[{"role": "user", "content": "hi"}])
    assert seen == ["attempt_failed", "fallback_triggered", "fallback_succeeded"]


def test_a_plugin_profile_source_that_raises_only_skips_that_profile(
    fake_profile: WriteProfile, profiles_dir: Path, fake_provider: FakeProvider
) -> None:
    class Vault:
        @hookimpl
        def understudy_load_profile(self, name: str) -> None:
            raise ConnectionError("vault unreachable")

    pm = make_plugin_manager(entry_points=False)
    pm.register(Vault())
    registry = LLMRegistry(ProfileStore([profiles_dir], plugin_manager=pm), retry_policy=RetryPolicy(initial=0))
    fake_profile("main", fallbacks={"*": ["vaulted", "backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))
    events: list[Event] = []
    registry.subscribe(events.append)

    assert served_by(registry.get("main").completion(messages=[{"role": "user", "content": "hi"}])) == "backup"
    skipped = [e for e in events if e.kind == "profile_skipped"]
    assert len(skipped) == 1 and "vault unreachable" in skipped[0].reason  # type: ignore[attr-defined]


# -- understudy_classify: teaching understudy a provider's own dialect -------------------------------------------


class Dialect:
    """A provider that says "quota" in a 400 for a rate limit, and hides "error" in a 200 body."""

    @hookimpl
    def understudy_classify(self, error: Exception | None, response: object) -> str | None:
        if error is not None and "quota spent" in str(error):
            return "RateLimitError"
        choices = getattr(response, "choices", None)
        if choices and (choices[0].message.content or "").startswith("ERROR:"):
            return "ServiceUnavailableError"
        return None


@pytest.fixture
def dialect(profiles_dir: Path, fake_profile: WriteProfile) -> LLMRegistry:
    pm = make_plugin_manager(entry_points=False)
    pm.register(Dialect())
    fake_profile("main", fallbacks={"RateLimitError": ["backup"], "ServiceUnavailableError": ["backup"]})
    fake_profile("backup")
    return LLMRegistry(ProfileStore([profiles_dir], plugin_manager=pm), retry_policy=RetryPolicy(initial=0))


@pytest.mark.parametrize(
    "answer", [HTTPError(400, "your quota spent for today"), Reply("ERROR: upstream busy")], ids=["400", "200-body"]
)
def test_a_plugin_names_the_kind_of_a_failure_litellm_maps_poorly(
    dialect: LLMRegistry, fake_provider: FakeProvider, answer: object
) -> None:
    fake_provider.script("main", answer)
    events: list[Event] = []
    dialect.subscribe(events.append)

    assert served_by(dialect.get("main").completion(messages=[{"role": "user", "content": "hi"}])) == "backup"
    failed = [e for e in events if e.kind == "attempt_failed"]
    expected = "RateLimitError" if isinstance(answer, HTTPError) else "ServiceUnavailableError"
    assert [e.error_type for e in failed] == [expected]  # type: ignore[attr-defined]


def test_a_classifier_plugin_that_raises_or_names_nonsense_is_passed_over(
    profiles_dir: Path, fake_profile: WriteProfile, fake_provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def understudy_classify(self, error: Exception | None) -> str | None:
            if error is None:
                return "NoSuchError"
            raise RuntimeError("classifier bug")

    pm = make_plugin_manager(entry_points=False)
    pm.register(Broken())
    registry = LLMRegistry(ProfileStore([profiles_dir], plugin_manager=pm), retry_policy=RetryPolicy(initial=0))
    fake_profile("main", fallbacks={"*": ["backup"]})
    fake_profile("backup")
    fake_provider.script("main", ServerError(503))

    assert served_by(registry.get("main").completion(messages=[{"role": "user", "content": "hi"}])) == "backup"
    assert "understudy_classify plugin raised" in caplog.text
    assert "'NoSuchError', which litellm has no exception class for" in caplog.text
