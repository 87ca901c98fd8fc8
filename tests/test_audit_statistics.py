"""calib audit --statistics / --tolerance: the statistics and the verdict wired into every output."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from calibcli.schema import report_schema
from calibcli.statistics.result import STATISTICS
from conftest import REAL, SAMPLES
from tests.cli_helpers import run

IMDB = REAL / "cleanlab_imdb_cv" / "data.parquet"
PLAMBDA = REAL / "plambda_cifar10_vgg16" / "data.parquet"
MULTILABEL = SAMPLES / "multilabel.csv"
VALIDATOR = jsonschema.Draft202012Validator(report_schema())


def audit_json(*args) -> dict:
    r = run(["--no-config", "audit", *args, "--format", "json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    VALIDATOR.validate(doc)
    return doc


@pytest.fixture(scope="module")
def imdb():
    return audit_json(IMDB, "--statistics", "--objective", "f1")


@pytest.fixture(scope="module")
def plambda():
    return audit_json(PLAMBDA, "--statistics", "--no-calibration")


@pytest.fixture(scope="module")
def multilabel():
    return audit_json(MULTILABEL, "--statistics")


def test_binary_statistics_are_the_positive_class_and_equal_scikit_learn(imdb):
    df = pd.read_parquet(IMDB)
    y = df["label"].to_numpy()
    p = np.clip(df["p_1"].to_numpy(), 0.0, 1.0)  # the audit clips 2,744 rows out of [0, 1] by 1e-5 (reported)
    assert any(a["kind"] == "clipped" for a in imdb["input"]["adjustments"])
    m = imdb["metrics"]
    assert set(STATISTICS) <= set(m) and set(STATISTICS) <= set(imdb["intervals"])
    assert m["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-9)
    assert m["average_precision"] == pytest.approx(average_precision_score(y, p), abs=1e-9)
    lo, hi = imdb["intervals"]["auroc"]
    assert lo < m["auroc"] < hi
    lo, hi = imdb["intervals"]["average_precision"]  # grouped bootstrap of the headline's group histograms
    assert 0 <= lo < m["average_precision"] < hi <= 1 and hi - lo < 0.05
    assert m["ece"] == pytest.approx(0.0400611521654, abs=1e-9)  # the audit's own numbers are unchanged
    assert imdb["statistics"]["headline"]["curve"] == "positive"
    assert "statistics_intervals" in imdb["conventions"] and "intervals" in imdb["conventions"]


def test_binary_verdict_names_its_evidence(imdb):
    v = imdb["verdict"]
    uses = {line["use"]: line for line in v["lines"]}
    assert list(uses) == ["probabilities", "ranking", "threshold"]
    assert uses["ranking"]["status"] == "ok" and uses["ranking"]["evidence"]["auroc"] == imdb["metrics"]["auroc"]
    prob = uses["probabilities"]["evidence"]
    assert prob["ece"] == imdb["metrics"]["ece"] and prob["ece_interval"] == imdb["intervals"]["ece"]
    assert prob["calibrator"] == "temperature" and prob["ece_after"] == imdb["calibration"]["after"]["ece"]
    th = uses["threshold"]["evidence"]
    raw, cal = imdb["thresholds"]["recommendations"][:2]
    assert (th["threshold"], th["threshold_after"]) == (raw["threshold"], cal["threshold"])
    assert v["tolerance"] == 0.02 and v["status"] == "warn"


def test_multiclass_headline_is_the_top_label_and_classes_are_one_vs_rest(plambda):
    df = pd.read_parquet(PLAMBDA)
    y = df["label"].to_numpy()
    p = df[[f"p_{k}" for k in range(10)]].to_numpy()
    correct = (p.argmax(1) == y).astype(int)
    assert plambda["metrics"]["auroc"] == pytest.approx(roc_auc_score(correct, p.max(1)), abs=1e-9)
    for k, entry in enumerate(plambda["classes"]):
        assert entry["name"] == str(k)
        assert entry["auroc"] == pytest.approx(roc_auc_score(y == k, p[:, k]), abs=1e-9)
        assert set(STATISTICS) <= set(entry["intervals"]) and entry["intervals"]["ece"] is not None
    assert plambda["statistics"]["headline"]["rows"] == 10000
    line = plambda["verdict"]["lines"][0]
    assert line["status"] == "fail" and line["sentence"].endswith("(no calibrator was fitted)")


def test_multilabel_per_label_statistics(multilabel):
    df = pd.read_csv(MULTILABEL)
    names = [c[2:] for c in df.columns if c.startswith("y_")]
    assert [c["name"] for c in multilabel["classes"]] == names
    for entry in multilabel["classes"]:
        n = entry["name"]
        assert entry["auroc"] == pytest.approx(roc_auc_score(df[f"y_{n}"], df[f"p_{n}"]), abs=1e-9)
    pooled_y = df[[f"y_{n}" for n in names]].to_numpy().ravel()
    pooled_p = df[[f"p_{n}" for n in names]].to_numpy().ravel()
    assert multilabel["metrics"]["auroc"] == pytest.approx(roc_auc_score(pooled_y, pooled_p), abs=1e-9)


def test_verdict_without_statistics_says_ranking_needs_them():
    doc = audit_json(SAMPLES / "binary.csv", "--no-calibration")
    assert "statistics" not in doc and "auroc" not in doc["metrics"]
    ranking = next(line for line in doc["verdict"]["lines"] if line["use"] == "ranking")
    assert ranking["status"] == "info" and ranking["sentence"] == "not measured (add --statistics)"  # neutral
    assert [line["use"] for line in doc["verdict"]["lines"]] == ["probabilities", "ranking"]  # no thresholds ran


def test_tolerance_decides_the_probabilities_line():
    tight = audit_json(SAMPLES / "binary.csv", "--no-calibration")
    loose = audit_json(SAMPLES / "binary.csv", "--no-calibration", "--tolerance", "0.5")
    assert tight["verdict"]["lines"][0]["status"] == "fail"
    assert loose["verdict"]["lines"][0]["status"] == "ok" and loose["verdict"]["tolerance"] == 0.5


@pytest.mark.parametrize("bad", ["0", "-0.1", "1.5", "nan"])
def test_bad_tolerance_is_exit_2(bad):
    r = run(["--no-config", "audit", SAMPLES / "binary.csv", "--tolerance", bad])
    assert r.exit_code == 2 and "--tolerance" in r.stderr


def test_corp_png_with_plots_only_with_statistics(tmp_path):
    with_stats, without = tmp_path / "a", tmp_path / "b"
    r = run(["--no-config", "audit", SAMPLES / "binary.csv", "--no-calibration", "--statistics", "--plots", with_stats])
    assert r.exit_code == 0, r.stderr
    png = (with_stats / "corp.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and "corp.png" in r.stderr
    r = run(["--no-config", "audit", SAMPLES / "binary.csv", "--no-calibration", "--plots", without])
    assert r.exit_code == 0 and (without / "reliability.png").exists() and not (without / "corp.png").exists()


def test_per_file_corp_png_in_each_folder(tmp_path):
    r = run(["--no-config", "audit", SAMPLES / "binary.csv", SAMPLES / "multiclass_probs.csv", "--per-file",
             "--no-calibration", "--statistics", "--plots", tmp_path / "p"])
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "p" / "binary" / "corp.png").exists() and (tmp_path / "p" / "multiclass_probs" / "corp.png").exists()


@pytest.mark.parametrize("name", ["binary.csv", "multiclass_probs.csv", "multilabel.csv", "top_label.csv"])
def test_terminal_opens_with_the_verdict_and_fits_80_columns(monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "80")
    r = run(["--no-config", "audit", SAMPLES / name, "--statistics", "--no-calibration"])
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("Verdict") and lines[1].split()[0] in ("OK", "WARN", "FAIL")
    text = r.stdout
    classes = text.index("Per class, worst ECE first") if "Per class, worst" in text else text.index("support:")
    assert classes < text.index("Statistics (") and "Spiegelhalter z" in text


def test_terminal_without_statistics_has_the_verdict_but_no_statistics_table(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = run(["--no-config", "audit", SAMPLES / "binary.csv", "--no-calibration"])
    assert r.stdout.startswith("Verdict") and "Statistics (" not in r.stdout and "needs --statistics" not in r.stdout
    assert "INFO ranking not measured (add --statistics)" in " ".join(r.stdout.split())


def test_markdown_opens_with_the_verdict_and_has_the_statistics(tmp_path):
    md = tmp_path / "r.md"
    r = run(["--no-config", "audit", SAMPLES / "multiclass_probs.csv", "-q", "--statistics", "--md-out", md])
    assert r.exit_code == 0, r.stderr
    text = md.read_text(encoding="utf-8")
    assert text.index("### Verdict") < text.index("### Metrics") < text.index("### Statistics (top label")
    assert "| Cox slope |" in text and "- **" in text


def test_json_out_and_stdout_agree_and_numbers_do_not_depend_on_batch_size(tmp_path):
    a = audit_json(SAMPLES / "multiclass_probs.csv", "--statistics", "--no-calibration")
    b = audit_json(SAMPLES / "multiclass_probs.csv", "--statistics", "--no-calibration", "--batch-rows", "97")
    for name in STATISTICS:
        x, y = a["metrics"][name], b["metrics"][name]
        assert (x is None and y is None) or np.isclose(x, y, rtol=1e-9, atol=1e-12), name
    assert a["verdict"] == b["verdict"]
