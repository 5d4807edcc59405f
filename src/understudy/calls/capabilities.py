"""Whether a model can serve a request at all: a fallback known not to is skipped without a request.

A fallback is passed over when litellm's model map (or the profile) says that the request cannot work there:
the prompt does not fit its context window (``max_input_tokens`` of the profile, else of the model), or the
request carries tools, images or a JSON schema the model is known not to take. Only what is *known* counts:
a model litellm has no entry for is always tried. So a context-window error from the primary goes straight to
a profile that holds the prompt.

A request that ends with a partial answer for the model to go on from (an assistant message with
``"prefix": true``, as ``on_interrupt = "continue"`` sends) is the exception: it goes only to a model known
to take a prefill (the profile's ``assistant_prefill``, else litellm's ``supports_assistant_prefill``), as
one that does not would answer afresh, and that answer would be glued onto the partial one.

What is known is read from litellm's model map only (``litellm.model_cost``, which ``register_model`` extends):
``get_model_info`` would ask some providers over the network (Ollama, Hugging Face), outside any deadline.

Counting tokens costs milliseconds (and its first use in a process loads a tokenizer), so it is done only when
the prompt could possibly be too long: a byte-level BPE never makes more tokens than the UTF-8 bytes it reads.
Images break that bound (a few bytes of URL stand for hundreds of tokens), so a prompt with images is always
counted, each image at litellm's default count (no image is fetched).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from understudy.calls import backend
from understudy.calls.continuations import constraint

if TYPE_CHECKING:
    from understudy.profiles.profile import Profile

__all__ = ["unfit"]

_OVERHEAD_PER_MESSAGE = 8  # role and separators: generous, so that the shortcut is never wrong


def unfit(profile: Profile, request: dict[str, Any]) -> str | None:
    """Why ``profile``'s model cannot serve ``request``, or None when it may (or nobody knows)."""
    info = _model_info(profile.model)
    limit = profile.max_input_tokens or info.get("max_input_tokens")
    messages = request.get("messages") or []
    images = _has_image(messages)
    if isinstance(limit, int) and limit > 0 and (images or _bytes(messages, request.get("tools")) > limit):
        tokens = _tokens(profile.model, messages, request.get("tools"))
        if tokens is not None and tokens > limit:
            return f"the prompt is {tokens} tokens and its context window holds {limit}"
    if request.get("tools") and info.get("supports_function_calling") is False:
        return "the request has tools and the model does not take them"
    if _schema(request.get("response_format")) and info.get("supports_response_schema") is False:
        return "the request asks for a JSON schema and the model does not take one"
    if images and info.get("supports_vision") is False:
        return "the request has images and the model does not take them"
    if _prefilled(messages):
        return _cannot_go_on(profile, info)
    return None


def _cannot_go_on(profile: Profile, info: dict[str, Any]) -> str | None:
    """Why ``profile`` cannot go on from a partial answer (the request's prefill), or None when it can."""
    takes = profile.assistant_prefill
    if takes is False:
        return "the request goes on from a partial answer and its profile says assistant_prefill = false"
    if takes is None and info.get("supports_assistant_prefill") is not True:
        return (
            "the request goes on from a partial answer and the model is not known to take an assistant prefill; "
            "set assistant_prefill = true in its profile if it does"
        )
    constrained = constraint(profile.params)
    if constrained is not None:
        return f"the request goes on from a partial answer and the profile's params constrain it ({constrained})"
    return None


def _prefilled(messages: Any) -> bool:
    last = messages[-1] if isinstance(messages, list) and messages else None
    return isinstance(last, dict) and last.get("role") == "assistant" and last.get("prefix") is True


def _model_info(model: str) -> dict[str, Any]:
    """litellm's map entry for ``model`` (``provider/name`` or ``name``); empty when it has none."""
    known = backend.litellm().model_cost
    entry = known.get(model)
    if entry is None and "/" in model:
        entry = known.get(model.split("/", 1)[1])
    return dict(entry) if isinstance(entry, dict) else {}


def _bytes(messages: Any, tools: Any) -> int:
    try:
        text = json.dumps(messages, ensure_ascii=False, default=str) + json.dumps(tools or [], default=str)
    except (TypeError, ValueError):
        return 1 << 62  # unknown shape: count the tokens
    return len(text.encode()) + _OVERHEAD_PER_MESSAGE * len(messages)


def _tokens(model: str, messages: Any, tools: Any) -> int | None:
    try:
        counted = backend.litellm().token_counter(
            model=model, messages=messages, tools=tools or None, use_default_image_token_count=True
        )
    except Exception:
        return None
    return counted if isinstance(counted, int) else None


def _schema(response_format: Any) -> bool:
    return isinstance(response_format, type) or (
        isinstance(response_format, dict) and response_format.get("type") == "json_schema"
    )


def _has_image(messages: Any) -> bool:
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return True
    return False
