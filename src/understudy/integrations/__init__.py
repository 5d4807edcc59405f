"""Integrations with the agent SDKs people already run, one module per SDK: ``litellm`` (a litellm provider,
``understudy/<profile>``) and ``openai`` (an httpx transport for the openai client). Nothing here is imported
by ``import understudy``; docs/integrations.md shows the lines a user adds."""
