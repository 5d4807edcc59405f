"""``understudy demo``: fallbacks at work, offline, against the fake provider.

Four profiles are written to a temp dir, all served by ``understudy.testing.FakeProvider`` on 127.0.0.1:
a cheap primary, a bigger model for when the primary is rate-limited, a long-context model for prompts
too large for the primary, and a "local" model litellm's cost map does not know. Each scenario scripts
what the provider does, makes one call (the last one through a match router), and prints the events as
they happen; a stats table ends it.
No API key and no network are needed.

A failure is named by its exception class, except where the class may mislead: litellm's openai handler
re-raises the openai client's ``APIConnectionError`` with status 500, so litellm (1.83 and 1.110 alike)
reports a dropped connection as ``InternalServerError``. The demo knows what it scripted, so it says
"connection dropped", whatever class the call raised.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from understudy.calls.responses import served_by
from understudy.calls.retry import RetryPolicy
from understudy.errors import FallbackExhaustedError
from understudy.events import (
    AttemptFailed,
    FallbackExhausted,
    FallbackSucceeded,
    FallbackTriggered,
    ProfileSkipped,
    RouteChosen,
)
from understudy.profiles.store import ProfileStore
from understudy.registry import LLMRegistry
from understudy.routing.match import MatchRouter
from understudy.testing import (
    ContextLengthExceeded,
    DropConnection,
    FakeProvider,
    RateLimit,
    Reply,
    ServerError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from understudy.calls.stats import ProfileStats
    from understudy.events import Event
    from understudy.testing import Behaviour

__all__ = ["run_demo"]

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
        "2. The primary's provider is down (503, then a dropped connection): the outage fallback serves",
        {
            "gpt-4o-mini": [ServerError(503), ServerError(503), DropConnection()],
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
)

# Routes for scenario 6, as a routes.toml would hold them; the chosen profile's fallbacks still apply.
ROUTES: Final = {
    "default": "primary",
    "routes": [
        {"match": {"source_kind": "owner"}, "profile": "backup", "fallbacks": {"*": ["local"]}},
        {"match": {"platform": "discord"}, "profile": "primary", "overrides": {"temperature": 0.0}},
    ],
}


@dataclass(frozen=True)
class Symbols:
    """The marks the demo prints: arrows and ticks, or plain ASCII when the output cannot encode them."""

    step: str = "↳"
    ok: str = "✓"
    fail: str = "✗"
    arrow: str = "→"
    rule: str = "─"

    @classmethod
    def for_stream(cls, out: TextIO) -> Symbols:
        try:
            "↳✓✗→─".encode(getattr(out, "encoding", None) or "utf-8")
        except (UnicodeEncodeError, LookupError):
            return cls(step="->", ok="+", fail="x", arrow="->", rule="-")
        return cls()


def run_demo(out: TextIO = sys.stdout) -> int:
    """Run every scenario against a fake provider and print what happens.

    Returns:
        0 when every scenario went as scripted, 1 otherwise.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the cost map
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback" banner on every provider error

    marks = Symbols.for_stream(out)
    print("understudy demo: fallbacks at work against a fake OpenAI-compatible provider on 127.0.0.1", file=out)
    print("(no API key, no network; every failure below is scripted)", file=out)
    failures = 0
    with FakeProvider() as provider, tempfile.TemporaryDirectory(prefix="understudy-demo-") as tmp:
        write_profiles(Path(tmp), provider.base_url)
        registry = LLMRegistry(ProfileStore([tmp]), retry_policy=RetryPolicy(initial=0.05, max_delay=1))
        print_profiles(registry, out, marks)
        for scenario in SCENARIOS:
            provider.reset()
            for model, behaviours in scenario.script.items():
                provider.script(model, *behaviours)
            print(f"\n{scenario.title}", file=out)
            unsubscribe = registry.subscribe(event_printer(out, marks, narrator(provider, scenario)))
            try:
                if not run_scenario(registry, scenario, out, marks):
                    failures += 1
            finally:
                unsubscribe()
        print_stats(registry, out, marks)
    if failures:
        print(f"\n{failures} scenario(s) did not go as scripted", file=out)
        return 1
    return 0


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


def print_profiles(registry: LLMRegistry, out: TextIO, marks: Symbols) -> None:
    print("\nProfiles (temporary files, every model served by the fake provider):", file=out)
    for name in PROFILES:
        profile = registry.store.load(name)
        retries = f" (retried up to {profile.num_retries} times)" if profile.num_retries else ""
        print(f"  {name:<13} {profile.model:<26} {profile.description}{retries}", file=out)
    print("primary's fallbacks:", file=out)
    for error, targets in registry.store.load("primary").fallbacks.items():
        chain = ", ".join(targets) or "(none: the error propagates unchanged)"
        print(f"  {error:<27} {marks.arrow} {chain}", file=out)


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


def narrator(provider: FakeProvider, scenario: Scenario) -> Callable[[str], str | None]:
    """``scripted_failure`` of a profile's latest request: the one whose failure an event is reporting."""

    def describe(profile: str) -> str | None:
        return scripted_failure(scenario, profile, provider.requests(model_of(profile)) - 1)

    return describe


