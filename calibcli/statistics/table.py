"""``ScoreTable``: per distinct probability, rows and weighted positives, negatives and sum of p.

Exact while the distinct values fit ``max_distinct``; beyond it the table
*coarsens*: a score's key is its float64 bit pattern made order-preserving (sign
bit set for values >= 0, every bit flipped for negative ones) shifted right by ``level`` bits, so each coarsening merges pairs of
neighbouring cells and a cell at level ``L`` spans a relative width of at most
``2**(L - 52)`` (about ``resolution``). The table keeps the exact weighted sum of p
per cell, so means and expected counts stay exact; only the *order within a cell*
is lost (statistics treat a cell's rows as tied).

The level only rises when the table (or a merge of tables) exceeds the budget,
and cell counts only grow when rows are added, so the final level is the
smallest level at which *all* rows fit: the result is the same for any split of
the rows into batches and any merge order (up to float rounding of the sums).

Per-batch tables wait in ``pending`` and join the main table once they hold as
many cells as it does, so the table is re-sorted a logarithmic number of times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.base import Arrays, scalar
from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT

MANTISSA_BITS = 52
MIN_FLUSH = 1 << 16
_SIGN = np.uint64(1 << 63)


def to_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving uint64 keys of finite float64 values (-0.0 and 0.0 share a key).

    >>> k = to_keys(np.array([-2.0, -0.5, 0.0, 0.25, 3.0])); bool(np.all(np.diff(k) > 0))
    True
    """
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def from_keys(keys: np.ndarray) -> np.ndarray:
    """The float64 values of :func:`to_keys` keys."""
    bits = np.where(keys & _SIGN, keys & ~_SIGN, ~keys)
    return bits.view(np.float64)


@dataclass(frozen=True)
class TableResult:
    """Cells in ascending order of probability.

    ``values``: the probability of each cell (exact when ``exact``; else the
    cell's weighted mean, or its lower end when it has no weight). ``weight``
    is ``positives + negatives``; ``sum_p`` the weighted sum of p. ``resolution``
    bounds the relative width of a cell (0 when exact).
    """

    values: np.ndarray
    rows: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    sum_p: np.ndarray
    total_rows: int
    level: int

    @property
    def exact(self) -> bool:
        return self.level == 0

    @property
    def weight(self) -> np.ndarray:
        return self.positives + self.negatives

    @property
    def resolution(self) -> float:
        return 0.0 if self.level == 0 else 2.0 ** (self.level - MANTISSA_BITS)


def _combine(keys, rows, pos, neg, sp):
    u, inv = np.unique(keys, return_inverse=True)
    inv = inv.reshape(-1)
    m = u.size
    return (u, np.bincount(inv, weights=rows, minlength=m).astype(np.int64), np.bincount(inv, weights=pos, minlength=m),
            np.bincount(inv, weights=neg, minlength=m), np.bincount(inv, weights=sp, minlength=m))


class ScoreTable:
    """Exact-or-coarsened table of probabilities with outcome sums (see the module docstring).

    ``update`` and ``merge`` in place (``merge`` returns ``self``); ``finalize`` a :class:`TableResult`.

    >>> t = ScoreTable().update(np.array([0.3, 0.7, 0.3]), np.array([1.0, 0.0, 0.0]))
    >>> r = t.finalize()
    >>> r.values.tolist(), r.rows.tolist(), r.positives.tolist(), r.exact
    ([0.3, 0.7], [2, 1], [1.0, 0.0], True)
    >>> ScoreTable(max_distinct=1).update(np.array([0.3, 0.7]), np.array([1.0, 0.0])).finalize().exact
    False
    """

    def __init__(self, max_distinct: int = DEFAULT_MAX_DISTINCT):
        if max_distinct < 1:
            raise ValueError(f"max_distinct must be >= 1, got {max_distinct}")
        self.max_distinct = int(max_distinct)
        self.level = 0
        self.total_rows = 0
        self.cells = _combine(np.empty(0, dtype=np.uint64), *(np.empty(0),) * 4)
        self.pending: list[tuple] = []

    @property
    def size(self) -> int:
        return int(self.cells[0].size)

    def update(self, p: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> "ScoreTable":
        """Add validated finite scores ``p``, outcomes ``y`` and weights ``w`` (float64, shape (n,))."""
        n = p.size
        self.total_rows += n
        if n == 0:
            return self
        wy = y if w is None else w * y
        wn = (1.0 - y) if w is None else w * (1.0 - y)
        wp = p if w is None else w * p
        keys = to_keys(p) >> np.uint64(self.level)
        self.pending.append(_combine(keys, np.ones(n), wy, wn, wp))
        if sum(c[0].size for c in self.pending) >= max(self.size, MIN_FLUSH):
            self._flush()
        return self

    def _flush(self) -> None:
        if not self.pending:
            return
        parts = [self.cells, *self.pending]  # pending cells are at the current level (it rises only here and in merge)
        self.pending = []
        self.cells = self._fit(_combine(*[np.concatenate(c) for c in zip(*parts)]))

    @staticmethod
    def _at_level(parts: list[tuple], shift: int) -> list[tuple]:
        return parts if shift == 0 else [(c[0] >> np.uint64(shift), *c[1:]) for c in parts]

    def _fit(self, cells: tuple) -> tuple:
        """Coarsen one bit at a time until the cells fit the budget."""
        while cells[0].size > self.max_distinct:
            self.level += 1
            cells = _combine(cells[0] >> np.uint64(1), *cells[1:])
        return cells

    def merge(self, other: "ScoreTable") -> "ScoreTable":
        """Add the rows of ``other`` (same budget) in place; return ``self``."""
        if not isinstance(other, ScoreTable) or other.max_distinct != self.max_distinct:
            raise ValueError("cannot merge score tables with different budgets")
        mine, theirs = [self.cells, *self.pending], [other.cells, *other.pending]
        level = max(self.level, other.level)
        parts = self._at_level(mine, level - self.level) + self._at_level(theirs, level - other.level)
        self.level, self.pending = level, []
        self.total_rows += other.total_rows
        self.cells = self._fit(_combine(*[np.concatenate(c) for c in zip(*parts)]))
        return self

    def finalize(self) -> TableResult:
        self._flush()
        keys, rows, pos, neg, sp = self.cells
        w = pos + neg
        if self.level == 0:
            values = from_keys(keys)
        else:
            lo = from_keys(keys << np.uint64(self.level))
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(w > 0, sp / np.where(w > 0, w, 1.0), lo)
        return TableResult(values.copy(), rows.copy(), pos.copy(), neg.copy(), sp.copy(), self.total_rows, self.level)

    def to_arrays(self) -> Arrays:
        self._flush()
        keys, rows, pos, neg, sp = self.cells
        return {"max_distinct": self.max_distinct, "level": self.level, "total_rows": self.total_rows,
                "keys": keys.copy(), "rows": rows.copy(), "positives": pos.copy(), "negatives": neg.copy(),
                "sum_p": sp.copy()}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "ScoreTable":
        out = cls(scalar(arrays["max_distinct"]))
        out.level = int(scalar(arrays["level"]))
        out.total_rows = int(scalar(arrays["total_rows"]))
        out.cells = (np.array(arrays["keys"], dtype=np.uint64), np.array(arrays["rows"], dtype=np.int64),
                     *(np.array(arrays[k], dtype=np.float64) for k in ("positives", "negatives", "sum_p")))
        return out
