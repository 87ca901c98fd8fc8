"""Per-class counts named for what they are (support: true labels; predicted: predictions), and the
trace of what calib changed in the rows (--renormalize, --drop-invalid), in every report."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from calibcli.audit import build_audit
from calibcli.loading import LoadOptions, load_predictions
from calibcli.plotdata import classes_data
from calibcli.render.jsonout import report_dict
from calibcli.schema import report_schema
from tests.cli_helpers import run

# support a 3, b 2, c 1; predicted a 1, b 4, c 1 (class a is predicted once but labelled three times)
TOP = "label,pred_label,confidence\na,a,0.9\na,b,0.8\na,b,0.7\nb,b,0.6\nb,b,0.95\nc,c,0.55\n"
# argmax: row 1 a, row 2 b, row 3 c, row 4 a (tie a/b goes to a), row 5 b
MULTI = "label,p_a,p_b,p_c\na,0.7,0.2,0.1\na,0.2,0.5,0.3\nb,0.1,0.1,0.8\nc,0.4,0.4,0.2\nc,0.3,0.6,0.1\n"
# P >= 0.5: x rows 1, 2; y row 3
MULTILABEL = "y_x,y_y,p_x,p_y\n1,0,0.9,0.1\n0,1,0.5,0.4\n1,1,0.2,0.7\n1,0,0.3,0.2\n"


def audit_text(tmp_path, text: str, name: str = "f.csv", **opts):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return build_audit(load_predictions([str(path)], LoadOptions(**opts))), path


def counts(report) -> dict[str, tuple[int, int]]:
    return {c.name: (c.support, c.predicted) for c in report.measurement.classes}


def test_top_label_support_counts_labels_and_predicted_counts_predictions(tmp_path):
    rep, _ = audit_text(tmp_path, TOP)
    assert rep.input.task == "top_label"
    assert counts(rep) == {"a": (3, 1), "b": (2, 4), "c": (1, 1)}
    # the per-class curve (hence ECE and direction) is over the rows predicted as the class
    for c in rep.measurement.classes:
        assert c.reliability.count.sum() == c.predicted
    assert "rows predicted as that class" in rep.conventions["top_label"]


def test_full_vector_predicted_is_the_argmax_count_ties_to_lowest(tmp_path):
    rep, _ = audit_text(tmp_path, MULTI)
    assert counts(rep) == {"a": (2, 2), "b": (1, 2), "c": (2, 1)}
    # one-vs-rest: every row is behind every class's curve
    assert all(c.reliability.count.sum() == 5 for c in rep.measurement.classes)


def test_multilabel_predicted_is_rows_at_or_above_one_half(tmp_path):
    rep, _ = audit_text(tmp_path, MULTILABEL)
    assert counts(rep) == {"x": (3, 2), "y": (2, 1)}


def test_predicted_counts_add_up_to_the_rows(tmp_path):
    for text in (TOP, MULTI):
        rep, _ = audit_text(tmp_path, text)
        assert sum(c.predicted for c in rep.measurement.classes) == rep.input.n_samples
        assert sum(c.support for c in rep.measurement.classes) == rep.input.n_samples


def test_json_has_both_counts_and_validates(tmp_path):
    for text in (TOP, MULTI, MULTILABEL):
        rep, _ = audit_text(tmp_path, text)
        d = report_dict(rep)
        jsonschema.validate(d, report_schema())
        assert {c["name"]: (c["support"], c["predicted"]) for c in d["classes"]} == counts(rep)
        assert d["input"]["adjustments"] == []
    rep, _ = audit_text(tmp_path, TOP)
    a = next(c for c in report_dict(rep)["classes"] if c["name"] == "a")
    assert a["direction"]["text"].endswith("(rows predicted as 'a')")
    schema = report_schema()
    bad = report_dict(rep)
    del bad["classes"][0]["predicted"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_terminal_table_names_both_counts(tmp_path):
    path = tmp_path / "top.csv"
    path.write_text(TOP, encoding="utf-8")
    res = run(["--no-config", "audit", path, "--no-calibration"])
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    header = next(line for line in lines if line.startswith("class "))
    assert header.split() == ["class", "support", "predicted", "ECE", "[95%", "interval]", "direction"]  # no Brier for top-label
    row_a = next(line for line in lines if line.startswith("a "))
    assert row_a.split()[1:3] == ["3", "1"]
    assert "Per predicted class, worst ECE first" in lines
    assert any("ECE and direction are over the predicted rows" in line for line in lines)
    path = tmp_path / "multi.csv"
    path.write_text(MULTI, encoding="utf-8")
    res = run(["--no-config", "audit", path, "--no-calibration"])
    header = next(line for line in res.stdout.splitlines() if line.startswith("class "))
    assert header.split() == ["class", "support", "predicted", "ECE", "[95%", "interval]", "Brier", "direction"]
    assert "predicted: rows whose highest score is the class (argmax)" in res.stdout


def test_markdown_table_names_both_counts(tmp_path):
    path = tmp_path / "top.csv"
    path.write_text(TOP, encoding="utf-8")
    md = tmp_path / "r.md"
    res = run(["--no-config", "audit", path, "-q", "--no-calibration", "--md-out", md])
    assert res.exit_code == 0, res.stderr
    text = md.read_text(encoding="utf-8")
    assert "| class | support | predicted | ECE | direction |" in text
    assert "| a | 3 | 1 | " in text
    assert "Per predicted class (3)" in text and "ECE and direction are over the predicted rows" in text


def test_plot_panels_show_both_counts(tmp_path):
    rep, _ = audit_text(tmp_path, TOP)
    panels = {p.name: p for p in classes_data(rep).panels}
    assert panels["a"].size_text == "support 3 · predicted 1"
    assert panels["b"].size_text == "support 2 · predicted 4"


# ------------------------------------------------------------------ adjustments


ADJUST = "label,p_a,p_b\na,0.7,0.31\nb,0.2,0.8\na,0.9,0.1\nb,nan,0.5\na,0.6,0.4\nb,0.45,0.55\na,0.8,0.2\nb,0.3,0.7\n"


def test_adjustments_reach_the_report_json_terminal_and_markdown(tmp_path):
    path = tmp_path / "adj.csv"
    path.write_text(ADJUST, encoding="utf-8")
    js, md = tmp_path / "r.json", tmp_path / "r.md"
    res = run(["--no-config", "audit", path, "--renormalize", "--drop-invalid", "--no-calibration",
               "--json-out", js, "--md-out", md])
    assert res.exit_code == 0, res.stderr
    data = json.loads(js.read_text(encoding="utf-8"))
    jsonschema.validate(data, report_schema())
    adj = data["input"]["adjustments"]
    assert [a["kind"] for a in adj] == ["renormalized", "dropped"]
    renorm, dropped = adj
    assert renorm["rows"] == 1 and renorm["largest_change"] == pytest.approx(0.7 - 0.7 / 1.01)
    assert dropped["rows"] == 1 and dropped["largest_change"] is None and "p_a" in dropped["detail"]
    # terminal: one line per adjustment right under the input description, before the metrics
    lines = res.stdout.splitlines()
    first_metric = next(i for i, line in enumerate(lines) if line.startswith("metric"))
    adjusted = [i for i, line in enumerate(lines) if line.startswith("adjusted (")]
    assert len(adjusted) == 2 and all(i < first_metric for i in adjusted)
    assert lines[adjusted[0]].startswith("adjusted (renormalized, 1 row): --renormalize")
    assert not any(line.startswith("dropped:") for line in lines)  # said once, by the adjustment
    text = md.read_text(encoding="utf-8")
    assert "Adjusted (renormalized, 1 row)" in text and "Adjusted (dropped, 1 row)" in text


def test_adjustments_in_the_report_object(tmp_path):
    rep, _ = audit_text(tmp_path, ADJUST, renormalize=True, drop_invalid=True)
    kinds = [(a.kind, a.rows) for a in rep.input.adjustments]
    assert kinds == [("renormalized", 1), ("dropped", 1)]
    assert np.isclose(rep.input.adjustments[0].largest_change, 0.7 - 0.7 / 1.01)
