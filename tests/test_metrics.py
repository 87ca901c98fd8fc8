"""Metrics on tiny hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from calibcli import metrics as m
from calibcli.audit import measure
from calibcli.binning import assign_bins, quantile_edges, uniform_edges
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.report import Reliability
from calibcli.stats.bins import BinStats


def test_bin_edges_follow_lo_lt_c_le_hi():
    edges = uniform_edges(4)
    c = np.array([0.0, 1e-9, 0.25, 0.25 + 1e-12, 0.5, 0.75, 0.99, 1.0])
    assert assign_bins(c, edges).tolist() == [0, 0, 0, 1, 1, 2, 3, 3]


def test_bin_edges_on_fifteen_bin_boundaries():
    # k/15 computed as the edges are: exactly on an edge goes to the lower bin
    edges = uniform_edges(15)
    assert assign_bins(edges[1:], edges).tolist() == list(range(15))


def test_ece_hand_computed_three_bins():
    # bins of width 1/3. rows: (0.2, wrong), (0.3, right) -> bin 0: conf .25, acc .5
    # (0.9, right), (0.95, right), (0.8, wrong) -> bin 2: conf .8833.., acc .6667
    conf = np.array([0.2, 0.3, 0.9, 0.95, 0.8])
    hit = np.array([0, 1, 1, 1, 0])
    s = Reliability.from_arrays(conf, hit, uniform_edges(3))
    assert s.count.tolist() == [2, 0, 3]
    expected = 2 / 5 * abs(0.5 - 0.25) + 3 / 5 * abs(2 / 3 - (0.9 + 0.95 + 0.8) / 3)
    assert s.ece() == pytest.approx(expected, abs=1e-15)
    assert s.mce() == pytest.approx(max(0.25, abs(2 / 3 - 2.65 / 3)), abs=1e-15)
    assert np.isnan(s.mean_conf[1]) and np.isnan(s.observed[1])


def test_merge_equals_whole():
    rng = np.random.default_rng(1)
    conf, hit = rng.random(1000), rng.random(1000) < 0.5
    e = uniform_edges(15)
    whole = Reliability.from_arrays(conf, hit, e)
    state = BinStats(e).update(conf[:300], hit[:300]).merge(BinStats(e).update(conf[300:], hit[300:]))
    parts = Reliability.from_state(state)
    assert np.array_equal(whole.count, parts.count) and np.allclose(whole.sum_conf, parts.sum_conf)
    assert parts.ece() == pytest.approx(whole.ece(), abs=1e-14)


def test_quantile_edges_do_not_split_ties():
    conf = np.array([0.7] * 50 + [0.2, 0.3, 0.9, 0.95])
    edges = quantile_edges(conf, 10)
    idx = assign_bins(conf, edges)
    assert len(set(idx[:50])) == 1
    assert edges[0] == 0.0 and edges[-1] == 1.0 and np.all(np.diff(edges) > 0)


def test_quantile_ece_unchanged_when_rows_are_duplicated():
    rng = np.random.default_rng(4)
    conf, hit = np.round(rng.random(37), 2), rng.random(37) < 0.6
    one = Reliability.from_arrays(conf, hit, quantile_edges(conf, 6))
    two = Reliability.from_arrays(np.tile(conf, 2), np.tile(hit, 2), quantile_edges(np.tile(conf, 2), 6))
    assert two.edges.tolist() == one.edges.tolist()
    assert two.ece() == pytest.approx(one.ece(), rel=1e-12)


def test_brier_and_nll_hand_computed():
    y = np.array([0, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    brier = ((0.3**2 + 0.2**2 + 0.1**2) + (0.5**2 + 0.5**2)) / 2
    assert m.brier_score(y, p) == pytest.approx(brier, abs=1e-15)
    assert m.negative_log_likelihood(y, p) == pytest.approx((-np.log(0.7) - np.log(0.5)) / 2, abs=1e-15)
    # clip at 1e-12
    assert m.negative_log_likelihood([2], [[0.5, 0.5, 0.0]]) == pytest.approx(-np.log(1e-12))


def test_nll_from_logits_matches_probabilities_and_is_stable():
    z = np.array([[1000.0, 0.0, -5.0], [2.0, 1.0, 0.5]])
    y = np.array([0, 2])
    p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    assert m.nll_from_logits(y, z) == pytest.approx(m.negative_log_likelihood(y, p), abs=1e-12)
    # a hopeless logit is clipped exactly like a probability of 0
    assert m.nll_from_logits([1], [[1000.0, 0.0]]) == pytest.approx(-np.log(1e-12))


def test_classwise_ece_hand_computed():
    # two classes, 2 bins (0..0.5], (0.5..1]
    y = np.array([0, 0, 1])
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    # class 0: conf .9,.6 (hit 1,1) bin1; .3 (hit 0) bin0 -> ece = 1/3*.3 + 2/3*|1-.75| = .1+.1667
    c0 = 1 / 3 * 0.3 + 2 / 3 * 0.25
    # class 1: .1,.4 (hit 0,0) bin0 -> 2/3*.25; .7 hit 1 bin1 -> 1/3*.3
    c1 = 2 / 3 * 0.25 + 1 / 3 * 0.3
    assert m.classwise_ece(y, p, n_bins=2) == pytest.approx((c0 + c1) / 2, abs=1e-15)


def test_measure_multilabel_pools_pairs():
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[0.8, 0.3], [0.4, 0.1]])
    preds = Predictions(p, y, ("a", "b"), Task.MULTILABEL, ScoreKind.PROBS)
    r = measure(preds, n_bins=2)
    # pooled: bin0 {.3:0, .4:0, .1:0} conf .2667 obs 0; bin1 {.8:1} conf .8 obs 1
    assert r.metrics.ece == pytest.approx(3 / 4 * (0.8 / 3) + 1 / 4 * 0.2, abs=1e-15)
    assert r.metrics.accuracy == pytest.approx(1.0)
    assert r.metrics.brier == pytest.approx(((0.2**2 + 0.3**2) + (0.4**2 + 0.1**2)) / 2)
    assert [c.support for c in r.classes] == [1, 0]


def test_measure_top_label_has_no_vector_metrics():
    preds = Predictions(np.array([[0.9], [0.6], [0.8]]), np.array([0, 1, 1]), ("a", "b"), Task.TOP_LABEL,
                        ScoreKind.PROBS, pred_labels=np.array([0, 0, 1]))
    r = measure(preds, n_bins=10)
    assert r.metrics.accuracy == pytest.approx(2 / 3)
    assert r.metrics.brier is None and r.metrics.nll is None and r.metrics.classwise_ece is None
    # class a: predicted twice (.9 right, .6 wrong) -> ece = .5*.1 + .5*.6
    assert r.classes[0].ece == pytest.approx(0.35)


def test_argmax_ties_go_to_lowest_index():
    preds = Predictions(np.array([[0.5, 0.5]]), np.array([1]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    conf, correct = preds.confidence_and_correct()
    assert conf[0] == 0.5 and not correct[0]


def _curve(conf, n, hits):
    c = np.full(n, conf)
    return Reliability.from_arrays(c, np.arange(n) < hits, uniform_edges(15))


@pytest.mark.parametrize(
    "conf,n,hits,verdict",
    [
        (0.9, 100, 72, "overconfident"),
        (0.6, 400, 340, "underconfident"),
        (0.9, 1000, 895, "calibrated"),
        (0.9, 12, 8, "uncertain"),
        (0.9, 9, 2, "insufficient data"),
        (0.3, 500, 0, "insufficient data"),  # nothing at high confidence
    ],
)
def test_direction_verdicts(conf, n, hits, verdict):
    from calibcli.direction import describe_direction

    d = describe_direction(_curve(conf, n, hits))
    assert d.verdict == verdict
    if d.says is not None:
        assert d.says == pytest.approx(conf) and d.observed == pytest.approx(hits / n) and d.count == n
