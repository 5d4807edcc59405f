"""The arguments of a call: litellm's chat-completion keywords, typed, so that a typo is a type error.

``LLM.completion(**kwargs: Unpack[CompletionArgs])`` shows type checkers and IDEs what a call takes:
``completion(mesages=...)`` is an error before it runs. The profile owns the model, endpoint, key and retries;
they are not here. A litellm argument not listed can still be passed through ``extra_body`` (sent to the
provider as is) or set in the profile's ``params``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Required, TypedDict

__all__ = ["CompletionArgs", "Message"]

Message = Mapping[str, Any]
"""One chat message, e.g. ``{"role": "user", "content": "Hello"}``."""


class CompletionArgs(TypedDict, total=False):
    """What ``completion`` / ``acompletion`` take, with litellm's meaning. Only ``messages`` is required."""

    messages: Required[Sequence[Message]]
    stream: bool
    stream_options: Mapping[str, Any]
    tools: Sequence[Mapping[str, Any]]
    tool_choice: str | Mapping[str, Any]
    parallel_tool_calls: bool
    response_format: Mapping[str, Any] | type[Any]
    temperature: float
    top_p: float
    top_k: int
    n: int
    stop: str | Sequence[str]
    max_tokens: int
    max_completion_tokens: int
    presence_penalty: float
    frequency_penalty: float
    logit_bias: Mapping[str, float]
    logprobs: bool
    top_logprobs: int
    seed: int
    user: str
    metadata: Mapping[str, Any]
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | str
    thinking: Mapping[str, Any]
    modalities: Iterable[str]
    audio: Mapping[str, Any]
    prediction: Mapping[str, Any]
    web_search_options: Mapping[str, Any]
    service_tier: str
    safety_settings: Sequence[Mapping[str, Any]]
    extra_headers: Mapping[str, str]
    extra_body: Mapping[str, Any]
    timeout: float
    drop_params: bool
    deadline: float  # understudy's: seconds for the whole call, retries and fallbacks included
    max_attempts: int  # understudy's: model calls for the whole call (a stream restart counts afresh)
    on_interrupt: Literal["raise", "restart", "continue"]  # understudy's: what a stream cut after chunks does
