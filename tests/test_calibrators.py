"""Calibrators: golden values on real data, exactness against scipy, peer libraries
(scikit-learn), hand-computed cases, invariances and JSON round trips."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibcli import metrics as M
from calibcli.calibrators import (METHODS, HistogramBinning, IsotonicCalibrator, PlattScaling, TemperatureScaling,
                                  VectorScaling, calibrator_from_dict, fit_calibrator)
from calibcli.calibrators.base import log_scores, saturation_warning
from calibcli.calibrators.isotonic import fit_isotonic
from calibcli.calibrators.platt import fit_logistic_columns
from calibcli.calibrators.temperature import fit_temperature, fit_temperature_preds, temperature_interval
from calibcli.calibrators.vector import _softmax_nll_and_grad
from calibcli.errors import ConfigError, InputError
from calibcli.loading import load_predictions
from calibcli.predictions import Predictions, ScoreKind, Task, sigmoid, softmax
from tests.conftest import real


def _load(name):
    return load_predictions([str(real(name))]).predictions


def _provenance(name) -> dict[str, float]:
    text = real(name, "PROVENANCE.md").read_text()
    out = {}
    for key, value in re.findall(r"^\| (\w+) \| ([-0-9.]+) \|$", text, flags=re.M):
        out[key] = float(value)
    return out


def _val_mask(name, n):
    s = pd.read_parquet(real(name, "split.parquet"))
    mask = np.zeros(n, dtype=bool)
    mask[s["row"].to_numpy()[s["split"].to_numpy() == "val"]] = True
    return mask


def _ref_temperature(z, y):
    """Direct bounded scalar search of the NLL over log T (scipy), independent of calib's Newton."""
    from scipy.optimize import minimize_scalar

    def nll(log_t):
        u = z / np.exp(log_t)
        m = u.max(axis=1)
        return np.mean(m + np.log(np.exp(u - m[:, None]).sum(axis=1)) - u[np.arange(len(y)), y])

    return float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded", options={"xatol": 1e-11}).x))


# -- golden values ------------------------------------------------------------------------
def test_plambda_first_half_golden():
    p = _load("plambda_cifar10_vgg16")
    fit_rows, test_rows = p.subset(np.arange(5000)), p.subset(np.arange(5000, p.n_samples))
    cal = TemperatureScaling.fit(fit_rows)
    assert cal.temperature[0] == pytest.approx(1.73588, abs=1e-4)
    assert M.expected_calibration_error(test_rows.labels, test_rows.probs) == pytest.approx(0.03742, abs=1e-4)
    after = cal.transform(test_rows)
    assert M.expected_calibration_error(test_rows.labels, after.probs) == pytest.approx(0.01672, abs=1e-4)


@pytest.mark.parametrize("name", ["plambda_cifar10_vgg16", "netcal_cifar10_wrn16-4", "cleanlab_imdb_cv",
                                  "cleanlab_20news_cv", "netcal_coco_faster-rcnn-resnet-50_iou0.60"])
def test_provenance_val_split_temperature(name):
    ref = _provenance(name)
    p = _load(name)
    val = _val_mask(name, p.n_samples)
    cal = TemperatureScaling.fit(p.subset(val))
    test = p.subset(~val)
    after = cal.transform(test)
    # IMDB's probabilities up to 1.00001 are clipped to 1 on loading (the references used the raw values):
    # its numbers move by < 1e-6, plus 5e-7 of rounding in the reference table
    tol = 1.5e-6 if name == "cleanlab_imdb_cv" else 1e-6
    assert cal.temperature[0] == pytest.approx(ref["T_val_nll"], abs=2e-6)
    assert M.expected_calibration_error(test.labels, test.probs, kind="top_label") == pytest.approx(ref["ece15_test_before"], abs=tol)
    assert M.expected_calibration_error(test.labels, after.probs, kind="top_label") == pytest.approx(ref["ece15_test_after_TS"], abs=1e-5)
    assert M.negative_log_likelihood(test.labels, test.probs) == pytest.approx(ref["nll_test_before"], abs=tol)
    assert M.negative_log_likelihood(test.labels, after.probs) == pytest.approx(ref["nll_test_after_TS"], abs=1e-5)


