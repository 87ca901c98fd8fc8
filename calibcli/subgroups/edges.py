"""The first pass of ``--by-bins``: quantile cut points of each numeric ``--by`` column.

:class:`GroupEdgeState` is a pass consumer (``update(batch)``, ``merge`` in place,
``finalize()``): per column an exact table of distinct values with their counts while
it fits ``max_distinct`` values (exact order statistics), with a KLL sketch beside it
for beyond (then the cut points are approximate, with the sketch's normalized rank
error stated). The cut rule is the order statistic of
:func:`calibcli.binning.quantile_edges_from_counts`: cut ``j`` is the smallest value
``v`` with ``F(v) >= j / N``; equal cuts collapse (ties never split), a cut equal to the
largest value is dropped, so there may be fewer buckets than asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.bin_edges import _ExactOrSketch
from calibcli.errors import UsageError
from calibcli.stats.kll import DEFAULT_K, normalized_rank_error
from calibcli.subgroups.keys import ALL, GroupSpec, is_numeric, numeric_values, type_name

DEFAULT_EDGE_DISTINCT = 1_000_000  # distinct values per binned column kept exactly


@dataclass(frozen=True)
class ColumnCuts:
    """Quantile cut points of one column and how they were found."""

    column: str
    n_bins: int
    cuts: np.ndarray  # ascending interior cut points (len <= n_bins - 1)
    lo: float  # smallest and largest value seen (for the bucket labels)
    hi: float
    exact: bool
    rank_error: float | None

    def label(self, j: int) -> str:
        """Bucket ``j`` in words: ``[lo, cut0]``, ``(cut0, cut1]``, ..., ``(cutN, hi]``.

        >>> ColumnCuts("age", 3, np.array([30.0, 50.0]), 18.0, 79.0, True, None).label(1)
        '(30, 50]'
        """
        lo = self.lo if j == 0 else self.cuts[j - 1]
        hi = self.cuts[j] if j < len(self.cuts) else self.hi
        return f"{'[' if j == 0 else '('}{_num(lo)}, {_num(hi)}]"

    def note(self) -> str:
        how = "exact order statistics" if self.exact else f"a KLL sketch (normalized rank error {self.rank_error:.2g})"
        return (f"{self.column}: {len(self.cuts) + 1} equal-mass buckets (asked {self.n_bins}; ties never split) from {how}; "
                "bucket j holds cut[j-1] < v <= cut[j]")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def cuts_from_counts(values: np.ndarray, counts: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior cut points: cut ``j`` (1..n_bins-1) is the smallest value with ``C_i * n_bins >= j * N``.

    >>> cuts_from_counts(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 1, 1]), 2).tolist()
    [2.0]
    >>> cuts_from_counts(np.array([1.0, 2.0]), np.array([9, 1]), 4).tolist()
    [1.0]
    """
    counts = np.asarray(counts, dtype=np.int64)
    keep = counts > 0
    values, counts = values[keep], counts[keep]
    if values.size == 0:
        return np.empty(0)
    cum = np.cumsum(counts)
    total = int(cum[-1])
    j = np.arange(1, n_bins, dtype=np.int64)
    idx = np.searchsorted(cum * n_bins, j * total, side="left")  # first i with C_i * n >= j * N
    cuts = np.unique(values[np.minimum(idx, values.size - 1)])
    return cuts[cuts < values[-1]]


class GroupEdgeState:
    """Values of every ``--by`` column to cut into quantile buckets (a pass consumer; see the module docstring)."""

    def __init__(self, spec: GroupSpec, max_distinct: int = DEFAULT_EDGE_DISTINCT, sketch_k: int = DEFAULT_K, seed: int = 0):
        self.spec = spec
        self.max_distinct, self.sketch_k, self.seed = int(max_distinct), int(sketch_k), int(seed)
        self.tables: dict[str, _ExactOrSketch] = {}
        self.lo: dict[str, float] = {}
        self.hi: dict[str, float] = {}
        self.not_numeric: dict[str, str] = {}  # column -> its type, where --by-bins named it

    def update(self, batch) -> "GroupEdgeState":
        for c in self.spec.columns:
            n = self.spec.bins_of(c)
            if n is None or batch.extra is None:
                continue
            arr = batch.extra[c]
            if not is_numeric(_value_type(arr)):
                if c in self.spec.bins:  # named explicitly: must be numbers
                    self.not_numeric[c] = type_name(_value_type(arr))
                continue
            v = numeric_values(arr)
            v = v[~np.isnan(v)]
            t = self.tables.get(c)
            if t is None:
                t = self.tables[c] = _ExactOrSketch(self.max_distinct, self.sketch_k, self.seed)
            if v.size:
                t.update(v)
                self.lo[c] = min(self.lo.get(c, np.inf), float(v.min()))
                self.hi[c] = max(self.hi.get(c, -np.inf), float(v.max()))
        return self

    def merge(self, other: "GroupEdgeState") -> "GroupEdgeState":
        """Add the values of ``other`` (a replica fed other rows), in place."""
        for c, t in other.tables.items():
            self.tables[c] = self.tables[c].merged(t) if c in self.tables else t
        for c, v in other.lo.items():
            self.lo[c] = min(self.lo.get(c, np.inf), v)
        for c, v in other.hi.items():
            self.hi[c] = max(self.hi.get(c, -np.inf), v)
        self.not_numeric.update(other.not_numeric)
        return self

    def finalize(self) -> dict[str, ColumnCuts]:
        """Cut points per numeric column (``UsageError`` when ``--by-bins COL=N`` names a column that is not numbers)."""
        for c, t in self.not_numeric.items():
            raise UsageError(f"--by-bins: the column '{c}' holds {t}, not numbers, so it has no quantile buckets. "
                             f"Drop '{c}=' from --by-bins to group it by its values"
                             + (", or use --by-time for timestamps." if t == "timestamps" else "."))
        out = {}
        for c, t in self.tables.items():
            n = self.spec.bins_of(c)
            t._flush()
            r = t.table.finalize()
            if r.exact:
                cuts, exact, err = cuts_from_counts(r.values, r.rows, n), True, None
            else:
                q = t.sketch.finalize().quantile(np.arange(1, n) / n)
                cuts = np.unique(np.asarray(q, dtype=np.float64))
                cuts = cuts[cuts < self.hi[c]]
                exact, err = False, normalized_rank_error(self.sketch_k)
            out[c] = ColumnCuts(c, n, cuts, self.lo.get(c, np.nan), self.hi.get(c, np.nan), exact, err)
        if ALL in self.spec.bins and not out and not self.spec.bins.keys() - {ALL}:
            raise UsageError(f"--by-bins {self.spec.bins[ALL]}: none of the --by columns ({', '.join(self.spec.columns)}) "
                             "holds numbers; --by-bins cuts a numeric column into quantile buckets.")
        return out


def _value_type(arr):
    import pyarrow as pa

    t = arr.type
    return t.value_type if pa.types.is_dictionary(t) else t
