"""understudy behind pydantic-ai: an ``OpenAIChatModel`` whose requests run an understudy profile, in-process.

What a user adds (extra ``understudy[pydantic-ai]``)::

    from pydantic_ai import Agent
    from understudy.integrations.pydantic_ai import model

    agent = Agent(model("gpt-4o"), output_type=Answer, tools=[...])  # or model("gpt-4o", my_registry)

Every model request pydantic-ai makes (each turn of a tool loop, a stream, a structured-output call) goes through
understudy's openai transport (``understudy.integrations.openai.async_client``) to
``registry.get("gpt-4o").acompletion(...)``, with the profile's whole fallback chain, so the events and per-profile
stats are the core API's. ``run``, ``run_sync`` and ``run_stream`` all work; no server, port or key.

What the caller sees:

- **A served call**: pydantic-ai's usual result, from whichever profile served it; ``result.usage`` (a property)
  holds the providers' own token counts (``input_tokens``, ``output_tokens``), summed over the run's requests, for
  ``run_stream`` too (pydantic-ai asks for the usage chunk). A response's ``provider_name`` is ``"understudy"``
  and its ``model_name`` the provider's name for the model that answered.
- **A stream** falls back before its first chunk; one that breaks after it raises ``ModelHTTPError`` (status 500,
  ``in_stream`` set, ``body["code"] == "stream_interrupted"``), never a silently shorter answer.
- **An exhausted chain**: ``pydantic_ai.exceptions.ModelHTTPError`` with the HTTP status of the last error (429
  for a chain ending on a rate limit, so it is also a ``ModelRateLimitError``; 503 ...). Its ``body`` is the
  transport's OpenAI-style error: ``body["message"]`` names every profile tried and ``body["attempts"]`` lists
  them. An unknown profile raises ``ProfileNotFoundError`` from ``model()`` itself.

Retries stay single: understudy retries each profile as its ``num_retries`` says. The openai client under the
model has ``max_retries=0``, and every error answer carries ``x-should-retry: false``, so a ``max_retries`` in
pydantic-ai's model settings does not repeat an exhausted chain either. pydantic-ai makes no retry of its own
for a failed request (its ``retries`` re-ask the model after a bad tool call or output: a new request).

Capabilities: pydantic-ai shapes each request from a model profile (whether ``temperature`` may be sent, which
output modes work, the JSON schema dialect). ``model()`` gives it the profile of the understudy profile's primary
model (its ``model``, e.g. ``openai/o3-mini``: a reasoning model, so sampling settings are dropped) as for any
OpenAI-compatible endpoint, never one guessed from the profile's name; the request's ``model`` stays the profile
name. It is read once, when ``model()`` is called. ``context_window`` stays unset: a chain has no single one.
"""

from __future__ import annotations

from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.profiles import ModelProfile, merge_profile
from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

from understudy.integrations.openai import async_client
from understudy.registry import LLMRegistry

__all__ = ["PROVIDER_NAME", "model"]

PROVIDER_NAME = "understudy"
"""The pydantic-ai provider name: every response's ``provider_name``."""


def model(profile: str, registry: LLMRegistry | None = None) -> OpenAIChatModel:
    """A pydantic-ai model that runs understudy profile ``profile``, falling back as the profile says.

    Args:
        profile: the understudy profile to call.
        registry: whose profiles answer, and where events and stats go (default: ``LLMRegistry()``, the default
            search path).

    Raises:
        ProfileNotFoundError: no such profile.
        ProfileError: its file is invalid.
    """
    registry = registry if registry is not None else LLMRegistry()
    primary = registry.get(profile).profile.model
    capabilities = merge_profile(OpenAICompatibleProvider.model_profile(primary), ModelProfile(context_window=None))
    provider = OpenAICompatibleProvider(
        PROVIDER_NAME, openai_client=async_client(registry), profile=lambda _name: capabilities
    )
    return OpenAIChatModel(profile, provider=provider)