def event_printer(
    out: TextIO, marks: Symbols, describe: Callable[[str], str | None] = lambda profile: None
) -> Callable[[Event], None]:
    """A subscriber that prints each event as one line, as it happens.

    ``describe(profile)`` may name the failure of the profile's latest request in words; litellm's class
    name is shown otherwise.
    """

    def show(event: Event) -> None:
        match event:
            case AttemptFailed():
                then = f"retrying in {event.retry_in:.3f}s" if event.retry_in is not None else "no retry"
                what = describe(event.profile)
                failure = f"{what}, raised as {event.error_type}" if what else event.error_type
                line = f"{marks.step} attempt {event.attempt} of {event.profile} failed: {failure} ({then})"
            case FallbackTriggered():
                route = f"{event.from_profile} {marks.arrow} {event.to_profile}"
                line = f"{marks.step} fallback {route} ({describe(event.from_profile) or event.error_type})"
            case ProfileSkipped():
                line = f"{marks.step} skipped {event.profile}: {event.reason}"
            case FallbackSucceeded():
                line = (
                    f"{marks.ok} served by {event.served_by} after {event.attempts} attempts in "
                    f"{event.latency:.2f}s, cost {format_cost(event.cost)}"
                )
            case FallbackExhausted():
                line = f"{marks.fail} every profile failed ({len(event.attempts)} attempts in {event.latency:.2f}s)"
            case RouteChosen():
                line = f"{marks.step} routed to {event.profile} by {event.route} ({event.reason})"
            case _:
                line = f"{marks.step} {event.kind}"
        print(f"  {line}", file=out, flush=True)

    return show


def run_scenario(registry: LLMRegistry, scenario: Scenario, out: TextIO, marks: Symbols) -> bool:
    """Make the scenario's call; print the answer or the error. True when it went as scripted."""
    llm = registry.get("primary")
    messages = [{"role": "user", "content": scenario.prompt}]
    started = time.perf_counter()
    try:
        if scenario.context is not None:
            agent = registry.get_routed(MatchRouter.from_dict(ROUTES))
            response: Any = agent.completion(messages=messages, context=scenario.context)
        elif scenario.use_async:
            response = asyncio.run(llm.acompletion(messages=messages))
        else:
            response = llm.completion(messages=messages)
    except FallbackExhaustedError as exc:
        text = textwrap.fill(f"FallbackExhaustedError: {exc.message}", width=110, subsequent_indent="    ")
        print(f"  {text}", file=out)
        print("  its attempts:", file=out)
        tries: dict[str, int] = {}
        for number, attempt in enumerate(exc.attempts, 1):
            index = tries[attempt.profile] = tries.get(attempt.profile, -1) + 1
            what = scripted_failure(scenario, attempt.profile, index) if attempt.loaded else None
            message = shorten(provider_message(attempt.message), 60)
            if what:
                message = f"{attempt.error_type}: {message}"
            print(f"    {number}. {attempt.profile:<8} {what or attempt.error_type:<20} {message}", file=out)
        return scenario.expect is None
    except Exception as exc:  # the demo reports surprises instead of dying half-way
        print(f"  unexpected {type(exc).__name__}: {shorten(str(exc), 200)}", file=out)
        return False
    profile = served_by(response) or "?"
    content = response.choices[0].message.content
    elapsed = time.perf_counter() - started
    if profile == "primary":
        print(f"  {marks.ok} served by primary in {elapsed:.2f}s", file=out)
    print(f"  answer from {profile}: {content!r}", file=out)
    return profile == scenario.expect


def print_stats(registry: LLMRegistry, out: TextIO, marks: Symbols) -> None:
    """One row per profile from ``registry.stats()``."""
    stats = registry.stats()
    header = (
        "profile",
        "attempts",
        "ok",
        "failed",
        "tokens",
        "cost",
        "mean latency",
        "as fallback",
        "failures by type",
    )
    rows = [header, *(stats_row(s) for s in stats.values())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print("\nStats per profile (registry.stats()):", file=out)
    for index, row in enumerate(rows):
        # Name left-aligned, numbers right-aligned, the failures (the widest) last and ragged.
        numbers = [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:-1], strict=True)]
        print("  " + "  ".join([row[0].ljust(widths[0]), *numbers, row[-1]]), file=out)
        if index == 0:
            print("  " + marks.rule * (sum(widths[:-1]) + 2 * (len(widths) - 1) + len(header[-1])), file=out)
    print(
        "  attempts: model calls, retries included (ProfileStats.calls); failures by type: the class each raised",
        file=out,
    )


def stats_row(stats: ProfileStats) -> tuple[str, ...]:
    failures = ", ".join(f"{name} x{count}" for name, count in sorted(stats.failures_by_type.items()))
    latency = f"{stats.mean_latency:.3f}s" if stats.mean_latency is not None else "-"
    cost = format_cost(stats.cost)
    if stats.cost is not None and stats.uncosted_calls:
        cost += f" (+{stats.uncosted_calls} unknown)"
    return (
        stats.profile,
        str(stats.calls),
        str(stats.successes),
        str(stats.failures),
        str(stats.prompt_tokens + stats.completion_tokens),
        cost if stats.successes else "-",
        latency,
        str(stats.served_as_fallback),
        failures or "-",
    )


def format_cost(cost: float | None) -> str:
    return f"${cost:.6f}" if cost is not None else "unknown"


def provider_message(message: str) -> str:
    """The provider's own words, without litellm's "litellm.X: X: OpenAIException - " preamble."""
    return message.split(" - ", 1)[1] if message.startswith("litellm.") and " - " in message else message


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
