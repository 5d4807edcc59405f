"""Integrations with the agent SDKs people already run, one module per SDK: ``litellm`` (a litellm provider,
``understudy/<profile>``; reaches OpenAI Agents' ``LitellmModel``, LangChain's ``ChatLiteLLM`` ...), ``openai`` (an
httpx transport for the openai client; reaches ``OpenAIChatCompletionsModel``, ``ChatOpenAI`` ...), ``pydantic_ai``
(a pydantic-ai model over that transport, extra ``[pydantic-ai]``) and ``llm`` (a simonw/llm plugin, extra
``[llm]``). Nothing here is imported by ``import understudy``; docs/integrations.md shows the lines a user adds."""
