"""ScalarSums, ScoreEvidence and ProblemLog: equal to calibcli.metrics, chunk-invariant, mergeable."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli import metrics
from calibcli.stats import problems as problems_mod
from calibcli.stats import sums as sums_mod
from calibcli.stats.problems import Problem, ProblemLog
from calibcli.stats.rng import poisson1_weights
from calibcli.stats.sums import ScalarSums, ScoreEvidence, row_terms, row_terms_from_logits
from conftest import real
from stats_helpers import STATS_SETTINGS, assert_arrays_close, batch_bounds, merge_tree


def _probs(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pq = pytest.importorskip("pyarrow.parquet")
    t = pq.read_table(real(name))
    k = sum(c.startswith("p_") for c in t.column_names)
    raw = np.column_stack([t.column(f"p_{j}").to_numpy() for j in range(k)])
    return t.column("label").to_numpy(), raw.astype(np.float64), raw


def test_doctests():
    assert doctest.testmod(sums_mod).failed == 0
    assert doctest.testmod(problems_mod).failed == 0


@pytest.mark.parametrize("name", ["plambda_cifar10_vgg16", "cleanlab_imdb_cv", "cleanlab_20news_cv"])
def test_scalar_sums_equal_metrics_on_real_files(name):
    y, p, _ = _probs(name)
    r = ScalarSums(p.shape[1]).update(y, *row_terms(p, y)).finalize()
    assert r.rows == len(y) and r.weight == len(y)
    assert r.accuracy == pytest.approx(float(np.mean(np.argmax(p, axis=1) == y)), rel=1e-12)
    assert r.brier == pytest.approx(metrics.brier_score(y, p), rel=1e-12)
    assert r.nll == pytest.approx(metrics.negative_log_likelihood(y, p), rel=1e-12)
    assert r.support.tolist() == np.bincount(y, minlength=p.shape[1]).tolist()


def test_logit_terms_equal_metrics():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 5)) * 4
    z[0] = [60.0, -60.0, 0.0, 0.0, 0.0]  # a clipped NLL
    y = rng.integers(0, 5, 2000)
    y[0] = 1
    c, b, nll = row_terms_from_logits(z, y)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    r = ScalarSums(5).update(y, c, b, nll).finalize()
    assert r.nll == pytest.approx(metrics.nll_from_logits(y, z), rel=1e-12)
    assert r.brier == pytest.approx(metrics.brier_score(y, p), rel=1e-12)
    assert nll[0] == pytest.approx(-np.log(1e-12))


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), weighted=st.booleans())
def test_scalar_sums_are_chunk_invariant(data, seed, weighted):
    n, k, reps = 1100, 4, 3
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k), size=n)
    y = rng.integers(0, k, n)
    w = rng.random(n) * 2 if weighted else None
    rw = poisson1_weights(seed, np.arange(n), reps)
    terms = row_terms(p, y)

    def state(a, b):
        return ScalarSums(k, reps).update(y[a:b], *(t[a:b] for t in terms), None if w is None else w[a:b], rw[a:b])

    whole = state(0, n)
    merged = merge_tree([state(a, b) for a, b in data.draw(batch_bounds(n))], data.draw(st.randoms(use_true_random=False)))
    assert_arrays_close(merged.to_arrays(), whole.to_arrays())
    res = whole.finalize()
    one = ScalarSums(k).update(y, *terms, weight=(1.0 if w is None else w) * rw[:, 1]).finalize()
    assert res.replicate_brier[1] == pytest.approx(one.brier, rel=1e-12)
    assert res.replicate_nll[1] == pytest.approx(one.nll, rel=1e-12)
    assert res.replicate_accuracy[1] == pytest.approx(one.accuracy, rel=1e-12)


def test_scalar_sums_empty_and_bad_input():
    r = ScalarSums(3, 2).finalize()
    assert r.rows == 0 and np.isnan(r.accuracy) and np.isnan(r.replicate_nll).all()
    with pytest.raises(ValueError, match="within 0 .. 1"):
        ScalarSums(2).update(np.array([2]), [1.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="replicate_weights"):
        ScalarSums(2, 3).update(np.array([1]), [1.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="different classes"):
        ScalarSums(2).merge(ScalarSums(3))


def test_score_evidence_matches_the_loaders_evidence_on_a_real_file():
    _, p, raw = _probs("netcal_cifar10_wrn16-4")  # float32, many exact 1.0
    r = ScoreEvidence().update(raw).finalize()
    assert r.rows == len(p) and r.nonfinite_values == 0
    assert r.min == float(p.min()) and r.max == float(p.max())
    assert r.max_row_sum_deviation == float(np.max(np.abs(raw.sum(axis=1, dtype=np.float64) - 1.0)))
    assert r.saturated_rows == int(np.count_nonzero(np.any((p <= 0.0) | (p >= 1.0), axis=1))) > 0


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16))
def test_score_evidence_is_exact_under_any_split(data, seed):
    n = 1100
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, 3))
    s[rng.random((n, 3)) < 0.01] = np.nan
    s[rng.random((n, 3)) < 0.01] = np.inf
    s[rng.random((n, 3)) < 0.02] = 0.0
    whole = ScoreEvidence().update(s)
    merged = merge_tree([ScoreEvidence().update(s[a:b]) for a, b in data.draw(batch_bounds(n))],
                        data.draw(st.randoms(use_true_random=False)))
    assert merged.finalize() == whole.finalize()
    r = whole.finalize()
    finite = np.isfinite(s)
    assert r.nonfinite_values == int((~finite).sum())
    assert r.min == s[finite].min() and r.max == s[finite].max()
    ok = finite.all(axis=1)
    assert r.max_row_sum_deviation == np.abs(s[ok].sum(axis=1) - 1).max()


def test_score_evidence_without_finite_values():
    r = ScoreEvidence().update(np.array([[np.nan, np.inf]])).finalize()
    assert r.rows == 1 and r.nonfinite_values == 2 and np.isnan(r.min) and np.isnan(r.max_row_sum_deviation)
    assert ScoreEvidence().update(np.array([0.3, 2.0])).finalize().saturated_rows == 1  # 1-D: one column


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), max_places=st.sampled_from([0, 1, 3, 5]))
def test_problem_log_keeps_the_earliest_places_under_any_split(data, seed, max_places):
    rng = np.random.default_rng(seed)
    sizes = [400, 300, 500]  # three files, in input order
    masks = {key: [rng.random(m) < frac for m in sizes] for key, frac in (("nan", 0.02), ("range", 0.2), ("none", 0.0))}

    def log_of(file, a, b):
        log = ProblemLog(max_places)
        for key, per_file in masks.items():
            log.update(key, file, a + np.flatnonzero(per_file[file][a:b]))
        return log

    parts, whole = [], ProblemLog(max_places)
    for f, m in enumerate(sizes):
        whole = whole.merge(log_of(f, 0, m))
        parts += [log_of(f, a, b) for a, b in data.draw(batch_bounds(m))]
    merged = merge_tree(parts, data.draw(st.randoms(use_true_random=False)))
    assert merged.finalize() == whole.finalize()
    for p in whole.finalize():
        want = [(f, int(r)) for f in range(3) for r in np.flatnonzero(masks[p.key][f])]
        assert p.count == len(want) and list(p.places) == want[:max_places]
    assert "none" not in {p.key for p in whole.finalize()}


def test_problem_log_order_counts_and_bad_merge():
    log = ProblemLog(2).update("b", 1, [5]).update("a", 1, [9]).update("c", 0, [50, 40], count=1000)
    assert log.finalize() == (Problem("c", 1000, ((0, 40), (0, 50))), Problem("b", 1, ((1, 5),)), Problem("a", 1, ((1, 9),)))
    with pytest.raises(ValueError, match="max_places"):
        log.merge(ProblemLog(3))
