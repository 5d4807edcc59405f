"""What deciding a routed call spent: a tiered router's classifier call, shared by decisions and events.

Kept apart from ``understudy.events`` so that reading routers (``understudy check``) does not import the
event models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ClassifierUsage"]


class ClassifierUsage(BaseModel):
    """What a tiered router's classifier profile spent deciding one routed call.

    Attributes:
        profile: the profile that answered (the classifier, or one of its fallbacks).
        prompt_tokens: the classification's prompt tokens, as the provider reported them.
        completion_tokens: its completion tokens.
        cost: its USD from litellm's cost map; None when litellm does not know the price.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
