"""``understudy import litellm``: a LiteLLM Router config made into profile files. ``--json`` prints::

    {"config": "config.yaml", "out": "profiles", "dry_run": false,
     "files": [{"profile", "path", "index", "status", "reason", "toml" (--dry-run only)}, ...],
     "warnings": [{"where", "message", "severity": "warning"}, ...],
     "errors": [{"where", "message", "severity": "error"}, ...],
     "variables": ["AZURE_API_KEY", ...], "unset_variables": [...], "next": "understudy check ..."}

``status`` is ``written``, ``skipped``, ``would write`` or ``would skip`` (``--dry-run``); ``reason`` says why
a file is (or would be) left alone. A config that cannot be read or is refused gives ``errors`` and no
``files``, and exits 1.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from understudy.cli._common import EXIT_PROBLEMS, fail, print_json
from understudy.errors import ConfigError
from understudy.redaction import redact

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from understudy.importers import ImportNote, ImportResult
    from understudy.profiles.store import ProfileStore

__all__ = ["import_litellm"]


def import_litellm(args: argparse.Namespace, store: ProfileStore) -> int:
    """Convert a LiteLLM Router config into profile files; exit 1 when a file was left alone."""
    # Imported here: only this command needs it (it never imports litellm either).
    from understudy.importers import ImportNote, ImportRefusedError, import_litellm_config, read_config, write_profiles

    out: Path = args.out
    try:
        result = import_litellm_config(read_config(args.config), source=str(args.config))
    except ConfigError as exc:  # the file cannot be read, or the config is refused
        if args.json:
            problems = exc.problems if isinstance(exc, ImportRefusedError) else (ImportNote("", str(exc)),)
            print_json({**_summary(args), "errors": [_note(note, "error") for note in problems]})
        return fail(redact(str(exc)), EXIT_PROBLEMS)
    if not args.json:
        for warning in result.warnings:
            print(f"understudy: warning: {redact(warning)}", file=sys.stderr)
    files: list[dict[str, Any]] = []
    if args.dry_run:
        for imported in result.profiles:
            path = out / imported.filename
            reason = "it exists; --force overwrites it" if path.exists() and not args.force else None
            if path.with_suffix(".json").exists():
                reason = f"{path.stem}.json defines profile {imported.profile.name!r}; remove it first"
            status = "would skip" if reason else "would write"
            files.append(
                {**_file(imported.profile.name, path, imported.index, status, reason), "toml": redact(imported.toml)}
            )
            if not args.json:
                note = " (exists: left alone without --force)" if path.exists() and not args.force else ""
                if path.with_suffix(".json").exists():
                    note = f" ({path.stem}.json exists: left alone, and this file not written)"
                print(f"# ---- {path}{note}\n{redact(imported.toml)}")
        if args.json:
            print_json({**_summary(args, result), "files": files})
        else:
            print(f"dry run: {len(result.profiles)} profile(s) from {args.config}, nothing written")
        return 0
    report = write_profiles(result, out, force=args.force)
    by_path = {out / imported.filename: imported for imported in result.profiles}
    skipped = dict(report.skipped)
    for path, imported in by_path.items():
        status = "written" if path in report.written else "skipped"
        files.append(_file(imported.profile.name, path, imported.index, status, skipped.get(path)))
    if args.json:
        print_json({**_summary(args, result), "files": files})
        return EXIT_PROBLEMS if report.skipped else 0
    for path in report.written:
        print(f"wrote   {path}")
    for path, why in report.skipped:
        print(f"skipped {path}: {why}")
    print(f"{len(report.written)} of {len(result.profiles)} profile(s) from {args.config} written to {out}")
    unset = _unset(result)
    exports = "export " + " ".join(f"{name}=..." for name in unset) + ", then " if unset else ""
    print(f"Next: {exports}run `understudy check --profiles-path {out}`")
    return EXIT_PROBLEMS if report.skipped else 0


def _unset(result: ImportResult) -> list[str]:
    """The variables the profiles read (keys, endpoints) that are not set here, sorted."""
    variables = sorted({*result.key_variables(), *result.endpoint_variables()})
    return [name for name in variables if not os.environ.get(name)]


def _summary(args: argparse.Namespace, result: ImportResult | None = None) -> dict[str, Any]:
    variables = sorted({*result.key_variables(), *result.endpoint_variables()}) if result else []
    return {
        "config": str(args.config),
        "out": str(args.out),
        "dry_run": bool(args.dry_run),
        "files": [],
        "warnings": [_note(note, "warning") for note in result.notes] if result else [],
        "errors": [],
        "variables": variables,
        "unset_variables": _unset(result) if result else [],
        "next": f"understudy check --profiles-path {args.out}",
    }


def _file(profile: str, path: Path, index: int, status: str, reason: str | None) -> dict[str, Any]:
    return {"profile": profile, "path": str(path), "index": index, "status": status, "reason": reason}


def _note(note: ImportNote, severity: str) -> dict[str, str]:
    return {"where": note.where, "message": redact(note.message), "severity": severity}
