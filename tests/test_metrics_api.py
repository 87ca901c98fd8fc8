"""calibcli.metrics, the public scikit-learn-style API: equal to the audit's JSON, to scikit-learn,
to the statistics the audit computes, and to repeated rows for integer sample weights; input errors."""

from __future__ import annotations

import doctest
import inspect
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import calibcli.metrics as M
from calibcli import metrics_api
from calibcli.loading import load_predictions
from tests.cli_helpers import run
from tests.conftest import SAMPLES

EXACT = dict(rel=1e-12, abs=1e-15)


# ------------------------------------------------------------------ helpers
def _audit_json(path, *extra) -> dict:
    r = run(["audit", str(path), "--format", "json", "--no-calibration", *extra])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _arrays(name):
    """(y_true, y_prob) as the audit reads the sample file (binary: P(y=1), 1-D)."""
    p = load_predictions([str(SAMPLES / name)]).predictions
    if p.task.value == "binary":
        return p.labels, p.probs[:, 1], p
    if p.task.value == "top_label":  # confidence against "the predicted label is right": a binary curve
        return (p.pred_labels == p.labels).astype(int), p.probs[:, 0], p
    return p.labels, p.probs, p


def _same(got: dict, want: dict, rel=1e-12, abs=1e-15) -> bool:
    """Equal keys; None where the other is None, NaN where it is NaN, else within the tolerance."""
    assert sorted(got) == sorted(want)
    for key in want:
        g, w = got[key], want[key]
        if w is None or g is None:
            assert g is None and w is None, key
        elif np.isnan(w) or np.isnan(g):
            assert np.isnan(w) and np.isnan(g), key
        else:
            assert g == pytest.approx(w, rel=rel, abs=abs), key
    return True


def _none_to_nan(values):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _assert_curve_equals_json(curve, bins, outcome_key):
    assert curve.count.tolist() == [b["count"] for b in bins]
    assert curve.edges.tolist() == pytest.approx([b["lower"] for b in bins] + [bins[-1]["upper"]], **EXACT)
    np.testing.assert_allclose(curve.mean_confidence, _none_to_nan(b["mean_confidence"] for b in bins), rtol=1e-12)
    np.testing.assert_allclose(curve.observed_frequency, _none_to_nan(b[outcome_key] for b in bins), rtol=1e-12)


def _random_multiclass(rng, n, k):
    z = rng.normal(size=(n, k)) * 2
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return rng.integers(0, k, n), p


# ------------------------------------------------------------------ the audit's JSON
@pytest.mark.parametrize("name", ["binary.csv", "multiclass_probs.csv", "multiclass_logits.parquet", "multilabel.csv"])
@pytest.mark.parametrize("extra", [(), ("--binning", "quantile"), ("--bins", "7")])
def test_every_metric_equals_the_audit_json(name, extra):
    report = _audit_json(SAMPLES / name, *extra)
    n_bins, strategy = report["binning"]["n_bins"], report["binning"]["strategy"]
    y, p, preds = _arrays(name)
    kw = dict(n_bins=n_bins, strategy=strategy)
    want = report["metrics"]
    assert _same(M.headline_metrics(y, p, **kw), want)
    assert M.expected_calibration_error(y, p, **kw) == pytest.approx(want["ece"], **EXACT)
    assert M.maximum_calibration_error(y, p, **kw) == pytest.approx(want["mce"], **EXACT)
    assert M.classwise_ece(y, p, **kw) == pytest.approx(want["classwise_ece"], **EXACT)
    assert M.brier_score(y, p) == pytest.approx(want["brier"], **EXACT)
    assert M.negative_log_likelihood(y, p) == pytest.approx(want["nll"], **EXACT)
    assert M.accuracy(y, p) == pytest.approx(want["accuracy"], **EXACT)
    classes = report["classes"]
    assert M.classwise_ece(y, p, **kw, average=None).tolist() == pytest.approx([c["ece"] for c in classes], **EXACT)
    assert M.brier_score(y, p, average=None).tolist() == pytest.approx([c["brier"] for c in classes], **EXACT)
    for k, c in enumerate(classes):
        assert M.expected_calibration_error(y, p, **kw, kind=k) == pytest.approx(c["ece"], **EXACT)
        _assert_curve_equals_json(M.reliability_curve(y, p, **kw, kind=k), c["reliability"], "observed_frequency")
    if preds.task.value == "multilabel":
        assert want["ece_top_label"] is None
        assert M.expected_calibration_error(y, p, **kw, kind="pooled") == pytest.approx(want["ece"], **EXACT)
        _assert_curve_equals_json(M.reliability_curve(y, p, **kw), report["reliability"], "accuracy")
    else:
        assert M.expected_calibration_error(y, p, **kw, kind="top_label") == pytest.approx(want["ece_top_label"], **EXACT)
        _assert_curve_equals_json(M.reliability_curve(y, p, **kw, kind="top_label"), report["reliability"], "accuracy")


