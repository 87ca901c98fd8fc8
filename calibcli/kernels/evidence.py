"""Score-kind evidence of a batch in one pass: whether every score is finite, the smallest and
largest score, and the largest ``|row sum - 1|`` (row sums added exactly as numpy's ``sum(axis=1)``).

The numpy reference is the scan's own code (:meth:`calibcli.validation.scan.FileScan.update`,
with :func:`calibcli.validation.scores.pairwise_row_sums`); :func:`score_evidence` returns None
when the compiled kernel does not apply, and the caller runs that code.

>>> score_evidence(np.array([[0.25, 0.75], [0.5, 0.25]]), True, force=True)
(True, 0.25, 0.75, 0.25)
"""

from __future__ import annotations

import numpy as np

from calibcli.kernels import jit, use_compiled

MAX_PAIRWISE = 128  # numpy's pairwise block: up to this many columns a row sum is one block


@jit
def _evidence(s, row_sums):  # pragma: no cover - compiled
    n, m = s.shape
    lo, hi, dev = np.inf, -np.inf, -np.inf
    for i in range(n):
        # the row's extremes first, then the batch's (a chain per row, not one through the batch; strict
        # comparisons keep the earliest of equal values either way), and one check of the row for non-finite values
        row_lo, row_hi = np.inf, -np.inf
        finite = True
        for j in range(m):
            v = np.float64(s[i, j])
            finite &= np.isfinite(v)
            row_lo = v if v < row_lo else row_lo
            row_hi = v if v > row_hi else row_hi
        if not finite:
            return False, lo, hi, dev
        lo = row_lo if row_lo < lo else lo
        hi = row_hi if row_hi > hi else hi
        if not row_sums:
            continue
        if m < 8:
            acc = 0.0
            for j in range(m):
                acc += np.float64(s[i, j])
        else:  # numpy's pairwise sum of one block: eight running sums (locals), combined as a tree, then the tail
            r0, r1, r2, r3 = np.float64(s[i, 0]), np.float64(s[i, 1]), np.float64(s[i, 2]), np.float64(s[i, 3])
            r4, r5, r6, r7 = np.float64(s[i, 4]), np.float64(s[i, 5]), np.float64(s[i, 6]), np.float64(s[i, 7])
            j = 8
            while j < m - m % 8:
                r0 += np.float64(s[i, j])
                r1 += np.float64(s[i, j + 1])
                r2 += np.float64(s[i, j + 2])
                r3 += np.float64(s[i, j + 3])
                r4 += np.float64(s[i, j + 4])
                r5 += np.float64(s[i, j + 5])
                r6 += np.float64(s[i, j + 6])
                r7 += np.float64(s[i, j + 7])
                j += 8
            acc = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while j < m:
                acc += np.float64(s[i, j])
                j += 1
        d = abs(acc - 1.0)
        if d > dev:
            dev = d
    return True, lo, hi, dev


def score_evidence(scores: np.ndarray, row_sums: bool, force: bool = False) -> tuple[bool, float, float, float] | None:
    """(all finite, min, max, max |row sum - 1|) of a (n, m) float32/float64 batch, or None.

    None: the compiled kernel does not apply (numpy mode, a small batch unless ``force``,
    more than :data:`MAX_PAIRWISE` columns, another dtype, or no rows). When a score is not
    finite the first value is False and the others are meaningless. ``dev`` is ``-inf``
    without ``row_sums``.
    """
    s = scores
    if s.ndim != 2 or s.dtype not in (np.float32, np.float64) or not s.shape[0] or not s.shape[1] \
            or s.shape[1] > MAX_PAIRWISE:
        return None
    if not (force or use_compiled(s.size)):
        return None
    ok, lo, hi, dev = _evidence(np.ascontiguousarray(s), bool(row_sums))
    return bool(ok), float(lo), float(hi), float(dev)
