"""Honest evaluation of calibration in ``calib audit``: cross-fitting, split, --fit-on,
comparison of calibrators, JSON contract and terminal section."""

from __future__ import annotations

import json
import re

import jsonschema
import numpy as np
import pandas as pd
import pytest

from calibcli import metrics as M
from calibcli.audit import measure
from calibcli.calibration_stage import evaluate_calibration
from calibcli.calibrators import IsotonicCalibrator, TemperatureScaling
from calibcli.errors import InputError, UsageError
from calibcli.loading import load_predictions
from calibcli.predictions import Predictions, ScoreKind, Task, softmax
from calibcli.report import Measurement
from calibcli.schema import report_schema
from tests.cli_helpers import run
from tests.conftest import SAMPLES, real

PLAMBDA = "plambda_cifar10_vgg16"
METRIC_KEYS = ["accuracy", "ece", "mce", "classwise_ece", "brier", "nll", "ece_top_label"]


def _fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    """Each row's fold: a row-keyed draw on its position (what the audit's cross-fitting uses)."""
    from calibcli.stats.rng import fold_of

    return fold_of(seed, np.arange(n), folds)


def _load(name):
    return load_predictions([str(real(name))]).predictions


def _provenance(name) -> dict[str, float]:
    text = real(name, "PROVENANCE.md").read_text()
    return {k: float(v) for k, v in re.findall(r"^\| (\w+) \| ([-0-9.]+) \|$", text, flags=re.M)}


@pytest.fixture(scope="module")
def small():
    """3,000 rows of the VGG-16 file (fast, real)."""
    return _load(PLAMBDA).subset(np.arange(3000))


def test_cross_fit_is_out_of_fold(small):
    r = evaluate_calibration(small, seed=4)
    ids = _fold_ids(small.n_samples, 2, 4)
    assert np.bincount(ids).sum() == 3000 and 1300 < np.bincount(ids).min()  # row-keyed folds: sizes vary
    expected = np.empty_like(small.probs)
    temps = []
    for f in range(2):
        cal = TemperatureScaling.fit(small.subset(ids != f))  # fitted without fold f ...
        temps.append(cal.temperature[0])
        expected[ids == f] = cal.transform(small.subset(ids == f)).probs  # ... scores fold f
    assert np.max(np.abs(r.calibrated.probs - expected)) < 1e-6  # both fits stop within 1e-6 of the optimal T
    assert r.fit["fold_temperatures"] == pytest.approx(temps, abs=1e-6)
    assert r.evaluated_rows is None
    assert r.temperature == pytest.approx(TemperatureScaling.fit(small).temperature[0], abs=1e-6)
    assert r.after.metrics.ece == pytest.approx(M.expected_calibration_error(small.labels, expected), abs=1e-6)


def test_seed_changes_folds_and_is_deterministic(small):
    a, b, c = (evaluate_calibration(small, seed=s) for s in (0, 0, 1))
    assert a.fit["fold_temperatures"] == b.fit["fold_temperatures"]
    assert a.temperature_ci == b.temperature_ci
    assert a.fit["fold_temperatures"] != c.fit["fold_temperatures"]


def test_generic_cross_fit_path_agrees_with_shared_pass(small):
    """Three folds go through the generic per-fold path; two folds through the fused one."""
    r3 = evaluate_calibration(small, folds=3)
    ids = _fold_ids(small.n_samples, 3, 0)
    for f in range(3):
        t = TemperatureScaling.fit(small.subset(ids != f)).temperature[0]
        assert r3.fit["fold_temperatures"][f] == pytest.approx(t, abs=1e-9)


def test_split_evaluates_only_unseen_rows(small):
    r = evaluate_calibration(small, split=0.3, seed=2)
    ev = r.evaluated_rows
    from calibcli.stats.rng import in_split

    drawn = in_split(2, np.arange(small.n_samples), 0.3)  # a row-keyed draw per row: about 900 of 3,000
    assert np.array_equal(ev, np.flatnonzero(~drawn)) and r.fit["fit_rows"] == drawn.sum() == 942
    assert r.fit["evaluated_rows"] == len(ev) == 2058
    fit_rows = np.flatnonzero(drawn)
    cal = TemperatureScaling.fit(small.subset(fit_rows))
    assert r.temperature == pytest.approx(cal.temperature[0], abs=1e-9)
    held = small.subset(ev)
    assert r.before.metrics.ece == pytest.approx(M.expected_calibration_error(held.labels, held.probs), abs=1e-12)
    assert np.array_equal(r.calibrated.labels, held.labels)
    assert r.after.metrics.nll == pytest.approx(M.negative_log_likelihood(held.labels, cal.transform(held).probs), abs=1e-12)