def test_binary_two_columns_equal_one_column_and_the_headline_is_the_positive_class():
    report = _audit_json(SAMPLES / "binary.csv")
    y, p1, preds = _arrays("binary.csv")
    p2 = preds.probs
    assert M.headline_metrics(y, p2) == M.headline_metrics(y, p1)
    assert M.expected_calibration_error(y, p1) == pytest.approx(report["metrics"]["ece"], **EXACT)
    assert M.expected_calibration_error(y, p1, kind="positive") == M.expected_calibration_error(y, p1, kind=1)
    # the top-label ECE is a different number for binary files (confidence max(p, 1 - p))
    assert abs(M.expected_calibration_error(y, p1, kind="top_label") - M.expected_calibration_error(y, p1)) > 1e-3


@pytest.mark.parametrize("extra", [(), ("--binning", "quantile")])
def test_top_label_file_is_the_binary_curve_of_confidence_and_correct(extra):
    report = _audit_json(SAMPLES / "top_label.csv", *extra)
    correct, conf, _ = _arrays("top_label.csv")
    kw = dict(strategy=report["binning"]["strategy"])
    assert M.expected_calibration_error(correct, conf, **kw) == pytest.approx(report["metrics"]["ece"], **EXACT)
    assert M.maximum_calibration_error(correct, conf, **kw) == pytest.approx(report["metrics"]["mce"], **EXACT)
    assert M.accuracy(correct, np.ones_like(conf)) == pytest.approx(report["metrics"]["accuracy"], **EXACT)
    _assert_curve_equals_json(M.reliability_curve(correct, conf, **kw), report["reliability"], "accuracy")


# ------------------------------------------------------------------ the audit's statistics
@pytest.mark.parametrize("name", ["binary.csv", "multiclass_probs.csv", "multilabel.csv"])
def test_statistics_equal_the_audits_on_each_curve(name):
    from calibcli.bin_edges import BinEdges
    from calibcli.engine.batches import InMemorySource
    from calibcli.statistics.finalize import ICI_CLASS_BINS
    from calibcli.statistics.run import measure_statistics

    y, p, preds = _arrays(name)
    src = InMemorySource.from_predictions(preds, preds.n_samples)
    result = measure_statistics(src, src.info, BinEdges.uniform(15))
    curves = [(result.headline, "auto", None)] + [(c, c.class_index, ICI_CLASS_BINS) for c in result.classes]
    for stats, kind, fine in curves:
        yy, pp = M.curve_outcomes(y, p, kind=kind)
        ici = M.ici(yy, pp) if fine is None else M.ici(yy, pp, n_bins=fine)
        got = {
            "ece_l2": M.ece_l2(yy, pp), "ece_debiased": M.ece_debiased(yy, pp), "smece": M.smece(yy, pp),
            "ecce": M.ecce(yy, pp).ecce, "ici": ici.ici, "e50": M.e50(yy, pp, n_bins=fine),
            "e90": M.e90(yy, pp, n_bins=fine), "emax": M.emax(yy, pp, n_bins=fine),
            "spiegelhalter_z": M.spiegelhalter_z(yy, pp),
            "spiegelhalter_p": M.spiegelhalter_p(yy, pp), "hosmer_lemeshow": M.hosmer_lemeshow(yy, pp),
            "hosmer_lemeshow_p": M.hosmer_lemeshow_p(yy, pp), "cox_slope": M.cox_slope(yy, pp),
            "cox_intercept": M.cox_intercept(yy, pp), "calibration_in_the_large": M.calibration_in_the_large(yy, pp),
            "brier_reliability": M.brier_reliability(yy, pp), "brier_resolution": M.brier_resolution(yy, pp),
            "brier_uncertainty": M.brier_uncertainty(yy, pp), "corp_mcb": M.corp_decomposition(yy, pp).mcb,
            "corp_dsc": M.corp_decomposition(yy, pp).dsc, "corp_unc": M.corp_decomposition(yy, pp).unc,
            "auroc": M.auroc(yy, pp), "average_precision": M.average_precision(yy, pp),
        }
        want = {k: stats.values[k] for k in got if stats.values.get(k) is not None}
        assert len(want) >= 20, (kind, sorted(set(got) - set(want)))
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, kind, key)


