"""Temperature fits of several parameters in shared passes (cross-fitting folds, multilabel
--per-label) equal the fits of each parameter alone, and each stops at its own optimum.

Regression: in ``_newton`` a converged parameter's step rounded to zero, landed on its
bracket end, was flagged bad and replaced by the fallback (x4, /4, sqrt(lo*hi)) while the
loop went on for the other parameters: fold temperatures off by up to 4x on the default
2-fold cross-fit, wrong per-label T and a false "perfect separation" warning.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibcli.calibration_stage import evaluate_calibration
from calibcli.calibrators.temperature import fit_temperature
from calibcli.predictions import Predictions, ScoreKind, Task, sigmoid, softmax

REL = 1e-6  # grouped and single fits agree to this in 1/T (relative; absolute below 1/T = 1)


def _fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    """Each row's fold: a row-keyed draw on its position (what the audit's cross-fitting uses)."""
    from calibcli.stats.rng import fold_of

    return fold_of(seed, np.arange(n), folds)


def _close_beta(t_a: float, t_b: float) -> bool:
    ba, bb = 1.0 / t_a, 1.0 / t_b
    return abs(ba - bb) <= REL * max(1.0, bb)


def _softmax_newton_distance(z: np.ndarray, y: np.ndarray, t: float) -> float:
    """|g / h| at beta = 1/T, relative to beta: how far from its optimum a fit stopped
    (derivatives written out independently of calib's blockwise passes)."""
    beta = 1.0 / t
    d = z - z.max(axis=1, keepdims=True)
    p = softmax(d * beta)
    mean_d = (p * d).sum(axis=1)
    g = np.mean(mean_d - d[np.arange(len(y)), y])
    h = np.mean((p * d * d).sum(axis=1) - mean_d ** 2)
    return abs(g / h) / beta


def _multiclass(seed: int, n: int, k: int, t_true: float, scale: float):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * scale
    u = rng.random(n)
    y = (softmax(z / t_true).cumsum(axis=1) < u[:, None]).sum(axis=1)
    return z, np.minimum(y, k - 1)


def _check_groups_equal_single(z, y, task, groups, n_groups):
    grouped = fit_temperature(z, y, task, groups=groups, n_groups=n_groups)
    for j in range(n_groups):
        rows = groups == j
        if not rows.any():
            continue
        single = fit_temperature(z[rows], y[rows], task)
        assert bool(grouped.at_bound[j]) == bool(single.at_bound[0]), (j, grouped.temperature, single.temperature)
        if not single.at_bound[0]:
            assert _close_beta(grouped.temperature[j], single.temperature[0]), (j, grouped.temperature, single.temperature)
            assert _softmax_newton_distance(z[rows], y[rows], grouped.temperature[j]) < REL


# -- the reported reproduction: ~500-row multiclass file, 2-fold cross-fit, seeds 0..20 ------------------
@pytest.mark.parametrize("data_seed", [1, 2, 11, 26])
def test_cross_fit_fold_temperatures_equal_independent_fits_seeds_0_to_20(data_seed):
    """The data sets on which the old _newton gave a wrong fold T (e.g. 1.99 where 3.97 is optimal)."""
    rng = np.random.default_rng(data_seed)
    n, k = int(rng.integers(50, 800)), int(rng.integers(2, 11))
    z = rng.normal(size=(n, k)) * rng.uniform(0.5, 8)
    t_true = rng.uniform(0.3, 5)
    y = np.array([rng.choice(k, p=p) for p in softmax(z / t_true)])
    task = Task.BINARY if k == 2 else Task.MULTICLASS
    for seed in range(21):
        ids = _fold_ids(n, 2, seed)
        _check_groups_equal_single(z, y, task, 1 - ids, 2)


def test_audit_fold_temperatures_are_each_folds_optimum():
    """Through evaluate_calibration (the default path of calib audit): a 499-row file, seeds 0..20."""
    z, y = _multiclass(seed=11, n=499, k=10, t_true=1.5, scale=3.0)  # the old code got one fold wrong here
    p = Predictions(softmax(z), y, tuple("abcdefghij"), Task.MULTICLASS, ScoreKind.LOGITS, logits=z)
    for seed in range(21):
        r = evaluate_calibration(p, seed=seed, n_boot=10)
        ids = _fold_ids(p.n_samples, 2, seed)
        for f, t in enumerate(r.fit["fold_temperatures"]):
            single = fit_temperature(z[ids != f], y[ids != f], Task.MULTICLASS).temperature[0]
            assert _close_beta(t, single), (seed, f, t, single)
        assert not any("separate the classes" in w for w in r.warnings)


def test_fit_started_at_its_optimum_stays_there():
    """A warm start at the optimum (the step rounds to 0) used to be thrown off by the fallback."""
    z, y = _multiclass(seed=3, n=2000, k=5, t_true=2.0, scale=4.0)
    t = fit_temperature(z, y, Task.MULTICLASS).temperature[0]
    again = fit_temperature(z, y, Task.MULTICLASS, init=t)
    assert _close_beta(again.temperature[0], t) and not again.at_bound[0]


# -- properties over seeds, sizes and label mixes ----------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(4, 3000), k=st.integers(2, 8), n_groups=st.integers(2, 4),
       log_t=st.floats(-2.0, 2.0), scale=st.floats(0.2, 10.0))
