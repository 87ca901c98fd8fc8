"""Equal-mass (quantile) bin edges: order statistics of the empirical CDF, no interpolation.

The edges must depend only on the distribution of the scores: a file pooled with
copies of itself, or shuffled, gives the same edges and the same ECE.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from calibcli.audit import measure
from calibcli.binning import assign_bins, quantile_edges, quantile_edges_from_counts
from calibcli.predictions import Predictions, ScoreKind, Task
from tests.cli_helpers import run

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"


@pytest.mark.parametrize("conf, n_bins, want", [
    # F(0.2) = 2/4 >= 1/2: the median edge is the 2nd order statistic, not 0.25
    ([0.1, 0.2, 0.3, 0.4], 2, [0.0, 0.2, 1.0]),
    ([0.4, 0.3, 0.2, 0.1], 2, [0.0, 0.2, 1.0]),
    ([0.1, 0.2, 0.3, 0.4], 4, [0.0, 0.1, 0.2, 0.3, 1.0]),
    # ties: every edge is 0.5 (F(0.5) = 3/4); no edge between 0.5 and 0.9
    ([0.5, 0.5, 0.5, 0.9], 4, [0.0, 0.5, 1.0]),
    # an edge at the largest value would leave the top bin empty: dropped
    ([0.1, 0.9], 4, [0.0, 0.1, 1.0]),
    # F(0.3) = 1/3 < 1/2 <= F(0.6) = 2/3
    ([0.3, 0.6, 0.8], 2, [0.0, 0.6, 1.0]),
    # thirds of 6 values: 2nd and 4th order statistics
    ([0.05, 0.15, 0.25, 0.35, 0.45, 0.55], 3, [0.0, 0.15, 0.35, 1.0]),
    # edges at 0 or 1 collapse into the outer edges
    ([0.0, 0.0, 0.0, 1.0], 2, [0.0, 1.0]),
    ([0.0, 1.0, 1.0, 1.0], 2, [0.0, 1.0]),
    ([0.7], 5, [0.0, 1.0]),
    ([0.7, 0.7, 0.7], 3, [0.0, 1.0]),
    ([0.2, 0.4], 1, [0.0, 1.0]),
])
def test_hand_computed_edges(conf, n_bins, want):
    assert quantile_edges(np.array(conf), n_bins).tolist() == want


def test_edges_from_a_count_table():
    values = np.array([0.1, 0.4, 0.8])
    assert quantile_edges_from_counts(values, np.array([1, 2, 1]), 2).tolist() == [0.0, 0.4, 1.0]
    # F(0.1) = 1/2 exactly: the edge is 0.1 (>=, not >)
    assert quantile_edges_from_counts(values, np.array([2, 1, 1]), 2).tolist() == [0.0, 0.1, 1.0]
    # zero counts are ignored (a streaming table may hold them)
    assert quantile_edges_from_counts(values, np.array([2, 0, 2]), 2).tolist() == [0.0, 0.1, 1.0]
    assert quantile_edges_from_counts(np.array([0.1, 0.5, 0.9]), np.array([1, 1, 0]), 2).tolist() == [0.0, 0.1, 1.0]
    # float weights
    assert quantile_edges_from_counts(values, np.array([0.5, 1.0, 0.5]), 2).tolist() == [0.0, 0.4, 1.0]
    with pytest.raises(ValueError):
        quantile_edges_from_counts(np.array([0.4, 0.1]), np.array([1, 1]), 2)


def test_equals_numpy_inverted_cdf_where_the_levels_are_exact():
    rng = np.random.default_rng(0)
    for trial in range(50):
        n = int(rng.integers(1, 300))
        conf = np.round(rng.random(n), int(rng.integers(1, 4)))  # many ties
        conf = np.clip(conf, 1e-6, 1 - 1e-6)
        for b in (2, 4, 8, 16):  # j / b exact in binary
            inner = np.quantile(conf, np.arange(1, b) / b, method="inverted_cdf")
            inner = inner[inner < conf.max()]
            want = np.unique(np.concatenate(([0.0], inner, [1.0])))
            assert quantile_edges(conf, b).tolist() == want.tolist(), (trial, b)


@pytest.mark.parametrize("copies", [2, 3, 7])
def test_pooling_with_copies_of_itself_keeps_edges(copies):
    rng = np.random.default_rng(copies)
    for n in (1, 2, 3, 5, 17, 99, 1000):
        conf = np.round(rng.random(n), 2)
        for b in (1, 2, 3, 7, 10, 15, 40):
            assert quantile_edges(np.tile(conf, copies), b).tolist() == quantile_edges(conf, b).tolist(), (n, b)


def test_edges_do_not_depend_on_row_order():
    rng = np.random.default_rng(5)
    conf = np.round(rng.random(501), 3)
    for b in (3, 10, 15):
        assert quantile_edges(rng.permutation(conf), b).tolist() == quantile_edges(conf, b).tolist()


def test_ties_never_straddle_an_edge_and_no_bin_is_empty():
    rng = np.random.default_rng(11)
    for _ in range(100):
        n = int(rng.integers(1, 200))
        conf = np.round(rng.random(n) ** 3, int(rng.integers(1, 3)))  # zeros and many ties
        b = int(rng.integers(1, 30))
        edges = quantile_edges(conf, b)
        assert edges[0] == 0.0 and edges[-1] == 1.0 and np.all(np.diff(edges) > 0)
        assert len(edges) - 1 <= b
        idx = assign_bins(conf, edges)
        for v in np.unique(conf):
            assert len(set(idx[conf == v])) == 1
        counts = np.bincount(idx, minlength=len(edges) - 1)
        assert np.all(counts > 0)  # every edge is a score below the largest: no empty bin


def test_each_bin_holds_its_share_when_there_are_no_ties():
    conf = (np.arange(1, 101) / 101.0)
    edges = quantile_edges(conf, 10)
    counts = np.bincount(assign_bins(conf, edges))
    assert counts.tolist() == [10] * 10


def _preds(n_copies: int, order=None) -> Predictions:
    rng = np.random.default_rng(2)
    n, k = 60, 3
    z = rng.normal(size=(n, k)) * 2
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    p = np.round(p, 2)
    p /= p.sum(1, keepdims=True)
    y = rng.integers(0, k, n)
    p, y = np.tile(p, (n_copies, 1)), np.tile(y, n_copies)
    if order is not None:
        p, y = p[order], y[order]
    return Predictions(p, y, ("a", "b", "c"), Task.MULTICLASS, ScoreKind.PROBS)


@pytest.mark.parametrize("copies", [2, 3])
def test_measure_pooled_with_itself_gives_identical_edges_and_ece(copies):
    one, many = measure(_preds(1), 10, "quantile"), measure(_preds(copies), 10, "quantile")
    assert one.reliability.edges.tolist() == many.reliability.edges.tolist()
    assert many.metrics.ece == pytest.approx(one.metrics.ece, rel=1e-12, abs=1e-15)
    assert many.metrics.mce == pytest.approx(one.metrics.mce, rel=1e-12, abs=1e-15)
    assert many.metrics.classwise_ece == pytest.approx(one.metrics.classwise_ece, rel=1e-12, abs=1e-15)
    for a, b in zip(one.classes, many.classes):
        assert a.reliability.edges.tolist() == b.reliability.edges.tolist()


def test_measure_quantile_is_invariant_to_row_order():
    order = np.random.default_rng(9).permutation(120)
    a, b = measure(_preds(2), 10, "quantile"), measure(_preds(2, order), 10, "quantile")
    assert a.reliability.edges.tolist() == b.reliability.edges.tolist()
    assert b.metrics.ece == pytest.approx(a.metrics.ece, rel=1e-12)


@pytest.mark.parametrize("name", ["binary.csv", "multiclass_probs.csv", "multilabel.csv"])
def test_cli_file_pooled_with_copies_of_itself(tmp_path, name):
    src = SAMPLES / name
    copies = [tmp_path / f"copy{i}{src.suffix}" for i in range(3)]
    for c in copies:
        shutil.copyfile(src, c)
    docs = []
    for files in ([copies[0]], copies[:2], copies):
        res = run(["--no-config", "audit", *files, "--binning", "quantile", "--bins", "10", "--no-calibration",
                   "--format", "json"])
        assert res.exit_code == 0, res.stderr
        docs.append(json.loads(res.stdout))
    base = docs[0]
    for d in docs[1:]:
        assert [(b["lower"], b["upper"]) for b in d["reliability"]] == [(b["lower"], b["upper"]) for b in base["reliability"]]
        assert d["metrics"]["ece"] == pytest.approx(base["metrics"]["ece"], rel=1e-12, abs=1e-15)
        assert d["metrics"]["classwise_ece"] == pytest.approx(base["metrics"]["classwise_ece"], rel=1e-12, abs=1e-15)
        for ca, cb in zip(base["classes"], d["classes"]):
            assert [b["upper"] for b in ca["reliability"]] == [b["upper"] for b in cb["reliability"]]
