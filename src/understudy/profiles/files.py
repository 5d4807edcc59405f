"""Reading profile files: bytes from disk, parsed as TOML or JSON, validated into a ``Profile``.

Every failure (an unreadable, oversized or non-regular file, bad syntax, nesting too deep for a parser, a
number too long for Python, an invalid field) is a ``ProfileError`` naming the file, the field and the fix.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import time
import tomllib
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ValidationError

from understudy.errors import ProfileError, RouterFileError
from understudy.profiles.health import HealthSettings
from understudy.profiles.profile import (
    _FIELD_RULES,
    MAX_NESTING,
    MAX_PROFILE_BYTES,
    NAME_RULE,
    ROUTER_KINDS,
    Profile,
    _clip,
    validate_name,
)
from understudy.profiles.retries import RetrySettings

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["file_signature", "load_profile_file", "parse_profile", "read_profile_bytes"]

_NOT_A_FILE: Final = "not a regular file; a profile must be a file of fields (remove or rename this)"
_TOO_BIG: Final = (
    f"the file is larger than the {MAX_PROFILE_BYTES} bytes a profile may have; a profile holds a few fields: "
    "check that this is the right file"
)


def load_profile_file(path: Path) -> Profile:
    """Read, parse and validate one profile file; its name is the file stem.

    Raises:
        ProfileError: the file cannot be read or parsed, or a field is invalid. The message names the file,
            every bad field and what to do.
    """
    validate_name(path.stem)
    return parse_profile(path, read_profile_bytes(path))


def read_profile_bytes(path: Path) -> bytes:
    """The bytes of a profile file: a regular file (or a link to one) of at most ``MAX_PROFILE_BYTES``.

    Raises:
        ProfileError: the file cannot be read, is not a regular file, or is too big.
    """
    try:
        # O_NONBLOCK: opening a fifo must not wait for a writer; the mode check below refuses it. Plain
        # os.read on the descriptor: a buffered file object costs more than the read (10,000 profiles).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ProfileError(_NOT_A_FILE, profile=path.stem, path=path)
            if info.st_size > MAX_PROFILE_BYTES:
                raise ProfileError(_TOO_BIG, profile=path.stem, path=path)
            chunks, left = [], MAX_PROFILE_BYTES + 1
            while left > 0:  # to the end, which may be past st_size if it grew since fstat, up to the limit
                chunk = os.read(fd, min(left, info.st_size + 1))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
    except IsADirectoryError:  # where opening a directory fails before the mode check can refuse it
        raise ProfileError(_NOT_A_FILE, profile=path.stem, path=path) from None
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or exc}; check that it exists and is readable"
        raise ProfileError(message, profile=path.stem, path=path) from exc
    if len(data) > MAX_PROFILE_BYTES:  # it grew since fstat
        raise ProfileError(_TOO_BIG, profile=path.stem, path=path)
    return data


def parse_profile(path: Path, data: bytes) -> Profile:
    """Parse and validate the bytes of the profile file ``path`` (TOML or JSON by its suffix).

    Raises:
        ProfileError: the bytes are not UTF-8 TOML or JSON holding one table of valid fields.
    """
    name = validate_name(path.stem)
    try:
        text = data.decode("utf-8-sig")  # a BOM, as some Windows editors write, is not part of the text
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"not UTF-8 text (byte {exc.start} is invalid); save the file as UTF-8", profile=name, path=path
        ) from None
    fields = _parse(text, name, path)
    if not isinstance(fields, dict):
        raise ProfileError("the file must hold one table of fields", profile=name, path=path)
    deep = next((key for key, value in fields.items() if _depth(value) > MAX_NESTING), None)
    if deep is not None:
        raise ProfileError(
            f"nested more than {MAX_NESTING} levels deep; flatten it", profile=name, path=path, field=_clip(deep, 100)
        )
    if fields.get("kind") in ROUTER_KINDS:
        raise RouterFileError(fields["kind"], profile=name, path=path)
    if "name" in fields:
        raise ProfileError(
            "the name is the file stem; remove the field (or rename the file)", profile=name, path=path, field="name"
        )
    if "source" in fields:
        raise ProfileError(
            "unknown field; remove it (understudy records the file itself)", profile=name, path=path, field="source"
        )
    try:
        # Strict: a file says what it means ("30" is not 30); Python callers keep pydantic's coercion.
        return Profile.model_validate({**fields, "name": name, "source": path}, strict=True)
    except ValidationError as exc:
        raise _profile_error(exc, name, path) from None


def _parse(text: str, name: str, path: Path) -> Any:
    kind = "TOML" if path.suffix == ".toml" else "JSON"
    try:
        return tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"invalid {kind}: {exc}", profile=name, path=path) from None
    except RecursionError:
        message = f"nested too deeply to read; a profile needs at most {MAX_NESTING} levels of tables and lists"
        raise ProfileError(message, profile=name, path=path) from None
    except ValueError as exc:  # an integer longer than Python's int-string limit (4300 digits)
        message = f"invalid {kind}: a value cannot be read ({str(exc).split(';')[0]}); shorten it"
        raise ProfileError(message, profile=name, path=path) from None


def _depth(value: Any) -> int:
    """How many levels of tables and lists ``value`` holds, counted without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _profile_error(exc: ValidationError, name: str, path: Path) -> ProfileError:
    problems: list[tuple[str | None, str]] = []
    for error in exc.errors():
        field = _clip(".".join(str(part) for part in error["loc"]), 100) or None  # None: a rule across fields
        if error["type"] == "extra_forbidden":
            tables: dict[str, type[BaseModel]] = {"health": HealthSettings, "retries": RetrySettings}
            in_table = error["loc"][0] in tables
            table, _, key = (field or "").rpartition(".") if in_table else ("", "", field or "")
            valid = tuple(tables[table].model_fields) if table else _FILE_FIELDS
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid fields: {', '.join(valid)}"
            problems.append((field, f"unknown field; {hint}"))
        elif error["type"] == "string_pattern_mismatch":
            problems.append((field, f"{_clip(repr(error['input']))} is not a profile name: {NAME_RULE}"))
        elif field and field.startswith("fallbacks.") and error["type"] == "list_type":
            example = f'{error["loc"][1]} = ["other-profile"]'
            problems.append((field, f"must be a list of profile names, e.g. {example}"))
        elif field in _FIELD_RULES:
            problems.append((field, _rule_message(field, error["type"], error["msg"], error["input"], path)))
        else:
            # pydantic prefixes validator messages with "Value error, "; the rest is ours.
            problems.append((field, error["msg"].removeprefix("Value error, ")))
    if len(problems) == 1:
        field, message = problems[0]
        return ProfileError(message, profile=name, path=path, field=field)
    shown = [f"field {field!r}: {message}" if field else message for field, message in problems[:10]]
    more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
    return ProfileError("; ".join(shown) + more, profile=name, path=path)


