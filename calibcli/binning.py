"""Bins and the mergeable per-bin sufficient statistics behind every binned metric.

Convention (DESIGN.md): a confidence ``c`` goes to the bin with ``lo < c <= hi``;
the first bin also takes ``c == lo`` of the first edge (0 for equal-width bins).
Equal-mass (quantile) edges are order statistics of the data without
interpolation (the inverted empirical CDF, ``QUANTILE_RULE``), computed from a
table of distinct values and counts so that they depend on the distribution of
the scores only, never on the number of rows or their order.
"""

from __future__ import annotations

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

    Equal-width edges take an arithmetic fast path (``floor(c * B)``); values whose
    ``c * B`` lies within 1e-9 of a whole number (an edge) are re-assigned by binary
    search against the edges themselves, so the rule holds exactly.

    >>> assign_bins(np.array([0.0, 0.25, 0.26, 1.0]), uniform_edges(4)).tolist()
    [0, 0, 1, 3]
    """
    b = len(edges) - 1
    if b > 1 and edges[0] == 0.0 and edges[-1] == 1.0 and np.array_equal(edges, uniform_edges(b)):
        f = np.multiply(conf, b, dtype=np.float64)
        idx = f.astype(np.intp)  # floor(f) for f >= 0: the bin, unless f is (near) a whole number
        f -= idx  # the fractional part (f < 0 only outside [0, 1], then clipped below)
        near = (f < 1e-9) | (f > 1.0 - 1e-9)
        np.maximum(idx, 0, out=idx)
        np.minimum(idx, b - 1, out=idx)
        if near.any():
            idx[near] = _search_bins(conf[near], edges)
        return idx
    return _search_bins(conf, edges)


def _search_bins(conf: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, conf, side="left") - 1
    np.clip(idx, 0, len(edges) - 2, out=idx)
    return idx
