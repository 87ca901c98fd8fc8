"""Statistics of issue 13 (part A): ece_l2, ece_debiased, Spiegelhalter, Cox, Hosmer–Lemeshow, Brier
decomposition, AUROC and average precision. Peers, hand cases, published values and chunk invariance."""

from __future__ import annotations

import copy
import pickle
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli.engine.batches import InMemorySource
from calibcli.engine.local import feed
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.statistics.brier import BrierDecompositionState, brier_decomposition, brier_reliability, \
    brier_resolution, brier_uncertainty
from calibcli.statistics.calibration_error import DebiasedECEState, ECEL2State, ece_debiased, ece_l2
from calibcli.statistics.cox import CoxPass, cox_calibration, fit_cox, fit_cox_source, logit_clipped
from calibcli.statistics.discrimination import DiscriminationState, auroc, average_precision
from calibcli.statistics.hosmer_lemeshow import HosmerLemeshowState, hosmer_lemeshow, hosmer_lemeshow_p
from calibcli.statistics.spiegelhalter import SpiegelhalterState, spiegelhalter_p, spiegelhalter_z
from calibcli.statistics.table import ScoreTable
from conftest import real
from tests.stats_helpers import STATS_SETTINGS, assert_arrays_close, batch_bounds, merge_tree

BELT_MODELS = ("RLR", "SVM", "RF", "NN")


def _belt():
    d = pd.read_csv(real("calibration_belt_example", "data.csv"))
    return d["target"].to_numpy(), {m: d[m].to_numpy() for m in BELT_MODELS}


def _binary_real(name: str):
    d = pd.read_parquet(real(name))
    # a few of IMDB's scores exceed 1 by rounding (up to 1e-5): clipped, as loading within tolerance does
    return d["label"].to_numpy(), np.clip(d["p_1"].to_numpy(dtype=np.float64), 0.0, 1.0)


def _top_label_real(name: str):
    d = pd.read_parquet(real(name))
    probs = d[[c for c in d.columns if c.startswith("p_")]].to_numpy(dtype=np.float64)
    return (probs.argmax(axis=1) == d["label"].to_numpy()).astype(int), probs.max(axis=1)


