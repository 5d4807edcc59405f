"""``understudy check --live``: one real request per reachable profile, over HTTP to the fake provider."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from understudy.cli import main
from understudy.testing import HTTPError, Reply, Slow

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

    from understudy.testing import FakeProvider

SECRET = "sk-live-secret-1234567890"
NOT_FOUND = HTTPError(404, "The model `dear-typo` does not exist or you do not have access to it.", "model_not_found")

AUTO = """\
kind = "tiered"
default_tier = "simple"
classifier = "labeller"

[tiers.simple]
profiles = ["cheap"]

[tiers.complex]
profiles = ["dear", "cheap"]
"""

ROUTES = """\
default = "main"

[[routes]]
match = { platform = "api" }
router = "auto"
"""


@pytest.fixture
def profiles(fake_profile: WriteProfile, write_profile: WriteProfile, fake_provider: FakeProvider) -> Path:
    fake_profile("main", "main-model", fallbacks={"RateLimitError": ["backup"], "*": ["cheap"]})
    fake_profile("backup", "backup-model", api_key=SECRET)
    for name in ("cheap", "dear", "labeller"):
        fake_profile(name, f"{name}-model")
    fake_provider.default("labeller-model", Reply("simple"))
    return write_profile("auto", AUTO).parent


def live(capsys: pytest.CaptureFixture[str], folder: Path, *argv: str) -> tuple[int, str]:
    code = main(["--profiles-path", str(folder), "check", "--live", *argv])
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out


def test_every_profile_a_name_reaches_answers_once(
    profiles: Path, write_profile: WriteProfile, fake_provider: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("routes", ROUTES)

    code, out = live(capsys, profiles, "main", "auto", "routes")

    assert code == 0, out
    assert "ok    main    3 profiles: OK" in out
    assert "      fallback backup: ok" in out and "      fallback cheap: ok" in out
    assert "ok    auto    tiered: OK (2 tiers)" in out
    assert "      tier complex: ok (dear -> cheap)" in out and "      classifier labeller: ok" in out
    assert "      routes[0]>tier complex: ok (dear -> cheap)" in out and "      default main: ok" in out
    for model in ("main-model", "backup-model", "cheap-model", "dear-model", "labeller-model"):
        assert fake_provider.requests(model) == 1, model  # reached by several entries, asked once
    assert fake_provider.received("cheap-model")[0]["max_tokens"] == 1


def test_a_model_the_endpoint_rejects_fails_its_tier_with_the_providers_reason(
    profiles: Path, fake_provider: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_provider.default("dear-model", NOT_FOUND)

    code, out = live(capsys, profiles, "auto")

    assert code == 1
    assert "FAIL  auto  tiered: 1 of 3 failing" in out
    assert "tier complex: FAIL dear: 404 NotFoundError:" in out and "`dear-typo` does not exist" in out
    assert "tier simple: ok (cheap)" in out
    assert fake_provider.requests("dear-model") == 1  # no retry, no fallback


def test_a_failing_fallback_is_named_under_its_profile_and_never_hidden_by_the_next(
    profiles: Path, fake_provider: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_provider.default("backup-model", HTTPError(401, f"Incorrect API key provided: {SECRET}"))

    code, out = live(capsys, profiles, "main")

    assert code == 1
    assert "FAIL  main  3 profiles: 1 of 2 fallbacks failing" in out
    assert "fallback backup: FAIL 401 AuthenticationError: Incorrect API key provided: ***" in out  # no litellm prefix
    assert "fallback cheap: ok" in out


def test_a_slow_member_is_bounded_by_the_timeout(
    profiles: Path, fake_provider: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_provider.default("dear-model", Slow(30))

    code, out = live(capsys, profiles, "dear", "cheap", "--timeout", "0.5", "--concurrency", "2")

    assert code == 1
    assert "FAIL  dear" in out and "Timeout" in out
    assert "ok    cheap" in out


def test_json_gives_each_entry_its_lines_and_members(profiles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = live(capsys, profiles, "auto", "--json")

    [report] = json.loads(out)
    assert code == 0
    assert (report["name"], report["kind"], report["ok"]) == ("auto", "tiered", True)
    assert report["lines"][0] == "tier simple: ok (cheap)"
    assert set(report["members"]) == {"cheap", "dear", "labeller"}
    assert all(member["ok"] and member["seconds"] >= 0 for member in report["members"].values())


def test_a_name_that_does_not_load_fails_without_a_request(
    profiles: Path, write_profile: WriteProfile, fake_provider: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("broken", 'model = "openai/x"\ntemperature = "hot"\n')

    code, out = live(capsys, profiles, "broken", "ghost")

    assert code == 1
    assert "FAIL  broken  " in out and "temperature" in out and "FAIL  broken  FAIL" not in out
    assert "FAIL  ghost" in out
    assert fake_provider.requests("x") == 0


def test_without_names_every_profile_and_router_file_is_checked(
    profiles: Path, write_profile: WriteProfile, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("routes", ROUTES)

    code, out = live(capsys, profiles)

    assert code == 0, out
    names = [line.split()[1] for line in out.splitlines() if line.startswith(("ok ", "FAIL "))]
    assert names == ["auto", "backup", "cheap", "dear", "labeller", "main", "routes"]
    assert out.rstrip().endswith("7 checked live, 5 profiles asked: all ok")


def test_a_profile_with_phase_timeouts_is_asked_and_each_phase_is_bounded(
    fake_profile: WriteProfile, fake_provider: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: a profile setting connect_timeout / first_token_timeout sends an httpx.Timeout, which the
    bound took for a number: every such profile FAILed with a TypeError and was never asked."""
    fake_profile("phased", "phased-model", connect_timeout=2, first_token_timeout=5)
    folder = fake_profile("sluggish", "sluggish-model", first_token_timeout=60).parent
    fake_provider.default("sluggish-model", Slow(30))

    code, out = live(capsys, folder, "phased", "sluggish", "--timeout", "0.5")

    assert code == 1
    assert "ok    phased" in out
    assert fake_provider.requests("phased-model") == 1
    # Cut at --timeout by the request itself (litellm's Timeout), not left to the run's overall deadline.
    assert "FAIL  sluggish" in out and "Timeout" in out and "no answer within" not in out


def test_a_routes_profile_is_asked_with_the_fallbacks_a_call_on_it_reaches(
    profiles: Path, write_profile: WriteProfile, fake_provider: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile(
        "routes",
        ROUTES + '\n[[routes]]\nmatch = { platform = "irc" }\nprofile = "dear"\nfallbacks = { "*" = ["labeller"] }\n',
    )
    fake_provider.default("backup-model", NOT_FOUND)

    code, out = live(capsys, profiles, "routes")

    assert code == 1
    assert "default main: FAIL backup: 404 NotFoundError: The model `dear-typo` does not exist" in out
    assert "routes[1] dear: ok" in out  # its own table: dear, then labeller
    assert fake_provider.requests("labeller-model") == 1 and fake_provider.requests("backup-model") == 1
