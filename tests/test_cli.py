"""The ``understudy`` command, run in-process through ``main([...])``; subprocesses only where a fresh
interpreter matters (litellm must not be imported, the installed console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from understudy import MatchRouter, ProfileStore, RouteConfigError, __version__
from understudy.cli import main
from understudy.errors import RouterFileError
from understudy.routing.tiered import TieredRouter

if TYPE_CHECKING:
    from tests.conftest import WriteProfile

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "profiles"
EXAMPLE_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
LITERAL_KEY = "sk-literal-secret-0123456789"
ENV_KEY_VALUE = "env-secret-value-9876543210"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def chain(write_profile: WriteProfile, profiles_dir: Path) -> Path:
    """A primary with a typical fallbacks table, and the profiles it names."""
    write_profile(
        "primary",
        model="openai/gpt-4o-mini",
        api_key=LITERAL_KEY,
        num_retries=2,
        fallbacks={
            "RateLimitError": ["backup", "local"],
            "BadRequestError": ["big"],
            "ContentPolicyViolationError": [],
            "*": ["local"],
        },
    )
    write_profile("backup", model="openai/gpt-4o", api_key_env="DEMO_KEY", num_retries=1)
    write_profile("big", model="openai/gpt-4.1")
    write_profile("local", model="ollama/llama3.1", api_base="http://localhost:11434")
    return profiles_dir


# -- global options ---------------------------------------------------------------------------------------


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"understudy {__version__}"


def test_usage_error_exits_2_with_argparse_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "profiles")
    assert code == 2
    assert "required" in err


def test_profiles_path_is_accepted_before_or_after_the_subcommand(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = run(capsys, "--profiles-path", str(chain), "profiles", "list")
    after = run(capsys, "profiles", "list", "--profiles-path", str(chain))
    assert before == after
    assert before[0] == 0
    assert "primary" in before[1]


def test_profiles_path_overrides_the_environment_and_earlier_dir_wins(
    chain: Path, tmp_path: Path, write_profile: WriteProfile, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "primary.toml").write_text('model = "openai/shadowing"\n')
    (other / "extra.toml").write_text('model = "openai/extra"\n')
    code, out, _ = run(capsys, "--profiles-path", str(other), "profiles", "list", "--profiles-path", str(chain))
    assert code == 0
    assert "openai/shadowing" in out
    assert "openai/gpt-4o-mini" not in out
    assert "extra" in out and "backup" in out


def test_profiles_path_that_is_not_a_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--profiles-path", str(tmp_path / "nope"), "check")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "not a directory" in err


def test_profiles_path_env_var_is_the_default_search_path(
    chain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNDERSTUDY_PROFILES_PATH", str(chain))
    code, out, _ = run(capsys, "profiles", "list")
    assert code == 0
    assert "backup" in out


# -- subprocesses: a fresh interpreter ----------------------------------------------------------------------


@pytest.fixture
def usage_log() -> Path:
    """An empty usage log where `understudy report` looks by default (the test's data dir)."""
    from understudy.observability import switches, usage_schema

    path = switches.default_log_path()
    usage_schema.connect(path).close()
    return path


@pytest.mark.parametrize(
    ("argv", "absent"),
    [
        (["--help"], ["pydantic", "pluggy"]),
        (["--version"], ["pydantic", "pluggy"]),
        (["profiles", "list"], ["asyncio", "understudy.events", "understudy.calls.llm", "understudy.registry"]),
        (["check"], ["asyncio", "understudy.events", "understudy.calls.llm", "understudy.registry"]),
        (["plugins"], ["asyncio", "understudy.events", "understudy.calls.llm", "understudy.registry"]),
        (["report", "--since", "all"], ["asyncio", "understudy.events", "understudy.calls", "understudy.registry"]),
    ],
)
def test_a_command_imports_only_what_it_runs(chain: Path, usage_log: Path, argv: list[str], absent: list[str]) -> None:
    # Start-up time is what is imported: `--help` needs no pydantic, and reading profiles none of what calls
    # a model (the event models alone are a fifth of it).
    script = (
        "import sys\n"
        "from understudy.cli import main\n"
        "main(['--profiles-path', sys.argv[1], *sys.argv[2:]])\n"
        f"print(sorted(m for m in {absent!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(chain), *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


def test_listing_checking_reporting_and_help_never_import_litellm(chain: Path, usage_log: Path) -> None:
    commands = [
        ["--help"],
        ["--version"],
        ["profiles", "list"],
        ["profiles", "list", "--json"],
        ["profiles", "show", "primary"],
        ["profiles", "show", "primary", "--json"],
        ["check"],
        ["check", "primary", "--json"],
        ["check", "--allow-missing-keys", "--json"],
        ["plugins"],
        ["report"],
        ["report", "--json", "--profile", "primary"],
    ]
    script = (
        "import sys\n"
        "from understudy.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    main(['--profiles-path', sys.argv[1], *argv])\n"
        "    assert 'litellm' not in sys.modules, f'understudy {argv} imported litellm'\n"
        "print('LITELLM NOT IMPORTED')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(chain)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "LITELLM NOT IMPORTED" in result.stdout


def test_console_script_help_lists_every_command() -> None:
    script = Path(sys.executable).with_name("understudy")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    for command in ("profiles", "explain", "check", "plugins", "demo", "import", "--profiles-path", "--version"):
        assert command in result.stdout
    assert result.stderr == ""


def test_python_dash_m_understudy_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "understudy", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"understudy {__version__}"


# -- profiles list -------------------------------------------------------------------------------------------


def test_profiles_list_prints_name_model_and_file_of_each_profile(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "profiles", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "MODEL", "SOURCE"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows == {
        "backup": ["openai/gpt-4o", str(chain / "backup.toml")],
        "big": ["openai/gpt-4.1", str(chain / "big.toml")],
        "local": ["ollama/llama3.1", str(chain / "local.toml")],
        "primary": ["openai/gpt-4o-mini", str(chain / "primary.toml")],
    }


def test_profiles_list_json_gives_one_object_per_profile(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "profiles", "list", "--json")
    assert code == 0
    entries = json.loads(out)
    assert [e["name"] for e in entries] == ["backup", "big", "local", "primary"]
    assert entries[0] == {
        "name": "backup",
        "ok": True,
        "model": "openai/gpt-4o",
        "source": str(chain / "backup.toml"),
        "error": None,
    }


def test_broken_profile_is_listed_with_its_error_beside_the_good_ones(
    chain: Path, write_profile: WriteProfile, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("broken", model="openai/x", temperature=5)
    write_profile("garbled", text="model = = \n")
    code, out, err = run(capsys, "--profiles-path", str(chain), "profiles", "list")
    assert code == 0
    assert "!! invalid" in out
    assert "temperature" in out and "less than or equal to 2" in out
    assert "invalid TOML" in out
    for good in ("backup", "big", "local", "primary"):
        assert good in out
    assert "2 profile(s) failed to load" in err

    entries = {
        e["name"]: e for e in json.loads(run(capsys, "--profiles-path", str(chain), "profiles", "list", "--json")[1])
    }
    assert entries["broken"]["ok"] is False
    assert "temperature" in entries["broken"]["error"]
    assert entries["primary"]["ok"] is True


def test_profiles_list_with_no_profiles_says_where_it_looked(
    profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--profiles-path", str(profiles_dir), "profiles", "list")
    assert code == 0
    assert out == ""
    assert "no profiles found" in err and str(profiles_dir) in err


# -- profiles show ---------------------------------------------------------------------------------------------


def test_profiles_show_prints_every_field_its_file_and_fallbacks(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "profiles", "show", "primary")
    assert code == 0
    fields = {"name", "source", "model", "api_base", "api_key_env", "api_key", "api_version", "temperature"}
    fields |= {"max_tokens", "timeout", "num_retries", "description", "params"}
    shown = {line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")}
    assert fields <= shown
    assert str(chain / "primary.toml") in out
    assert "openai/gpt-4o-mini" in out
    assert "backup, local" in out
    assert "ContentPolicyViolationError" in out and "(none: the error propagates unchanged)" in out


def test_profiles_show_json_has_every_field_and_key_variable_status(
    chain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEMO_KEY", ENV_KEY_VALUE)
    code, out, _ = run(capsys, "--profiles-path", str(chain), "profiles", "show", "backup", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["name"] == "backup"
    assert data["source"] == str(chain / "backup.toml")
    assert data["api_key_env"] == "DEMO_KEY"
    assert data["api_key_env_set"] is True
    assert data["api_key"] is None
    assert data["num_retries"] == 1
    assert data["fallbacks"] == {}


def test_profiles_show_reports_an_unset_key_variable(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--profiles-path", str(chain), "profiles", "show", "backup")
    assert "DEMO_KEY (not set)" in out


def test_profiles_show_unknown_name_names_searched_dirs_and_close_matches(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--profiles-path", str(chain), "profiles", "show", "primari")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("understudy: error: ")
    assert "no profile named 'primari'" in err
    assert str(chain) in err
    assert "'primary'" in err
    assert "Traceback" not in err


def test_profiles_show_of_an_invalid_profile_prints_its_error_and_exits_1(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("broken", model="openai/x", colour="blue")
    code, _, err = run(capsys, "--profiles-path", str(profiles_dir), "profiles", "show", "broken")
    assert code == 1
    assert "field 'colour': unknown field" in err


# -- secrets ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["profiles", "list"],
        ["profiles", "list", "--json"],
        ["profiles", "show", "primary"],
        ["profiles", "show", "primary", "--json"],
        ["profiles", "show", "backup"],
        ["profiles", "show", "backup", "--json"],
        ["check"],
        ["check", "--json"],
        ["check", "--json", "--allow-missing-keys"],
        ["explain", "primary", "--error", "RateLimitError"],
        ["explain", "primary", "--error", "RateLimitError", "--json"],
        ["explain", "backup", "--error", "*", "--json"],
    ],
)
def test_no_output_ever_contains_a_literal_key_or_a_key_variable_value(
    chain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setenv("DEMO_KEY", ENV_KEY_VALUE)
    code, out, err = run(capsys, "--profiles-path", str(chain), *argv)
    assert code == 0
    assert LITERAL_KEY not in out + err
    assert ENV_KEY_VALUE not in out + err


def test_profiles_show_redacts_a_literal_key_as_stars(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--profiles-path", str(chain), "profiles", "show", "primary")
    assert any(line.split() == ["api_key", "***"] for line in out.splitlines())
    data = json.loads(run(capsys, "--profiles-path", str(chain), "profiles", "show", "primary", "--json")[1])
    assert data["api_key"] == "***"


def test_profiles_show_redacts_credentials_in_params(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile(
        "headers",
        text=(
            'model = "openai/x"\n[params]\ntop_p = 0.5\n'
            'extra_headers = { Authorization = "Bearer hunter2-token", X-Team = "ml" }\n'
        ),
    )
    for argv in (["profiles", "show", "headers"], ["profiles", "show", "headers", "--json"]):
        code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), *argv)
        assert code == 0
        assert "hunter2" not in out
        assert "top_p" in out and "ml" in out


def test_a_secret_pasted_into_api_key_env_is_not_echoed(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: the validator quotes the bad value, which here is the key itself."""
    write_profile("pasted", model="openai/x", api_key_env="sk-proj-abcdefghijklmnopqrstuvwxyz")
    for argv in (["profiles", "list"], ["profiles", "list", "--json"], ["check"], ["profiles", "show", "pasted"]):
        _, out, err = run(capsys, "--profiles-path", str(profiles_dir), *argv)
        assert "abcdefghijklmnop" not in out + err
        assert "api_key_env" in out + err  # the problem is still reported, by field


# -- check --------------------------------------------------------------------------------------------------------


def test_check_passes_when_every_profile_and_target_is_fine(
    chain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEMO_KEY", ENV_KEY_VALUE)
    code, out, err = run(capsys, "--profiles-path", str(chain), "check")
    assert code == 0
    assert err == ""
    assert [line.split()[:2] for line in out.splitlines()[:4]] == [
        ["ok", "backup"],
        ["ok", "big"],
        ["ok", "local"],
        ["ok", "primary"],
    ]
    assert out.splitlines()[-1] == "4 profiles checked: all ok"


def test_check_reports_a_fallback_target_that_does_not_exist(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_profile("main", model="openai/x", fallbacks={"RateLimitError": ["backpu"], "*": ["backpu"]})
    write_profile("backup", model="openai/y")
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check")
    assert code == 1
    problem = next(line for line in out.splitlines() if "backpu" in line)
    assert str(path) in problem
    assert "field 'fallbacks'" in problem
    assert "'backpu' (for RateLimitError, *) does not exist" in problem
    assert "did you mean 'backup'?" in problem
    assert "ok    backup" in out
    assert out.splitlines()[-1] == "2 profiles checked: 1 ok, 1 with problems (1 in all)"


def test_check_reports_a_fallback_target_that_does_not_load(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("main", model="openai/x", fallbacks={"*": ["broken"]})
    broken = write_profile("broken", model="openai/y", max_tokens=0)
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check", "main")
    assert code == 1
    assert f"fallback 'broken' (for *) does not load; fix {broken}" in out


def test_check_reports_an_unknown_exception_name(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_profile("main", model="openai/x", fallbacks={"RateLimitErorr": ["other"]})
    write_profile("other", model="openai/y")
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check")
    assert code == 1
    assert f"{path}: field 'fallbacks': unknown exception name 'RateLimitErorr'" in out
    assert "ok    other" in out


def test_check_reports_an_unset_key_variable_with_the_fix(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_profile("main", model="openai/x", api_key_env="MY_LLM_KEY")
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check")
    assert code == 1
    assert f"{path}: field 'api_key_env': MY_LLM_KEY is not set; export MY_LLM_KEY=..." in out


def test_check_reports_an_invalid_field_by_name(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_profile("main", model="openai/x", num_retry=3)
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check")
    assert code == 1
    assert f"{path}: field 'num_retry': unknown field; did you mean 'num_retries'?" in out


def test_check_reports_every_broken_profile_and_still_checks_the_good_ones(
    chain: Path, write_profile: WriteProfile, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEMO_KEY", ENV_KEY_VALUE)
    write_profile("aaa-broken", text="not toml at all [")
    write_profile("zzz-broken", model="openai/x", temperature=-1)
    code, out, _ = run(capsys, "--profiles-path", str(chain), "check")
    assert code == 1
    verdicts = {line.split()[1]: line.split()[0] for line in out.splitlines() if line[:4] in ("ok  ", "FAIL")}
    assert verdicts == {
        "aaa-broken": "FAIL",
        "backup": "ok",
        "big": "ok",
        "local": "ok",
        "primary": "ok",
        "zzz-broken": "FAIL",
    }
    assert out.splitlines()[-1] == "6 profiles checked: 4 ok, 2 with problems (2 in all)"


def test_check_of_named_profiles_reports_only_those(
    chain: Path, write_profile: WriteProfile, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("broken", model="openai/x", temperature=9)
    code, out, _ = run(capsys, "--profiles-path", str(chain), "check", "big", "local")
    assert code == 0
    assert "broken" not in out
    assert out.splitlines()[-1] == "2 profiles checked: all ok"


def test_check_of_an_unknown_name_reports_it_missing(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "check", "nope")
    assert code == 1
    assert "FAIL  nope  (not found)" in out
    assert "no profile named 'nope'" in out


def test_check_with_no_profiles_fails_and_says_where_it_looked(
    profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--profiles-path", str(profiles_dir), "check")
    assert code == 1
    assert "no profiles found" in err and str(profiles_dir) in err


def test_check_json_lists_problems_per_profile_and_sets_the_exit_code(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "check", "--json")
    assert code == 1  # DEMO_KEY is unset
    reports = {r["name"]: r for r in json.loads(out)}
    assert reports["big"] == {
        "name": "big",
        "source": str(chain / "big.toml"),
        "problems": [],
        "ok": True,
        "warnings": [],
        "records": [],
        "details": [],
    }
    assert reports["backup"]["ok"] is False
    assert "DEMO_KEY is not set" in reports["backup"]["problems"][0]
    assert reports["backup"]["records"] == [
        {
            "profile": "backup",
            "file": str(chain / "backup.toml"),
            "field": "api_key_env",
            "problem": "DEMO_KEY is not set",
            "fix": "export DEMO_KEY=... before calling this profile, or point api_key_env at another variable",
            "severity": "error",
        }
    ]


def test_check_reports_every_unknown_exception_name_and_every_other_problem_in_one_run(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the store refuses a profile at its first unknown exception name, so check reported one name
    per run and nothing else about the profile."""
    monkeypatch.delenv("MAIN_KEY", raising=False)
    fallbacks = {"RateLimitErorr": ["other"], "Timout": ["other"], "APIError": ["ghost"], "*": ["other"]}
    path = write_profile("main", model="openai/x", api_key_env="MAIN_KEY", fallbacks=fallbacks)
    write_profile("other", model="openai/y")
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check")
    assert code == 1
    problems = [line.removeprefix("      - ") for line in out.splitlines() if line.startswith("      - ")]
    assert [problem.split(";")[0] for problem in problems] == [
        f"{path}: field 'fallbacks': unknown exception name 'RateLimitErorr'",
        f"{path}: field 'fallbacks': unknown exception name 'Timout'",
        f"{path}: field 'fallbacks': fallback 'ghost' (for APIError) does not exist",
        f"{path}: field 'api_key_env': MAIN_KEY is not set",
    ]
    assert "did you mean 'RateLimitError'?" in problems[0] and "did you mean 'Timeout'?" in problems[1]
    assert out.splitlines()[-1] == "2 profiles checked: 1 ok, 1 with problems (4 in all)"
    report = {r["name"]: r for r in json.loads(run(capsys, "--profiles-path", str(profiles_dir), "check", "--json")[1])}
    records = report["main"]["records"]
    assert [(r["field"], r["problem"]) for r in records] == [
        ("fallbacks", "unknown exception name 'RateLimitErorr'"),
        ("fallbacks", "unknown exception name 'Timout'"),
        ("fallbacks", "fallback 'ghost' (for APIError) does not exist"),
        ("api_key_env", "MAIN_KEY is not set"),
    ]
    assert records[0]["fix"] == "did you mean 'RateLimitError'? Rename the key, or use '*' for any provider error"
    assert {(r["profile"], r["file"], r["severity"]) for r in records} == {("main", str(path), "error")}


def test_check_gives_each_invalid_field_of_a_profile_its_own_problem(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_profile("main", model="openai/x", temperature=9, num_retry=3)
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check")
    assert code == 1
    assert f"      - {path}: field 'num_retry': unknown field; did you mean 'num_retries'?" in out.splitlines()
    assert any(line.startswith(f"      - {path}: field 'temperature': ") for line in out.splitlines())
    assert out.splitlines()[-1] == "1 profile checked: 0 ok, 1 with problems (2 in all)"
    records = json.loads(run(capsys, "--profiles-path", str(profiles_dir), "check", "--json")[1])[0]["records"]
    fixes = {r["field"]: r["fix"] for r in records}
    assert fixes.keys() == {"temperature", "num_retry"} and fixes["temperature"]
    assert fixes["num_retry"] == "did you mean 'num_retries'?"


def test_check_allow_missing_keys_reports_unset_variables_as_warnings_and_passes(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MAIN_KEY", "MAIN_URL", "BACKUP_KEY"):
        monkeypatch.delenv(name, raising=False)
    write_profile(
        "main", model="openai/a", api_key_env="MAIN_KEY", api_base_env="MAIN_URL", fallbacks={"*": ["backup"]}
    )
    write_profile("backup", model="openai/b", api_key_env="BACKUP_KEY")
    path = ["--profiles-path", str(profiles_dir)]
    assert run(capsys, *path, "check")[0] == 1
    code, out, _ = run(capsys, *path, "check", "--allow-missing-keys")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines() if not line.startswith(" ")][:2] == [
        ["WARN", "backup"],
        ["WARN", "main"],
    ]
    assert "      - warning: " in out and "BACKUP_KEY is not set" in out
    assert "field 'api_base_env': MAIN_URL is not set; export MAIN_URL=<the endpoint URL>" in out
    assert out.splitlines()[-1] == "2 profiles checked: all ok, 3 warnings"

    code, out, _ = run(capsys, *path, "check", "main", "--allow-missing-keys", "--json")
    assert code == 0
    (report,) = json.loads(out)
    assert (report["ok"], report["problems"], len(report["warnings"])) == (True, [], 3)
    assert [(r["field"], r["problem"], r["severity"]) for r in report["records"]] == [
        ("fallbacks", "fallback 'backup' (for *) needs BACKUP_KEY, which is not set", "warning"),
        ("api_key_env", "MAIN_KEY is not set", "warning"),
        ("api_base_env", "MAIN_URL is not set", "warning"),
    ]


def test_allow_missing_keys_still_fails_on_every_other_problem(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAIN_KEY", raising=False)
    write_profile("main", model="openai/a", api_key_env="MAIN_KEY", fallbacks={"*": ["ghost"]})
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check", "--allow-missing-keys")
    assert code == 1
    assert "FAIL  main" in out and "fallback 'ghost' (for *) does not exist" in out
    assert out.splitlines()[-1] == "1 profile checked: 0 ok, 1 with problems (1 in all), 1 warning"


def test_check_json_records_name_the_router_files_place_for_their_problems(
    routed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (routed / "routes.toml").write_text(ROUTES.replace('profile = "strong"', 'profile = "ghost"'))
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check", "--json")
    assert code == 1
    (record,) = next(r for r in json.loads(out) if r["name"] == "(routes)")["records"]
    assert (record["profile"], record["field"]) == (None, "routes[0].profile")
    assert record["file"] == str(routed / "routes.toml")
    assert record["problem"].startswith("no profile named 'ghost'")


# -- explain -------------------------------------------------------------------------------------------------------


def test_explain_mapped_error_lists_the_retried_primary_then_each_fallback(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "explain", "primary", "--error", "RateLimitError")
    assert code == 0
    lines = out.splitlines()
    assert "retried up to 2 times (RateLimitError is transient)" in lines[1]
    assert lines[1].startswith("  1. primary:")
    assert "as fallbacks['RateLimitError'] says" in lines[2]
    assert lines[3].startswith("  2. backup: ok, openai/gpt-4o; retried up to 1 time")
    assert "DEMO_KEY is not set, so the call would skip it" in lines[3]
    assert lines[4].startswith("  3. local: ok, ollama/llama3.1")
    assert "FallbackExhaustedError" in lines[5]


def test_explain_error_covered_only_by_its_base_class_uses_the_base_entry(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--profiles-path", str(chain), "explain", "primary", "--error", "ContextWindowExceededError"
    )
    assert code == 0
    assert "not retried (ContextWindowExceededError is not transient" in out
    assert "as fallbacks['BadRequestError'] says (ContextWindowExceededError is a kind of BadRequestError)" in out
    assert "  2. big: ok, openai/gpt-4.1" in out


def test_explain_empty_list_says_the_error_propagates_unchanged(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--profiles-path", str(chain), "explain", "primary", "--error", "ContentPolicyViolationError"
    )
    assert code == 0
    assert "propagates unchanged: fallbacks['ContentPolicyViolationError'] is an empty list" in out
    assert "  2." not in out


def test_explain_wildcard_shows_the_star_chain(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "explain", "primary", "--error", "*")
    assert code == 0
    assert "does not name ('*')" in out
    assert "as fallbacks['*'] says" in out
    assert "  2. local: ok" in out


def test_explain_error_no_entry_names_falls_to_the_star_entry(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--profiles-path", str(chain), "explain", "primary", "--error", "ServiceUnavailableError"
    )
    assert code == 0
    # num_retries = 2, but a 5xx is retried once by default ([retries] server_error).
    assert "retried up to 1 time (ServiceUnavailableError is transient; [retries] server_error = 1)" in out
    assert "as fallbacks['*'] says (no entry names ServiceUnavailableError or a base class of it)" in out
    assert "  2. local: ok" in out


def test_explain_says_a_timeout_is_not_retried_by_default(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "explain", "primary", "--error", "Timeout", "--json")
    assert code == 0
    primary = json.loads(out)["chain"][0]
    assert primary["retries"] == 0
    assert "not retried ([retries] timeout = 0, though Timeout is transient)" in primary["detail"]


def test_explain_empty_star_entry_says_it_stops_the_walk(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("main", model="openai/x", fallbacks={"*": []})
    for error in ("*", "RateLimitError"):
        code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "explain", "main", "--error", error)
        assert code == 0
        assert "propagates unchanged: fallbacks['*'] is an empty list, which stops the walk" in out


def test_explain_without_any_matching_entry_says_the_error_propagates(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(chain), "explain", "big", "--error", "RateLimitError")
    assert code == 0
    assert "not retried (num_retries = 0, though RateLimitError is transient)" in out
    assert "the error propagates unchanged: no fallbacks entry names RateLimitError" in out


def test_explain_marks_missing_and_invalid_fallbacks_without_failing(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("main", model="openai/x", fallbacks={"RateLimitError": ["ghost", "broken", "fine"]})
    write_profile("broken", model="openai/y", timeout=-1)
    write_profile("fine", model="openai/z")
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "explain", "main", "--error", "RateLimitError")
    assert code == 0
    assert "  2. ghost: not found; the call would skip it" in out
    assert "  3. broken: invalid, the call would skip it: field 'timeout'" in out
    assert "  4. fine: ok, openai/z" in out


def test_explain_json_gives_the_profile_the_error_the_matched_entry_and_each_step(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--profiles-path", str(chain), "explain", "primary", "--error", "RateLimitError"]
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["profile"] == {"name": "primary", "model": "openai/gpt-4o-mini", "source": str(chain / "primary.toml")}
    assert (data["route"], data["error"], data["transient"]) == (None, "RateLimitError", True)
    assert data["matched"] == "RateLimitError"
    assert (data["propagates"], data["reason"]) == (False, "as fallbacks['RateLimitError'] says")
    keys = ("position", "name", "role", "status", "retries", "skipped")
    assert [{key: step[key] for key in keys} for step in data["chain"]] == [
        {"position": 1, "name": "primary", "role": "primary", "status": "ok", "retries": 2, "skipped": False},
        {"position": 2, "name": "backup", "role": "fallback", "status": "key_not_set", "retries": 1, "skipped": True},
        {"position": 3, "name": "local", "role": "fallback", "status": "ok", "retries": 0, "skipped": False},
    ]
    assert [step["model"] for step in data["chain"]] == ["openai/gpt-4o-mini", "openai/gpt-4o", "ollama/llama3.1"]
    text = run(capsys, *argv)[1]
    for step in data["chain"]:  # the same words as the text
        assert f"  {step['position']}. {step['name']}: {step['detail']}" in text.splitlines()


def test_explain_json_of_an_error_that_propagates_has_only_the_primary(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--profiles-path", str(chain), "explain", "primary", "--error", "ContentPolicyViolationError", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert (data["transient"], data["matched"], data["propagates"]) == (False, "ContentPolicyViolationError", True)
    assert data["reason"].startswith("the error propagates unchanged: fallbacks['ContentPolicyViolationError']")
    assert [(step["name"], step["retries"]) for step in data["chain"]] == [("primary", 0)]


def test_explain_json_marks_missing_and_invalid_fallbacks(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_profile("main", model="openai/x", fallbacks={"*": ["ghost", "broken", "fine"]})
    write_profile("broken", model="openai/y", timeout=-1)
    write_profile("fine", model="openai/z")
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "explain", "main", "--error", "*", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["transient"], data["matched"], data["chain"][0]["retries"]) == (None, "*", None)
    assert [(step["status"], step["skipped"], step["model"]) for step in data["chain"][1:]] == [
        ("not_found", True, None),
        ("invalid", True, None),
        ("ok", False, "openai/z"),
    ]


def test_explain_a_programming_error_name_is_an_unknown_name_exit_2(
    chain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--profiles-path", str(chain), "explain", "primary", "--error", "TypeError")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "unknown exception name 'TypeError'" in err
    assert "RateLimitError" in err  # it lists the names that work


def test_explain_unknown_profile_exits_1(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--profiles-path", str(chain), "explain", "nope", "--error", "RateLimitError")
    assert code == 1
    assert "no profile named 'nope'" in err


# -- plugins, demo ---------------------------------------------------------------------------------------------------


def test_plugins_lists_the_builtin_plugins_and_their_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "HOOKS", "DISTRIBUTION"]
    assert ["understudy.exception-names", "understudy_exception_names", "built-in"] in rows
    assert ["understudy.log", "understudy_fallback_event", "built-in"] in rows
    data = json.loads(run(capsys, "plugins", "--json")[1])
    assert {"name": "understudy.log", "hooks": ["understudy_fallback_event"], "distribution": "built-in"} in data


def test_demo_command_runs_run_demo_and_returns_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("understudy.demo.run_demo", lambda: 7)
    assert main(["demo"]) == 7


# -- the example profiles in profiles/ ---------------------------------------------------------------------------------


def test_example_profiles_pass_check_when_their_key_variables_are_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in EXAMPLE_KEYS:
        monkeypatch.setenv(name, "fake-value-for-the-test")
    code, out, _ = run(capsys, "check", "--profiles-path", str(EXAMPLES))
    assert code == 0, out
    assert out.splitlines()[-1] == "5 profiles checked: all ok"


def test_example_profiles_check_reports_each_unset_key_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in EXAMPLE_KEYS:
        monkeypatch.delenv(name, raising=False)
    code, out, _ = run(capsys, "check", "--profiles-path", str(EXAMPLES))
    assert code == 1
    for name in EXAMPLE_KEYS:
        assert f"{name} is not set" in out
    assert "ok    local-llama" in out


def test_example_primary_walks_the_documented_chains(capsys: pytest.CaptureFixture[str]) -> None:
    path = ["--profiles-path", str(EXAMPLES)]
    _, out, _ = run(capsys, *path, "explain", "gpt-4o", "--error", "RateLimitError")
    assert "2. claude-sonnet" in out and "3. gemini-flash" in out
    _, out, _ = run(capsys, *path, "explain", "gpt-4o", "--error", "ContextWindowExceededError")
    assert "2. gemini-pro" in out
    _, out, _ = run(capsys, *path, "explain", "gpt-4o", "--error", "ContentPolicyViolationError")
    assert "fallbacks['BadRequestError'] is an empty list" in out
    _, out, _ = run(capsys, *path, "explain", "gpt-4o", "--error", "ServiceUnavailableError")
    assert "2. local-llama" in out


def test_example_profiles_read_keys_from_variables_never_literals() -> None:
    for path in EXAMPLES.glob("*.toml"):
        fields = [line.split("=")[0].strip() for line in path.read_text().splitlines() if "=" in line]
        assert "api_key" not in fields, path


def test_check_of_one_profile_reports_a_fallback_whose_key_variable_is_unset(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIMARY_KEY", "x")
    monkeypatch.delenv("BACKUP_KEY", raising=False)
    write_profile("main", model="openai/a", api_key_env="PRIMARY_KEY", fallbacks={"*": ["backup"]})
    write_profile("backup", model="openai/b", api_key_env="BACKUP_KEY")

    assert main(["--profiles-path", str(profiles_dir), "check", "main"]) == 1
    out = capsys.readouterr().out
    assert "fallback 'backup' (for *) needs BACKUP_KEY, which is not set" in out


ROUTES = """
default = "fast"
[[routes]]
match = { platform = "discord", tokens = { "$gte" = 1000 } }
profile = "strong"
fallbacks = { "*" = ["fast"] }
[[routes]]
match = { platform = "discord" }
profile = "fast"
overrides = { temperature = 0.0 }
"""


@pytest.fixture
def routed(write_profile: WriteProfile, profiles_dir: Path) -> Path:
    write_profile("fast", model="openai/gpt-4o-mini", fallbacks={"*": ["local"]})
    write_profile("strong", model="openai/gpt-4o", num_retries=1, fallbacks={"*": ["local"]})
    write_profile("local", model="ollama/llama3.1")
    (profiles_dir / "routes.toml").write_text(ROUTES)
    return profiles_dir


def test_explain_context_shows_the_route_without_importing_litellm(routed: Path) -> None:
    code = (
        "import sys; from understudy.cli import main; "
        f"rc = main(['--profiles-path', {str(routed)!r}, 'explain', '--context', 'platform=discord']); "
        "sys.exit(rc or ('litellm' in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "routes[1]: primary 'fast'" in result.stdout
    assert 'overrides for this route: {"temperature": 0.0}' in result.stdout


def test_explain_context_with_an_error_shows_route_and_chain(routed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--profiles-path",
        str(routed),
        "explain",
        "--context",
        "platform=discord",
        "--context",
        "tokens=5000",
        "--error",
        "RateLimitError",
    )
    assert code == 0
    assert '{"platform": "discord", "tokens": 5000}' in out  # numbers parse as numbers
    assert "routes[0]: primary 'strong'" in out
    assert "the route replaces strong's fallbacks" in out
    assert "1. strong: primary, openai/gpt-4o; retried up to 1 time" in out
    assert "2. fast: ok" in out and "local" not in out.split("2. fast")[1]


def test_explain_json_with_a_context_gives_the_route_and_the_chain_from_its_primary(
    routed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--profiles-path", str(routed), "explain", "--context", "platform=discord", "--json"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    data = json.loads(out)
    assert data["route"] == {
        "context": {"platform": "discord"},
        "file": str(routed / "routes.toml"),
        "rule": "routes[1]",
        "profile": "fast",
        "reason": data["route"]["reason"],
        "overrides": {"temperature": 0.0},
        "fallbacks": None,
    }
    assert data["chain"] is None and data["profile"] is None
    code, out, _ = run(capsys, *argv, "--context", "tokens=5000", "--error", "RateLimitError")
    data = json.loads(out)
    assert (data["route"]["profile"], data["route"]["fallbacks"]) == ("strong", {"*": ["fast"]})
    assert [step["name"] for step in data["chain"]] == ["strong", "fast"]


def test_explain_needs_a_name_or_a_context(routed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--profiles-path", str(routed), "explain")
    assert code == 2 and "--context" in err


def test_check_validates_the_routes_file_and_the_profiles_it_names(
    routed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check")
    assert code == 0 and out.startswith("ok    (routes)") and out.count("routes.toml") == 1

    (routed / "routes.toml").write_text(ROUTES.replace('profile = "strong"', 'profile = "ghost"'))
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check")
    assert code == 1 and "routes.toml: routes[0].profile: no profile named 'ghost'" in out

    (routed / "routes.toml").write_text(ROUTES.replace('"$gte"', '"$gt_or_eq"'))
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check")
    assert code == 1 and "routes[0].match.tokens: unknown operator $gt_or_eq" in out


def test_the_routes_file_is_not_listed_as_a_profile(routed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--profiles-path", str(routed), "profiles", "list")
    assert code == 0 and "routes.toml" not in out and len(out.splitlines()) == 4


def test_check_validates_a_tiers_file_beside_the_profiles(routed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (routed / "tiers.toml").write_text(
        'default_tier = "simple"\nclassifier = "fast"\n[tiers.simple]\nprofiles = ["fast"]\n'
        '[tiers.complex]\nprofiles = ["strong", "missing-one"]\n'
    )
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check")
    assert code == 1
    assert "(tiers)" in out and "missing-one" in out
    assert "tiers.toml" not in run(capsys, "--profiles-path", str(routed), "profiles", "list")[1]


def test_check_accepts_a_tiers_file_meant_for_a_function_classifier(
    routed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (routed / "tiers.toml").write_text('default_tier = "simple"\n[tiers.simple]\nprofiles = ["fast"]\n')
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check")
    assert code == 0 and "ok    (tiers)" in out
    assert "      tier simple: ok (fast, the default)" in out.splitlines()


def test_check_lists_the_healthy_tiers_too_not_only_the_broken_ones(
    routed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (routed / "tiers.toml").write_text(
        'default_tier = "simple"\n[tiers.simple]\nprofiles = ["fast"]\n'
        '[tiers.complex]\nprofiles = ["strong", "fast"]\n[tiers.broken]\nprofiles = ["missing-one"]\n'
    )
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check")
    lines = out.splitlines()
    assert code == 1
    assert "      tier simple: ok (fast, the default)" in lines
    assert "      tier complex: ok (strong -> fast)" in lines
    assert not any("tier broken: ok" in line for line in lines) and "missing-one" in out
    (tiers,) = [
        r
        for r in json.loads(run(capsys, "--profiles-path", str(routed), "check", "--json")[1])
        if r["name"] == "(tiers)"
    ]
    assert tiers["details"] == ["tier simple: ok (fast, the default)", "tier complex: ok (strong -> fast)"]


def test_a_router_file_under_any_name_is_checked_as_the_router_it_says_it_is(
    routed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (routed / "auto.toml").write_text(
        'kind = "tiered"\ndefault_tier = "simple"\n[tiers.simple]\nprofiles = ["fast"]\n'
        '[tiers.complex]\nprofiles = ["strong", "fast"]\n'
    )
    (routed / "by-platform.toml").write_text('kind = "match"\ndefault = "fast"\nplatforms = { irc = "ghost" }\n')
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check")
    lines = out.splitlines()
    assert code == 1  # by-platform names a profile that does not exist
    assert any(line.startswith("ok    auto") for line in lines)
    assert "      tier complex: ok (strong -> fast)" in lines
    assert any(line.startswith("FAIL  by-platform") for line in lines) and "'ghost'" in out
    assert "unknown field" not in out  # a router error, not a list of profile-field errors


def test_a_router_file_with_a_mistake_gets_a_router_error_naming_the_key(
    routed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (routed / "auto.toml").write_text('kind = "tiered"\n[tiers.simple]\nprofiles = ["fast"]\n')
    code, out, _ = run(capsys, "--profiles-path", str(routed), "check")
    assert code == 1 and "default_tier" in out and "unknown field" not in out


def test_loading_a_router_file_as_a_profile_says_what_it_is_and_what_reads_it(routed: Path) -> None:
    (routed / "auto.toml").write_text('kind = "tiered"\ndefault_tier = "simple"\n[tiers.simple]\nprofiles = ["fast"]\n')
    with pytest.raises(RouterFileError) as refused:
        ProfileStore([routed]).load("auto")
    assert refused.value.kind == "tiered" and "TieredRouter.from_file" in str(refused.value)
    simple = TieredRouter.from_file(routed / "auto.toml", classifier=lambda context, messages: "simple")
    assert simple.tiers["simple"].profiles == ("fast",)
    with pytest.raises(RouteConfigError, match=r"use TieredRouter\.from_file"):
        MatchRouter.from_file(routed / "auto.toml")
    (routed / "by-platform.toml").write_text('kind = "match"\ndefault = "fast"\n')
    with pytest.raises(RouteConfigError, match=r"use MatchRouter\.from_file"):
        TieredRouter.from_file(routed / "by-platform.toml", classifier=lambda context, messages: "simple")


@pytest.mark.parametrize("error", ["RateLimitError", "Timeout", "ContentPolicyViolationError", "*"])
def test_explain_with_an_error_answers_without_importing_litellm(routed: Path, error: str) -> None:
    """explain took 4-5 s because matching an error name imported litellm."""
    code = (
        "import sys; from understudy.cli import main; "
        f"rc = main(['--profiles-path', {str(routed)!r}, 'explain', 'strong', '--error', {error!r}]); "
        "sys.exit(rc or ('litellm' in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "1. strong" in result.stdout and "2. local" in result.stdout


def test_check_flags_params_the_model_cannot_take_where_litellm_can_tell(
    write_profile: WriteProfile, profiles_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A param the model does not take made every call fail with UnsupportedParamsError, and check said nothing."""
    write_profile("claude", model="anthropic/claude-3-5-sonnet-20240620", params={"logit_bias": {"1": 1}})
    write_profile(
        "claude-dropping",
        model="anthropic/claude-3-5-sonnet-20240620",
        params={"logit_bias": {"1": 1}, "drop_params": True},
    )
    write_profile("gpt", model="openai/gpt-4o", params={"logit_bias": {"1": 1}})
    write_profile("unknown", model="openai/some-local-finetune", params={"top_k": 3})
    code, out, _ = run(capsys, "--profiles-path", str(profiles_dir), "check", "--json")
    assert code == 1
    reports = {report["name"]: report for report in json.loads(out)}
    assert [(r["field"], r["severity"]) for r in reports["claude"]["records"]] == [("params", "error")]
    assert "does not take logit_bias" in reports["claude"]["records"][0]["problem"]
    assert "drop_params = true" in reports["claude"]["records"][0]["fix"]
    assert all(reports[name]["ok"] for name in ("claude-dropping", "gpt", "unknown"))
