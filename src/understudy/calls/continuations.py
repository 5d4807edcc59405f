"""What ``on_interrupt = "continue"`` sends and how it joins: the prefill request, and the seam.

A continuation is the call's request with the text so far as its last message, an assistant prefill
(``{"role": "assistant", "content": ..., "prefix": true}``); a request that ended with the caller's own
prefill has that message extended instead. The prefill goes without its trailing whitespace (Anthropic
refuses it, and litellm strips it), and a ``max_tokens`` of the call is lowered by what was said already.

Where the continuation's text meets what the caller has (the *seam*), providers differ: some send the prefill
back first (Mistral), and a model given a prefill without its trailing whitespace writes that whitespace
again. ``Seam`` holds the continuation's first chunks until it can tell, and drops what repeats.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any, Final

from understudy.calls import backend

__all__ = [
    "Seam",
    "caller_prefix",
    "constraint",
    "content_of",
    "continuable",
    "finishes",
    "prefill_request",
    "split_finish",
]

_FREE_FORMATS: Final = (None, {"type": "text"})


def constraint(params: dict[str, Any]) -> str | None:
    """What in these call arguments constrains the answer's shape (so no other model may go on from a part
    of it): a response format, a forced tool choice, several choices. None when nothing does."""
    sent = {**params, **(params.get("extra_body") or {})}
    if sent.get("response_format") not in _FREE_FORMATS:
        return "response_format"
    if sent.get("tool_choice") not in (None, "auto", "none"):
        return "tool_choice"
    if isinstance(sent.get("n"), int) and sent["n"] > 1:
        return "n"
    return None


def continuable(kwargs: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether a cut answer to this request (``kwargs``, with the primary profile's ``params`` under them)
    may be continued: not when its shape is constrained, nor when it already ends with an assistant turn
    that is not a prefill."""
    last = _last(kwargs)
    plain_turn = isinstance(last, dict) and last.get("role") == "assistant" and last.get("prefix") is not True
    return constraint({**params, **kwargs}) is None and not plain_turn


def caller_prefix(kwargs: dict[str, Any]) -> str:
    """The caller's own prefill (the text its last message starts the answer with), or ``""``."""
    last = _last(kwargs)
    if isinstance(last, dict) and last.get("role") == "assistant" and last.get("prefix") is True:
        content = last.get("content")
        return content if isinstance(content, str) else ""
    return ""


def prefill_request(kwargs: dict[str, Any], prefix: str, said: str, model: str) -> dict[str, Any] | None:
    """The continuation's request: ``kwargs`` ending with ``prefix + said`` as a prefill, its ``max_tokens``
    lowered by ``said``; None when ``said`` used up the call's ``max_tokens`` already."""
    messages = list(kwargs.get("messages") or ())
    if prefix:
        messages.pop()  # the caller's own prefill, extended below
    messages.append({"role": "assistant", "content": (prefix + said).rstrip(), "prefix": True})
    request = {**kwargs, "messages": messages}
    for key in ("max_tokens", "max_completion_tokens"):
        limit = request.get(key)
        if isinstance(limit, int) and not isinstance(limit, bool):
            left = limit - _tokens(said, model)
            if left < 1:
                return None
            request[key] = left
    return request


class Seam:
    """The start of a continuation, held until it shows whether the provider sent the prefill back or wrote
    its trailing whitespace again; what repeats is dropped from the chunks handed out."""

    def __init__(self, prefill: str) -> None:
        self._sent = prefill.rstrip()
        self._whitespace = prefill[len(self._sent) :]
        self._held: list[Any] = []
        self._text = ""

    def take(self, chunk: Any) -> list[Any] | None:
        """None while the seam is undecided (the chunk is held); else the chunks to hand out."""
        self._held.append(chunk)
        self._text += content_of(chunk) or ""
        choices: Any = getattr(chunk, "choices", None) or ()
        calls_tools = bool(choices) and bool(getattr(getattr(choices[0], "delta", None), "tool_calls", None))
        repeat = self._repeat(final=finishes(chunk) or calls_tools)  # either way, no more text comes
        return None if repeat is None else self._release(repeat)

    def flush(self) -> list[Any]:
        """The continuation ended while the seam was undecided: what it held, what repeats dropped."""
        return self._release(self._repeat(final=True) or 0)

    def _repeat(self, *, final: bool) -> int | None:
        """How many characters at the start repeat what the caller has; None: cannot tell yet."""
        text, sent, whitespace = self._text, self._sent, self._whitespace
        echoed = 0
        if sent:
            if len(text) < len(sent) and sent.startswith(text) and not final:
                return None
            if text.startswith(sent):
                echoed = len(sent)
        rest = text[echoed:]
        if whitespace and len(rest) < len(whitespace) and whitespace.startswith(rest) and not final:
            return None
        return echoed + _shared_start(rest, whitespace)

    def _release(self, drop: int) -> list[Any]:
        held, self._held = self._held, []
        for chunk in held:
            content = content_of(chunk)
            if drop and content:
                chunk.choices[0].delta.content = content[drop:]
                drop = max(0, drop - len(content))
        return held


def split_finish(chunk: Any) -> tuple[Any | None, Any]:
    """A finish chunk that carries text, as (the text without the finish, the finish without the text);
    (None, chunk) when it carries none."""
    content = content_of(chunk)
    if not content:
        return None, chunk
    text = copy.deepcopy(chunk)
    text.choices[0].finish_reason = None
    if getattr(text, "usage", None) is not None:
        text.usage = None  # counted once, on the finish
    chunk.choices[0].delta.content = ""
    return text, chunk


def finishes(chunk: Any) -> bool:
    """Whether the chunk carries a finish reason."""
    choices: Any = getattr(chunk, "choices", None) or ()
    return bool(choices) and getattr(choices[0], "finish_reason", None) is not None


def content_of(chunk: Any) -> str | None:
    choices: Any = getattr(chunk, "choices", None) or ()
    content = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
    return content if isinstance(content, str) else None


def _shared_start(text: str, other: str) -> int:
    """How many characters ``text`` and ``other`` start with alike."""
    return sum(1 for _ in itertools.takewhile(lambda pair: pair[0] == pair[1], zip(text, other, strict=False)))


def _last(kwargs: dict[str, Any]) -> Any:
    messages = kwargs.get("messages")
    return messages[-1] if isinstance(messages, list) and messages else None


def _tokens(text: str, model: str) -> int:
    if not text:
        return 0
    try:
        counted = backend.litellm().token_counter(model=model, text=text)
    except Exception:
        return len(text.encode()) // 4 + 1  # about four bytes a token, where litellm cannot count
    return counted if isinstance(counted, int) else 0
