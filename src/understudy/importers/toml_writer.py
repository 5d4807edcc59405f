"""Profile files: the TOML text of a profile, made here as ``tomllib`` reads TOML but does not write it,
and an import's profiles written as files."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from understudy.errors import ConfigError
from understudy.profiles.profile import Profile

if TYPE_CHECKING:
    from pathlib import Path

    from understudy.importers.results import ImportResult

__all__ = ["WriteReport", "profile_toml", "write_profiles"]

_FILE_ORDER: Final = (
    "model",
    "description",
    "api_base",
    "api_base_env",
    "api_key_env",
    "api_version",
    "temperature",
    "max_tokens",
    "timeout",
    "num_retries",
)
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def profile_toml(profile: Profile, *, comment: str | None = None) -> str:
    """The text of ``profile``'s TOML file, which loads back as an equal profile.

    Args:
        profile: the profile; its name is the file's stem, so it is not written.
        comment: a line to open the file with, as a TOML comment.

    Raises:
        ValueError: the profile holds a literal ``api_key`` (never written to a file: use ``api_key_env``),
            or a ``params`` value TOML cannot hold (``None``, NaN, an object).
    """
    if profile.api_key is not None:
        raise ValueError(f"profile {profile.name!r} holds a literal api_key; a file holds api_key_env instead")
    lines = [f"# {' '.join(comment.split())}", ""] if comment else []
    for key in _FILE_ORDER:
        value = getattr(profile, key, None)  # api_base_env: a field only newer profiles have
        if value is not None and value != "" and not (key == "num_retries" and value == 0):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # `timeout = 60`, as people write it; the field reads it back as 60.0
            lines.append(f"{key} = {_toml_value(value)}")
    for table in ("params", "fallbacks"):
        mapping: dict[str, Any] = getattr(profile, table)
        if mapping:
            lines += ["", f"[{table}]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in mapping.items())]
    text = "\n".join(lines) + "\n"
    if Profile.model_validate({**tomllib.loads(text), "name": profile.name}) != profile.model_copy(
        update={"source": None}
    ):
        raise ValueError(f"profile {profile.name!r} does not survive a round trip through TOML")
    return text


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and not math.isnan(value):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise ValueError(f"a TOML file cannot hold NaN or a {type(value).__name__}")


def _toml_string(text: str) -> str:
    escaped = "".join(
        _ESCAPES.get(char) or (f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char)
        for char in text
    )
    return f'"{escaped}"'


@dataclass(frozen=True)
class WriteReport:
    """What ``write_profiles`` did.

    Attributes:
        written: the files written.
        skipped: the files left alone, each with why.
    """

    written: tuple[Path, ...] = ()
    skipped: tuple[tuple[Path, str], ...] = ()


def write_profiles(result: ImportResult, out_dir: Path, *, force: bool = False) -> WriteReport:
    """Write each profile as ``out_dir/<name>.toml``, creating ``out_dir`` if needed.

    An existing file is left alone unless ``force``. When ``<name>.json`` exists, the TOML is never written
    (a directory holding both is an error for that name), and the JSON file is left alone.

    Raises:
        ConfigError: ``out_dir`` or a file cannot be written.
    """
    written: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out_dir}: {exc}") from None
    for imported in result.profiles:
        path = out_dir / imported.filename
        twin = path.with_suffix(".json")
        if twin.exists():
            skipped.append((path, f"{twin.name} defines profile {imported.profile.name!r}; remove it first"))
            continue
        try:
            # "x" fails if the file exists, so a file created since the check is not overwritten either.
            with path.open("w" if force else "x", encoding="utf-8") as file:
                file.write(imported.toml)
        except FileExistsError:
            skipped.append((path, "it exists; --force overwrites it"))
            continue
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc}") from None
        written.append(path)
    return WriteReport(tuple(written), tuple(skipped))
