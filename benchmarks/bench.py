"""How much understudy costs: import time, CLI start-up, per-call overhead and fallback latency.

Run from the repository root after installing it (``pip install -e .``)::

    python benchmarks/bench.py

Everything runs offline against ``understudy.testing.FakeProvider`` on 127.0.0.1. Results are printed as a
Markdown table; docs/benchmarks.md records the last run.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("UNDERSTUDY_DISABLE_PLUGINS", "*")

import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

HELLO = [{"role": "user", "content": "hello"}]


class _Usage:
    prompt_tokens = 10
    completion_tokens = 5


class _Response:
    usage = _Usage()

    def __init__(self) -> None:
        self._hidden_params: dict[str, Any] = {"response_cost": 0.0001}


RESPONSE = _Response()


def timed_runs(fn: Any, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def summary(samples: list[float], unit: float = 1e3) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(ordered) * unit:.2f} (p95 {p95 * unit:.2f})"


def subprocess_time(args: list[str], runs: int = 5, env: dict[str, str] | None = None) -> list[float]:
    return timed_runs(lambda: subprocess.run(args, check=True, capture_output=True, env=env), runs)


def write_profiles(directory: Path, base_url: str, count: int = 0) -> None:
    for name, model, fallbacks in (
        ("main", "gpt-4o-mini", '[fallbacks]\n"*" = ["backup"]\n'),
        ("backup", "gpt-4o", ""),
    ):
        (directory / f"{name}.toml").write_text(
            f'model = "openai/{model}"\napi_base = "{base_url}"\napi_key = "sk-bench"\n{fallbacks}'
        )
    for i in range(count):
        (directory / f"extra-{i}.toml").write_text(f'model = "openai/extra-{i}"\n[fallbacks]\n"*" = ["main"]\n')


def main() -> None:
    import httpx
    import litellm

    from understudy import LLM, LLMRegistry, MatchRouter, ProfileStore, RetryPolicy
    from understudy.calls.litellm_call import LitellmCall
    from understudy.testing import FakeProvider, ServerError

    litellm.suppress_debug_info = True
    rows: list[tuple[str, str]] = []
    python = sys.executable

    rows.append(
        ("`import understudy` (ms, fresh interpreter)", summary(subprocess_time([python, "-c", "import understudy"])))
    )
    rows.append(("`import litellm` for comparison (ms)", summary(subprocess_time([python, "-c", "import litellm"]))))

    with tempfile.TemporaryDirectory() as tmp, FakeProvider() as provider:
        directory = Path(tmp)
        write_profiles(directory, provider.base_url, count=50)
        env = {**os.environ, "UNDERSTUDY_PROFILES_PATH": str(directory)}
        cli = [python, "-m", "understudy"]
        rows.append(
            (
                "`understudy profiles list`, 52 profiles (ms)",
                summary(subprocess_time([*cli, "profiles", "list"], env=env)),
            )
        )
        rows.append(("`understudy check`, 52 profiles (ms)", summary(subprocess_time([*cli, "check"], env=env))))
        rows.append(
            (
                "`understudy explain main --error RateLimitError` (ms)",
                summary(subprocess_time([*cli, "explain", "main", "--error", "RateLimitError"], env=env)),
            )
        )

        registry = LLMRegistry(ProfileStore([directory]), retry_policy=RetryPolicy(initial=0))
        llm = registry.get("main")
        raw = {"model": "openai/gpt-4o-mini", "api_base": provider.base_url, "api_key": "sk-bench", "max_retries": 0}
        for _ in range(20):  # warm both paths up
            litellm.completion(messages=HELLO, **raw)
            llm.completion(messages=HELLO)
        calls = 300
        # The floor: the same request as a bare HTTP POST over one kept-alive connection, no client library.
        body = {"model": "gpt-4o-mini", "messages": HELLO}
        with httpx.Client(base_url=provider.base_url) as client:
            for _ in range(20):
                client.post("/chat/completions", json=body)
            floor = timed_runs(lambda: client.post("/chat/completions", json=body), calls)
        base = statistics.median(floor)

        def versus_floor(samples: list[float]) -> str:
            return f"{summary(samples)}; {statistics.median(samples) / base:.1f}x the floor"

        direct = timed_runs(lambda: litellm.completion(messages=HELLO, **raw), calls)
        wrapped = timed_runs(lambda: llm.completion(messages=HELLO), calls)
        rows.append((f"floor: a bare HTTP POST to the fake provider, {calls} calls (ms/call)", summary(floor)))
        rows.append((f"`litellm.completion` to the fake provider, {calls} calls (ms/call)", versus_floor(direct)))
        rows.append(("`LLM.completion`, same calls (ms/call)", versus_floor(wrapped)))
        overhead = statistics.median(wrapped) - statistics.median(direct)
        rows.append(("understudy's overhead per successful call (ms, median difference)", f"{overhead * 1e3:.2f}"))

        def fall_back() -> None:
            provider.script("gpt-4o-mini", ServerError(503))
            llm.completion(messages=HELLO)

        served = timed_runs(fall_back, 100)
        rows.append(("a 503 on the primary, served by the fallback (ms/call)", versus_floor(served)))

        # The walk alone: profiles whose model call returns at once, so only understudy's own work is timed.
        class Instant(LitellmCall):
            def call(self, request: dict[str, Any], *, as_fallback: bool) -> Any:
                return self._served(RESPONSE, time.perf_counter(), as_fallback)

        instant = LLM(registry.get("main").profile, registry)
        instant.caller = Instant(instant.profile, registry.book)
        assert instant.completion(messages=HELLO) is RESPONSE, "the walk-alone row would time a real call"
        router = MatchRouter(
            "main",
            [{"match": {"platform": f"p{i}", "tier": {"$in": ["a", "b"]}}, "profile": "backup"} for i in range(20)],
        )
        context = {"platform": "none", "tier": "a"}
        rows.append(
            (
                "`MatchRouter.select`, 20 routes, no match (µs)",
                summary(timed_runs(lambda: router.select(context), 20000), 1e6),
            )
        )
        rows.append(
            (
                "the fallback walk alone, no I/O, success (µs/call)",
                summary(timed_runs(lambda: instant.completion(messages=HELLO), 20000), 1e6),
            )
        )

    print("| measure | median (p95) |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\nPython {sys.version.split()[0]}, litellm {version('litellm')}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
