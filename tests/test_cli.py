"""The command line: exit codes, stdout purity, help, version, terminal output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli_helpers import run
from conftest import SAMPLES

PROBS = str(SAMPLES / "multiclass_probs.csv")


def test_exit_0_and_table():
    r = run(["audit", PROBS])
    assert r.exit_code == 0
    assert "ECE" in r.stdout and "lizard" in r.stdout and "15 equal-width bins" in r.stdout


def test_table_fits_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    r = run(["audit", PROBS])
    assert r.exit_code == 0
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert "\x1b[" not in r.stdout


def test_exit_2_usage_error():
    r = run(["audit", PROBS, "--bins", "0"])
    assert r.exit_code == 2 and "bins" in r.stderr
    r = run(["audit"])
    assert r.exit_code == 2
    r = run(["nonsense"])
    assert r.exit_code == 2


def test_exit_3_internal_error_has_hint(monkeypatch):
    import calibcli.audit

    def boom(*a, **k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(calibcli.audit, "build_audit", boom)
    r = run(["audit", PROBS])
    assert r.exit_code == 3
    assert "internal error" in r.stderr and "--traceback" in r.stderr and "Traceback" not in r.stderr


def test_exit_130_interrupted(monkeypatch):
    import calibcli.audit

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(calibcli.audit, "build_audit", interrupt)
    assert run(["audit", PROBS]).exit_code == 130


def test_json_stdout_is_pure_json():
    r = run(["audit", PROBS, "--format", "json"])
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["schema_version"] == 1
    assert data["input"]["task"] == "multiclass" and data["input"]["n_samples"] == 3000
    assert set(data["metrics"]) >= {"accuracy", "ece", "mce", "classwise_ece", "brier", "nll"}
    assert data["binning"] == {"n_bins": 15, "strategy": "uniform", "edge_rule": data["binning"]["edge_rule"],
                               "edges_exact": True, "edges_rank_error": None}
    assert data["engine"]["name"] == "local" and data["engine"]["rows_read"] >= 3000
    assert len(data["reliability"]) == 15
    empty = [b for b in data["reliability"] if b["count"] == 0]
    assert all(b["mean_confidence"] is None and b["accuracy"] is None for b in empty)
    assert sum(b["count"] for b in data["reliability"]) == 3000
    cls = data["classes"][0]
    assert set(cls) >= {"name", "support", "ece", "direction", "reliability"}
    assert set(cls["reliability"][0]) == {"lower", "upper", "count", "mean_confidence", "observed_frequency"}


def test_json_nulls_for_top_label():
    data = json.loads(run(["audit", str(SAMPLES / "top_label.csv"), "--format", "json"]).stdout)
    assert data["metrics"]["nll"] is None and data["metrics"]["brier"] is None and data["metrics"]["classwise_ece"] is None


def test_json_out_and_per_file(tmp_path):
    out = tmp_path / "r.json"
    r = run(["audit", PROBS, str(SAMPLES / "binary.csv"), "--per-file", "--json-out", out, "-q"])
    assert r.exit_code == 0 and r.stdout == ""
    data = json.loads(out.read_text())
    assert [rep["input"]["task"] for rep in data["reports"]] == ["multiclass", "binary"]


def test_help_and_version():
    for flag in ("-h", "--help"):
        r = run([flag])
        assert r.exit_code == 0 and "audit" in r.stdout
    r = run(["audit", "-h"])
    assert r.exit_code == 0 and "--score-kind" in r.stdout
    r = run(["--version"])
    assert r.exit_code == 0 and "calib" in r.stdout


def test_every_command_has_help_and_is_in_readme():
    from calibcli.cli.main import cli

    readme = (SAMPLES.parent / "README.md").read_text()
    for name in cli.list_commands(None):
        cmd = cli.get_command(None, name)
        assert cmd.help and cmd.help.strip(), name
        assert f"calib {name}" in readme, name


def test_python_dash_m_runs():
    r = subprocess.run([sys.executable, "-m", "calibcli", "audit", PROBS, "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 0
    assert json.loads(r.stdout)["input"]["n_classes"] == 5
    r = subprocess.run([sys.executable, "-m", "calibcli", "audit", str(SAMPLES / "nope.csv")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("name", ["multiclass_logits.parquet", "binary.csv", "multilabel.csv", "top_label.csv", "cifar10_vgg16_real.csv"])
def test_every_sample_audits(name):
    r = run(["audit", str(SAMPLES / name)])
    assert r.exit_code == 0, r.stderr


def test_json_out_is_written_with_usual_permissions(tmp_path):
    import os
    import stat

    out = tmp_path / "r.json"
    assert run(["audit", PROBS, "--json-out", out, "-q", "--no-calibration"]).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_sort_by_choices_are_the_comparisons_metrics():
    # --sort-by lists its choices without importing calibcli.comparison (--help stays fast): keep them equal
    from calibcli.cli.audit_compare import SORT_CHOICES
    from calibcli.comparison import SORT_METRICS

    assert SORT_CHOICES == tuple(SORT_METRICS)
