"""Routers by name: router files beside the profiles, composed (route -> tier -> candidates), read again when
they change, YAML, and reached as ``understudy/<router>`` through the litellm provider and the openai transport.
Every call goes over real HTTP to the fake provider."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

import litellm
import pytest

from understudy import RouteConfigError, route_of, served_by
from understudy.events import Event, RouteChosen, RouterReloadFailed
from understudy.integrations import openai as openai_integration
from understudy.integrations.litellm import register
from understudy.testing import Reply, ServerError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import FakeProvider

HELLO = [{"role": "user", "content": "hello"}]

AUTO = """\
kind = "tiered"
default_tier = "simple"
classifier = "labeller"
timeout = 5

[tiers.simple]
profiles = ["cheap"]
description = "greetings"

[tiers.complex]
profiles = ["dear", "cheap"]
description = "hard questions"
"""

ROUTES = """\
default = "plain"

[[routes]]
match = { platform = "api" }
router = "auto"

[[routes]]
match = { platform = "discord" }
profile = "careful"
"""


@pytest.fixture
def profiles(fake_profile: WriteProfile, write_profile: WriteProfile, fake_provider: FakeProvider) -> None:
    for name in ("cheap", "dear", "plain", "careful"):
        fake_profile(name, f"{name}-model")
    fake_profile("labeller", "labeller-model", max_tokens=5)
    fake_provider.default("labeller-model", Reply("complex"))
    write_profile("auto", AUTO)


@pytest.fixture(autouse=True)
def restore_litellm() -> Iterator[None]:
    providers = list(litellm.custom_provider_map)
    yield
    litellm.custom_provider_map = providers


def touch_later(path: Path, text: str) -> None:
    """Rewrite ``path`` and move its times on, as a later save would (no sleep: the times are set)."""
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns + 10**9, stat.st_mtime_ns + 10**9))


# -- by name --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("profiles")
def test_a_tiered_router_file_is_routed_by_name(registry: LLMRegistry, fake_provider: FakeProvider) -> None:
    response = registry.routed("auto").completion(messages=HELLO)

    assert served_by(response) == "dear"
    assert route_of(response) == "auto:tier:complex"
    assert fake_provider.requests("labeller-model") == 1
    assert registry.routed("auto") is registry.routed("auto")  # one per name: sessions and stats carry on


@pytest.mark.usefixtures("profiles")
def test_understudy_slash_router_through_the_litellm_provider(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    register(registry)

    response = litellm.completion(model="understudy/auto", messages=HELLO)

    assert response.choices[0].message.content
    assert fake_provider.requests("dear-model") == 1
    assert fake_provider.requests("cheap-model") == 0


@pytest.mark.usefixtures("profiles")
def test_the_litellm_metadata_carries_the_context_a_match_router_reads(
    registry: LLMRegistry, write_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    write_profile("routes", ROUTES)
    register(registry)

    litellm.completion(
        model="understudy/routes", messages=HELLO, metadata={"understudy_context": {"platform": "discord"}}
    )
    litellm.completion(model="understudy/routes", messages=HELLO)

    assert fake_provider.requests("careful-model") == 1
    assert fake_provider.requests("plain-model") == 1


@pytest.mark.usefixtures("profiles")
async def test_understudy_router_through_the_openai_transport_sync_and_async(
    registry: LLMRegistry, write_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    write_profile("routes", ROUTES)
    context = {"understudy_context": json.dumps({"platform": "discord"}), "trace": "t-1"}

    sync = openai_integration.client(registry).chat.completions.with_raw_response.create(
        model="routes", messages=HELLO, metadata=context
    )
    reply = await openai_integration.async_client(registry).chat.completions.create(model="auto", messages=HELLO)

    assert sync.headers["x-understudy-served-by"] == "careful"
    assert reply.choices[0].message.content
    assert fake_provider.requests("dear-model") == 1
    forwarded = fake_provider.received("careful-model")[0]
    assert forwarded.get("metadata", {}).get("understudy_context") is None  # routing's keys stay in understudy


def test_an_unknown_name_is_a_404_naming_it_and_a_file_without_kind_says_to_add_one(
    registry: LLMRegistry, write_profile: WriteProfile
) -> None:
    write_profile("mystery", "tiers: {}\n", suffix=".yaml")

    missing = openai_integration.client(registry).chat.completions.with_raw_response
    with pytest.raises(Exception, match="nothing-here") as caught:
        missing.create(model="nothing-here", messages=HELLO)
    assert getattr(caught.value, "status_code", None) == 404
    with pytest.raises(RouteConfigError, match=r"mystery\.yaml: kind: says no kind; add kind = \"tiered\""):
        registry.router("mystery")


# -- composition ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("profiles")
def test_a_route_hands_the_call_to_a_tiered_router(
    registry: LLMRegistry, write_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    write_profile("routes", ROUTES)
    routed = registry.routed("routes")

    handed = routed.completion(messages=HELLO, context={"platform": "api"})
    plain = routed.completion(messages=HELLO, context={"platform": "web"})

    assert served_by(handed) == "dear"
    assert route_of(handed) == "routes:routes[0]>tier:complex"
    assert "handed to 'auto'" in handed._hidden_params["understudy"]["route_reason"]
    assert served_by(plain) == "plain"
    assert fake_provider.requests("labeller-model") == 1  # only the handed call asked the classifier
    assert set(registry.router("routes").profiles()) >= {"dear", "cheap", "labeller", "plain", "careful"}


@pytest.mark.usefixtures("profiles")
async def test_a_handed_route_is_awaited_on_the_async_path(registry: LLMRegistry, write_profile: WriteProfile) -> None:
    write_profile("routes", ROUTES)

    response = await registry.routed("routes").acompletion(messages=HELLO, context={"platform": "api"})

    assert served_by(response) == "dear"


@pytest.mark.usefixtures("profiles")
def test_a_handed_tier_falls_back_along_its_candidates(
    registry: LLMRegistry, write_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    write_profile("routes", ROUTES)
    fake_provider.script("dear-model", ServerError(503))

    response = registry.routed("routes").completion(messages=HELLO, context={"platform": "api"})

    assert served_by(response) == "cheap"


@pytest.mark.usefixtures("profiles")
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nowhere", r"routes\.toml: routes\[0\]\.router: hands the call to router 'nowhere', which does not load"),
        ("other", r"routes\.toml: routes\[0\]\.router: hands the call to 'other', a match router"),
    ],
)
def test_a_route_to_a_missing_or_match_router_is_refused_naming_the_route(
    registry: LLMRegistry, write_profile: WriteProfile, target: str, message: str
) -> None:
    write_profile("other", 'kind = "match"\ndefault = "plain"\n')
    write_profile("routes", ROUTES.replace('router = "auto"', f'router = "{target}"'))

    with pytest.raises(RouteConfigError, match=message):
        registry.router("routes")


def test_routes_built_in_code_that_hand_off_need_a_way_to_find_routers() -> None:
    from understudy import MatchRouter

    with pytest.raises(RouteConfigError, match=r"routes\[0\]\.router: .*pass routers=registry\.router"):
        MatchRouter("plain", [{"match": {"platform": "api"}, "router": "auto"}])
    with pytest.raises(RouteConfigError, match="not both"):
        MatchRouter("plain", [{"match": {}, "router": "auto", "profile": "plain"}])


# -- read again on change ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("profiles")
def test_an_edited_router_file_is_read_again_on_the_next_call(
    registry: LLMRegistry, profiles_dir: Path, fake_provider: FakeProvider
) -> None:
    routed = registry.routed("auto")
    assert served_by(routed.completion(messages=HELLO)) == "dear"

    touch_later(profiles_dir / "auto.toml", AUTO.replace('profiles = ["dear", "cheap"]', 'profiles = ["cheap"]'))

    assert served_by(routed.completion(messages=HELLO)) == "cheap"
    assert registry.router("auto").problem is None


@pytest.mark.usefixtures("profiles")
def test_a_broken_edit_keeps_the_last_good_table_and_says_why_once(
    registry: LLMRegistry, profiles_dir: Path, fake_provider: FakeProvider
) -> None:
    events: list[Event] = []
    registry.subscribe(events.append)
    routed = registry.routed("auto")
    routed.completion(messages=HELLO)

    touch_later(profiles_dir / "auto.toml", AUTO.replace('["dear", "cheap"]', '["dear", "ghost"]'))
    first = routed.completion(messages=HELLO)
    second = routed.completion(messages=HELLO)

    assert served_by(first) == served_by(second) == "dear"  # the last good table still routes
    reloads = [event for event in events if isinstance(event, RouterReloadFailed)]
    assert len(reloads) == 1
    assert reloads[0].router == "auto" and reloads[0].path.endswith("auto.toml")
    assert "ghost" in reloads[0].message
    assert "ghost" in (registry.router("auto").problem or "")

    touch_later(profiles_dir / "auto.toml", AUTO.replace('["dear", "cheap"]', '["cheap"]'))
    assert served_by(routed.completion(messages=HELLO)) == "cheap"
    assert registry.router("auto").problem is None


@pytest.mark.usefixtures("profiles")
def test_a_handed_tiered_router_is_read_again_too(
    registry: LLMRegistry, write_profile: WriteProfile, profiles_dir: Path
) -> None:
    write_profile("routes", ROUTES)
    routed = registry.routed("routes")
    assert served_by(routed.completion(messages=HELLO, context={"platform": "api"})) == "dear"

    touch_later(profiles_dir / "auto.toml", AUTO.replace('profiles = ["dear", "cheap"]', 'profiles = ["careful"]'))

    assert served_by(routed.completion(messages=HELLO, context={"platform": "api"})) == "careful"


# -- YAML ---------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("profiles")
def test_a_yaml_routes_file_is_found_beside_the_profiles(
    registry: LLMRegistry, write_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    from understudy import MatchRouter

    yaml_routes = (
        "default: plain\n"
        "routes:\n"
        "  - match: {platform: api}\n"
        "    router: auto\n"
        "platforms:\n"
        "  discord: {model: openai/careful-model, base_url: " + fake_provider.base_url + "}\n"
    )
    write_profile("routes", yaml_routes, suffix=".yaml")

    found = MatchRouter.find(registry.store, routers=registry.router)
    response = registry.routed("routes").completion(messages=HELLO, context={"platform": "discord"})

    assert found is not None and [route.label for route in found.routes] == ["routes[0]", "platforms.discord"]
    assert served_by(response) == "plain"  # the default profile, with the shorthand's model
    assert fake_provider.requests("careful-model") == 1
    assert served_by(registry.routed("routes").completion(messages=HELLO, context={"platform": "api"})) == "dear"


def test_yaml_without_pyyaml_says_to_install_it(
    registry: LLMRegistry, write_profile: WriteProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile("routes", "default: plain\n", suffix=".yml")
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError

    with pytest.raises(RouteConfigError, match=r"routes\.yml: reading YAML needs PyYAML.*pip install pyyaml"):
        registry.router("routes")


def test_invalid_yaml_names_the_line(registry: LLMRegistry, write_profile: WriteProfile) -> None:
    write_profile("routes", "default: plain\nroutes: [\n", suffix=".yaml")

    with pytest.raises(RouteConfigError, match=r"invalid YAML.*line 3"):
        registry.router("routes")


# -- the classifier's usage, booked to the routed call ------------------------------------------------------------


@pytest.mark.usefixtures("profiles")
def test_the_classifiers_usage_and_cost_are_on_the_route_chosen_event_and_in_the_routes_stats(
    registry: LLMRegistry, write_profile: WriteProfile, fake_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    fake_profile("mini", "gpt-4o-mini")  # a model litellm has a price for
    fake_provider.default("gpt-4o-mini", Reply("complex", prompt_tokens=40, completion_tokens=1))
    write_profile("priced", AUTO.replace('classifier = "labeller"', 'classifier = "mini"'))
    events: list[Event] = []
    registry.subscribe(events.append)

    registry.routed("priced").completion(messages=HELLO)

    chosen = next(event for event in events if isinstance(event, RouteChosen))
    assert chosen.classifier is not None
    assert (chosen.classifier.profile, chosen.classifier.prompt_tokens, chosen.classifier.completion_tokens) == (
        "mini",
        40,
        1,
    )
    assert chosen.classifier.cost == pytest.approx(registry.stats()["mini"].cost) and chosen.classifier.cost > 0
    route = registry.route_stats()["priced:tier:complex"]
    assert (route.classifier_calls, route.classifier_prompt_tokens, route.classifier_completion_tokens) == (1, 40, 1)
    assert route.classifier_cost == pytest.approx(chosen.classifier.cost)
    assert route.served_by == {"dear": 1}


@pytest.mark.usefixtures("profiles")
def test_a_classifier_that_is_also_a_candidate_keeps_its_two_uses_apart(
    registry: LLMRegistry, write_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    write_profile("both", AUTO.replace('classifier = "labeller"', 'classifier = "cheap"'))
    fake_provider.default("cheap-model", Reply("simple"))

    registry.routed("both").completion(messages=HELLO)

    cheap = registry.stats()["cheap"]
    assert (cheap.successes, cheap.classifier_calls) == (2, 1)  # it labelled the request, then served it
    route = registry.route_stats()["both:tier:simple"]
    assert route.served_by == {"cheap": 1} and route.classifier_calls == 1


@pytest.mark.usefixtures("profiles")
def test_a_reused_decision_books_no_second_classification(registry: LLMRegistry, fake_provider: FakeProvider) -> None:
    from understudy import Stickiness

    routed = registry.routed("auto", stickiness=Stickiness(decision_ttl=3600))

    routed.completion(messages=HELLO, session="s")
    routed.completion(messages=HELLO, session="s")

    assert fake_provider.requests("labeller-model") == 1
    route = registry.route_stats()["auto:tier:complex"]
    assert (route.calls, route.classifier_calls) == (2, 1)


@pytest.mark.usefixtures("profiles")
def test_a_failed_classification_books_no_usage(registry: LLMRegistry, fake_provider: FakeProvider) -> None:
    fake_provider.script("labeller-model", ServerError(500))

    registry.routed("auto").completion(messages=HELLO)

    route = registry.route_stats()["auto:default"]
    assert route.classifier_calls == 0 and route.classifier_cost is None
    assert registry.stats()["labeller"].classifier_calls == 0


@pytest.mark.usefixtures("profiles")
def test_explain_shows_a_handed_route_without_asking_the_classifier(
    registry: LLMRegistry,
    write_profile: WriteProfile,
    profiles_dir: Path,
    fake_provider: FakeProvider,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from understudy.cli import main

    write_profile("routes", ROUTES)

    code = main(["--profiles-path", str(profiles_dir), "explain", "--context", "platform=api"])

    out = capsys.readouterr().out
    assert code == 0
    assert "routes[0]: primary 'cheap'" in out and "handed to 'auto'" in out
    assert fake_provider.requests("labeller-model") == 0  # explain is offline


@pytest.mark.usefixtures("profiles")
@pytest.mark.parametrize(("target", "ok"), [("auto", True), ("nowhere", False)])
def test_offline_check_reads_a_route_that_hands_off(
    write_profile: WriteProfile,
    profiles_dir: Path,
    fake_provider: FakeProvider,
    capsys: pytest.CaptureFixture[str],
    target: str,
    ok: bool,
) -> None:
    from understudy.cli import main

    write_profile("routes", ROUTES.replace('router = "auto"', f'router = "{target}"'))

    code = main(["--profiles-path", str(profiles_dir), "check"])

    out = capsys.readouterr().out
    routes_line = next(line for line in out.splitlines() if "(routes)" in line)
    assert routes_line.startswith("ok" if ok else "FAIL"), out
    assert (code == 0) is ok
    if not ok:
        assert "routes[0].router: hands the call to router 'nowhere', which does not load" in out
    assert sum(fake_provider.requests(model) for model in ("labeller-model", "dear-model")) == 0


@pytest.mark.usefixtures("profiles")
def test_a_deleted_router_file_keeps_routing_and_clears_its_problem_when_it_comes_back(
    registry: LLMRegistry, profiles_dir: Path
) -> None:
    events: list[Event] = []
    registry.subscribe(events.append)
    routed = registry.routed("auto")
    routed.completion(messages=HELLO)
    path = profiles_dir / "auto.toml"

    path.unlink()
    assert served_by(routed.completion(messages=HELLO)) == "dear"
    assert "gone" in (registry.router("auto").problem or "")

    touch_later(path, AUTO)
    assert served_by(routed.completion(messages=HELLO)) == "dear"
    assert registry.router("auto").problem is None
    assert [type(event) for event in events].count(RouterReloadFailed) == 1


@pytest.mark.usefixtures("profiles")
def test_a_subscriber_may_ask_the_router_again_while_told_of_a_broken_edit(
    registry: LLMRegistry, profiles_dir: Path
) -> None:
    seen: list[str | None] = []

    def on_event(event: Event) -> None:
        if isinstance(event, RouterReloadFailed):
            seen.append(registry.router(event.router).current.default)  # re-enters the router

    registry.subscribe(on_event)
    routed = registry.routed("auto")
    touch_later(profiles_dir / "auto.toml", "kind = [")

    assert served_by(routed.completion(messages=HELLO)) == "dear"
    assert seen == ["cheap"]


# -- stickiness in the file: a router by name has no code to say it --------------------------------------------


@pytest.mark.usefixtures("profiles")
def test_a_router_files_stickiness_holds_for_calls_through_the_litellm_provider(
    registry: LLMRegistry, write_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    write_profile("sticky", "stickiness = { decision_ttl = 3600 }\n" + AUTO)
    register(registry)

    for _ in range(3):
        litellm.completion(model="understudy/sticky", messages=HELLO, metadata={"understudy_session": "conv-1"})
    litellm.completion(model="understudy/sticky", messages=HELLO, metadata={"understudy_session": "conv-2"})

    assert fake_provider.requests("labeller-model") == 2  # once per conversation
    assert fake_provider.requests("dear-model") == 4


@pytest.mark.usefixtures("profiles")
def test_a_changed_stickiness_is_followed_unless_code_set_one(
    registry: LLMRegistry, write_profile: WriteProfile, profiles_dir: Path
) -> None:
    write_profile("sticky", 'stickiness = "session"\n' + AUTO)
    routed = registry.routed("sticky")
    assert routed.stickiness.mode == "session"

    touch_later(profiles_dir / "sticky.toml", "stickiness = 60\n" + AUTO)
    routed.completion(messages=HELLO)  # the call that finds the change

    assert registry.routed("sticky").stickiness.ttl == 60
    assert registry.routed("sticky", stickiness="per_call").stickiness.mode == "per_call"
    touch_later(profiles_dir / "sticky.toml", 'stickiness = "session"\n' + AUTO)
    routed.completion(messages=HELLO)
    assert registry.routed("sticky").stickiness.mode == "per_call"  # code said so: the file no longer counts


def test_a_bad_stickiness_names_the_key(registry: LLMRegistry, write_profile: WriteProfile) -> None:
    write_profile("sticky", 'stickiness = "forever"\n' + AUTO)

    with pytest.raises(RouteConfigError, match=r"sticky\.toml: stickiness: stickiness 'forever'.*use \"session\""):
        registry.router("sticky")


# -- found in review ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("profiles")
def test_a_route_that_hands_off_to_its_own_router_is_refused_not_a_recursion(
    registry: LLMRegistry, write_profile: WriteProfile
) -> None:
    write_profile("routes", ROUTES.replace('router = "auto"', 'router = "routes"'))

    with pytest.raises(RouteConfigError, match=r"routes\[0\]\.router: .*hands the call back to itself"):
        registry.router("routes")


@pytest.mark.usefixtures("profiles")
def test_an_edit_that_makes_a_router_hand_off_to_itself_keeps_the_last_good_table(
    registry: LLMRegistry, write_profile: WriteProfile, profiles_dir: Path
) -> None:
    write_profile("routes", ROUTES)
    routed = registry.routed("routes")
    routed.completion(messages=HELLO, context={"platform": "api"})

    touch_later(profiles_dir / "routes.toml", ROUTES.replace('router = "auto"', 'router = "routes"'))

    assert served_by(routed.completion(messages=HELLO, context={"platform": "api"})) == "dear"  # no hang
    assert "back to itself" in (registry.router("routes").problem or "")


@pytest.mark.usefixtures("profiles")
def test_a_broken_version_that_comes_back_after_a_fix_is_reported_again(
    registry: LLMRegistry, profiles_dir: Path
) -> None:
    events: list[Event] = []
    registry.subscribe(events.append)
    routed = registry.routed("auto")
    path = profiles_dir / "auto.toml"

    for text in ("kind = [", AUTO, "kind = ["):
        touch_later(path, text)
        routed.completion(messages=HELLO)

    assert [type(event) for event in events].count(RouterReloadFailed) == 2
    assert registry.router("auto").problem is not None


@pytest.mark.usefixtures("profiles")
def test_a_decision_the_switch_cost_keeps_books_this_calls_classification(
    registry: LLMRegistry, write_profile: WriteProfile, fake_provider: FakeProvider
) -> None:
    from understudy import Stickiness

    write_profile("kept", AUTO.replace('profiles = ["cheap"]', 'profiles = ["cheap", "dear"]'))
    fake_provider.script(
        "labeller-model",
        Reply("complex", prompt_tokens=111, completion_tokens=1),
        Reply("simple", prompt_tokens=222, completion_tokens=2),
    )
    routed = registry.routed("kept", stickiness=Stickiness(mode="session", switch_cost=1000.0))

    routed.completion(messages=HELLO, session="s")
    routed.completion(messages=HELLO, session="s")

    assert sum(route.classifier_prompt_tokens for route in registry.route_stats().values()) == 333


@pytest.mark.usefixtures("profiles")
def test_bad_routing_metadata_is_the_callers_400_on_both_integrations(
    registry: LLMRegistry, write_profile: WriteProfile
) -> None:
    import openai

    write_profile("routes", ROUTES)
    register(registry)

    with pytest.raises(litellm.BadRequestError, match="understudy_context must be an object"):
        litellm.completion(model="understudy/routes", messages=HELLO, metadata={"understudy_context": [1, 2]})
    with pytest.raises(openai.BadRequestError, match="understudy_context must be an object") as caught:
        openai_integration.client(registry).chat.completions.create(
            model="routes", messages=HELLO, metadata={"understudy_context": "[1, 2]"}
        )
    assert caught.value.status_code == 400


def test_a_router_name_outside_the_search_path_is_refused(registry: LLMRegistry) -> None:
    with pytest.raises(RouteConfigError, match="is not a router name"):
        registry.router("../elsewhere")
