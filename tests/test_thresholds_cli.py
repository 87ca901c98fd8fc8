"""``calib thresholds`` and the thresholds section of ``calib audit``, through the
real entry point (exit codes mapped by ``calibcli.cli.main.main``)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import shutil
import sys

import pytest

from calibcli.cli.main import main
from calibcli.loading import load_predictions
from calibcli.thresholds import ThresholdSpec, recommend
from tests.conftest import SAMPLES, real

BINARY = str(SAMPLES / "binary.csv")
MULTICLASS = str(SAMPLES / "multiclass_probs.csv")
MULTILABEL = str(SAMPLES / "multilabel.csv")
TOP_LABEL = str(SAMPLES / "top_label.csv")


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``calib ARGS``."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def library(path: str, spec: ThresholdSpec, **kw):
    return recommend(load_predictions([path]).predictions, spec, **kw)


def test_table_shows_each_objective_and_the_rule(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "thresholds", BINARY, "--min-precision", "0.9", "--objective", "f1", "--bootstrap", "20")
    assert code == 0 and err == ""
    expected = library(BINARY, ThresholdSpec(("f1", "precision"), min_precision=0.9, n_bootstrap=20))
    f1, prec = expected.recommendations
    assert "max F1" in out and "prec ≥ 0.9" in out
    assert f"{f1.threshold:.6g}" in out and f"{prec.threshold:.6g}" in out
    assert "score >= threshold means flagged" in out and "Poisson bootstrap, 20 replicates" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_json_is_pure_and_equals_the_library(capsys):
    code, out, err = run(capsys, "thresholds", BINARY, MULTICLASS, "--format", "json", "--cost-fp", "1", "--cost-fn", "4",
                         "--objective", "youden", "--bootstrap", "30", "--seed", "3")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["schema_version"] == 1 and data["failures"] == []
    assert [r["file"] for r in data["results"]] == [BINARY, MULTICLASS]
    spec = ThresholdSpec(("cost", "youden"), cost_fp=1.0, cost_fn=4.0, n_bootstrap=30, seed=3)
    for path, result in zip((BINARY, MULTICLASS), data["results"]):
        lib = library(path, spec)
        got = result["recommendations"]
        assert [(r["target"], r["objective"]) for r in got] == [(r.target, r.objective) for r in lib.recommendations]
        for g, e in zip(got, lib.recommendations):
            assert g["threshold"] == e.threshold and g["threshold_ci"] == list(e.threshold_ci)
            assert g["headline_value"] == e.headline_value
    cost = data["results"][0]["recommendations"][0]
    assert cost["bayes_threshold"] == 0.2 and cost["bayes_gap"] == pytest.approx(cost["threshold"] - 0.2)
    # multiclass: each class one-vs-rest, classes in file order, objectives in canonical order
    assert [r["target"] for r in data["results"][1]["recommendations"]] == [
        c for c in ("cat", "dog", "bird", "fish", "lizard") for _ in range(2)]
    again = run(capsys, "thresholds", BINARY, MULTICLASS, "--format", "json", "--cost-fp", "1", "--cost-fn", "4",
                "--objective", "youden", "--bootstrap", "30", "--seed", "3")[1]
    assert again == out  # seeded: same output twice


def test_csv_one_row_per_file_class_objective_with_exact_floats(capsys, tmp_path):
    target = tmp_path / "out" / "thr.csv"
    code, out, err = run(capsys, "thresholds", BINARY, MULTILABEL, "--objective", "f1", "--max-flag-rate", "0.1",
                         "--bootstrap", "0", "-o", str(target))
    assert code == 0 and out == "" and f"wrote {target}" in err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [(r["file"], r["target"], r["objective"]) for r in rows] == [
        (BINARY, "cat", "f1"), (BINARY, "cat", "flag-rate"),
        *[(MULTILABEL, label, o) for label in ("outdoor", "person", "vehicle", "animal") for o in ("f1", "flag-rate")]]
    lib = library(MULTILABEL, ThresholdSpec(("f1", "flag-rate"), max_flag_rate=0.1, n_bootstrap=0))
    for row, rec in zip(rows[2:], lib.recommendations):
        assert float(row["threshold"]) == rec.threshold  # repr round-trips exactly
        assert row["met"] == ("true" if rec.objective == "flag-rate" else "") and row["threshold_ci_low"] == ""
        if rec.objective == "flag-rate":
            assert float(row["flagged_fraction"]) <= 0.1


def test_a_failing_file_is_reported_and_the_others_processed(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,p_cat\n1,0.4\n0,1.7\n")
    missing = str(tmp_path / "missing.csv")
    code, out, err = run(capsys, "thresholds", BINARY, str(bad), missing, MULTICLASS, "--format", "json", "--bootstrap", "0")
    assert code == 2
    data = json.loads(out)
    assert [r["file"] for r in data["results"]] == [BINARY, MULTICLASS]
    assert [f["file"] for f in data["failures"]] == [str(bad), missing]  # input order
    assert "p_cat" in data["failures"][0]["error"] and "no such file" in data["failures"][1]["error"]
    assert "2 of 4 files failed" in err and str(bad) in err and "Traceback" not in err
    code, out, err = run(capsys, "thresholds", str(bad), BINARY, "--bootstrap", "0")
    assert code == 2 and "max F1" in out and "1 file failed" in out and "p_cat" in err


def test_usage_errors_exit_2_with_a_clear_message(capsys):
    code, _, err = run(capsys, "thresholds", BINARY, "--objective", "precision")
    assert code == 2 and "--min-precision" in err
    code, _, err = run(capsys, "thresholds", BINARY, "--review-precision", "0.3")
    assert code == 2 and "0.5<x<=1" in err and "more often than not" in err
    code, _, err = run(capsys, "thresholds", BINARY, "--class", "dog")
    assert code == 2 and "not a class" in err
    code, _, err = run(capsys, "thresholds", BINARY, "-o", BINARY, "--format", "csv")
    assert code == 2 and "never overwrites its input" in err


def test_class_filter_and_top_label_files(capsys):
    code, out, _ = run(capsys, "thresholds", MULTICLASS, "--class", "dog", "--class", "fish", "--format", "json",
                       "--bootstrap", "0")
    assert code == 0
    assert [r["target"] for r in json.loads(out)["results"][0]["recommendations"]] == ["dog", "dog", "fish", "fish"]
    code, out, _ = run(capsys, "thresholds", TOP_LABEL, "--objective", "f1", "--format", "json", "--bootstrap", "0")
    assert code == 0 and json.loads(out)["results"][0]["recommendations"][0]["target"] == "top-label correct"


def test_target_not_met_is_said_and_no_threshold_invented(capsys, tmp_path):
    path = tmp_path / "hard.csv"
    path.write_text("label,p_1\n1,0.9\n0,0.9\n1,0.6\n0,0.2\n")  # precision at most 2/3
    code, out, _ = run(capsys, "thresholds", str(path), "--min-precision", "0.9", "--format", "json", "--bootstrap", "0")
    rec = json.loads(out)["results"][0]["recommendations"][0]
    assert code == 0 and rec["met"] is False and "not met" in rec["note"]
    assert rec["threshold"] == 0.6 and rec["precision"] == pytest.approx(2 / 3)  # closest achievable, a real score
    code, out, _ = run(capsys, "thresholds", str(path), "--min-precision", "0.9", "--bootstrap", "0")
    assert "target not met" in out


def test_calibrator_without_calibrator_module_is_a_usage_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "calibcli.calibrator_file", None)  # as if not installed: import fails
    cal = tmp_path / "cal.json"
    cal.write_text("{}")
    code, _, err = run(capsys, "thresholds", BINARY, "--calibrator", str(cal))
    assert code == 2 and "--calibrator" in err and "Traceback" not in err


def test_audit_json_with_thresholds_fits_the_schema(capsys):
    import jsonschema

    from calibcli.schema import report_schema

    code, out, _ = run(capsys, "audit", BINARY, "--format", "json", "--objective", "f1", "--cost-fp", "1", "--cost-fn", "2",
                       "--review-precision", "0.9", "--threshold-bootstrap", "10")
    assert code == 0
    jsonschema.validate(json.loads(out), report_schema())


def test_audit_thresholds_only_when_asked(capsys):
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json")
    assert code == 0 and "thresholds" not in json.loads(out)
    code, out, _ = run(capsys, "audit", BINARY, "--format", "json", "--min-precision", "0.9", "--objective", "f1",
                       "--threshold-bootstrap", "20")
    assert code == 0
    data = json.loads(out)
    thr = data["thresholds"]
    assert thr["scales"] == ["raw", "calibrated"]  # audit calibrates by default (cross-fit)
    assert [(r["objective"], r["scale"]) for r in thr["recommendations"]] == [
        ("f1", "raw"), ("f1", "calibrated"), ("precision", "raw"), ("precision", "calibrated")]
    raw = library(BINARY, ThresholdSpec(("f1", "precision"), min_precision=0.9, n_bootstrap=20))
    assert thr["recommendations"][0]["threshold"] == raw.recommendations[0].threshold
    assert thr["recommendations"][2]["threshold"] == raw.recommendations[1].threshold


def test_audit_table_has_a_thresholds_section(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(capsys, "audit", BINARY, "--cost-fp", "1", "--cost-fn", "9", "--threshold-bootstrap", "0")
    assert code == 0 and "Decision thresholds" in out and "Bayes threshold for calibrated scores 0.1" in out
    assert "calibrated" in out


def test_audit_threshold_class_without_objective_is_a_usage_error(capsys):
    code, _, err = run(capsys, "audit", BINARY, "--threshold-class", "cat")
    assert code == 2 and "needs an objective" in err


def test_audit_without_calibration_reports_raw_only(capsys):
    code, out, _ = run(capsys, "audit", BINARY, "--no-calibration", "--objective", "youden", "--format", "json",
                       "--threshold-bootstrap", "0")
    assert code == 0 and json.loads(out)["thresholds"]["scales"] == ["raw"]


def test_real_file_batch_with_glob(capsys, tmp_path):
    for name in ("cleanlab_imdb_cv", "netcal_coco_faster-rcnn-resnet-50_iou0.60"):
        shutil.copy(real(name), tmp_path / f"{name}.parquet")
    code, out, _ = run(capsys, "thresholds", str(tmp_path / "*.parquet"), "--format", "csv", "--objective", "f1",
                       "--bootstrap", "50")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 2
    for row in rows:
        lo, t, hi = float(row["threshold_ci_low"]), float(row["threshold"]), float(row["threshold_ci_high"])
        assert lo <= t <= hi and not math.isnan(float(row["headline_value"]))


def test_help_lists_the_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "thresholds" in out
    code, out, _ = run(capsys, "thresholds", "--help")
    assert code == 0 and "score >= threshold" in out and "--review-precision" in out


@pytest.mark.skipif(importlib.util.find_spec("calibcli.calibrator_file") is None, reason="calibrator files not built yet")
def test_calibrator_file_gives_both_scales_and_the_same_decisions(capsys, tmp_path):
    from calibcli.calibrator_file import load_calibrator

    cal_path = tmp_path / "cal.json"
    code, _, err = run(capsys, "fit", BINARY, "-o", str(cal_path))
    assert code == 0, err
    code, out, err = run(capsys, "thresholds", BINARY, "--calibrator", str(cal_path), "--objective", "f1",
                         "--min-precision", "0.8", "--format", "json", "--bootstrap", "0")
    assert code == 0, err
    result = json.loads(out)["results"][0]
    assert result["scales"] == ["raw", "calibrated"] and "same decisions" in result["scale_note"]
    recs = result["recommendations"]
    assert [(r["objective"], r["scale"]) for r in recs] == [
        ("f1", "raw"), ("f1", "calibrated"), ("precision", "raw"), ("precision", "calibrated")]
    preds = load_predictions([BINARY]).predictions
    raw_scores = preds.probs[:, 1]
    cal_scores = load_calibrator(cal_path).transform(preds).probs[:, 1]
    for raw, cal in (recs[0:2], recs[2:4]):
        # temperature scaling keeps the order, so both scales pick the same rows ...
        assert raw["n_flagged"] == cal["n_flagged"] and raw["headline_value"] == cal["headline_value"]
        # ... at thresholds that are the raw and the calibrated score of the same row
        assert set(cal_scores[raw_scores == raw["threshold"]]) == {cal["threshold"]}
        assert raw["other_scale_threshold"] == cal["threshold"] and cal["other_scale_threshold"] == raw["threshold"]
        assert cal["threshold"] != raw["threshold"]


GOLDEN_TABLE = """\
hand.csv  6 rows, class 1 (3 positive)
objective        threshold   prec  recall    FPR  flagged  optimum
min cost         0.6        0.750   1.000  0.333    66.7%  cost 0.1667
max F1           0.6        0.750   1.000  0.333    66.7%  F1 0.8571
prec ≥ 1         0.9        1.000   0.333  0.000    16.7%  recall 0.3333
✗ flagged ≤ 10%  0.9        1.000   0.333  0.000    16.7%  recall 0.3333
review, p ≥ 0.9  ≥ 0.9      1.000   0.333  0.000    16.7%  review 50.0%
                 < 0.6