def test_statistics_are_the_statistics_modules_functions():
    import importlib

    for name, module in M._STATISTICS.items():
        assert getattr(M, name) is getattr(importlib.import_module(f"calibcli.statistics.{module}"), name)
    assert set(M.__all__) <= set(dir(M))
    for name in M.__all__:
        assert getattr(M, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'no_such_metric'"):
        M.no_such_metric  # noqa: B018


def test_curve_outcomes_name_the_audits_curves():
    y, p = np.array([2, 0, 1]), np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    yy, pp = M.curve_outcomes(y, p, kind="top_label")
    assert yy.tolist() == [1.0, 0.0, 0.0] and pp.tolist() == [0.5, 0.6, 0.4]
    yy, pp = M.curve_outcomes([1, 0], [0.9, 0.2])
    assert yy.tolist() == [1.0, 0.0] and pp.tolist() == [0.9, 0.2]
    yy, pp = M.curve_outcomes([[1, 0], [0, 1]], [[0.9, 0.2], [0.3, 0.6]])  # pooled, row by row
    assert yy.tolist() == [1.0, 0.0, 0.0, 1.0] and pp.tolist() == [0.9, 0.2, 0.3, 0.6]


# ------------------------------------------------------------------ scikit-learn
def test_brier_nll_accuracy_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss

    rng = np.random.default_rng(3)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p).astype(int)
    w = rng.uniform(0.1, 3.0, size=500)
    assert M.brier_score(y, p) == pytest.approx(2 * brier_score_loss(y, p), rel=1e-12)  # both classes' errors
    assert M.brier_score(y, p, average=None)[1] == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert M.brier_score(y, p, sample_weight=w) == pytest.approx(2 * brier_score_loss(y, p, sample_weight=w), rel=1e-12)
    assert M.negative_log_likelihood(y, p) == pytest.approx(log_loss(y, p), rel=1e-12)
    assert M.negative_log_likelihood(y, p, sample_weight=w) == pytest.approx(log_loss(y, p, sample_weight=w), rel=1e-12)
    assert M.accuracy(y, p) == pytest.approx(accuracy_score(y, p > 0.5), rel=1e-12)
    yk, pk = _random_multiclass(rng, 800, 4)
    assert M.negative_log_likelihood(yk, pk) == pytest.approx(log_loss(yk, pk, labels=range(4)), rel=1e-12)
    assert M.accuracy(yk, pk) == pytest.approx(accuracy_score(yk, pk.argmax(axis=1)), rel=1e-12)
    wk = rng.uniform(0.1, 3.0, size=800)
    assert M.accuracy(yk, pk, sample_weight=wk) == pytest.approx(accuracy_score(yk, pk.argmax(axis=1), sample_weight=wk))
    onehot = np.eye(4)[yk]
    assert M.brier_score(yk, pk) == pytest.approx(np.mean(np.sum((pk - onehot) ** 2, axis=1)), rel=1e-12)


def test_ranking_statistics_equal_scikit_learn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(4)
    p = np.round(rng.uniform(size=700), 2)  # ties
    y = (rng.uniform(size=700) < p).astype(int)
    w = rng.integers(1, 4, size=700).astype(float)
    assert M.auroc(y, p) == pytest.approx(roc_auc_score(y, p), rel=1e-12)
    assert M.auroc(y, p, sample_weight=w) == pytest.approx(roc_auc_score(y, p, sample_weight=w), rel=1e-12)
    assert M.average_precision(y, p) == pytest.approx(average_precision_score(y, p), rel=1e-12)


@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_reliability_curve_equals_calibration_curve_away_from_edges(n_bins):
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(n_bins)
    p = rng.uniform(size=3000)
    edges = np.linspace(0, 1, n_bins + 1)
    p = p[np.min(np.abs(p[:, None] - edges[None, :]), axis=1) > 1e-9]  # the bin rules differ only on edges
    y = (rng.uniform(size=p.size) < p ** 1.3).astype(int)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    r = M.reliability_curve(y, p, n_bins=n_bins)
    seen = r.count > 0
    np.testing.assert_allclose(r.observed_frequency[seen], prob_true, rtol=1e-12)
    np.testing.assert_allclose(r.mean_confidence[seen], prob_pred, rtol=1e-12)
    assert r.count.sum() == p.size and np.array_equal(r.weight, r.count.astype(float))


