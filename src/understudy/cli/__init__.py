"""The ``understudy`` command: list, show, explain and check profiles; list plugins; run the demo.

::

    understudy profiles list [--json]          every profile on the search path, broken ones included
    understudy profiles show NAME [--json]     every field (secrets redacted) and the fallbacks table
    understudy explain NAME --error ERROR      the chain a call to NAME walks when it raises ERROR
    understudy check [NAME ...] [--json]       offline validation; exit 1 when anything needs fixing
    understudy check --live [NAME ...]         one minimal request to every profile each name reaches
    understudy plugins [--json]                registered plugins and their hooks
    understudy report [--since 1h] [--json]    what the usage log says: calls, failures, fallbacks, cost
    understudy demo                            fallbacks at work against a fake provider, offline
    understudy import litellm CONFIG           LiteLLM Router config -> profile files

One module per command (``profiles``, ``explain``, ``check``, ``import_litellm``, ``plugins``, ``report``, ``demo``);
this one holds the parser and ``main``, and imports a command's module only when that command runs: ``--help``
imports no pydantic, and listing or checking profiles none of the machinery that calls models. Only ``demo``
(and ``check``, for a profile whose ``params`` litellm must vet, and ``check --live``) imports litellm: that
takes seconds, and listing or checking profiles must answer at once.
"""

from __future__ import annotations

import argparse
import gc
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from understudy import __version__
from understudy.cli._common import EXIT_PROBLEMS, EXIT_USAGE, fail
from understudy.errors import ConfigError, UnknownExceptionNameError
from understudy.profiles.search_path import PROFILES_PATH_ENV
from understudy.redaction import redact

if TYPE_CHECKING:
    from understudy.profiles.store import ProfileStore

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace, "ProfileStore"], int]
"""What a subcommand runs: the parsed arguments and the store to read; returns the exit code."""


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
            return fail(f"--profiles-path {path}: not a directory", EXIT_USAGE)
    from understudy.profiles.store import ProfileStore  # after parsing: --help and --version need no store

    # A short-lived process that reads many small files makes objects, not cycles: with the collector's
    # default thresholds it would walk the growing heap again and again (a third of `check` on 10,000
    # profiles). Collect rarely instead, as mypy and pip do.
    gc.set_threshold(50_000, 50, 100)

    store = ProfileStore(paths) if paths else ProfileStore()
    module, _, function = args.command.partition(":")
    command: Command = getattr(importlib.import_module(f"understudy.cli.{module}"), function)
    try:
        return command(args, store)
    except UnknownExceptionNameError as exc:
        return fail(str(exc), EXIT_USAGE)
    except ConfigError as exc:
        return fail(redact(str(exc)), EXIT_PROBLEMS)
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
    listing = _command(profile_commands, "list", "profiles:profiles_list", "every profile on the search path")
    _add_json(listing)
    show = _command(profile_commands, "show", "profiles:profiles_show", "every field of one profile (secrets redacted)")
    show.add_argument("name", metavar="NAME")
    _add_json(show)

    explain_ = _command(
        commands,
        "explain",
        "explain:explain",
        "the route a context takes and the chain a call walks when it raises ERROR",
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
    _add_json(explain_)

    check_ = _command(commands, "check", "check:check", "validate profiles offline; exit 1 on any problem")
    check_.add_argument("names", nargs="*", metavar="NAME", help="profiles to check (default: all)")
    check_.add_argument(
        "--allow-missing-keys",
        action="store_true",
        help="report unset key and endpoint variables (api_key_env, api_base_env) as warnings, not failures",
    )
    check_.add_argument(
        "--live",
        action="store_true",
        help="send one minimal request to every profile each name reaches (fallbacks, tiers, routes, classifier)",
    )
    check_.add_argument(
        "--timeout", metavar="SECONDS", type=_positive, default=10.0, help="per request, with --live (default: 10)"
    )
    check_.add_argument(
        "--concurrency", metavar="N", type=_count, default=4, help="requests at a time, with --live (default: 4)"
    )
    _add_json(check_)

    plugins_ = _command(commands, "plugins", "plugins:plugins", "registered plugins and the hooks they implement")
    _add_json(plugins_)

    report_ = _command(
        commands, "report", "report:report", "what the usage log says: calls, failures, fallbacks, latency, cost"
    )
    report_.add_argument("--since", metavar="WINDOW", default="24h", help="30s, 15m, 1h, 7d ... or all (default: 24h)")
    report_.add_argument("--profile", metavar="NAME", help="only the calls whose primary profile is NAME")
    report_.add_argument(
        "--log",
        metavar="PATH",
        type=Path,
        help="the usage log to read (default: the one $UNDERSTUDY_USAGE_LOG names, else usage.sqlite3 in the "
        "user's data dir)",
    )
    _add_json(report_)

    import_ = commands.add_parser("import", help="convert another tool's model config into profile files")
    import_formats = import_.add_subparsers(title="formats", metavar="FORMAT", required=True)
    litellm_ = _command(
        import_formats,
        "litellm",
        "import_litellm:import_litellm",
        "convert a LiteLLM Router config into one profile file per model",
    )
    litellm_.add_argument("config", metavar="CONFIG", type=Path, help="the config: .yaml, .yml, .json or .toml")
    litellm_.add_argument(
        "--out", metavar="DIR", type=Path, default=Path("profiles"), help="write the profiles here (default: profiles)"
    )
    litellm_.add_argument("--force", action="store_true", help="overwrite profile files that exist")
    litellm_.add_argument("--dry-run", action="store_true", help="print the files instead of writing them")
    _add_json(litellm_)

    _command(commands, "demo", "demo:demo", "watch fallbacks at work against a fake provider (offline, no API key)")
    return parser


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be from 1 to 64, not {text!r}")
    return value


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, run: str, help_: str
) -> argparse.ArgumentParser:
    """A subcommand that runs ``run`` (``"module:function"`` in ``understudy.cli``, imported only when chosen:
    the commands that read profiles must not pay for the ones that call models)."""
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


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
