"""Configuration: discovery, precedence (flags > env > file > defaults), unknown keys, sources, ``calib config``."""

from __future__ import annotations

import json
import textwrap

import pytest

from calibcli.cli.main import main
from calibcli.config import find_config_file, key_lines, load_config
from calibcli.errors import ConfigError

from conftest import SAMPLES

BINARY = str(SAMPLES / "binary.csv")  # ECE ~0.11
KEYS = {"bins", "label-col", "md-out", "max-ece", "fail-if", "warn-if", "strict", "min-accuracy"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    # CALIB_* and GITHUB_* are cleared for every test by conftest.isolated_env
    monkeypatch.chdir(tmp_path)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


PYPROJECT = """
[project]
name = "model"

[tool.calib]
bins = 10

[tool.calib.gate]
max-ece = 0.5
fail-if = [
    "accuracy < 0.5",
]
"""


# ------------------------------------------------------------------ discovery


def test_found_walking_up(tmp_path):
    write(tmp_path / "pyproject.toml", PYPROJECT)
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert find_config_file(sub) == (tmp_path / "pyproject.toml").resolve()


def test_pyproject_without_table_is_skipped_and_nearer_calib_toml_wins(tmp_path):
    write(tmp_path / "calib.toml", "bins = 5\n")
    write(tmp_path / "proj" / "pyproject.toml", "[project]\nname = 'x'\n")
    assert find_config_file(tmp_path / "proj") == (tmp_path / "calib.toml").resolve()
    write(tmp_path / "proj" / "calib.toml", "bins = 7\n")
    assert find_config_file(tmp_path / "proj") == (tmp_path / "proj" / "calib.toml").resolve()


def test_nothing_found(tmp_path):
    assert find_config_file(tmp_path) is None or not str(find_config_file(tmp_path)).startswith(str(tmp_path))


def test_key_lines():
    text = '[tool.calib]\nbins = 10\n\n[tool.calib.gate]\n"max-ece" = 0.05\nfail-if = [\n  "ece > 0.1",\n]\n'
    lines = key_lines(text)
    assert lines[("tool", "calib", "bins")] == 2
    assert lines[("tool", "calib", "gate", "max-ece")] == 5
    assert lines[("tool", "calib", "gate", "fail-if")] == 6


def test_load_config_sources(tmp_path):
    write(tmp_path / "pyproject.toml", PYPROJECT)
    cfg = load_config(KEYS, cwd=str(tmp_path), environ={"CALIB_BINS": "12"})
    assert cfg.path == str((tmp_path / "pyproject.toml").resolve())
    assert cfg.get("bins").value == "12" and cfg.get("bins").origin == "env CALIB_BINS"
    s = cfg.get("max-ece")
    assert (s.value, s.source, s.origin, s.line) == (0.5, "file", "pyproject.toml:8", 8)
    assert cfg.get("fail-if").line == 9


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("[tool.calib]\nbinz = 10\n", ["pyproject.toml:2", "unknown key 'binz'", "Did you mean 'bins'"]),
        ("[tool.calib.gate]\nmax-ec = 0.05\n", ["pyproject.toml:2", "unknown key 'max-ec'", "Did you mean 'max-ece'"]),
        ("[tool.calib]\nmax-ece = 0.05\n", ["pyproject.toml:2", "gate rule", "[tool.calib.gate]"]),
        ("[tool.calib.gate]\nbins = 10\n", ["pyproject.toml:2", "not a gate rule"]),
        ("[tool.calib]\nbins = 'many'\n", ["pyproject.toml:2", "bins", "many"]),
        ("[tool.calib]\nbins = [1, 2]\n", ["pyproject.toml:2", "one value"]),
        ("[tool.calib.gate]\nfail-if = 3\n", ["pyproject.toml:2", "fail-if"]),
        ("[tool.calib.gate]\nfail-if = ['ece > 0.1; rm -rf /']\n", ["pyproject.toml:2 fail-if", "cannot read the gate rule", "';'"]),
        ("[tool.calib\nbins = 1\n", ["not valid TOML"]),
        ("[tool.calib]\ngate = 5\n", ["'gate' must be a table"]),
    ],
)
def test_config_errors_exit_2(capsys, tmp_path, text, fragments):
    (tmp_path / "pyproject.toml").write_text(text)
    code, out, err = run(capsys, "audit", BINARY, "-q")
    assert code == 2, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, (f, err)


