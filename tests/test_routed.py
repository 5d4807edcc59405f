"""Routing composed with fallback, through real HTTP: route, then fall back; sticky sessions."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

import litellm
import pytest

from understudy import MatchRouter, RouteConfigError, RouteDecision, Stickiness, hookimpl, route_of, served_by
from understudy.events import Event, RoutingFailed
from understudy.testing import HTTPError, Reply, ServerError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import FakeProvider

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def router(fake_profile: WriteProfile) -> MatchRouter:
    fake_profile("fast", "gpt-4o-mini", fallbacks={"*": ["backup"]})
    fake_profile("strong", "gpt-4o", fallbacks={"*": ["backup"]})
    fake_profile("backup", "local-model")
    fake_profile("careful", "careful-model")
    return MatchRouter(
        "fast",
        [
            {"match": {"source_kind": "owner"}, "profile": "strong"},
            {"match": {"platform": "discord"}, "profile": "careful", "overrides": {"temperature": 0.0}},
            {"match": {"platform": "irc"}, "profile": "fast", "fallbacks": {"*": ["careful"]}},
        ],
    )


def record(registry: LLMRegistry) -> list[Event]:
    events: list[Event] = []
    registry.subscribe(events.append)
    return events


def test_the_router_picks_the_primary_and_the_profile_s_fallbacks_still_apply(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router)
    fake_provider.script("gpt-4o", ServerError(503))
    events = record(registry)

    response = agent.completion(messages=HELLO, context={"source_kind": "owner"})

    assert served_by(response) == "backup"
    assert route_of(response) == "match:routes[0]"
    assert response._hidden_params["understudy"]["route_reason"] == "routes[0] matched {'source_kind': 'owner'}"
    assert {e.route for e in events} == {"match:routes[0]"}
    assert {e.primary for e in events} == {"strong"}
    assert served_by(agent.completion(messages=HELLO, context={})) == "fast"
    stats = registry.route_stats()
    assert stats["match:routes[0]"].served_by == {"backup": 1}
    assert stats["match:default"].served_by == {"fast": 1}


def test_route_overrides_reach_the_request_and_leave_the_profile_alone(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router)
    agent.completion(messages=HELLO, context={"platform": "discord"})
    registry.get("careful").completion(messages=HELLO)

    bodies = fake_provider.received("careful-model")
    assert bodies[0]["temperature"] == 0.0
    assert "temperature" not in bodies[1]


def test_a_route_s_fallback_table_replaces_the_profile_s(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router)
    fake_provider.script("gpt-4o-mini", ServerError(503))
    assert served_by(agent.completion(messages=HELLO, context={"platform": "irc"})) == "careful"
    assert fake_provider.requests("local-model") == 0


def test_a_router_that_raises_sends_the_call_to_the_default_with_an_event(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    class Broken:
        name, default = "broken", "fast"

        def select(self, context: Mapping[str, Any], *, messages: Sequence[Any] | None = None) -> RouteDecision:
            raise RuntimeError("classifier down, key sk-proj-leakyleaky123")

        def profiles(self) -> list[str]:
            return ["fast"]

    fake_profile("fast")
    events = record(registry)
    agent = registry.get_routed(Broken())

    assert served_by(agent.completion(messages=HELLO, context={"x": 1})) == "fast"
    failed = events[0]
    assert isinstance(failed, RoutingFailed)
    assert (failed.router, failed.error_type, failed.primary) == ("broken", "RuntimeError", "fast")
    assert "sk-proj-leakyleaky123" not in failed.message


def test_a_plugin_can_choose_the_route_and_the_first_non_none_answer_wins(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    class VipRouter:
        @hookimpl
        def understudy_route(self, router: Any, context: Mapping[str, Any], messages: Any) -> RouteDecision | None:
            if context.get("vip"):
                return RouteDecision(profile="strong", route="vip", router="vip-plugin")
            return None

    plugin = VipRouter()
    registry.plugin_manager.register(plugin)
    try:
        agent = registry.get_routed(router)
        assert served_by(agent.completion(messages=HELLO, context={"vip": True})) == "strong"
        assert served_by(agent.completion(messages=HELLO, context={})) == "fast"
        assert set(registry.route_stats()) == {"vip-plugin:vip", "match:default"}
    finally:
        registry.plugin_manager.unregister(plugin)


def test_get_routed_refuses_a_router_naming_missing_profiles(registry: LLMRegistry, fake_profile: WriteProfile) -> None:
    fake_profile("fast")
    with pytest.raises(RouteConfigError, match="ghost"):
        registry.get_routed(MatchRouter("fast", [{"match": {"a": 1}, "profile": "ghost"}]))


def test_per_call_sessions_start_at_the_primary_every_time(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router)
    fake_provider.script("gpt-4o-mini", ServerError(503))
    assert served_by(agent.completion(messages=HELLO, session="s1")) == "backup"
    assert served_by(agent.completion(messages=HELLO, session="s1")) == "fast"
    assert fake_provider.requests("gpt-4o-mini") == 2


def test_a_session_stays_on_the_fallback_that_served_it(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.script("gpt-4o-mini", ServerError(503))
    events = record(registry)

    assert served_by(agent.completion(messages=HELLO, session="s1")) == "backup"
    assert served_by(agent.completion(messages=HELLO, session="s1")) == "backup"
    assert served_by(agent.completion(messages=HELLO, session="other")) == "fast"

    assert fake_provider.requests("gpt-4o-mini") == 2  # the first call of s1 and the call of "other"
    assert fake_provider.requests("local-model") == 2
    assert [e.route for e in events if e.kind == "fallback_succeeded"] == ["match:default"]
    chosen = [e for e in events if e.kind == "route_chosen"]
    assert [(e.profile, e.sticky_on) for e in chosen] == [("fast", None), ("fast", "backup"), ("fast", None)]
    assert registry.route_stats()["match:default"].sticky_calls == 1


def test_when_the_sticky_fallback_fails_the_session_goes_back_through_the_primary(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.script("gpt-4o-mini", ServerError(503))
    agent.completion(messages=HELLO, session="s1")
    fake_provider.script("local-model", ServerError(503))

    assert served_by(agent.completion(messages=HELLO, session="s1")) == "fast"
    assert served_by(agent.completion(messages=HELLO, session="s1")) == "fast"  # back on the primary
    assert fake_provider.requests("local-model") == 2


def test_after_the_ttl_the_primary_is_probed_and_the_session_returns_to_it(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router, stickiness=0.01)
    fake_provider.script("gpt-4o-mini", ServerError(503))
    assert served_by(agent.completion(messages=HELLO, session="s1")) == "backup"
    time.sleep(0.02)  # let the ttl lapse (the assertion is on behaviour, not on timing)

    assert served_by(agent.completion(messages=HELLO, session="s1")) == "fast"
    state = agent.sessions.get("s1")
    assert state is not None and state.stuck_on is None


def test_switch_cost_keeps_a_session_unless_the_new_pick_is_cheaper_by_the_factor(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router, stickiness=Stickiness(switch_cost=2.0))
    # gpt-4o-mini is far cheaper than gpt-4o: moving to it is worth the lost prompt cache.
    assert served_by(agent.completion(messages=HELLO, session="s", context={"source_kind": "owner"})) == "strong"
    assert served_by(agent.completion(messages=HELLO, session="s", context={})) == "fast"
    # ... but moving back up to gpt-4o is not cheaper: the session stays on fast.
    assert served_by(agent.completion(messages=HELLO, session="s", context={"source_kind": "owner"})) == "fast"
    # A profile whose cost is unknown is never "cheaper": the session stays.
    assert served_by(agent.completion(messages=HELLO, session="s", context={"platform": "discord"})) == "fast"


def test_session_memory_is_bounded(router: MatchRouter, registry: LLMRegistry) -> None:
    agent = registry.get_routed(router, stickiness=Stickiness(mode="session", max_sessions=3))
    for index in range(10):
        agent.completion(messages=HELLO, session=f"s{index}")
    assert len(agent.sessions) == 3
    assert agent.sessions.get("s0") is None and agent.sessions.get("s9") is not None


def test_router_fallback_and_stickiness_stay_exact_under_threads(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider, fake_profile: WriteProfile
) -> None:
    # Health off: every owner session's first call must reach gpt-4o, whichever thread gets there first.
    fake_profile("strong", "gpt-4o", fallbacks={"*": ["backup"]}, health={"enabled": False})
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.default("gpt-4o", ServerError(503))  # every owner call falls back
    errors: list[BaseException] = []

    def converse(session: str, owner: bool) -> None:
        try:
            for _ in range(3):
                agent.completion(messages=HELLO, session=session, context={"source_kind": "owner"} if owner else {})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=converse, args=(f"s{i}", i % 2 == 0)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    # 6 owner sessions: the first call fails over to backup, then the session sticks to backup.
    assert fake_provider.requests("gpt-4o") == 6
    assert fake_provider.requests("local-model") == 18
    assert fake_provider.requests("gpt-4o-mini") == 18
    routes = registry.route_stats()
    assert routes["match:routes[0]"].served_by == {"backup": 18}
    assert routes["match:routes[0]"].sticky_calls == 12
    assert routes["match:default"].served_by == {"fast": 18}
    stats = registry.stats()
    # served_as_fallback counts calls saved within the call; sticky calls start on backup (see route stats).
    assert (stats["strong"].failures, stats["backup"].served_as_fallback, stats["backup"].successes) == (6, 6, 18)


async def test_async_routed_calls_route_fall_back_and_stick(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.script("gpt-4o", ServerError(503))
    first = await agent.acompletion(messages=HELLO, session="a", context={"source_kind": "owner"})
    rest = await asyncio.gather(
        *(agent.acompletion(messages=HELLO, session="a", context={"source_kind": "owner"}) for _ in range(3))
    )
    assert served_by(first) == "backup"
    assert [served_by(r) for r in rest] == ["backup"] * 3
    assert fake_provider.requests("gpt-4o") == 1


def test_decide_explains_a_route_without_calling_a_model(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    decision = registry.get_routed(router).decide({"platform": "discord"})
    assert (decision.profile, decision.route, decision.overrides) == ("careful", "routes[1]", {"temperature": 0.0})
    assert fake_provider.requests("careful-model") == 0


def test_reply_default_is_what_the_fake_serves() -> None:
    assert Reply().content == "ok"


def test_a_classifier_that_fails_sends_the_call_to_the_default_tier_with_a_routing_failed_event(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    from understudy import TieredRouter

    fake_profile("fast", "gpt-4o-mini")
    fake_profile("strong", "gpt-4o")

    def classify(context: Mapping[str, Any], messages: Any) -> str:
        raise RuntimeError("classifier crashed")

    router = TieredRouter(
        {"simple": ["fast"], "complex": ["strong", "fast"]}, classifier=classify, default_tier="simple"
    )
    events = record(registry)

    response = registry.get_routed(router).completion(messages=HELLO)

    assert served_by(response) == "fast"
    failed = events[0]
    assert isinstance(failed, RoutingFailed)
    assert failed.error_type is None and "classifier crashed" in failed.message
    assert list(registry.route_stats()) == ["tiered:default"]


def test_a_sticky_fallback_that_no_longer_loads_sends_the_session_back_to_its_primary(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider, profiles_dir: Path
) -> None:
    """Regression: the session raised ProfileError on every call once its sticky fallback broke."""
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.script("gpt-4o-mini", ServerError(503))
    assert served_by(agent.completion(messages=HELLO, session="s")) == "backup"
    (profiles_dir / "backup.toml").write_text("model = 5\n")

    assert served_by(agent.completion(messages=HELLO, session="s")) == "fast"


def test_a_session_stuck_on_one_route_s_fallback_is_not_stuck_on_another_route(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """Regression: stickiness outlived a change of route."""
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.script("gpt-4o-mini", ServerError(503))
    assert served_by(agent.completion(messages=HELLO, session="s")) == "backup"
    assert served_by(agent.completion(messages=HELLO, session="s", context={"source_kind": "owner"})) == "strong"


def test_a_failed_ttl_probe_waits_another_ttl_before_probing_again(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """Regression: after the first expiry every call probed the dead primary again."""
    agent = registry.get_routed(router, stickiness=0.5)
    fake_provider.default("gpt-4o-mini", ServerError(503))
    agent.completion(messages=HELLO, session="s")
    time.sleep(0.6)  # the ttl lapses: the next call probes the primary (behaviour, not timing, is asserted)
    agent.completion(messages=HELLO, session="s")
    for _ in range(3):
        agent.completion(messages=HELLO, session="s")
    assert fake_provider.requests("gpt-4o-mini") == 2


def test_an_older_call_finishing_late_does_not_overwrite_a_newer_outcome() -> None:
    from understudy.routing.sessions import SessionBook

    book = SessionBook(10)
    decision = RouteDecision(profile="fast", router="match")
    _, first = book.begin("s")
    _, second = book.begin("s")
    book.record("s", second, decision=decision, route="match:default", served_by="fast", sticky=True, probed=False)
    book.record("s", first, decision=decision, route="match:default", served_by="backup", sticky=True, probed=False)
    state = book.get("s")
    assert state is not None and state.stuck_on is None


def test_a_raising_plugin_is_reported_and_the_router_still_decides(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    class Buggy:
        @hookimpl
        def understudy_route(self, router: Any, context: Mapping[str, Any], messages: Any) -> RouteDecision | None:
            raise KeyError("plugin bug")

    plugin = Buggy()
    registry.plugin_manager.register(plugin)
    events = record(registry)
    try:
        response = registry.get_routed(router).completion(messages=HELLO, context={"platform": "discord"})
    finally:
        registry.plugin_manager.unregister(plugin)
    assert served_by(response) == "careful"
    assert [e.kind for e in events][:2] == ["routing_failed", "route_chosen"]


def test_a_plugin_decision_naming_a_missing_profile_goes_to_the_default(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    class Ghostly:
        @hookimpl
        def understudy_route(self, router: Any, context: Mapping[str, Any], messages: Any) -> RouteDecision:
            return RouteDecision(profile="ghost", router="ghostly")

    plugin = Ghostly()
    registry.plugin_manager.register(plugin)
    events = record(registry)
    try:
        response = registry.get_routed(router).completion(messages=HELLO)
    finally:
        registry.plugin_manager.unregister(plugin)
    assert served_by(response) == "fast"
    failed = events[0]
    assert isinstance(failed, RoutingFailed) and "ghost" in failed.message


async def test_async_tiered_routing_waits_on_the_loop_not_in_the_executor(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    from understudy import TieredRouter

    fake_profile("fast", "gpt-4o-mini")
    fake_profile("strong", "gpt-4o")
    release = threading.Event()

    def slow(context: Mapping[str, Any], messages: Any) -> str:
        release.wait(5)
        return "complex"

    router = TieredRouter(
        {"simple": ["fast"], "complex": ["strong"]}, classifier=slow, default_tier="simple", timeout=0.05
    )
    agent = registry.get_routed(router)
    try:
        responses = await asyncio.gather(*(agent.acompletion(messages=HELLO) for _ in range(8)))
    finally:
        release.set()
    assert [served_by(r) for r in responses] == ["fast"] * 8


@pytest.mark.parametrize("answer", [None, "fast", 42])
def test_a_router_returning_something_else_than_a_decision_goes_to_the_default(
    fake_profile: WriteProfile, registry: LLMRegistry, answer: object
) -> None:
    class Sloppy:
        name, default = "sloppy", "fast"

        def select(self, context: Any, *, messages: Any = None) -> Any:
            return answer

        def profiles(self) -> list[str]:
            return ["fast"]

    fake_profile("fast")
    events = record(registry)
    assert served_by(registry.get_routed(Sloppy()).completion(messages=HELLO)) == "fast"
    assert events[0].kind == "routing_failed"


def test_a_sticky_fallback_whose_key_variable_went_missing_sends_the_session_to_its_primary(
    router: MatchRouter,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    fake_profile: WriteProfile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOCAL_KEY", "k-123456")
    fake_profile("backup", "local-model", api_key=None, api_key_env="LOCAL_KEY")
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.script("gpt-4o-mini", ServerError(503))
    assert served_by(agent.completion(messages=HELLO, session="s")) == "backup"
    monkeypatch.delenv("LOCAL_KEY")
    assert served_by(agent.completion(messages=HELLO, session="s")) == "fast"


def test_plugin_overrides_are_checked_like_a_routes_file_s(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    class Sneaky:
        @hookimpl
        def understudy_route(self, router: Any, context: Mapping[str, Any], messages: Any) -> RouteDecision:
            return RouteDecision(profile="strong", router="sneaky", overrides={"api_key": "sk-stolen-000000"})

    plugin = Sneaky()
    registry.plugin_manager.register(plugin)
    events = record(registry)
    try:
        response = registry.get_routed(router).completion(messages=HELLO)
    finally:
        registry.plugin_manager.unregister(plugin)
    assert served_by(response) == "fast"  # the decision was refused: the router's default serves
    assert events[0].kind == "routing_failed" and "api_key cannot be overridden" in events[0].message  # type: ignore[attr-defined]


def test_route_params_merge_at_every_depth(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("p", "m", params={"extra_headers": {"X-Team": "a", "X-Org": "b"}})
    router = MatchRouter(
        "p", [{"match": {}, "profile": "p", "overrides": {"params": {"extra_headers": {"X-Trace": "1"}}}}]
    )
    registry.get_routed(router).completion(messages=HELLO)
    profile = registry.get_routed(router)._planner._variant(router.select({}))
    assert profile.profile.params["extra_headers"] == {"X-Team": "a", "X-Org": "b", "X-Trace": "1"}


def test_stickiness_belongs_to_the_route_that_picked_the_primary(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("strong", "gpt-4o", fallbacks={"*": ["local"]})
    fake_profile("local", "local-model")
    fake_profile("other", "other-model")
    router = MatchRouter(
        "strong",
        [{"match": {"kind": "b"}, "profile": "strong", "fallbacks": {"*": ["other"]}}],
    )
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.script("gpt-4o", ServerError(503))
    assert served_by(agent.completion(messages=HELLO, session="s")) == "local"
    assert served_by(agent.completion(messages=HELLO, session="s", context={"kind": "b"})) == "strong"


def test_when_the_sticky_fallback_fails_the_primary_comes_back_with_the_route_s_overrides(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("strong", "gpt-4o", fallbacks={"ContextWindowExceededError": [], "*": ["local"]})
    fake_profile("local", "local-model")
    router = MatchRouter("strong", [{"match": {}, "profile": "strong", "overrides": {"max_tokens": 7}}])
    agent = registry.get_routed(router, stickiness="session")
    fake_provider.script("gpt-4o", ServerError(503))
    assert served_by(agent.completion(messages=HELLO, session="s")) == "local"
    fake_provider.script("local-model", HTTPError(400, "This model's maximum context length is 10 tokens"))

    assert served_by(agent.completion(messages=HELLO, session="s")) == "strong"
    assert fake_provider.received("gpt-4o")[-1]["max_tokens"] == 7


def test_an_outcome_for_a_session_evicted_meanwhile_is_dropped() -> None:
    """Regression: re-creating the evicted session froze its numbering, ignoring its next outcomes."""
    from understudy.routing.sessions import SessionBook

    book = SessionBook(1)
    _, number = book.begin("s")
    book.begin("t")  # evicts s
    book.record("s", number, decision=RouteDecision(profile="p"), route="r", served_by="q", sticky=True, probed=False)
    assert book.get("s") is None
    state, again = book.begin("s")
    assert again == 1 and state.stuck_on is None


def test_when_the_ttl_lapses_one_concurrent_call_probes_the_primary(
    router: MatchRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router, stickiness=0.3)
    fake_provider.default("gpt-4o-mini", ServerError(503))
    agent.completion(messages=HELLO, session="s")
    time.sleep(0.35)  # let the ttl lapse (the assertion is on behaviour, not timing)
    threads = [threading.Thread(target=agent.completion, kwargs={"messages": HELLO, "session": "s"}) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake_provider.requests("gpt-4o-mini") == 2  # the first call, and one probe


def test_a_routed_llms_router_and_stickiness_can_be_replaced_after_it_was_built(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("a", "model-a")
    fake_profile("b", "model-b")
    routed = registry.get_routed(MatchRouter("a"))

    routed.router = MatchRouter("b")
    routed.stickiness = Stickiness.of("session")

    assert routed.decide({}).profile == "b"
    assert served_by(routed.completion(messages=HELLO, session="s")) == "b"
    assert routed.stickiness.mode == "session" and len(routed.sessions) == 1


def test_an_empty_fallbacks_table_in_a_route_inherits_and_a_star_list_clears(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("strong", "gpt-4o", fallbacks={"*": ["backup"]})
    fake_profile("backup", "local-model")
    fake_provider.default("gpt-4o", ServerError(503))
    router = MatchRouter(
        "strong",
        [
            {"match": {"plan": "inherit"}, "profile": "strong", "fallbacks": {}},
            {"match": {"plan": "clear"}, "profile": "strong", "fallbacks": {"*": []}},
        ],
    )
    agent = registry.get_routed(router)

    # `{}` is an empty value: it never overwrites, so strong's own fallbacks apply (before: none did)
    assert served_by(agent.completion(messages=HELLO, context={"plan": "inherit"})) == "backup"
    with pytest.raises(litellm.exceptions.ServiceUnavailableError):
        agent.completion(messages=HELLO, context={"plan": "clear"})  # said explicitly: no fallback
    assert fake_provider.requests("local-model") == 1


def test_a_shorthand_in_an_agent_configs_own_shape_routes_with_its_model_and_endpoint(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """platforms = { discord = { model = "...", base_url = "..." } }, as agent configurations write it."""
    fake_profile("fast", "gpt-4o-mini")
    router = MatchRouter.from_dict(
        {
            "default": "fast",
            "platforms": {"discord": {"model": "openai/gpt-4o", "base_url": fake_provider.base_url}},
        }
    )
    decision = router.select({"platform": "discord"})
    assert (decision.profile, decision.route) == ("fast", "platforms.discord")
    assert decision.overrides == {"model": "openai/gpt-4o", "api_base": fake_provider.base_url}

    agent = registry.get_routed(router)
    agent.completion(messages=HELLO, context={"platform": "discord"})
    agent.completion(messages=HELLO, context={"platform": "irc"})
    assert [fake_provider.requests(m) for m in ("gpt-4o", "gpt-4o-mini")] == [1, 1]
