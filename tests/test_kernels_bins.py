"""The compiled grouped-bootstrap binned sums (calibcli.kernels.bins) equal BinStats' numpy bincounts."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibcli.binning import assign_bins, quantile_edges, uniform_edges
from calibcli.kernels import bins as kernel
from calibcli.stats.bins import BinStats

EDGE_VALUES = np.concatenate([np.arange(16) / 15, [0.0, -0.0, 1.0, 1e-12, 1e-300, 5e-324, 1 - 1e-16, 0.5, 0.9999999999]])
ODD_VALUES = np.array([np.nan, np.inf, -np.inf, -0.5, -1e-20, 1.5, 1e300, -1e300, 2.0 ** 63, 15.0])


def _states(monkeypatch, make, feed, compiled=True):
    """The state fed by ``feed`` with the numpy code and with the compiled kernel (which must have run if ``compiled``)."""
    out = []
    for mode in ("numpy", "numba"):
        monkeypatch.setenv("CALIBCLI_KERNELS", mode)
        calls = []
        real = kernel.add_blocked
        monkeypatch.setattr(kernel, "add_blocked", lambda *a: (calls.append(1), real(*a)))
        out.append(feed(make()))
        monkeypatch.setattr(kernel, "add_blocked", real)
        assert bool(calls) == (compiled and mode == "numba"), f"kernel calls in {mode} mode: {len(calls)}"
    return out


def _assert_same(a: BinStats, b: BinStats) -> None:
    """Every array of the two states is the same (row-order float64 sums: bitwise, NaN included)."""
    assert a.count.dtype == b.count.dtype == np.int64
    np.testing.assert_array_equal(a.count, b.count)
    assert a.sums.keys() == b.sums.keys() and a.blocks.keys() == b.blocks.keys()
    for k in a.sums:
        np.testing.assert_array_equal(a.sums[k], b.sums[k], err_msg=k)
    for k in a.blocks:
        np.testing.assert_array_equal(a.blocks[k], b.blocks[k], err_msg=k)


def _conf(rng, n, shape, dtype, odd):
    pool = np.concatenate([EDGE_VALUES, ODD_VALUES]) if odd else EDGE_VALUES
    c = rng.random((n,) + shape)
    pick = rng.random(c.shape) < 0.4
    c[pick] = rng.choice(pool, size=int(pick.sum()))
    return c.astype(dtype)


def _edges(rng, kind, conf):
    if kind == "uniform15":
        return uniform_edges(15)
    if kind == "uniform2":
        return uniform_edges(2)
    if kind == "one":
        return uniform_edges(1)
    if kind == "quantile":
        finite = conf[np.isfinite(conf) & (conf >= 0) & (conf <= 1)]
        return quantile_edges(finite.astype(np.float64), 10)
    return np.unique(np.concatenate([[0.0, 1.0], np.arange(1, 15) / 15, rng.random(3)]))  # explicit, some on k/15


settings_ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@settings_
@given(seed=st.integers(0, 2 ** 31), n=st.sampled_from([0, 1, 2, 5, 40, 300]),
       dtype=st.sampled_from([np.float32, np.float64]), moments=st.sampled_from([1, 2]),
       weighted=st.booleans(), n_groups=st.sampled_from([0, 1, 3]), outcome=st.sampled_from(["bool", "float", "int"]),
       edges=st.sampled_from(["uniform15", "uniform2", "one", "quantile", "explicit"]), odd=st.booleans(),
       n_blocks=st.sampled_from([1, 4, 128]))
def test_one_column_equals_numpy(monkeypatch, seed, n, dtype, moments, weighted, n_groups, outcome, edges, odd,
                                 n_blocks):
    rng = np.random.default_rng(seed)
    conf = _conf(rng, n, (), dtype, odd)
    y = rng.random(n) < conf.astype(np.float64, copy=False).clip(0, 1)
    y = {"bool": y, "float": np.where(y, 1.0, rng.random(n)), "int": y.astype(np.int32)}[outcome]
    w = rng.random(n) * 3 if weighted else None
    g = None if n_groups == 0 else rng.integers(0, n_groups, n)
    blk = rng.integers(0, n_blocks, n)
    e = _edges(rng, edges, conf)
    make = lambda: BinStats(e, max(n_groups, 1), moments=moments, n_blocks=n_blocks)  # noqa: E731
    a, b = _states(monkeypatch, make, lambda s: s.update(conf, y, weight=w, group=g, block=blk), e.size > 2)
    _assert_same(a, b)


@settings_
@given(seed=st.integers(0, 2 ** 31), n=st.sampled_from([0, 1, 3, 50, 400]), k=st.sampled_from([1, 2, 5]),
       dtype=st.sampled_from([np.float32, np.float64]), moments=st.sampled_from([1, 2]), weighted=st.booleans(),
       use_labels=st.booleans(), edges=st.sampled_from(["uniform15", "quantile", "explicit"]), odd=st.booleans(),
       fortran=st.booleans())
def test_columns_equal_numpy(monkeypatch, seed, n, k, dtype, moments, weighted, use_labels, edges, odd, fortran):
    rng = np.random.default_rng(seed)
    conf = _conf(rng, n, (k,), dtype, odd)
    if fortran:
        conf = np.asfortranarray(conf)
    labels = rng.integers(0, k, n)
    y = None if use_labels else (labels[:, None] == np.arange(k)).astype(np.float64)
    w = rng.random(n) * 2 if weighted else None
    blk = rng.integers(0, 8, n)
    e = _edges(rng, edges, conf)
    make = lambda: BinStats(e, k, moments=moments, n_blocks=8)  # noqa: E731
    feed = (lambda s: s.update(conf, labels=labels, weight=w, block=blk)) if use_labels else \
        (lambda s: s.update(conf, y, weight=w, block=blk))
    a, b = _states(monkeypatch, make, feed, e.size > 2)
    _assert_same(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_audit_shapes_over_many_row_blocks(monkeypatch, dtype):
    """The measurement's two hot calls, on more rows than one block of BLOCK_ROWS (a strided column too)."""
    rng = np.random.default_rng(7)
    n, k = 40_000, 10
    z = rng.standard_normal((n, k)) * 4
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[:50] = np.arange(1, k + 1) / 15  # every value on an edge
    p = p.astype(dtype)
    labels = rng.integers(0, k, n)
    blk = rng.integers(0, 128, n)
    conf, correct = p.max(axis=1), p.argmax(axis=1) == labels
    for make, feed in [
        (lambda: BinStats.uniform(15, 1, n_blocks=128), lambda s: s.update(conf, correct, block=blk)),
        (lambda: BinStats.uniform(15, k, n_blocks=128), lambda s: s.update(p, labels=labels, block=blk)),
        (lambda: BinStats.uniform(15, k, n_blocks=128), lambda s: s.update(conf, correct, group=p.argmax(axis=1),
                                                                          block=blk)),
        (lambda: BinStats(quantile_edges(p[:, 3].astype(np.float64), 15), 1, n_blocks=128),
         lambda s: s.update(p[:, 3], labels == 3, block=blk)),
    ]:
        a, b = _states(monkeypatch, make, feed)
        _assert_same(a, b)


