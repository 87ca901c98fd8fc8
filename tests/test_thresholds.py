"""Decision thresholds: hand-computed cases, a brute-force search over every
distinct score, scikit-learn's curves on real files, and the bootstrap."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibcli.errors import UsageError
from calibcli.loading import load_predictions
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.thresholds import (
    OBJECTIVES,
    ThresholdSpec,
    build_curve,
    equivalent_threshold,
    recommend,
    recommend_binary,
)
from tests.conftest import real

ALL = dict(cost_fp=1.0, cost_fn=1.0, beta=2.0, min_precision=0.7, min_recall=0.5, max_flag_rate=0.3,
           review_precision=0.75, n_bootstrap=0)

# scores 0.9, 0.8, 0.8, 0.6, 0.3, 0.2 with labels 1, 1, 0, 1, 0, 0:
# flag the top j distinct scores -> (TP, FP): j=0 (0,0), 0.9 (1,0), 0.8 (2,1), 0.6 (3,1), 0.3 (3,2), 0.2 (3,3)
S = np.array([0.3, 0.8, 0.9, 0.2, 0.6, 0.8])
Y = np.array([0, 0, 1, 0, 1, 1], dtype=bool)


def one(objective, scores=S, y=Y, **params):
    kw = {**ALL, **params}
    return recommend_binary(scores, y, ThresholdSpec((objective,), **kw))[0]


# --------------------------------------------------------------------------- hand-computed


def test_curve_counts_blocks_of_ties():
    c = build_curve(S, Y)
    assert c.u.tolist() == [0.9, 0.8, 0.6, 0.3, 0.2]
    assert c.tp.tolist() == [0, 1, 2, 3, 3, 3]
    assert c.fp.tolist() == [0, 0, 1, 1, 2, 3]


def test_f1_youden_hand_computed():
    r = one("f1")
    assert (r.threshold, r.n_flagged) == (0.6, 4)
    assert r.headline_value == pytest.approx(6 / 7)  # 2*3 / (2*3 + 1 + 0)
    assert (r.precision, r.recall, r.fpr, r.flagged_fraction) == (0.75, 1.0, 1 / 3, 4 / 6)
    r = one("youden")
    assert r.threshold == 0.6 and r.headline_value == pytest.approx(2 / 3)


def test_fbeta_hand_computed():
    # beta = 2: F = 5 TP / (5 TP + 4 FN + FP); j=0.9: 5/13, 0.8: 10/(10+4+1)=2/3, 0.6: 15/16, 0.3: 15/17
    r = one("fbeta")
    assert r.threshold == 0.6 and r.headline_value == pytest.approx(15 / 16)
    r = one("fbeta", beta=0.25)  # precision-heavy: 0.9 gives precision 1
    assert r.threshold == 0.9


def test_targets_hand_computed():
    r = one("precision", min_precision=1.0)
    assert (r.threshold, r.recall, r.met) == (0.9, 1 / 3, True)
    r = one("precision", min_precision=0.7)  # 0.8 has precision 2/3, 0.6 has 3/4
    assert (r.threshold, r.recall, r.precision, r.met) == (0.6, 1.0, 0.75, True)
    r = one("recall", min_recall=0.5)  # recall >= 0.5 from 0.8 on; precision 2/3, 3/4, 3/5, 1/2
    assert (r.threshold, r.headline_value, r.met) == (0.6, 0.75, True)
    r = one("flag-rate", max_flag_rate=0.3)  # 0.9 flags 1/6, 0.8 flags 3/6
    assert (r.threshold, r.flagged_fraction, r.met) == (0.9, 1 / 6, True)
    r = one("flag-rate", max_flag_rate=0.5)  # exactly 3 of 6 is allowed
    assert (r.threshold, r.n_flagged) == (0.8, 3)


def test_target_not_met_reports_closest_achievable_real_threshold():
    s = np.array([0.9, 0.9, 0.5, 0.1])
    y = np.array([1, 0, 1, 0], dtype=bool)
    r = one("precision", s, y, min_precision=0.8)  # best precision: 0.5 at 0.9, 2/3 at 0.5
    assert r.met is False and r.threshold == 0.5 and r.precision == pytest.approx(2 / 3)
    assert "not met" in r.note and r.threshold in s
    r = one("flag-rate", s, y, max_flag_rate=0.25)  # the top two share a score: 1 of 4 impossible
    assert r.met is False and r.threshold == 0.9 and r.n_flagged == 2 and "2 items sharing the top score" in r.note


def test_cost_and_bayes_threshold():
    r = one("cost")  # FP + FN: 3, 2, 2, 1, 2, 3 -> 0.6
    assert r.threshold == 0.6 and r.expected_cost == pytest.approx(1 / 6)
    assert r.bayes_threshold == 0.5 and r.bayes_gap == pytest.approx(0.1)
    assert r.cost_at_bayes == pytest.approx(1 / 6)  # score >= 0.5 flags the same rows as 0.6
    r = one("cost", cost_fp=10.0, cost_fn=1.0)  # 3, 2, 11, 10, 20, 30 (/6)
    assert r.threshold == 0.9 and r.expected_cost == pytest.approx(2 / 6)
    assert r.bayes_threshold == pytest.approx(10 / 11)
    assert r.cost_at_bayes == pytest.approx(3 / 6)  # nothing reaches 0.909: every positive missed
    r = one("cost", np.array([0.9, 0.5, 0.2]), np.array([0, 1, 0], dtype=bool), cost_fp=3.0)  # 1, 4, 3, 6
    assert r.threshold == math.inf and r.n_flagged == 0 and "nothing" in r.note


def test_bayes_threshold_general_formula():
    spec = ThresholdSpec(("cost",), cost_fp=3.0, cost_fn=5.0, cost_tp=1.0, cost_tn=0.5)
    assert spec.bayes_threshold() == pytest.approx((3 - 0.5) / ((3 - 0.5) + (5 - 1)))
    assert ThresholdSpec(("cost",), cost_fp=1.0, cost_fn=1.0, cost_tn=2.0).bayes_threshold() is None


def test_review_band_hand_computed():
    r = one("review-band", review_precision=0.75)  # top 0.6 has precision 3/4; below 0.6 all negative
    assert (r.threshold, r.threshold_low, r.review_fraction, r.met) == (0.6, 0.6, 0.0, True)
    r = one("review-band", review_precision=0.9)  # top: only 0.9; bottom: only below 0.6
    assert (r.threshold, r.threshold_low) == (0.9, 0.6)
    assert r.review_fraction == pytest.approx(3 / 6) and r.npv == 1.0 and r.precision == 1.0
    s = np.array([0.5, 0.5, 0.5, 0.5])
    r = one("review-band", s, np.array([1, 0, 1, 0], dtype=bool), review_precision=0.9)
    assert r.met is False and r.review_fraction == 1.0 and "review" in r.note


def test_undefined_without_positives():
    r = one("f1", S, np.zeros(6, dtype=bool))
    assert math.isnan(r.threshold) and r.headline_value is None and "no positive" in r.note


def test_interval_can_end_at_flag_nothing_and_the_schema_accepts_it():
    """All scores equal: some replicates flag nothing (threshold inf); JSON writes that end as null, like the threshold."""
    import json

    import jsonschema

    from calibcli.render.jsonout import dumps
    from calibcli.schema import report_schema

    scores, y = np.full(8, 0.5), np.array([0, 1] * 4, dtype=bool)
    r = recommend_binary(scores, y, ThresholdSpec(("youden",), n_bootstrap=50))[0]
    assert math.isinf(r.threshold) and r.threshold_ci is not None and math.isinf(r.threshold_ci[1])
    rec = json.loads(dumps(r.to_dict()))
    assert rec["threshold"] is None and rec["threshold_ci"][1] is None
    interval = report_schema()["$defs"]["thresholds"]["properties"]["recommendations"]["items"]["properties"]["threshold_ci"]
    v = jsonschema.Draft202012Validator(interval)
    assert v.is_valid(rec["threshold_ci"]) and v.is_valid([0.5, None]) and v.is_valid(None)
    assert not v.is_valid([None, 0.5]) and not v.is_valid([0.5]) and not v.is_valid(["0.5", 1.0])


def test_costs_near_the_float_limit_give_the_same_decision_without_overflow():
    import warnings

    rng = np.random.default_rng(1)
    s, y = np.round(rng.random(300), 2), rng.random(300) < 0.4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy overflow / invalid value would raise
        for fp, fn, tp, tn in ((1.0, 3.0, 0.0, 0.0), (2.0, 1.0, -1.0, -0.5)):
            base = one("cost", s, y, cost_fp=fp, cost_fn=fn, cost_tp=tp, cost_tn=tn, n_bootstrap=30)
            big = one("cost", s, y, cost_fp=fp * 5e307, cost_fn=fn * 5e307, cost_tp=tp * 5e307, cost_tn=tn * 5e307,
                      n_bootstrap=30)
            assert big.threshold == base.threshold and big.threshold_ci == base.threshold_ci
            assert big.bayes_threshold == pytest.approx(base.bayes_threshold, rel=1e-15)
            assert big.expected_cost == pytest.approx(base.expected_cost * 5e307, rel=1e-12)
            assert big.cost_at_bayes == pytest.approx(base.cost_at_bayes * 5e307, rel=1e-12)
            assert all(np.isfinite(big.headline_ci))
        # a power-of-two scale is exact: ordinary costs give bit-identical numbers
        assert ThresholdSpec(cost_fp=1.0, cost_fn=3.0).scaled_costs() == (2.0, 0.0, 0.5, 1.5, 0.0)
        assert ThresholdSpec(cost_fp=1e308, cost_fn=-1e308).bayes_threshold() is None
        assert ThresholdSpec(cost_fp=1.5e308, cost_fn=1.5e308, cost_tn=-1.5e308, cost_tp=-1.5e308).bayes_threshold() == 0.5


def test_fbeta_at_extreme_beta_is_recall_or_precision():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = one("fbeta", beta=1e200, n_bootstrap=20)  # beta^2 overflows: F-beta is recall
        tiny = one("fbeta", beta=1e-200, n_bootstrap=20)  # beta^2 underflows: F-beta is precision
    # recall 1 first reached at 0.6 (the lowest positive score); precision 1 only at the top score 0.9
    assert (huge.threshold, huge.headline_value, huge.recall) == (0.6, 1.0, 1.0)
    assert (tiny.threshold, tiny.headline_value, tiny.precision) == (0.9, 1.0, 1.0)
    assert one("fbeta", beta=1e150).threshold == 0.6 and one("fbeta", beta=1e-150).threshold == 0.9


def test_spec_validation_messages():
    with pytest.raises(UsageError, match="--min-precision"):
        ThresholdSpec(("precision",)).validated()
    with pytest.raises(UsageError, match="--cost-fp and --cost-fn"):
        ThresholdSpec(("cost",), cost_fp=1.0).validated()
    with pytest.raises(UsageError, match="review-precision"):
        ThresholdSpec(("review-band",), review_precision=0.4).validated()
    with pytest.raises(UsageError, match="unknown objective"):
        ThresholdSpec(("accuracy",)).validated()
    with pytest.raises(UsageError, match=r"--max-flag-rate must be within \(0, 1\]"):
        ThresholdSpec(("flag-rate",), max_flag_rate=0.0).validated()
    assert ThresholdSpec(("youden", "f1")).validated().objectives == ("f1", "youden")


def test_fast_sort_path_equals_argsort_path():
    rng = np.random.default_rng(3)
    s = np.round(rng.normal(0.5, 0.6, 500), 1)  # ties, negatives, values beyond 1
    s[:3] = [-0.0, 0.0, -1e-300]
    y = rng.random(500) < 0.4
    fast = build_curve(s, y)  # |scores| < 2: one int64 key sort
    slow = build_curve(s * 1.5, y)  # some |scores| >= 2: argsort
    assert fast.tp.tolist() == slow.tp.tolist() and fast.fp.tolist() == slow.fp.tolist()
    np.testing.assert_array_equal(fast.u * 1.5, slow.u)
    assert np.all(np.diff(fast.u) < 0) and (0.0 in fast.u.tolist()) and fast.u.size == np.unique(s).size


# --------------------------------------------------------------------------- brute force


def brute(scores, y, objective, spec):
    """Every distinct score (and 'flag nothing') tried directly with masks."""
    P, N, n = int(y.sum()), int((~y).sum()), len(y)
    cands = [math.inf] + sorted(set(scores.tolist()), reverse=True)
    rows = []
    for t in cands:
        f = scores >= t
        tp, fp = int((f & y).sum()), int((f & ~y).sum())
        rows.append((t, tp, fp))

    def prec(tp, fp):
        return tp / (tp + fp) if tp + fp else None

    if objective == "cost":
        F = lambda x: Fraction(repr(x))  # the decimal the user typed: 0.1 is 1/10
        c = [F(spec.cost_tp) * tp + F(spec.cost_fp) * fp + F(spec.cost_fn) * (P - tp)
             + F(spec.cost_tn) * (N - fp) for _, tp, fp in rows]
        return rows[c.index(min(c))][0], True
    if objective == "f1":
        v = [Fraction(2 * tp, 2 * tp + fp + (P - tp)) for _, tp, fp in rows]
        return rows[v.index(max(v))][0], True
    if objective == "fbeta":
        b2 = Fraction(repr(spec.beta)) ** 2
        v = [(1 + b2) * tp / ((1 + b2) * tp + b2 * (P - tp) + fp) for _, tp, fp in rows]
        return rows[v.index(max(v))][0], True
    if objective == "youden":
        v = [Fraction(tp, P) - Fraction(fp, N) for _, tp, fp in rows]
        return rows[v.index(max(v))][0], True
    flagged = rows[1:]
    if objective == "precision":
        ok = [r for r in flagged if prec(r[1], r[2]) >= spec.min_precision]
        if ok:
            best = max(r[1] for r in ok)
            return [r for r in ok if r[1] == best][0][0], True
        best = max(prec(r[1], r[2]) for r in flagged)
        return [r for r in flagged if prec(r[1], r[2]) == best][-1][0], False
    if objective == "recall":
        ok = [r for r in flagged if r[1] / P >= spec.min_recall]
        best = max(prec(r[1], r[2]) for r in ok)
        return [r for r in ok if prec(r[1], r[2]) == best][-1][0], True
    if objective == "flag-rate":
        ok = [r for r in flagged if (r[1] + r[2]) / n <= spec.max_flag_rate]
        return (ok[-1][0], True) if ok else (flagged[0][0], False)
    if objective == "review-band":
        best = None
        for j, (tj, tpj, fpj) in enumerate(rows):
            if j and prec(tpj, fpj) < spec.review_precision:
                continue
            for i in range(j, len(rows)):
                ti, tpi, fpi = rows[i]
                cleared = n - tpi - fpi
                if cleared and (N - fpi) / cleared < spec.review_precision:
                    continue
                key = (tpi + fpi - tpj - fpj, j, i)
                if best is None or key < best[0]:
                    best = (key, tj, ti)
                break  # the smallest feasible i >= j reviews the least for this j
        met = not (best[0][1] == 0 and best[0][2] == len(rows) - 1)
        return (best[1], best[2]), met
    raise ValueError(objective)


@st.composite
def problems(draw):
    n = draw(st.integers(2, 40))
    levels = draw(st.integers(1, 8))
    scores = np.array(draw(st.lists(st.integers(0, levels), min_size=n, max_size=n)), dtype=float) / levels
    y = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    spec = ThresholdSpec(
        OBJECTIVES,
        cost_fp=draw(st.sampled_from([0.5, 1.0, 2.0, 5.0])), cost_fn=draw(st.sampled_from([0.5, 1.0, 3.0])),
        cost_tp=draw(st.sampled_from([0.0, 0.25])), cost_tn=draw(st.sampled_from([0.0, 0.1])),
        beta=draw(st.sampled_from([0.5, 1.0, 2.0])),
        min_precision=draw(st.sampled_from([0.3, 0.5, 0.75, 0.9, 1.0])),
        min_recall=draw(st.sampled_from([0.2, 0.5, 0.8, 1.0])),
        max_flag_rate=draw(st.sampled_from([0.01, 0.1, 0.25, 0.5, 1.0])),
        review_precision=draw(st.sampled_from([0.6, 0.75, 0.9, 1.0])), n_bootstrap=0,
    )
    return scores, y, spec


@settings(max_examples=300, deadline=None)
@given(problems())
def test_every_objective_matches_brute_force(problem):
    scores, y, spec = problem
    recs = recommend_binary(scores, y, spec)
    if y.all() or not y.any():
        assert all(math.isnan(r.threshold) for r in recs)
        return
    for r in recs:
        expected, met = brute(scores, y, r.objective, spec)
        got = (r.threshold, r.threshold_low) if r.objective == "review-band" else r.threshold
        assert got == expected, r.objective
        if r.met is not None:
            assert r.met == met, r.objective
        # the reported rule: score >= threshold flags exactly n_flagged rows, ties all or none
        assert int((scores >= r.threshold).sum()) == r.n_flagged


# --------------------------------------------------------------------------- scikit-learn on real files


@pytest.fixture(scope="module", params=["cleanlab_imdb_cv", "netcal_coco_faster-rcnn-resnet-50_iou0.60"])
def real_binary(request):
    preds = load_predictions([str(real(request.param))]).predictions
    assert preds.task is Task.BINARY
    return preds.probs[:, 1], preds.labels == 1


def test_curve_matches_sklearn_roc_and_pr(real_binary):
    from sklearn.metrics import precision_recall_curve, roc_curve

    s, y = real_binary
    c = build_curve(s, y)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_array_equal(thr[1:], c.u)
    np.testing.assert_allclose(tpr, c.tp / c.tp[-1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(fpr, c.fp / c.fp[-1], rtol=0, atol=1e-15)
    prec, rec, pthr = precision_recall_curve(y, s)
    ours_p = c.tp[1:] / (c.tp[1:] + c.fp[1:])
    ours_r = c.tp[1:] / c.tp[-1]
    np.testing.assert_array_equal(pthr, c.u[::-1][: pthr.size])  # sklearn: ascending, may stop at full recall
    np.testing.assert_allclose(prec[:-1], ours_p[::-1][: pthr.size], atol=1e-15)
    np.testing.assert_allclose(rec[:-1], ours_r[::-1][: pthr.size], atol=1e-15)


def test_recommendations_match_sklearn_curves(real_binary):
    from sklearn.metrics import f1_score, precision_recall_curve, roc_curve

    s, y = real_binary
    spec = ThresholdSpec(("f1", "youden", "precision", "recall"), min_precision=0.9, min_recall=0.95, n_bootstrap=0)
    got = {r.objective: r for r in recommend_binary(s, y, spec)}
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    j = np.argmax(tpr - fpr)  # first = highest threshold among ties, our rule too
    assert got["youden"].threshold == thr[j] and got["youden"].headline_value == pytest.approx(tpr[j] - fpr[j], abs=1e-12)
    prec, rec, pthr = precision_recall_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * prec * rec / (prec + rec)
    k = np.nanargmax(f1[:-1])
    assert got["f1"].threshold == pthr[k] and got["f1"].headline_value == pytest.approx(f1[k], abs=1e-12)
    assert f1_score(y, s >= got["f1"].threshold) == pytest.approx(got["f1"].headline_value, abs=1e-12)
    ok = prec[:-1] >= 0.9
    assert got["precision"].headline_value == pytest.approx(rec[:-1][ok].max(), abs=1e-12)
    ok = rec[:-1] >= 0.95
    assert got["recall"].headline_value == pytest.approx(prec[:-1][ok].max(), abs=1e-12)


def test_imdb_top_score_ties_are_all_flagged_or_none():
    preds = load_predictions([str(real("cleanlab_imdb_cv"))]).predictions
    s, y = preds.probs[:, 1], preds.labels == 1
    top = s.max()
    n_top = int((s == top).sum())  # float32 noise 1.00001 (199 rows), or 1.0 once the loader clips it (more rows)
    assert n_top >= 199 and 0 < y[s == top].mean() < 1  # mixed labels
    spec = ThresholdSpec(OBJECTIVES, cost_fp=1.0, cost_fn=1.0, beta=0.5, min_precision=1.0, min_recall=0.9,
                         max_flag_rate=0.005, review_precision=0.99, n_bootstrap=0)
    recs = {r.objective: r for r in recommend_binary(s, y, spec)}
    r = recs["flag-rate"]  # 0.5% is 125 rows, fewer than the rows tied at the top
    assert r.met is False and r.threshold == top and r.n_flagged == n_top
    assert recs["precision"].met is False  # no set of whole blocks is free of negatives
    for r in recs.values():
        assert int((s >= r.threshold).sum()) == r.n_flagged
        if r.threshold_low is not None:
            assert r.threshold_low in s or r.threshold_low == math.inf


# --------------------------------------------------------------------------- calibration and Bayes


def test_cost_optimum_near_bayes_when_calibrated_and_far_when_not():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = rng.random(p.size) < p
    spec = ThresholdSpec(("cost",), cost_fp=1.0, cost_fn=4.0, n_bootstrap=0)
    cal = recommend_binary(p, y, spec)[0]
    assert abs(cal.bayes_gap) < 0.02 and cal.bayes_threshold == 0.2
    assert cal.cost_at_bayes == pytest.approx(cal.expected_cost, rel=2e-3)
    over = recommend_binary(p ** 0.25, y, spec)[0]  # overconfident: same order, scores pushed up
    assert over.bayes_gap > 0.4
    assert over.cost_at_bayes > over.expected_cost * 1.2
    np.testing.assert_allclose(over.threshold ** 4, cal.threshold)  # same decisions, other scale


def test_recommend_on_predictions_with_calibrated_scale():
    rng = np.random.default_rng(1)
    p1 = rng.random(300)
    y = (rng.random(300) < p1).astype(int)
    raw = Predictions(np.c_[1 - p1, p1], y, ("neg", "pos"), Task.BINARY, ScoreKind.PROBS)
    q = p1 ** 2
    cal = Predictions(np.c_[1 - q, q], y, ("neg", "pos"), Task.BINARY, ScoreKind.PROBS)
    rep = recommend(raw, ThresholdSpec(("f1", "review-band"), review_precision=0.8, n_bootstrap=0), calibrated=cal)
    assert [(r.objective, r.scale) for r in rep.recommendations] == [
        ("f1", "raw"), ("f1", "calibrated"), ("review-band", "raw"), ("review-band", "calibrated")]
    f1_raw, f1_cal = rep.recommendations[:2]
    assert f1_cal.threshold == pytest.approx(f1_raw.threshold ** 2)  # monotone map: same decision
    assert f1_raw.other_scale_threshold == f1_raw.threshold ** 2
    assert f1_cal.other_scale_threshold == f1_raw.threshold
    band = rep.recommendations[2]
    assert band.other_scale_threshold_low == band.threshold_low ** 2
    assert rep.scales == ("raw", "calibrated") and "same decisions" in rep.scale_note


def test_equivalent_threshold_none_when_no_single_threshold_matches():
    assert equivalent_threshold(np.array([0.2, 0.5, 0.8]), np.array([0.9, 0.1, 0.5]), 0.5) is None
    assert equivalent_threshold(np.array([0.2, 0.5]), np.array([0.3, 0.4]), math.inf) == math.inf
    assert equivalent_threshold(np.array([0.2, 0.5]), np.array([0.3, 0.4]), 0.7) == math.inf


def test_targets_per_task_and_order():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(3), 90)
    labels = np.arange(90) % 3
    mc = Predictions(probs, labels, ("a", "b", "c"), Task.MULTICLASS, ScoreKind.PROBS)
    rep = recommend(mc, ThresholdSpec(("youden", "f1"), n_bootstrap=0))
    assert [(r.target, r.objective) for r in rep.recommendations] == [
        (c, o) for c in "abc" for o in ("f1", "youden")]
    one_vs_rest = recommend_binary(probs[:, 1], labels == 1, ThresholdSpec(("f1",), n_bootstrap=0))[0]
    assert rep.recommendations[2].threshold == one_vs_rest.threshold
    assert [r.target for r in recommend(mc, ThresholdSpec(("f1",), n_bootstrap=0), classes=("c",)).recommendations] == ["c"]
    with pytest.raises(UsageError, match="not a class"):
        recommend(mc, ThresholdSpec(("f1",)), classes=("zebra",))
    ml = Predictions(probs, (rng.random((90, 3)) < probs).astype(int), ("x", "y", "z"), Task.MULTILABEL, ScoreKind.PROBS)
    assert [r.target for r in recommend(ml, ThresholdSpec(("f1",), n_bootstrap=0)).recommendations] == ["x", "y", "z"]
    top = Predictions(probs.max(axis=1, keepdims=True), labels, ("a", "b", "c"), Task.TOP_LABEL, ScoreKind.PROBS,
                      pred_labels=probs.argmax(axis=1))
    r = recommend(top, ThresholdSpec(("f1",), n_bootstrap=0)).recommendations[0]
    assert r.target == "top-label correct" and r.n_positive == int((probs.argmax(axis=1) == labels).sum())


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(5)
    p = rng.random(5000)
    y = rng.random(p.size) < p
    spec = ThresholdSpec(OBJECTIVES, cost_fp=1.0, cost_fn=2.0, beta=2.0, min_precision=0.8, min_recall=0.8,
                         max_flag_rate=0.2, review_precision=0.8, n_bootstrap=200, seed=7)
    a = recommend_binary(p, y, spec)
    assert a == recommend_binary(p, y, spec)
    b = recommend_binary(p, y, ThresholdSpec(**{**spec.__dict__, "seed": 8}))
    assert [r.threshold_ci for r in a] != [r.threshold_ci for r in b]
    for r in a:
        lo, hi = r.threshold_ci
        assert lo <= r.threshold <= hi, r.objective
        assert r.headline_ci[0] <= r.headline_value <= r.headline_ci[1], r.objective
        assert r.bootstrap_candidates >= spec.max_groups  # 5,000 distinct scores: grouped, refined locally
        assert r.bootstrap_replicates == 200


def test_few_distinct_scores_bootstrap_every_candidate():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 20, 3000) / 20
    y = rng.random(3000) < s
    r = recommend_binary(s, y, ThresholdSpec(("f1",), n_bootstrap=50))[0]
    assert r.bootstrap_candidates == 20 and r.threshold_ci[0] in s and r.threshold_ci[1] in s


def test_poisson_block_bootstrap_agrees_with_row_resampling():
    """Same intervals (within Monte-Carlo error) as resampling rows and re-sorting each time."""
    rng = np.random.default_rng(11)
    p = rng.random(3000)
    y = rng.random(p.size) < p
    objectives = dict(objectives=("f1", "flag-rate"), max_flag_rate=0.2)
    plain = ThresholdSpec(**objectives, n_bootstrap=0)
    rows = []
    for _ in range(1000):
        idx = rng.integers(0, p.size, p.size)
        rows.append([(r.threshold, r.headline_value) for r in recommend_binary(p[idx], y[idx], plain)])
    rows = np.array(rows)  # (replicate, objective, [threshold, headline])
    for max_groups, tol in ((5000, 0.008), (100, 0.015)):  # every candidate; grouped with local refinement
        ours = recommend_binary(p, y, ThresholdSpec(**objectives, n_bootstrap=1000, seed=3, max_groups=max_groups))
        for k, r in enumerate(ours):
            np.testing.assert_allclose(r.threshold_ci, np.quantile(rows[:, k, 0], [0.025, 0.975]), atol=tol)
            np.testing.assert_allclose(r.headline_ci, np.quantile(rows[:, k, 1], [0.025, 0.975]), atol=0.006)


def test_stacked_selection_equals_one_curve_at_a_time():
    """Bootstrap replicates go through the stacked (R > 1) paths; they must agree with R = 1."""
    from calibcli.thresholds.select import _Rows, _select

    rng = np.random.default_rng(4)
    spec = ThresholdSpec(OBJECTIVES, cost_fp=1.0, cost_fn=3.0, beta=2.0, min_precision=0.8, min_recall=0.6,
                         max_flag_rate=0.3, review_precision=0.75).validated()
    pos = rng.poisson(rng.random(40) * 3, (300, 40))
    neg = rng.poisson(rng.random(40) * 3, (300, 40))
    neg[(pos + neg) == 0] = 1  # every block holds a row, as in real curves
    tp = np.concatenate((np.zeros((300, 1)), np.cumsum(pos, axis=1)), axis=1)
    fp = np.concatenate((np.zeros((300, 1)), np.cumsum(neg, axis=1)), axis=1)
    ok = (tp[:, -1] > 0) & (fp[:, -1] > 0)
    stacked = _Rows(tp[ok], fp[ok])
    for o in spec.objectives:
        j, met, i = _select(o, stacked, spec)
        for r in range(int(ok.sum())):
            j1, met1, i1 = _select(o, _Rows(stacked.tp[r:r + 1], stacked.fp[r:r + 1]), spec)
            assert (j[r], met[r]) == (j1[0], met1[0]), (o, r)
            if i is not None:
                assert i[r] == i1[0], (o, r)


def test_row_order_does_not_matter_even_for_the_intervals():
    """The bootstrap resamples sorted tie blocks, so a permutation of the rows changes nothing."""
    rng = np.random.default_rng(8)
    s = np.round(rng.random(4000), 3)
    y = rng.random(s.size) < s
    spec = ThresholdSpec(OBJECTIVES, cost_fp=1.0, cost_fn=2.0, beta=0.5, min_precision=0.8, min_recall=0.7,
                         max_flag_rate=0.25, review_precision=0.85, n_bootstrap=100, seed=1)
    perm = rng.permutation(s.size)
    assert recommend_binary(s, y, spec) == recommend_binary(s[perm], y[perm], spec)
    as_float32 = recommend_binary(s.astype(np.float32), y, spec)  # same order and ties, other values
    assert [r.n_flagged for r in as_float32] == [r.n_flagged for r in recommend_binary(s, y, spec)]
