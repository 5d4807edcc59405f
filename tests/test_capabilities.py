"""Capability-aware chains: a fallback known not to serve the request is skipped without a request."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import litellm
import pytest
from conftest import observe

from understudy import FallbackExhaustedError, ProfileError, ProfileUnfitError
from understudy.events import FallbackTriggered, ProfileSkipped
from understudy.testing import ContextLengthExceeded, ServerError

if TYPE_CHECKING:
    from conftest import WriteProfile

    from understudy import LLMRegistry
    from understudy.testing import FakeProvider

LONG: Any = [{"role": "user", "content": "lorem ipsum dolor " * 3000}]  # about 9,000 tokens
SHORT: Any = [{"role": "user", "content": "hello"}]
TOOLS: Any = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
IMAGE: Any = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    }
]
# A model litellm knows to take no tools, images or schemas: registered through litellm's public API.
PLAIN_MODEL = "understudy-test-plain-model"
litellm.register_model(
    {
        PLAIN_MODEL: {
            "litellm_provider": "openai",
            "mode": "chat",
            "max_input_tokens": 100_000,
            "supports_function_calling": False,
            "supports_vision": False,
            "supports_response_schema": False,
        }
    }
)


def call(registry: LLMRegistry, asynchronous: bool, messages: Any, **kwargs: Any) -> Any:
    llm = registry.get("main")
    if asynchronous:
        return asyncio.run(llm.acompletion(messages=messages, **kwargs))
    return llm.completion(messages=messages, **kwargs)


both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


@both
def test_a_context_window_error_goes_straight_to_a_profile_that_holds_the_prompt(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider, asynchronous: bool
) -> None:
    fake_profile("main", fallbacks={"ContextWindowExceededError": ["small", "gpt4", "big"]})
    fake_profile("small", max_input_tokens=4096)  # the profile says its window
    fake_profile("gpt4", model="gpt-4")  # litellm's map says 8,192
    fake_profile("big")
    fake_provider.script("main", ContextLengthExceeded())
    events = observe(registry)

    response = call(registry, asynchronous, LONG)

    assert response.choices[0].message.content == "ok"
    requests = {m: fake_provider.requests(m) for m in ("main", "small", "gpt-4", "big")}
    assert requests == {"main": 1, "small": 0, "gpt-4": 0, "big": 1}
    skipped = [(e.profile, e.error_type, e.reason) for e in events if isinstance(e, ProfileSkipped)]
    assert [s[:2] for s in skipped] == [("small", "ProfileUnfitError"), ("gpt4", "ProfileUnfitError")]
    assert skipped[0][2].endswith("tokens and its context window holds 4096")
    assert skipped[1][2].endswith("tokens and its context window holds 8192")
    assert [e.to_profile for e in events if isinstance(e, FallbackTriggered)] == ["big"]


def test_a_prompt_that_fits_is_sent_to_the_small_fallback(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["small"]})
    fake_profile("small", max_input_tokens=4096)
    fake_provider.script("main", ServerError(503))

    assert call(registry, False, SHORT).choices[0].message.content == "ok"
    assert fake_provider.requests("small") == 1


@pytest.mark.parametrize(
    ("kwargs", "messages", "says"),
    [
        ({"tools": TOOLS}, SHORT, "the request has tools and the model does not take them"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}}, SHORT, "schema"),
        ({}, IMAGE, "the request has images and the model does not take them"),
    ],
    ids=["tools", "json-schema", "image"],
)
def test_a_fallback_known_not_to_take_what_the_request_needs_is_skipped(
    fake_profile: WriteProfile,
    registry: LLMRegistry,
    fake_provider: FakeProvider,
    kwargs: dict[str, Any],
    messages: Any,
    says: str,
) -> None:
    fake_profile("main", fallbacks={"*": ["plain", "able"]})
    fake_profile("plain", model=PLAIN_MODEL)
    fake_profile("able")
    fake_provider.script("main", ServerError(503))
    events = observe(registry)

    call(registry, False, messages, **kwargs)

    assert (fake_provider.requests(PLAIN_MODEL), fake_provider.requests("able")) == (0, 1)
    reasons = [e.reason for e in events if isinstance(e, ProfileSkipped)]
    assert len(reasons) == 1 and says in reasons[0]


def test_a_model_litellm_does_not_know_is_always_tried(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["local"]})
    fake_profile("local", model="local-llama-3.1-8b")
    fake_provider.script("main", ServerError(503))

    call(registry, False, LONG, tools=TOOLS)

    assert fake_provider.requests("local-llama-3.1-8b") == 1


def test_when_no_fallback_can_serve_the_call_fails_with_each_reason(
    fake_profile: WriteProfile, registry: LLMRegistry, fake_provider: FakeProvider
) -> None:
    fake_profile("main", fallbacks={"*": ["small"]})
    fake_profile("small", max_input_tokens=1000)
    fake_provider.script("main", ContextLengthExceeded())

    with pytest.raises(FallbackExhaustedError) as caught:
        call(registry, False, LONG)

    assert [type(a.error) for a in caught.value.attempts][-1] is ProfileUnfitError
    assert "small: ProfileUnfitError (profile 'small' skipped: the prompt is" in str(caught.value)
    assert caught.value.__cause__ is not None and "ContextWindowExceeded" in type(caught.value.__cause__).__name__


def test_a_bad_max_input_tokens_names_the_file_the_field_and_the_fix(
    write_profile: WriteProfile, registry: LLMRegistry
) -> None:
    write_profile("main", model="openai/gpt-4o", max_input_tokens=0)

    with pytest.raises(ProfileError) as caught:
        registry.get("main")

    assert caught.value.field == "max_input_tokens"
    assert "a whole number from 1 to" in str(caught.value)
