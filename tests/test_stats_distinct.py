"""DistinctTable: exact counts under any split, an explicit budget, quantile edges by the project's rule."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli import binning
from calibcli.stats import distinct as distinct_mod
from calibcli.stats.distinct import DistinctTable, table_quantile_edges
from conftest import real
from stats_helpers import STATS_SETTINGS, assert_arrays_close, batch_bounds, merge_tree


def test_doctests():
    assert doctest.testmod(distinct_mod).failed == 0


def _data(seed: int, n: int):
    rng = np.random.default_rng(seed)
    s = rng.choice(np.r_[rng.random(200), 0.0, 1.0], size=n).astype(np.float32)  # ties, float32 input
    return s, rng.random(n) < s, rng.random(n) * 2


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), weighted=st.booleans())
def test_any_split_and_merge_tree_gives_the_one_batch_table(data, seed, weighted):
    n = 1500
    s, y, w = _data(seed, n)
    w = w if weighted else None

    def table(a, b):
        return DistinctTable().update(s[a:b], y[a:b], None if w is None else w[a:b])

    whole = table(0, n)
    merged = merge_tree([table(a, b) for a, b in data.draw(batch_bounds(n))], data.draw(st.randoms(use_true_random=False)))
    if weighted:
        assert_arrays_close(merged.to_arrays(), whole.to_arrays())
    else:  # unit weights: every count is an exact integer
        for key, value in whole.to_arrays().items():
            assert np.array_equal(merged.to_arrays()[key], value), key
    r = whole.finalize()
    u, c = np.unique(s.astype(np.float64), return_counts=True)
    assert np.array_equal(r.values, u) and np.array_equal(r.rows, c) and r.exact and r.total_rows == n
    pos = np.bincount(np.searchsorted(u, s), weights=(1.0 if w is None else w) * y, minlength=u.size)
    np.testing.assert_allclose(r.positives, pos, rtol=1e-12)


@STATS_SETTINGS
@given(data=st.data(), budget=st.integers(1, 260))
def test_the_budget_flag_does_not_depend_on_the_split(data, budget):
    n = 1200
    s, y, _ = _data(3, n)
    distinct = np.unique(s).size
    parts = [DistinctTable(budget).update(s[a:b], y[a:b]) for a, b in data.draw(batch_bounds(n))]
    merged = merge_tree(parts, data.draw(st.randoms(use_true_random=False)))
    assert merged.exact == (distinct <= budget) == DistinctTable(budget).update(s, y).exact
    assert merged.total_rows == n
    if not merged.exact:
        assert merged.size == 0 and merged.nbytes == 0 and merged.finalize().values.size == 0
        with pytest.raises(ValueError, match="exceeded its budget"):
            table_quantile_edges(merged.finalize(), 10)


@pytest.mark.parametrize("name", ["hollance_markus93_densenet40_c10", "netcal_cifar10_wrn16-4"])
def test_quantile_edges_equal_binning_on_real_files(name):
    pq = pytest.importorskip("pyarrow.parquet")
    t = pq.read_table(real(name))
    if "confidence" in t.column_names:
        conf = t.column("confidence").to_numpy().astype(np.float64)
    else:
        p = np.column_stack([t.column(f"p_{j}").to_numpy() for j in range(10)]).astype(np.float64)
        conf = p.max(axis=1)
    parts = [DistinctTable().update(conf[i::4], np.ones(conf[i::4].size)) for i in range(4)]
    table = parts[0].merge(parts[1]).merge(parts[2].merge(parts[3])).finalize()
    for n_bins in (5, 15, 40):
        assert np.array_equal(table_quantile_edges(table, n_bins), binning.quantile_edges(conf, n_bins))


def test_weighted_quantile_edges_follow_the_weights():
    s = np.array([0.1, 0.2, 0.3, 0.4])
    t = DistinctTable().update(s, np.zeros(4), weight=np.array([1.0, 1.0, 1.0, 5.0])).finalize()
    assert table_quantile_edges(t, 2).tolist() == [0.0, 0.2, 1.0]
    assert table_quantile_edges(t, 2, weighted=True).tolist() == [0.0, 1.0]  # the median is the largest value


def test_bad_arguments():
    with pytest.raises(ValueError, match="same shape"):
        DistinctTable().update(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="different budgets"):
        DistinctTable(5).merge(DistinctTable(6))
    with pytest.raises(ValueError, match="max_distinct"):
        DistinctTable(0)
