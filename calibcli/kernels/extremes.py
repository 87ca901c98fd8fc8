"""Row maxima and minima of logits in one compiled pass, and the largest gap per model (temperature pass 1).

:class:`calibcli.calibrators.temperature.ScaleGaps` needs, per row, the largest and
smallest logit times 1/4 (exact), and per model the largest ``hi - lo`` of its rows
and over the member rows the largest ``hi`` and smallest ``lo``. numpy runs these as
a loop over the columns (two passes per column) and a mask per model; here each is
one pass. Maxima and minima are exact, and NaN propagates as in ``np.maximum`` and
``ndarray.max``, so the results equal the numpy code's.
"""

from __future__ import annotations

import numpy as np

from calibcli.kernels import jit


@jit
def _scaled_extremes(z, f, hi, lo):  # pragma: no cover - compiled
    n, k = z.shape
    for i in range(n):
        a = z[i, 0]
        b = a
        bad = a != a
        for j in range(1, k):  # selects, not branches: about 2.5x faster
            v = z[i, j]
            a = v if v > a else a
            b = v if v < b else b
            bad |= v != v
        if bad:  # a NaN anywhere in the row makes both NaN, as np.maximum and np.minimum
            a = b = np.nan
        hi[i] = np.float64(a) * f
        lo[i] = np.float64(b) * f


def scaled_row_extremes(z: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``(row max * factor, row min * factor)`` as float64, the extremes taken in ``z``'s dtype (float32/64, K >= 1)."""
    n = z.shape[0]
    hi, lo = np.empty(n), np.empty(n)
    _scaled_extremes(z, float(factor), hi, lo)
    return hi, lo


@jit
def _layer_gaps(hi, lo, model, n_models, gmax, count, ext):  # pragma: no cover - compiled
    top = -np.inf
    bottom = np.inf
    members = 0
    for i in range(hi.shape[0]):
        m = model[i]
        if m < 0:
            continue
        members += 1
        h = hi[i]
        low = lo[i]
        if h > top or h != h:
            top = h
        if low < bottom or low != low:
            bottom = low
        if m < n_models:
            g = h - low
            if count[m] == 0:
                gmax[m] = g
            elif gmax[m] == gmax[m] and (g > gmax[m] or g != g):  # a NaN maximum stays NaN, as ndarray.max
                gmax[m] = g
            count[m] += 1
    ext[0] = top
    ext[1] = bottom
    return members


def layer_gaps(hi: np.ndarray, lo: np.ndarray, model: np.ndarray, n_models: int
               ) -> tuple[np.ndarray, np.ndarray, float, float, int]:
    """Per model ``m`` in ``0 .. n_models-1``: the max of ``hi - lo`` over rows with ``model == m`` and their count;
    over rows with ``model >= 0``: the max of ``hi``, the min of ``lo`` and their count."""
    gmax, count, ext = np.zeros(n_models), np.zeros(n_models, dtype=np.int64), np.zeros(2)
    members = _layer_gaps(hi, lo, np.ascontiguousarray(model, dtype=np.intp), int(n_models), gmax, count, ext)
    return gmax, count, float(ext[0]), float(ext[1]), int(members)
