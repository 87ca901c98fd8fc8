"""Differential tests against peer libraries (test-only dependencies)."""

from __future__ import annotations

import numpy as np
import pytest

from calibcli import metrics as m
from calibcli.audit import measure
from calibcli.binning import uniform_edges
from calibcli.report import Reliability
from calibcli.loading import load_predictions
from conftest import real

calibration = pytest.importorskip("calibration")  # uncertainty-calibration
sk_calibration = pytest.importorskip("sklearn.calibration")
relplot_metrics = pytest.importorskip("relplot.metrics")


def _random_probs(rng, n, k, ties=True):
    z = rng.normal(0, 2, size=(n, k))
    p = np.exp(z); p /= p.sum(1, keepdims=True)
    if ties:
        p = np.round(p, 2)  # heavy ties, and values exactly on 1/15-free grid points
        p[: n // 10] = np.eye(k)[rng.integers(0, k, n // 10)]  # confidences of exactly 1.0 (and 0.0)
        p /= p.sum(1, keepdims=True)
    y = rng.integers(0, k, n)
    return p, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_label_ece_matches_uncertainty_calibration_random(seed):
    rng = np.random.default_rng(seed)
    p, y = _random_probs(rng, 3000, 4)
    ours = m.expected_calibration_error(y, p, n_bins=15)
    theirs = calibration.get_ece(p, y, num_bins=15, debias=False)
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_classwise_ece_matches_uncertainty_calibration_marginal():
    rng = np.random.default_rng(5)
    p, y = _random_probs(rng, 2000, 3)
    ours = m.classwise_ece(y, p, n_bins=15)
    theirs = calibration.get_ece(p, y, num_bins=15, debias=False, mode="marginal")
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_real_file_matches_uncertainty_calibration():
    preds = load_predictions([str(real("plambda_cifar10_vgg16"))]).predictions
    ours = measure(preds).metrics
    assert ours.ece == pytest.approx(calibration.get_ece(preds.probs, preds.labels, num_bins=15, debias=False), abs=1e-12)
    assert ours.classwise_ece == pytest.approx(
        calibration.get_ece(preds.probs, preds.labels, num_bins=15, debias=False, mode="marginal"), abs=1e-12)


@pytest.mark.parametrize("name", ["plambda_cifar10_vgg16", "cleanlab_20news_cv"])
def test_per_class_curves_match_sklearn_calibration_curve(name):
    """scikit-learn bins with the same lo < c <= hi rule; it drops empty bins."""
    preds = load_predictions([str(real(name))]).predictions
    report = measure(preds)
    for k, cls in enumerate(report.classes[:5]):
        outcome = (preds.labels == k).astype(int)
        prob_true, prob_pred = sk_calibration.calibration_curve(outcome, preds.probs[:, k], n_bins=15, strategy="uniform")
        s = cls.reliability
        nonempty = s.count > 0
        assert np.allclose(s.observed[nonempty], prob_true, atol=1e-12)
        assert np.allclose(s.mean_conf[nonempty], prob_pred, atol=1e-12)


def test_sklearn_with_exact_zeros_ones_and_ties():
    rng = np.random.default_rng(7)
    p = rng.choice([0.0, 1 / 15, 0.2, 0.5, 0.5, 2 / 3, 1.0], size=500)
    y = (rng.random(500) < p).astype(int)
    s = Reliability.from_arrays(p, y, uniform_edges(15))
    prob_true, prob_pred = sk_calibration.calibration_curve(y, p, n_bins=15)
    nonempty = s.count > 0
    assert np.allclose(s.observed[nonempty], prob_true) and np.allclose(s.mean_conf[nonempty], prob_pred)


def test_relplot_binned_ece_away_from_edges():
    """relplot bins lo <= c < hi; on confidences that avoid every edge the two agree."""
    rng = np.random.default_rng(3)
    f = rng.random(5000)
    f = f[np.abs(f * 10 - np.round(f * 10)) > 1e-6]
    y = (rng.random(f.size) < f**1.3).astype(float)
    ours = Reliability.from_arrays(f, y, uniform_edges(10)).ece()
    assert ours == pytest.approx(relplot_metrics.binnedECE(f, y, nbins=10), abs=1e-12)


def test_relplot_differs_only_by_documented_edge_rule():
    """At c = 1.0 exactly relplot opens an extra bin; the top bin of ours takes it."""
    f = np.array([0.95, 1.0, 1.0, 0.3])
    y = np.array([1.0, 0.0, 0.0, 0.0])
    ours = Reliability.from_arrays(f, y, uniform_edges(10)).ece()
    # ours: bin 9 = {.95:1, 1:0, 1:0} conf .9833 acc .3333 -> 3/4 * .65; bin 2 = {.3:0} -> 1/4 * .3
    assert ours == pytest.approx(3 / 4 * (2.95 / 3 - 1 / 3) + 1 / 4 * 0.3)
    theirs = relplot_metrics.binnedECE(f, y, nbins=10)
    assert theirs == pytest.approx((0.05 + 2.0 + 0.3) / 4)
    assert ours != pytest.approx(theirs)


def test_brier_and_nll_match_sklearn():
    from sklearn.metrics import brier_score_loss, log_loss

    preds = load_predictions([str(real("cleanlab_20news_cv"))]).predictions
    p = np.clip(preds.probs, 1e-12, 1.0)
    assert m.negative_log_likelihood(preds.labels, preds.probs) == pytest.approx(
        log_loss(preds.labels, p / p.sum(1, keepdims=True), labels=np.arange(preds.n_classes)), abs=1e-9)
    # scikit-learn's multiclass Brier (scale_by_half=False) is the sum over classes, as ours
    assert m.brier_score(preds.labels, preds.probs) == pytest.approx(
        brier_score_loss(preds.labels, preds.probs, labels=np.arange(preds.n_classes), scale_by_half=False), abs=1e-12)


@pytest.mark.parametrize("name", ["netcal_coco_faster-rcnn-resnet-50_iou0.60", "cleanlab_imdb_cv"])
def test_binary_temperature_matches_sklearn_logistic_regression_without_intercept(name):
    """Binary temperature scaling is a logistic regression of the label on the logit
    with no intercept: scikit-learn's coefficient is 1/T."""
    from sklearn.linear_model import LogisticRegression

    from calibcli.calibrators.temperature import fit_temperature_preds

    preds = load_predictions([str(real(name))]).predictions
    t = float(fit_temperature_preds(preds).temperature[0])
    logp = np.log(np.maximum(preds.probs, 1e-12))
    margin = (logp[:, 1] - logp[:, 0])[:, None]
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=1000).fit(margin, preds.labels)
    assert t == pytest.approx(1.0 / lr.coef_[0, 0], rel=1e-5)
