"""Keep secrets out of everything understudy prints, logs or emits."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["REDACTED", "credential_values", "is_credential_key", "redact", "redact_mapping", "scrub"]

REDACTED = "***"

# Providers echo keys back in error messages ("Incorrect API key provided: sk-abc..."); these catch the
# common shapes even when understudy never saw the key itself (a key litellm read from the environment).
_PATTERNS = (
    re.compile(r"\b(?:sk|xai|pplx)-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"\b(?:gsk|hf|r8)_[A-Za-z0-9]{10,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-~+/=]{6,}"),
    re.compile(r"(?i)(\b(?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
)


# Names of settings that hold credentials (`extra_headers = {Authorization = ...}`, `aws_secret_access_key`).
_CREDENTIAL_KEY = re.compile(r"(?i)key|secret|passw|auth|cookie|credential|token")
_URL_PASSWORD = re.compile(r"//[^/@:\s]+:([^/@\s]+)@")


def is_credential_key(name: str) -> bool:
    """True for a setting name that holds a credential (``Authorization``, ``x-api-key``, ``access_token``)."""
    # "max_tokens" counts and "api_key_env" names a variable: neither is a credential.
    lowered = name.lower()
    return bool(_CREDENTIAL_KEY.search(name)) and not lowered.endswith(("tokens", "_env"))


def credential_values(value: Any) -> list[str]:
    """Every string held under a credential-looking key in nested settings, and any password in a URL."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if is_credential_key(str(key)) and isinstance(item, str):
                found.append(item)
            else:
                found.extend(credential_values(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(credential_values(item))
    elif isinstance(value, str):
        found.extend(_URL_PASSWORD.findall(value))
    return found


def redact_mapping(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of nested settings with every credential-looking value masked, for display."""
    if isinstance(value, dict):
        return {
            k: REDACTED if is_credential_key(str(k)) and v else redact_mapping(v, secrets) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_mapping(v, secrets) for v in value]
    return redact(value, secrets) if isinstance(value, str) else value


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with the given secret values and anything shaped like an API key replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _URL_PASSWORD.sub(lambda m: m.group(0).replace(m.group(1), REDACTED), text)
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


def scrub(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """Redact ``error``'s text, and that of the errors it chains, in place; return its clean text.

    Provider errors often quote the key they rejected. understudy keeps them (in ``FallbackExhaustedError``)
    where a traceback printer would show them and the errors they were raised from, so those are cleaned
    first.
    """
    secrets = tuple(secrets)
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        _scrub_one(current, secrets)
        current = current.__cause__ or current.__context__
    return redact(str(error), secrets)


def _scrub_one(error: BaseException, secrets: tuple[str, ...]) -> None:
    text = str(error)
    if redact(text, secrets) == text:
        return
    message = getattr(error, "message", None)
    if isinstance(message, str):
        with contextlib.suppress(AttributeError):
            error.message = redact(message, secrets)  # type: ignore[attr-defined]
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
