"""Softmax rows in one compiled pass per row: ``softmax(z / T)`` and the temperature fit's per-row derivatives.

The numpy references are :func:`calibcli.predictions.scaled_softmax` and
:func:`calibcli.calibrators.temperature_passes.softmax_row_derivs`; they call the
kernels here when :func:`calibcli.kernels.use_compiled` says so.

- :func:`scaled_softmax_into` gives the same numbers as the numpy code: the same
  per-block choice of the exact power-of-two rescale for huge logits, the same
  operations per entry, and the row sums added in numpy's order (left to right up
  to 32 columns, numpy's pairwise summation beyond: :func:`sum_plan`). Only ``exp``
  may differ (numpy's SIMD exp and the C library's agree to an ulp or so).
- :func:`softmax_row_derivs_into` adds each row's columns left to right, where the
  numpy code uses a matrix product (BLAS, any order): the sums agree to rounding.

>>> z = np.array([[np.log(9.0), 0.0]])
>>> out = np.empty((1, 2))
>>> scaled_softmax_into(z, np.array([0.5]), 0, 8192, 2.0 ** 1000, sum_plan(2), out)
>>> out.round(4).tolist()
[[0.75, 0.25]]
"""

from __future__ import annotations

import functools
import math

import numpy as np

from calibcli.kernels import compiled_helper, jit, uses
from calibcli.kernels.shared import ADD, BLOCKED, SEQUENTIAL, block_maxima, row_total

NARROW_COLUMNS = 32  # as calibcli.predictions.NARROW_COLUMNS: up to this many columns, row sums go left to right
PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: pairwise summation splits rows longer than this


@functools.cache
def sum_plan(k: int, narrow: int = NARROW_COLUMNS) -> np.ndarray:
    """How a row of ``k`` values is summed, as numpy's ``row_sum`` does it: steps (kind, start, length), (m, 3).

    Up to ``narrow`` columns one left-to-right step; beyond, numpy's pairwise summation
    (``np.add.reduce`` along a row): leaves of fewer than 8 values left to right, leaves of up
    to 128 values in 8 interleaved partial sums, longer ranges split in two near the middle (at a
    multiple of 8) and the halves added (``ADD`` pops two partial sums and pushes their sum).

    >>> sum_plan(10).tolist(), sum_plan(40).tolist()
    ([[0, 0, 10]], [[1, 0, 40]])
    >>> sum_plan(200).tolist()
    [[1, 0, 96], [1, 96, 104], [2, 0, 0]]
    """
    if k <= narrow:
        return np.array([[SEQUENTIAL, 0, k]], dtype=np.int64)
    steps: list[tuple[int, int, int]] = []

    def split(start: int, n: int) -> None:
        if n < 8:
            steps.append((SEQUENTIAL, start, n))
        elif n <= PAIRWISE_BLOCK:
            steps.append((BLOCKED, start, n))
        else:
            half = n // 2
            half -= half % 8
            split(start, half)
            split(start + half, n - half)
            steps.append((ADD, 0, 0))

    split(0, k)
    out = np.array(steps, dtype=np.int64)
    out.flags.writeable = False
    return out


# exp in SIMD-friendly steps (the C library's scalar exp is ~8x slower than numpy's vectorised one)
LOG2E = 1.4426950408889634
LN2_HI = 0.6931471803691238  # ln 2 in 32 bits: k * LN2_HI is exact for |k| < 2^20
LN2_LO = 1.9082149292705877e-10
ROUND_SHIFT = 6755399441055744.0  # 1.5 * 2^52: x + it rounds x to an integer kept in the low bits
ROUND_SHIFT_BITS = int(np.float64(ROUND_SHIFT).view(np.int64))
EXP_LO, EXP_HI = -708.0, 709.0  # the range where 2^k is a normal float; outside (and NaN) the C library's exp
EXP_CHUNK = 1024  # entries per exp step (its scratch stays in L1)


def _exp_into(x, dst, f, fi):  # pragma: no cover - compiled (kernels.jit helpers)
    """``dst[:m] = exp(x[:m])`` (float64, m = x.size <= f.size); ``f`` float64 scratch, ``fi`` its int64 view.

    exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 in two parts (|r| <= ln2/2 + tiny),
    exp(r) by its Taylor polynomial of degree 13 (truncation < 1e-17 relative), 2^k built
    from its bits: within an ulp or two of the correctly rounded value. Entries outside
    [EXP_LO, EXP_HI] (subnormal, 0, inf results; NaN) are recomputed with ``math.exp``.
    """
    m = x.shape[0]
    bad = 0
    for i in range(m):
        v = x[i]
        c = v if v > EXP_LO else EXP_LO  # NaN -> EXP_LO (fixed below)
        c = c if c < EXP_HI else EXP_HI
        bad += c != v
        t = c * LOG2E + ROUND_SHIFT
        f[i] = t
        k = t - ROUND_SHIFT
        r = (c - k * LN2_HI) - k * LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        dst[i] = p * r + 1.0
    for i in range(m):
        fi[i] = (fi[i] - ROUND_SHIFT_BITS + 1023) << 52  # the bits of 2^k
    for i in range(m):
        dst[i] = dst[i] * f[i]
    if bad:
        for i in range(m):
            v = x[i]
            if not (v >= EXP_LO and v <= EXP_HI):
                dst[i] = math.exp(v)


