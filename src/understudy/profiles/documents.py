"""Reading a configuration document by its suffix: TOML, JSON, or YAML when PyYAML is installed.

Router files and imported configs share this; profiles stay TOML or JSON. A parse error names the line, never
the line's text, which may hold a key.
"""

from __future__ import annotations

import importlib
import json
import tomllib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DOCUMENT_SUFFIXES", "DocumentError", "parse_document", "read_document"]

DOCUMENT_SUFFIXES: Final = (".toml", ".json", ".yaml", ".yml")


class DocumentError(ValueError):
    """The document cannot be read or parsed; the message says why, without the file's name."""


def read_document(path: Path) -> Any:
    """The parsed content of ``path``.

    Raises:
        DocumentError: the suffix is not one of ``DOCUMENT_SUFFIXES``, the file cannot be read, it does not
            parse, or it is YAML and PyYAML is not installed.
    """
    if path.suffix.lower() not in DOCUMENT_SUFFIXES:
        raise DocumentError("cannot tell the format from the suffix; name it .toml, .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(f"cannot read the file: {exc}") from None
    return parse_document(path, text)


def parse_document(path: Path, text: str) -> Any:
    """``text`` parsed as the format ``path``'s suffix says.

    Raises:
        DocumentError: it does not parse, or it is YAML and PyYAML is not installed.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix == ".toml":
            return tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"invalid JSON: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DocumentError(f"invalid TOML: {exc}") from None
    return _yaml(text)


def _yaml(text: str) -> Any:
    try:
        # Imported by name, here: PyYAML is optional (`understudy[yaml]`; LiteLLM's proxy brings it too).
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise DocumentError(
            "reading YAML needs PyYAML, which is not installed; `pip install pyyaml` (or understudy[yaml]), or "
            "convert the file to JSON or TOML (e.g. `yq -o json config.yaml > config.json`)"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise DocumentError(f"invalid YAML: {getattr(exc, 'problem', None) or 'cannot parse'}{where}") from None
