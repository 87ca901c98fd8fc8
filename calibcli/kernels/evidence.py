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
    r = np.zeros(8)
    for i in range(n):
        for j in range(m):
            v = np.float64(s[i, j])
            if not np.isfinite(v):
                return False, lo, hi, dev
            if v < lo:
                lo = v
            if v > hi:
                hi = v
        if not row_sums:
            continue
        if m < 8:
            acc = 0.0
            for j in range(m):
                acc += np.float64(s[i, j])
        else:  # numpy's pairwise sum of one block: eight running sums, combined as a tree, then the tail
            for j in range(8):
                r[j] = np.float64(s[i, j])
            j = 8
            while j < m - m % 8:
                for q in range(8):
                    r[q] += np.float64(s[i, j + q])
                j += 8
            acc = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
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