@pytest.mark.parametrize("value", list(EDGE_VALUES) + list(ODD_VALUES))
@pytest.mark.parametrize("edges", [uniform_edges(15), uniform_edges(4), np.array([0.0, 0.2, 1 / 3, 1.0])])
def test_each_value_lands_in_the_bin_assign_bins_gives(monkeypatch, value, edges):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    monkeypatch.setattr(kernel, "add_blocked", lambda *a, real=kernel.add_blocked: (calls.append(1), real(*a)))
    calls = []
    s = BinStats(edges, n_blocks=1).update(np.array([value]), np.array([True]), block=np.array([0]))
    with np.errstate(invalid="ignore"):
        want = assign_bins(np.array([value]), edges)[0]
    assert calls and s.count[0].tolist() == np.eye(edges.size - 1, dtype=np.int64)[want].tolist()


def test_merge_of_compiled_parts_equals_numpy(monkeypatch):
    rng = np.random.default_rng(3)
    n, k = 3000, 4
    p = rng.dirichlet(np.ones(k), n)
    labels, blk = rng.integers(0, k, n), rng.integers(0, 16, n)
    cut = 1234

    def parts(mode):
        monkeypatch.setenv("CALIBCLI_KERNELS", mode)
        a = BinStats.uniform(15, k, moments=2, n_blocks=16).update(p[:cut], labels=labels[:cut], block=blk[:cut])
        b = BinStats.uniform(15, k, moments=2, n_blocks=16).update(p[cut:], labels=labels[cut:], block=blk[cut:])
        return a, b

    na, nb = parts("numpy")
    ca, cb = parts("numba")
    _assert_same(na.merge(nb), ca.merge(cb))
    _assert_same(nb.merge(na), cb.merge(ca))
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    whole = BinStats.uniform(15, k, moments=2, n_blocks=16).update(p, labels=labels, block=blk)
    merged = ca.merge(cb)
    np.testing.assert_array_equal(merged.count, whole.count)
    for name in whole.blocks:
        np.testing.assert_allclose(merged.blocks[name], whole.blocks[name], rtol=1e-12, atol=1e-12)