def _rule_message(field: str, kind: str, msg: str, value: Any, path: Path) -> str:
    rule, example = _FIELD_RULES[field]
    write = f"{field} = {example}" if path.suffix == ".toml" else f'"{field}": {example}'
    if kind == "value_error":  # our validators' message says what is wrong
        return f"{msg.removeprefix('Value error, ')}; write e.g. {write}"
    if not kind.endswith("_type"):  # the right type but out of bounds: pydantic says which bound
        return f"{msg}; write {rule}, e.g. {write}"
    if kind == "float_type" and type(value) is int:
        return f"the number is far out of range; write {rule}, e.g. {write}"
    # The value is not echoed: whatever was written there may be a secret.
    return f"must be {rule}, not {_KINDS.get(type(value), type(value).__name__)}; write {write}"


_KINDS: Final[dict[type, str]] = {bool: "true/false", int: "a number", float: "a decimal number", str: "a string"}


_FILE_FIELDS: Final = tuple(f for f in Profile.model_fields if f not in {"name", "source"})


def file_signature(path: Path) -> tuple[int, ...] | None:
    """What says a file is unchanged since it was read: its inode, size, and change times (nanoseconds).

    None while the file is younger than ``_RACY_SECONDS``: a file system with coarse timestamps may not
    show a second write within the same tick, so such a file is read (and compared) every time, as git does.
    """
    try:
        info = os.stat(path)
    except OSError:
        return None
    if time.time() - info.st_mtime < _RACY_SECONDS:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


_RACY_SECONDS: Final = 2.0