cost (fp 1, fn 1): Bayes threshold for calibrated scores 0.5; the data's optimum
0.6 (+0.1); cost per item 0.1667 at the optimum, 0.1667 at the Bayes threshold
flag-rate: target not met: the fewest items any threshold flags (the top-scored
item) are 0.1667 of all, more than 0.1; closest achievable shown
review band: flag score ≥ 0.9 (precision 1.000), clear score < 0.6 (negatives
1.000), send 50.0% of items to review

✗ target not met: the row holds the closest achievable threshold (see above)
rule: score >= threshold means flagged (decided positive); equal scores are all
flagged or none; threshold inf (null in JSON) means flag nothing, and so does a
null end of a threshold interval
intervals: none (0 bootstrap replicates)
the table rounds thresholds; --format json or csv gives them exactly
"""


def test_table_golden_on_a_hand_checked_file(capsys, monkeypatch, tmp_path):
    """Scores (label): 0.9 (1), 0.8 (0), 0.8 (1), 0.6 (1), 0.3 (0), 0.2 (0); numbers checked by hand in test_thresholds.py."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hand.csv").write_text("label,p_1\n0,0.3\n0,0.8\n1,0.9\n0,0.2\n1,0.6\n1,0.8\n")
    code, out, err = run(capsys, "thresholds", "hand.csv", "--objective", "f1", "--cost-fp", "1", "--cost-fn", "1",
                         "--min-precision", "1", "--max-flag-rate", "0.1", "--review-precision", "0.9", "--bootstrap", "0")
    assert code == 0 and err == ""
    assert "\n".join(line.rstrip() for line in out.splitlines()) + "\n" == GOLDEN_TABLE


