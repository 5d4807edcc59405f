"""``understudy check``: every profile (or the named ones) and the router files beside them, offline.

Every problem of a profile is reported in one run: each field that does not validate, each unknown
exception name in its fallbacks table, each fallback that does not exist or load, and each variable it
reads (``api_key_env``, ``api_base_env``) that is not set. With ``--allow-missing-keys`` an unset variable is
a warning, which does not fail the run, so CI without secrets can check the rest. ``--json`` prints one
report per profile, each with its problems as records::

    {"profile": "main", "file": "profiles/main.toml", "field": "fallbacks",
     "problem": "unknown exception name 'RateLimitErorr'", "fix": "did you mean 'RateLimitError'? ...",
     "severity": "error"}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from understudy.calls import backend
from understudy.cli._common import EXIT_PROBLEMS, RouterLookup, dirs, display, fail, load, locate, print_json
from understudy.errors import (
    ProfileError,
    ProfileNotFoundError,
    RouteConfigError,
    RouterFileError,
    UnknownExceptionNameError,
)
from understudy.failures.names import ExceptionNames
from understudy.profiles.documents import DOCUMENT_SUFFIXES
from understudy.profiles.files import load_profile_file
from understudy.profiles.profile import TIERS_FILE_STEM, Profile
from understudy.redaction import redact
from understudy.routing.match import MatchRouter

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from understudy.profiles.store import ProfileStore
    from understudy.routing.tiered import TieredRouter

__all__ = ["Finding", "check"]

Severity = Literal["error", "warning"]
# A ProfileError naming several fields joins them as "field 'a': ...; field 'b': ..." (profiles.py).
_NEXT_FIELD: Final = re.compile(r"; (?=field '[^']+': )")
_FIELD_PREFIX: Final = re.compile(r"field '([^']+)': (.*)", re.DOTALL)


@dataclass(frozen=True)
class Finding:
    """One problem ``check`` found.

    Attributes:
        text: the line the report prints: the file, the field, what is wrong and the fix.
        profile: the profile at fault (None for a router file).
        file: the file at fault, when there is one.
        field: the field (or the place in a router file) at fault, when one is to blame.
        problem: what is wrong.
        fix: what to do about it.
        severity: ``"error"`` fails the check; ``"warning"`` (an unset variable, with ``--allow-missing-keys``)
            does not.
    """

    text: str
    profile: str | None
    file: Path | None
    field: str | None
    problem: str
    fix: str
    severity: Severity = "error"

    def record(self) -> dict[str, Any]:
        """The finding as JSON: profile, file, field, problem, fix and severity; never a secret."""
        return {
            "profile": self.profile,
            "file": str(self.file) if self.file is not None else None,
            "field": self.field,
            "problem": redact(self.problem),
            "fix": redact(self.fix),
            "severity": self.severity,
        }


@dataclass(frozen=True)
class _Report:
    name: str
    source: str
    findings: list[Finding]
    details: list[str] = field(default_factory=list)  # what is healthy in it (a router's tiers), one line each

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "warning"]

    def data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "problems": [redact(finding.text) for finding in self.errors],
            "ok": not self.errors,
            "warnings": [redact(finding.text) for finding in self.warnings],
            "records": [finding.record() for finding in self.findings],
            "details": self.details,
        }


def check(args: argparse.Namespace, store: ProfileStore) -> int:
    """Validate profiles offline: each parses, its fallbacks exist and parse, its variables are set."""
    if args.live:  # one request to each profile the names reach: understudy.cli.preflight
        from understudy.cli.preflight import live_check

        return live_check(args, store)
    names: Sequence[str] = args.names or store.names()
    if not names:
        return fail(f"no profiles found; searched {dirs(store)}. Create NAME.toml in one of them.", EXIT_PROBLEMS)
    reports = [] if args.names else _router_reports(store)
    checker = _ProfileChecker(store, store.load_all(names), allow_missing=args.allow_missing_keys)
    reports += [checker.report(name) for name in names]
    bad = [report for report in reports if report.errors]
    if args.json:
        print_json([report.data() for report in reports])
        return EXIT_PROBLEMS if bad else 0
    width = max(len(report.name) for report in reports)
    for report in reports:
        verdict = "FAIL" if report.errors else "WARN" if report.warnings else "ok"
        print(f"{verdict:<4}  {report.name:<{width}}  {report.source}")
        for detail in report.details:
            print(f"      {detail}")
        for finding in report.findings:
            warning = "warning: " if finding.severity == "warning" else ""
            print(f"      - {warning}{redact(finding.text)}")
    checked = f"{len(reports)} profile{'s' if len(reports) != 1 else ''} checked"
    warned = sum(len(report.warnings) for report in reports)
    warnings = f", {warned} warning{'s' if warned != 1 else ''}" if warned else ""
    if bad:
        count = sum(len(report.errors) for report in bad)
        print(f"{checked}: {len(reports) - len(bad)} ok, {len(bad)} with problems ({count} in all){warnings}")
        return EXIT_PROBLEMS
    print(f"{checked}: all ok{warnings}")
    return 0


class _ProfileChecker:
    """Checks one profile after another against the same store.

    Args:
        store: where the fallbacks come from.
        loaded: the profiles this run reports on, loaded (``store.load_all``); a fallback among them reports
            its own unset variables.
        allow_missing: report unset variables as warnings.
    """

    def __init__(self, store: ProfileStore, loaded: dict[str, Profile | ProfileError], *, allow_missing: bool) -> None:
        self.store = store
        self.loaded = dict(loaded)  # and every fallback target, once loaded: 10,000 profiles may share one
        self.checked = frozenset(loaded)
        self.missing: Severity = "warning" if allow_missing else "error"
        self.names = ExceptionNames.of(store.plugin_manager)

    def report(self, name: str) -> _Report:
        profile = self._load(name)
        if isinstance(profile, ProfileNotFoundError):
            return _Report(name, "(not found)", _load_findings(profile, name))
        if isinstance(profile, RouterFileError):
            return _router_file_report(name, profile, self.store)
        if isinstance(profile, ProfileError):
            exc = profile
            source = display(exc.path or locate(self.store, name))
            recovered = self._unknown_names(exc)
            if recovered is None:
                return _Report(name, source, _load_findings(exc, name))
            recovered_profile, findings = recovered
            return _Report(name, source, findings + self._problems(recovered_profile))
        return _Report(name, display(profile.source), self._problems(profile))

    def _load(self, name: str) -> Profile | ProfileError:
        if name not in self.loaded:
            self.loaded[name] = load(self.store, name)
        return self.loaded[name]

    def _unknown_names(self, exc: ProfileError) -> tuple[Profile, list[Finding]] | None:
        """The store refuses a profile at its first unknown exception name; read the file again without that
        check, so that every unknown name, and every other problem of the profile, is reported."""
        if exc.field != "fallbacks" or exc.path is None:
            return None
        try:
            profile = load_profile_file(exc.path)
        except ProfileError:
            return None  # the file itself is invalid: exc says so
        findings = []
        for key in profile.fallbacks:
            try:
                self.names.check(key)
            except UnknownExceptionNameError as unknown:
                problem = f"unknown exception name {key!r}"
                fix = str(unknown).removeprefix(f"{problem}. ")
                hint, close, _ = fix.partition("? ")
                if close and hint.startswith("Did you mean"):  # the whole list of names once is enough
                    fix = f"{hint}? Rename the key, or use '*' for any provider error"
                fix = fix[:1].lower() + fix[1:]
                findings.append(_finding(profile, "fallbacks", problem, fix))
        return (profile, findings) if findings else None

    def _problems(self, profile: Profile) -> list[Finding]:
        """The problems of a profile that loads: its fallbacks, and the variables it and they read."""
        findings = []
        # A target named under several errors is reported once, with every key that names it.
        keys_by_target: dict[str, list[str]] = {}
        for error, targets in profile.fallbacks.items():
            for target in targets:
                keys_by_target.setdefault(target, []).append(error)
        for target, keys in keys_by_target.items():
            what = f"fallback {target!r} (for {', '.join(keys)})"
            found = self._load(target)
            if isinstance(found, ProfileNotFoundError):
                close = f"did you mean {found.close_matches[0]!r}? Or " if found.close_matches else ""
                fix = f"{close}create {target}.toml in {dirs(self.store)}, or remove {target!r} from the lists"
                findings.append(_finding(profile, "fallbacks", f"{what} does not exist", fix))
            elif isinstance(found, ProfileError):
                where = display(found.path) if found.path else f"profile {target!r}"
                fix = f"fix {where} (`understudy check {target}` says what is wrong)"
                findings.append(_finding(profile, "fallbacks", f"{what} does not load", fix))
            elif target not in self.checked:
                # Checked on its own, the target reports this itself; otherwise say it here, or a variable
                # missing on a fallback is found only when the primary goes down.
                for variable, role in _unset_variables(found):
                    problem = f"{what} needs {variable}{role}, which is not set"
                    fix = f"export {variable}=... or the call will skip it"
                    findings.append(_finding(profile, "fallbacks", problem, fix, self.missing))
        findings.extend(_unsupported_params(profile))
        for variable, role in _unset_variables(profile):
            field = "api_base_env" if role else "api_key_env"
            value = "<the endpoint URL>" if role else "..."
            fix = f"export {variable}={value} before calling this profile, or point {field} at another variable"
            findings.append(_finding(profile, field, f"{variable} is not set", fix, self.missing))
        return findings


# OpenAI's standard chat parameters: the ones litellm can say a model takes or not. Provider-specific ones
# (top_k, thinking, safety_settings ...) pass through to the provider, and litellm cannot tell.
_OPENAI_PARAMS: Final = frozenset(
    {
        "tools", "tool_choice", "parallel_tool_calls", "response_format", "top_p", "n", "stop",
        "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs",
        "top_logprobs", "seed", "user", "reasoning_effort", "modalities", "audio", "prediction",
        "web_search_options", "service_tier",
    }
)  # fmt: skip


def _unsupported_params(profile: Profile) -> list[Finding]:
    """``params`` the model does not take, where litellm can tell: every call would fail before sending.

    Imports litellm, and only for a profile whose ``params`` hold one of OpenAI's standard parameters.
    """
    asked = sorted(_OPENAI_PARAMS & profile.params.keys())
    if not asked or profile.params.get("drop_params") is True:
        return []
    try:
        litellm = backend.litellm()
        model, provider, _, _ = litellm.get_llm_provider(profile.model)
        supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider)
    except Exception:  # a model litellm does not know: it cannot tell, so neither can check
        return []
    if not supported:
        return []
    unsupported = [name for name in asked if name not in supported]
    if not unsupported:
        return []
    problem = (
        f"{profile.model} does not take {', '.join(unsupported)} (litellm would refuse every call with "
        "UnsupportedParamsError)"
    )
    fix = "remove it from params, or add drop_params = true to params to let litellm drop what the model lacks"
    return [_finding(profile, "params", problem, fix)]


def _unset_variables(profile: Profile) -> list[tuple[str, str]]:
    """The variables the profile reads that are not set, each with its role in words ("" for the key)."""
    unset = []
    if profile.api_key_env and not os.environ.get(profile.api_key_env):
        unset.append((profile.api_key_env, ""))
    # api_base_env is read through getattr: profiles that predate the field have none.
    endpoint = getattr(profile, "api_base_env", None)
    if isinstance(endpoint, str) and endpoint and not os.environ.get(endpoint):
        unset.append((endpoint, " (its endpoint URL)"))
    return unset


def _finding(profile: Profile, field: str, problem: str, fix: str, severity: Severity = "error") -> Finding:
    text = str(ProfileError(f"{problem}; {fix}", profile=profile.name, path=profile.source, field=field))
    return Finding(text, profile.name, profile.source, field, problem, fix, severity)


def _load_findings(exc: ProfileError, name: str) -> list[Finding]:
    """A profile that does not load: one finding per field the error names (it may name several)."""
    parts = _NEXT_FIELD.split(exc.reason) if exc.field is None else [exc.reason]
    if len(parts) == 1:
        return [_load_finding(exc, name, exc.field, exc.reason, str(exc))]
    findings = []
    for part in parts:
        match = _FIELD_PREFIX.fullmatch(part)
        field, message = (match.group(1), match.group(2)) if match else (None, part)
        text = str(ProfileError(message, profile=exc.profile or name, path=exc.path, field=field))
        findings.append(_load_finding(exc, name, field, message, text))
    return findings


def _load_finding(exc: ProfileError, name: str, field: str | None, message: str, text: str) -> Finding:
    problem, _, fix = message.partition("; ")
    if not fix:
        fix = f"give {field} a valid value" if field else "correct the file" if exc.path else "correct the profile"
    return Finding(text, exc.profile or name, exc.path, field, problem, fix)


def _router_reports(store: ProfileStore) -> list[_Report]:
    """The router files on the search path (routes, tiers): each loads, and every profile it names loads."""
    reports = []
    try:
        router = MatchRouter.find(store, routers=RouterLookup(store))
        if router is not None:
            findings = [_router_finding(router.path, text) for text in router.check(store)]
            reports.append(_Report("(routes)", display(router.path), findings))
    except RouteConfigError as exc:
        reports.append(_Report("(routes)", display(exc.path), [_route_error(exc)]))
    tiers = store.find_file(TIERS_FILE_STEM, DOCUMENT_SUFFIXES)
    if tiers is not None:
        reports.append(_tiers_report("(tiers)", tiers, store))
    return reports


def _router_file_report(name: str, exc: RouterFileError, store: ProfileStore) -> _Report:
    """A file among the profiles that says it is a router (``kind``): checked as the router it is."""
    path = exc.path
    assert path is not None  # a RouterFileError always comes from a file
    if exc.kind == "tiered":
        return _tiers_report(name, path, store)
    try:
        router = MatchRouter.from_file(path, routers=RouterLookup(store))
        return _Report(name, display(path), [_router_finding(path, text) for text in router.check(store)])
    except RouteConfigError as error:
        return _Report(name, display(path), [_route_error(error)])


def _tiers_report(name: str, tiers: Path, store: ProfileStore) -> _Report:
    from understudy.registry import LLMRegistry
    from understudy.routing.tiered import TieredRouter

    tiered: TieredRouter | None = None
    try:
        # A registry only to satisfy a profile classifier; checking calls no model.
        tiered = TieredRouter.from_file(tiers, registry=LLMRegistry(store))
        findings = [_router_finding(tiers, text) for text in tiered.check(store)]
    except RouteConfigError as exc:
        if exc.where != "classifier":
            findings = [_route_error(exc)]
        else:  # a file meant for a function classifier, given in code: check the rest of it
            tiered = TieredRouter.from_file(tiers, classifier=_placeholder_classifier)
            findings = [_router_finding(tiers, text) for text in tiered.check(store)]
    lines = _tier_lines(tiered, findings) if tiered is not None else []
    return _Report(name, display(tiers), findings, lines)


def _tier_lines(tiered: TieredRouter, findings: list[Finding]) -> list[str]:
    """One line per tier whose candidates all load: its plan, best first (ranked as its selection says)."""
    broken = " ".join(finding.text for finding in findings)
    lines = []
    for name, tier in tiered.tiers.items():
        if any(repr(candidate) in broken for candidate in tier.profiles):
            continue  # its problem is listed below
        plan = " -> ".join(tiered.rankings.of(name))
        default = ", the default" if name == tiered.default_tier else ""
        lines.append(f"tier {name}: ok ({plan}{default})")
    return lines


def _router_finding(path: Path | None, text: str) -> Finding:
    message = text.removeprefix(f"{path}: ") if path is not None else text
    problem, _, fix = message.partition("; ")
    return Finding(text, None, path, None, problem, fix or "fix the profile it names, or name another")


def _route_error(exc: RouteConfigError) -> Finding:
    problem, _, fix = exc.reason.partition("; ")
    return Finding(str(exc), None, exc.path, exc.where, problem, fix or "correct that place in the file")


def _placeholder_classifier(context: Mapping[str, Any], messages: Any) -> str:
    raise NotImplementedError("only checked, never called")
