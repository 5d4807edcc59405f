"""Typed call signatures: ``completion(mesages=...)`` is a type error, not a runtime surprise."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, get_type_hints

import pytest

from understudy.calls.args import CompletionArgs

if TYPE_CHECKING:
    from pathlib import Path

mypy_api = pytest.importorskip("mypy.api")  # the test extra installs mypy; this guards a bare environment only

AGENT = """
from understudy import LLMRegistry

llm = LLMRegistry().get("gpt-4o")
llm.completion(messages=[{"role": "user", "content": "hi"}], tools=[], stream=False, temperature=0.2)
llm.completion(mesages=[{"role": "user", "content": "hi"}])
llm.completion(messages=[{"role": "user", "content": "hi"}], stream="yes")
"""


def test_a_misspelt_or_mistyped_argument_is_a_type_error(tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(textwrap.dedent(AGENT))
    config = tmp_path / "mypy.ini"
    # Only understudy's own signatures matter here: its dependencies are skipped (read as Any), which keeps the
    # check to a second or two.
    config.write_text(
        "[mypy]\nfollow_imports = silent\nignore_missing_imports = True\nincremental = False\n"
        "[mypy-pydantic.*,pydantic_core.*,pluggy.*,platformdirs.*,litellm.*,openai.*,httpx.*]\nfollow_imports = skip\n"
    )
    out, _, status = mypy_api.run([str(agent), "--config-file", str(config), "--no-error-summary"])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1
    assert [line.split(":")[1] for line in errors] == ["6", "7"], out
    assert 'Unexpected keyword argument "mesages"' in out
    assert "stream" in errors[-1]


def test_every_common_litellm_argument_is_declared() -> None:
    declared = set(get_type_hints(CompletionArgs))
    common = {"messages", "tools", "tool_choice", "response_format", "stream", "stream_options", "temperature"}
    assert common <= declared
    assert not declared & {"model", "api_key", "api_base", "num_retries", "max_retries"}  # the profile owns these