def test_extreme_beta_and_costs_render_without_numpy_warnings(capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = run(capsys, "--no-config", "thresholds", BINARY, "--beta", "1e200", "--cost-fp", "1e308",
                             "--cost-fn", "1.5e308", "--bootstrap", "20")
    assert code == 0, err
    assert "max Fβ, β=1e+200" in out and "F1e+200" not in out
    assert "Bayes threshold for calibrated scores 0.4" in out  # 1 / (1 + 1.5)


def test_thresholds_streams_unless_memory_limit_is_set(tmp_path, monkeypatch):
    """calib thresholds keeps no input cache by default (its memory stays flat as files grow);
    an explicit --memory-limit (flag or environment) is honoured."""
    import numpy as np
    from click.testing import CliRunner

    import calibcli.engine.streaming as streaming
    from calibcli.cli.main import cli

    rng = np.random.default_rng(1)
    p = rng.random(300)
    path = tmp_path / "s.csv"
    path.write_text("label,p_1\n" + "".join(f"{int(rng.random() < q)},{q}\n" for q in p))
    seen = []
    real = streaming.open_source

    def spy(inputs, options, *a, **k):
        seen.append(options.memory_limit)
        return real(inputs, options, *a, **k)

    monkeypatch.setattr(streaming, "open_source", spy)
    runner = CliRunner()
    for args, env in (([], {}), (["--memory-limit", "64M"], {}), ([], {"CALIB_MEMORY_LIMIT": "32M"})):
        result = runner.invoke(cli, ["thresholds", str(path), "--format", "json", *args], env=env)
        assert result.exit_code == 0, result.output
    assert seen == [0, 64 * 2**20, 32 * 2**20]
