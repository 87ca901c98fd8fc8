"""``DistinctTable``: the exact table of distinct scores with their counts, within a budget.

For every distinct score value the table holds the number of rows and the
weighted counts of positives and negatives: enough for exact thresholds,
isotonic regression (PAV), CORP and quantile edges. Its size is the number of
distinct values, not of rows; past ``max_distinct`` values the table drops its
arrays and reports ``exact = False`` (it never approximates silently): the caller
then refines in a second pass or uses a sketch (:mod:`calibcli.stats.kll`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.binning import quantile_edges_from_counts
from calibcli.stats.base import Arrays, scalar

DEFAULT_MAX_DISTINCT = 4_000_000  # 4e6 values x 32 bytes = 128 MB
BYTES_PER_VALUE = 32  # value, rows, positives, negatives


@dataclass(frozen=True)
class DistinctResult:
    """Distinct values (ascending) with rows, weighted positives and negatives per value.

    When ``exact`` is False the budget was exceeded and the arrays are empty.
    """

    values: np.ndarray
    rows: np.ndarray  # int64
    positives: np.ndarray
    negatives: np.ndarray
    total_rows: int
    exact: bool


def _combine(values: np.ndarray, rows: np.ndarray, pos: np.ndarray, neg: np.ndarray):
    """Sorted unique values with summed counts."""
    u, inv = np.unique(values, return_inverse=True)
    inv = inv.reshape(-1)
    m = u.size
    return (u, np.bincount(inv, weights=rows, minlength=m).astype(np.int64),
            np.bincount(inv, weights=pos, minlength=m), np.bincount(inv, weights=neg, minlength=m))


class DistinctTable:
    """Exact distinct-score table with a budget of ``max_distinct`` values.

    ``update`` in place, ``merge`` new. Scores must be finite (validated upstream).

    >>> t = DistinctTable().update(np.array([0.3, 0.7, 0.3]), np.array([1, 0, 0]))
    >>> r = t.finalize()
    >>> r.values.tolist(), r.rows.tolist(), r.positives.tolist(), r.negatives.tolist(), r.exact
    ([0.3, 0.7], [2, 1], [1.0, 0.0], [1.0, 1.0], True)
    >>> DistinctTable(max_distinct=1).update(np.array([0.3, 0.7]), np.array([1, 0])).exact
    False
    """

    def __init__(self, max_distinct: int = DEFAULT_MAX_DISTINCT):
        if max_distinct < 1:
            raise ValueError(f"max_distinct must be >= 1, got {max_distinct}")
        self.max_distinct = int(max_distinct)
        self.exact = True
        self.total_rows = 0
        self._clear()

    def _clear(self) -> None:
        self.values = np.empty(0)
        self.rows = np.empty(0, dtype=np.int64)
        self.positives = np.empty(0)
        self.negatives = np.empty(0)

    @property
    def size(self) -> int:
        """Number of distinct values held (0 once over budget)."""
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        """Memory held by the table's arrays."""
        return self.size * BYTES_PER_VALUE

    def _set(self, values, rows, pos, neg) -> None:
        if values.size > self.max_distinct:
            self.exact = False
        if not self.exact:
            self._clear()
            return
        self.values, self.rows, self.positives, self.negatives = values, rows, pos, neg

    def update(self, scores, outcome, weight=None) -> "DistinctTable":
        """Add a batch: scores (n,), outcomes (n,) in [0, 1] (bool or 0/1), optional weights (n,)."""
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        y = np.asarray(outcome, dtype=np.float64).reshape(-1)
        if y.shape != s.shape:
            raise ValueError(f"scores {s.shape} and outcome {y.shape} must have the same shape")
        w = np.ones_like(s) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
        if w.shape != s.shape:
            raise ValueError(f"weight has shape {w.shape}, expected {s.shape}")
        self.total_rows += s.size
        if not self.exact or s.size == 0:
            return self
        batch = _combine(s, np.ones(s.size), w * y, w * (1.0 - y))
        if batch[0].size > self.max_distinct:
            self._set(*batch)
            return self
        both = [np.concatenate(pair) for pair in zip((self.values, self.rows, self.positives, self.negatives), batch)]
        self._set(*_combine(*both))
        return self

    def merge(self, other: "DistinctTable") -> "DistinctTable":
        """A new table for the rows of both (same budget); over budget when either is."""
        if not isinstance(other, DistinctTable) or other.max_distinct != self.max_distinct:
            raise ValueError("cannot merge distinct tables with different budgets")
        out = DistinctTable(self.max_distinct)
        out.total_rows = self.total_rows + other.total_rows
        out.exact = self.exact and other.exact
        if out.exact:
            pairs = zip((self.values, self.rows, self.positives, self.negatives),
                        (other.values, other.rows, other.positives, other.negatives))
            out._set(*_combine(*[np.concatenate(p) for p in pairs]))
        return out

    def finalize(self) -> DistinctResult:
        return DistinctResult(self.values.copy(), self.rows.copy(), self.positives.copy(), self.negatives.copy(),
                              self.total_rows, self.exact)

    def to_arrays(self) -> Arrays:
        return {"max_distinct": self.max_distinct, "exact": self.exact, "total_rows": self.total_rows,
                "values": self.values.copy(), "rows": self.rows.copy(), "positives": self.positives.copy(),
                "negatives": self.negatives.copy()}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "DistinctTable":
        out = cls(scalar(arrays["max_distinct"]))
        out.exact = bool(scalar(arrays["exact"]))
        out.total_rows = int(scalar(arrays["total_rows"]))
        out.values = np.array(arrays["values"], dtype=np.float64)
        out.rows = np.array(arrays["rows"], dtype=np.int64)
        out.positives = np.array(arrays["positives"], dtype=np.float64)
        out.negatives = np.array(arrays["negatives"], dtype=np.float64)
        return out


def table_quantile_edges(table: DistinctResult, n_bins: int, weighted: bool = False) -> np.ndarray:
    """Equal-mass bin edges from an exact table: the inverted empirical CDF, no interpolation.

    Interior edge ``j`` is the smallest value ``v`` with ``F(v) >= j / n_bins``
    (:func:`calibcli.binning.quantile_edges_from_counts`, the project's rule), with
    ``F`` counting rows, or weights when ``weighted``. Raises ``ValueError`` when
    the table is over budget (use a two-pass refinement or a sketch instead).

    >>> t = DistinctTable().update(np.array([0.1, 0.2, 0.3, 0.4]), np.zeros(4)).finalize()
    >>> table_quantile_edges(t, 2).tolist()
    [0.0, 0.2, 1.0]
    """
    if not table.exact:
        raise ValueError("the distinct-value table exceeded its budget; quantile edges need a sketch or a second pass")
    counts = table.positives + table.negatives if weighted else table.rows
    return quantile_edges_from_counts(table.values, counts, n_bins)