@pytest.mark.parametrize("name", [PLAMBDA, "netcal_cifar10_wrn16-4"])
def test_fit_on_reproduces_provenance_val_test_numbers(name, tmp_path):
    ref = _provenance(name)
    df = pd.read_parquet(real(name))
    split = pd.read_parquet(real(name, "split.parquet")).sort_values("row")["split"].to_numpy()
    df[split == "val"].to_parquet(tmp_path / "val.parquet")
    df[split == "test"].to_parquet(tmp_path / "test.parquet")
    res = run(["audit", tmp_path / "test.parquet", "--fit-on", tmp_path / "val.parquet", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    cal = json.loads(res.stdout)["calibration"]
    assert cal["temperature"] == pytest.approx(ref["T_val_nll"], abs=2e-6)
    assert cal["before"]["ece"] == pytest.approx(ref["ece15_test_before"], abs=1e-6)
    assert cal["after"]["ece"] == pytest.approx(ref["ece15_test_after_TS"], abs=1e-5)
    assert cal["before"]["nll"] == pytest.approx(ref["nll_test_before"], abs=1e-6)
    assert cal["after"]["nll"] == pytest.approx(ref["nll_test_after_TS"], abs=1e-5)
    assert cal["after"]["accuracy"] == pytest.approx(ref["acc_test"], abs=1e-9) and cal["accuracy_unchanged"] is True
    assert cal["fit"]["scheme"] == "fit-on" and cal["fit"]["fit_rows"] == 5000 and cal["fit"]["evaluated_rows"] == 5000
    if name.startswith("netcal"):
        assert any("exactly 0 or 1" in w for w in cal["warnings"])


def test_comparison_marks_lowest_nll(small):
    r = evaluate_calibration(small, ("temperature", "isotonic", "histogram"))
    nlls = {s.method: s.metrics.nll for s in r.comparison}
    assert r.best == min(nlls, key=nlls.get) and r.none_helps is False
    assert sum(s.best for s in r.comparison) == 1
    assert nlls["uncalibrated"] == pytest.approx(M.negative_log_likelihood(small.labels, small.probs), abs=1e-12)
    # each compared method is itself out-of-fold: check isotonic by hand
    ids = _fold_ids(small.n_samples, 2, 0)
    iso = np.empty_like(small.probs)
    for f in range(2):
        iso[ids == f] = IsotonicCalibrator.fit(small.subset(ids != f)).transform(small.subset(ids == f)).probs
    assert nlls["isotonic"] == pytest.approx(M.negative_log_likelihood(small.labels, iso), abs=1e-12)
    d = r.to_dict()
    assert [c["method"] for c in d["comparison"]] == ["uncalibrated", "temperature", "isotonic", "histogram"]
    assert d["best"] == r.best and d["method"] == "temperature" and d["none_helps"] is False


def test_contract_attributes_and_json_keys(small):
    r = evaluate_calibration(small)
    assert isinstance(r.before, Measurement) and isinstance(r.after, Measurement)
    assert isinstance(r.calibrated, Predictions) and r.calibrated.probs.shape == small.probs.shape
    d = r.to_dict()
    for key in ("method", "temperature", "temperature_ci", "fit", "before", "after", "classes"):
        assert key in d
    assert list(d["before"]) == METRIC_KEYS and list(d["after"]) == METRIC_KEYS
    assert len(d["classes"]) == 10 and {"ece_after", "brier_after"} <= set(d["classes"][0])
    lo, hi = d["temperature_ci"]
    assert lo < d["temperature"] < hi
    assert d["fit"]["scheme"] == "cross-fit" and "one-step bootstrap" in d["fit"]["temperature_ci_method"]
    # per-class after values are the one-vs-rest ECEs of the calibrated probabilities
    m = measure(r.calibrated)
    assert d["classes"][3]["ece_after"] == pytest.approx(m.classes[3].ece, abs=1e-15)


def test_multilabel_per_label(tmp_path):
    res = run(["audit", SAMPLES / "multilabel.csv", "--per-label", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    cal = json.loads(res.stdout)["calibration"]
    assert cal["temperature"] is None and len(cal["temperatures"]) == 4
    assert all(t["ci"][0] < t["temperature"] < t["ci"][1] for t in cal["temperatures"])
    shared = json.loads(run(["audit", SAMPLES / "multilabel.csv", "--format", "json"]).stdout)["calibration"]
    assert shared["temperature"] > 0 and shared["accuracy_unchanged"] is True


def test_errors():
    p = Predictions(np.array([[0.9], [0.6]]), np.array([0, 1]), ("a", "b"), Task.TOP_LABEL, ScoreKind.PROBS,
                    pred_labels=np.array([0, 0]))
    with pytest.raises(InputError, match="top-label"):
        evaluate_calibration(p)
    z = np.random.default_rng(0).normal(size=(50, 3))
    q = Predictions(softmax(z), np.arange(50) % 3, ("a", "b", "c"), Task.MULTICLASS, ScoreKind.LOGITS, logits=z)
    with pytest.raises(UsageError, match="only one"):
        evaluate_calibration(q, split=0.5, fit_on=q)
    with pytest.raises(UsageError, match="unknown"):
        evaluate_calibration(q, ("temperature", "magic"))
    with pytest.raises(InputError, match="too few"):
        evaluate_calibration(q.subset(np.arange(5)))
    other = Predictions(q.probs, q.labels, ("a", "b", "x"), q.task, q.score_kind, logits=q.logits)
    with pytest.raises(InputError, match="missing c"):
        evaluate_calibration(q, fit_on=other, fit_on_files=("val.csv",))


# -- CLI ---------------------------------------------------------------------------------------
def test_audit_runs_temperature_by_default_and_no_calibration_skips():
    path = real(PLAMBDA)
    d = json.loads(run(["audit", path, "--format", "json"]).stdout)
    assert d["calibration"]["method"] == "temperature"
    assert d["calibration"]["before"] == d["metrics"]  # all rows evaluated: same numbers as the audit
    d2 = json.loads(run(["audit", path, "--format", "json", "--no-calibration"]).stdout)
    assert "calibration" not in d2


def test_audit_top_label_file_has_no_calibration():
    res = run(["audit", SAMPLES / "top_label.csv", "--format", "json"])
    assert res.exit_code == 0 and "calibration" not in json.loads(res.stdout)
    res = run(["audit", SAMPLES / "top_label.csv", "--calibrators", "isotonic"])
    assert res.exit_code == 2 and "top-label" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("args, message", [
    (["--calibrators", "temperature,magic"], "unknown calibrator magic"),
    (["--calibration-split", "0.5", "--fit-on", "x.csv"], "give only one"),
    (["--no-calibration", "--calibrators", "isotonic"], "drop one"),
    (["--per-label"], "only applies to multilabel"),
    (["--calibration-split", "1.5"], "1.5"),
])
def test_audit_usage_errors_exit_2(args, message):
    res = run(["audit", SAMPLES / "multiclass_probs.csv", *args])
    assert res.exit_code == 2, res.stdout
    assert message in res.stderr and "Traceback" not in res.stderr


def test_audit_fit_on_class_mismatch_exit_2(tmp_path):
    res = run(["audit", real(PLAMBDA), "--fit-on", real("cleanlab_imdb_cv")])
    assert res.exit_code == 2 and "--fit-on" in res.stderr and "Traceback" not in res.stderr


def test_audit_calibrators_table_in_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # an 80-column terminal (not a terminal: no wrapping at all)
    res = run(["audit", SAMPLES / "multiclass_probs.csv", "--calibrators", "temperature,platt,isotonic"])
    assert res.exit_code == 0
    out = res.stdout
    assert "Calibration: temperature scaling, 2-fold cross-fit (seed 0)" in out
    assert re.search(r"T = \d\.\d{4}\s+95% interval", out)
    assert "Calibrators compared on the held-out rows" in out and "best (lowest NLL)" in out
    assert all(len(line) <= 80 for line in out.splitlines())


# -- the comparison has an uncalibrated row and says when no calibrator helps -------------------------------
def _calibrated_binary(n=120, seed=3):
    """Scores that are calibrated already (labels drawn from them): on few rows every calibrator only adds noise."""
    rng = np.random.default_rng(seed)
    p1 = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < p1).astype(int)
    return Predictions(np.column_stack([1 - p1, p1]), y, ("0", "1"), Task.BINARY, ScoreKind.PROBS)


def test_comparison_says_when_no_calibrator_beats_uncalibrated():
    p = _calibrated_binary()
    r = evaluate_calibration(p, ("isotonic", "histogram"), n_boot=10)
    nll = {s.method: s.metrics.nll for s in r.comparison}
    assert nll["uncalibrated"] == pytest.approx(M.negative_log_likelihood(p.labels, p.probs), abs=1e-12)
    assert nll["uncalibrated"] < min(nll["isotonic"], nll["histogram"])  # the case the old report called "best"
    assert r.best is None and r.none_helps is True and not any(s.best for s in r.comparison)
    d = r.to_dict()
    assert d["best"] is None and d["none_helps"] is True and d["comparison"][0]["method"] == "uncalibrated"


def test_comparison_none_helps_in_terminal_and_json(tmp_path):
    p = _calibrated_binary()
    path = tmp_path / "calibrated.csv"
    pd.DataFrame({"label": p.labels, "p_1": p.probs[:, 1]}).to_csv(path, index=False)
    res = run(["audit", path, "--calibrators", "isotonic,histogram"])
    assert res.exit_code == 0, res.stderr
    assert "uncalibrated" in res.stdout and "best (lowest NLL)" not in res.stdout
    assert "none of the calibrators has a lower held-out NLL than the uncalibrated scores" in res.stdout
    d = json.loads(run(["audit", path, "--calibrators", "isotonic,histogram", "--format", "json"]).stdout)
    assert d["calibration"]["none_helps"] is True and d["calibration"]["best"] is None
    jsonschema.validate(d, report_schema())