def test_missing_explicit_config(capsys):
    code, _, err = run(capsys, "--config", "nope.toml", "audit", BINARY)
    assert code == 2 and "nope.toml" in err


def test_no_config_ignores_a_broken_file(capsys, tmp_path):
    write(tmp_path / "calib.toml", "binz = 3\n")
    assert run(capsys, "audit", BINARY, "-q")[0] == 2
    assert run(capsys, "--no-config", "audit", BINARY, "-q")[0] == 0


# ------------------------------------------------------------------ precedence


def _rule(out):
    return json.loads(out)["gate"]["rules"]


def test_precedence_flag_env_file_default(capsys, tmp_path, monkeypatch):
    write(tmp_path / "pyproject.toml", "[tool.calib]\nbins = 10\n[tool.calib.gate]\nmax-ece = 0.5\n")
    # file
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json")
    assert code == 0
    assert json.loads(out)["binning"]["n_bins"] == 10
    assert _rule(out)[0]["source"] == "pyproject.toml:4 max-ece" and _rule(out)[0]["line"] == 4
    # env beats file
    monkeypatch.setenv("CALIB_MAX_ECE", "0.01")
    monkeypatch.setenv("CALIB_BINS", "20")
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json")
    assert code == 1
    assert json.loads(out)["binning"]["n_bins"] == 20
    assert _rule(out)[0]["source"] == "env CALIB_MAX_ECE" and _rule(out)[0]["limit"] == 0.01
    # flag beats env
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json", "--max-ece", "0.9", "--bins", "5")
    assert code == 0
    assert json.loads(out)["binning"]["n_bins"] == 5 and _rule(out)[0]["source"] == "--max-ece"
    # defaults without file or env
    monkeypatch.delenv("CALIB_MAX_ECE")
    monkeypatch.delenv("CALIB_BINS")
    code, out, _ = run(capsys, "--no-config", "audit", BINARY, "--format", "json")
    assert code == 0 and json.loads(out)["binning"]["n_bins"] == 15 and "gate" not in json.loads(out)


def test_calib_toml_and_explicit_config(capsys, tmp_path, monkeypatch):
    write(tmp_path / "ci" / "gate.toml", "[gate]\nwarn-if = ['ece > 0.01']\nstrict = true\n")
    code, out, _ = run(capsys, "--config", tmp_path / "ci" / "gate.toml", "audit", BINARY, "--format", "json")
    assert code == 1
    r = _rule(out)[0]
    assert (r["severity"], r["status"]) == ("warn", "fail") and r["source"].endswith("gate.toml:2 warn-if")
    monkeypatch.setenv("CALIB_CONFIG", str(tmp_path / "ci" / "gate.toml"))
    assert run(capsys, "audit", BINARY, "-q")[0] == 1
    assert run(capsys, "--no-config", "audit", BINARY, "-q")[0] == 0


def test_env_fail_if_takes_one_rule_per_line(capsys, monkeypatch):
    monkeypatch.setenv("CALIB_FAIL_IF", "ece > 0.9\naccuracy < 0.1")
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json")
    assert code == 0
    assert [(r["metric"], r["source"]) for r in _rule(out)] == [("ece", "env CALIB_FAIL_IF"), ("accuracy", "env CALIB_FAIL_IF")]


