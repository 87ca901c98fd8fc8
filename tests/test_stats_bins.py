"""BinStats: equal to a plain-numpy reference and calibcli.metrics on real files, chunk-invariant, mergeable."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli import binning, metrics
from calibcli.stats import bins as bins_mod
from calibcli.stats.bins import BinStats
from calibcli.stats.rng import poisson1_weights
from conftest import real
from stats_helpers import STATS_SETTINGS, assert_arrays_close, batch_bounds, merge_tree


def _read(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, float64 probabilities) of a full-vector real file, or (labels, pred, conf) columns."""
    pq = pytest.importorskip("pyarrow.parquet")
    t = pq.read_table(real(name))
    return {c: t.column(c).to_numpy() for c in t.column_names}


def _top_label(name: str) -> tuple[np.ndarray, np.ndarray]:
    cols = _read(name)
    if "confidence" in cols:
        return cols["confidence"].astype(np.float64), cols["pred_label"] == cols["label"]
    k = sum(c.startswith("p_") for c in cols)
    p = np.column_stack([cols[f"p_{j}"] for j in range(k)]).astype(np.float64)
    pred = np.argmax(p, axis=1)
    return p[np.arange(len(p)), pred], pred == cols["label"]


class _Reference:
    """Plain-numpy per-bin sums (np.add.at on assign_bins, lo < c <= hi): one curve, or one per column of 2-D input."""

    def __init__(self, conf, outcome, edges):
        c, y = np.asarray(conf, dtype=np.float64), np.asarray(outcome, dtype=np.float64)
        c2, y2 = c.reshape(len(c), -1), y.reshape(len(c), -1)
        k, b = c2.shape[1], len(edges) - 1
        self.count, self.sum_conf, self.sum_outcome = np.zeros((k, b)), np.zeros((k, b)), np.zeros((k, b))
        for j in range(k):
            idx = binning.assign_bins(c2[:, j], edges)
            np.add.at(self.count[j], idx, 1.0)
            np.add.at(self.sum_conf[j], idx, c2[:, j])
            np.add.at(self.sum_outcome[j], idx, y2[:, j])
        if c.ndim == 1:
            self.count, self.sum_conf, self.sum_outcome = self.count[0], self.sum_conf[0], self.sum_outcome[0]

    @property
    def mean_conf(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum_conf / self.count, np.nan)

    @property
    def observed(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum_outcome / self.count, np.nan)

    def ece(self):
        return np.abs(self.sum_outcome - self.sum_conf).sum(axis=-1) / self.count.sum(axis=-1)

    def mce(self):
        return np.where(self.count > 0, np.abs(self.observed - self.mean_conf), -np.inf).max(axis=-1)


