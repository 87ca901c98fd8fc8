"""Figure data (calibcli.plotdata) against hand-computed values."""

from __future__ import annotations

import dataclasses
import doctest
import math
from pathlib import Path

import numpy as np
import pytest

import calibcli.plotdata as pd_
from calibcli.audit import build_audit
from calibcli.binning import uniform_edges
from calibcli.report import Reliability
from calibcli.loading import LoadOptions, load_predictions
from calibcli.plotdata import (
    class_order,
    classes_data,
    confidence_data,
    curve_from_stats,
    log_scale_for,
    method_name,
    reliability_data,
    shorten,
    stages,
    wilson_interval,
)

Z2 = 1.959963984540054**2


def audit_csv(tmp_path: Path, text: str, n_bins: int = 4, strategy: str = "uniform", name: str = "preds.csv"):
    path = tmp_path / name
    path.write_text(text)
    return build_audit(load_predictions([str(path)], LoadOptions()), n_bins, strategy)


@dataclasses.dataclass(frozen=True)
class FakeCalibration:
    """Stand-in for the calibration stage's result: the attributes the plots read."""

    before: object
    after: object
    method: str = "temperature"
    temperature: float | None = None
    fit: dict | None = None


def test_doctests():
    assert doctest.testmod(pd_).failed == 0


# ---------------------------------------------------------------- Wilson interval
def test_wilson_7_of_10_matches_hand_computation():
    # p = 0.7, z^2/n = 0.3841459; centre = (0.7 + 0.1920729) / 1.3841459 = 0.6444934
    # half = 1.959964 / 1.3841459 * sqrt(0.021 + 0.0096036) = 1.4160127 * 0.1749390 = 0.2477153
    lo, hi = wilson_interval(np.array([7.0]), np.array([10.0]))
    assert lo[0] == pytest.approx(0.6444934 - 0.2477153, abs=2e-7)
    assert hi[0] == pytest.approx(0.6444934 + 0.2477153, abs=2e-7)
    assert (round(lo[0], 4), round(hi[0], 4)) == (0.3968, 0.8922)  # published table value


def test_wilson_edges_zero_and_all_successes():
    # k = 0: lower bound exactly 0, upper = z^2 / (n + z^2); k = n mirrors it.
    lo, hi = wilson_interval(np.array([0.0, 10.0]), np.array([10.0, 10.0]))
    assert lo[0] == pytest.approx(0.0, abs=1e-15)
    assert hi[0] == pytest.approx(Z2 / (10 + Z2), rel=1e-12)
    assert lo[1] == pytest.approx(1 - Z2 / (10 + Z2), rel=1e-12)
    assert hi[1] == pytest.approx(1.0, abs=1e-15)


