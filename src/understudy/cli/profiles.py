"""``understudy profiles list`` and ``understudy profiles show``."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from understudy.cli._common import arrow, dirs, display, locate, print_json, without_path
from understudy.errors import ProfileError
from understudy.profiles.profile import Profile
from understudy.redaction import REDACTED, redact, redact_mapping

if TYPE_CHECKING:
    import argparse

    from understudy.profiles.store import ProfileStore

__all__ = ["fallback_lines", "profiles_list", "profiles_show"]


def profiles_list(args: argparse.Namespace, store: ProfileStore) -> int:
    """One line per profile: name, model, file. A broken one is listed with its error."""
    loaded = store.load_all()
    if args.json:
        print_json([_list_entry(store, name, profile) for name, profile in loaded.items()])
        return 0
    if not loaded:
        print(f"no profiles found; searched {dirs(store)}. Create NAME.toml in one of them.", file=sys.stderr)
        return 0
    table = [("NAME", "MODEL", "SOURCE")]
    for name, profile in loaded.items():
        if isinstance(profile, ProfileError):
            table.append((name, "!! invalid", display(profile.path or locate(store, name))))
        else:
            table.append((name, profile.model, display(profile.source)))
    widths = [max(len(line[i]) for line in table) for i in range(2)]
    for index, (name, model, source) in enumerate(table):
        print(f"{name:<{widths[0]}}  {model:<{widths[1]}}  {source}")
        error = loaded[name] if index else None
        if isinstance(error, ProfileError):
            print(f"    {redact(without_path(error))}")
    broken = sum(isinstance(profile, ProfileError) for profile in loaded.values())
    if broken:
        print(f"{broken} profile(s) failed to load; `understudy check` says how to fix them", file=sys.stderr)
    return 0


def _list_entry(store: ProfileStore, name: str, profile: Profile | ProfileError) -> dict[str, Any]:
    if isinstance(profile, ProfileError):
        source = display(profile.path or locate(store, name))
        return {"name": name, "ok": False, "model": None, "source": source, "error": redact(without_path(profile))}
    return {"name": name, "ok": True, "model": profile.model, "source": display(profile.source), "error": None}


def profiles_show(args: argparse.Namespace, store: ProfileStore) -> int:
    """Every field of one profile; a literal key shows as ``***``, a key variable only by name."""
    profile = store.load(args.name)
    data = _profile_data(profile)
    if args.json:
        print_json(data, secrets=profile.secrets())
        return 0
    lines = []
    for field, value in data.items():
        if field in {"fallbacks", "api_key_env_set"}:
            continue
        if field == "api_key_env" and value is not None:
            value = f"{value} ({'set' if data['api_key_env_set'] else 'not set'})"
        elif isinstance(value, dict):
            value = json.dumps(value) if value else None
        lines.append(f"{field:<13} {'-' if value is None or value == '' else value}")
    lines.append("fallbacks:")
    lines += fallback_lines(profile.fallbacks) or ["  (none: every error propagates unchanged)"]
    print(redact("\n".join(lines), profile.secrets()))
    return 0


def _profile_data(profile: Profile) -> dict[str, Any]:
    """Every field in the model's order, the file after the name; secrets replaced, the key variable's
    value reduced to whether it is set."""
    dumped = profile.model_dump(mode="json")
    data: dict[str, Any] = {"name": profile.name, "source": display(profile.source)}
    for field in Profile.model_fields:
        if field in data:
            continue
        if field == "api_key":
            data[field] = REDACTED if profile.api_key is not None else None
        elif field == "params":
            data[field] = redact_mapping(profile.params)
        else:
            data[field] = dumped[field]
        if field == "api_key_env":
            data["api_key_env_set"] = bool(os.environ.get(profile.api_key_env)) if profile.api_key_env else None
    return data


def fallback_lines(fallbacks: dict[str, list[str]]) -> list[str]:
    """The fallbacks table, one indented line per entry."""
    width = max((len(error) for error in fallbacks), default=0)
    return [
        f"  {error:<{width}}  {arrow()} {', '.join(targets) or '(none: the error propagates unchanged)'}"
        for error, targets in fallbacks.items()
    ]
