"""The ``understudy`` command: list, show, explain and check profiles; list plugins; run the demo.

::

    understudy profiles list [--json]          every profile on the search path, broken ones included
    understudy profiles show NAME [--json]     every field (secrets redacted) and the fallbacks table
    understudy explain NAME --error ERROR      the chain a call to NAME walks when it raises ERROR
    understudy check [NAME ...] [--json]       offline validation; exit 1 when anything needs fixing
    understudy plugins [--json]                registered plugins and their hooks
    understudy demo                            fallbacks at work against a fake provider, offline
    understudy import litellm CONFIG           LiteLLM Router config -> profile files

Only ``explain`` (it walks litellm's exception classes) and ``demo`` import litellm, inside the functions
that run them: importing litellm takes seconds, and listing or checking profiles must answer at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from understudy import __version__
from understudy.errors import (
    ConfigError,
    ProfileError,
    ProfileNotFoundError,
    RouteConfigError,
    UnknownExceptionNameError,
)
from understudy.exception_names import WILDCARD, ExceptionNames
from understudy.match_router import MatchRouter
from understudy.plugins import BUILTIN_PLUGINS, list_plugins
from understudy.profiles import TIERS_FILE_STEM, Profile
from understudy.redaction import REDACTED, redact, redact_mapping
from understudy.retry import is_transient_class
from understudy.store import PROFILES_PATH_ENV, ProfileStore
from understudy.strategy import FallbackStrategy

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from understudy.routes import RouteDecision

__all__ = ["main"]

Command = Callable[[argparse.Namespace, ProfileStore], int]
"""What a subcommand runs: the parsed arguments and the store to read; returns the exit code."""

EXIT_PROBLEMS: Final = 1  # a profile is missing or broken, or `check` found problems
EXIT_USAGE: Final = 2  # the command line itself is wrong (argparse uses 2 as well)

# Keys in `params` whose values are credentials (extra_headers = {Authorization = "Bearer ..."}).


def main(argv: list[str] | None = None) -> int:
    """Run the ``understudy`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors; argparse has printed them
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    paths = [*(args.profiles_path or ()), *(args.sub_profiles_path or ())]
    for path in paths:
        if not Path(path).is_dir():
            return _fail(f"--profiles-path {path}: not a directory", EXIT_USAGE)
    store = ProfileStore(paths) if paths else ProfileStore()
    command: Command = args.command
    try:
        return command(args, store)
    except UnknownExceptionNameError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ConfigError as exc:
        return _fail(redact(str(exc)), EXIT_PROBLEMS)
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="understudy",
        description="Keeps LLM agents working when a model fails: inspect and check fallback profiles.",
        epilog=(
            f"Profiles are searched in ${PROFILES_PATH_ENV} (os.pathsep-separated), else ./profiles and "
            "the user's config dir. Try `understudy demo` to watch fallbacks at work, offline."
        ),
    )
    parser.add_argument("--version", action="version", version=f"understudy {__version__}")
    _add_path_option(parser, "profiles_path")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    profiles = commands.add_parser("profiles", help="list profiles or show one")
    profile_commands = profiles.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = _command(profile_commands, "list", profiles_list, "every profile on the search path")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = _command(profile_commands, "show", profiles_show, "every field of one profile (secrets redacted)")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print JSON")

    explain_ = _command(
        commands, "explain", explain, "the route a context takes and the chain a call walks when it raises ERROR"
    )
    explain_.add_argument("name", metavar="NAME", nargs="?", help="the profile a call starts with (or --context)")
    explain_.add_argument("--error", metavar="ERROR", help="an exception name, e.g. RateLimitError, or '*'")
    explain_.add_argument(
        "--context",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="route a call with this context (repeatable; VALUE is JSON when it parses, else text)",
    )
    explain_.add_argument(
        "--routes", metavar="FILE", type=Path, help="the routes file (default: routes.toml on the search path)"
    )

    check_ = _command(commands, "check", check, "validate profiles offline; exit 1 on any problem")
    check_.add_argument("names", nargs="*", metavar="NAME", help="profiles to check (default: all)")
    check_.add_argument("--json", action="store_true", help="print JSON")

    plugins_ = _command(commands, "plugins", plugins, "registered plugins and the hooks they implement")
    plugins_.add_argument("--json", action="store_true", help="print JSON")

    import_ = commands.add_parser("import", help="convert another tool's model config into profile files")
    import_formats = import_.add_subparsers(title="formats", metavar="FORMAT", required=True)
    litellm_ = _command(
        import_formats, "litellm", import_litellm, "convert a LiteLLM Router config into one profile file per model"
    )
    litellm_.add_argument("config", metavar="CONFIG", type=Path, help="the config: .yaml, .yml, .json or .toml")
    litellm_.add_argument(
        "--out", metavar="DIR", type=Path, default=Path("profiles"), help="write the profiles here (default: profiles)"
    )
    litellm_.add_argument("--force", action="store_true", help="overwrite profile files that exist")
    litellm_.add_argument("--dry-run", action="store_true", help="print the files instead of writing them")

    _command(commands, "demo", demo, "watch fallbacks at work against a fake provider (offline, no API key)")
    return parser


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, run: Command, help_: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_, description=help_[:1].upper() + help_[1:] + ".")
    parser.set_defaults(command=run)
    # Accepted after the subcommand too (`understudy check --profiles-path profiles`). A separate dest,
    # since argparse lets a subcommand's defaults overwrite what the main parser read.
    _add_path_option(parser, "sub_profiles_path")
    return parser


def _add_path_option(parser: argparse.ArgumentParser, dest: str) -> None:
    parser.add_argument(
        "--profiles-path",
        action="append",
        dest=dest,
        metavar="DIR",
        help=f"search DIR for profiles instead of the default path (repeatable; overrides ${PROFILES_PATH_ENV})",
    )


# -- profiles list / show -------------------------------------------------------------------------------


def profiles_list(args: argparse.Namespace, store: ProfileStore) -> int:
    """One line per profile: name, model, file. A broken one is listed with its error."""
    loaded = store.load_all()
    if args.json:
        _print_json([_list_entry(store, name, profile) for name, profile in loaded.items()])
        return 0
    if not loaded:
        print(f"no profiles found; searched {_dirs(store)}. Create NAME.toml in one of them.", file=sys.stderr)
        return 0
    table = [("NAME", "MODEL", "SOURCE")]
    for name, profile in loaded.items():
        if isinstance(profile, ProfileError):
            table.append((name, "!! invalid", _display(profile.path or _locate(store, name))))
        else:
            table.append((name, profile.model, _display(profile.source)))
    widths = [max(len(line[i]) for line in table) for i in range(2)]
    for index, (name, model, source) in enumerate(table):
        print(f"{name:<{widths[0]}}  {model:<{widths[1]}}  {source}")
        error = loaded[name] if index else None
        if isinstance(error, ProfileError):
            print(f"    {redact(_without_path(error))}")
    broken = sum(isinstance(profile, ProfileError) for profile in loaded.values())
    if broken:
        print(f"{broken} profile(s) failed to load; `understudy check` says how to fix them", file=sys.stderr)
    return 0


def _list_entry(store: ProfileStore, name: str, profile: Profile | ProfileError) -> dict[str, Any]:
    if isinstance(profile, ProfileError):
        source = _display(profile.path or _locate(store, name))
        return {"name": name, "ok": False, "model": None, "source": source, "error": redact(_without_path(profile))}
    return {"name": name, "ok": True, "model": profile.model, "source": _display(profile.source), "error": None}


def profiles_show(args: argparse.Namespace, store: ProfileStore) -> int:
    """Every field of one profile; a literal key shows as ``***``, a key variable only by name."""
    profile = store.load(args.name)
    data = _profile_data(profile)
    if args.json:
        _print_json(data, secrets=profile.secrets())
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
    lines += _fallback_lines(profile.fallbacks) or ["  (none: every error propagates unchanged)"]
    print(redact("\n".join(lines), profile.secrets()))
    return 0


def _profile_data(profile: Profile) -> dict[str, Any]:
    """Every field in the model's order, the file after the name; secrets replaced, the key variable's
    value reduced to whether it is set."""
    dumped = profile.model_dump(mode="json")
    data: dict[str, Any] = {"name": profile.name, "source": _display(profile.source)}
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


def _fallback_lines(fallbacks: dict[str, list[str]]) -> list[str]:
    width = max((len(error) for error in fallbacks), default=0)
    return [
        f"  {error:<{width}}  {_arrow()} {', '.join(targets) or '(none: the error propagates unchanged)'}"
        for error, targets in fallbacks.items()
    ]


# -- explain --------------------------------------------------------------------------------------------


def explain(args: argparse.Namespace, store: ProfileStore) -> int:
    """Print the route a context takes, and the profiles a call tries, in order, when it raises ERROR."""
    if (args.name is None) == (not args.context):
        return _fail("name a profile, or give --context KEY=VALUE to route one (not both)", EXIT_USAGE)
    if args.name is not None and args.error is None:
        return _fail("--error ERROR is needed with a profile name", EXIT_USAGE)
    names = ExceptionNames.of(store.plugin_manager)
    if args.error is not None:
        names.check(args.error)  # an unknown name is a usage error: say so before loading anything
    strategy: FallbackStrategy | None = None
    overrides: dict[str, Any] = {}
    name = args.name
    if args.context:
        decision = _explain_route(args, store)
        if decision is None:
            return EXIT_USAGE
        name, overrides = decision.profile, decision.overrides
        if decision.fallbacks is not None:
            strategy = FallbackStrategy(decision.fallbacks, plugin_manager=store.plugin_manager)
        if args.error is None:
            return 0
    profile = store.load(name)
    if overrides:  # the route's own num_retries or timeout is what the call would use
        profile = profile.model_copy(update=overrides)
    # Matching a name to its class imports litellm; do not let it fetch the cost map on the way.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    strategy = strategy or FallbackStrategy.from_profile(profile, plugin_manager=store.plugin_manager)
    if args.error == WILDCARD:
        chain = strategy.entries.get(WILDCARD)
        matched = WILDCARD if chain is not None else None
        transient = None
    else:
        try:
            error_class = names.resolve(args.error)
        except (ImportError, AttributeError, TypeError) as exc:
            return _fail(f"the class registered for {args.error} cannot be imported: {exc}", EXIT_USAGE)
        matched, chain = strategy.match(error_class)
        transient = is_transient_class(error_class, names)
    what = "a provider error its fallbacks table does not name ('*')" if args.error == WILDCARD else args.error
    print(f"When profile {profile.name!r} ({_display(profile.source)}) raises {what}:")
    primary = f"primary, {profile.model}"
    if transient and profile.num_retries:
        primary += f"; retried up to {_times(profile.num_retries)} ({args.error} is transient)"
    elif transient:
        primary += f"; not retried (num_retries = 0, though {args.error} is transient)"
    elif transient is False:
        primary += f"; not retried ({args.error} is not transient: the same request fails the same way)"
    print(f"  1. {profile.name}: {primary}")
    if not chain:
        print(f"  then {_no_fallback_reason(args.error, matched)}")
        return 0
    print(f"  then, {_match_reason(args.error, matched)}:")
    for number, name in enumerate(chain, 2):
        print(f"  {number}. {name}: {_target_status(store, name)}")
    print("  Each is tried until one answers; if all fail, the call raises FallbackExhaustedError.")
    return 0


def _explain_route(args: argparse.Namespace, store: ProfileStore) -> RouteDecision | None:
    """Print which route the context takes; None (after an error message) when it cannot be routed."""
    context: dict[str, Any] = {}
    for item in args.context:
        key, sep, text = item.partition("=")
        if not sep or not key:
            _fail(f"--context takes KEY=VALUE, not {item!r}", EXIT_USAGE)
            return None
        context[key] = _context_value(text)
    router = MatchRouter.from_file(args.routes) if args.routes else MatchRouter.find(store)
    if router is None:
        _fail(f"no routes.toml or routes.json in {_dirs(store)}; pass --routes FILE", EXIT_USAGE)
        return None
    decision = router.select(context)
    where = f" ({_display(router.path)})" if router.path else ""
    print(f"Context {json.dumps(context)} routes{where}:")
    rule = decision.route or "default"
    print(f"  {rule}: primary {decision.profile!r}; {decision.reason}")
    if decision.overrides:
        shown = redact_mapping(decision.overrides)
        print(f"  overrides for this route: {json.dumps(shown, default=str)}")
    if decision.fallbacks is not None:
        print(f"  the route replaces {decision.profile}'s fallbacks with: {json.dumps(decision.fallbacks)}")
    return decision


def _context_value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


def _match_reason(error: str, matched: str | None) -> str:
    if matched == WILDCARD and error != WILDCARD:
        return f"as fallbacks['*'] says (no entry names {error} or a base class of it)"
    if matched is not None and matched != error:
        return f"as fallbacks[{matched!r}] says ({error} is a kind of {matched})"
    return f"as fallbacks[{matched!r}] says"


def _no_fallback_reason(error: str, matched: str | None) -> str:
    if matched is None and error == WILDCARD:
        return "the error propagates unchanged: the fallbacks table has no '*' entry"
    if matched is None:
        return f"the error propagates unchanged: no fallbacks entry names {error}, a base class of it, or '*'"
    via = f" ({error} is a kind of {matched})" if matched not in (error, WILDCARD) else ""
    return f"the error propagates unchanged: fallbacks[{matched!r}] is an empty list{via}, which stops the walk"


def _target_status(store: ProfileStore, name: str) -> str:
    try:
        profile = store.load(name)
    except ProfileNotFoundError as exc:
        close = f" (did you mean {', '.join(repr(c) for c in exc.close_matches)}?)" if exc.close_matches else ""
        return f"not found{close}; the call would skip it"
    except ProfileError as exc:
        return f"invalid, the call would skip it: {redact(_without_path(exc))}"
    status = f"ok, {profile.model}"
    if profile.num_retries:
        status += f"; retried up to {_times(profile.num_retries)} on transient errors"
    if profile.api_key_env and not os.environ.get(profile.api_key_env):
        status += f"; but {profile.api_key_env} is not set, so the call would skip it"
    return status


# -- check ----------------------------------------------------------------------------------------------


def check(args: argparse.Namespace, store: ProfileStore) -> int:
    """Validate profiles offline: each parses, its fallbacks exist and parse, its key variable is set."""
    names: Sequence[str] = args.names or store.names()
    if not names:
        return _fail(f"no profiles found; searched {_dirs(store)}. Create NAME.toml in one of them.", EXIT_PROBLEMS)
    reports = [] if args.names else _route_reports(store)
    for name in names:
        profile = _load(store, name)
        if isinstance(profile, ProfileNotFoundError):
            source = "(not found)"
        elif isinstance(profile, ProfileError):
            source = _display(profile.path or _locate(store, name))
        else:
            source = _display(profile.source)
        problems = [redact(problem) for problem in _problems(store, profile, checked=set(names))]
        reports.append({"name": name, "source": source, "problems": problems})
    bad = [report for report in reports if report["problems"]]
    count = sum(len(report["problems"]) for report in bad)
    if args.json:
        _print_json([{**report, "ok": not report["problems"]} for report in reports])
        return EXIT_PROBLEMS if bad else 0
    width = max(len(report["name"]) for report in reports)
    for report in reports:
        print(f"{'ok' if not report['problems'] else 'FAIL':<4}  {report['name']:<{width}}  {report['source']}")
        for problem in report["problems"]:
            print(f"      - {problem}")
    checked = f"{len(reports)} profile{'s' if len(reports) != 1 else ''} checked"
    if bad:
        print(f"{checked}: {len(reports) - len(bad)} ok, {len(bad)} with problems ({count} in all)")
        return EXIT_PROBLEMS
    print(f"{checked}: all ok")
    return 0


def _route_reports(store: ProfileStore) -> list[dict[str, Any]]:
    """The router files on the search path (routes, tiers): each loads, and every profile it names loads."""
    reports = []
    try:
        router = MatchRouter.find(store)
        if router is not None:
            problems = [redact(problem) for problem in router.check(store)]
            reports.append({"name": "(routes)", "source": _display(router.path), "problems": problems})
    except RouteConfigError as exc:
        reports.append({"name": "(routes)", "source": _display(exc.path), "problems": [redact(str(exc))]})
    tiers = store.find_file(TIERS_FILE_STEM)
    if tiers is not None:
        from understudy.registry import LLMRegistry
        from understudy.tiered_router import TieredRouter

        try:
            # A registry only to satisfy a profile classifier; checking calls no model.
            tiered = TieredRouter.from_file(tiers, registry=LLMRegistry(store))
            problems = [redact(problem) for problem in tiered.check(store)]
        except RouteConfigError as exc:
            if exc.where != "classifier":
                problems = [redact(str(exc))]
            else:  # a file meant for a function classifier, given in code: check the rest of it
                tiered = TieredRouter.from_file(tiers, classifier=_placeholder_classifier)
                problems = [redact(problem) for problem in tiered.check(store)]
        reports.append({"name": "(tiers)", "source": _display(tiers), "problems": problems})
    return reports


def _placeholder_classifier(context: Mapping[str, Any], messages: Any) -> str:
    raise NotImplementedError("only checked, never called")


def _problems(store: ProfileStore, profile: Profile | ProfileError, *, checked: set[str]) -> list[str]:
    if isinstance(profile, ProfileError):
        return [str(profile)]  # it names the file, the field and the fix
    problems = []
    # A target named under several errors is reported once, with every key that names it.
    keys_by_target: dict[str, list[str]] = {}
    for error, targets in profile.fallbacks.items():
        for target in targets:
            keys_by_target.setdefault(target, []).append(error)
    for target, keys in keys_by_target.items():
        what = f"fallback {target!r} (for {', '.join(keys)})"
        found = _load(store, target)  # the store caches each file, so a shared target is read once
        if isinstance(found, ProfileNotFoundError):
            close = f"did you mean {found.close_matches[0]!r}? Or " if found.close_matches else ""
            fix = f"{close}create {target}.toml in {_dirs(store)}, or remove {target!r} from the lists"
            problems.append(_problem(profile, f"{what} does not exist; {fix}"))
        elif isinstance(found, ProfileError):
            where = _display(found.path) if found.path else f"profile {target!r}"
            fix = f"fix {where} (`understudy check {target}` says what is wrong)"
            problems.append(_problem(profile, f"{what} does not load; {fix}"))
        elif target not in checked and found.api_key_env and not os.environ.get(found.api_key_env):
            # Checked on its own, the target reports this itself; otherwise say it here, or a key missing
            # on a fallback is found only when the primary goes down.
            fix = f"export {found.api_key_env}=... or the call will skip it"
            problems.append(_problem(profile, f"{what} needs {found.api_key_env}, which is not set; {fix}"))
    if profile.api_key_env and not os.environ.get(profile.api_key_env):
        fix = f"export {profile.api_key_env}=... before calling this profile, or point api_key_env at another variable"
        problems.append(_problem(profile, f"{profile.api_key_env} is not set; {fix}", field="api_key_env"))
    return problems


def _problem(profile: Profile, message: str, *, field: str = "fallbacks") -> str:
    return str(ProfileError(message, profile=profile.name, path=profile.source, field=field))


def _load(store: ProfileStore, name: str) -> Profile | ProfileError:
    try:
        return store.load(name)
    except ProfileError as exc:
        return exc


# -- import ---------------------------------------------------------------------------------------------


def import_litellm(args: argparse.Namespace, store: ProfileStore) -> int:
    """Convert a LiteLLM Router config into profile files; exit 1 when a file was left alone."""
    # Imported here: only this command needs it (it never imports litellm either).
    from understudy.importers import import_litellm_config, read_config, write_profiles

    result = import_litellm_config(read_config(args.config), source=str(args.config))
    for warning in result.warnings:
        print(f"understudy: warning: {redact(warning)}", file=sys.stderr)
    out: Path = args.out
    if args.dry_run:
        for imported in result.profiles:
            path = out / imported.filename
            note = " (exists: left alone without --force)" if path.exists() and not args.force else ""
            if path.with_suffix(".json").exists():
                note = f" ({path.stem}.json exists: left alone, and this file not written)"
            print(f"# ---- {path}{note}\n{redact(imported.toml)}")
        print(f"dry run: {len(result.profiles)} profile(s) from {args.config}, nothing written")
        return 0
    report = write_profiles(result, out, force=args.force)
    for path in report.written:
        print(f"wrote   {path}")
    for path, why in report.skipped:
        print(f"skipped {path}: {why}")
    print(f"{len(report.written)} of {len(result.profiles)} profile(s) from {args.config} written to {out}")
    unset = [name for name in result.key_variables() if not os.environ.get(name)]
    exports = "export " + " ".join(f"{name}=..." for name in unset) + ", then " if unset else ""
    print(f"Next: {exports}run `understudy check --profiles-path {out}`")
    return EXIT_PROBLEMS if report.skipped else 0


# -- plugins, demo --------------------------------------------------------------------------------------


def plugins(args: argparse.Namespace, store: ProfileStore) -> int:
    """Every registered plugin: its name, the hooks it implements and the distribution it came from."""
    builtin = {name for name, _ in BUILTIN_PLUGINS}
    infos = list_plugins(store.plugin_manager)
    origins = [info.distribution or ("built-in" if info.name in builtin else "-") for info in infos]
    if args.json:
        rows = [
            {"name": info.name, "hooks": list(info.hooks), "distribution": origin}
            for info, origin in zip(infos, origins, strict=True)
        ]
        _print_json(rows)
        return 0
    table = [("NAME", "HOOKS", "DISTRIBUTION")]
    table += [(info.name, ", ".join(info.hooks) or "-", origin) for info, origin in zip(infos, origins, strict=True)]
    widths = [max(len(line[i]) for line in table) for i in range(2)]
    for line in table:
        print(f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]}")
    return 0


def demo(args: argparse.Namespace, store: ProfileStore) -> int:
    """Run the offline demo (it brings its own profiles; the search path plays no part)."""
    from understudy.demo import run_demo

    return run_demo()


# -- helpers --------------------------------------------------------------------------------------------


def _fail(message: str, code: int) -> int:
    print(f"understudy: error: {message}", file=sys.stderr)
    return code


def _print_json(data: Any, *, secrets: Sequence[str] = ()) -> None:
    print(redact(json.dumps(data, indent=2), secrets))


def _display(path: Path | None) -> str:
    return str(path) if path is not None else "(from a plugin)"


def _dirs(store: ProfileStore) -> str:
    return ", ".join(str(p) for p in store.paths) or "(no directories)"


def _locate(store: ProfileStore, name: str) -> Path | None:
    try:
        return store.locate(name)
    except ProfileError as exc:
        return exc.path


def _without_path(exc: ProfileError) -> str:
    """The error without its leading file name, for tables that show the file in a column of its own."""
    return str(exc).removeprefix(f"{exc.path}: ") if exc.path is not None else str(exc)


def _times(count: int) -> str:
    return f"{count} time{'s' if count != 1 else ''}"


def _arrow() -> str:
    try:
        "→".encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "->"
    return "→"