def _assert_same_as_binning(res, ref: _Reference) -> None:
    """Per-bin counts and means, ECE and MCE of a BinResult equal the reference's to 1e-12."""
    shape = res.count.shape
    assert np.array_equal(res.count, np.asarray(ref.count, dtype=np.int64).reshape(shape))
    np.testing.assert_allclose(res.mean_conf, np.reshape(ref.mean_conf, shape), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(res.observed, np.reshape(ref.observed, shape), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(res.ece, np.atleast_1d(ref.ece()), rtol=1e-12)
    np.testing.assert_allclose(res.mce, np.atleast_1d(ref.mce()), rtol=1e-12)


def test_doctests():
    assert doctest.testmod(bins_mod).failed == 0


@pytest.mark.parametrize("name", ["hollance_markus93_densenet40_c10", "hollance_markus93_resnet110_c100",
                                  "plambda_cifar10_vgg16", "netcal_cifar10_wrn16-4", "cleanlab_20news_cv"])
def test_top_label_equals_binning_and_metrics_on_real_files(name):
    conf, correct = _top_label(name)
    edges = binning.uniform_edges(15)
    res = BinStats.uniform(15).update(conf, correct).finalize()
    ref = _Reference(conf, correct, edges)
    _assert_same_as_binning(res, ref)
    # L2-ECE from the reference per-bin numbers
    ok = ref.count > 0
    l2 = np.sqrt(np.sum(ref.count[ok] * (ref.observed[ok] - ref.mean_conf[ok]) ** 2) / ref.count.sum())
    assert res.l2_ece[0] == pytest.approx(l2, rel=1e-12)
    # quantile edges, passed in explicitly
    qedges = binning.quantile_edges(conf, 15)
    qres = BinStats(qedges).update(conf, correct).finalize()
    _assert_same_as_binning(qres, _Reference(conf, correct, qedges))


def test_classwise_equals_metrics_on_a_real_file():
    cols = _read("plambda_cifar10_vgg16")
    p = np.column_stack([cols[f"p_{j}"] for j in range(10)]).astype(np.float64)
    y = cols["label"]
    onehot = y[:, None] == np.arange(10)[None, :]
    res = BinStats.uniform(15, n_groups=10).update(p, onehot).finalize()
    ref = _Reference(p, onehot, binning.uniform_edges(15))
    _assert_same_as_binning(res, ref)
    assert float(np.mean(res.ece)) == pytest.approx(metrics.classwise_ece(y, p), rel=1e-12)
    assert res.ece.shape == (10,) and res.count.shape == (10, 15)
    # the same curves from 1-D input with a group column
    flat = BinStats.uniform(15, n_groups=10).update(p.ravel(), onehot.ravel(), group=np.tile(np.arange(10), len(p)))
    assert_arrays_close(flat.to_arrays(), BinStats.uniform(15, n_groups=10).update(p, onehot).to_arrays())
    _assert_same_as_binning(BinStats.uniform(15, n_groups=10).update(p, labels=y).finalize(), ref)
    top = BinStats.uniform(15).update(*_top_label("plambda_cifar10_vgg16")).finalize()
    assert top.ece[0] == pytest.approx(metrics.expected_calibration_error(y, p), rel=1e-12)
    assert top.mce[0] == pytest.approx(metrics.maximum_calibration_error(y, p), rel=1e-12)


@STATS_SETTINGS
@given(data=st.data())
def test_real_file_in_random_batches_and_merge_trees_equals_one_batch(data):
    conf, correct = _top_label("hollance_markus93_densenet40_c10")
    n = 3000
    conf, correct = conf[:n], correct[:n]
    whole = BinStats.uniform(15).update(conf, correct)
    parts = [BinStats.uniform(15).update(conf[a:b], correct[a:b]) for a, b in data.draw(batch_bounds(n))]
    merged = merge_tree(parts, data.draw(st.randoms(use_true_random=False)))
    assert_arrays_close(merged.to_arrays(), whole.to_arrays())
    r1, r2 = merged.finalize(), whole.finalize()
    np.testing.assert_allclose([r1.ece, r1.mce, r1.l2_ece], [r2.ece, r2.mce, r2.l2_ece], rtol=1e-12)


def _synthetic(seed: int, n: int, groups: int):
    rng = np.random.default_rng(seed)
    conf = rng.choice(np.r_[rng.random(50), 0.0, 1.0, np.linspace(0, 1, 11)], size=n)  # ties and exact edges
    y = rng.random(n) < conf
    w = rng.random(n) * 3
    g = rng.integers(0, groups, n)
    return conf, y, w, g


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), moments=st.sampled_from([1, 2]))
def test_weighted_grouped_replicated_sums_are_chunk_invariant(data, seed, moments):
    n, groups, reps = 1200, 3, 4
    conf, y, w, g = _synthetic(seed, n, groups)
    rw = poisson1_weights(seed, np.arange(n), reps)

    def state(a, b):
        return BinStats.uniform(10, groups, reps, moments).update(conf[a:b], y[a:b], w[a:b], g[a:b], rw[a:b])

    whole = state(0, n)
    parts = [state(a, b) for a, b in data.draw(batch_bounds(n))]
    merged = merge_tree(parts, data.draw(st.randoms(use_true_random=False)))
    assert_arrays_close(merged.to_arrays(), whole.to_arrays())


@pytest.mark.parametrize("weighted", [False, True])
def test_labels_give_the_one_hot_sums(weighted):
    rng = np.random.default_rng(4)
    n, k = 40_000, 4  # more than one block of rows
    p = rng.dirichlet(np.ones(k), size=n).astype(np.float32)
    y = rng.integers(0, k, n)
    w = rng.random(n) if weighted else None
    rw = poisson1_weights(0, np.arange(n), 2)
    by_labels = BinStats.uniform(12, k, 2, moments=2).update(p, weight=w, replicate_weights=rw, labels=y)
    one_hot = BinStats.uniform(12, k, 2, moments=2).update(p, y[:, None] == np.arange(k), w, replicate_weights=rw)
    assert_arrays_close(by_labels.to_arrays(), one_hot.to_arrays())


def test_merge_is_commutative_associative_and_pure():
    conf, y, w, g = _synthetic(1, 900, 2)
    s = [BinStats.uniform(8, 2, moments=2).update(conf[i::3], y[i::3], w[i::3], g[i::3]) for i in range(3)]
    before = [x.to_arrays() for x in s]
    ab, ba = s[0].merge(s[1]), s[1].merge(s[0])
    for k, v in ab.to_arrays().items():
        assert np.array_equal(v, ba.to_arrays()[k])  # float addition commutes exactly
    assert_arrays_close(ab.merge(s[2]).to_arrays(), s[0].merge(s[1].merge(s[2])).to_arrays())
    for x, b in zip(s, before):
        assert_arrays_close(x.to_arrays(), b, rtol=0)


