"""understudy as a plugin for simonw's ``llm`` command line: one model per profile, ``understudy/<profile>``.

Install it beside llm, and every profile on understudy's search path is an llm model::

    pip install 'understudy[llm]'
    llm models                                  # lists understudy/<profile> for each profile
    llm -m understudy/gpt-4o "Hello"            # streams; --no-stream, -s SYSTEM, -o temperature 0.2 ...
    llm -c "And then?"                          # continues the conversation; llm chat -m understudy/gpt-4o too
    llm logs --json -n 1                        # usage, and response_json.served_by: the profile that answered

llm finds the plugin through the entry point ``understudy`` in its group ``llm``. Profiles come from understudy's
default search path (``UNDERSTUDY_PROFILES_PATH``, else ``./profiles`` and the user's config dir); listing them
reads no file, so a broken profile only fails a prompt sent to it. Each prompt runs
``LLMRegistry().get(profile).completion(...)`` (``acompletion`` for llm's async models) with the profile's whole
fallback chain, its retries (llm retries nothing itself), events and per-profile stats.

What llm records: the provider's real token counts (``set_usage``; a stream asks for them with
``stream_options.include_usage``), and in the response's JSON ``served_by`` (the profile that answered),
``fallback`` (whether that was not the profile asked for), the provider's ``model`` and ``finish_reason``.
When every profile failed, the prompt raises ``llm.ModelError`` with one line per attempt, which llm prints as a
short ``Error:``; a broken or unknown profile raises ``llm.ModelError`` too.

Conversations send the whole history: on llm 0.32 and later the chain llm builds (``prompt.messages``), on
earlier releases the conversation's previous prompts and answers. Tools, schemas and attachments are not offered.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import llm
from pydantic import Field

from understudy.calls.responses import served_by
from understudy.calls.restarts import seamless
from understudy.errors import FallbackExhaustedError, UnderstudyError
from understudy.profiles.search_path import default_search_path
from understudy.registry import LLMRegistry

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterator

    from understudy.calls.llm import LLM

__all__ = ["PREFIX", "UnderstudyAsyncModel", "UnderstudyModel", "default_registry", "register_models"]

PREFIX: Final = "understudy/"
"""The model id of profile ``NAME`` is ``understudy/NAME``."""

logger = logging.getLogger("understudy")

_lock = threading.Lock()
_shared: LLMRegistry | None = None
_MESSAGE_WIDTH: Final = 200  # one attempt's error, on one line of the llm command's output


def default_registry() -> LLMRegistry:
    """The registry every ``understudy/<profile>`` model calls through, on understudy's default search path.

    One per process, so that ``llm chat`` books its stats in one place; made anew when the search path changes
    (``UNDERSTUDY_PROFILES_PATH`` set to another directory).
    """
    global _shared
    paths = tuple(default_search_path())
    with _lock:
        if _shared is None or _shared.store.paths != paths:
            _shared = LLMRegistry()
        return _shared


@llm.hookimpl
def register_models(register: Callable[..., None]) -> None:
    """llm's hook: a sync and an async model for every profile name. Reads no profile file."""
    try:
        names = default_registry().store.names()
    except Exception as exc:  # an understudy plugin's names hook failing must not break every llm command
        logger.warning(
            "understudy could not list its profiles, so it registers no model: %s: %s", type(exc).__name__, exc
        )
        return
    for name in names:
        register(UnderstudyModel(name), UnderstudyAsyncModel(name))


class _Options(llm.Model.Options):  # a subclass of what llm's models declare, for mypy
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature, 0 to 2.")
    max_tokens: int | None = Field(default=None, gt=0, description="The most tokens the answer may have.")


class _ProfileModel:
    """What the sync and the async model share: the profile's name, and the registry whose LLM runs it.

    Args:
        profile: the profile a prompt calls first.
        registry: where its LLM comes from (default: ``default_registry()``, looked up at each prompt).
    """

    model_id: str
    can_stream = True
    needs_key: str | None = None  # the profile holds the key

    def __init__(self, profile: str, registry: LLMRegistry | None = None) -> None:
        self.profile = profile
        self.model_id = f"{PREFIX}{profile}"
        self._registry = registry

    def _llm(self) -> LLM:
        registry = self._registry if self._registry is not None else default_registry()
        with _as_model_error():
            return registry.get(self.profile)

    def __str__(self) -> str:
        return f"understudy: {self.model_id}"


class UnderstudyModel(_ProfileModel, llm.Model):
    """``understudy/<profile>`` for llm's sync API and the ``llm`` command: runs the profile's fallback chain."""

    Options = _Options

    def execute(
        self,
        prompt: llm.Prompt,
        stream: bool,
        response: llm.Response,
        conversation: llm.Conversation | None,
    ) -> Iterator[str]:
        target, tally = self._llm(), _Tally()
        with _as_model_error():
            answer = target.completion(**seamless(_call(prompt, conversation, stream), target.profile))
            for part in answer if stream else [answer]:
                text = tally.add(part)
                if text:
                    yield text
        tally.record(response, asked=self.profile, served=served_by(answer))


