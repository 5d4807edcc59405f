"""Ranking a tier's candidates: as written, or the cheapest that is good enough (``selection = "cheapest_fit"``).

``cheapest_fit`` puts first the cheapest candidate whose quality score reaches the tier's threshold, then the
other fit candidates by price, then those below the threshold by quality, best first: "the cheapest good
enough, else the best there is". A candidate whose price is unknown comes after the priced ones that are fit,
in written order; one without a quality score is never fit. The ranked list is the call's plan: the first
serves, the rest are its fallback chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from understudy.calls import backend

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from understudy.calls.protocols import Registry
    from understudy.profiles.profile import Profile
    from understudy.routing.tiers_config import Tier

__all__ = ["Rankings", "price_of", "ranked", "unit_cost"]


def unit_cost(profile: Profile) -> float | None:
    """What ``profile``'s model costs in USD per token, input and output together: the profile's own price
    (litellm's ``input_cost_per_token`` and ``output_cost_per_token`` in its ``params``), else litellm's price
    list; None when neither knows it."""
    params = profile.params
    own = params.get("input_cost_per_token"), params.get("output_cost_per_token")
    if all(isinstance(value, int | float) and not isinstance(value, bool) for value in own):
        return float(own[0]) + float(own[1])  # type: ignore[arg-type]
    try:
        info = backend.litellm().get_model_info(profile.model)
        return float(info["input_cost_per_token"]) + float(info["output_cost_per_token"])
    except Exception:
        return None


def ranked(tier: Tier, price: Callable[[str], float | None]) -> tuple[str, ...]:
    """``tier``'s candidates in the order its ``selection`` says; ``price(profile)`` is USD per token (input and
    output together) where known, used for a candidate the tier gives no ``cost``."""
    if tier.selection == "order":
        return tier.profiles
    threshold = tier.threshold if tier.threshold is not None else float("inf")
    fit = [name for name in tier.profiles if tier.quality.get(name, float("-inf")) >= threshold]
    below = [name for name in tier.profiles if name not in fit]

    def cost(name: str) -> tuple[bool, float]:
        per_million = tier.cost.get(name)
        known = per_million / 1e6 if per_million is not None else price(name)
        return (known is None, known or 0.0)  # unknown last; sorted() keeps written order among equals

    return (
        *sorted(fit, key=cost),
        *sorted(below, key=lambda name: -tier.quality.get(name, float("-inf"))),
    )


def price_of(registry: Registry, name: str) -> float | None:
    """``unit_cost`` of the registry's profile ``name``; None also when it does not load."""
    try:
        return unit_cost(registry.get(name).profile)
    except Exception:  # a profile that does not load: its price is unknown
        return None


class Rankings:
    """Each tier's candidates ranked once (prices do not move), priced from ``registry``'s profiles."""

    def __init__(self, tiers: Mapping[str, Tier], registry: Registry | None) -> None:
        self._tiers = tiers
        self._registry = registry
        self._ranked: dict[str, tuple[str, ...]] = {}

    def of(self, tier: str) -> tuple[str, ...]:
        """``tier``'s candidates in the order its ``selection`` says."""
        found = self._ranked.get(tier)
        if found is None:
            found = self._ranked[tier] = ranked(self._tiers[tier], self._price)
        return found

    def why(self, tier: str) -> str:
        """What a decision's reason adds for ``tier``'s ranking: nothing for written order."""
        rules = self._tiers[tier]
        if rules.selection == "order":
            return ""
        first = self.of(tier)[0]
        if rules.quality.get(first, float("-inf")) >= (rules.threshold or 0):
            return f"; {first!r} is its cheapest candidate of quality {rules.threshold:g} or more"
        return f"; no candidate reaches quality {rules.threshold:g}: {first!r} is the best below it"

    def _price(self, name: str) -> float | None:
        return price_of(self._registry, name) if self._registry is not None else None