def test_integer_weights_equal_repeated_rows_and_replicates_equal_weighted_states():
    conf, y, _, _ = _synthetic(2, 500, 1)
    w = np.random.default_rng(0).integers(0, 4, 500)
    weighted = BinStats.uniform(15, moments=2).update(conf, y, weight=w).finalize()
    repeated = BinStats.uniform(15, moments=2).update(np.repeat(conf, w), np.repeat(y, w)).finalize()
    np.testing.assert_allclose(weighted.weight, repeated.weight, rtol=1e-12)
    np.testing.assert_allclose(weighted.observed, repeated.observed, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose([weighted.ece, weighted.mce, weighted.l2_ece], [repeated.ece, repeated.mce, repeated.l2_ece], rtol=1e-12)
    rw = poisson1_weights(5, np.arange(500), 3)
    rep = BinStats.uniform(15, n_replicates=3).update(conf, y, weight=w, replicate_weights=rw).finalize()
    for r in range(3):
        one = BinStats.uniform(15).update(conf, y, weight=w * rw[:, r]).finalize()
        assert rep.replicate_ece[0, r] == pytest.approx(one.ece[0], rel=1e-12)
        assert rep.replicate_mce[0, r] == pytest.approx(one.mce[0], rel=1e-12)
        assert rep.replicate_l2_ece[0, r] == pytest.approx(one.l2_ece[0], rel=1e-12)
    np.testing.assert_allclose(rep.ece, BinStats.uniform(15).update(conf, y, weight=w).finalize().ece, rtol=0)


def test_empty_bins_and_empty_state():
    res = BinStats.uniform(4).update(np.array([0.0, 0.1, 1.0]), np.array([0, 0, 1])).finalize()
    assert res.count.tolist() == [[2, 0, 0, 1]]
    assert np.isnan(res.mean_conf[0, 1]) and np.isnan(res.observed[0, 2])
    assert res.mean_conf[0, 0] == pytest.approx(0.05) and res.mce[0] == pytest.approx(0.05)
    empty = BinStats.uniform(4, n_groups=2, n_replicates=2).finalize()
    assert np.isnan(empty.ece).all() and np.isnan(empty.mce).all() and np.isnan(empty.replicate_ece).all()
    assert empty.replicate_ece.shape == (2, 2) and empty.count.sum() == 0
    zero_weight = BinStats.uniform(2).update(np.array([0.3, 0.8]), np.array([1, 0]), weight=np.array([0.0, 1.0])).finalize()
    assert zero_weight.count.tolist() == [[1, 1]] and np.isnan(zero_weight.observed[0, 0])
    assert zero_weight.ece[0] == pytest.approx(0.8)


def test_edges_follow_the_project_rule():
    edges = np.array([0.0, 0.2, 0.5, 1.0])
    conf = np.array([0.0, 0.2, 0.2000001, 0.5, 0.5000001, 1.0])
    res = BinStats(edges).update(conf, np.zeros(6)).finalize()
    assert res.count.tolist() == [[2, 2, 2]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="strictly increasing"):
        BinStats([0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="group is required"):
        BinStats.uniform(3, n_groups=2).update(np.array([0.1]), np.array([1]))
    with pytest.raises(ValueError, match="columns"):
        BinStats.uniform(3, n_groups=2).update(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="within 0 .. 1"):
        BinStats.uniform(3, n_groups=2).update(np.array([0.1]), np.array([1]), group=np.array([2]))
    with pytest.raises(ValueError, match="replicate_weights"):
        BinStats.uniform(3, n_replicates=2).update(np.array([0.1]), np.array([1]))
    with pytest.raises(ValueError, match="different edges"):
        BinStats.uniform(3).merge(BinStats.uniform(4))
    with pytest.raises(ValueError, match="exactly one of outcome and labels"):
        BinStats.uniform(3, n_groups=2).update(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="one-vs-rest"):
        BinStats.uniform(3).update(np.zeros(2), labels=np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="labels must be within"):
        BinStats.uniform(3, n_groups=2).update(np.zeros((2, 2)), labels=np.array([0, 2]))
    with pytest.raises(ValueError, match="weight has shape"):
        BinStats.uniform(3).update(np.array([0.1]), np.array([1]), weight=np.ones(2))
