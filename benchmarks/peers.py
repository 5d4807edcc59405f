"""understudy side by side with the peers, in one run: the success path, the failure path, a cooling-down primary,
a big profile store, and streaming time to first chunk.

Run from the repository root after ``pip install -e '.[test]'`` (which installs the peers' SDKs)::

    python benchmarks/peers.py            # about four minutes on 2 cores
    python benchmarks/peers.py --quick    # one round, for a smoke test

Everything runs offline against ``understudy.testing.FakeProvider`` on 127.0.0.1. Every system retries nothing
(``max_retries=0`` / ``num_retries=0``), and after each batch the harness checks from the fake provider's request
counters that the system sent exactly the requests the scenario calls for. Systems run interleaved, in rounds,
in a new random order each round, so that noise hits all alike. The rows are medians and p95 of per-call
latency; the ratios are to the floor (raw litellm) and to the fastest peer, measured in the same run.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("UNDERSTUDY_DISABLE_PLUGINS", "*")

import argparse
import asyncio
import platform
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

from peer_systems import (
    FIRST_CHUNK_AT,
    FLOOR,
    HELLO,
    KEY,
    TIMEOUT,
    System,
    langchain_system,
    litellm_systems,
    openai_system,
    pydantic_ai_system,
    understudy_system,
)


@dataclass
class Scenario:
    name: str
    expected: dict[str, int]  # requests to each fake model, per call
    systems: list[System]
    stream: bool = False  # latency to the first chunk rather than to the whole answer


# -- running ------------------------------------------------------------------------------------------------------


def run_batch(system: System, mode: str, concurrency: int, calls: int, pool: ThreadPoolExecutor) -> list[float | None]:
    """``calls`` calls, ``concurrency`` at a time; each call's latency in seconds, None for a call that raised."""

    def timed_sync() -> float | None:
        FIRST_CHUNK_AT.set(None)
        started = time.perf_counter()
        assert system.sync is not None
        try:
            system.sync()
        except Exception as exc:
            print(f"  {system.name} ({mode}, {concurrency}): {type(exc).__name__}", file=sys.stderr)
            return None
        return (FIRST_CHUNK_AT.get() or time.perf_counter()) - started

    async def timed_aio() -> float | None:
        FIRST_CHUNK_AT.set(None)
        started = time.perf_counter()
        assert system.aio is not None
        try:
            await system.aio()
        except Exception as exc:
            print(f"  {system.name} ({mode}, {concurrency}): {type(exc).__name__}", file=sys.stderr)
            return None
        return (FIRST_CHUNK_AT.get() or time.perf_counter()) - started

    if mode == "sync":
        if concurrency == 1:
            return [timed_sync() for _ in range(calls)]
        return list(pool.map(lambda _: timed_sync(), range(calls)))

    async def batches() -> list[float | None]:
        results: list[float | None] = []
        for start in range(0, calls, concurrency):
            results += await asyncio.gather(*(timed_aio() for _ in range(min(concurrency, calls - start))))
        return results

    return LOOP.run_until_complete(batches())


LOOP = asyncio.new_event_loop()  # one loop for every async batch: the clients' connection pools live on it


def measure(scenario: Scenario, provider: Any, rounds: int, pool: ThreadPoolExecutor) -> None:
    shapes = [(mode, concurrency) for mode in ("sync", "async") for concurrency in (1, 50)]
    for mode, concurrency in shapes:  # warm every system up: imports, pools, litellm's first-call work
        for system in scenario.systems:
            if (system.sync if mode == "sync" else system.aio) is not None:
                run_batch(system, mode, concurrency, concurrency * 2, pool)
    print(f"{scenario.name}: warm", file=sys.stderr)
    for _ in range(rounds):
        for mode, concurrency in random.sample(shapes, len(shapes)):
            for system in random.sample(scenario.systems, len(scenario.systems)):
                if (system.sync if mode == "sync" else system.aio) is None:
                    continue
                calls = 20 if concurrency == 1 else 100
                before = {model: provider.requests(model) for model in scenario.expected}
                latencies = run_batch(system, mode, concurrency, calls, pool)
                ok = [latency for latency in latencies if latency is not None]
                sent = {model: provider.requests(model) - before[model] for model in scenario.expected}
                wanted = {model: per_call * calls for model, per_call in scenario.expected.items()}
                if sent != wanted and len(ok) == calls:  # (a call that raised may have sent less)
                    raise SystemExit(
                        f"{scenario.name}: {system.name} ({mode}, {concurrency}) sent {sent}, not {wanted}"
                    )
                system.samples.setdefault((mode, concurrency), []).extend(ok)
                key = (mode, concurrency)
                system.failures[key] = system.failures.get(key, 0) + calls - len(ok)


def ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(len(ordered) * 0.95) - 1] * 1e3


def table(scenario: Scenario) -> list[str]:
    lines = [
        f"### {scenario.name}",
        "",
        "| system | mode | concurrency | median ms | p95 ms | x floor | x fastest peer | calls that raised |",
        "|---|---|---|---|---|---|---|---|",
    ]
    shapes = sorted({shape for system in scenario.systems for shape in system.samples})
    for mode, concurrency in shapes:
        medians = {
            s.name: ms(s.samples[(mode, concurrency)])[0]
            for s in scenario.systems
            if s.samples.get((mode, concurrency))
        }
        floor = medians.get(FLOOR)
        peers = [m for name, m in medians.items() if not name.startswith("understudy") and name != FLOOR]
        fastest = min(peers) if peers else None
        for system in scenario.systems:
            if not system.samples.get((mode, concurrency)):
                continue
            median, p95 = ms(system.samples[(mode, concurrency)])
            raised = system.failures.get((mode, concurrency), 0)
            x_floor = f"{median / floor:.2f}" if floor else "-"
            x_peer = f"{median / fastest:.2f}" if fastest else "-"
            lines.append(
                f"| {system.name} | {mode} | {concurrency} | {median:.2f} | {p95:.2f} | {x_floor} | {x_peer} "
                f"| {raised} |"
            )
    return [*lines, ""]


