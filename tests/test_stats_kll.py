"""KLL sketch: rank error within DataSketches' stated bound, exact while small, deterministic."""

from __future__ import annotations

import doctest
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli import binning
from calibcli.stats import kll as kll_mod
from calibcli.stats.kll import KLLSketch, normalized_rank_error
from stats_helpers import STATS_SETTINGS, batch_bounds, merge_tree


def test_doctests():
    assert doctest.testmod(kll_mod).failed == 0


def test_published_error_formula():
    assert normalized_rank_error(200) == pytest.approx(2.296 / 200 ** 0.9723)
    assert normalized_rank_error(200, pmf=True) == pytest.approx(2.446 / 200 ** 0.9433) == pytest.approx(0.0165, abs=1e-4)
    assert normalized_rank_error(800) < normalized_rank_error(200)


def _true_rank(sorted_x: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_x, q, side="right") / sorted_x.size


@pytest.mark.parametrize("seed,layout", [(0, "one batch"), (1, "batches of 1000"), (2, "37 batches"), (3, "64 partitions, random merge tree")])
def test_rank_and_quantile_errors_within_the_bound_on_1e6_values(seed, layout):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=600_000), rng.exponential(size=300_000), np.round(rng.random(100_000), 2)])
    rng.shuffle(x)
    if layout == "one batch":
        sketch = KLLSketch(seed=seed).update(x)
    elif layout == "batches of 1000":
        sketch = KLLSketch(seed=seed)
        for b in np.array_split(x, 1000):
            sketch.update(b)
    elif layout == "37 batches":
        sketch = KLLSketch(seed=seed)
        for b in np.array_split(x, 37):
            sketch.update(b)
    else:
        sketch = merge_tree([KLLSketch(seed=seed).update(b) for b in np.array_split(x, 64)], random.Random(seed))
    r = sketch.finalize()
    eps = normalized_rank_error(200)
    xs = np.sort(x)
    grid = np.linspace(0.0005, 0.9995, 1999)
    queries = np.quantile(x, grid)
    assert r.n == x.size and sketch.retained < 3 * 200 + 8 * len(sketch.levels)
    assert np.abs(r.rank(queries) - _true_rank(xs, queries)).max() <= eps
    assert np.abs(_true_rank(xs, r.quantile(grid)) - grid).max() <= eps
    assert r.quantile(0.0) == x.min() and r.quantile(1.0) == x.max()


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), n=st.integers(1, 200))
def test_exact_and_split_invariant_while_nothing_is_compacted(data, seed, n):
    x = np.round(np.random.default_rng(seed).normal(size=n), 1)  # ties
    parts = [KLLSketch(k=200).update(x[a:b]) for a, b in data.draw(batch_bounds(n))]
    r = merge_tree(parts, data.draw(st.randoms(use_true_random=False))).finalize()
    u, c = np.unique(x, return_counts=True)
    assert np.array_equal(r.values, u) and np.array_equal(r.weights, c)
    assert np.array_equal(r.rank(u), np.cumsum(c) / n)
    assert np.array_equal(r.quantile_edges(5), binning.quantile_edges(x, 5))


def test_deterministic_for_the_same_batches():
    x = np.random.default_rng(0).random(50_000)
    a = KLLSketch(k=64, seed=3)
    b = KLLSketch(k=64, seed=3)
    for part in np.array_split(x, 7):
        a.update(part)
        b.update(part)
    for key, value in a.to_arrays().items():
        assert np.array_equal(value, b.to_arrays()[key])
    other_seed = KLLSketch(k=64, seed=4)
    for part in np.array_split(x, 7):
        other_seed.update(part)
    assert not np.array_equal(other_seed.to_arrays()["items"], a.to_arrays()["items"])


def test_empty_sketch_and_bad_input():
    r = KLLSketch().finalize()
    assert r.n == 0 and np.isnan(r.quantile(0.5)) and np.isnan(r.rank(0.3)) and np.isnan(r.min)
    with pytest.raises(ValueError, match="finite"):
        KLLSketch().update(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="within"):
        KLLSketch().update(np.array([1.0])).quantile(1.5)
    with pytest.raises(ValueError, match="different k"):
        KLLSketch(k=100).merge(KLLSketch(k=200))
    with pytest.raises(ValueError, match="k must be"):
        KLLSketch(k=4)
