"""TieredRouter: a classifier (a function, or a profile asked through real HTTP) picks a tier; the tier's
candidates are the call's primary and fallback chain; a slow, failing or unclear classifier sends the call to
the default tier."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest
from conftest import fresh_interpreter, fresh_result

from understudy import FallbackStrategy, ProfileStore, RouteConfigError, RouteDecision, Router, served_by
from understudy.routing import classifier_pool
from understudy.routing.tiered import Tier, TieredRouter
from understudy.testing import Reply, ServerError, Slow
from understudy.usage import ClassifierUsage

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path

    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import FakeProvider

HELLO = [{"role": "user", "content": "hello"}]
# For tests that expect the classifier's answer: the wait ends when it answers, so a long timeout costs nothing,
# and the first litellm call of a loaded machine can take seconds.
PATIENT = 30.0
TIERS: dict[str, Any] = {
    "simple": {"profiles": ["mini"], "description": "greetings and short factual questions"},
    "complex": {"profiles": ["big", "big-backup"], "description": "multi-step reasoning, code, long documents"},
}


@pytest.fixture
def profiles(fake_profile: WriteProfile) -> None:
    fake_profile("mini")
    fake_profile("big", fallbacks={"*": ["elsewhere"]})  # a table the tier replaces
    fake_profile("big-backup")
    fake_profile("elsewhere")
    fake_profile("router-mini")


@pytest.fixture
def router(profiles: None, registry: LLMRegistry) -> TieredRouter:
    return TieredRouter(TIERS, classifier="router-mini", default_tier="simple", registry=registry, timeout=PATIENT)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event a blocking classifier waits on; always released at the end, so no worker stays stuck."""
    event = threading.Event()
    yield event
    event.set()


def by_context(context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None) -> str:
    return str(context["tier"])


# -- a profile classifier, through real HTTP ------------------------------------------------------------------


def test_a_profile_classifier_picks_the_tier_and_its_candidates_become_primary_and_chain(
    router: TieredRouter, fake_provider: FakeProvider
) -> None:
    fake_provider.script("router-mini", Reply("complex"))

    decision = router.select({}, messages=HELLO)

    assert decision == RouteDecision(
        profile="big",
        route="tier:complex",
        router="tiered",
        fallbacks={"*": ["big-backup"]},
        reason="classifier profile 'router-mini' labelled the request 'complex'",
        candidates=("big", "big-backup"),
        classifier=ClassifierUsage(profile="router-mini", prompt_tokens=10, completion_tokens=5, cost=None),
    )


def test_the_classifier_is_told_the_tiers_their_descriptions_and_the_last_user_message(
    router: TieredRouter, fake_provider: FakeProvider
) -> None:
    fake_provider.script("router-mini", Reply("simple"))
    messages = [
        {"role": "system", "content": "You are a helpful agent."},
        {"role": "user", "content": "an earlier question"},
        {"role": "assistant", "content": "an earlier answer"},
        {"role": "user", "content": [{"type": "text", "text": "prove that"}, {"type": "text", "text": "P != NP"}]},
    ]

    router.select({}, messages=messages)

    system, user = fake_provider.received("router-mini")[0]["messages"]
    assert system["role"] == "system"
    assert "- simple: greetings and short factual questions" in system["content"]
    assert "- complex: multi-step reasoning, code, long documents" in system["content"]
    assert "If unsure, answer simple." in system["content"]
    assert user == {"role": "user", "content": "prove that\nP != NP"}


def test_a_very_long_user_message_is_cut_in_the_middle_for_the_classifier(
    router: TieredRouter, fake_provider: FakeProvider
) -> None:
    long = "BEGIN " + "x" * 50_000 + " END"

    router.select({}, messages=[{"role": "user", "content": long}])

    sent = fake_provider.received("router-mini")[0]["messages"][1]["content"]
    assert sent.startswith("BEGIN ") and sent.endswith(" END") and "\n[...]\n" in sent
    assert len(sent) < 5_000


