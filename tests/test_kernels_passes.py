"""The compiled per-batch steps of the calibration passes equal their numpy code exactly.

Row-keyed draws (calibcli.kernels.rng), the grouped sums of the temperature passes and of the
bootstrap blocks (calibcli.kernels.grouped), and the logit extremes of temperature pass 1
(calibcli.kernels.extremes): each is run with CALIBCLI_KERNELS=numpy and =numba on the same
inputs, and the results must be bit-identical.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibcli.calibrators.fit_passes import FitFacts
from calibcli.calibrators.rows import FitLayout, RowsView, _shift_fold
from calibcli.calibrators.temperature import ScaleGaps
from calibcli.calibrators.temperature_passes import ParamLayout, TemperatureSums
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.stats import rng

U64_MAX = (1 << 64) - 1


def both(monkeypatch, fn):
    """``fn()`` with the numpy code, then with the compiled kernels."""
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    want = fn()
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    got = fn()
    return want, got


def adversarial_keys(seed: int, n: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    keys = g.integers(0, U64_MAX, n, dtype=np.uint64, endpoint=True)
    edge = np.array([0, 1, 2, U64_MAX, U64_MAX - 1, 1 << 63, (1 << 63) - 1, 1 << 32, (1 << 32) - 1], dtype=np.uint64)
    keys[:edge.size] = edge[:n]
    return keys


# ------------------------------------------------------------------ row-keyed draws

@pytest.mark.parametrize("n", [0, 1, 9, 4097])
@pytest.mark.parametrize("seed", [0, 7, -1, U64_MAX])
def test_draws_bit_identical(monkeypatch, n, seed):
    keys = adversarial_keys(n + 3, n)
    for k in (1, 2, 3, 5, (1 << 32) - 1):
        want, got = both(monkeypatch, lambda: rng.fold_of(seed, keys, k))
        assert got.dtype == want.dtype == np.int64 and np.array_equal(got, want)
    for stream in (rng.STREAM_SPLIT, 6 << 32, U64_MAX):
        want, got = both(monkeypatch, lambda: rng.uniform(seed, stream, keys))
        assert got.dtype == want.dtype == np.float64 and np.array_equal(got, want)
    want, got = both(monkeypatch, lambda: rng.in_split(seed, keys, 0.3))
    assert np.array_equal(got, want)
    for m in (1, 2, 128, (1 << 32) - 1):
        want, got = both(monkeypatch, lambda: rng.group_of(keys, m))
        assert got.dtype == want.dtype == np.intp and np.array_equal(got, want)


def test_draws_of_int64_rows_and_id_hashes(monkeypatch):
    rows = np.arange(10_000_000, 10_070_000, dtype=np.int64)  # a batch of the default size
    hashed = rng.hash_ids(np.arange(5000).astype(str))
    for keys in (rows, hashed, rows.tolist()[:100]):
        want, got = both(monkeypatch, lambda: (rng.fold_of(3, keys, 2), rng.uniform(3, 9, keys), rng.group_of(keys, 128)))
        for a, b in zip(want, got):
            assert np.array_equal(a, b)


def test_draws_of_bad_keys_raise_in_both_modes(monkeypatch):
    for mode in ("numpy", "numba"):
        monkeypatch.setenv("CALIBCLI_KERNELS", mode)
        with pytest.raises(ValueError, match=">= 0"):
            rng.fold_of(0, np.array([3, -1]), 2)
        with pytest.raises(TypeError):
            rng.group_of(np.array([0.5]), 2)


def test_shift_fold_is_the_modulo():
    fold = np.random.default_rng(0).integers(0, 5, 1000).astype(np.intp)
    for step in range(5):
        assert np.array_equal(_shift_fold(fold, step, 5), (fold + step) % 5)


# ------------------------------------------------------------------ grouped sums

def _sums(p, terms, w, m):
    s = TemperatureSums(m)
    s.add(p, terms, w)
    s.add(p[::-1].copy(), terms[:, ::-1].copy(), None if w is None else w[::-1].copy())  # adds onto existing sums
    return s.rows, s.weight, s.sums


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n", [0, 1, 1000])
def test_temperature_sums_bit_identical(monkeypatch, weighted, n):
    g = np.random.default_rng(n)
    m = 5
    p = g.integers(0, m, n).astype(np.intp)
    terms = g.standard_normal((4, n)) * np.array([[1.0], [1e-300], [1e300], [3.0]])
    if n > 3:
        terms[:, 0] = [0.0, -0.0, np.inf, np.nan]
    w = g.poisson(1.0, n).astype(np.float64) if weighted else None
    want, got = both(monkeypatch, lambda: _sums(p, terms, w, m))
    for a, b in zip(want, got):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_temperature_sums_entry_terms_and_bad_params(monkeypatch):
    g = np.random.default_rng(1)
    p = g.integers(0, 6, (300, 3)).astype(np.intp)  # per-label parameters (multilabel): terms (4, n, K)
    terms = g.standard_normal((4, 300, 3))
    want, got = both(monkeypatch, lambda: _sums(p.reshape(-1), terms.reshape(4, -1), None, 6))
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    for mode in ("numpy", "numba"):  # a parameter out of range is refused the same way (numpy's error)
        monkeypatch.setenv("CALIBCLI_KERNELS", mode)
        with pytest.raises(ValueError):
            TemperatureSums(2).add(np.array([0, -1]), np.zeros((4, 2)))


def _block_scalars(blk, correct, brier, nll, m):
    from calibcli.bin_edges import BinEdges
    from calibcli.measure import MeasureState

    s = MeasureState(Task.MULTICLASS, ("a", "b", "c"), BinEdges.uniform(15), n_blocks=m)
    s._add_block_scalars(blk, correct, brier, nll)
    s._add_block_scalars(blk[::-1].copy(), correct[::-1].copy(), brier[::-1].copy(), nll[::-1].copy())
    return s.block_scalars


@pytest.mark.parametrize("correct_dtype", [bool, np.float64, np.float32])
def test_block_scalars_bit_identical(monkeypatch, correct_dtype):
    g = np.random.default_rng(2)
    n, m = 70_000, 128
    blk = rng.group_of(np.arange(n), m)
    correct = (g.random(n) < 0.7).astype(correct_dtype)
    brier, nll = g.random(n) * 2.0, -np.log(np.maximum(g.random(n), 1e-12))
    want, got = both(monkeypatch, lambda: _block_scalars(blk, correct, brier, nll, m))
    np.testing.assert_array_equal(want, got)


# ------------------------------------------------------------------ temperature pass 1

def _gaps(z, layers, n_models):
    s = ScaleGaps(ParamLayout(Task.MULTICLASS, n_models))
    half = z.shape[0] // 2
    s.update(z[:half], [lay[:half] for lay in layers])
    s.update(z[half:], [lay[half:] for lay in layers])
    return s.absmax, s.gap


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 10, 40])
def test_scale_gaps_bit_identical(monkeypatch, dtype, k):
    g = np.random.default_rng(k)
    n = 3000
    big = float(np.finfo(dtype).max)
    z = (g.standard_normal((n, k)) * 5).astype(dtype)
    z[0] = big  # huge logits of both signs: the 1/4 prescale keeps max - min finite
    z[1] = -big
    z[2, 0] = -big
    z[3] = 0.0
    z[4, ::2] = -0.0
    z[5] = np.float32(1e-45) if dtype == np.float32 else 5e-324  # subnormal
    z = g.permutation(z)
    folds = rng.fold_of(0, np.arange(n), 3).astype(np.intp)
    for layers, n_models in (([np.zeros(n, dtype=np.intp)], 1),
                             ([(folds + 1) % 3, (folds + 2) % 3, np.full(n, 3, dtype=np.intp)], 4),
                             ([np.where(folds == 0, -1, 0)], 1),
                             ([np.full(n, -1, dtype=np.intp)], 2),
                             ([np.where(folds == 2, 5, folds)], 3)):  # a model index beyond n_models: not a gap
        want, got = both(monkeypatch, lambda: _gaps(z, layers, n_models))
        assert want[0] == got[0]
        np.testing.assert_array_equal(want[1], got[1])
        assert np.isfinite(got[0]) and np.isfinite(got[1]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_extremes_propagate_nan_like_numpy(dtype):
    from calibcli.calibrators.temperature_passes import row_max, row_min
    from calibcli.kernels.extremes import layer_gaps, scaled_row_extremes

    z = np.array([[1.0, np.nan, 3.0], [np.nan, 0.0, 1.0], [2.0, 1.0, np.nan], [4.0, -1.0, 0.5]], dtype=dtype)
    hi, lo = scaled_row_extremes(z, 0.25)
    np.testing.assert_array_equal(hi, np.multiply(row_max(z), 0.25, dtype=np.float64))
    np.testing.assert_array_equal(lo, np.multiply(row_min(z), 0.25, dtype=np.float64))
    assert np.isnan(hi[:3]).all() and np.isnan(lo[:3]).all() and hi[3] == 1.0 and lo[3] == -0.25
    gmax, count, top, bottom, members = layer_gaps(hi, lo, np.array([1, 1, 0, 0]), 2)
    gap = hi - lo
    assert np.isnan(gmax).all() and count.tolist() == [2, 2] and members == 4  # ndarray.max: NaN wins
    assert np.isnan(top) == np.isnan(hi.max()) and np.isnan(bottom) == np.isnan(lo.min())
    gmax, *_ = layer_gaps(hi[3:], lo[3:], np.array([0]), 1)
    assert gmax.tolist() == [gap[3]]


# ------------------------------------------------------------------ pass-1 counts

def _facts_loop(layers, labels, n_models, k):
    """The per-model loop FitFacts used before one bincount per layer (the reference)."""
    rows, counts = np.zeros(n_models, dtype=np.int64), np.zeros((n_models, k), dtype=np.int64)
    for layer in layers:
        for m in range(n_models):
            sel = layer == m
            rows[m] += int(np.count_nonzero(sel))
            counts[m] += np.bincount(labels[sel], minlength=k)
    return rows, counts


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), k=st.integers(2, 6), scheme=st.sampled_from(["all", "split", "cross-fit"]),
       folds=st.integers(2, 5), seed=st.integers(0, 3))
def test_fit_facts_counts_equal_the_loop(n, k, scheme, folds, seed):
    g = np.random.default_rng(seed)
    labels = g.integers(0, k, n)
    z = g.standard_normal((n, k))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    preds = Predictions(p, labels, tuple("abcdef"[:k]), Task.MULTICLASS if k > 2 else Task.BINARY, ScoreKind.PROBS)
    layout = FitLayout(scheme, folds=folds, fraction=0.4 if scheme == "split" else None, seed=seed)
    view = RowsView(preds, np.arange(n, dtype=np.uint64), layout.fit_layers(np.arange(n, dtype=np.uint64)))
    facts = FitFacts(layout.n_models, k, preds.task).update(view)
    rows, counts = _facts_loop(view.layers, labels, layout.n_models, k)
    assert facts.rows.tolist() == rows.tolist()
    assert facts.class_counts.tolist() == counts.tolist()


# ------------------------------------------------------------------ dispatch

def test_small_inputs_do_not_import_numba_for_draws_or_sums(tmp_path):
    """In auto mode a batch too small for the score kernels (20,000 rows x 3 scores) runs the draws, the
    temperature sums, the block sums and the logit extremes with numpy: numba is not imported (its import
    would cost a small run about half a second, and switch the score kernels on at rounding level)."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from calibcli.stats import rng\n"
        "from calibcli.calibrators.temperature_passes import TemperatureSums, ParamLayout\n"
        "from calibcli.calibrators.temperature import ScaleGaps\n"
        "from calibcli.predictions import Task\n"
        "n = 20000\n"
        "rows = np.arange(n)\n"
        "rng.fold_of(0, rows, 2); rng.uniform(0, 9, rows); rng.group_of(rows, 128)\n"
        "TemperatureSums(2).add(np.zeros(n, dtype=np.intp), np.zeros((4, n)))\n"
        "ScaleGaps(ParamLayout(Task.MULTICLASS)).update(np.zeros((n, 3), dtype=np.float32), [np.zeros(n, dtype=np.intp)])\n"
        "print('numba' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CALIBCLI_KERNELS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert out.stdout.strip() == "False"


def test_default_batch_draws_reach_the_threshold():
    from calibcli.kernels import MIN_ENTRIES
    from calibcli.kernels.rng import work

    assert work(65_536, 2) >= MIN_ENTRIES  # fold and uniform of a default batch run compiled
    assert work(20_000, 2) < MIN_ENTRIES
