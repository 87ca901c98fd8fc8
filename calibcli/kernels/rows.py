"""Per-row summaries of probability rows in one pass: the top label, its probability, the true
class's probability and the sum of squares (the inputs of accuracy, the top-label curve, Brier and NLL).

The numpy reference is :func:`top_rows_numpy`; :func:`top_rows` dispatches (see :mod:`calibcli.kernels`).

>>> top, conf, p_true, sq = top_rows(np.array([[0.2, 0.8], [0.5, 0.5]]), np.array([0, 1]))
>>> top.tolist(), conf.tolist(), p_true.tolist(), sq.round(2).tolist()
([1, 0], [0.8, 0.5], [0.2, 0.5], [0.68, 0.5])
"""

from __future__ import annotations

import numpy as np

from calibcli.kernels import jit, use_compiled


def top_rows_numpy(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(argmax (ties: lowest index), max, probability of the label, sum of squares) of each row."""
    rows = np.arange(probs.shape[0])
    top = np.argmax(probs, axis=1)
    return top, probs[rows, top], probs[rows, labels], np.einsum("ij,ij->i", probs, probs)


@jit
def _top_rows(probs, labels, top, conf, p_true, sq):  # pragma: no cover - compiled (tests call it through numba)
    n, k = probs.shape
    for i in range(n):
        best = 0
        m = probs[i, 0]
        s = 0.0
        for j in range(k):
            v = probs[i, j]
            s += v * v
            if v > m:  # strict: ties keep the lowest index, as np.argmax (no NaN here: validated rows)
                m = v
                best = j
        top[i] = best
        conf[i] = m
        p_true[i] = probs[i, labels[i]]
        sq[i] = s


def top_rows(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(argmax, max, probability of the label, sum of squares) of each row of ``probs`` (n, K), float64.

    ``labels`` (n,) are class indices in ``0 .. K-1``. Equal to :func:`top_rows_numpy`
    (the sum of squares to rounding: it adds the columns left to right).
    """
    probs = np.ascontiguousarray(probs, dtype=np.float64)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    n = probs.shape[0]
    if not use_compiled(probs.size) or probs.shape[1] == 0:
        return top_rows_numpy(probs, labels)
    top = np.empty(n, dtype=np.int64)
    conf, p_true, sq = np.empty(n), np.empty(n), np.empty(n)
    _top_rows(probs, labels, top, conf, p_true, sq)
    return top, conf, p_true, sq