def test_saturated_float32_probabilities_warn_with_row_count():
    p = _load("netcal_cifar10_wrn16-4")
    raw = pd.read_parquet(real("netcal_cifar10_wrn16-4")).filter(like="p_").to_numpy()
    expected = int(np.sum(np.any((raw == 0) | (raw == 1), axis=1)))
    assert expected > 1000  # the README: a quarter of the confidences are exactly 1.0
    w = saturation_warning(p)
    assert w is not None and f"{expected:,} of 10,000 rows" in w


def test_no_saturation_warning_for_logits():
    z = np.array([[30.0, -30.0], [0.0, 1.0]])
    p = Predictions(softmax(z), np.array([0, 1]), ("a", "b"), Task.BINARY, ScoreKind.LOGITS, logits=z)
    assert saturation_warning(p) is None


# -- exactness, recovery, invariances -------------------------------------------------------
@pytest.mark.parametrize("name", ["plambda_cifar10_vgg16", "cleanlab_20news_cv"])
def test_temperature_within_1e6_of_scipy_optimum(name):
    p = _load(name)
    z = log_scores(p)
    assert abs(fit_temperature(z, p.labels, p.task).temperature[0] - _ref_temperature(z, p.labels)) < 1e-6


def _synthetic(n=20_000, k=5, t_true=2.5, seed=3):
    rng = np.random.default_rng(seed)
    z_true = rng.normal(size=(n, k)) * 2.0
    u = rng.random(n)
    y = (softmax(z_true).cumsum(axis=1) < u[:, None]).sum(axis=1)
    z = z_true * t_true  # overconfident by a factor t_true
    return Predictions(softmax(z), y, tuple("abcde"[:k]), Task.MULTICLASS, ScoreKind.LOGITS, logits=z)


def test_known_temperature_recovered_and_inside_interval():
    p = _synthetic()
    fit = fit_temperature_preds(p)
    lo, hi, _ = temperature_interval(fit)
    assert abs(fit.temperature[0] - 2.5) < 0.06
    assert lo[0] < 2.5 < hi[0]
    assert hi[0] - lo[0] < 0.3


def test_temperature_invariant_to_row_order_and_argmax_unchanged():
    p = _synthetic(n=3000)
    perm = np.random.default_rng(0).permutation(p.n_samples)
    t1 = TemperatureScaling.fit(p).temperature[0]
    t2 = TemperatureScaling.fit(p.subset(perm)).temperature[0]
    assert t1 == pytest.approx(t2, abs=1e-9)
    out = TemperatureScaling.fit(p).transform(p)
    assert np.array_equal(out.probs.argmax(axis=1), p.probs.argmax(axis=1))
    assert np.allclose(out.probs.sum(axis=1), 1.0)


def test_temperature_same_from_logits_and_log_probabilities():
    p = _synthetic(n=3000)
    from_probs = Predictions(p.probs, p.labels, p.classes, p.task, ScoreKind.PROBS)
    assert TemperatureScaling.fit(p).temperature[0] == pytest.approx(TemperatureScaling.fit(from_probs).temperature[0], abs=1e-6)


def test_one_step_bootstrap_matches_refitting_bootstrap():
    from calibcli.stats.rng import poisson1_weights

    p = _load("plambda_cifar10_vgg16").subset(np.arange(3000))
    z, y = log_scores(p), p.labels
    fit = fit_temperature(z, y, p.task)
    lo, hi, how = temperature_interval(fit, n_boot=100, seed=5)
    w = poisson1_weights(5, np.arange(len(y)), 100).astype(float)  # the same replicates (keyed on rows), refitted
    refits = [fit_temperature(z, y, p.task, weight=w[:, r]).temperature[0] for r in range(100)]
    ref_lo, ref_hi = np.quantile(refits, [0.025, 0.975])
    assert lo[0] == pytest.approx(ref_lo, abs=1e-3) and hi[0] == pytest.approx(ref_hi, abs=1e-3)
    assert "one-step" in how and "100 replicates" in how and "Poisson(1)" in how and "m-out-of-n" not in how


def test_interval_above_5000_rows_is_m_out_of_n_on_a_row_keyed_sample():
    p = _synthetic(n=20_000)
    fit = fit_temperature_preds(p)
    s = fit.interval_sample
    assert 4_000 < s.keys.size < 6_000 and s.n_fit[0] == 20_000  # about 5,000 of the 20,000 rows
    lo, hi, how = temperature_interval(fit)
    assert "m-out-of-n" in how and f"n = 20,000" in how
    assert lo[0] < fit.temperature[0] < hi[0]
    # the same rows whatever their order: keys, not positions, pick the sample
    perm = np.random.default_rng(1).permutation(p.n_samples)
    again = fit_temperature(log_scores(p)[perm], p.labels[perm], p.task, keys=perm)
    assert np.array_equal(np.sort(again.interval_sample.keys), np.sort(s.keys))
    lo2, hi2, _ = temperature_interval(again)
    assert lo2[0] == pytest.approx(lo[0], rel=1e-9) and hi2[0] == pytest.approx(hi[0], rel=1e-9)


