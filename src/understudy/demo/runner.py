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
from typing import TYPE_CHECKING, Any, TextIO

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
from understudy.health.circuit import MemoryHealth
from understudy.profiles.store import ProfileStore
from understudy.registry import LLMRegistry
from understudy.routing.match import MatchRouter
from understudy.testing import (
    FakeProvider,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from understudy.calls.stats import ProfileStats
    from understudy.events import Event

from understudy.demo.scenarios import PROFILES, ROUTES, SCENARIOS, Scenario, model_of, scripted_failure, write_profiles

__all__ = ["Symbols", "run_demo"]


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
            registry.health_store = MemoryHealth()  # each scenario starts with every profile healthy
            for model, behaviours in scenario.script.items():
                provider.script(model, *behaviours)
            print(f"\n{scenario.title}", file=out)
            unsubscribe = registry.subscribe(event_printer(out, marks, narrator(provider, scenario)))
            try:
                if not all(run_scenario(registry, scenario, out, marks) for _ in range(scenario.calls)):
                    failures += 1
            finally:
                unsubscribe()
        print_stats(registry, out, marks)
    if failures:
        print(f"\n{failures} scenario(s) did not go as scripted", file=out)
        return 1
    return 0


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