def test_one_bin_is_left_to_numpy():
    """numpy sums the blocks of a single bin pairwise (not in block order): those states stay on numpy."""
    assert not kernel.supported(np.zeros(3), np.zeros(3), None, 1)
    assert kernel.supported(np.zeros(3, dtype=np.float32), np.zeros(3, dtype=bool), None, 2)


def test_uncovered_dtypes_fall_back_to_numpy(monkeypatch):
    conf = np.array([0.1, 0.5, 0.9], dtype=np.float16)
    a, b = (BinStats.uniform(5, n_blocks=2) for _ in range(2))
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    a.update(conf, np.array([1, 0, 1]), block=np.array([0, 1, 1]))
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    b.update(conf, np.array([1, 0, 1]), block=np.array([0, 1, 1]))
    _assert_same(a, b)


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_bad_groups_are_the_same_errors(monkeypatch, mode):
    monkeypatch.setenv("CALIBCLI_KERNELS", mode)
    with pytest.raises(ValueError, match="group values must be within 0 .. 1"):
        BinStats.uniform(5, 2, n_blocks=2).update(np.array([0.3]), np.array([1]), group=np.array([2]), block=np.array([0]))
    with pytest.raises(ValueError, match="group is required with 2 groups"):
        BinStats.uniform(5, 2, n_blocks=2).update(np.array([0.3]), np.array([1]), block=np.array([0]))
    with pytest.raises(ValueError, match="group must be None"):
        BinStats.uniform(5, 2, n_blocks=2).update(np.full((1, 2), 0.5), np.ones((1, 2)), group=np.array([0]),
                                                   block=np.array([0]))


def test_bin_rule():
    assert kernel.bin_rule(uniform_edges(15)) == (True, int(assign_bins(np.array([np.nan]), uniform_edges(15))[0]))
    assert kernel.bin_rule(np.array([0.0, 0.3, 1.0])) == (False, 1)
    assert kernel.bin_rule(uniform_edges(1))[0] is False


@pytest.mark.parametrize("edges", [uniform_edges(15), uniform_edges(4), uniform_edges(2), np.array([0.0, 0.2, 1 / 3, 1.0])])
def test_bins_into_gives_the_bins_of_assign_bins(edges):
    """The vectorised binning of the fused measurement (shared.bins_into): every edge, odd value and near-edge
    value gets assign_bins's bin, also mixed among ordinary values (its fallback runs only on marked entries)."""
    from calibcli.kernels import compiled_helper
    from calibcli.kernels.shared import bins_into

    near = np.concatenate([edges + d for d in (-1e-9, -1e-10, 1e-10, 1e-9, 2e-9)])
    x = np.concatenate([EDGE_VALUES, ODD_VALUES, near, np.random.default_rng(0).random(200)])
    x = np.random.default_rng(1).permutation(x)
    uniform, nan_bin = kernel.bin_rule(edges)
    out = np.full(x.size + 3, 99, dtype=np.intp)
    compiled_helper(bins_into)(x, x.size, edges, uniform, nan_bin, edges.size - 1, out)
    with np.errstate(invalid="ignore"):
        want = assign_bins(x, edges)
    assert out[:x.size].tolist() == want.tolist() and out[x.size:].tolist() == [99] * 3
    ordinary = np.random.default_rng(2).random(50)  # no entry needs the fallback
    out = np.empty(50, dtype=np.intp)
    compiled_helper(bins_into)(ordinary, 50, edges, uniform, nan_bin, edges.size - 1, out)
    assert out.tolist() == assign_bins(ordinary, edges).tolist()
