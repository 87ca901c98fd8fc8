"""Every setting's type and range, from every source: flags, CALIB_* variables, config files.

The table ``calibcli.config.SETTINGS`` is checked against the click type of every
option of every command, and then every setting ``calib config`` lists is fed
values of the wrong type or out of range through each source: exit 2, naming the
source (the flag, the variable, or the file and line), never a traceback.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import jsonschema
import pytest

from calibcli.cli.main import LazyGroup, cli, main
from calibcli.config import GATE_KEYS, SETTINGS, UNCONFIGURED_COMMANDS, all_commands, command_keys, config_json_schema, env_name

from conftest import ROOT, SAMPLES

BINARY = str(SAMPLES / "binary.csv")
MULTI = str(SAMPLES / "multiclass_probs.csv")
COMMANDS = sorted(n for n in LazyGroup.commands_by_module if n not in UNCONFIGURED_COMMANDS)
# the arguments each command needs so that click gets as far as the options
REQUIRED = {
    "audit": [BINARY],
    "fit": [BINARY, "-o", "cal.json"],
    "apply": ["cal.json", BINARY, "-o", "out.csv"],
    "thresholds": [BINARY],
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    # CALIB_* and GITHUB_* are cleared for every test by conftest.isolated_env
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _commands() -> dict:
    return {n: c for n, c in all_commands(cli, click.Context(cli)).items() if n not in UNCONFIGURED_COMMANDS}


def _params() -> list[tuple[str, str, click.Parameter]]:
    return [(name, key, p) for name, cmd in _commands().items() for key, p in sorted(command_keys(cmd).items())]


def _bound(x):
    return None if x is None or (isinstance(x, float) and math.isinf(x)) else float(x)


# ------------------------------------------------------------------ the table agrees with click


def test_every_option_of_every_command_is_in_the_table():
    missing = sorted({f"{n} --{k}" for n, k, _ in _params() if k not in SETTINGS})
    assert not missing, f"add these to calibcli.config.SETTINGS: {missing}"
    used = {k for _, k, _ in _params()}
    assert set(SETTINGS) == used, f"settings no command has: {sorted(set(SETTINGS) - used)}"
    assert GATE_KEYS <= set(SETTINGS)


@pytest.mark.parametrize("command, key, param", _params(), ids=lambda v: v if isinstance(v, str) else "")
def test_click_type_agrees_with_the_table(command, key, param):
    spec = SETTINGS[key]
    t = param.type
    assert bool(param.multiple) == spec.multiple
    if spec.kind == "bool":
        assert isinstance(t, click.types.BoolParamType) and param.is_flag
        return
    assert not param.is_flag
    if spec.kind in ("int", "float"):
        cls = click.types.IntParamType if spec.kind == "int" else click.types.FloatParamType
        assert isinstance(t, cls), f"--{key} of calib {command} should be a click {cls.__name__}"
        lo, hi = (getattr(t, "min", None), getattr(t, "max", None))
        assert (_bound(lo), _bound(hi)) == (_bound(spec.lo), _bound(spec.hi)), f"--{key} of calib {command}"
        assert (getattr(t, "min_open", False), getattr(t, "max_open", False)) == (spec.lo_open, spec.hi_open)
        if spec.kind == "float":  # click's own FloatRange lets nan through
            from calibcli.cli.paramtypes import FiniteFloat

            assert isinstance(t, FiniteFloat), f"--{key} of calib {command} should use FiniteFloat"
    elif spec.kind == "choice":
        assert isinstance(t, click.Choice) and set(t.choices) <= set(spec.choices)
    elif spec.kind in ("str", "encoding"):
        assert isinstance(t, click.types.StringParamType)
    else:  # path: click.Path, or text for globs and URLs
        assert isinstance(t, (click.Path, click.types.StringParamType))


def test_choice_settings_list_exactly_the_union_of_the_commands_choices():
    union: dict[str, set] = {}
    for _, key, p in _params():
        if isinstance(p.type, click.Choice):
            union.setdefault(key, set()).update(p.type.choices)
    for key, choices in union.items():
        assert set(SETTINGS[key].choices) == choices, key


def test_gate_limit_ranges_are_the_metric_ranges():
    from calibcli.gate import FLAG_RULES, METRIC_RANGES

    for flag, (metric, _) in FLAG_RULES.items():
        lo, hi = METRIC_RANGES[metric]
        spec = SETTINGS[flag]
        assert (_bound(spec.lo), _bound(spec.hi)) == (_bound(lo), _bound(hi)), flag
        assert not spec.lo_open and not spec.hi_open


# ------------------------------------------------------------------ wrong values, every source


def _toml_bad(spec) -> list[str]:
    """TOML literals that must be refused for a setting of this spec."""
    if spec.multiple:
        return ["[1]", "5", "true"]
    out = ["[1, 2]", "{ a = 1 }"]
    if spec.kind == "bool":
        return out + ["5", '"yes"', '"true"', "0"]
    if spec.kind in ("str", "path", "choice", "encoding"):
        out += ["5", "true", "0.5"]
        if spec.kind in ("choice", "encoding"):
            out.append('"no-such-choice"')
        if spec.kind == "path":
            out.append('""')
        return out
    out += ["true", "false", '"1"', "nan", "inf", "-inf"]
    if spec.kind == "int":
        out += ["10.5", "0.5"]
    return out + [repr(v) for v in _out_of_range(spec)]


def _out_of_range(spec) -> list[float]:
    vals = []
    if spec.lo is not None:
        vals.append(spec.lo if spec.lo_open else spec.lo - 1)
    if spec.hi is not None:
        vals.append(spec.hi if spec.hi_open else spec.hi + 1)
    if spec.kind == "int":
        vals = [int(v) for v in vals]
    return vals


def _env_bad(spec) -> list[str]:
    if spec.kind == "bool":
        return ["maybe", "2", "truth"]
    if spec.kind in ("choice", "encoding"):
        return ["no-such-choice"]
    if spec.kind in ("str", "path"):
        return []  # any text is a valid name or path
    out = ["abc", "nan", "inf", "1_0", "0x10"]
    if spec.kind == "int":
        out += ["1.5", "true", "1e3"]
    return out + [repr(v) for v in _out_of_range(spec)]


def _flag_bad(spec) -> list[str]:
    if spec.kind in ("choice", "encoding"):
        return ["no-such-choice"]
    if spec.kind == "int":
        return ["1.5", "abc"] + [repr(v) for v in _out_of_range(spec)]
    if spec.kind == "float":
        return ["abc", "nan", "inf", "-inf"] + [repr(v) for v in _out_of_range(spec)]
    return []


def _first_command_of(key: str) -> str:
    return next(n for n, k, _ in _params() if k == key)


FILE_CASES = [(key, bad) for key, spec in SETTINGS.items() for bad in _toml_bad(spec)]
ENV_CASES = [(key, bad) for key, spec in SETTINGS.items() for bad in _env_bad(spec)]
FLAG_CASES = [(command, key, bad) for command, key, p in _params() if key in SETTINGS for bad in _flag_bad(SETTINGS[key])]


@pytest.mark.parametrize("key, bad", FILE_CASES)
def test_config_file_value_of_wrong_type_or_range_is_exit_2_naming_file_and_line(capsys, tmp_path, key, bad):
    table = "[gate]\n" if key in GATE_KEYS else ""
    (tmp_path / "calib.toml").write_text(f"# a comment\n{table}{key} = {bad}\n")
    line = 3 if table else 2
    code, out, err = run(capsys, "config", _first_command_of(key))
    assert code == 2, (key, bad, out, err)
    assert f"calib.toml:{line}" in err and f"'{key}'" in err, err
    assert "Traceback" not in err and f"--{key}" not in err


@pytest.mark.parametrize("key, bad", ENV_CASES)
def test_environment_value_of_wrong_type_or_range_is_exit_2_naming_the_variable(capsys, monkeypatch, key, bad):
    monkeypatch.setenv(env_name(key), bad)
    code, out, err = run(capsys, "config", _first_command_of(key))
    assert code == 2, (key, bad, out, err)
    assert f"env {env_name(key)}" in err and f"'{key}'" in err, err
    assert "Traceback" not in err and f"--{key}" not in err


@pytest.mark.parametrize("command, key, bad", FLAG_CASES)
def test_flag_value_of_wrong_type_or_range_is_exit_2_naming_the_flag(capsys, command, key, bad):
    code, out, err = run(capsys, command, *REQUIRED[command], f"--{key}", bad)
    assert code == 2, (command, key, bad, out, err)
    assert f"--{key}" in err and "Traceback" not in err


def test_a_real_run_refuses_what_calib_config_refuses(capsys, tmp_path, monkeypatch):
    # the reported cases: bins = true ran with 1 bin, bins = 10.5 with 10, --max-ece -1 passed silently
    for bad in ("true", "10.5"):
        (tmp_path / "calib.toml").write_text(f"bins = {bad}\n")
        code, out, err = run(capsys, "audit", BINARY, "--format", "json")
        assert code == 2 and out == "" and "calib.toml:1" in err and "whole number" in err
    (tmp_path / "calib.toml").unlink()
    code, _, err = run(capsys, "audit", BINARY, "-q", "--max-ece", "-1")
    assert code == 2 and "--max-ece" in err
    code, _, err = run(capsys, "audit", BINARY, "-q", "--fail-if", "ece > -1")
    assert code == 2 and "ECE is between 0 and 1" in err
    monkeypatch.setenv("CALIB_MAX_ECE", "nan")
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2 and "env CALIB_MAX_ECE" in err and "--max-ece" not in err


def test_nan_limit_from_a_file_is_named_by_key_and_line(capsys, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'm'\n\n[tool.calib.gate]\nmax-ece = nan\n")
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2 and "pyproject.toml:5" in err and "'max-ece'" in err and "nan" in err and "--max-ece" not in err


def test_a_rule_from_a_file_with_an_impossible_limit_names_the_file(capsys, tmp_path):
    (tmp_path / "calib.toml").write_text("[gate]\nfail-if = ['accuracy < 90']\n")
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2 and "calib.toml:2" in err and "accuracy is between 0 and 1" in err and "0.9 for 90%" in err


@pytest.mark.parametrize("option", ["--seed", "--threshold-seed", "--gate-seed"])
def test_negative_seed_is_exit_2_not_a_crash(capsys, tmp_path, monkeypatch, option):
    code, _, err = run(capsys, "audit", BINARY, "-q", option, "-1", "--objective", "f1", "--max-ece", "0.5", "--on", "upper")
    assert code == 2 and option in err and "Traceback" not in err and "internal error" not in err
    key = option[2:]
    monkeypatch.setenv(env_name(key), "-1")
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2 and env_name(key) in err


@pytest.mark.parametrize("command", ["fit", "thresholds"])
def test_negative_seed_of_fit_and_thresholds(capsys, command):
    code, _, err = run(capsys, command, *REQUIRED[command], "--seed", "-1")
    assert code == 2 and "--seed" in err and "internal error" not in err


# ------------------------------------------------------------------ right values, every source


@pytest.mark.parametrize("key, text, expected", [
    ("bins", "12", 12), ("bins", " 12 ", 12), ("max-ece", "0.05", 0.05), ("max-ece", "1", 1.0), ("max-ece", "5e-2", 0.05),
    ("strict", "yes", True), ("strict", "0", False), ("strict", "ON", True), ("on", "upper", "upper"),
    ("max-ece-increase", "-0.01", -0.01), ("seed", "7", 7),
])
def test_environment_values_read_like_flags(capsys, monkeypatch, key, text, expected):
    monkeypatch.setenv(env_name(key), text)
    code, out, err = run(capsys, "config", "--format", "json")
    assert code == 0, err
    row = {r["key"]: r for r in json.loads(out)["settings"]}[key]
    assert row["value"] == expected and type(row["value"]) is type(expected) and row["origin"] == f"env {env_name(key)}"


@pytest.mark.parametrize("key, toml, expected", [
    ("bins", "12", 12), ("bins", "10.0", 10), ("max-ece", "1", 1.0), ("max-ece", "0", 0.0), ("strict", "true", True),
    ("max-nll-increase", "-0.5", -0.5), ("calibration-split", "0.3", 0.3), ("objective", '"f1"', ["f1"]),
])
def test_file_values_of_the_right_type(capsys, tmp_path, key, toml, expected):
    table = "[gate]\n" if key in GATE_KEYS else ""
    (tmp_path / "calib.toml").write_text(f"{table}{key} = {toml}\n")
    code, out, err = run(capsys, "config", "--format", "json")
    assert code == 0, err
    row = {r["key"]: r for r in json.loads(out)["settings"]}[key]
    assert row["value"] == expected and type(row["value"]) is type(expected)


def test_an_empty_variable_is_unset(capsys, tmp_path, monkeypatch):
    (tmp_path / "calib.toml").write_text("bins = 7\n")
    monkeypatch.setenv("CALIB_BINS", "")
    code, out, _ = run(capsys, "config", "--format", "json")
    row = {r["key"]: r for r in json.loads(out)["settings"]}["bins"]
    assert code == 0 and row["value"] == 7 and row["source"] == "file"


# ------------------------------------------------------------------ config files that cannot be read


def test_non_utf8_pyproject_with_the_table_is_exit_2_naming_file_and_line(capsys, tmp_path):
    (tmp_path / "pyproject.toml").write_bytes(b"[tool.calib]\nbins = 10\n# caf\xe9\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    os.chdir(sub)
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2 and "Traceback" not in err and "internal error" not in err
    assert f"{tmp_path / 'pyproject.toml'}:3" in err and "UTF-8" in err and "--no-config" in err
    assert run(capsys, "--no-config", "audit", BINARY, "-q")[0] == 0


def test_non_utf8_pyproject_that_cannot_hold_the_table_is_skipped(capsys, tmp_path):
    # no 'calib' in its bytes: it cannot configure calib, so it must not stop it
    from calibcli.config import find_config_file

    (tmp_path / "pyproject.toml").write_bytes(b"[project]\nname = 'x'\n# caf\xe9\n")
    found = find_config_file(tmp_path)  # no error; whatever lies above the test folder may be found
    assert found is None or found.parent != tmp_path.resolve()


def test_non_utf8_pyproject_mentioning_calib_is_an_error_with_the_way_out(capsys, tmp_path):
    (tmp_path / "pyproject.toml").write_bytes(b"[project]\ndescription = 'calibration caf\xe9'\n")
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2 and "pyproject.toml:2" in err and "[tool.calib]" in err and "--no-config" in err
    assert run(capsys, "--no-config", "audit", BINARY, "-q")[0] == 0


@pytest.mark.parametrize("content", [
    b"bins = 3\n# \xff\xfe\n",
    b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    b"\x00\x01\x02",
    b"bins = 3\x00\n",
])
def test_broken_explicit_config_is_exit_2(capsys, tmp_path, content):
    (tmp_path / "ci.toml").write_bytes(content)
    code, _, err = run(capsys, "--config", "ci.toml", "audit", BINARY, "-q")
    assert code == 2 and "ci.toml" in err and "Traceback" not in err and "internal error" not in err


def test_pyproject_whose_tool_is_not_a_table(capsys, tmp_path):
    (tmp_path / "pyproject.toml").write_text("tool = 5\ncalib = 1\n")
    code, _, err = run(capsys, "--config", "pyproject.toml", "audit", BINARY, "-q")
    assert code == 2 and "[tool.calib]" in err


@pytest.mark.parametrize("text, table, expected", [
    ("[tool.calib.gates]\nmax-ece = 0.1\n", "pyproject.toml", "Did you mean [tool.calib.gate]?"),
    ("[gates]\nmax-ece = 0.1\n", "calib.toml", "Did you mean [gate]?"),
    ("[tool.calib.gate.extra]\nmax-ece = 0.1\n", "pyproject.toml", "not tables"),
])
def test_unknown_table_suggests_a_table_name(capsys, tmp_path, text, table, expected):
    (tmp_path / table).write_text(text)
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2 and expected in err and "Did you mean 'gate-seed'" not in err and ":1" in err


# ------------------------------------------------------------------ paths in a config file


def test_paths_in_a_config_file_are_relative_to_its_folder(capsys, tmp_path):
    proj = tmp_path / "proj"
    (proj / "reports").mkdir(parents=True)
    (proj / "old").mkdir()
    (proj / "old" / "prev.csv").write_bytes(Path(BINARY).read_bytes())
    (proj / "pyproject.toml").write_text(textwrap.dedent(f"""
        [tool.calib]
        md-out = "reports/r.md"
        json-out = "{(tmp_path / 'abs.json').as_posix()}"
        [tool.calib.gate]
        baseline = ["old/*.csv"]
        max-ece-increase = 0.5
    """))
    work = proj / "src" / "deep"
    work.mkdir(parents=True)
    os.chdir(work)
    code, out, _ = run(capsys, "config", "--format", "json", "--set-only")
    rows = {r["key"]: r["value"] for r in json.loads(out)["settings"]}
    assert code == 0
    assert rows["md-out"] == os.path.join("..", "..", "reports", "r.md")
    assert rows["baseline"] == [os.path.join("..", "..", "old", "*.csv")]
    assert rows["json-out"] == (tmp_path / "abs.json").as_posix()  # absolute paths stay as they are
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 0, err
    assert (proj / "reports" / "r.md").exists() and (tmp_path / "abs.json").exists()
    assert not (work / "reports").exists()
    # from the config file's own folder the paths read as written
    os.chdir(proj)
    code, out, _ = run(capsys, "config", "--format", "json", "--set-only")
    assert {r["key"]: r["value"] for r in json.loads(out)["settings"]}["md-out"] == "reports/r.md"


def test_environment_and_flag_paths_stay_relative_to_the_working_directory(capsys, tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "calib.toml").write_text("bins = 5\n")
    monkeypatch.setenv("CALIB_MD_OUT", "here.md")
    code, out, _ = run(capsys, "--config", "conf/calib.toml", "config", "--format", "json", "--set-only")
    assert code == 0 and {r["key"]: r["value"] for r in json.loads(out)["settings"]}["md-out"] == "here.md"


def test_glob_in_a_config_folder_with_glob_characters(capsys, tmp_path):
    proj = tmp_path / "run[1]"
    proj.mkdir()
    (proj / "prev.csv").write_bytes(Path(BINARY).read_bytes())
    (proj / "calib.toml").write_text("[gate]\nbaseline = ['prev*.csv']\nmax-ece-increase = 0.5\n")
    code, _, err = run(capsys, "--config", proj / "calib.toml", "audit", BINARY, "-q")
    assert code == 0, err


# ------------------------------------------------------------------ calib config --format json has a schema


@pytest.mark.parametrize("command", COMMANDS)
def test_calib_config_json_validates_against_its_schema(capsys, tmp_path, monkeypatch, command):
    schema = config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    (tmp_path / "pyproject.toml").write_text("[tool.calib]\nbins = 10\nlabel-col = 'y'\n[tool.calib.gate]\nfail-if = ['ece > 0.5']\n")
    monkeypatch.setenv("CALIB_SEED", "3")
    code, out, _ = run(capsys, "config", command, "--format", "json")
    assert code == 0
    jsonschema.validate(json.loads(out), schema)
    code, out, _ = run(capsys, "config", "--schema")
    assert code == 0 and json.loads(out) == json.loads(json.dumps(schema))


# ------------------------------------------------------------------ the gate's verdict is never silent


def test_quiet_failing_gate_prints_one_line_per_failed_rule_on_stderr(capsys):
    code, out, err = run(capsys, "audit", MULTI, "-q", "--max-class-ece", "0.01", "--max-ece", "0.9", "--warn-if", "mce > 0.01")
    assert code == 1 and out == ""
    lines = err.splitlines()
    failed = [x for x in lines if x.startswith("calib: gate failed: ")]
    warned = [x for x in lines if x.startswith("calib: gate warning: ")]
    assert len(failed) == 1 and len(warned) == 1
    assert "worst class ECE" in failed[0] and "(class '" in failed[0] and "> max 0.01 (--max-class-ece)" in failed[0]


def test_json_format_keeps_stdout_pure_and_still_says_why_on_stderr(capsys):
    code, out, err = run(capsys, "audit", BINARY, "--format", "json", "--max-ece", "0.01")
    assert code == 1 and json.loads(out)["gate"]["passed"] is False
    assert err.startswith("calib: gate failed: ECE ")


def test_per_file_lines_name_their_file(capsys):
    code, _, err = run(capsys, "audit", BINARY, MULTI, "--per-file", "-q", "--max-ece", "0.01")
    assert code == 1
    lines = [x for x in err.splitlines() if x.startswith("calib: gate failed:")]
    assert len(lines) == 2 and BINARY in lines[0] and MULTI in lines[1]


def test_passing_gate_prints_nothing_on_stderr(capsys):
    code, out, err = run(capsys, "audit", BINARY, "-q", "--max-ece", "0.9")
    assert code == 0 and out == "" and err == ""


def test_junit_never_says_none(capsys, tmp_path):
    top = SAMPLES / "top_label.csv"
    for args in ([BINARY, "--max-ece", "0.01", "--warn-if", "mce > 0.01"],
                 [BINARY, "--max-ece", "0.01", "--on", "upper", "--gate-replicates", "20"],
                 [str(top), "--fail-if", "classwise_ece > 0.01", "--fail-if", "brier > 0.1"]):
        code, _, _ = run(capsys, "audit", *args, "-q", "--junit-out", tmp_path / "j.xml")
        assert code == 1
        text = (tmp_path / "j.xml").read_text()
        assert "None" not in text and "<failure" in text


# ------------------------------------------------------------------ the boundary


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_on_stdout_is_exit_2_not_a_bug(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALIB_", "GITHUB_"))}
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "calibcli", "--no-config", "config"], stdout=full,
                           stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 2 and "No space left" in p.stderr and "Traceback" not in p.stderr


def test_line_scan_of_a_config_file_is_linear(capsys, tmp_path):
    # a table-header-like line inside a multi-line string once made the line scan backtrack for minutes
    (tmp_path / "calib.toml").write_text('note = """\n[' + " " * 3000 + 'x\n"""\nbins = 7\n')
    code, out, err = run(capsys, "config", "--format", "json", "--set-only")
    assert code == 2 and "'note'" in err  # unknown key, found in no time
    (tmp_path / "calib.toml").write_text('bins = 7\n# [' + " " * 3000 + "x\n")
    code, out, err = run(capsys, "config", "--format", "json", "--set-only")
    assert code == 0 and json.loads(out)["settings"][0]["line"] == 1


def test_a_wrong_value_is_refused_whichever_command_runs(capsys, tmp_path, monkeypatch):
    (tmp_path / "calib.toml").write_text("histogram-bins = 0\n")  # a calib fit setting
    code, _, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2 and "calib.toml:1" in err and "'histogram-bins'" in err
    (tmp_path / "calib.toml").unlink()
    monkeypatch.setenv("CALIB_REVIEW_PRECISION", "0.2")
    code, _, err = run(capsys, "fit", BINARY, "-o", "cal.json")
    assert code == 2 and "env CALIB_REVIEW_PRECISION" in err and not (tmp_path / "cal.json").exists()