def write_store(directory: Path, base_url: str, extra: int, transport: str = "litellm") -> None:
    def profile(name: str, model: str, rest: str = "") -> None:
        (directory / f"{name}.toml").write_text(
            f'model = "openai/{model}"\napi_base = "{base_url}"\napi_key = "{KEY}"\ntimeout = {TIMEOUT}\n'
            f'transport = "{transport}"\n{rest}'
        )

    profile("solo", "solo", "[health]\nenabled = false\n")
    profile("main", "primary", '[health]\nenabled = false\n[fallbacks]\n"*" = ["backup"]\n')
    profile("backup", "backup", "[health]\nenabled = false\n")
    profile("cooling", "cooling", '[health]\nfailures = 1\ncooldown = 3600\n[fallbacks]\n"*" = ["backup"]\n')
    profile("streamer", "primary-stream", '[health]\nenabled = false\n[fallbacks]\n"*" = ["backup-stream"]\n')
    profile("backup-stream", "backup-stream", "[health]\nenabled = false\n")
    profile("solo-stream", "solo-stream", "[health]\nenabled = false\n")
    for i in range(extra):
        profile(f"extra-{i}", f"extra-{i}", '[fallbacks]\n"*" = ["backup"]\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="one round")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds

    import litellm

    from understudy import LLMRegistry, ProfileStore, RetryPolicy
    from understudy.testing import FakeProvider, RateLimit, Reply

    litellm.suppress_debug_info = True
    random.seed(20261202)
    out: list[str] = []
    with (
        tempfile.TemporaryDirectory() as small,
        tempfile.TemporaryDirectory() as big,
        tempfile.TemporaryDirectory() as direct_store,
        FakeProvider() as provider,
    ):
        for model in ("primary", "primary-stream", "cooling"):
            provider.default(model, RateLimit())
        for model in ("solo", "backup", "backup-stream", "solo-stream"):
            provider.default(model, Reply("ok"))
        write_store(Path(small), provider.base_url, extra=3)
        write_store(Path(big), provider.base_url, extra=10_000)
        write_store(Path(direct_store), provider.base_url, extra=3, transport="direct")
        registry = LLMRegistry(ProfileStore([small]), retry_policy=RetryPolicy(initial=0))
        direct = LLMRegistry(ProfileStore([direct_store]), retry_policy=RetryPolicy(initial=0))
        for cooled in (registry, direct):
            cooled.get("cooling").completion(messages=HELLO)  # a 429: it cools down for an hour

        def ours(profile: str, stream: bool = False) -> list[System]:
            """understudy on litellm (the default) and on the direct transport."""
            return [
                understudy_system(registry, profile, stream),
                understudy_system(direct, profile, stream, name="understudy direct"),
            ]

        base = provider.base_url
        pool = ThreadPoolExecutor(50)

        scenarios = [
            Scenario(
                "(a) the primary answers",
                {"solo": 1},
                [
                    *litellm_systems(base, "solo", None),
                    openai_system(base, "solo", None),
                    pydantic_ai_system(base, "solo", None),
                    langchain_system(base, "solo", None),
                    *ours("solo"),
                ],
            ),
            Scenario(
                "(b) the primary answers 429, the first fallback serves",
                {"primary": 1, "backup": 1},
                [
                    *litellm_systems(base, "primary", "backup"),
                    openai_system(base, "primary", "backup"),
                    pydantic_ai_system(base, "primary", "backup"),
                    langchain_system(base, "primary", "backup"),
                    *ours("main"),
                ],
            ),
            Scenario(
                "(c) the primary is cooling down: the fallback serves, the primary is sent nothing",
                {"cooling": 0, "backup": 1},
                # the floor: raw litellm calling the fallback straight away, as if the skip cost nothing
                [litellm_systems(base, "backup", None)[0], *ours("cooling")],
            ),
        ]
        for scenario in scenarios:
            measure(scenario, provider, rounds, pool)
            out += table(scenario)
        out += store_rows(provider, small, big, rounds, pool)
        streams = [
            Scenario(
                "(e) streaming, time to the first chunk: the primary answers",
                {"solo-stream": 1},
                [
                    *litellm_systems(base, "solo-stream", None, stream=True)[:1],
                    *ours("solo-stream", stream=True),
                ],
                stream=True,
            ),
            Scenario(
                "(e) streaming, time to the first chunk: the primary answers 429 before its first chunk",
                {"primary-stream": 1, "backup-stream": 1},
                [
                    *litellm_systems(base, "primary-stream", "backup-stream", stream=True)[:1],
                    *ours("streamer", stream=True),
                ],
                stream=True,
            ),
        ]
        for scenario in streams:
            measure(scenario, provider, rounds, pool)
            out += table(scenario)
        pool.shutdown()
    print(header())
    print("\n".join(out))


def store_rows(provider: Any, small: str, big: str, rounds: int, pool: ThreadPoolExecutor) -> list[str]:
    """(d): a call that needs two profiles, from a store of 10 and of 10,000; and the big registry's memory."""
    from understudy import LLMRegistry, ProfileStore, RetryPolicy

    tracemalloc.start()
    registries = {
        size: LLMRegistry(ProfileStore([path]), retry_policy=RetryPolicy(initial=0))
        for size, path in (("10", small), ("10,000", big))
    }
    big_registry = registries["10,000"]
    for name in big_registry.store.names():
        big_registry.get(name)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    scenario = Scenario(
        "(d) a call that needs two profiles (429, then the fallback), by store size",
        {"primary": 1, "backup": 1},
        [System(f"understudy, {size} profiles", *_calls(registry)) for size, registry in registries.items()],
    )
    measure(scenario, provider, rounds, pool)
    lines = table(scenario)
    lines.insert(
        -1, f"\nA registry holding all 10,000 profiles (each loaded, with its LLM): peak {peak / 2**20:.1f} MiB traced."
    )
    return lines


def _calls(registry: Any) -> tuple[Callable[[], Any], Callable[[], Awaitable[Any]]]:
    llm = registry.get("main")
    return (lambda: llm.completion(messages=HELLO)), (lambda: llm.acompletion(messages=HELLO))


def header() -> str:
    packages = ["litellm", "openai", "pydantic-ai-slim", "langchain-openai", "langchain-core", "httpx", "httpx2"]
    versions = ", ".join(f"{name} {version(name)}" for name in packages)
    return (
        f"Run {time.strftime('%Y-%m-%d')}: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.machine()}; {versions}; understudy {version('understudy')}.\n"
    )


if __name__ == "__main__":
    sys.exit(main())
