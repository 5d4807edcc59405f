"""A tier's candidates ranked "the cheapest good enough, else the best there is", beside written order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import HELLO

from understudy import RouteConfigError, served_by
from understudy.routing.ranking import ranked
from understudy.routing.tiered import Tier, TieredRouter
from understudy.testing import Reply, ServerError

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import FakeProvider

QUALITY = {"big": 0.95, "mini": 0.85, "local": 0.6}


@pytest.fixture
def candidates(fake_profile: WriteProfile) -> None:
    fake_profile("big", "gpt-4o")  # litellm prices both
    fake_profile("mini", "gpt-4o-mini")
    fake_profile("local", "my-local-model")  # a model no price list knows


def router(registry: LLMRegistry, **tier: Any) -> TieredRouter:
    spec = {"profiles": ["big", "mini", "local"], "selection": "cheapest_fit", "quality": QUALITY, **tier}
    return TieredRouter(
        {"any": spec}, classifier=lambda context, messages: "any", default_tier="any", registry=registry
    )


@pytest.mark.usefixtures("candidates")
def test_the_cheapest_candidate_good_enough_serves_and_the_rest_follow(
    registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    tiered = router(registry, threshold=0.8)

    decision = tiered.select({}, messages=HELLO)

    # big and mini reach 0.8; mini is cheaper. Then big, then local (below the threshold).
    assert (decision.profile, decision.fallbacks) == ("mini", {"*": ["big", "local"]})
    assert decision.candidates == ("mini", "big", "local")
    assert "'mini' is its cheapest candidate of quality 0.8 or more" in decision.reason
    fake_provider.script("gpt-4o-mini", ServerError(503))
    fake_provider.script("gpt-4o", Reply("from big"))
    agent = registry.get_routed(tiered)
    assert served_by(agent.completion(messages=HELLO)) == "big"
    assert [fake_provider.requests(m) for m in ("gpt-4o-mini", "gpt-4o", "my-local-model")] == [1, 1, 0]


@pytest.mark.usefixtures("candidates")
def test_when_none_is_good_enough_the_best_below_the_threshold_serves(registry: LLMRegistry) -> None:
    decision = router(registry, threshold=0.99).select({}, messages=HELLO)

    assert decision.candidates == ("big", "mini", "local")  # by quality, best first
    assert "no candidate reaches quality 0.99: 'big' is the best below it" in decision.reason


@pytest.mark.usefixtures("candidates")
def test_a_price_the_list_lacks_comes_from_the_tier(registry: LLMRegistry) -> None:
    quality = {**QUALITY, "local": 0.9}
    decision = router(registry, threshold=0.8, quality=quality, cost={"local": 0.01}).select({}, messages=HELLO)

    assert decision.candidates == ("local", "mini", "big")  # $0.01 per million tokens: the cheapest fit


def test_a_price_the_list_lacks_comes_from_the_profile_too(fake_profile: WriteProfile, registry: LLMRegistry) -> None:
    fake_profile("big", "gpt-4o")
    fake_profile("mini", "gpt-4o-mini")
    fake_profile("local", "my-local-model", params={"input_cost_per_token": 1e-9, "output_cost_per_token": 1e-9})

    decision = router(registry, threshold=0.8, quality={**QUALITY, "local": 0.9}).select({}, messages=HELLO)

    assert decision.candidates[0] == "local"


def test_an_unknown_price_ranks_after_the_priced_fit_candidates_and_written_order_stays_the_default() -> None:
    tier = Tier(profiles=("a", "b", "c"), selection="cheapest_fit", threshold=0.5, quality={"a": 1, "b": 1, "c": 1})
    prices = {"b": 2e-6, "c": 1e-6}
    assert ranked(tier, prices.get) == ("c", "b", "a")
    assert ranked(Tier(profiles=("a", "b", "c")), prices.get) == ("a", "b", "c")


@pytest.mark.parametrize(
    ("tier", "says"),
    [
        ({"selection": "cheapest_fit", "quality": QUALITY}, "needs a threshold"),
        ({"selection": "cheapest_fit", "threshold": 0.8}, "needs quality scores"),
        ({"quality": {"ghost": 0.9}}, "'ghost', which this tier does not list in profiles"),
        ({"cost": {"big": -1}}, "greater than or equal to 0"),
    ],
)
def test_a_ranking_that_cannot_work_is_refused_naming_the_tier(tier: dict[str, Any], says: str) -> None:
    spec = {"profiles": ["big", "mini", "local"], **tier}
    with pytest.raises(RouteConfigError) as refused:
        TieredRouter({"any": spec}, classifier=lambda context, messages: "any", default_tier="any")
    assert "tiers.any" in str(refused.value) and says in str(refused.value)
