"""The demo's script: four profiles on the fake provider, seven scenarios of what each model does, and the
routes of the routed one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from understudy.testing import (
    ContextLengthExceeded,
    DropConnection,
    RateLimit,
    Reply,
    ServerError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from understudy.testing import Behaviour

__all__ = ["FAKE_KEY", "PROFILES", "ROUTES", "SCENARIOS", "Scenario", "model_of", "scripted_failure", "write_profiles"]

# Not a key: the fake provider accepts anything. It looks like one so the redaction has work to do.
FAKE_KEY: Final = "sk-demo-not-a-real-key-0000"


# The fallbacks table is the point of the demo; it reads like a profile a user would write.
PRIMARY_FALLBACKS: Final = """
[fallbacks]
RateLimitError = ["backup", "local"]          # rate limits are per model: a sibling model still answers
ContextWindowExceededError = ["long-context"] # too long for 128k tokens: go to the 1M-token model
BadRequestError = []                          # a malformed request fails everywhere: do not walk the chain
"*" = ["local"]                               # any other provider failure (outage, 5xx): the local model
"""


PROFILES: Final = {
    "primary": ("openai/gpt-4o-mini", "cheap and fast, used for everything", 2, PRIMARY_FALLBACKS),
    "backup": ("openai/gpt-4o", "bigger model, its own rate limits", 0, ""),
    "long-context": ("openai/gpt-4.1", "1M-token context window", 0, ""),
    "local": ("openai/local-llama-3.1-8b", "a local OpenAI-compatible server; not in litellm's cost map", 0, ""),
}


@dataclass(frozen=True)
class Scenario:
    """One scripted call: what each model does, and which profile should end up serving it."""

    title: str
    script: dict[str, Sequence[Behaviour]]
    prompt: str
    expect: str | None  # the serving profile, or None when every profile should fail
    use_async: bool = False
    context: dict[str, Any] | None = None  # routed through ROUTER when set
    calls: int = 1  # the call is made this many times, one after the other


SCENARIOS: Final = (
    Scenario(
        "1. The primary is rate-limited (429 with Retry-After): retried, then the backup serves",
        {
            "gpt-4o-mini": [RateLimit(retry_after=0.05)] * 3,
            "gpt-4o": [Reply("Paris.", prompt_tokens=14, completion_tokens=2)],
        },
        "What is the capital of France?",
        expect="backup",
    ),
    Scenario(
        "2. The primary's provider is down (a 503, then dropped connections): each kind is retried once, then "
        "the outage fallback serves",
        {
            "gpt-4o-mini": [ServerError(503), DropConnection(), DropConnection()],
            "local-llama-3.1-8b": [Reply("Steady under load ...", prompt_tokens=12, completion_tokens=9)],
        },
        "Write a haiku about resilience.",
        expect="local",
    ),
    Scenario(
        "3. The prompt is too large for the primary's context window: the long-context profile serves",
        {
            "gpt-4o-mini": [ContextLengthExceeded(limit=128000)],
            "gpt-4.1": [Reply("The contract renews yearly unless ...", prompt_tokens=310000, completion_tokens=120)],
        },
        "Summarise this 300-page contract: ...",
        expect="long-context",
    ),
    Scenario(
        "4. Everything is down: every profile fails and FallbackExhaustedError says what each one did",
        {
            "gpt-4o-mini": [RateLimit(retry_after=0.05)] * 3,
            "gpt-4o": [RateLimit()],
            "local-llama-3.1-8b": [DropConnection()],
        },
        "Are you there?",
        expect=None,
    ),
    Scenario(
        "5. The same walk from async code (await llm.acompletion): a retry is enough this time",
        {
            "gpt-4o-mini": [ServerError(502), Reply("Hello from asyncio!", prompt_tokens=9, completion_tokens=4)],
        },
        "Say hello.",
        expect="primary",
        use_async=True,
    ),
    Scenario(
        "6. A router picks the primary from the call's context (the owner gets gpt-4o); fallback still applies",
        {
            "gpt-4o": [ServerError(503)],
            "local-llama-3.1-8b": [Reply("Routed, then rescued.", prompt_tokens=10, completion_tokens=4)],
        },
        "Plan my week.",
        expect="local",
        context={"source_kind": "owner", "platform": "cli"},
    ),
    Scenario(
        "7. The primary keeps failing: after three failures it cools down, and the next call skips it at once",
        {
            "gpt-4o-mini": [ServerError(503)] * 3,
            "local-llama-3.1-8b": [Reply("Still here.", prompt_tokens=8, completion_tokens=3)] * 3,
        },
        "Status?",
        expect="local",
        calls=3,
    ),
)


# Routes for scenario 6, as a routes.toml would hold them; the chosen profile's fallbacks still apply.
ROUTES: Final = {
    "default": "primary",
    "routes": [
        {"match": {"source_kind": "owner"}, "profile": "backup", "fallbacks": {"*": ["local"]}},
        {"match": {"platform": "discord"}, "profile": "primary", "overrides": {"temperature": 0.0}},
    ],
}


def write_profiles(directory: Path, base_url: str) -> None:
    """Write the demo's profiles, all pointing at the fake provider."""
    for name, (model, description, retries, extra) in PROFILES.items():
        text = (
            f'model = "{model}"\n'
            f'description = "{description}"\n'
            f'api_base = "{base_url}"\n'
            f'api_key = "{FAKE_KEY}"\n'
            f"num_retries = {retries}\n"
            "timeout = 10\n"
            f"{extra}"
        )
        (directory / f"{name}.toml").write_text(text, encoding="utf-8")


def model_of(profile: str) -> str:
    """The model name the fake provider sees for a demo profile (``"gpt-4o-mini"`` for ``"primary"``)."""
    return PROFILES[profile][0].removeprefix("openai/")


def scripted_failure(scenario: Scenario, profile: str, index: int) -> str | None:
    """In words, the failure scripted for ``profile``'s request number ``index`` (from 0), when litellm's
    exception class would misname it; else None."""
    behaviours = scenario.script.get(model_of(profile), ())
    if 0 <= index < len(behaviours) and isinstance(behaviours[index], DropConnection):
        return "connection dropped"  # litellm raises InternalServerError for it
    return None
