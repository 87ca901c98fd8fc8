"""The compiled softmax and temperature-derivative kernels (calibcli.kernels.softmax) equal the numpy code."""

import json

import numpy as np
import pytest

from calibcli.calibrators.temperature import fit_temperature
from calibcli.calibrators.temperature_passes import softmax_row_derivs
from calibcli.kernels.softmax import exp_into, sum_plan
from calibcli.predictions import SOFTMAX_BLOCK_ROWS, Task, scaled_softmax


def both(monkeypatch, fn, *args):
    """``fn(*args)`` with CALIBCLI_KERNELS=numpy, then numba."""
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    want = fn(*args)
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    return want, fn(*args)


def assert_same_probs(got, want):
    assert got.shape == want.shape and got.dtype == np.float64
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got == 0, want == 0)  # exp underflow to 0 at the same entries
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)  # only exp may differ (an ulp or two)


def logits(rng, n, k, dtype=np.float64):
    spread = rng.choice([0.1, 1.0, 30.0, 1000.0], size=(n, 1))
    return (rng.standard_normal((n, k)) * spread).astype(dtype)


@pytest.mark.parametrize("k", [1, 2, 10, 32, 33, 200, 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_softmax_equals_numpy(monkeypatch, k, dtype):
    rng = np.random.default_rng(k)
    n = 3000 if k < 1000 else 300
    z = logits(rng, n, k, dtype)
    z[0] = 0.0  # a full tie
    z[1, : (k + 1) // 2] = 5.0  # ties at the top
    for t in (1.0, 0.37, 1e-3, rng.uniform(0.01, 100.0, n)):
        want, got = both(monkeypatch, scaled_softmax, z, t)
        assert_same_probs(got, want)
    assert np.all(got[0] == 1.0 / k)


@pytest.mark.parametrize("n", [0, 1])
def test_scaled_softmax_tiny(monkeypatch, n):
    z = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    for t in (2.0, np.full(n, 0.5)):
        want, got = both(monkeypatch, scaled_softmax, z, t)
        assert got.shape == (n, 3)
        assert_same_probs(got, want)


def test_scaled_softmax_huge_logits(monkeypatch):
    """Blocks with magnitudes beyond 2^1000 take the exact rescale in both; other blocks do not."""
    rng = np.random.default_rng(5)
    n = 3 * SOFTMAX_BLOCK_ROWS + 17
    z = logits(rng, n, 4)
    z[3] = [1e308, -1e308, 0.0, 1e300]
    z[4] = [-1e308, -1e308, -1e308, -1e308]
    z[SOFTMAX_BLOCK_ROWS + 2] = [1e300, -1e300, 1e300, 5.0]
    z[2 * SOFTMAX_BLOCK_ROWS + 9] = [-1.7e308, 1.0, 2.0, 3.0]
    for t in (1.0, 1e308, 1e-300, rng.uniform(1e-3, 1e3, n), np.full(n, 1e308)):
        want, got = both(monkeypatch, scaled_softmax, z, t)
        assert_same_probs(got, want)
    want, got = both(monkeypatch, scaled_softmax, np.array([[1e308, -1e308]]), 1e308)
    np.testing.assert_allclose(got[0], [1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))], rtol=1e-15)


def test_scaled_softmax_non_finite_as_numpy(monkeypatch):
    """inf and NaN: the same NaN rows and zeros as the numpy code (incl. its per-block choice of the rescale)."""
    rng = np.random.default_rng(6)
    n = 2 * SOFTMAX_BLOCK_ROWS
    z = logits(rng, n, 3)
    z[0] = [np.inf, 0.0, 1.0]
    z[1] = [-np.inf, 0.0, 1.0]
    z[2] = [-np.inf, -np.inf, -np.inf]
    z[SOFTMAX_BLOCK_ROWS] = [np.nan, 0.0, 1e308]  # a NaN: no rescale in this block ...
    z[SOFTMAX_BLOCK_ROWS + 1] = [1e308, -1e308, 0.0]  # ... so this row overflows as in numpy
    for t in (1.0, 3.0, np.inf, 0.0, rng.uniform(0.1, 10.0, n)):
        with np.errstate(all="ignore"):
            want, got = both(monkeypatch, scaled_softmax, z, t)
        assert_same_probs(got, want)
    assert np.isnan(got[0]).all() and got[1, 0] == 0.0


def test_scaled_softmax_sums_rows_in_numpy_order(monkeypatch):
    """Given the kernel's exp, the result is bit for bit numpy's: row sums in numpy's order (pairwise beyond 32)."""
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    rng = np.random.default_rng(7)
    for k in (5, 32, 33, 129, 300, 1001):
        z = logits(rng, 200, k)
        t = rng.uniform(0.5, 2.0, 200)
        x = ((z - z.max(axis=1, keepdims=True)) * (1.0 / t)[:, None]).reshape(-1)
        e = np.empty_like(x)
        exp_into(x, e)
        e = e.reshape(200, k)
        total = np.add.reduce(e, axis=1) if k > 32 else np.cumsum(e, axis=1)[:, -1]
        assert np.array_equal(scaled_softmax(z, t), e / total[:, None])


def test_sum_plan_is_numpys_pairwise_order():
    def run(row, plan):
        stack = []
        for kind, start, n in plan:
            if kind == 2:
                b = stack.pop()
                stack.append(stack.pop() + b)
            elif kind == 0:
                s = 0.0
                for v in row[start:start + n]:
                    s += v
                stack.append(s)
            else:
                r = list(row[start:start + 8])
                i = start + 8
                while i < start + n - n % 8:
                    r = [r[j] + row[i + j] for j in range(8)]
                    i += 8
                s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
                for v in row[i:start + n]:
                    s += v
                stack.append(s)
        return stack[0]

    rng = np.random.default_rng(8)
    for k in list(range(33, 140)) + [255, 256, 257, 1000, 4099]:
        x = np.exp(rng.standard_normal((2, k)) * 4)
        want = np.add.reduce(x, axis=1)
        assert [run(row.tolist(), sum_plan(k).tolist()) for row in x] == want.tolist(), k


def test_exp_within_an_ulp_or_two():
    rng = np.random.default_rng(9)
    x = np.concatenate([-np.abs(rng.standard_normal(100_000)) * 50, rng.uniform(-750, 720, 100_000),
                        [0.0, -0.0, -708.0, -708.5, -745.2, -746.0, 709.0, 709.5, 710.0, -np.inf, np.inf, np.nan]])
    got = np.empty_like(x)
    exp_into(x, got)
    with np.errstate(over="ignore"):
        want = np.exp(x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got == 0, want == 0) and np.array_equal(np.isinf(got), np.isinf(want))
    normal = want > np.finfo(np.float64).tiny
    np.testing.assert_allclose(got[normal], want[normal], rtol=5e-16, atol=0)
    np.testing.assert_allclose(got[~normal], want[~normal], rtol=0, atol=1e-320)


def derivs_close(got, want, z, inv_scale):
    """Agreement to ~1e-12 of each derivative's scale (the m-th is a moment of spreads: g^m)."""
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    d = np.asarray(z, dtype=np.float64) * inv_scale
    g = np.max(d, axis=1) - np.min(d, axis=1) if d.shape[1] else np.zeros(0)
    for m in range(4):
        ok = ~np.isnan(want[m])
        tol = 1e-12 * np.maximum(g[ok], 1e-300) ** (m + 1) + 1e-11 * np.abs(want[m][ok])
        assert np.all(np.abs(got[m][ok] - want[m][ok]) <= tol), m


@pytest.mark.parametrize("k", [1, 2, 10, 33, 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_row_derivs_equal_numpy(monkeypatch, k, dtype):
    rng = np.random.default_rng(100 + k)
    n = 4000 if k < 1000 else 300
    z = logits(rng, n, k, dtype)
    z[0] = 1.0  # a tie: all derivatives 0 but the first
    y = rng.integers(0, k, n)
    for inv_scale, beta in ((1.0, rng.uniform(0.01, 5.0, n)), (2.0 ** -10, np.full(n, 0.7 * 2.0 ** 10)),
                            (1.0, np.full(n, 1e-3))):
        want, got = both(monkeypatch, softmax_row_derivs, z, y, beta, inv_scale)
        derivs_close(got, want, z, inv_scale)
    assert got[1:, 0].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("n", [0, 1])
def test_softmax_row_derivs_tiny(monkeypatch, n):
    z = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    want, got = both(monkeypatch, softmax_row_derivs, z, np.zeros(n, dtype=np.int64), np.full(n, 0.5), 1.0)
    assert got.shape == (4, n)
    derivs_close(got, want, z, 1.0)


def test_softmax_row_derivs_huge_and_non_finite(monkeypatch):
    z = np.array([[1e308, -1e308, 0.0], [-np.inf, 0.0, 1.0], [np.inf, 0.0, 1.0], [3.0, 3.0, -1e300]])
    y = np.array([0, 1, 2, 1])
    with np.errstate(all="ignore"):
        want, got = both(monkeypatch, softmax_row_derivs, z, y, np.full(4, 1.0), 2.0 ** -1020)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(got[:, 1:3]).all()
    derivs_close(got[:, [0, 3]], want[:, [0, 3]], z[[0, 3]], 2.0 ** -1020)
    assert np.all(np.abs(want[:, 0]) > 1e-3)  # spread logits: non-trivial derivatives


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fitted_temperature_agrees(monkeypatch, dtype):
    rng = np.random.default_rng(11)
    n, k = 20_000, 10
    y = rng.integers(0, k, n)
    z = rng.standard_normal((n, k)) * 2.0
    z[np.arange(n), y] += 2.5
    z = z.astype(dtype)
    want, got = both(monkeypatch, lambda: fit_temperature(z, y, Task.MULTICLASS).temperature)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)


def test_audit_temperature_agrees(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from calibcli.cli.main import cli

    rng = np.random.default_rng(12)
    n, k = 5000, 4
    y = rng.integers(0, k, n)
    z = rng.standard_normal((n, k)) * 3.0
    z[np.arange(n), y] += 2.0
    path = tmp_path / "logits.csv"
    cols = ",".join(f"logit_c{j}" for j in range(k))
    np.savetxt(path, np.column_stack([y, z]), delimiter=",", header="label," + cols, comments="",
               fmt=["%d"] + ["%.17g"] * k)

    def temperatures():
        res = CliRunner().invoke(cli, ["--no-config", "audit", str(path), "--format", "json"])
        assert res.exit_code in (0, 1), res.output
        found = []

        def walk(o, key=""):
            if isinstance(o, dict):
                for kk, v in o.items():
                    walk(v, kk)
            elif isinstance(o, list):
                for v in o:
                    walk(v, key)
            elif key == "temperature" and isinstance(o, float):
                found.append(o)

        walk(json.loads(res.output))
        return found

    want, got = both(monkeypatch, temperatures)
    assert want and len(got) == len(want)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)
