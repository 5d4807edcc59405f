"""Integrations with the agent SDKs people already run, one module per SDK: ``litellm`` (a litellm provider,
``understudy/<profile>``), ``openai`` (an httpx transport for the openai client) and ``llm`` (a simonw/llm plugin,
extra ``[llm]``). Nothing here is imported by ``import understudy``; docs/integrations.md shows the lines a user
adds."""