@uses(_exp_into)
def _col_exponents(z, a, b, s, inv, inv_step, zmax, big, xb, eb, f, fi):  # pragma: no cover - compiled helper
    """``exp`` of the shifted, scaled logits of rows ``a .. b-1`` into ``eb[0:(b - a) * K]`` column-major (row
    ``a + i``, class ``j`` at ``j * (b - a) + i``; ``xb`` receives the exponents), each row read in order with
    its max and 1/T looked up once: blocks holding a huge logit (``big``) as ``(z 2^-24 - max 2^-24)
    min(inv 2^24, float max)``, others as ``(z - max) inv`` (see ``scaled_softmax_into``)."""
    k = z.shape[1]
    w = b - a
    down, up = 2.0 ** -24, 2.0 ** 24
    fmax = 1.7976931348623157e308
    for i in range(w):  # each row read in order (contiguous), its entries stored a column apart
        m = zmax[a + i - s]
        sc = inv[(a + i) * inv_step]
        if big:
            m = m * down
            sc = sc * up
            sc = sc if sc <= fmax else fmax
            for j in range(k):
                xb[j * w + i] = (np.float64(z[a + i, j]) * down - m) * sc
        else:
            for j in range(k):
                xb[j * w + i] = (np.float64(z[a + i, j]) - m) * sc
    _exp_into(xb[:w * k], eb[:w * k], f, fi)


def _col_totals(eb, w, k, tw):  # pragma: no cover - compiled helper
    """``tw[i]`` = the sum of row ``i`` of the column-major ``eb``, its columns added left to right (numpy's
    order up to ``NARROW_COLUMNS`` columns), across rows."""
    for i in range(w):
        tw[i] = eb[i]
    for j in range(1, k):
        for i in range(w):
            tw[i] += eb[j * w + i]


@uses(_col_exponents, _col_totals, row_total)
def softmax_cols(z, a, b, s, inv, inv_step, zmax, big, plan, xb, eb, dst, f, fi, stack,
                 tw):  # pragma: no cover - compiled (kernels.jit helpers)
    """Softmax of rows ``a .. b-1`` of ``z``, column-major: row ``a + i``, class ``j`` at ``dst[j * (b - a) + i]``,
    in the block that starts at row ``s`` (``zmax``: its row maxima, ``big``: its huge-logit rescale; see
    ``scaled_softmax_into``).

    The exponentials are held column-major in ``eb``. Up to ``NARROW_COLUMNS`` columns each row's sum
    (left to right, in ``tw``) runs across rows, which the compiler vectorises; wider rows are copied
    row-major into ``xb`` and summed there in numpy's pairwise order (``plan``). Then the divisions,
    across rows. The same numbers either way.
    """
    k = z.shape[1]
    w = b - a
    _col_exponents(z, a, b, s, inv, inv_step, zmax, big, xb, eb, f, fi)
    if plan.shape[0] == 1 and plan[0, 0] == SEQUENTIAL:
        _col_totals(eb, w, k, tw)
    else:
        for i in range(w):
            for j in range(k):
                xb[i * k + j] = eb[j * w + i]
            tw[i] = row_total(xb, i * k, plan, stack)
    for j in range(k):
        for i in range(w):
            dst[j * w + i] = eb[j * w + i] / tw[i]


@uses(softmax_cols)
def softmax_rows(z, a, b, s, inv, inv_step, zmax, big, plan, xb, eb, pb, dst, f, fi, stack,
                 tw):  # pragma: no cover - compiled (kernels.jit helpers)
    """Softmax of rows ``a .. b-1`` of ``z`` into ``dst[0:(b - a) * K]`` (row after row), in the block that
    starts at row ``s`` (``zmax``: its row maxima, ``big``: its huge-logit rescale; see ``scaled_softmax_into``):
    :func:`softmax_cols` into ``pb``, then transposed."""
    k = z.shape[1]
    w = b - a
    softmax_cols(z, a, b, s, inv, inv_step, zmax, big, plan, xb, eb, pb, f, fi, stack, tw)
    for i in range(w):
        for j in range(k):
            dst[i * k + j] = pb[j * w + i]


def exp_into(x: np.ndarray, dst: np.ndarray) -> None:
    """``dst = exp(x)`` for float64 vectors by the kernels' exp (for tests: compare with ``np.exp``)."""
    f = np.empty(max(1, x.size))
    compiled_helper(_exp_into)(np.ascontiguousarray(x, dtype=np.float64), dst, f, f.view(np.int64))