class UnderstudyAsyncModel(_ProfileModel, llm.AsyncModel):
    """The async twin of ``UnderstudyModel`` (``llm.get_async_model``, ``llm --async``): awaits ``acompletion``."""

    Options = _Options

    async def execute(
        self,
        prompt: llm.Prompt,
        stream: bool,
        response: llm.AsyncResponse,
        conversation: llm.AsyncConversation | None,
    ) -> AsyncGenerator[str]:
        target, tally = self._llm(), _Tally()
        with _as_model_error():
            answer = await target.acompletion(**seamless(_call(prompt, conversation, stream), target.profile))
            if not stream:
                yield tally.add(answer)
            else:
                async for chunk in answer:
                    text = tally.add(chunk)
                    if text:
                        yield text
        tally.record(response, asked=self.profile, served=served_by(answer))


# -- a prompt in, a litellm call out ------------------------------------------------------------------------------


def _call(prompt: llm.Prompt, conversation: Any, stream: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"messages": _messages(prompt, conversation)}
    kwargs.update({key: value for key, value in dict(prompt.options).items() if value is not None})
    if stream:
        kwargs.update(stream=True, stream_options={"include_usage": True})
    return kwargs


def _messages(prompt: llm.Prompt, conversation: Any) -> list[dict[str, str]]:
    """The chat messages of a prompt, the conversation's history first."""
    if hasattr(prompt, "messages"):  # llm 0.32+: the whole chain, history included; -c history lives only here
        from llm.parts import TextPart

        chain = (
            (message.role, "".join(part.text for part in message.parts if isinstance(part, TextPart)))
            for message in prompt.messages
        )
        return [{"role": role, "content": text} for role, text in chain]
    messages: list[dict[str, str]] = []
    system: str | None = None
    for previous in conversation.responses if conversation is not None else ():
        system = _system(messages, previous.prompt.system, system)
        messages.append({"role": "user", "content": previous.prompt.prompt or ""})
        messages.append({"role": "assistant", "content": previous.text_or_raise()})
    _system(messages, prompt.system, system)
    messages.append({"role": "user", "content": prompt.prompt or ""})
    return messages


def _system(messages: list[dict[str, str]], system: str | None, current: str | None) -> str | None:
    """Add a system message when the system prompt changed (llm sends it with a conversation's first prompt)."""
    if system and system != current:
        messages.append({"role": "system", "content": system})
        return system
    return current


class _Tally:
    """What llm records of one answer, gathered from litellm's response or from its stream's chunks."""

    def __init__(self) -> None:
        self.usage: Any = None
        self.model: str | None = None
        self.finish_reason: str | None = None

    def add(self, part: Any) -> str:
        """Take in a response or a stream chunk; return its text."""
        usage = getattr(part, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            self.usage = usage  # a stream's usage rides on its last chunk
        self.model = getattr(part, "model", None) or self.model
        choice = (getattr(part, "choices", None) or [None])[0]
        self.finish_reason = getattr(choice, "finish_reason", None) or self.finish_reason
        text = getattr(getattr(choice, "message", None) or getattr(choice, "delta", None), "content", None)
        return text if isinstance(text, str) else ""

    def record(self, response: llm.Response | llm.AsyncResponse, *, asked: str, served: str | None) -> None:
        """The provider's token counts, and who served in the response JSON that ``llm logs`` shows."""
        if self.usage is not None:
            response.set_usage(input=self.usage.prompt_tokens, output=self.usage.completion_tokens)
        set_resolved_model = getattr(response, "set_resolved_model", None)  # llm 0.27+
        if callable(set_resolved_model) and self.model:
            set_resolved_model(self.model)  # the provider's name for the model that answered, as llm's own plugins
        response.response_json = {
            "served_by": served,
            "fallback": served is not None and served != asked,
            "model": self.model,
            "finish_reason": self.finish_reason,
        }


# -- failures -------------------------------------------------------------------------------------------------


@contextmanager
def _as_model_error() -> Iterator[None]:
    """understudy's errors as ``llm.ModelError``, which llm shows the user as a message, not a traceback."""
    try:
        yield
    except FallbackExhaustedError as exc:
        raise llm.ModelError(_exhausted_message(exc)) from exc
    except UnderstudyError as exc:  # a broken or unknown profile; a stream that broke after its first chunk
        raise llm.ModelError(str(exc)) from exc


def _exhausted_message(error: FallbackExhaustedError) -> str:
    """A line saying every profile failed, then one per attempt, in order: profile, error type, redacted message."""
    lines = [f"every profile failed for {PREFIX}{error.primary}:"]
    for number, attempt in enumerate(error.attempts, 1):
        what = attempt.error_type if attempt.loaded else f"not loaded, {attempt.error_type}"
        text = " ".join(attempt.message.split())
        if len(text) > _MESSAGE_WIDTH:
            text = text[: _MESSAGE_WIDTH - 3] + "..."
        lines.append(f"  {number}. {attempt.profile}: {what}" + (f" ({text})" if text else ""))
    return "\n".join(lines)
