"""The systems ``peers.py`` compares: each makes the scenario's call once, sync and async, retrying nothing."""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

HELLO = [{"role": "user", "content": "hello"}]
KEY = "sk-bench"
TIMEOUT = 20.0  # seconds per request, every system: a hang fails the run instead of stalling it
FLOOR = "raw litellm"


@dataclass
class System:
    """One way of making the scenario's call: a sync and an async function, each doing one call."""

    name: str
    sync: Callable[[], Any] | None
    aio: Callable[[], Awaitable[Any]] | None
    samples: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    failures: dict[tuple[str, int], int] = field(default_factory=dict)  # calls that raised (timed out)


# -- the systems ----------------------------------------------------------------------------------------------------


def litellm_systems(base_url: str, primary: str, backup: str | None, stream: bool = False) -> list[System]:
    """Raw litellm (the floor) and LiteLLM's Router with the same fallback."""
    import litellm

    raw = {"api_base": base_url, "api_key": KEY, "max_retries": 0, "num_retries": 0, "timeout": TIMEOUT}

    def first(response: Any) -> Any:
        return first_chunk(response) if stream else response

    async def afirst(response: Any) -> Any:
        return await afirst_chunk(response) if stream else response

    def sync() -> Any:
        try:
            return first(litellm.completion(model=f"openai/{primary}", messages=HELLO, stream=stream, **raw))
        except litellm.RateLimitError:
            if backup is None:
                raise
            return first(litellm.completion(model=f"openai/{backup}", messages=HELLO, stream=stream, **raw))

    async def aio() -> Any:
        try:
            return await afirst(
                await litellm.acompletion(model=f"openai/{primary}", messages=HELLO, stream=stream, **raw)
            )
        except litellm.RateLimitError:
            if backup is None:
                raise
            return await afirst(
                await litellm.acompletion(model=f"openai/{backup}", messages=HELLO, stream=stream, **raw)
            )

    deployments = [
        {"model_name": name, "litellm_params": {"model": f"openai/{name}", **raw}}
        for name in {primary, backup} - {None}
    ]
    router = litellm.Router(
        model_list=deployments,
        fallbacks=[{primary: [backup]}] if backup else [],
        num_retries=0,
        disable_cooldowns=True,
    )

    def router_sync() -> Any:
        return first(router.completion(model=primary, messages=HELLO, stream=stream))

    async def router_aio() -> Any:
        return await afirst(await router.acompletion(model=primary, messages=HELLO, stream=stream))

    return [System(FLOOR, sync, aio), System("LiteLLM Router", router_sync, router_aio)]


def openai_system(base_url: str, primary: str, backup: str | None) -> System:
    """The openai SDK, the fallback written by hand."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=TIMEOUT)
    aclient = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=TIMEOUT)

    def sync() -> Any:
        try:
            return client.chat.completions.create(model=primary, messages=HELLO)  # type: ignore[arg-type]
        except openai.RateLimitError:
            if backup is None:
                raise
            return client.chat.completions.create(model=backup, messages=HELLO)  # type: ignore[arg-type]

    async def aio() -> Any:
        try:
            return await aclient.chat.completions.create(model=primary, messages=HELLO)  # type: ignore[arg-type]
        except openai.RateLimitError:
            if backup is None:
                raise
            return await aclient.chat.completions.create(model=backup, messages=HELLO)  # type: ignore[arg-type]

    return System("openai SDK by hand", sync, aio)


def pydantic_ai_system(base_url: str, primary: str, backup: str | None) -> System:
    """pydantic-ai's FallbackModel over two OpenAI chat models, called with its direct model API."""
    import openai
    from pydantic_ai.direct import model_request
    from pydantic_ai.messages import ModelRequest
    from pydantic_ai.models.fallback import FallbackModel
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(
        openai_client=openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=TIMEOUT)
    )
    models = [OpenAIChatModel(name, provider=provider) for name in (primary, backup) if name]
    model = FallbackModel(*models) if len(models) > 1 else models[0]
    messages = [ModelRequest.user_text_prompt("hello")]

    async def aio() -> Any:
        return await model_request(model, messages)

    return System("pydantic-ai FallbackModel", None, aio)  # its models are async; its sync API runs a loop a call


def langchain_system(base_url: str, primary: str, backup: str | None) -> System:
    """LangChain's ChatOpenAI with ``with_fallbacks``."""
    from langchain_openai import ChatOpenAI

    def chat(name: str) -> Any:
        return ChatOpenAI(model=name, base_url=base_url, api_key=KEY, max_retries=0, timeout=TIMEOUT)  # type: ignore[arg-type]

    runnable = chat(primary).with_fallbacks([chat(backup)]) if backup else chat(primary)
    return System("LangChain with_fallbacks", lambda: runnable.invoke(HELLO), lambda: runnable.ainvoke(HELLO))


def understudy_system(registry: Any, profile: str, stream: bool = False, name: str = "understudy") -> System:
    llm = registry.get(profile)

    def sync() -> Any:
        response = llm.completion(messages=HELLO, stream=stream)
        return first_chunk(response) if stream else response

    async def aio() -> Any:
        response = await llm.acompletion(messages=HELLO, stream=stream)
        return await afirst_chunk(response) if stream else response

    return System(name, sync, aio)


FIRST_CHUNK_AT: contextvars.ContextVar[float | None] = contextvars.ContextVar("first", default=None)


def first_chunk(stream: Any) -> Any:
    """A stream's first chunk, its time noted (the latency measured is to it); the rest is read, to free the
    connection for the next call."""
    chunks = iter(stream)
    chunk = next(chunks)
    FIRST_CHUNK_AT.set(time.perf_counter())
    for _ in chunks:
        pass
    return chunk


async def afirst_chunk(stream: Any) -> Any:
    chunk = await stream.__anext__()
    FIRST_CHUNK_AT.set(time.perf_counter())
    async for _ in stream:
        pass
    return chunk