def test_the_classifier_call_is_tracked_in_the_registry_like_any_other(
    router: TieredRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("router-mini", Reply("complex", prompt_tokens=42, completion_tokens=1))

    router.select({}, messages=HELLO)

    stats = registry.stats()["router-mini"]
    assert (stats.calls, stats.successes, stats.prompt_tokens, stats.completion_tokens) == (1, 1, 42, 1)


@pytest.mark.parametrize(
    ("answer", "tier"),
    [
        ("Complex.", "complex"),
        ("**COMPLEX**", "complex"),
        ("Tier: complex - it needs several steps", "complex"),
        ("complex, not simple", "complex"),
        ("simple (not complex)", "simple"),
        ("  simple\n", "simple"),
    ],
)
def test_the_label_is_read_leniently_the_first_tier_name_in_the_answer_wins(
    router: TieredRouter, fake_provider: FakeProvider, answer: str, tier: str
) -> None:
    fake_provider.script("router-mini", Reply(answer))

    decision = router.select({}, messages=HELLO)

    assert decision.route == f"tier:{tier}"
    if answer.strip() != tier:
        assert f"(it answered {answer.strip()!r})" in decision.reason


@pytest.mark.parametrize("answer", ["medium", "complexity", "semi-simple", ""])
def test_an_answer_that_names_no_tier_goes_to_the_default_tier(
    router: TieredRouter, fake_provider: FakeProvider, answer: str
) -> None:
    fake_provider.script("router-mini", Reply(answer))

    decision = router.select({}, messages=HELLO)

    assert (decision.profile, decision.route, decision.fallbacks) == ("mini", None, {"*": []})
    assert decision.reason.startswith("default tier 'simple': the classifier answered ")
    assert "which names no tier (simple, complex)" in decision.reason


def test_a_classifier_profile_that_fails_sends_the_call_to_the_default_tier(
    router: TieredRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("router-mini", ServerError(500))

    decision = router.select({}, messages=HELLO)

    assert (decision.profile, decision.route) == ("mini", None)
    assert decision.reason.startswith("default tier 'simple': the classifier raised InternalServerError: ")
    assert registry.stats()["router-mini"].failures == 1


def test_a_classifier_profile_that_does_not_exist_sends_the_call_to_the_default_tier(
    profiles: None, registry: LLMRegistry
) -> None:
    router = TieredRouter(
        TIERS, classifier="no-such-profile", default_tier="simple", registry=registry, timeout=PATIENT
    )

    decision = router.select({}, messages=HELLO)

    assert decision.profile == "mini"
    assert "raised ProfileNotFoundError: " in decision.reason


def test_a_classifier_profile_falls_back_along_its_own_fallbacks(
    fake_profile: WriteProfile, profiles: None, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("labeller", fallbacks={"*": ["labeller-backup"]})
    fake_profile("labeller-backup")
    fake_provider.script("labeller", ServerError(503))
    fake_provider.script("labeller-backup", Reply("complex"))
    router = TieredRouter(TIERS, classifier="labeller", default_tier="simple", registry=registry, timeout=PATIENT)

    assert router.select({}, messages=HELLO).route == "tier:complex"
    assert registry.stats()["labeller-backup"].served_as_fallback == 1


def test_a_slow_classifier_profile_goes_to_the_default_tier_without_waiting_for_it(
    profiles: None, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    # Slow is cut short when the provider stops at the end of the test, which frees the worker.
    fake_provider.script("router-mini", Slow(30, Reply("complex")))
    router = TieredRouter(TIERS, classifier="router-mini", default_tier="simple", timeout=0.2, registry=registry)

    decision = router.select({}, messages=HELLO)

    assert (decision.profile, decision.route, decision.fallbacks) == ("mini", None, {"*": []})
    assert decision.reason == "default tier 'simple': the classifier took longer than 0.2s (a later answer is dropped)"


def test_no_user_message_goes_to_the_default_tier_without_asking_the_classifier(
    router: TieredRouter, fake_provider: FakeProvider
) -> None:
    for messages in (None, [], [{"role": "system", "content": "be brief"}], [{"role": "user", "content": "  "}]):
        decision = router.select({}, messages=messages)
        assert decision.profile == "mini"
        assert decision.reason == "default tier 'simple': the classifier had no user message to label"
    assert fake_provider.requests("router-mini") == 0


# -- a function classifier --------------------------------------------------------------------------------------


def test_a_function_classifier_gets_the_context_and_messages_and_names_the_tier(profiles: None) -> None:
    seen: list[tuple[Any, Any]] = []

    def classify(context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None) -> str:
        seen.append((context, messages))
        return "complex" if context.get("user") == "owner" else "simple"

    router = TieredRouter(TIERS, classifier=classify, default_tier="simple", timeout=PATIENT)

    owner = router.select({"user": "owner"}, messages=HELLO)
    stranger = router.select({"user": "stranger"})

    assert (owner.profile, owner.route, owner.fallbacks) == ("big", "tier:complex", {"*": ["big-backup"]})
    assert owner.reason == "classifier classify chose tier 'complex'"
    assert (stranger.profile, stranger.route) == ("mini", "tier:simple")
    assert seen == [({"user": "owner"}, HELLO), ({"user": "stranger"}, None)]


def test_an_async_function_classifier_is_awaited(profiles: None) -> None:
    async def classify(context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None) -> str:
        return "complex"

    router = TieredRouter(TIERS, classifier=classify, default_tier="simple", timeout=PATIENT)

    assert router.select({}).route == "tier:complex"


def test_a_function_must_return_a_tier_name_exactly(profiles: None) -> None:
    router = TieredRouter(
        TIERS, classifier=lambda context, messages: context["answer"], default_tier="simple", timeout=PATIENT
    )

    for answer in ("Complex", "complex.", 3, None):
        decision = router.select({"answer": answer})
        assert (decision.profile, decision.route) == ("mini", None)
        assert decision.reason == (
            f"default tier 'simple': the classifier returned {answer!r}, which is not a tier (simple, complex)"
        )


def test_a_function_that_raises_goes_to_the_default_tier_with_the_error_in_the_reason(profiles: None) -> None:
    router = TieredRouter(TIERS, classifier=by_context, default_tier="complex", timeout=PATIENT)

    decision = router.select({})

    assert (decision.profile, decision.route, decision.fallbacks) == ("big", None, {"*": ["big-backup"]})
    assert decision.reason == "default tier 'complex': the classifier raised KeyError: 'tier'"


def test_a_function_that_blocks_goes_to_the_default_tier_and_its_late_answer_is_dropped(
    profiles: None, gate: threading.Event
) -> None:
    answered = threading.Event()

    def classify(context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None) -> str:
        if context.get("block"):
            gate.wait()
            answered.set()
        return "complex"

    router = TieredRouter(TIERS, classifier=classify, default_tier="simple", timeout=0.2)

    decision = router.select({"block": True})
    assert (decision.profile, decision.route) == ("mini", None)
    assert decision.reason == "default tier 'simple': the classifier took longer than 0.2s (a later answer is dropped)"

    gate.set()
    assert answered.wait(5)
    assert router.select({}).route == "tier:complex"  # the worker is free again; the late answer went nowhere


def test_when_every_classifier_thread_is_busy_the_decision_goes_to_the_default_tier_and_says_so(
    profiles: None, gate: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classifier_pool, "shared", classifier_pool.ClassifierPool(1))
    calls: list[Mapping[str, Any]] = []
    started = threading.Event()

    def classify(context: Mapping[str, Any], messages: Sequence[Mapping[str, Any]] | None) -> str:
        calls.append(context)
        started.set()
        gate.wait()
        return "complex"

    patient = TieredRouter(TIERS, classifier=classify, default_tier="simple", timeout=PATIENT)
    hasty = TieredRouter(TIERS, classifier=classify, default_tier="simple", timeout=0.05)
    holder = threading.Thread(target=patient.select, args=({"who": "holder"},))
    holder.start()
    assert started.wait(5)  # the only classifier thread is busy now

    decision = hasty.select({"who": "hasty"})
    gate.set()
    holder.join()

    assert (decision.profile, decision.route) == ("mini", None)
    assert decision.reason == (
        "default tier 'simple': the classifier could not start within 0.05s: "
        "all 1 classifier threads are busy with slow classifiers"
    )
    assert patient.select({"who": "later"}).route == "tier:complex"
    assert [c["who"] for c in calls] == ["holder", "later"]  # the abandoned decision never ran


NEVER_RETURNS = """
import asyncio, threading
from understudy.routing.tiered import TieredRouter
never = threading.Event()
router = TieredRouter(
    {"simple": ["mini"], "complex": ["big"]},
    classifier=lambda context, messages: never.wait(),
    default_tier="simple",
    timeout=0.05,
)
print(router.select({}).reason)
print(asyncio.run(router.aselect({})).reason)
"""


def test_a_process_whose_classifier_never_returns_still_exits() -> None:
    """Guards against joining the classifier threads at exit, as a ThreadPoolExecutor does with its own: a
    classifier that never returns would then keep the agent's process from ever exiting."""
    out = subprocess.run([sys.executable, "-c", NEVER_RETURNS], capture_output=True, text=True, timeout=60)

    assert out.returncode == 0, out.stderr
    assert out.stdout.count("the classifier took longer than 0.05s") == 2


def test_the_classifier_sees_the_caller_s_context_variables(profiles: None) -> None:
    import contextvars

    tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")
    router = TieredRouter(
        TIERS, classifier=lambda context, messages: tenant.get(), default_tier="simple", timeout=PATIENT
    )

    tenant.set("complex")
    assert router.select({}).route == "tier:complex"


# -- validation at construction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tiers": {}}, "tiers: no tier defined"),
        ({"tiers": {**TIERS, "empty": []}}, "tiers.empty.profiles: lists no profile"),
        ({"tiers": {**TIERS, "empty": {"profiles": []}}}, "tiers.empty.profiles: lists no profile"),
        ({"tiers": {**TIERS, "odd": "mini"}}, "tiers.odd: must be a list of profile names"),
        ({"tiers": {**TIERS, "odd": ["not a name"]}}, "tiers.odd.profiles: 'not a name' is not a profile name"),
        ({"tiers": {**TIERS, "odd": ["a", "b", "a"]}}, "tiers.odd.profiles: names 'a' more than once"),
        ({"tiers": {**TIERS, "Simple": ["a"]}}, "tiers.Simple: differs from tier 'simple' only in case"),
        ({"tiers": {**TIERS, "two words": ["a"]}}, "tiers.two words: 'two words' is not a valid tier name"),
        ({"tiers": {"s": {"profiles": ["a"], "descripton": "x"}}, "default_tier": "s"}, "tiers.s.descripton"),
        ({"default_tier": "complx"}, "default_tier: 'complx' is not a tier; did you mean 'complex'?"),
        ({"timeout": 0}, "timeout: 0 is not a number of seconds > 0"),
        ({"timeout": -1.0}, "timeout: -1.0 is not a number of seconds > 0"),
        ({"timeout": float("inf")}, "timeout: inf is not a number of seconds > 0"),
        ({"timeout": float("nan")}, "timeout: nan is not a number of seconds > 0"),
        ({"registry": None}, "classifier: profile 'router-mini' can only be asked through a registry"),
        ({"classifier": "bad name"}, "classifier: 'bad name' is not a profile name"),
        ({"classifier": 42}, "classifier: 42 is neither a function nor a profile name"),
        ({"name": ""}, "name: must be a non-empty string"),
    ],
)
def test_an_inconsistent_configuration_fails_at_construction_naming_the_key_and_the_fix(
    registry: LLMRegistry, changes: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "tiers": TIERS,
        "classifier": "router-mini",
        "default_tier": "simple",
        "registry": registry,
        **changes,
    }

    with pytest.raises(RouteConfigError) as caught:
        TieredRouter(**arguments)

    assert message in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RouteConfigError) as caught:
        TieredRouter({"simple": []}, classifier="router-mini", default_tier="simple", timeout=0)

    text = str(caught.value)
    assert "tiers.simple.profiles: lists no profile" in text
    assert "timeout: 0 is not a number" in text
    assert "classifier: profile 'router-mini' can only be asked through a registry" in text


def test_it_implements_the_router_protocol_with_the_default_tier_s_first_candidate_as_default(
    router: TieredRouter,
) -> None:
    assert isinstance(router, Router)
    assert (router.name, router.default) == ("tiered", "mini")
    assert router.tiers["complex"] == Tier(profiles=("big", "big-backup"), description=TIERS["complex"]["description"])


# -- from_dict and from_file -----------------------------------------------------------------------------------


def test_from_dict_takes_the_list_shorthand_and_the_table_form(profiles: None, registry: LLMRegistry) -> None:
    router = TieredRouter.from_dict(
        {
            "tiers": {"simple": ["mini"], "complex": {"profiles": ["big", "big-backup"], "description": "hard"}},
            "default_tier": "simple",
            "classifier": "router-mini",
            "timeout": 1.5,
            "name": "by-difficulty",
        },
        registry=registry,
    )

    assert router.tiers == {
        "simple": Tier(profiles=("mini",)),
        "complex": Tier(profiles=("big", "big-backup"), description="hard"),
    }
    assert (router.default_tier, router.classifier, router.timeout, router.name) == (
        "simple",
        "router-mini",
        1.5,
        "by-difficulty",
    )


def test_from_dict_takes_a_function_classifier_that_a_file_cannot_hold(profiles: None) -> None:
    router = TieredRouter.from_dict(
        {"tiers": TIERS, "default_tier": "simple", "timeout": PATIENT}, classifier=by_context
    )

    assert router.select({"tier": "complex"}).profile == "big"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"tiers": TIERS, "defualt_tier": "simple", "classifier": "router-mini"},
            "defualt_tier: unknown key; did you mean 'default_tier'?",
        ),
        ({"tiers": TIERS, "classifier": "router-mini"}, "default_tier: missing"),
        ({"tiers": TIERS, "default_tier": "simple"}, "classifier: missing; name the profile that labels requests"),
        (
            {"tiers": {"simple": "mini"}, "default_tier": "simple", "classifier": "x"},
            "tiers.simple: must be a list of profile names",
        ),
        ({"tiers": {"simple": ["mini", 3]}, "default_tier": "simple", "classifier": "x"}, "tiers.simple.profiles[1]"),
        (
            {"tiers": TIERS, "default_tier": "simple", "classifier": "router-mini", "timeout": -2},
            "timeout: Input should be greater than 0",
        ),
    ],
)
def test_from_dict_names_the_bad_key(registry: LLMRegistry, data: dict[str, Any], message: str) -> None:
    with pytest.raises(RouteConfigError) as caught:
        TieredRouter.from_dict(data, registry=registry)

    assert message in str(caught.value)


