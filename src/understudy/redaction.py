"""Keep secrets out of everything understudy prints, logs or emits."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["REDACTED", "redact"]

REDACTED = "***"

# Providers echo keys back in error messages ("Incorrect API key provided: sk-abc..."); these catch the
# common shapes even when understudy never saw the key itself (a key litellm read from the environment).
_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-~+/=]{6,}"),
    re.compile(r"(?i)(\b(?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with the given secret values and anything shaped like an API key replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def _mask(match: re.Match[str]) -> str:
    # Keep a "key=" style prefix so the message still reads; drop the value.
    prefix = match.group(1) if match.re.groups else ""
    if prefix:
        return prefix + REDACTED
    if match.group(0).lower().startswith("bearer"):
        return "Bearer " + REDACTED
    return REDACTED
