"""Compiled helpers shared by several kernels: a row's sum in numpy's order, the bin of a value, and
the row maxima of a softmax block.

Plain functions here; a kernel lists them in ``kernels.jit(helpers=...)`` and calls them by name,
and they are compiled once, before the kernel (see :func:`calibcli.kernels.jit`).
"""

from __future__ import annotations

import numpy as np

from calibcli.kernels import uses

SEQUENTIAL, BLOCKED, ADD = 0, 1, 2  # the steps of a summation plan (calibcli.kernels.softmax.sum_plan)


def row_total(out, o, plan, stack):  # pragma: no cover - compiled (kernels.jit helpers)
    """The sum of ``out[o:o + K]`` in numpy's order (``plan``: :func:`calibcli.kernels.softmax.sum_plan`)."""
    top = 0
    for p in range(plan.shape[0]):
        kind, start, cnt = plan[p, 0], o + plan[p, 1], plan[p, 2]
        if kind == ADD:
            top -= 1
            stack[top - 1] = stack[top - 1] + stack[top]
            continue
        if kind == SEQUENTIAL:
            res = 0.0
            for j in range(start, start + cnt):
                res += out[j]
        else:  # numpy's 8 interleaved partial sums
            r0, r1, r2, r3 = out[start], out[start + 1], out[start + 2], out[start + 3]
            r4, r5, r6, r7 = out[start + 4], out[start + 5], out[start + 6], out[start + 7]
            j = start + 8
            end = start + cnt - cnt % 8
            while j < end:
                r0 += out[j]
                r1 += out[j + 1]
                r2 += out[j + 2]
                r3 += out[j + 3]
                r4 += out[j + 4]
                r5 += out[j + 5]
                r6 += out[j + 6]
                r7 += out[j + 7]
                j += 8
            res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while j < start + cnt:
                res += out[j]
                j += 1
        stack[top] = res
        top += 1
    return stack[0]


def bin_of(c, edges, uniform, nan_bin, n_bins):  # pragma: no cover - compiled (kernels.jit helpers)
    """The bin of ``c`` under :func:`calibcli.binning.assign_bins`'s rule: the equal-width fast path
    with its 1e-9 edge check, else a binary search against the edges (``uniform``, ``nan_bin``:
    :func:`calibcli.kernels.bins.bin_rule`)."""
    if c != c:
        return nan_bin
    if uniform:
        f = c * n_bins
        if f >= 0.0 and f < n_bins:
            t = int(f)
            r = f - t
            if r >= 1e-9 and r <= 1.0 - 1e-9:
                return t
    lo = 0
    hi = n_bins + 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if edges[mid] < c:
            lo = mid + 1
        else:
            hi = mid
    return min(max(lo - 1, 0), n_bins - 1)


@uses(bin_of)
def bins_into(x, m, edges, uniform, nan_bin, n_bins, out):  # pragma: no cover - compiled (kernels.jit helpers)
    """``out[i] = bin_of(x[i])`` for ``i < m``: the same bins, the equal-width path in a loop the compiler vectorises.

    Each value's fast-path bin is computed with selects only (``f`` clamped into ``[0, B - 1]`` before the
    cast, so the cast is defined for NaN and out-of-range values too); the values the fast path does not
    settle (outside ``[0, B)``, within 1e-9 of an edge, NaN) are marked -1 and then recomputed by
    :func:`bin_of`, whose fast path rejects them again and so gives them its binary search's bin.
    """
    if not uniform:
        for i in range(m):
            out[i] = bin_of(x[i], edges, uniform, nan_bin, n_bins)
        return
    top = n_bins - 1.0
    bad = 0
    for i in range(m):
        f = x[i] * n_bins
        g = f if f > 0.0 else 0.0  # NaN -> 0
        g = g if g < top else top
        t = int(g)
        r = f - t  # f < 0 gives t = 0, r < 0; f >= B gives t = B - 1, r >= 1; NaN gives NaN: all fail the check
        ok = (r >= 1e-9) & (r <= 1.0 - 1e-9)  # so it is bin_of's check (f in [0, B), r within the edges)
        bad += not ok
        out[i] = t if ok else -1
    if bad:
        for i in range(m):
            if out[i] < 0:
                out[i] = bin_of(x[i], edges, uniform, nan_bin, n_bins)


def block_maxima(z, s, e, zmax):  # pragma: no cover - compiled (kernels.jit helpers)
    """Row maxima of ``z[s:e]`` into ``zmax[0:e - s]`` (float64; a row holding NaN gets NaN, as ``np.maximum``),
    and ``(any NaN, largest maximum or 0, smallest value or 0)``: the softmax's choice of the huge-logit
    rescale for the block (:func:`calibcli.predictions.scaled_softmax`)."""
    k = z.shape[1]
    nan = False
    hi, lo = 0.0, 0.0
    for i in range(s, e):
        m = np.float64(z[i, 0])
        row_lo = 0.0  # the row's own minimum (and 0): a chain per row, not one through the whole block
        row_nan = False
        for j in range(k):
            v = np.float64(z[i, j])
            row_nan |= v != v
            m = v if v > m else m
            row_lo = v if v < row_lo else row_lo
        lo = row_lo if row_lo < lo else lo
        if row_nan:
            nan = True
            m = np.nan
        zmax[i - s] = m
        hi = m if m > hi else hi
    return nan, hi, lo