def test_separable_scores_flag_the_bound():
    z = np.array([[2.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 1.0]])
    fit = fit_temperature(z, np.array([0, 1, 0, 1]), Task.BINARY)
    assert fit.at_bound[0] and fit.temperature[0] < 0.2


def test_binary_single_logit_matches_sigmoid_reference():
    rng = np.random.default_rng(1)
    s = rng.normal(size=4000) * 3
    y = (rng.random(4000) < sigmoid(s / 3)).astype(int)
    z = np.column_stack([np.zeros_like(s), s])  # what the loader builds from one logit column
    p = Predictions(softmax(z), y, ("0", "1"), Task.BINARY, ScoreKind.LOGITS, logits=z)
    from scipy.optimize import minimize_scalar

    def bce(log_t):
        q = sigmoid(s / np.exp(log_t))
        return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))

    ref = np.exp(minimize_scalar(bce, bounds=(-4, 4), method="bounded", options={"xatol": 1e-11}).x)
    assert TemperatureScaling.fit(p).temperature[0] == pytest.approx(ref, abs=1e-6)


def _multilabel(n=3000, k=3, seed=2):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * np.array([3.0, 1.0, 2.0])[:k]
    y = (rng.random((n, k)) < sigmoid(z / np.array([1.5, 0.8, 2.0])[:k])).astype(np.int64)
    return Predictions(sigmoid(z), y, ("x", "y", "w")[:k], Task.MULTILABEL, ScoreKind.LOGITS, logits=z)


def test_multilabel_shared_and_per_label_temperature_match_scipy():
    from scipy.optimize import minimize_scalar

    p = _multilabel()
    z, y = p.logits, p.labels

    def bce(log_t, cols):
        q = np.clip(sigmoid(z[:, cols] / np.exp(log_t)), 1e-300, 1 - 1e-16)
        return -np.mean(np.sum(y[:, cols] * np.log(q) + (1 - y[:, cols]) * np.log1p(-q), axis=1))

    ref = lambda cols: np.exp(minimize_scalar(bce, args=(cols,), bounds=(-4, 4), method="bounded", options={"xatol": 1e-11}).x)
    assert TemperatureScaling.fit(p).temperature[0] == pytest.approx(ref([0, 1, 2]), abs=1e-6)
    per = TemperatureScaling.fit(p, per_label=True).temperature
    assert per == pytest.approx([ref([0]), ref([1]), ref([2])], abs=1e-6)
    assert per[0] == pytest.approx(1.5, abs=0.15) and per[1] == pytest.approx(0.8, abs=0.1)


# -- peers and hand-computed cases ----------------------------------------------------------
def test_platt_matches_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    full = _load("cleanlab_imdb_cv")  # sorted by label: take a seeded random subset
    p = full.subset(np.random.default_rng(0).permutation(full.n_samples)[:5000])
    assert 0.3 < p.labels.mean() < 0.7
    cal = PlattScaling.fit(p)
    s = np.log(np.clip(p.probs[:, 1], 1e-12, 1)) - np.log(np.clip(p.probs[:, 0], 1e-12, 1))
    lr = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(s[:, None], p.labels)
    assert cal.a[0] == pytest.approx(lr.coef_[0, 0], rel=1e-4)
    assert cal.b[0] == pytest.approx(lr.intercept_[0], abs=1e-4)
    out = cal.transform(p).probs[:, 1]
    assert np.max(np.abs(out - lr.predict_proba(s[:, None])[:, 1])) < 1e-5


def test_logistic_columns_hand_case():
    # y = 1 exactly when s > 0 except one flip on each side: MLE is finite and symmetric (b = 0)
    s = np.array([[-2.0], [-1.0], [1.0], [2.0], [-0.5], [0.5]])
    y = np.array([[0.0], [0.0], [1.0], [1.0], [1.0], [0.0]])
    a, b = fit_logistic_columns(s, y)
    assert b[0] == pytest.approx(0.0, abs=1e-9)
    q = sigmoid(a[0] * s[:, 0])
    assert np.sum((q - y[:, 0]) * s[:, 0]) == pytest.approx(0.0, abs=1e-9)  # score equation at the optimum