# ------------------------------------------------------------------ sample_weight
def _cases():
    rng = np.random.default_rng(11)
    p = rng.uniform(size=300)
    yield "binary", (rng.uniform(size=300) < p).astype(int), p
    y, pk = _random_multiclass(rng, 300, 4)
    yield "multiclass", y, pk
    pl = rng.uniform(size=(300, 3))
    yield "multilabel", (rng.uniform(size=(300, 3)) < pl).astype(int), pl


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[0])
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_integer_weights_equal_repeated_rows(case, strategy):
    _, y, p = case
    w = np.random.default_rng(5).integers(0, 4, size=len(y))
    rep = np.repeat(np.arange(len(y)), w)
    weighted = M.headline_metrics(y, p, 10, strategy, sample_weight=w)
    repeated = M.headline_metrics(y[rep], p[rep], 10, strategy)  # the audit's MeasureState, unweighted
    assert _same(weighted, repeated, rel=1e-10, abs=1e-14)
    np.testing.assert_allclose(M.classwise_ece(y, p, 10, strategy, sample_weight=w, average=None),
                               M.classwise_ece(y[rep], p[rep], 10, strategy, average=None), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(M.brier_score(y, p, sample_weight=w, average=None),
                               M.brier_score(y[rep], p[rep], average=None), rtol=1e-10)
    a = M.reliability_curve(y, p, 10, strategy, sample_weight=w)
    b = M.reliability_curve(y[rep], p[rep], 10, strategy)
    assert np.array_equal(a.edges, b.edges) and np.array_equal(a.weight, b.count.astype(float))
    np.testing.assert_allclose(a.mean_confidence, b.mean_confidence, rtol=1e-10)
    np.testing.assert_allclose(a.observed_frequency, b.observed_frequency, rtol=1e-10)
    assert a.count.sum() == y.size  # rows (multilabel: (row, label) pairs), zero-weight ones included


def test_unit_weights_equal_no_weights_and_scaling_weights_changes_nothing():
    for _, y, p in _cases():
        plain = M.headline_metrics(y, p)
        assert _same(M.headline_metrics(y, p, sample_weight=np.ones(len(y))), plain, rel=1e-10, abs=1e-14)
        w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
        assert _same(M.headline_metrics(y, p, sample_weight=w), M.headline_metrics(y, p, sample_weight=3 * w),
                     rel=1e-10, abs=1e-14)


def test_zero_total_weight_and_empty_input_give_nan_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = M.headline_metrics([0, 1], [0.2, 0.7], sample_weight=[0.0, 0.0])
        assert all(np.isnan(v) for v in got.values()), got
        empty = M.headline_metrics(np.zeros(0, dtype=int), np.zeros(0))
        assert all(np.isnan(v) for v in empty.values()), empty
        assert np.isnan(M.accuracy(np.zeros(0, dtype=int), np.zeros((0, 3))))
        assert M.reliability_curve(np.zeros(0, dtype=int), np.zeros(0), n_bins=3).count.tolist() == [0, 0, 0]


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("y_true, y_prob, kwargs, message", [
    ([0, 1], [0.2, 0.7, 0.4], {}, r"y_true has shape \(2,\) and y_prob \(3,\)"),
    ([0, 1], [0.2, np.nan], {}, r"y_prob holds 1 NaN or infinite value\(s\), first in row 1"),
    ([0, 1], [0.2, 1.5], {}, r"probabilities in \[0, 1\].*row 1 holds 1.5.*logits"),
    ([0, 1], [[0.2, 0.3], [0.5, 0.5]], {}, r"rows of y_prob must sum to 1.*row 0 sums to 0.5"),
    ([0, 3], [[0.2, 0.8], [0.5, 0.5]], {}, r"class indices 0 \.\. 1 \(one per column of y_prob\); row 1 holds 3$"),
    ([0, 2], [0.2, 0.7], {}, r"0/1 labels; row 1 holds 2$"),
    ([0, 0.5], [0.2, 0.7], {}, r"y_true must hold integers.*row 1"),
    (["a", "b"], [0.2, 0.7], {}, r"y_true must hold numbers"),
    ([[0, 2], [1, 0]], [[0.2, 0.3], [0.5, 0.5]], {}, r"0/1 indicators; row 0"),
    ([[0, 1], [1, 0]], [0.2, 0.5], {}, r"needs y_prob of the same shape"),
    ([0, 1], [[0.2], [0.7]], {}, r"shape \(n,\).*or \(n, K\) with K >= 2"),
    ([0, 1], [0.2, 0.7], {"sample_weight": [1.0, -1.0]}, r"sample_weight must hold finite non-negative.*row 1"),
    ([0, 1], [0.2, 0.7], {"sample_weight": [1.0]}, r"sample_weight must have shape \(2,\)"),
    ([0, 1], [0.2, 0.7], {"n_bins": 0}, r"n_bins must be an integer >= 1, got 0"),
    ([0, 1], [0.2, 0.7], {"n_bins": 2.5}, r"n_bins must be an integer"),
    ([0, 1], [0.2, 0.7], {"strategy": "equal"}, r"strategy must be one of \('uniform', 'quantile'\)"),
    ([0, 1], [0.2, 0.7], {"kind": "pooled"}, r"kind='pooled' needs multilabel input"),
    ([0, 1, 2], np.eye(3), {"kind": "positive"}, r"kind='positive' needs binary input"),
    ([[0, 1]], [[0.2, 0.7]], {"kind": "top_label"}, r"not defined for multilabel"),
    ([0, 1], [0.2, 0.7], {"kind": 2}, r"kind=2 is not a class index of y_prob \(0 \.\. 1\)"),
    ([0, 1], [0.2, 0.7], {"kind": "worst"}, r"kind must be one of"),
])
def test_bad_input_is_a_value_error_naming_the_argument(y_true, y_prob, kwargs, message):
    with pytest.raises(ValueError, match=message):
        M.expected_calibration_error(y_true, y_prob, **kwargs)


def test_bad_average_and_tolerances_agree_with_the_audits():
    from calibcli.validation.scores import RANGE_TOL, ROW_SUM_TOL

    assert (metrics_api.ROW_SUM_TOL, metrics_api.RANGE_TOL) == (ROW_SUM_TOL, RANGE_TOL)
    with pytest.raises(ValueError, match="average must be 'macro' or None"):
        M.classwise_ece([0, 1], [0.2, 0.7], average="micro")
    with pytest.raises(ValueError, match="average must be 'sum' or None"):
        M.brier_score([0, 1], [0.2, 0.7], average="mean")
    # float noise within the audit's tolerance is accepted as given, as the earlier functions did
    assert M.brier_score([1, 0], [1.00001, -0.00001]) == pytest.approx(2 * 0.00001 ** 2, rel=1e-6)
    with pytest.raises(ValueError, match="tolerance 0.0001"):
        M.brier_score([1, 0], [1.0002, 0.0])


def test_earlier_signatures_still_work():
    y, p = _random_multiclass(np.random.default_rng(2), 400, 3)
    assert M.expected_calibration_error(y, p, 10, "quantile") == M.expected_calibration_error(
        y, p, n_bins=10, strategy="quantile")
    assert M.classwise_ece(y, p, 10) == M.classwise_ece(y, p, n_bins=10)
    assert M.NLL_CLIP == 1e-12 and M.nll_from_logits([0], [[0.0, 0.0]]) == pytest.approx(np.log(2))
    assert M.top_label_stats(y, p).ece() == pytest.approx(M.expected_calibration_error(y, p), **EXACT)


# ------------------------------------------------------------------ docs and imports
def test_doctests_and_every_public_function_has_an_example():
    assert doctest.testmod(metrics_api).failed == 0
    for name in metrics_api.__all__:
        obj = getattr(metrics_api, name)
        if inspect.isfunction(obj):
            assert ">>>" in (obj.__doc__ or ""), name
            assert list(inspect.signature(obj).parameters)[:2] == ["y_true", "y_prob"], name


def test_import_stays_light():
    code = ("import sys, calibcli.metrics as m; m.expected_calibration_error([0, 1], [0.2, 0.7]); "
            "print(sorted(x for x in ('pandas', 'pyarrow', 'matplotlib', 'scipy', 'sklearn', 'dask') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_lists_bools_and_float32_give_the_numbers_of_float64_arrays():
    rng = np.random.default_rng(8)
    p32 = rng.uniform(size=200).astype(np.float32)
    y = rng.uniform(size=200) < p32
    want = M.headline_metrics(y.astype(np.int64), p32.astype(np.float64))
    assert M.headline_metrics(y, p32) == want
    assert M.headline_metrics(y.tolist(), p32.astype(np.float64).tolist()) == want
