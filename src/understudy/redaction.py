"""Keep secrets out of everything understudy prints, logs or emits.

Three tools, from the simplest:

- :func:`redact` and :func:`redact_mapping` mask secrets in text and in settings shown to a user.
- :func:`scrub` cleans, in place, a provider error understudy keeps (in ``FallbackExhaustedError``): its
  text, its ``body``, its ``response`` and ``request`` (headers and content), every other attribute, and
  the errors it chains.
- :class:`SecretFilter`, attached by :func:`install_log_filter`, cleans the log records of litellm and of
  the HTTP clients it drives, which quote keys when their debug logging is on.

:func:`remember_secrets` gives the last two the secret values to look for, process-wide; besides them,
anything shaped like an API key is masked. Importing this module imports neither litellm nor httpx.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "REDACTED",
    "credential_values",
    "forget_secrets",
    "is_credential_key",
    "redact",
    "redact_mapping",
    "remember_secrets",
    "remembered_secrets",
    "scrub",
]

REDACTED: Final = "***"

# Providers echo keys back in error messages ("Incorrect API key provided: sk-abc..."); these catch the
# common shapes even when understudy never saw the key itself (a key litellm read from the environment).
# Each with the literal text one of its matches must hold: most text holds none of them, a substring test
# says so in well under a microsecond, and a pattern that starts with \b scans the whole text (4-5 µs
# for a provider's error line, and an error holds a few dozen strings).
_PATTERNS = (
    (re.compile(r"\b(?:sk|xai|pplx)-[A-Za-z0-9_\-]{6,}"), ("sk-", "xai-", "pplx-"), False),
    (re.compile(r"\b(?:gsk|hf|r8)_[A-Za-z0-9]{10,}"), ("gsk_", "hf_", "r8_"), False),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), ("AIza",), False),
    # Case-insensitive: tested against the lowered text, with literals free of the letters (i, s) that
    # match other characters when case is ignored.
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-~+/=]{6,}"), ("bearer",), True),
    (
        re.compile(r"(?i)(\b(?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
        ("key", "author"),
        True,
    ),
)


# Names of settings that hold credentials (`extra_headers = {Authorization = ...}`, `aws_secret_access_key`).
_CREDENTIAL_KEY = re.compile(r"(?i)key|secret|passw|auth|cookie|credential|token")
_URL_PASSWORD = re.compile(r"//[^/@:\s]+:([^/@\s]+)@")
_MIN_SECRET: Final = 4  # shorter values would mask ordinary words


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
        if secret and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, REDACTED)
    text = _URL_PASSWORD.sub(lambda m: m.group(0).replace(m.group(1), REDACTED), text)
    for pattern, literals, ignore_case in _PATTERNS:
        haystack = text.lower() if ignore_case else text
        if any(literal in haystack for literal in literals):
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


# -- the process-wide secrets ----------------------------------------------------------------------------

# Profiles are few, so this stays small; the cap only bounds a caller that invents a key per call. Oldest
# values go first. Readers take the tuple without the lock: it is replaced whole, never changed.
_MAX_REMEMBERED: Final = 1024
_remembered: dict[str, None] = {}
_snapshot: tuple[str, ...] = ()
_remembered_lock = threading.Lock()


def remember_secrets(values: Iterable[str | None]) -> None:
    """Add secret values (a profile's ``secrets()``) for :func:`scrub` and :class:`SecretFilter` to mask.

    Thread-safe and cheap to repeat: a value already remembered is not added twice. Values shorter than
    4 characters and ``None`` are ignored.
    """
    global _snapshot
    with _remembered_lock:
        before = len(_remembered)
        for value in values:
            if isinstance(value, str) and len(value) >= _MIN_SECRET:
                _remembered[value] = None
        if len(_remembered) == before:
            return
        while len(_remembered) > _MAX_REMEMBERED:
            del _remembered[next(iter(_remembered))]
        # Longest first, so a secret that contains another is masked whole.
        _snapshot = tuple(sorted(_remembered, key=len, reverse=True))


def remembered_secrets() -> tuple[str, ...]:
    """Every value :func:`remember_secrets` was given (up to 1024, the newest), longest first."""
    return _snapshot


def forget_secrets() -> None:
    """Forget every remembered secret (for tests, or after rotating keys)."""
    global _snapshot
    with _remembered_lock:
        _remembered.clear()
        _snapshot = ()


# -- errors ----------------------------------------------------------------------------------------------


def scrub(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """Redact ``error`` and the errors it chains, in place; return its clean text. Never raises.

    Provider errors quote the key they rejected, and their HTTP exchange holds it too: litellm's and the
    openai client's errors keep the provider's ``body``, the ``response`` (its content) and the ``request``
    (its ``Authorization`` header). understudy keeps those errors where a traceback printer, a debugger or
    an error tracker would show them, so every attribute of each error is cleaned: text is redacted,
    credential headers are masked, and an ``httpx`` request or response that holds a secret is replaced by
    a clean copy (same status, headers and content otherwise). The errors reached through ``__cause__``,
    ``__context__``, an exception group or an attribute are cleaned the same way.

    Args:
        error: the error to clean.
        secrets: values to mask besides the remembered ones and anything shaped like a key.
    """
    cleaner = _Cleaner((*secrets, *_snapshot))
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        with contextlib.suppress(Exception):  # a broken __str__ or attribute must not hide the real error
            cleaner.clean_error(current)
        pending.extend(cleaner.found)
        cleaner.found.clear()
    try:
        return redact(str(error), cleaner.secrets)
    except Exception:
        return type(error).__name__


# Header and field names whose values are credentials. Rate-limit headers ("x-ratelimit-remaining-tokens")
# hold numbers the retry policy reads, not credentials.
def _holds_credential(name: str) -> bool:
    return is_credential_key(name) and "ratelimit" not in name.lower()


# Dropped from a response copy: its content is already decoded, and httpx sets the new length.
_CONTENT_HEADERS: Final = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_KEPT_EXTENSIONS: Final = ("http_version", "reason_phrase")
_MAX_DEPTH: Final = 8


class _Cleaner:
    """Clean copies of the values an error holds; the errors met on the way are collected in ``found``."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        self.found: list[BaseException] = []

    def clean_error(self, error: BaseException) -> None:
        self.found.extend(e for e in (error.__cause__, error.__context__) if e is not None)
        if isinstance(error, BaseExceptionGroup):
            self.found.extend(error.exceptions)
        args = self.clean(error.args)
        if args is not error.args:
            error.args = args
        for name, value in list(getattr(error, "__dict__", {}).items()):
            cleaned = self.clean(value)
            if cleaned is not value:
                with contextlib.suppress(Exception):  # a read-only attribute keeps its value
                    setattr(error, name, cleaned)

    def clean(self, value: Any, depth: int = 0) -> Any:
        """``value`` itself when it holds no secret, else a clean copy."""
        if isinstance(value, str):
            text = redact(value, self.secrets)
            return value if text == value else text
        if isinstance(value, BaseException):
            self.found.append(value)
            return value
        if isinstance(value, bytes | bytearray):
            return self._bytes(value)
        if depth >= _MAX_DEPTH:
            return value
        if type(value) is dict:
            items = {k: self._item(k, v, depth) for k, v in value.items()}
            return value if all(items[k] is v for k, v in value.items()) else items
        if type(value) in (list, tuple):
            cleaned = [self.clean(v, depth + 1) for v in value]
            return value if all(c is v for c, v in zip(cleaned, value, strict=True)) else type(value)(cleaned)
        httpx = sys.modules.get("httpx")  # an httpx object exists only once httpx is imported
        if httpx is not None:
            if isinstance(value, httpx.Headers):
                return self._headers(value)
            if isinstance(value, httpx.URL):
                text = str(value)
                clean = redact(text, self.secrets)
                return value if clean == text else httpx.URL(clean)
            if isinstance(value, httpx.Request):
                return self._request(httpx, value)
            if isinstance(value, httpx.Response):
                return self._response(httpx, value)
        return value

    def _item(self, key: Any, value: Any, depth: int) -> Any:
        if isinstance(value, str) and value and _holds_credential(str(key)):
            return value if value == REDACTED else REDACTED
        return self.clean(value, depth + 1)

    def _bytes(self, value: bytes | bytearray) -> bytes | bytearray:
        text = value.decode("utf-8", errors="surrogateescape")
        clean = redact(text, self.secrets)
        if clean == text:
            return value
        data = clean.encode("utf-8", errors="surrogateescape")
        return bytearray(data) if isinstance(value, bytearray) else data

    def _headers(self, headers: Any) -> Any:
        items = list(headers.multi_items())
        cleaned = [(k, REDACTED if _holds_credential(k) and v else redact(v, self.secrets)) for k, v in items]
        return headers if cleaned == items else type(headers)(cleaned, encoding=headers.encoding)

    def _request(self, httpx: Any, request: Any) -> Any:
        headers = self._headers(request.headers)
        url = self.clean(request.url)
        try:
            content = request.content
        except Exception:  # a streaming request not read: nothing to keep
            content = b""
        body = self._bytes(content)
        if headers is request.headers and url is request.url and body is content:
            return request
        if body is not content:
            headers = [(k, v) for k, v in headers.multi_items() if k.lower() != "content-length"]
        return httpx.Request(request.method, url, headers=headers, content=body, extensions=request.extensions)

    def _response(self, httpx: Any, response: Any) -> Any:
        headers = self._headers(response.headers)
        try:
            content = response.content
        except Exception:  # a stream not read (or closed): the copy has no content
            content = None
        body = self._bytes(content) if content is not None else None
        try:
            request = response.request
        except RuntimeError:  # a response built without one
            request = None
        clean_request = self._request(httpx, request) if request is not None else None
        if headers is response.headers and body is content and clean_request is request:
            return response
        return httpx.Response(
            response.status_code,
            headers=[(k, v) for k, v in headers.multi_items() if k.lower() not in _CONTENT_HEADERS],
            content=body or b"",
            request=clean_request,
            extensions={k: response.extensions[k] for k in _KEPT_EXTENSIONS if k in response.extensions},
        )