def test_isotonic_matches_sklearn():
    from sklearn.isotonic import IsotonicRegression

    full = _load("cleanlab_imdb_cv")
    perm = np.random.default_rng(0).permutation(full.n_samples)
    p, other = full.subset(perm[:4000]), full.subset(perm[4000:8000])
    assert 0.3 < p.labels.mean() < 0.7
    cal = IsotonicCalibrator.fit(p)
    ref = IsotonicRegression(out_of_bounds="clip").fit(p.probs[:, 1], p.labels)
    assert np.max(np.abs(cal.transform(other).probs[:, 1] - ref.predict(other.probs[:, 1]))) < 1e-12


def test_isotonic_multiclass_is_one_vs_rest_then_renormalised():
    from sklearn.isotonic import IsotonicRegression

    p = _load("plambda_cifar10_vgg16").subset(np.arange(3000))
    out = IsotonicCalibrator.fit(p).transform(p).probs
    raw = np.column_stack([IsotonicRegression(out_of_bounds="clip").fit(p.probs[:, k], p.labels == k).predict(p.probs[:, k])
                           for k in range(10)])
    s = raw.sum(axis=1, keepdims=True)
    expected = np.where(s > 0, raw / np.where(s > 0, s, 1), p.probs)
    assert np.max(np.abs(out - expected)) < 1e-12


def test_fit_isotonic_hand_case():
    xs, ys = fit_isotonic(np.array([0.1, 0.2, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 0.0, 1.0]))
    # ties at 0.2 merge to 0.5 (weight 2); PAVA pools 0.5 (w2) with 0 (w1) into 1/3
    assert xs.tolist() == [0.1, 0.2, 0.3, 0.4]
    assert ys == pytest.approx([0.0, 1 / 3, 1 / 3, 1.0])


def test_histogram_binning_hand_case():
    probs1 = np.array([0.05, 0.1, 0.3, 0.35, 0.9, 0.5])
    y = np.array([0, 1, 1, 1, 1, 0])
    p = Predictions(np.column_stack([1 - probs1, probs1]), y, ("n", "y"), Task.BINARY, ScoreKind.PROBS)
    cal = HistogramBinning.fit(p, n_bins=4)
    # bins (0, .25], (.25, .5], (.5, .75], (.75, 1]: {0.05, 0.1} -> 1/2; {0.3, 0.35, 0.5} -> 2/3; empty -> 0.625; {0.9} -> 1
    assert cal.values[0] == pytest.approx((0.5, 2 / 3, 0.625, 1.0))
    assert cal.transform(p).probs[:, 1] == pytest.approx([0.5, 0.5, 2 / 3, 2 / 3, 1.0, 2 / 3])


def test_vector_scaling_gradient_and_beats_temperature_in_sample():
    from scipy.optimize import check_grad

    p = _load("plambda_cifar10_vgg16").subset(np.arange(2000))
    z, y = log_scores(p), p.labels
    x = np.random.default_rng(0).normal(size=20) * 0.3 + np.r_[np.ones(10), np.zeros(10)]
    f = lambda v: _softmax_nll_and_grad(v, z, y)[0]
    g = lambda v: _softmax_nll_and_grad(v, z, y)[1]
    assert check_grad(f, g, x) < 1e-5
    vec, ts = VectorScaling.fit(p), TemperatureScaling.fit(p)
    nll = lambda c: M.negative_log_likelihood(y, c.transform(p).probs)
    assert nll(vec) <= nll(ts) + 1e-9  # temperature scaling is the special case w = 1/T, b = 0
    assert np.linalg.norm(g(np.r_[vec.w, vec.b])) < 1e-5


def test_vector_scaling_refuses_other_score_kind():
    p = _synthetic(n=500)
    cal = VectorScaling.fit(p)
    probs_only = Predictions(p.probs, p.labels, p.classes, p.task, ScoreKind.PROBS)
    with pytest.raises(InputError, match="fitted on logits"):
        cal.transform(probs_only)


