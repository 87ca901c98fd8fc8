"""Bins and the mergeable per-bin sufficient statistics behind every binned metric.

Convention (DESIGN.md): a confidence ``c`` goes to the bin with ``lo < c <= hi``;
the first bin also takes ``c == lo`` of the first edge (0 for equal-width bins).
Equal-mass (quantile) edges are order statistics of the data without
interpolation (the inverted empirical CDF, ``QUANTILE_RULE``), computed from a
table of distinct values and counts so that they depend on the distribution of
the scores only, never on the number of rows or their order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGE_RULE = "lo < c <= hi; the first bin also takes c = its lower edge"
STRATEGIES = ("uniform", "quantile")
BLOCK_ROWS = 16384  # rows per block when binning (n, K) arrays


def edge_rule(strategy: str) -> str:
    """The bin-assignment rule in words, with the edge rule of equal-mass bins.

    >>> edge_rule("uniform") == EDGE_RULE
    True
    """
    return EDGE_RULE if strategy == "uniform" else f"{EDGE_RULE}; {QUANTILE_RULE}"


def uniform_edges(n_bins: int) -> np.ndarray:
    """Equal-width bin edges on [0, 1].

    >>> uniform_edges(4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    return np.linspace(0.0, 1.0, n_bins + 1)


QUANTILE_RULE = (
    "equal-mass edges are order statistics without interpolation: edge j (j = 1..B-1) is the smallest score v with "
    "F(v) >= j/B (F the empirical CDF), so a copy of the data pooled with itself gives the same edges; ties never "
    "straddle an edge, and an edge equal to the largest score is dropped (no empty top bin)"
)


def quantile_edges(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-mass bin edges; tied confidences never straddle an edge.

    The edges depend only on the empirical distribution of ``conf`` (not on its
    size or row order): see ``quantile_edges_from_counts`` for the rule. Heavy
    ties give fewer, never empty, bins. The outer edges are 0 and 1.

    >>> quantile_edges(np.array([0.1, 0.2, 0.3, 0.4]), 2).tolist()
    [0.0, 0.2, 1.0]
    >>> quantile_edges(np.array([0.5, 0.5, 0.5, 0.9]), 4).tolist()
    [0.0, 0.5, 1.0]
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if conf.size == 0:
        return uniform_edges(n_bins)
    values, counts = np.unique(conf, return_counts=True)
    return quantile_edges_from_counts(values, counts, n_bins)


def quantile_edges_from_counts(values: np.ndarray, counts: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-mass bin edges from a table of distinct values and their counts.

    The inverted empirical CDF, without interpolation: with ``C_i`` the
    cumulative count up to ``values[i]`` and ``N`` the total, interior edge ``j``
    (``j = 1 .. n_bins - 1``) is the smallest ``values[i]`` with
    ``C_i * n_bins >= j * N``, i.e. ``F(v) >= j / n_bins``. Integer counts are
    compared exactly, so multiplying every count by the same factor (pooling a
    file with copies of itself) gives the same edges. Under the ``lo < c <= hi``
    rule every edge is a data value, so tied values stay in one bin; equal edges
    collapse, an edge equal to the largest value (which would leave the top bin
    empty) is dropped, and the outer edges are 0 and 1 (interior edges lie
    strictly between them).

    This is the form a streaming engine can feed from an exact distinct-value
    table (or from the weighted items of a quantile sketch).

    Parameters
    ----------
    values : ndarray of shape (m,)
        Distinct values, ascending.
    counts : ndarray of shape (m,)
        Count (or non-negative weight) of each value; values with count 0 are ignored.
    n_bins : int
        Number of bins asked for (at least 1).

    Returns
    -------
    ndarray
        Ascending edges starting at 0 and ending at 1 (at most ``n_bins + 1``).

    Examples
    --------
    >>> quantile_edges_from_counts(np.array([0.1, 0.4, 0.8]), np.array([1, 2, 1]), 2).tolist()
    [0.0, 0.4, 1.0]
    >>> quantile_edges_from_counts(np.array([0.1, 0.4, 0.8]), np.array([3, 6, 3]), 2).tolist()
    [0.0, 0.4, 1.0]
    >>> quantile_edges_from_counts(np.array([0.2, 0.6]), np.array([1, 1]), 4).tolist()
    [0.0, 0.2, 1.0]
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    values = np.asarray(values, dtype=np.float64)
    counts = np.asarray(counts)
    if values.shape != counts.shape or values.ndim != 1:
        raise ValueError("values and counts must be 1-D arrays of the same length")
    keep = counts > 0
    values, counts = values[keep], counts[keep]
    if values.size == 0:
        return uniform_edges(n_bins)
    if np.any(np.diff(values) <= 0):
        raise ValueError("values must be distinct and ascending")
    if not np.issubdtype(counts.dtype, np.integer):
        counts = counts.astype(np.float64)
    cum = np.cumsum(counts)
    j = np.arange(1, n_bins, dtype=cum.dtype)
    idx = np.searchsorted(cum * n_bins, j * cum[-1], side="left")  # first i with C_i * B >= j * N
    inner = values[idx]
    inner = inner[(inner < values[-1]) & (inner > 0.0) & (inner < 1.0)]
    return np.unique(np.concatenate(([0.0], inner, [1.0])))


def make_edges(conf: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin edges for ``strategy`` ('uniform' or 'quantile')."""
    if strategy == "uniform":
        return uniform_edges(n_bins)
    if strategy == "quantile":
        return quantile_edges(conf, n_bins)
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def assign_bins(conf: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each confidence under the ``lo < c <= hi`` rule.

    Equal-width edges take an arithmetic fast path (``ceil(c * B) - 1``); values
    within 1e-9 of an edge are re-assigned by binary search against the edges
    themselves, so the rule holds exactly.

    >>> assign_bins(np.array([0.0, 0.25, 0.26, 1.0]), uniform_edges(4)).tolist()
    [0, 0, 1, 3]
    """
    b = len(edges) - 1
    if b > 1 and edges[0] == 0.0 and edges[-1] == 1.0 and np.array_equal(edges, uniform_edges(b)):
        f = np.multiply(conf, b, dtype=np.float64)
        idx_f = np.ceil(f)
        idx_f -= 1.0
        np.clip(idx_f, 0, b - 1, out=idx_f)
        idx = idx_f.astype(np.intp)
        np.rint(f, out=idx_f)
        np.subtract(f, idx_f, out=f)
        np.abs(f, out=f)
        near = f < 1e-9
        if near.any():
            idx[near] = _search_bins(conf[near], edges)
        return idx
    return _search_bins(conf, edges)


def _search_bins(conf: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, conf, side="left") - 1
    np.clip(idx, 0, len(edges) - 2, out=idx)
    return idx


@dataclass(frozen=True)
class BinStats:
    """Per-bin count, sum of confidence and sum of outcome; merge by adding.

    Arrays have shape ``(B,)`` for one curve or ``(K, B)`` for one curve per class.
    """

    edges: np.ndarray
    count: np.ndarray
    sum_conf: np.ndarray
    sum_outcome: np.ndarray

    @classmethod
    def from_arrays(cls, conf: np.ndarray, outcome: np.ndarray, edges: np.ndarray) -> "BinStats":
        """Statistics of one curve.

        >>> s = BinStats.from_arrays(np.array([0.2, 0.9]), np.array([0, 1]), uniform_edges(2))
        >>> s.count.tolist(), s.sum_outcome.tolist()
        ([1.0, 1.0], [0.0, 1.0])
        """
        b = len(edges) - 1
        idx = assign_bins(conf, edges)
        count = np.bincount(idx, minlength=b).astype(np.float64)
        sum_conf = np.bincount(idx, weights=conf, minlength=b)
        sum_outcome = np.bincount(idx, weights=outcome.astype(np.float64), minlength=b)
        return cls(edges, count, sum_conf, sum_outcome)

    @classmethod
    def per_column(cls, probs: np.ndarray, outcomes: np.ndarray, edges: np.ndarray) -> "BinStats":
        """One curve per column of ``probs`` (n, K) against 0/1 ``outcomes`` (n, K)."""
        return cls._columns(probs, edges, outcomes=outcomes)

    @classmethod
    def one_vs_rest(cls, probs: np.ndarray, labels: np.ndarray, edges: np.ndarray) -> "BinStats":
        """One curve per class k: confidence ``probs[:, k]``, outcome ``labels == k``.

        Same result as ``per_column`` with one-hot outcomes, but the outcome sums
        need only the n true-class entries.

        >>> s = BinStats.one_vs_rest(np.array([[0.8, 0.2], [0.4, 0.6]]), np.array([0, 0]), uniform_edges(2))
        >>> s.count.tolist(), s.sum_outcome.tolist()
        ([[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]])
        """
        return cls._columns(probs, edges, labels=labels)

    @classmethod
    def _columns(cls, probs, edges, outcomes=None, labels=None, block: int = BLOCK_ROWS) -> "BinStats":
        """Per-column statistics accumulated over blocks of rows (cache-sized passes)."""
        n, k = probs.shape
        b = len(edges) - 1
        size = k * b
        offsets = (np.arange(k) * b)[None, :]
        count, sum_conf, sum_outcome = np.zeros(size), np.zeros(size), np.zeros(size)
        for s in range(0, n, block):
            pb = probs[s:s + block]
            idx = assign_bins(pb, edges)
            idx += offsets
            flat = idx.ravel()
            count += np.bincount(flat, minlength=size)
            sum_conf += np.bincount(flat, weights=pb.ravel(), minlength=size)
            if labels is not None:
                yb = labels[s:s + block]
                sum_outcome += np.bincount(idx[np.arange(len(yb)), yb], minlength=size)
            else:
                sum_outcome += np.bincount(flat, weights=outcomes[s:s + block].ravel().astype(np.float64), minlength=size)
        return cls(edges, count.reshape(k, b), sum_conf.reshape(k, b), sum_outcome.reshape(k, b))

    def merge(self, other: "BinStats") -> "BinStats":
        """Statistics of the union of two disjoint sets of rows (same edges)."""
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot merge bin statistics with different edges")
        return BinStats(
            self.edges,
            self.count + other.count,
            self.sum_conf + other.sum_conf,
            self.sum_outcome + other.sum_outcome,
        )

    @property
    def mean_conf(self) -> np.ndarray:
        """Mean confidence per bin; NaN for empty bins."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum_conf / self.count, np.nan)

    @property
    def observed(self) -> np.ndarray:
        """Observed frequency of the outcome per bin; NaN for empty bins."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum_outcome / self.count, np.nan)

    def ece(self) -> np.ndarray | float:
        """sum_b (n_b / N) |observed_b - mean_conf_b|; per curve when 2-D."""
        gap = np.abs(self.sum_outcome - self.sum_conf)  # = n_b * |obs - conf|
        total = self.count.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 0, gap.sum(axis=-1) / np.where(total > 0, total, 1), np.nan)
        return float(out) if out.ndim == 0 else out

    def mce(self) -> np.ndarray | float:
        """Max |observed - mean confidence| over non-empty bins; per curve when 2-D."""
        gap = np.abs(self.observed - self.mean_conf)
        gap = np.where(self.count > 0, gap, -np.inf)
        out = gap.max(axis=-1)
        out = np.where(np.isfinite(out), out, np.nan)
        return float(out) if out.ndim == 0 else out
