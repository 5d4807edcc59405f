"""README's "Use it" snippet, run offline: the fake provider plays the models.

    python examples/offline_quickstart.py

To point profiles at the fake provider, give each the provider's ``base_url`` as ``api_base`` and any key, and
put them on the search path (``UNDERSTUDY_PROFILES_PATH``). Here ``gpt-4o`` is README's profile with its
fallback table; the fake provider rate-limits it, so the call falls back to ``claude-sonnet``.
``tests/test_readme.py`` checks that the snippet below is README's, character for character, and runs this file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from understudy.testing import FakeProvider, RateLimit, Reply

GPT_4O = """\
model = "openai/gpt-4o"
api_base = "{base_url}"              # the fake provider instead of OpenAI
api_key_env = "OPENAI_API_KEY"
timeout = 30
num_retries = 2

[fallbacks]
RateLimitError = ["claude-sonnet", "gemini-flash"]
ContextWindowExceededError = ["gemini-pro"]
BadRequestError = []
"*" = ["local-llama"]
"""

with FakeProvider() as fake, tempfile.TemporaryDirectory() as directory:
    (Path(directory) / "gpt-4o.toml").write_text(GPT_4O.format(base_url=fake.base_url))
    for name in ("claude-sonnet", "gemini-flash", "gemini-pro", "local-llama"):
        profile = f'model = "openai/{name}"\napi_base = "{fake.base_url}"\napi_key = "sk-fake"\n'
        (Path(directory) / f"{name}.toml").write_text(profile)
    os.environ["UNDERSTUDY_PROFILES_PATH"] = directory
    os.environ.setdefault("OPENAI_API_KEY", "sk-fake-openai")
    fake.default("gpt-4o", RateLimit(retry_after=0.05))  # every try of gpt-4o is rate limited
    fake.script("claude-sonnet", Reply("Hello from the understudy"))

    # --- README's snippet, as written ---
    from understudy import FallbackExhaustedError, LLMRegistry, served_by

    registry = LLMRegistry()                 # profiles from the default search path
    llm = registry.get("gpt-4o")             # what your agent holds
    registry.subscribe(lambda event: print(event.kind, event.model_dump_json()))

    try:
        response = llm.completion(messages=[{"role": "user", "content": "Hello"}])   # litellm's arguments
        print(served_by(response), response.choices[0].message.content)
    except FallbackExhaustedError as exc:     # every profile failed; exc.attempts holds each try
        print(exc)

    print(registry.stats()["gpt-4o"])        # calls, failures by type, tokens, cost, latency
    # --- end of README's snippet ---
