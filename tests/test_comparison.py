"""The comparison table of ``calib audit --per-file`` and ``--models`` (calibcli.comparison and its renderers)."""

from __future__ import annotations

import io
import json
import math

import jsonschema
import numpy as np
import pytest
from rich.console import Console

from calibcli.comparison import SORT_METRICS, compare, paired_interval
from calibcli.render.comparison import column_keys, comparison_markdown, comparison_terminal

from conftest import ROOT, real
from tests.cli_helpers import run

FILES = [str(ROOT / "sample_data" / n) for n in
         ("binary.csv", "cifar10_vgg16_real.csv", "multiclass_probs.csv", "multilabel.csv", "top_label.csv")]
MODELS = ("RLR", "SVM", "RF", "NN")


def belt() -> str:
    return str(real("calibration_belt_example", "data.csv"))


def audit_json(*args) -> dict:
    r = run(["--no-config", "audit", *args, "--format", "json"])
    assert r.exit_code in (0, 1), r.stderr
    return json.loads(r.stdout)


def validator():
    from calibcli.schema import report_schema

    return jsonschema.Draft202012Validator(report_schema())


def assert_valid(doc):
    errors = sorted(validator().iter_errors(doc), key=str)
    assert not errors, errors[0]


def _key(value, higher_better):
    return (1, 0.0) if value is None else (0, -value if higher_better else value)


# ------------------------------------------------------------------ --per-file


