"""Sums by group in one compiled pass: what several ``np.bincount`` calls over the same groups compute.

``np.bincount(g, weights=v)`` adds ``v[i]`` to bin ``g[i]`` for ``i = 0, 1, ...`` in
row order; these kernels add the same float64 values in the same order into every
bin at once, so the sums are bit-identical to the bincounts (counts are exact).
A group index outside ``0 .. n_groups-1`` makes a kernel return False before the
caller's arrays are touched: the caller then runs its numpy code, which raises as before.
"""

from __future__ import annotations

import numpy as np

from calibcli.kernels import jit


@jit
def _param_sums(group, terms, w, n_groups, out):  # pragma: no cover - compiled
    # out (6, n_groups): rows, weight, then the weighted sums of terms[0..3]; w has size 0 for unit weights
    n = group.shape[0]
    for i in range(n):
        if group[i] < 0 or group[i] >= n_groups:
            return False
    weighted = w.shape[0] > 0
    for i in range(n):
        g = group[i]
        out[0, g] += 1.0
        if weighted:
            wi = w[i]
            out[1, g] += wi
            for j in range(4):
                out[2 + j, g] += terms[j, i] * wi
        else:
            out[1, g] += 1.0
            for j in range(4):
                out[2 + j, g] += terms[j, i]
    return True


def param_sums(group: np.ndarray, terms: np.ndarray, weight: np.ndarray | None, n_groups: int) -> np.ndarray | None:
    """Per group: rows, weight (rows when ``weight`` is None) and the weighted sums of ``terms`` (4, n), (6, G).

    Equal to ``bincount(group)``, ``bincount(group, weight)`` and ``bincount(group, terms[i] * weight)``;
    None when a group index lies outside ``0 .. n_groups-1``.
    """
    out = np.zeros((6, n_groups))
    w = np.zeros(0) if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    ok = _param_sums(np.ascontiguousarray(group, dtype=np.intp), np.ascontiguousarray(terms, dtype=np.float64), w,
                     n_groups, out)
    return out if ok else None


@jit
def _row_sums3(group, a, b, c, n_groups, out):  # pragma: no cover - compiled
    n = group.shape[0]
    for i in range(n):
        if group[i] < 0 or group[i] >= n_groups:
            return False
    for i in range(n):
        g = group[i]
        out[g, 0] += 1.0
        out[g, 1] += np.float64(a[i])
        out[g, 2] += np.float64(b[i])
        out[g, 3] += np.float64(c[i])
    return True


def rows_and_sums3(group: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, n_groups: int) -> np.ndarray | None:
    """Per group (G, 4): rows and the sums of ``a``, ``b``, ``c`` (bool or float, summed as float64).

    Equal to ``bincount(group)`` and ``bincount(group, weights=x.astype(float64))``
    for each ``x``; None when a group index lies outside ``0 .. n_groups-1``.
    """
    out = np.zeros((n_groups, 4))
    arrs = [np.ascontiguousarray(x) if np.asarray(x).dtype in (np.bool_, np.float64) else
            np.ascontiguousarray(x, dtype=np.float64) for x in (a, b, c)]
    ok = _row_sums3(np.ascontiguousarray(group, dtype=np.intp), *arrs, n_groups, out)
    return out if ok else None
