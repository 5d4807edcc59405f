"""Tiered routing and sticky sessions: a session's incumbent follows the tier, and only real decisions move it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import HELLO

from understudy import Stickiness, served_by
from understudy.events import RouteChosen, RoutingFailed
from understudy.routing.tiered import TieredRouter
from understudy.testing import Reply

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.routing.routed import RoutedLLM
    from understudy.testing import FakeProvider

PATIENT = 30.0  # the wait ends when the classifier answers: a long timeout costs nothing


@pytest.fixture
def priced(fake_profile: WriteProfile) -> None:
    """A cheap and a dear model litellm can price, and a classifier profile; all on the fake provider."""
    fake_profile("mini", "gpt-4o-mini")
    fake_profile("big", "gpt-4o")
    fake_profile("router-mini", "router-mini")


def sticky(registry: LLMRegistry, tiers: dict[str, Any], stickiness: Stickiness | None = None) -> RoutedLLM:
    """A tiered router over ``tiers``, classified by router-mini; sessions kept by a switch cost unless said."""
    router = TieredRouter(tiers, classifier="router-mini", default_tier="simple", registry=registry, timeout=PATIENT)
    return registry.get_routed(router, stickiness=stickiness or Stickiness(switch_cost=1.5))


def turns(agent: RoutedLLM, count: int) -> list[str | None]:
    return [served_by(agent.completion(messages=HELLO, session="s")) for _ in range(count)]


@pytest.mark.usefixtures("priced")
def test_a_session_escalates_when_the_classifier_says_the_request_is_harder(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """The incumbent is cheaper than any pick of a dearer tier: the cost rule alone kept it there for good."""
    fake_provider.script("router-mini", Reply("simple"), Reply("complex"), Reply("complex"), Reply("simple"))
    agent = sticky(registry, {"simple": ["mini"], "complex": ["big"]})

    assert turns(agent, 4) == ["mini", "big", "big", "mini"]
    assert [fake_provider.requests(m) for m in ("gpt-4o-mini", "gpt-4o")] == [2, 2]


@pytest.mark.usefixtures("priced")
def test_a_session_keeps_its_incumbent_while_it_is_a_candidate_of_the_tier_just_chosen(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("router-mini", Reply("simple"), Reply("complex"))
    agent = sticky(registry, {"simple": ["mini"], "complex": ["big", "mini"]})
    events: list[Any] = []
    registry.subscribe(events.append)

    assert turns(agent, 2) == ["mini", "mini"]  # mini is fit for "complex" too, and big is not cheaper
    chosen = [e for e in events if isinstance(e, RouteChosen)]
    assert [c.kept for c in chosen] == [False, True]


@pytest.mark.usefixtures("priced")
def test_a_classifier_that_fails_never_re_anchors_the_session(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    """An unclear answer sends a call to the default tier; before, the session then stayed on it for good."""
    fake_provider.script("router-mini", Reply("complex"), Reply("no idea"), Reply("complex"), Reply("complex"))
    agent = sticky(registry, {"simple": ["mini"], "complex": ["big", "mini"]})
    events: list[Any] = []
    registry.subscribe(events.append)

    assert turns(agent, 4) == ["big", "big", "big", "big"]
    assert len([e for e in events if isinstance(e, RoutingFailed)]) == 1  # the failure is still reported
    state = agent.sessions.get("s")
    assert state is not None and state.picked == "big"


@pytest.mark.usefixtures("priced")
def test_a_failed_classification_does_not_anchor_a_new_session_either(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("router-mini", Reply("no idea"), Reply("complex"))
    agent = sticky(registry, {"simple": ["mini"], "complex": ["big", "mini"]})

    assert turns(agent, 2) == ["mini", "big"]  # the guess served the first call, and held nothing after it


# -- one classification per conversation -----------------------------------------------------------------------


@pytest.mark.usefixtures("priced")
def test_with_a_decision_ttl_a_session_is_classified_once_not_every_turn(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_provider.script("router-mini", Reply("complex"), Reply("simple"))
    agent = sticky(registry, {"simple": ["mini"], "complex": ["big"]}, Stickiness(decision_ttl=600))
    events: list[Any] = []
    registry.subscribe(events.append)

    assert turns(agent, 3) == ["big", "big", "big"]
    assert served_by(agent.completion(messages=HELLO, session="other")) == "mini"  # its own classification

    assert fake_provider.requests("router-mini") == 2  # one per session, not one per call
    reasons = [e.reason for e in events if isinstance(e, RouteChosen)]
    assert "this session's decision of" in reasons[1] and "this session's decision of" not in reasons[0]


@pytest.mark.usefixtures("priced")
def test_a_failed_classification_is_never_reused(registry: LLMRegistry, fake_provider: FakeProvider) -> None:
    fake_provider.script("router-mini", Reply("no idea"), Reply("complex"))
    agent = sticky(registry, {"simple": ["mini"], "complex": ["big"]}, Stickiness(decision_ttl=600))

    assert turns(agent, 3) == ["mini", "big", "big"]  # the guess served one call; the real answer is kept
    assert fake_provider.requests("router-mini") == 2


def test_the_decision_memory_forgets_after_its_ttl_and_past_its_cap() -> None:
    from understudy.routing.decision_memory import DecisionMemory
    from understudy.routing.routes import RouteDecision

    memory = DecisionMemory(ttl=600, max_sessions=2)
    for session in ("a", "b", "c"):
        memory.put(session, RouteDecision(profile="big", route="tier:complex"))
    assert len(memory) == 2 and memory.get("a") is None and memory.get("c") is not None

    now = [0.0]
    timed = DecisionMemory(ttl=600, max_sessions=2, clock=lambda: now[0])
    timed.put("a", RouteDecision(profile="big"))
    now[0] = 599.0
    assert timed.get("a") is not None
    now[0] = 600.0
    assert timed.get("a") is None and len(timed) == 0