@pytest.fixture(scope="module")
def per_file_doc():
    r = run(["--no-config", "audit", *FILES, "--per-file", "--no-calibration", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("sort_by", sorted(SORT_METRICS))
def test_per_file_rows_are_best_first_by_sort_by(sort_by):
    doc = audit_json(*FILES, "--per-file", "--no-calibration", "--sort-by", sort_by)
    assert_valid(doc)
    c = doc["comparison"]
    assert c["sort_by"] == sort_by and c["order"] == ("descending" if sort_by == "accuracy" else "ascending")
    rows = c["rows"]
    assert sorted(r["report"] for r in rows) == list(range(len(FILES)))
    values = [doc["reports"][r["report"]]["metrics"][sort_by] for r in rows]
    assert [r[sort_by] for r in rows] == values  # each row shows its own report's numbers
    higher = SORT_METRICS[sort_by]
    expected = sorted(range(len(FILES)), key=lambda i: _key(doc["reports"][i]["metrics"][sort_by], higher))  # stable
    assert [r["report"] for r in rows] == expected
    assert [r["rank"] for r in rows] == list(range(1, len(FILES) + 1))
    best = values[0]
    for r, v in zip(rows, values):
        if v is None:
            assert r["difference"] is None
        else:
            assert r["difference"]["value"] == pytest.approx(v - best, abs=1e-15)
            assert r["difference"]["interval"] is None and r["difference"]["paired"] is False  # different rows
    assert c["best"] == rows[0]["name"]


def test_per_file_ties_keep_input_order_and_undefined_go_last(per_file_doc):
    # multiclass_probs.csv and top_label.csv hold the same predictions: equal ECE, input order kept
    names = [r["name"] for r in per_file_doc["comparison"]["rows"]]
    assert names.index(FILES[2]) + 1 == names.index(FILES[4])
    doc = audit_json(*FILES[:1], FILES[4], FILES[1], "--per-file", "--no-calibration", "--sort-by", "nll")
    rows = doc["comparison"]["rows"]
    assert rows[-1]["name"] == FILES[4] and rows[-1]["nll"] is None and rows[-1]["difference"] is None


def test_per_file_rows_carry_interval_gate_and_temperature():
    doc = audit_json(FILES[0], FILES[1], "--per-file", "--max-ece", "0.05")
    assert_valid(doc)
    by_name = {r["name"]: r for r in doc["comparison"]["rows"]}
    for i, f in enumerate(FILES[:2]):
        rep, row = doc["reports"][i], by_name[f]
        assert row["gate"] == ("pass" if rep["gate"]["passed"] else "fail")
        assert row["temperature"] == rep["calibration"]["temperature"]
        assert row["verdict"] == rep["verdict"]["status"]  # both: the gate outcome and the verdict's status
        iv = (rep.get("intervals") or {}).get("ece")
        assert row["ece_interval"] == iv
        assert row["n_samples"] == rep["input"]["n_samples"] and row["files"] == rep["input"]["files"]


def test_schema_rejects_a_broken_comparison(per_file_doc):
    assert_valid(per_file_doc)
    c = per_file_doc["comparison"]
    v = validator()
    assert not v.is_valid({**per_file_doc, "comparison": {**c, "sort_by": "speed"}})
    assert not v.is_valid({**per_file_doc, "comparison": {**c, "rows": [{**c["rows"][0], "ece": "low"}]}})
    assert not v.is_valid({**per_file_doc, "comparison": {k: x for k, x in c.items() if k != "rows"}})


def test_single_pooled_audit_has_no_comparison():
    doc = audit_json(FILES[0], "--no-calibration")
    assert "comparison" not in doc and "reports" not in doc


# ------------------------------------------------------------------ --models


@pytest.fixture(scope="module")
def models_doc():
    r = run(["--no-config", "audit", belt(), "--label-col", "target", "--models", ",".join(MODELS),
             "--no-calibration", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_models_one_report_per_model_equal_to_auditing_each_column(models_doc):
    assert_valid(models_doc)
    reports = models_doc["reports"]
    assert len(reports) == len(MODELS)
    rows = {r["name"]: r for r in models_doc["comparison"]["rows"]}
    assert set(rows) == set(MODELS)
    for i, m in enumerate(MODELS):
        alone = audit_json(belt(), "--label-col", "target", "--score-cols", m, "--no-calibration")
        assert reports[i]["metrics"] == alone["metrics"]
        assert reports[i]["input"]["classes"] == alone["input"]["classes"] == [f"not_{m}", m]
        assert rows[m]["report"] == i and rows[m]["score_columns"] == [m] and rows[m]["n_samples"] == 800


def test_models_paired_differences(models_doc):
    c = models_doc["comparison"]
    assert c["paired"] is not None and c["paired"]["replicates"] > 0
    best = c["rows"][0]
    assert best["difference"] == {"metric": "ece", "value": 0.0, "interval": [0.0, 0.0], "paired": True}
    for r in c["rows"][1:]:
        d = r["difference"]
        assert d["paired"] and d["value"] == pytest.approx(r["ece"] - best["ece"], abs=1e-15) and d["value"] >= 0
        lo, hi = d["interval"]
        assert lo <= hi and math.isfinite(lo) and math.isfinite(hi)


def test_models_sort_by_accuracy_is_descending():
    doc = audit_json(belt(), "--label-col", "target", "--models", ",".join(MODELS), "--no-calibration",
                     "--sort-by", "accuracy")
    acc = [r["accuracy"] for r in doc["comparison"]["rows"]]
    assert acc == sorted(acc, reverse=True)
    assert all(r["difference"]["value"] <= 0 for r in doc["comparison"]["rows"])


def test_model_compared_with_itself_differs_by_exactly_zero():
    doc = audit_json(belt(), "--label-col", "target", "--models", "RLR,RLR", "--no-calibration")
    rows = doc["comparison"]["rows"]
    assert [r["name"] for r in rows] == ["RLR", "RLR-2"]
    for r in rows:
        assert r["difference"] == {"metric": "ece", "value": 0.0, "interval": [0.0, 0.0], "paired": True}


def test_models_paired_interval_is_batch_invariant(models_doc):
    doc = audit_json(belt(), "--label-col", "target", "--models", ",".join(MODELS), "--no-calibration",
                     "--batch-rows", "97")
    a, b = models_doc["comparison"]["rows"], doc["comparison"]["rows"]
    assert [r["name"] for r in a] == [r["name"] for r in b]
    for x, y in zip(a, b):
        assert x["difference"]["interval"] == pytest.approx(y["difference"]["interval"], abs=1e-12)


def test_models_with_globs_and_per_file(tmp_path):
    import pandas as pd

    d = pd.read_csv(belt())
    two = pd.DataFrame({"label": d["target"], "a_0": 1 - d["RLR"], "a_1": d["RLR"], "b_0": 1 - d["NN"], "b_1": d["NN"]})
    f1, f2 = tmp_path / "one.csv", tmp_path / "two.csv"
    two.to_csv(f1, index=False)
    two.iloc[:500].to_csv(f2, index=False)
    doc = audit_json(f1, f2, "--per-file", "--models", "a_*,b_*", "--no-calibration")
    assert_valid(doc)
    rows = doc["comparison"]["rows"]
    assert sorted(r["name"] for r in rows) == ["one:a", "one:b", "two:a", "two:b"]
    assert {tuple(r["score_columns"]) for r in rows} == {("a_0", "a_1"), ("b_0", "b_1")}
    assert doc["reports"][0]["input"]["classes"] == ["0", "1"]
    best = rows[0]
    for r in rows:  # paired only with the best row's own file
        assert r["difference"]["paired"] == (r["files"] == best["files"])


def test_single_score_column_with_explicit_task_binary():
    doc = audit_json(belt(), "--label-col", "target", "--models", "RF,NN", "--task", "binary", "--no-calibration")
    assert [r["input"]["task"] for r in doc["reports"]] == ["binary", "binary"]


@pytest.mark.parametrize("models, words", [
    ("RLR,rlr", ["'rlr'", "matches no column", "Did you mean 'RLR'", "target, RLR, SVM, RF, NN"]),
    ("model_*", ["'model_*'", "matches no column", "target, RLR, SVM, RF, NN"]),
    (" , ", ["names no score column"]),
])
def test_bad_models_pattern_is_exit_2_naming_the_columns(models, words):
    r = run(["--no-config", "audit", belt(), "--label-col", "target", "--models", models])
    assert r.exit_code == 2
    for w in words:
        assert w in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_models_usage_errors(tmp_path):
    r = run(["--no-config", "audit", belt(), "--label-col", "target", "--models", "RLR", "--score-cols", "SVM"])
    assert r.exit_code == 2 and "--score-cols" in r.stderr
    r = run(["--no-config", "audit", "-", "--label-col", "target", "--models", "RLR,SVM"], stdin=b"target,RLR,SVM\n1,0.5,0.4\n")
    assert r.exit_code == 2 and "standard input" in r.stderr
    out = tmp_path / "r.json"
    r = run(["--no-config", "audit", belt(), "--label-col", "target", "--models", "nope", "--json-out", out])
    assert r.exit_code == 2 and not out.exists()


# ------------------------------------------------------------------ library


def _belt_reports(models=("RLR", "SVM"), seed=0):
    from dataclasses import replace

    from calibcli.audit import build_audit
    from calibcli.comparison import bootstrap_state
    from calibcli.engine.streaming import open_source
    from calibcli.loading import LoadOptions

    reports, states = [], []
    for m in models:
        with open_source([belt()], LoadOptions(label_col="target", score_cols=(m,))) as src:
            rep = build_audit(src)
            rep = replace(rep, measurement=replace(rep.measurement, state=None))  # force the extra pass
            reports.append(rep)
            states.append(bootstrap_state(src, rep, seed=seed, n_replicates=100))
    return reports, states


def test_paired_interval_is_the_basic_bootstrap_of_replicate_differences():
    reports, states = _belt_reports()
    c = compare(reports, ["RLR", "SVM"], "brier", rows_of=["f", "f"], states=states)
    worse = c.rows[1]
    best_i, worse_i = c.rows[0].report, worse.report
    diff = states[worse_i].replicate_metrics()["brier"] - states[best_i].replicate_metrics()["brier"]
    d = worse.difference.value
    q = np.quantile(diff, [0.025, 0.975])
    assert worse.difference.interval == pytest.approx((2 * d - q[1], 2 * d - q[0]), abs=1e-15)
    # pairing: the replicate differences vary far less than either model's replicates
    assert np.std(diff) < np.std(states[worse_i].replicate_metrics()["brier"])


def test_self_comparison_and_unpaired_states():
    reports, states = _belt_reports(("RLR",))
    c = compare(reports * 2, ["a", "b"], "ece", rows_of=[0, 0], states=states * 2)
    assert [r.difference.value for r in c.rows] == [0.0, 0.0]
    assert [r.difference.interval for r in c.rows] == [(0.0, 0.0), (0.0, 0.0)]
    _, other = _belt_reports(("RLR",), seed=1)
    c = compare(reports * 2, ["a", "b"], "ece", rows_of=[0, 0], states=[states[0], other[0]])
    assert c.rows[1].difference.interval is None and c.paired is None  # different bootstraps are not paired
    c = compare(reports * 2, ["a", "b"], "ece", rows_of=[0, 1], states=states * 2)
    assert c.rows[1].difference.interval is None  # different rows are not paired


def test_paired_interval_helper():
    assert paired_interval(0.0, np.zeros(10)) == (0.0, 0.0)
    assert paired_interval(0.1, np.full(5, np.nan)) is None
    assert paired_interval(float("nan"), np.zeros(3)) is None
    with pytest.raises(ValueError):
        compare([], [], "speed")


# ------------------------------------------------------------------ renderers


def _render(renderable, width) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False).print(renderable)
    return buf.getvalue()


@pytest.fixture(scope="module")
def models_comparison():
    reports, states = _belt_reports(MODELS)
    return compare(reports, list(MODELS), "ece", rows_of=[0] * 4, states=states)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_terminal_table_fits_the_width(models_comparison, width):
    text = _render(comparison_terminal(models_comparison), width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    table = [line for line in lines if line[:1].isdigit()]
    assert [line.split()[1] for line in table] == [r.name for r in models_comparison.rows]
    assert "Δ ECE" in text and "[+0.0000, +0.0000]" in text


def test_terminal_columns_grow_with_the_width(models_comparison):
    narrow, wide, full = (column_keys(models_comparison, w) for w in (60, 120, None))
    assert set(narrow) < set(wide) <= set(full)
    assert {"rank", "name", "ece", "difference"} <= set(narrow)
    assert {"accuracy", "classwise_ece", "nll", "brier", "rows", "difference_interval"} <= set(full)


def test_terminal_table_shows_gate_and_verdict():
    r = run(["--no-config", "audit", belt(), "--label-col", "target", "--models", "RLR,SVM", "--no-calibration",
             "--max-ece", "0.05", "--format", "json"])
    doc = json.loads(r.stdout)
    from dataclasses import replace

    from calibcli.verdict import decision_verdict

    reports, states = _belt_reports(("RLR", "SVM"))
    reports = [replace(rep, verdict=decision_verdict(ece=rep.metrics.ece, ranking_measured=False)) for rep in reports]
    c = compare(reports, ["RLR", "SVM"], "ece", rows_of=[0] * 2, states=states)
    assert [row.verdict for row in c.rows] == [rep.verdict.status for rep in (reports[r.report] for r in c.rows)]
    assert all(row.gate is None for row in c.rows)
    keys = column_keys(c, None)
    assert "verdict" in keys and "gate" not in keys  # no rules: no gate column
    rows = doc["comparison"]["rows"]
    assert {row["gate"] for row in rows} <= {"pass", "fail"} and all(row["verdict"] for row in rows)
    text = " ".join(run(["--no-config", "audit", belt(), "--label-col", "target", "--models", "RLR,SVM",
                         "--no-calibration", "--max-ece", "0.05"]).stdout.split())
    assert "gate verdict" in text  # both headers, next to each other


def test_terminal_shows_comparison_after_the_reports():
    r = run(["--no-config", "audit", belt(), "--label-col", "target", "--models", "RLR,SVM", "--no-calibration"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.index("Comparison, best first by ECE") > r.stdout.rindex("Per class, worst ECE first")
    r = run(["--no-config", "audit", FILES[0], "--per-file", "--no-calibration"])
    assert "Comparison" not in r.stdout  # one report: nothing to compare


def test_markdown_and_html_outputs(tmp_path):
    import html5lib

    md, page = tmp_path / "r.md", tmp_path / "r.html"
    r = run(["--no-config", "audit", belt(), "--label-col", "target", "--models", ",".join(MODELS), "-q",
             "--no-calibration", "--max-ece", "0.05", "--md-out", md, "--html-out", page, "--format", "json"])
    assert r.exit_code == 1, r.stderr
    doc = json.loads(r.stdout)
    order = [row["name"] for row in doc["comparison"]["rows"]]
    text = md.read_text(encoding="utf-8")
    assert text.startswith("## ❌ calib gate failed: 2 of 4 models")
    table = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [line.split("|")[2].strip() for line in table] == order
    assert text.index("### Comparison") < text.index("### ❌ RLR: gate failed")
    assert "gate failed: RLR: ECE" in r.stderr  # the stderr lines name the model
    header = next(line for line in text.splitlines() if line.startswith("| \\#") or line.startswith("| #"))
    assert " gate " in header and " verdict " in header  # the gate outcome and the verdict, side by side
    for row, line in zip(doc["comparison"]["rows"], table):
        cells = [c.strip() for c in line.split("|")]
        assert row["gate"] in cells and row["verdict"] in cells
    page_text = page.read_text(encoding="utf-8")
    section = page_text[page_text.index("<section id=\"comparison\""):page_text.index("</section>")]
    assert ">Gate<" in section and ">Verdict<" in section and "gate-fail" in section and "verdict-fail" in section
    html5lib.HTMLParser(strict=True).parse(page_text)
    assert page_text.index("<section id=\"comparison\"") < page_text.index("<article id=\"r1\"")
    for row in doc["comparison"]["rows"]:
        anchor = f"r{row['report'] + 1}"
        assert f"<a href=\"#{anchor}\">{row['name']}</a></th>" in page_text
        start = page_text.index(f"<article id=\"{anchor}\">")
        assert page_text[start:].split("\n")[1] == f"<h1>{row['name']}</h1>"  # the link leads to that model


def test_markdown_renderer_has_every_column(models_comparison):
    lines = comparison_markdown(models_comparison)
    header = next(line for line in lines if line.startswith("| #") or line.startswith("| \\#"))
    for col in ("acc", "ECE", "cw-ECE", "NLL", "Brier", "Δ ECE", "Δ 95% (paired)"):
        assert f" {col} " in header


def test_plots_go_to_one_folder_per_model(tmp_path):
    r = run(["--no-config", "audit", belt(), "--label-col", "target", "--models", "RLR,SVM", "-q",
             "--no-calibration", "--plots", tmp_path / "p"])
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["RLR", "SVM"]
    assert (tmp_path / "p" / "SVM" / "reliability.png").exists()


def test_models_baseline_and_fit_on_use_each_models_columns():
    f = belt()
    doc = audit_json(f, "--label-col", "target", "--models", "RLR,SVM", "--baseline", f, "--max-ece-increase", "0",
                     "--fit-on", f)
    for rep in doc["reports"]:
        assert rep["gate"]["baseline"]["metrics"]["ece"] == pytest.approx(rep["metrics"]["ece"], rel=1e-12)  # itself
        assert rep["calibration"]["temperature"] is not None
    assert doc["reports"][0]["metrics"]["ece"] != doc["reports"][1]["metrics"]["ece"]