def test_grouped_fits_equal_independent_fits(seed, n, k, n_groups, log_t, scale):
    z, y = _multiclass(seed, n, k, float(np.exp(log_t)), scale)
    groups = np.random.default_rng(seed + 1).integers(0, n_groups, size=n)
    _check_groups_equal_single(z, y, Task.BINARY if k == 2 else Task.MULTICLASS, groups, n_groups)


def _multilabel(seed: int, n: int, log_ts: list[float], scales: list[float]):
    rng = np.random.default_rng(seed)
    k = len(log_ts)
    z = rng.normal(size=(n, k)) * np.asarray(scales)
    y = (rng.random((n, k)) < sigmoid(z / np.exp(np.asarray(log_ts)))).astype(np.float64)
    return z, y


def _sigmoid_newton_distance(z: np.ndarray, y: np.ndarray, t: float) -> float:
    beta = 1.0 / t
    s = sigmoid(z * beta)
    return abs(np.mean((s - y) * z) / np.mean(s * (1 - s) * z * z)) / beta


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(4, 3000),
       log_ts=st.lists(st.floats(-3.0, 3.0), min_size=2, max_size=6),
       scale=st.floats(0.3, 6.0))
def test_per_label_fits_equal_independent_fits(seed, n, log_ts, scale):
    """Labels with very different optimal T (e^-3 to e^3) fitted together, each as if alone."""
    scales = [scale * (1 + j) for j in range(len(log_ts))]
    z, y = _multilabel(seed, n, log_ts, scales)
    per = fit_temperature(z, y, Task.MULTILABEL, per_label=True)
    for j in range(z.shape[1]):
        single = fit_temperature(z[:, [j]], y[:, [j]], Task.MULTILABEL)
        assert bool(per.at_bound[j]) == bool(single.at_bound[0]), (j, per.temperature, single.temperature)
        if not single.at_bound[0]:
            assert _close_beta(per.temperature[j], single.temperature[0]), (j, per.temperature, single.temperature)
            assert _sigmoid_newton_distance(z[:, j], y[:, j], per.temperature[j]) < REL


def test_per_label_large_file_no_false_separation_warning():
    """30,000 rows, labels whose optimal T differ by 50x: every T is its label's own, no warning."""
    z, y = _multilabel(seed=4, n=30_000, log_ts=[-2.0, 0.0, 1.9, 0.5], scales=[1.0, 3.0, 5.0, 2.0])
    p = Predictions(sigmoid(z), y.astype(np.int64), ("a", "b", "c", "d"), Task.MULTILABEL, ScoreKind.LOGITS, logits=z)
    per = fit_temperature(z, y, Task.MULTILABEL, per_label=True)
    assert not per.at_bound.any()
    for j in range(4):
        assert _close_beta(per.temperature[j], fit_temperature(z[:, [j]], y[:, [j]], Task.MULTILABEL).temperature[0])
    r = evaluate_calibration(p, per_label=True, n_boot=10)
    assert not any("temperature" in w for w in r.warnings), r.warnings