def test_transform_checks_classes():
    p = _synthetic(n=200)
    cal = TemperatureScaling.fit(p)
    other = Predictions(p.probs, p.labels, ("a", "b", "c", "d", "z"), p.task, p.score_kind, logits=p.logits)
    with pytest.raises(InputError, match="missing e.*not in the calibrator: z"):
        cal.transform(other)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_every_method_gives_valid_probabilities(method, task):
    if task == "multilabel":
        p = _multilabel(n=600)
    elif task == "binary":
        q = _synthetic(n=600, k=2)
        p = Predictions(q.probs, q.labels, ("a", "b"), Task.BINARY, ScoreKind.LOGITS, logits=q.logits)
    else:
        p = _synthetic(n=600)
    out = fit_calibrator(method, p).transform(p)
    assert out.probs.shape == p.probs.shape and out.classes == p.classes and out.task is p.task
    assert np.all((out.probs >= 0) & (out.probs <= 1))
    if task != "multilabel":
        assert np.allclose(out.probs.sum(axis=1), 1.0)
    assert M.negative_log_likelihood(p.labels, out.probs) if task != "multilabel" else True
    assert np.array_equal(out.labels, p.labels)


# -- serialisation ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(METHODS))
def test_to_dict_from_dict_round_trip_through_json(method):
    p = _synthetic(n=400)
    cal = fit_calibrator(method, p)
    back = calibrator_from_dict(json.loads(json.dumps(cal.to_dict())))
    assert back == cal
    assert np.array_equal(back.transform(p).probs, cal.transform(p).probs)


@settings(max_examples=40, deadline=None)
@given(t=st.floats(1e-3, 1e3), k=st.integers(2, 6), kind=st.sampled_from(["probs", "logits"]))
def test_temperature_round_trip_property(t, k, kind):
    cal = TemperatureScaling(Task.MULTICLASS, tuple(f"c{i}" for i in range(k)), ScoreKind(kind), (t,))
    assert calibrator_from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


@settings(max_examples=30, deadline=None)
@given(vals=st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_histogram_round_trip_property(vals):
    cal = HistogramBinning(Task.BINARY, ("n", "y"), ScoreKind.PROBS, (tuple(vals),))
    assert calibrator_from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


GOOD = {"method": "temperature", "task": "multiclass", "classes": ["a", "b", "c"], "input_kind": "logits",
        "params": {"temperature": [1.5]}}


@pytest.mark.parametrize("change, message", [
    ({"method": "magic"}, "'method'"),
    ({"task": "regression"}, "'task'"),
    ({"task": "top_label"}, "top_label"),
    ({"classes": []}, "'classes'"),
    ({"classes": ["a", "a", "b"]}, "duplicate"),
    ({"classes": "abc"}, "'classes'"),
    ({"input_kind": "odds"}, "'input_kind'"),
    ({"params": None}, "'params'"),
    ({"params": {"temperature": [-1.0]}}, "positive"),
    ({"params": {"temperature": ["x"]}}, "numbers"),
    ({"params": {"temperature": [1.0, 2.0]}}, "one value"),
    ({"params": {"temperature": [float("nan")]}}, "finite"),
])
def test_malformed_calibrator_dicts_raise_config_error(change, message):
    with pytest.raises(ConfigError, match=message):
        calibrator_from_dict({**GOOD, **change})


@pytest.mark.parametrize("data, message", [
    ({"method": "vector", "task": "multiclass", "classes": ["a", "b"], "input_kind": "logits", "params": {"w": [1.0], "b": [0.0, 0.0]}}, "shape"),
    ({"method": "platt", "task": "binary", "classes": ["a", "b"], "input_kind": "probs", "params": {"a": [1.0, 1.0], "b": [0.0]}}, "shape"),
    ({"method": "isotonic", "task": "binary", "classes": ["a", "b"], "input_kind": "probs", "params": {"x": [[0.5, 0.2]], "y": [[0.1, 0.2]]}}, "increasing"),
    ({"method": "isotonic", "task": "binary", "classes": ["a", "b"], "input_kind": "probs", "params": {"x": [[0.2, 0.5]], "y": [[0.3, 0.2]]}}, "non-decreasing"),
    ({"method": "histogram", "task": "binary", "classes": ["a", "b"], "input_kind": "probs", "params": {"n_bins": 2, "values": [[0.1, 1.5]]}}, "<= 1"),
    ({"method": "histogram", "task": "binary", "classes": ["a", "b"], "input_kind": "probs", "params": {"n_bins": True, "values": [[0.1]]}}, "n_bins"),
])
def test_malformed_method_params_raise_config_error(data, message):
    with pytest.raises(ConfigError, match=message):
        calibrator_from_dict(data)
