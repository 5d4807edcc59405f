"""Keep secrets out of litellm's logs, and those of the HTTP clients it drives.

With litellm's debug logging on (``LITELLM_LOG=DEBUG``), litellm and httpx log requests with their keys and
credential headers. understudy attaches :class:`SecretFilter` to those loggers when it first imports litellm,
and remembers every secret a profile can send (``redaction.remember_secrets``), so that the filter masks them
as well as anything shaped like a key. litellm's ``set_verbose = True`` prints with ``print()`` rather than
logging, and no filter can clean that: use ``LITELLM_LOG=DEBUG`` instead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Final

from understudy.redaction import redact, remembered_secrets

__all__ = ["LOGGER_NAMES", "SecretFilter", "install_log_filter", "remove_log_filter"]


LOGGER_NAMES: Final = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "openai", "httpx", "httpcore")
"""The loggers :func:`install_log_filter` covers: litellm's three, and those of the HTTP clients it drives."""

_RECORD_FIELDS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
_traceback_formatter = logging.Formatter()


class SecretFilter(logging.Filter):
    """Masks remembered secrets and key-shaped strings in every log record it sees; drops none.

    It formats the message with its args, redacts it and stores the result as the record's ``msg`` (with
    no args), and redacts the exception text, the stack text and every extra string attribute. The record
    is changed in place, so every handler after this filter sees the clean record. Never raises.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):
            _redact_record(record, remembered_secrets())
        return True


def _redact_record(record: logging.LogRecord, secrets: tuple[str, ...]) -> None:
    try:
        message = record.getMessage()
    except Exception:  # args that do not fit the format: the handler would fail on them too
        message = str(record.msg)
    clean = redact(message, secrets)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = record.exc_text or _traceback_formatter.formatException(record.exc_info)
        clean = redact(text, secrets)
        if clean != text:
            record.exc_text = clean
    if isinstance(record.stack_info, str):
        record.stack_info = redact(record.stack_info, secrets)
    for name, value in list(vars(record).items()):
        if name not in _RECORD_FIELDS and isinstance(value, str):  # extra={...}, a formatter's .message
            setattr(record, name, redact(value, secrets))


_FILTER: Final = SecretFilter()
_install_lock = threading.Lock()


def _covered_loggers() -> list[logging.Logger]:
    """The named loggers and every existing logger below them ("LiteLLM Proxy.stdout", "openai._base_client")."""
    children = tuple(f"{name}." for name in LOGGER_NAMES)
    existing = [
        name
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and name.startswith(children)
    ]
    return [logging.getLogger(name) for name in (*LOGGER_NAMES, *existing)]


def install_log_filter() -> SecretFilter:
    """Attach the :class:`SecretFilter` to litellm's loggers, its HTTP clients' loggers, and their handlers.

    Idempotent and cheap, so a call path may run it on every call: each run also covers the handlers and
    child loggers created since the last one (litellm adds its stream handler at import, and replaces it
    when JSON logs are turned on).

    A filter on a logger sees only the records logged on that very logger, not those propagated from its
    children; so it goes on each logger in :data:`LOGGER_NAMES`, on every existing logger below them, and
    on their handlers. A record it cleans on the logger reaches every handler clean, the root logger's
    (and pytest's caplog) included. Not covered: a child logger created after the last run whose records
    reach only handlers of other loggers, and litellm's ``set_verbose`` output, which is ``print()``ed to
    stdout rather than logged (use ``LITELLM_LOG=DEBUG`` instead).

    Returns:
        The filter (one per process).
    """
    with _install_lock:
        for logger in _covered_loggers():
            logger.addFilter(_FILTER)  # addFilter ignores a filter already there
            for handler in list(logger.handlers):
                handler.addFilter(_FILTER)
    return _FILTER


def remove_log_filter() -> None:
    """Detach the filter :func:`install_log_filter` attached (for tests)."""
    with _install_lock:
        for logger in _covered_loggers():
            logger.removeFilter(_FILTER)
            for handler in list(logger.handlers):
                handler.removeFilter(_FILTER)