def test_from_dict_refuses_a_classifier_given_twice(registry: LLMRegistry) -> None:
    data = {"tiers": TIERS, "default_tier": "simple", "classifier": "router-mini"}

    with pytest.raises(RouteConfigError, match="classifier: is set both"):
        TieredRouter.from_dict(data, registry=registry, classifier=by_context)


TOML = """
default_tier = "simple"
classifier = "router-mini"
timeout = 1.5

[tiers.simple]
profiles = ["mini"]
description = "greetings and short factual questions"

[tiers.complex]
profiles = ["big", "big-backup"]
"""


def test_from_file_reads_toml_and_json_alike(tmp_path: Path, profiles: None, registry: LLMRegistry) -> None:
    toml_file = tmp_path / "tiers.toml"
    toml_file.write_text(TOML, encoding="utf-8")
    json_file = tmp_path / "tiers.json"
    json_file.write_text(
        json.dumps(
            {
                "default_tier": "simple",
                "classifier": "router-mini",
                "timeout": 1.5,
                "tiers": {
                    "simple": {"profiles": ["mini"], "description": "greetings and short factual questions"},
                    "complex": ["big", "big-backup"],
                },
            }
        ),
        encoding="utf-8",
    )

    from_toml = TieredRouter.from_file(toml_file, registry=registry)
    from_json = TieredRouter.from_file(json_file, registry=registry)

    assert from_toml.tiers == from_json.tiers
    assert from_toml.tiers["simple"].description == "greetings and short factual questions"
    assert (from_toml.default, from_toml.timeout, from_toml.path) == ("mini", 1.5, toml_file)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("tiers.toml", TOML.replace('["big", "big-backup"]', "[]"), "tiers.complex.profiles: lists no profile"),
        (
            "tiers.toml",
            TOML.replace('default_tier = "simple"', 'default_tier = "easy"'),
            "default_tier: 'easy' is not a tier",
        ),
        ("tiers.toml", TOML + "\nretries = 3\n", "retries: unknown key"),
        ("tiers.toml", "default_tier = ", "invalid TOML"),
        ("tiers.json", "{", "invalid JSON"),
        ("tiers.json", "[1, 2]", "must be one table of keys"),
        ("tiers.ini", "default_tier = simple", "cannot tell the format from the suffix"),
        ("tiers.yaml", "default_tier: [simple", "invalid YAML"),
    ],
)
def test_from_file_errors_name_the_file_and_the_key(
    tmp_path: Path, registry: LLMRegistry, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    with pytest.raises(RouteConfigError) as caught:
        TieredRouter.from_file(path, registry=registry)

    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert caught.value.path == path


def test_from_file_says_when_the_file_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(RouteConfigError, match="cannot read the file"):
        TieredRouter.from_file(tmp_path / "missing.toml")


# -- profiles() and check() ---------------------------------------------------------------------------------------


def test_profiles_lists_every_candidate_once_and_the_classifier(registry: LLMRegistry) -> None:
    router = TieredRouter(
        {"simple": ["mini", "big"], "complex": ["big", "big-backup"]},
        classifier="router-mini",
        default_tier="simple",
        registry=registry,
    )

    assert router.profiles() == ["mini", "big", "big-backup", "router-mini"]
    assert TieredRouter(TIERS, classifier=by_context, default_tier="simple").profiles() == ["mini", "big", "big-backup"]


def test_check_finds_every_profile_the_router_can_reach_that_does_not_exist_or_does_not_load(
    write_profile: WriteProfile, fake_profile: WriteProfile, registry: LLMRegistry, profiles_dir: Path
) -> None:
    fake_profile("mini")
    fake_profile("big")
    write_profile("broken", "model = ")
    router = TieredRouter(
        {"simple": ["mini", "broken"], "complex": ["big", "bigg"]},
        classifier="labeller",
        default_tier="simple",
        registry=registry,
    )

    problems = router.check(ProfileStore([profiles_dir]))

    assert len(problems) == 3
    assert problems[0].startswith("profile 'broken' (in tiers.simple.profiles) does not load: ")
    assert "invalid TOML" in problems[0]
    assert problems[1].startswith("profile 'bigg' (in tiers.complex.profiles) does not exist; did you mean 'big'?")
    assert problems[2].startswith(
        f"profile 'labeller' (in classifier) does not exist; create labeller.toml in {profiles_dir}"
    )
    assert router.check() == problems  # the registry's store by default


def test_check_is_empty_when_every_profile_loads(router: TieredRouter) -> None:
    assert router.check() == []


# -- end to end: the decision drives the call ---------------------------------------------------------------------


def test_when_the_first_candidate_fails_the_next_candidate_serves_not_the_profile_s_own_fallback(
    router: TieredRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("router-mini", Reply("complex"))
    fake_provider.script("big", ServerError(503))
    decision = router.select({}, messages=HELLO)

    llm = registry.get(decision.profile)
    llm.fallback_strategy = FallbackStrategy(decision.fallbacks, plugin_manager=registry.plugin_manager)
    response = llm.completion(messages=HELLO)

    assert served_by(response) == "big-backup"
    assert fake_provider.requests("elsewhere") == 0


def test_a_routed_llm_routes_through_the_classifier_then_falls_back_along_the_tier(
    router: TieredRouter, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    agent = registry.get_routed(router)
    fake_provider.script("router-mini", Reply("complex"), Reply("hi there, simple"))
    fake_provider.script("big", ServerError(503))

    assert served_by(agent.completion(messages=HELLO)) == "big-backup"
    assert served_by(agent.completion(messages=HELLO)) == "mini"
    stats = registry.route_stats()
    assert stats["tiered:tier:complex"].served_by == {"big-backup": 1}
    assert stats["tiered:tier:simple"].served_by == {"mini": 1}
    assert fake_provider.requests("elsewhere") == 0


async def test_an_async_routed_call_goes_to_the_default_tier_when_the_classifier_is_slow(
    profiles: None, registry: LLMRegistry, gate: threading.Event
) -> None:
    router = TieredRouter(
        TIERS, classifier=lambda context, messages: gate.wait() and "complex", default_tier="simple", timeout=0.05
    )
    agent = registry.get_routed(router)

    response = await agent.acompletion(messages=HELLO)

    assert served_by(response) == "mini"
    assert registry.route_stats()["tiered:default"].served_by == {"mini": 1}


def test_importing_the_tiered_router_does_not_import_litellm() -> None:
    code = "import sys, understudy.routing.tiered; sys.exit('litellm' in sys.modules or 'openai' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


FIRST_ROUTED_CALL = """
import json, pathlib, sys
from understudy import LLMRegistry, ProfileStore, TieredRouter
from understudy.testing import FakeProvider, Reply
assert "litellm" not in sys.modules
directory = pathlib.Path(sys.argv[1])
with FakeProvider() as fake:
    for name in ("mini", "big", "big-backup", "router-mini"):
        text = f'model = "openai/{name}"\\napi_base = "{fake.base_url}"\\napi_key = "sk-test-key-0000"\\n'
        (directory / f"{name}.toml").write_text(text)
    fake.script("router-mini", Reply("complex"))
    registry = LLMRegistry(ProfileStore([directory]))
    tiers = json.loads(sys.argv[2])
    router = TieredRouter(tiers, classifier="router-mini", default_tier="simple", registry=registry, timeout=3.0)
    print(json.dumps(router.select({}, messages=[{"role": "user", "content": "hello"}]).route))
"""


@fresh_interpreter("test_tiered_router.py::first_routed_call")
def _first_routed_call(directory: Path) -> tuple[list[str], dict[str, str], Path | None]:
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "UNDERSTUDY_DISABLE_PLUGINS": "*", "PATH": ""}
    return [sys.executable, "-c", FIRST_ROUTED_CALL, str(directory), json.dumps(TIERS)], env, None


def test_the_first_routed_call_of_a_process_is_not_sent_to_the_default_tier_by_litellms_import() -> None:
    """litellm's first import (4-7 s) counted against the classifier's timeout, so the first routed call of every
    process went to the default tier. The timeout is 3 s: shorter than the import, and long enough for the first
    call's own warm-up (0.5-0.7 s idle) while the rest of the suite loads both cores."""
    out = fresh_result("test_tiered_router.py::first_routed_call")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == "tier:complex"