def _random(n: int, seed: int, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    if decimals is not None:
        p = np.round(p, decimals)
    y = (rng.random(n) < np.clip(1.2 * p - 0.05, 0, 1)).astype(int)
    return y, p


# ---------------------------------------------------------------- published values (calibration belt example)
BELT_SPIEGELHALTER = {"RLR": (0.84329, 0.39907), "SVM": (2.52556, 0.01155), "RF": (-0.54278, 0.58728),
                      "NN": (-0.97395, 0.33008)}
BELT_HL = {"RLR": 25.62, "SVM": 15.15, "RF": 18.12, "NN": 39.56}  # pycaleva, 10 equal-count groups
BELT_COX_SLOPE = {"RLR": 0.945, "SVM": 0.771, "RF": 1.065, "NN": 0.697}  # calzone
BELT_BRIER = {"RLR": 0.09813, "SVM": 0.09414, "RF": 0.09295, "NN": 0.12111}


@pytest.mark.parametrize("model", BELT_MODELS)
def test_belt_published_values(model):
    y, preds = _belt()
    p = preds[model]
    z, pv = BELT_SPIEGELHALTER[model]
    assert spiegelhalter_z(y, p) == pytest.approx(z, abs=5e-6)
    assert spiegelhalter_p(y, p) == pytest.approx(pv, abs=5e-6)
    assert hosmer_lemeshow(y, p) == pytest.approx(BELT_HL[model], abs=5e-3)
    assert cox_calibration(y, p).slope == pytest.approx(BELT_COX_SLOPE[model], abs=5e-4)
    assert brier_decomposition(y, p).brier == pytest.approx(BELT_BRIER[model], abs=5e-6)


def test_belt_hosmer_lemeshow_ties_kept_together():
    """RF has 227 distinct scores over 800 rows: groups follow ties, and pycaleva's 18.12 still results."""
    y, preds = _belt()
    r = HosmerLemeshowState().update(preds["RF"], y).finalize()
    assert r.df == 8 and r.n.sum() == y.size and len(set(r.n.tolist())) > 1
    assert hosmer_lemeshow_p(y, preds["RF"]) == pytest.approx(float(__import__("scipy").stats.chi2.sf(r.statistic, 8)))


# ---------------------------------------------------------------- peers: uncertainty-calibration
@pytest.mark.parametrize("n, decimals", [(2, None), (3, None), (14, None), (16, None), (31, 1), (100, 2),
                                         (1001, None), (5000, 2), (20000, 3)])
def test_ece_debiased_equals_uncertainty_calibration(n, decimals):
    calibration = pytest.importorskip("calibration")
    y, p = _random(n, n, decimals)
    ref = calibration.get_calibration_error(p, y, p=2, debias=True)
    assert ece_debiased(y, p) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("name, curve", [("cleanlab_imdb_cv", "positive"),
                                         ("netcal_coco_faster-rcnn-resnet-50_iou0.60", "positive"),
                                         ("plambda_cifar10_vgg16", "top"), ("cleanlab_20news_cv", "top")])
def test_ece_debiased_real_files(name, curve):
    calibration = pytest.importorskip("calibration")
    y, p = _binary_real(name) if curve == "positive" else _top_label_real(name)
    ref = calibration.get_calibration_error(p, y, p=2, debias=True)
    assert ece_debiased(y, p) == pytest.approx(ref, abs=1e-6)


def test_ece_debiased_discrete_scores_use_one_bin_per_value():
    calibration = pytest.importorskip("calibration")
    y, p = _random(400, 7, 1)  # 11 distinct values < 400 / 4
    r = DebiasedECEState().update(p, y).finalize()
    assert r.discrete and r.n_bins == np.unique(p).size
    assert r.value == pytest.approx(calibration.get_calibration_error(p, y, p=2, debias=True), abs=1e-12)


def test_ece_debiased_hand_case():
    # bins {0.2 x4: 3 events}, {0.8 x4: 1 event}: (0.55^2 - 0.75*0.25/3) in each, sqrt(0.24)
    p = np.repeat([0.2, 0.8], 4)
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    assert ece_debiased(y, p) == pytest.approx(0.24 ** 0.5, abs=1e-12)


# ---------------------------------------------------------------- peers: scikit-learn
@pytest.mark.parametrize("name", ["cleanlab_imdb_cv", "netcal_coco_faster-rcnn-resnet-50_iou0.60"])
def test_discrimination_equals_sklearn_on_real_files(name):
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _binary_real(name)
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_discrimination_equals_sklearn_top_label_and_belt():
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _top_label_real("plambda_cifar10_vgg16")  # float32 scores: many ties at 1.0
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    yb, preds = _belt()
    for model in BELT_MODELS:
        assert auroc(yb, preds[model]) == pytest.approx(roc_auc_score(yb, preds[model]), abs=1e-12)
        assert average_precision(yb, preds[model]) == pytest.approx(average_precision_score(yb, preds[model]), abs=1e-12)


def test_discrimination_ties_and_weights_equal_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _random(3000, 11, 2)
    w = np.random.default_rng(1).random(3000)
    assert auroc(y, p, sample_weight=w) == pytest.approx(roc_auc_score(y, p, sample_weight=w), abs=1e-12)
    assert average_precision(y, p, sample_weight=w) == pytest.approx(
        average_precision_score(y, p, sample_weight=w), abs=1e-12)


def test_discrimination_of_logits_equals_sklearn():
    """Only the order matters: negative scores (logits) work, exactly and beyond the budget."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _random(5000, 17, 3)
    z = np.log(p + 1e-9) - np.log1p(-p + 1e-9)
    assert auroc(y, z) == pytest.approx(roc_auc_score(y, z), abs=1e-12) == pytest.approx(auroc(y, p), abs=1e-12)
    assert average_precision(y, z) == pytest.approx(average_precision_score(y, z), abs=1e-12)
    r = DiscriminationState(max_distinct=50).update(z, y).finalize()
    assert not r.exact and abs(r.auroc - roc_auc_score(y, z)) <= r.auroc_bound


def test_discrimination_hand_case_and_one_class():
    # pairs (pos, neg): (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, *) yes: 3 of 4; AP = (1/2)(1) + (1/2)(2/3)
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6, abs=1e-15)
    assert auroc([1, 0], [0.5, 0.5]) == 0.5  # a tie counts one half
    assert np.isnan(auroc([1, 1], [0.2, 0.3])) and np.isnan(average_precision([0, 0], [0.2, 0.3]))


def test_discrimination_beyond_budget_states_its_bound():
    from sklearn.metrics import roc_auc_score

    y, p = _random(50_000, 5)
    r = DiscriminationState(max_distinct=2000).update(p, y).finalize()
    assert not r.exact and 0 < r.resolution < 0.01 and 0 < r.auroc_bound < 0.01
    assert abs(r.auroc - roc_auc_score(y, p)) <= r.auroc_bound


# ---------------------------------------------------------------- Cox: scikit-learn and scipy
def test_cox_equals_sklearn_and_scipy():
    from scipy.optimize import minimize_scalar
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    p = rng.beta(2, 5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.3 + 0.7 * logit_clipped(p))))).astype(int)
    r = cox_calibration(y, p)
    x = logit_clipped(p)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x[:, None], y)
    assert r.converged and r.citl_converged
    assert r.slope == pytest.approx(ref.coef_[0, 0], abs=1e-6)
    assert r.intercept == pytest.approx(ref.intercept_[0], abs=1e-6)
    citl = minimize_scalar(lambda c: -(y * (c + x) - np.logaddexp(0, c + x)).sum(), bracket=(-1, 1), tol=1e-12).x
    assert r.calibration_in_the_large == pytest.approx(citl, abs=1e-6)
    # Wald: the inverse Fisher information, computed here independently
    mu = 1 / (1 + np.exp(-(r.intercept + r.slope * x)))
    X = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.inv(X.T @ (X * (mu * (1 - mu))[:, None]))
    assert r.slope_se == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-6)
    assert r.intercept_se == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-6)
    assert r.slope_interval == pytest.approx((r.slope - 1.959963984540054 * r.slope_se,
                                              r.slope + 1.959963984540054 * r.slope_se))
    mu0 = 1 / (1 + np.exp(-(r.calibration_in_the_large + x)))
    assert r.citl_se == pytest.approx(1 / np.sqrt(np.sum(mu0 * (1 - mu0))), rel=1e-6)


def test_cox_weights_are_frequency_weights():
    y, p = _random(300, 4)
    w = np.random.default_rng(2).integers(0, 4, 300)
    a = cox_calibration(y, p, sample_weight=w)
    b = cox_calibration(np.repeat(y, w), np.repeat(p, w))
    assert a.slope == pytest.approx(b.slope, abs=1e-9) and a.slope_se == pytest.approx(b.slope_se, rel=1e-9)


def test_cox_calibrated_model_and_degenerate_cases():
    p = np.repeat([0.2, 0.8], 10)
    y = np.r_[np.arange(10) < 2, np.arange(10) < 8].astype(int)  # observed 0.2 and 0.8: perfectly calibrated
    r = cox_calibration(y, p)
    assert r.slope == pytest.approx(1.0, abs=1e-9) and r.intercept == pytest.approx(0.0, abs=1e-9)
    assert r.calibration_in_the_large == pytest.approx(0.0, abs=1e-9)
    sep = cox_calibration([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])  # perfect separation: no finite slope
    assert not sep.converged and np.isnan(sep.slope) and sep.citl_converged
    const = cox_calibration([0, 1, 1, 1], [0.3] * 4)  # constant p: no slope, but calibration in the large
    assert np.isnan(const.slope) and const.calibration_in_the_large == pytest.approx(np.log(3) - np.log(0.3 / 0.7))


# ---------------------------------------------------------------- hand cases
def test_hosmer_lemeshow_textbook_deciles():
    """n divisible by 10, distinct p: groups are 10 runs of n/10 sorted rows."""
    from scipy.stats import chi2

    y, p = _random(1000, 9)
    order = np.argsort(p)
    stat = 0.0
    for g in np.split(order, 10):
        n, o, e = g.size, y[g].sum(), p[g].sum()
        stat += (o - e) ** 2 / e + ((n - o) - (n - e)) ** 2 / (n - e)
    r = HosmerLemeshowState().update(p, y).finalize()
    assert r.statistic == pytest.approx(stat, rel=1e-12) and r.df == 8
    assert r.p_value == pytest.approx(chi2.sf(stat, 8), rel=1e-10)


def test_hosmer_lemeshow_heavy_ties_give_fewer_groups():
    p = np.r_[np.full(60, 0.3), np.linspace(0.4, 0.9, 40)]
    y = (np.arange(100) % 3 == 0).astype(int)
    r = HosmerLemeshowState().update(p, y).finalize()
    assert r.n[0] == 60 and r.df == r.n.size - 2 < 8


def test_ece_l2_hand_case_and_quantile_bins():
    assert ece_l2([0, 1, 0], [0.2, 0.9, 0.7], n_bins=2) == pytest.approx((0.04 / 3 + 0.09 * 2 / 3) ** 0.5, abs=1e-15)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    y = np.array([0, 1, 0, 1])
    # quantile edges [0, 0.2, 1]: bins {0.1, 0.2} gap 0.35, {0.3, 0.4} gap 0.15
    assert ece_l2(y, p, n_bins=2, strategy="quantile") == pytest.approx(((0.35 ** 2 + 0.15 ** 2) / 2) ** 0.5)


def test_brier_decomposition_identity():
    y, p = _random(2000, 12)
    r = brier_decomposition(y, p, n_bins=10)
    assert r.brier == pytest.approx(np.mean((p - y) ** 2), rel=1e-12)
    assert r.brier == pytest.approx(r.reliability - r.resolution + r.uncertainty + r.within, abs=1e-15)
    assert r.within == pytest.approx(r.within_variance - r.within_covariance, abs=1e-12)
    assert r.within != pytest.approx(0.0, abs=1e-6)  # p varies within bins: the gap is real
    # p constant within bins: the three terms add up exactly
    y2, p2 = _random(2000, 13, 1)
    p2 = np.clip(p2, 0.1, 0.9)  # values 0.1 .. 0.9, one per bin (lo < p <= hi)
    r2 = brier_decomposition(y2, p2, edges=np.r_[0.0, np.unique(p2)[:-1], 1.0])
    assert abs(r2.within) < 1e-12
    assert brier_uncertainty(y, p) == pytest.approx(y.mean() * (1 - y.mean()))
    assert brier_reliability(y, p, n_bins=10) == r.reliability and brier_resolution(y, p, n_bins=10) == r.resolution


def test_spiegelhalter_hand_case():
    # terms 0.8*0.6, -0.2*0.6, 0; variance 2 * 0.36 * 0.16: z = 0.75 sqrt(2)
    assert spiegelhalter_z([1, 1, 0], [0.2, 0.8, 0.5]) == pytest.approx(0.75 * 2 ** 0.5, abs=1e-15)
    assert np.isnan(spiegelhalter_z([1, 0], [0.5, 0.5]))


def test_invalid_inputs_name_the_argument():
    with pytest.raises(ValueError, match="y_prob"):
        ece_debiased([0, 1], [0.2, 1.5])
    with pytest.raises(ValueError, match="finite"):
        auroc([0, 1], [0.2, np.nan])
    with pytest.raises(ValueError, match="same length"):
        ece_debiased([0, 1, 1], [0.2, 0.5])
    with pytest.raises(ValueError, match="sample_weight"):
        spiegelhalter_z([0, 1], [0.2, 0.5], sample_weight=[1, -1])
    with pytest.raises(ValueError, match="curve"):
        HosmerLemeshowState(curve="diagonal")


# ---------------------------------------------------------------- streaming: chunk invariance, merge, serialisation
def _states(edges):
    return {
        "l2": lambda: ECEL2State(edges),
        "debiased": lambda: DebiasedECEState(),
        "debiased_coarse": lambda: DebiasedECEState(max_distinct=150),
        "spiegelhalter": lambda: SpiegelhalterState(),
        "hl": lambda: HosmerLemeshowState(),
        "hl_coarse": lambda: HosmerLemeshowState(max_distinct=100),
        "brier": lambda: BrierDecompositionState(edges),
        "disc": lambda: DiscriminationState(),
        "disc_coarse": lambda: DiscriminationState(max_distinct=64),
        "cox": lambda: CoxPass((0.1, 0.9), -0.2),
    }


def _close(a, b):
    fa, fb = a.finalize(), b.finalize()
    if isinstance(fa, np.ndarray):
        np.testing.assert_allclose(fa, fb, rtol=1e-10, atol=1e-12)
        return
    for k, v in vars(fa).items():
        w = getattr(fb, k)
        if isinstance(v, (float, np.ndarray, tuple)):
            np.testing.assert_allclose(np.asarray(v, dtype=float), np.asarray(w, dtype=float), rtol=1e-10, atol=1e-12,
                                       err_msg=k)
        else:
            assert v == w, k


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 1000))
def test_chunk_invariance_and_merge_order(data, seed):
    y, p = _random(700, seed, data.draw(st.sampled_from([None, 2])))
    w = np.random.default_rng(seed).random(700)
    bounds = data.draw(batch_bounds(700))
    edges = np.linspace(0, 1, 11)
    rnd = random.Random(seed)
    for name, make in _states(edges).items():
        whole = make().update(p, y, w)
        one = make()
        for a, b in bounds:
            one.update(p[a:b], y[a:b], w[a:b])
        _close(whole, one)
        parts = [copy.deepcopy(make()).update(p[a:b], y[a:b], w[a:b]) for a, b in bounds]
        _close(whole, merge_tree(parts, rnd))


@pytest.mark.parametrize("name", list(_states(np.linspace(0, 1, 11))))
def test_round_trip_and_replica(name):
    y, p = _random(500, 21)
    make = _states(np.linspace(0, 1, 11))[name]
    s = make().update(p, y)
    back = type(s).from_arrays(s.to_arrays())
    assert_arrays_close(back.to_arrays(), s.to_arrays())
    _close(back, s)
    replica = copy.deepcopy(make())  # an unfed consumer copies into an empty replica with the same parameters
    _close(pickle.loads(pickle.dumps(replica.update(p, y))), s)


def test_score_table_level_does_not_depend_on_batches():
    y, p = _random(20_000, 3)
    whole = ScoreTable(500).update(p, y.astype(float)).finalize()
    parts = [ScoreTable(500).update(p[i:i + 999], y[i:i + 999].astype(float)) for i in range(0, 20_000, 999)]
    got = merge_tree(parts, random.Random(0)).finalize()
    assert got.level == whole.level > 0 and np.array_equal(got.rows, whole.rows)
    np.testing.assert_allclose(got.sum_p, whole.sum_p, rtol=1e-12)


def test_batches_through_the_engine_equal_arrays():
    """A consumer fed by ``feed`` reads its curve from each batch (binary positive class, top label, class k)."""
    y, p1 = _random(1000, 8)
    probs = np.column_stack([1 - p1, p1])
    src = InMemorySource.from_predictions(Predictions(probs, y, ("a", "b"), Task.BINARY, ScoreKind.PROBS), 97)
    disc, hl, top, cls0 = DiscriminationState(), HosmerLemeshowState(), SpiegelhalterState("top"), DebiasedECEState(0)
    feed(src, disc, hl, top, cls0)
    assert disc.finalize().auroc == auroc(y, p1)
    assert hl.finalize().statistic == pytest.approx(hosmer_lemeshow(y, p1), rel=1e-12)
    conf = probs.max(axis=1)
    assert top.finalize().z == pytest.approx(spiegelhalter_z((probs.argmax(1) == y).astype(int), conf), rel=1e-12)
    assert cls0.finalize().value == pytest.approx(ece_debiased((y == 0).astype(int), probs[:, 0]), rel=1e-12)
    r = fit_cox_source(src)
    assert r.slope == pytest.approx(cox_calibration(y, p1).slope, rel=1e-9)


def test_fit_cox_any_split_same_estimate():
    y, p = _random(900, 30)

    def run(consumer):
        parts = [copy.deepcopy(consumer).update(p[a:a + 128], y[a:a + 128]) for a in range(0, 900, 128)]
        acc = parts[0]
        for other in parts[1:]:
            acc.merge(other)
        return acc

    a, b = fit_cox(run), cox_calibration(y, p)
    assert a.slope == pytest.approx(b.slope, rel=1e-10) and a.calibration_in_the_large == pytest.approx(
        b.calibration_in_the_large, rel=1e-10)


def test_replicate_axis_of_spiegelhalter_and_l2():
    from calibcli.stats.rng import poisson1_weights

    y, p = _random(400, 2)
    rows = np.arange(400)
    rw = poisson1_weights(0, rows, 8)
    s = SpiegelhalterState(n_replicates=8).update(p[:150], y[:150], replicate_weights=rw[:150])
    s.merge(SpiegelhalterState(n_replicates=8).update(p[150:], y[150:], replicate_weights=rw[150:]))
    r = s.finalize()
    assert r.replicates.shape == (8,)
    assert r.replicates[3] == pytest.approx(spiegelhalter_z(y, p, sample_weight=rw[:, 3]), rel=1e-12)
    l2 = ECEL2State(np.linspace(0, 1, 6), n_replicates=8).update(p, y, replicate_weights=rw).finalize()
    assert l2.replicates[5] == pytest.approx(ece_l2(y, p, n_bins=5, sample_weight=rw[:, 5]), rel=1e-12)