def test_wilson_empty_bin_is_nan():
    lo, hi = wilson_interval(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    assert math.isnan(lo[0]) and math.isnan(hi[0])
    assert 0.0 <= lo[1] < hi[1] <= 1.0


def test_wilson_one_of_two():
    # p = 0.5 is the centre; half = z / (1 + z^2/2) * sqrt(0.125 + z^2/16)
    lo, hi = wilson_interval(np.array([1.0]), np.array([2.0]))
    half = math.sqrt(Z2) / (1 + Z2 / 2) * math.sqrt(0.125 + Z2 / 16)
    assert lo[0] == pytest.approx(0.5 - half, rel=1e-12)
    assert hi[0] == pytest.approx(0.5 + half, rel=1e-12)


# ---------------------------------------------------------------- curves
def test_curve_bins_by_hand():
    conf = np.array([0.1, 0.2, 0.8, 0.9, 0.95, 0.25])
    hit = np.array([0, 1, 1, 1, 0, 0])
    c = curve_from_stats(Reliability.from_arrays(conf, hit, uniform_edges(4)))
    # (0, .25]: 0.1, 0.2, 0.25 -> 3 rows, 1 hit; (.75, 1]: 0.8, 0.9, 0.95 -> 3 rows, 2 hits
    assert c.count.tolist() == [3.0, 0.0, 0.0, 3.0]
    assert c.drawn.tolist() == [True, False, False, True]
    assert c.mean_conf[0] == pytest.approx(0.55 / 3)
    assert c.mean_conf[3] == pytest.approx(2.65 / 3)
    assert c.observed[0] == pytest.approx(1 / 3) and c.observed[3] == pytest.approx(2 / 3)
    assert np.isnan(c.mean_conf[1]) and np.isnan(c.ci_low[2])
    # ECE = (|1 - 0.55| + |2 - 2.65|) / 6 = 1.1 / 6; MCE = max(0.45, 0.65) / 3
    assert c.ece == pytest.approx(1.1 / 6)
    assert c.mce == pytest.approx(0.65 / 3)
    lo, hi = wilson_interval(np.array([2.0]), np.array([3.0]))
    assert (c.ci_low[3], c.ci_high[3]) == (pytest.approx(lo[0]), pytest.approx(hi[0]))
    assert c.lo.tolist() == [0.0, 0.25, 0.5, 0.75] and c.hi.tolist() == [0.25, 0.5, 0.75, 1.0]


def test_curve_without_rows_has_no_metrics():
    c = curve_from_stats(Reliability(uniform_edges(2), np.zeros(2), np.zeros(2), np.zeros(2)), "after")
    assert c.ece is None and c.mce is None and c.stage == "after" and not c.drawn.any()


def test_log_scale_rule_two_decades():
    def curve(counts):
        k = np.array(counts, dtype=float)
        return curve_from_stats(Reliability(uniform_edges(len(k)), k, k * 0.5, k * 0.5))

    assert not log_scale_for([curve([1, 99, 0])])
    assert log_scale_for([curve([1, 100, 0])])
    assert log_scale_for([curve([3, 10]), curve([300, 0])])  # decided over all stages together
    assert not log_scale_for([curve([0, 0])])


def test_shorten():
    assert shorten("comp.sys.ibm.pc.hardware") == "comp.sys.ibm.pc.hardw…"  # 21 characters + ellipsis
    assert len(shorten("x" * 100)) == 22
    assert shorten("a" * 22) == "a" * 22


def test_class_order_worst_first_none_last_ties_by_index():
    s = Reliability(uniform_edges(1), np.zeros(1), np.zeros(1), np.zeros(1))
    cs = tuple(pd_.ClassReport(n, 0, 0, e, None, None, s) for n, e in [("a", 0.1), ("b", None), ("c", 0.3), ("d", 0.1)])
    assert class_order(cs).tolist() == [2, 0, 3, 1]


# ---------------------------------------------------------------- figures from reports
MULTICLASS = """label,p_a,p_b,p_c
a,0.9,0.05,0.05
a,0.2,0.7,0.1
b,0.1,0.6,0.3
c,0.3,0.3,0.4
c,0.1,0.1,0.8
"""


def test_reliability_multiclass_top_label(tmp_path):
    rep = audit_csv(tmp_path, MULTICLASS)
    fig = reliability_data(rep)
    (curve,) = fig.panel.curves
    # confidences 0.9, 0.7, 0.6, 0.4, 0.8; correct 1, 0, 1, 1, 1 (row 4: argmax c = label c)
    assert curve.count.tolist() == [0.0, 1.0, 2.0, 2.0]
    assert curve.observed[1] == 1.0 and curve.observed[2] == 0.5 and curve.observed[3] == 1.0
    assert curve.mean_conf[2] == pytest.approx(0.65)
    # ECE = (|1 - 0.4| + |1 - 1.3| + |2 - 1.7|) / 5 = 1.2 / 5
    assert curve.ece == pytest.approx(0.24)
    assert curve.mce == pytest.approx(0.6)
    assert "top-label" in fig.title and "0.2400" in fig.title and "MCE 0.6000" in fig.title
    assert "preds.csv" in fig.subtitle and "5 rows" in fig.subtitle and "4 equal-width bins" in fig.subtitle
    assert not fig.calibrated and not fig.panel.log_counts
    assert fig.y_label == "observed accuracy"


BINARY = """label,p_pos
1,0.9
1,0.8
0,0.7
0,0.1
1,0.3
"""


def test_reliability_binary_is_positive_class_curve(tmp_path):
    rep = audit_csv(tmp_path, BINARY)
    fig = reliability_data(rep)
    (curve,) = fig.panel.curves
    # P(pos) 0.9, 0.8, 0.7, 0.1, 0.3 with outcome 1, 1, 0, 0, 1 in 4 bins
    assert curve.count.tolist() == [1.0, 1.0, 1.0, 2.0]
    assert curve.observed.tolist() == [0.0, 1.0, 0.0, 1.0]
    # ECE = (0.1 + 0.7 + 0.7 + |2 - 1.7|) / 5 = 1.8 / 5
    assert curve.ece == pytest.approx(0.36)
    assert curve.ece == pytest.approx(rep.measurement.classes[1].ece)
    assert "positive class 'pos'" in fig.title
    assert "P(pos)" in fig.x_label and "pos" in fig.y_label
    assert "top-label ECE" in fig.subtitle


def test_multilabel_labels_and_present_absent(tmp_path):
    rep = audit_csv(tmp_path, "y_a,p_a,y_b,p_b\n1,0.9,0,0.2\n0,0.6,1,0.7\n1,0.4,0,0.1\n")
    fig = reliability_data(rep)
    # pooled pairs: 0.9/1, 0.6/0, 0.4/1, 0.2/0, 0.7/1, 0.1/0 -> bins {0.2, 0.1}, {0.4}, {0.6, 0.7}, {0.9}
    assert fig.panel.curves[0].count.tolist() == [2.0, 1.0, 2.0, 1.0]
    assert "pooled" in fig.title
    conf = confidence_data(rep)
    assert (conf.positive_name, conf.negative_name, conf.unit) == ("label present", "label absent", "pairs")
    s = conf.series[0]
    assert s.positive.tolist() == [0.0, 1.0, 1.0, 1.0]
    assert s.negative.tolist() == [2.0, 0.0, 1.0, 0.0]
    assert s.mean_outcome == pytest.approx(0.5)
    assert s.mean_conf == pytest.approx(2.9 / 6)
    cls = classes_data(rep)
    assert [p.name for p in cls.panels] == ["b", "a"] or [p.name for p in cls.panels] == ["a", "b"]
    assert "labels" in cls.note and cls.left_out == 0


def test_confidence_correct_incorrect_by_hand(tmp_path):
    rep = audit_csv(tmp_path, MULTICLASS)
    fig = confidence_data(rep)
    s = fig.series[0]
    assert s.positive.tolist() == [0.0, 1.0, 1.0, 2.0]  # correct rows per bin
    assert s.negative.tolist() == [0.0, 0.0, 1.0, 0.0]
    assert s.height_positive.tolist() == [0.0, 0.25, 0.25, 0.5]  # share of the 4 correct rows
    assert s.height_negative.tolist() == [0.0, 0.0, 1.0, 0.0]
    assert s.mean_conf == pytest.approx(3.4 / 5) and s.mean_outcome == pytest.approx(0.8)
    assert (fig.positive_name, fig.negative_name) == ("correct", "incorrect")


def test_confidence_quantile_bins_are_shares_not_densities(tmp_path):
    rep = audit_csv(tmp_path, MULTICLASS, n_bins=2, strategy="quantile")
    fig = confidence_data(rep)
    s = fig.series[0]
    # edges 0, 0.7 (median of 0.9, 0.7, 0.6, 0.4, 0.8), 1: bin 1 holds 0.4 (hit), 0.6 (hit), 0.7 (miss)
    assert s.lo.tolist() == [0.0, 0.7] and s.hi.tolist() == [0.7, 1.0]
    assert s.positive.tolist() == [2.0, 2.0] and s.negative.tolist() == [1.0, 0.0]
    assert s.height_positive.tolist() == [0.5, 0.5] and s.height_negative.tolist() == [1.0, 0.0]
    assert "unequal width" in fig.y_label


FIVE = """label,p_a,p_b,p_c,p_d,p_e
a,0.9,0.025,0.025,0.025,0.025
b,0.6,0.1,0.1,0.1,0.1
c,0.05,0.05,0.8,0.05,0.05
d,0.1,0.1,0.1,0.6,0.1
e,0.2,0.2,0.2,0.2,0.2
"""


def test_classes_cap_order_and_note(tmp_path):
    rep = audit_csv(tmp_path, FIVE)
    eces = {c.name: c.ece for c in rep.measurement.classes}
    fig = classes_data(rep, max_panels=2)
    expected = sorted(eces, key=lambda n: (-eces[n], n))[:2]
    assert [p.name for p in fig.panels] == expected
    assert [p.curves[0].ece for p in fig.panels] == [eces[n] for n in expected]
    assert fig.n_total == 5 and fig.left_out == 3
    assert "Showing the 2 classes with the highest ECE of 5;" in fig.note
    assert "3 with lower ECE" in fig.note and "--max-class-panels" in fig.note
    full = classes_data(rep, max_panels=25)
    assert len(full.panels) == 5 and full.left_out == 0 and "all 5 classes" in full.note.lower()
    with pytest.raises(ValueError):
        classes_data(rep, max_panels=0)


def test_classes_panel_curve_is_one_vs_rest(tmp_path):
    rep = audit_csv(tmp_path, FIVE)
    fig = classes_data(rep)
    panel_a = next(p for p in fig.panels if p.name == "a")
    # P(a) = 0.9, 0.6, 0.05, 0.1, 0.2 with outcome 1, 0, 0, 0, 0 in 4 bins
    assert panel_a.curves[0].count.tolist() == [3.0, 0.0, 1.0, 1.0]
    assert panel_a.curves[0].observed[3] == 1.0 and panel_a.curves[0].observed[2] == 0.0
    # support: rows labelled a (1); predicted: rows whose argmax is a (rows 1, 2 and the all-tied row 5)
    assert panel_a.support == 1 and panel_a.predicted == 3 and panel_a.size_text == "support 1 · predicted 3"


def test_top_label_never_predicted_classes_are_named_as_such(tmp_path):
    text = "label,pred_label,confidence\na,a,0.9\nb,a,0.8\nb,b,0.6\nc,b,0.7\n"
    rep = audit_csv(tmp_path, text)
    assert rep.input.task == "top_label"
    fig = classes_data(rep, max_panels=2)
    assert [p.name for p in fig.panels] == ["b", "a"] or [p.name for p in fig.panels] == ["a", "b"]
    assert "1 never predicted" in fig.note
    assert {p.name: p.size_text for p in fig.panels} == {"a": "support 1 · predicted 2", "b": "support 2 · predicted 2"}
    # a top-label panel is drawn from the rows predicted as the class
    assert all(p.curves[0].count.sum() == p.predicted for p in fig.panels)
    assert fig.y_label == "accuracy"


def test_long_class_names_are_shortened_in_titles(tmp_path):
    long = "a_really_long_class_name_that_goes_on"
    rep = audit_csv(tmp_path, f"label,p_{long},p_b\n{long},0.8,0.2\nb,0.3,0.7\n")
    fig = classes_data(rep)
    assert {p.title for p in fig.panels} == {shorten(long), "b"}
    assert {p.name for p in fig.panels} == {long, "b"}


# ---------------------------------------------------------------- calibration overlay
def test_overlay_before_after_with_stand_in(tmp_path):
    rep = audit_csv(tmp_path, MULTICLASS)
    other = audit_csv(tmp_path, FIVE, name="five.csv")  # any Measurement with a different curve
    after = dataclasses.replace(other.measurement, classes=rep.measurement.classes)
    cal = dataclasses.replace(rep, calibration=FakeCalibration(rep.measurement, after))
    assert [s for s, _ in stages(cal)] == ["before", "after"]
    assert method_name(cal) == "temperature"
    fig = reliability_data(cal)
    assert fig.calibrated
    assert [c.stage for c in fig.panel.curves] == ["before", "after"]
    assert fig.panel.curves[1].count.tolist() == other.measurement.reliability.count.tolist()
    assert f"{rep.metrics.ece:.4f} → {other.metrics.ece:.4f}" in fig.title
    assert fig.subtitle.endswith("before → after temperature")
    detailed = dataclasses.replace(cal, calibration=FakeCalibration(rep.measurement, after, "temperature", 1.23456,
                                                                    {"scheme": "cross-fit", "folds": 2}))
    assert reliability_data(detailed).subtitle.endswith(
        "before → after temperature (T = 1.23, 2-fold cross-fit)")
    conf = confidence_data(cal)
    assert [s.stage for s in conf.series] == ["before", "after"]
    cls = classes_data(cal, max_panels=1)
    assert len(cls.panels[0].curves) == 2 and "before calibration" in cls.note


def test_calibration_without_measurements_is_ignored(tmp_path):
    rep = audit_csv(tmp_path, MULTICLASS)
    half = dataclasses.replace(rep, calibration=FakeCalibration(None, None, "temperature"))
    assert [s for s, _ in stages(half)] == [""]
    assert not reliability_data(half).calibrated