def test_flag_fail_if_replaces_configured_ones(capsys, tmp_path):
    write(tmp_path / "calib.toml", "[gate]\nfail-if = ['ece > 0.01']\n")
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json", "--fail-if", "ece > 0.9")
    assert code == 0 and [r["source"] for r in _rule(out)] == ["--fail-if 'ece > 0.9'"]


# ------------------------------------------------------------------ calib config


def test_calib_config_shows_values_and_sources(capsys, tmp_path, monkeypatch):
    write(tmp_path / "pyproject.toml", PYPROJECT)
    monkeypatch.setenv("CALIB_LABEL_COL", "y")
    code, out, _ = run(capsys, "config", "--format", "json")
    assert code == 0
    data = json.loads(out)
    rows = {r["key"]: r for r in data["settings"]}
    assert data["config_file"].endswith("pyproject.toml")
    assert (rows["bins"]["value"], rows["bins"]["origin"], rows["bins"]["table"]) == (10, "pyproject.toml:5", "")
    assert (rows["max-ece"]["value"], rows["max-ece"]["table"], rows["max-ece"]["line"]) == (0.5, "gate", 8)
    assert rows["fail-if"]["value"] == ["accuracy < 0.5"]
    assert (rows["label-col"]["value"], rows["label-col"]["source"]) == ("y", "env")
    assert (rows["binning"]["value"], rows["binning"]["source"]) == ("uniform", "default")
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(capsys, "config")
    assert code == 0
    assert "pyproject.toml:5" in out and "gate.max-ece" in out and "env CALIB_LABEL_COL" in out
    code, out, _ = run(capsys, "config", "--set-only", "--format", "json")
    assert {r["key"] for r in json.loads(out)["settings"]} == {"bins", "max-ece", "fail-if", "label-col"}


def test_calib_config_without_file(capsys):
    code, out, _ = run(capsys, "--no-config", "config")
    assert code == 0 and "none found" in out


def test_calib_config_unknown_command(capsys):
    code, _, err = run(capsys, "config", "nope")
    assert code == 2 and "audit" in err


def test_config_error_message_names_file(tmp_path):
    write(tmp_path / "calib.toml", "[gate]\nmax-eec = 1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(KEYS, cwd=str(tmp_path), environ={})
    assert "calib.toml:2" in str(exc.value) and "max-ece" in str(exc.value)


def test_a_value_only_checked_for_the_command_that_runs(capsys, tmp_path):
    from calibcli.cli.main import LazyGroup

    if "thresholds" not in LazyGroup.commands_by_module:
        pytest.skip("no calib thresholds command yet")
    write(tmp_path / "calib.toml", "format = 'csv'\n")  # valid for calib thresholds, not for calib audit
    code, out, err = run(capsys, "thresholds", BINARY, "--objective", "f1", "--bootstrap", "0")
    assert code == 0, err
    assert out.splitlines()[0].count(",") > 3  # CSV from the config file
    code, _, err = run(capsys, "audit", BINARY)
    assert code == 2 and "calib.toml:1" in err and "format" in err


def test_unknown_environment_variable_is_a_config_error(capsys, monkeypatch):
    monkeypatch.setenv("CALIB_MAX_ECEE", "0.1")
    code, out, err = run(capsys, "audit", BINARY)
    assert code == 2 and out == ""
    assert "CALIB_MAX_ECEE" in err and "Did you mean 'CALIB_MAX_ECE'" in err
    monkeypatch.delenv("CALIB_MAX_ECEE")
    monkeypatch.setenv("CALIB_CONFIG", "")  # CALIB_CONFIG is known, not a setting
    assert run(capsys, "audit", BINARY, "-q")[0] == 0


def test_broken_config_still_shows_help_but_fails_a_run(capsys, tmp_path):
    write(tmp_path / "calib.toml", "max-ecee = 0.1\n")
    code, out, _ = run(capsys, "audit", "--help")
    assert code == 0 and "Usage: calib audit" in out
    code, out, err = run(capsys, "audit", BINARY)
    assert code == 2 and "calib.toml:1" in err and "max-ece" in err