def scaled_softmax_into(z: np.ndarray, inv: np.ndarray, inv_step: int, block_rows: int, huge: float,
                        plan: np.ndarray, out: np.ndarray) -> None:
    """``out`` (n, K) C-contiguous float64 := softmax of each row of ``z`` (float32 or float64) times its 1/T.

    Row ``i`` uses ``inv[i * inv_step]`` (``inv_step`` 0: one 1/T for all rows). As the
    numpy code, blocks of ``block_rows`` rows holding a magnitude beyond ``huge`` (and no
    NaN) are computed as ``(z 2^-24 - max 2^-24) min(inv 2^24, float max)``, others as
    ``(z - max) inv``; then ``exp`` and the division by the row sum (added as ``plan`` says).
    ``K`` must be at least 1.
    """
    n, k = z.shape
    if n == 0:
        return
    rows = max(1, min(n, EXP_CHUNK // k))  # rows per exp step
    f = np.empty(rows * k)
    _scaled_softmax(z, inv, inv_step, block_rows, huge, plan, out.reshape(-1), rows, np.empty(rows * k),
                    np.empty(rows * k), np.empty(rows * k), f, f.view(np.int64), np.empty(min(block_rows, n)),
                    np.empty(max(1, plan.shape[0])), np.empty(rows))


@jit(helpers=(block_maxima, softmax_rows))
def _scaled_softmax(z, inv, inv_step, block_rows, huge, plan, out, rows, xb, eb, pb, f, fi, zmax, stack,
                    tw):  # pragma: no cover - compiled
    n, k = z.shape
    for s in range(0, n, block_rows):
        e = min(s + block_rows, n)
        # row maxima (NaN propagates, as np.maximum) and the block's choice of the huge-logit rescale
        nan, hi, lo = block_maxima(z, s, e, zmax)
        big = (not nan) and (hi > huge or -lo > huge)
        for a in range(s, e, rows):
            b = min(a + rows, e)
            softmax_rows(z, a, b, s, inv, inv_step, zmax, big, plan, xb, eb, pb, out[a * k:b * k], f, fi, stack, tw)


def softmax_row_derivs_into(z: np.ndarray, labels: np.ndarray, beta_row: np.ndarray, inv_scale: float,
                            out: np.ndarray) -> None:
    """``out`` (4, n) := per row, the first four derivatives in beta of ``logsumexp(beta d) - beta d_y``.

    ``d = z inv_scale - max`` (float32 ``z`` widened exactly); ``labels`` (n,) int64 in
    ``0 .. K-1``; ``beta_row`` (n,) float64. The same formulas as the numpy reference
    (:func:`calibcli.calibrators.temperature_passes.softmax_row_derivs`); the columns of a row
    are added left to right.
    """
    n, k = z.shape
    if n == 0:
        return
    rows = max(1, min(n, EXP_CHUNK // k))
    f = np.empty(rows * k)
    _softmax_row_derivs(z, labels, beta_row, float(inv_scale), out, rows, np.empty(rows * k), np.empty(rows * k),
                        np.empty(rows * k), f, f.view(np.int64), np.empty(rows), np.empty(rows), np.empty((5, rows)))


@jit(helpers=(_exp_into,))
def _softmax_row_derivs(z, labels, beta_row, inv_scale, out, rows, d, xb, eb, f, fi, m,
                        dy, mom):  # pragma: no cover - compiled
    """Each step of ``rows`` rows is held column-major (entry ``(i, j)`` at ``j * w + i``): every loop over a
    column runs across rows, which the compiler vectorises, and each row still adds its columns left to right."""
    n, k = z.shape
    for a in range(0, n, rows):
        b = min(a + rows, n)
        w = b - a
        for j in range(k):  # the scaled logits, transposed (a strided read per column)
            for i in range(w):
                d[j * w + i] = np.float64(z[a + i, j]) * inv_scale
        for i in range(w):
            m[i] = d[i]
        for j in range(k):  # the row maxima; NaN propagates, else the larger (selects)
            for i in range(w):
                v = d[j * w + i]
                mi = m[i]
                m[i] = v if (v != v) | ((mi == mi) & (v > mi)) else mi
        for i in range(w):
            dy[i] = d[labels[a + i] * w + i] - m[i]
        for j in range(k):
            for i in range(w):
                dj = d[j * w + i] - m[i]
                d[j * w + i] = dj
                xb[j * w + i] = dj * beta_row[a + i]
        c = w * k
        _exp_into(xb[:c], eb[:c], f, fi)
        mom[:, :w] = 0.0
        for j in range(k):  # the five sums of each row, its columns added left to right
            for i in range(w):
                dj = d[j * w + i]
                e = eb[j * w + i]
                mom[0, i] += e
                e *= dj
                mom[1, i] += e
                e *= dj
                mom[2, i] += e
                e *= dj
                mom[3, i] += e
                e *= dj
                mom[4, i] += e
        for i in range(w):
            s0 = mom[0, i]
            mu, r2, r3, r4 = mom[1, i] / s0, mom[2, i] / s0, mom[3, i] / s0, mom[4, i] / s0
            mu2 = mu * mu
            var = r2 - mu2
            out[0, a + i] = mu - dy[i]
            out[1, a + i] = var
            out[2, a + i] = r3 - 3.0 * mu * r2 + 2.0 * mu2 * mu
            out[3, a + i] = r4 - 4.0 * mu * r3 + 6.0 * mu2 * r2 - 3.0 * mu2 * mu2 - 3.0 * var * var
