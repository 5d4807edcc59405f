"""A real HTTP fake of LLM providers, for tests of code that calls litellm.

Script what each model does, point litellm at the provider, and check what it received::

    import litellm
    from understudy.testing import FakeProvider, RateLimit, Reply

    with FakeProvider() as provider:
        provider.script("gpt-4o-mini", RateLimit(retry_after=0.01), Reply("hi"))
        call = dict(model="openai/gpt-4o-mini", api_base=provider.base_url, api_key="sk-fake",
                    messages=[{"role": "user", "content": "hello"}], num_retries=0, max_retries=0)
        try:
            litellm.completion(**call)           # raises litellm.RateLimitError
        except litellm.RateLimitError:
            pass
        litellm.completion(**call)               # answers "hi"
        assert provider.requests("gpt-4o-mini") == 2

The provider speaks OpenAI's chat completions (``base_url``), Azure OpenAI's deployments
(``azure_base_url``), Anthropic's Messages (``anthropic_base_url``) and Gemini's generateContent
(``gemini_base_url``). Each request pops the next behaviour queued for its model; an empty queue falls
back to the model's :meth:`~FakeProvider.default` (``Reply()`` unless set). With pytest, the
``fake_provider`` fixture gives a started provider. Importing this module does not import litellm.
"""

from __future__ import annotations

from understudy.testing._behaviours import (
    AzureContentFilter,
    Behaviour,
    ContentFiltered,
    ContentPolicyViolation,
    ContextLengthExceeded,
    DropConnection,
    HTTPError,
    MalformedChunk,
    Overloaded,
    PromptTooLong,
    QuotaExceeded,
    RateLimit,
    Refusal,
    Reply,
    SafetyBlock,
    ServerError,
    Slow,
    Stall,
    StreamFailure,
    Unterminated,
)
from understudy.testing._provider import FakeProvider

__all__ = [
    "AzureContentFilter",
    "Behaviour",
    "ContentFiltered",
    "ContentPolicyViolation",
    "ContextLengthExceeded",
    "DropConnection",
    "FakeProvider",
    "HTTPError",
    "MalformedChunk",
    "Overloaded",
    "PromptTooLong",
    "QuotaExceeded",
    "RateLimit",
    "Refusal",
    "Reply",
    "SafetyBlock",
    "ServerError",
    "Slow",
    "Stall",
    "StreamFailure",
    "Unterminated",
]
