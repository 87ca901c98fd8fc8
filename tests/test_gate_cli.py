"""``calib audit`` with gate rules: the exit-code matrix, outputs written on failure, sources."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from calibcli.cli.main import main

from conftest import ROOT, SAMPLES

BINARY = str(SAMPLES / "binary.csv")  # ECE ~0.107, accuracy 0.787, 2000 rows
MULTI = str(SAMPLES / "multiclass_probs.csv")
LOGITS = str(SAMPLES / "multiclass_logits.parquet")


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


def gate_of(out: str) -> dict:
    return json.loads(out)["gate"]


# ------------------------------------------------------------------ exit-code matrix


@pytest.mark.parametrize(
    "args, code",
    [
        ([], 0),  # no rules
        (["--max-ece", "0.5"], 0),
        (["--max-ece", "0.05"], 1),
        (["--min-accuracy", "0.7"], 0),
        (["--min-accuracy", "0.8"], 1),
        (["--min-samples", "2000"], 0),
        (["--min-samples", "2001"], 1),
        (["--max-classwise-ece", "0.5", "--max-class-ece", "0.5", "--max-mce", "0.5", "--max-brier", "1", "--max-nll", "1"], 0),
        (["--max-nll", "0.5"], 1),
        (["--fail-if", "ece > 0.5"], 0),
        (["--fail-if", "ece > 0.5", "--fail-if", "brier >= 0.3"], 1),
        (["--warn-if", "ece > 0.05"], 0),
        (["--warn-if", "ece > 0.05", "--strict"], 1),
        (["--max-ece", "0.05", "--on", "upper"], 1),
        (["--max-ece", "0.5", "--on", "upper", "--gate-replicates", "20"], 0),
        (["--fail-if", "__import__('os').system('touch HACKED')"], 2),
        (["--fail-if", "ece > 0.1; rm -rf /"], 2),
        (["--fail-if", ""], 2),
        (["--max-ece", "abc"], 2),
        (["--on", "lower"], 2),
        (["--max-ece", "0.5", "--on", "upper", "--gate-seed", "-1"], 2),
        (["--max-ece", "nan"], 2),
        (["--min-accuracy", "inf"], 2),
        (["--fail-if", "ece_increase > 0.01"], 2),  # needs --baseline
        (["--baseline", MULTI], 2),  # baseline without a rule using it
    ],
)
def test_exit_codes(capsys, args, code):
    got, out, err = run(capsys, "audit", BINARY, "-q", *args)
    assert got == code, err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith(("calib: error:", "Usage:", "Error:"))
    assert not Path("HACKED").exists()


def test_bad_input_is_2_even_with_rules(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,p_a,p_b\n0,0.5,0.7\n")
    code, _, err = run(capsys, "audit", bad, "--max-ece", "0.1")
    assert code == 2 and "calib: error:" in err


def test_internal_error_is_3(capsys, monkeypatch):
    import calibcli.gate

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(calibcli.gate, "evaluate_gate", boom)
    code, _, err = run(capsys, "audit", BINARY, "--max-ece", "0.1")
    assert code == 3 and "internal error" in err and "--traceback" in err


def test_failed_gate_still_writes_every_output(capsys, tmp_path):
    md, junit, js = tmp_path / "r.md", tmp_path / "out" / "r.xml", tmp_path / "r.json"
    code, out, err = run(capsys, "audit", BINARY, "--max-ece", "0.05", "--md-out", md, "--junit-out", junit, "--json-out", js)
    assert code == 1
    assert md.read_text().startswith("## ❌ calib gate failed")
    assert "<failure" in junit.read_text()
    report = json.loads(js.read_text())
    assert report["gate"]["passed"] is False
    from calibcli.gate import format_value

    assert "gate FAILED" in out
    # the reason goes to stderr, one line, not duplicated on stdout
    line = f"calib: gate failed: ECE {format_value(report['metrics']['ece'], 0.05)} > max 0.05 (--max-ece)"
    assert line in err.splitlines() and "> max 0.05" not in out


def test_json_stdout_stays_pure_with_a_failing_gate(capsys):
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json", "--max-ece", "0.05", "--warn-if", "mce > 0.1")
    assert code == 1
    g = gate_of(out)
    assert g["passed"] is False and g["on"] == "point"
    ece, mce = g["rules"]
    assert (ece["metric"], ece["op"], ece["limit"], ece["severity"], ece["status"], ece["source"]) == ("ece", ">", 0.05, "fail", "fail", "--max-ece")
    assert ece["value"] == json.loads(out)["metrics"]["ece"]
    assert (mce["severity"], mce["status"], mce["source"]) == ("warn", "warn", "--warn-if 'mce > 0.1'")


def test_no_rules_means_no_gate_key(capsys):
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json")
    assert code == 0 and "gate" not in json.loads(out)


def test_per_file_fails_when_any_file_fails(capsys, tmp_path):
    good = tmp_path / "good.csv"
    shutil.copy(SAMPLES / "cifar10_vgg16_real.csv", good)  # ECE ~0.04
    code, out, _ = run(capsys, "audit", good, BINARY, "--per-file", "--format", "json", "--max-ece", "0.05")
    assert code == 1
    verdicts = [r["gate"]["passed"] for r in json.loads(out)["reports"]]
    assert verdicts == [True, False]
    code, _, _ = run(capsys, "audit", good, "--per-file", "--max-ece", "0.05", "-q")
    assert code == 0


def test_upper_is_deterministic_across_runs_and_seeded(capsys):
    args = ["audit", MULTI, "--format", "json", "--on", "upper", "--max-ece", "0.3", "--gate-replicates", "50"]
    a = gate_of(run(capsys, *args)[1])
    b = gate_of(run(capsys, *args)[1])
    c = gate_of(run(capsys, *args, "--gate-seed", "1")[1])
    assert a == b
    assert a["rules"][0]["interval"] != c["rules"][0]["interval"]
    assert a["seed"] == 0 and c["seed"] == 1 and a["replicates"] == 50
    r = a["rules"][0]
    assert r["value"] == r["interval"][1] and r["interval"][0] <= r["point"] <= r["interval"][1]


def test_baseline_by_position_and_by_id(capsys, tmp_path):
    # same items: the logits file holds the same predictions as the probabilities file
    code, out, _ = run(capsys, "audit", MULTI, "--format", "json", "--baseline", LOGITS, "--max-ece-increase", "0.001")
    assert code == 0, out
    g = gate_of(out)
    assert g["baseline"]["matched_by"] == "position" and g["rules"][0]["point"] == pytest.approx(0.0, abs=1e-6)

    import pandas as pd

    df = pd.read_csv(MULTI)
    df.insert(0, "item", [f"id{i}" for i in range(len(df))])
    new = tmp_path / "new.csv"
    old = tmp_path / "old.csv"
    df.to_csv(new, index=False)
    worse = df.sample(frac=1.0, random_state=0)  # shuffled, and overconfident: sharpen the probabilities
    cols = [c for c in df if c.startswith("p_")]
    sharp = worse[cols] ** 0.5
    worse[cols] = sharp.div(sharp.sum(axis=1), axis=0)
    worse.to_csv(old, index=False)
    code, _, err = run(capsys, "audit", new, "-q", "--baseline", old, "--max-ece-increase", "0.01")
    assert code == 2 and "position" in err and "--id-col" in err  # shuffled rows: labels disagree by position
    code, out, err = run(capsys, "audit", new, "--format", "json", "--baseline", old, "--id-col", "item",
                         "--max-ece-increase", "0.01", "--on", "upper", "--gate-replicates", "30")
    g = gate_of(out)
    assert g["baseline"]["matched_by"] == "id" and g["baseline"]["n_matched"] == len(df)
    assert code == (1 if g["rules"][0]["status"] == "fail" else 0)
    code, _, err = run(capsys, "audit", new, "-q", "--baseline", old, "--id-col", "nope", "--max-ece-increase", "0.01")
    assert code == 2 and "nope" in err


def test_report_path_equal_to_input_is_refused(capsys, tmp_path):
    src = tmp_path / "in.csv"
    shutil.copy(BINARY, src)
    code, _, err = run(capsys, "audit", src, "--md-out", src)
    assert code == 2 and "--md-out" in err
    assert src.read_text() == Path(BINARY).read_text()


def test_real_process_exit_codes(tmp_path):
    """The installed entry point exits 1 on a failed gate and 2 on a bad rule (no traceback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALIB_", "GITHUB_"))}
    exe = [sys.executable, "-m", "calibcli"]
    p = subprocess.run([*exe, "audit", BINARY, "-q", "--max-ece", "0.05"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert p.returncode == 1
    p = subprocess.run([*exe, "audit", BINARY, "-q", "--fail-if", "ece >> 1"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "cannot read the gate rule" in p.stderr


def test_help_lists_gate_options():
    from click.testing import CliRunner

    from calibcli.cli.main import cli

    res = CliRunner().invoke(cli, ["audit", "--help"], env={"COLUMNS": "120"})
    for flag in ("--max-ece", "--fail-if", "--warn-if", "--strict", "--on", "--baseline", "--id-col", "--md-out", "--junit-out", "--no-ci-summary"):
        assert flag in res.output
    assert ROOT.exists()


def test_gate_on_a_streaming_source_pairs_the_baseline_without_a_join(tmp_path):
    """attach() on a BatchSource (open_source): the baseline is paired by fingerprints and the paired,
    id-keyed bootstrap gives the interval of the in-memory path, whatever the baseline's row order."""
    import dataclasses

    import pandas as pd

    from calibcli.audit import build_audit
    from calibcli.cli import audit_gate
    from calibcli.engine.streaming import open_source
    from calibcli.gate import parse_rule
    from calibcli.loading import LoadOptions, load_predictions

    new, old = pd.read_csv(SAMPLES / "multiclass_probs.csv"), pd.read_csv(SAMPLES / "previous_model.csv")
    for df in (new, old):
        df.insert(0, "id", [f"x{i}" for i in range(len(df))])
    new.to_csv(tmp_path / "new.csv", index=False)
    old.sample(frac=1, random_state=0).to_csv(tmp_path / "old.csv", index=False)
    lo = dataclasses.replace(LoadOptions(), id_col="id")
    opts = {"gate": audit_gate.GateOptions(rules=(parse_rule("ece_increase > 0.01"),), on="upper", replicates=40,
                                           baseline=(str(tmp_path / "old.csv"),), id_col="id"),
            "load_options": lo, "n_bins": 15, "strategy": "uniform"}
    src = open_source([str(tmp_path / "new.csv")], lo, batch_rows=700)
    streamed = audit_gate.attach(build_audit(src, 15, "uniform"), src, opts).gate
    loaded = load_predictions([str(tmp_path / "new.csv")], lo)
    in_memory = audit_gate.attach(build_audit(loaded, 15, "uniform"), loaded, opts).gate
    assert streamed.baseline.matched_by == in_memory.baseline.matched_by == "id"
    assert streamed.rules[0].interval == pytest.approx(in_memory.rules[0].interval, rel=1e-9)
    assert streamed.rules[0].point == pytest.approx(in_memory.rules[0].point, rel=1e-9)
    # a baseline with another label for one item is refused, naming what differs
    old.loc[0, "label"] = "dog" if old.loc[0, "label"] != "dog" else "cat"
    old.to_csv(tmp_path / "old.csv", index=False)
    from calibcli.errors import InputError

    with pytest.raises(InputError, match="label counts differ"):
        audit_gate.attach(build_audit(src, 15, "uniform"), src, opts)
