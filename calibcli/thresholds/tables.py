"""Count tables: per distinct score (or bucket of scores) the positives and negatives, in bounded memory.

A :class:`CountTable` is a partial state (``update``, ``merge``, ``finalize``,
``to_arrays``) for one binary problem. While the distinct scores fit its budget
it holds one entry per distinct score: the exact table every objective needs.
Past the budget it does not give up: it *coarsens*. Each score has an
order-preserving 64-bit key (its float bits, negatives flipped); at shift ``s``
the entries are the groups of equal ``key >> s``, and the table keeps the
smallest shift whose groups fit the budget. An entry always holds exact counts
and the exact lowest and highest score of its rows, so the candidate threshold
at an entry's lower edge is exact; only thresholds *inside* an entry are
unknown, and :mod:`calibcli.thresholds.refine` gathers those in further passes
where they can matter.

The result does not depend on how rows are batched, ordered or partitioned: the
counts are sums, the edges minima and maxima, and the shift is the smallest one
whose groups of *all* rows fit the budget (a subset of rows never needs a larger
shift than the whole, and the table only coarsens when a subset needs it).

Optionally each entry also keeps the minimum and maximum of a *companion* score
of its rows (the calibrated score of raw-score entries and vice versa), which
makes the threshold on the other scale exact (:func:`equivalent_on_other_scale`).

Memory: at most ``2 * budget`` entries (plus one batch) of 24 to 56 bytes while
updating: each batch adds a sorted run, and the runs are merged (one merge of
sorted runs) only when they hold more than twice the budget, so a batch costs
O(batch log batch) plus amortised merges; ``budget`` entries after ``finalize``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.base import Arrays, scalar

DEFAULT_MAX_DISTINCT = 1 << 18  # entries over all tables of a pass: 262,144 x 24 to 56 bytes = 6 to 15 MB (about 4x while merging)
MAX_SHIFT = 63
_SIGN_FLIP = np.int64(0x7FFFFFFFFFFFFFFF)
_FIELDS = ("lo", "hi", "rid", "pos", "neg", "cmin", "cmax")


def order_keys(scores: np.ndarray) -> np.ndarray:
    """Order-preserving int64 keys of finite float64 scores (``-0.0`` and ``0.0`` share one key).

    >>> k = order_keys(np.array([-1.5, -0.0, 0.0, 2.0**-1074, 3.0]))
    >>> bool(np.all(np.diff(k) >= 0)), int(k[1]) == int(k[2])
    (True, True)
    """
    keys = np.asarray(scores, dtype=np.float64) + 0.0  # a fresh array; + 0.0 turns -0.0 into 0.0
    keys = keys.view(np.int64)
    neg = keys < 0
    keys[neg] ^= _SIGN_FLIP
    return keys


def scores_of(keys: np.ndarray) -> np.ndarray:
    """The scores of :func:`order_keys` keys (its inverse, up to the sign of zero)."""
    k = np.array(keys, dtype=np.int64, copy=True)
    neg = k < 0
    k[neg] ^= _SIGN_FLIP
    return k.view(np.float64)


@dataclass(frozen=True)
class Segments:
    """A finalized table: entries in ascending score order.

    ``lo`` and ``hi`` are the lowest and highest score of each entry's rows (equal
    for an exact entry), ``pos`` and ``neg`` its counts, ``cmin``/``cmax`` the range
    of the companion score (``None`` without one) and ``shift`` the table's shift
    (0: every entry is one distinct score).
    """

    lo: np.ndarray
    hi: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    cmin: np.ndarray | None
    cmax: np.ndarray | None
    shift: int

    @property
    def exact(self) -> bool:
        return self.hi is self.lo or bool(np.all(self.lo == self.hi))


def _size(run: dict) -> int:
    return int(run["lo"].size)


def _starts(run: dict, shift: int) -> np.ndarray:
    """First entry of each group of equal ``(key >> shift, range id)``; entries sorted by ``lo``."""
    lo = run["lo"]
    if lo.size == 0:
        return np.empty(0, dtype=np.int64)
    g = lo >> np.int64(shift) if shift else lo
    change = g[1:] != g[:-1]
    if run["rid"] is not None:
        change |= run["rid"][1:] != run["rid"][:-1]
    return np.concatenate(([0], np.flatnonzero(change) + 1))


def _reduce(run: dict, shift: int, starts: np.ndarray | None = None) -> dict:
    """Entries merged into their groups at ``shift``."""
    starts = _starts(run, shift) if starts is None else starts
    if starts.size == _size(run):
        return run
    lo = run["lo"][starts]
    same = run["hi"] is run["lo"] and shift == 0  # one score per entry: hi is lo, no second array
    out = {"lo": lo, "hi": lo if same else np.maximum.reduceat(run["hi"], starts),
           "rid": None if run["rid"] is None else run["rid"][starts],
           "pos": np.add.reduceat(run["pos"], starts), "neg": np.add.reduceat(run["neg"], starts),
           "cmin": None, "cmax": None}
    if run["cmin"] is not None:
        out["cmin"] = np.minimum.reduceat(run["cmin"], starts)
        out["cmax"] = np.maximum.reduceat(run["cmax"], starts)
    return out


def _concat(runs: list[dict]) -> dict:
    """Runs (each sorted by ``lo``) as one run sorted by ``lo``, not yet reduced."""
    if len(runs) == 1:
        return runs[0]
    same = all(r["hi"] is r["lo"] for r in runs)
    cat = {f: (None if runs[0][f] is None or (f == "hi" and same) else np.concatenate([r[f] for r in runs]))
           for f in _FIELDS}
    order = np.argsort(cat["lo"], kind="stable")  # a merge of sorted runs (timsort): O(n log runs)
    out = {f: (None if v is None else v[order]) for f, v in cat.items()}
    if same:
        out["hi"] = out["lo"]
    return out


def _empty(ranges: bool, companion: bool) -> dict:
    i, f = np.empty(0, dtype=np.int64), np.empty(0)
    return {"lo": i, "hi": i.copy(), "rid": i.copy() if ranges else None, "pos": i.copy(), "neg": i.copy(),
            "cmin": f if companion else None, "cmax": f.copy() if companion else None}


def _batch_run(keys: np.ndarray, positive: np.ndarray, rid: np.ndarray | None, other: np.ndarray | None) -> dict:
    """One entry per distinct key of a batch (shift 0)."""
    n = keys.size
    fast = rid is None and other is None and n and -(1 << 62) <= keys.min() and keys.max() < (1 << 62)
    if fast:  # one int64 sort of key << 1 | label, several times faster than argsort (as in the old curves)
        keys = keys << np.int64(1)
        np.bitwise_or(keys, positive, out=keys)
        keys.sort()
        labels = keys & np.int64(1)
        keys >>= np.int64(1)
    else:
        order = np.argsort(keys, kind="stable")
        keys, labels = keys[order], positive[order].astype(np.int64)
        rid = None if rid is None else rid[order]
        other = None if other is None else other[order]
    inner = np.flatnonzero(keys[1:] != keys[:-1])
    m = inner.size + 1
    ends = np.empty(m, dtype=np.int64)
    ends[:-1] = inner
    ends[-1] = n - 1
    starts = np.empty(m, dtype=np.int64)
    starts[0] = 0
    np.add(ends[:-1], 1, out=starts[1:])
    below = np.cumsum(labels, out=labels)[ends]  # positives up to each block's last row
    pos = np.empty(m, dtype=np.int64)
    pos[0] = below[0]
    np.subtract(below[1:], below[:-1], out=pos[1:])
    rows = np.empty(m, dtype=np.int64)
    rows[0] = ends[0] + 1
    np.subtract(ends[1:], ends[:-1], out=rows[1:])
    u = keys[starts]
    run = {"lo": u, "hi": u, "rid": None if rid is None else rid[starts], "pos": pos,
           "neg": rows - pos, "cmin": None, "cmax": None}
    if other is not None:
        run["cmin"] = np.minimum.reduceat(other, starts)
        run["cmax"] = np.maximum.reduceat(other, starts)
    return run


class CountTable:
    """Exact-or-coarsened count table of one binary problem (see the module docstring).

    Parameters
    ----------
    budget : int
        Most entries kept after ``finalize`` (at least 2).
    ranges : (ndarray, ndarray), optional
        Closed score ranges ``[lo_k, hi_k]`` (ascending, disjoint): only rows inside
        them are counted, and no entry spans two ranges. Used to gather exact
        scores inside chosen buckets. At most ``budget // 2`` ranges.
    companion : bool
        Keep the range of a companion score per entry (``update(..., other=)``).

    Examples
    --------
    >>> t = CountTable().update(np.array([0.3, 0.7, 0.3]), np.array([True, False, False]))
    >>> s = t.finalize()
    >>> s.lo.tolist(), s.pos.tolist(), s.neg.tolist(), s.shift
    ([0.3, 0.7], [1, 0], [1, 1], 0)
    >>> c = CountTable(budget=2).update(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1, 0, 1, 1], dtype=bool)).finalize()
    >>> int(c.pos.sum() + c.neg.sum()), c.lo.size <= 2, c.shift > 0
    (4, True, True)
    """

    def __init__(self, budget: int = DEFAULT_MAX_DISTINCT, ranges: tuple[np.ndarray, np.ndarray] | None = None,
                 companion: bool = False):
        if budget < 2:
            raise ValueError(f"budget must be at least 2, got {budget}")
        self.budget = int(budget)
        self.companion = bool(companion)
        self.ranges = None
        if ranges is not None:
            lo, hi = (order_keys(np.atleast_1d(np.asarray(r, dtype=np.float64))) for r in ranges)
            if lo.size > self.budget // 2:
                raise ValueError(f"at most budget // 2 = {self.budget // 2} ranges, got {lo.size}")
            if lo.size and (np.any(hi < lo) or np.any(lo[1:] <= hi[:-1])):
                raise ValueError("ranges must be ascending and disjoint")
            self.ranges = (lo, hi)
        self.shift = 0
        self.total_rows = 0
        self.runs: list[dict] = []

    @property
    def size(self) -> int:
        """Entries held now (before compaction)."""
        return sum(_size(r) for r in self.runs)

    def update(self, scores, positive, other=None) -> "CountTable":
        """Add a batch: finite scores (n,), positive (n,) bool, companion scores (n,) when ``companion``."""
        keys = order_keys(np.asarray(scores, dtype=np.float64).reshape(-1))
        y = np.asarray(positive, dtype=bool).reshape(-1)
        if y.shape != keys.shape:
            raise ValueError(f"scores {keys.shape} and positive {y.shape} must have the same shape")
        if self.companion:
            if other is None:
                raise ValueError("this table keeps a companion score: pass other=")
            other = np.asarray(other, dtype=np.float64).reshape(-1)
        else:
            other = None
        rid = None
        if self.ranges is not None:
            lo, hi = self.ranges
            idx = np.searchsorted(lo, keys, side="right") - 1
            inside = (idx >= 0) & (keys <= hi[np.maximum(idx, 0)])
            keys, y, rid = keys[inside], y[inside], idx[inside]
            other = None if other is None else other[inside]
        self.total_rows += int(keys.size)
        if keys.size == 0:
            return self
        run = _batch_run(keys, y, rid, other)
        self._push(_reduce(run, self.shift) if self.shift else run)
        return self

    def _push(self, run: dict) -> None:
        """Keep the batch's run; merge every run into one when they hold more than twice the budget."""
        self.runs.append(run)
        if self.size > 2 * self.budget:
            self.runs = [self._compacted()]

    def _compacted(self) -> dict:
        """All runs as one run within the budget; raises ``self.shift`` when needed."""
        if not self.runs:
            return _empty(self.ranges is not None, self.companion)
        # every run is already reduced at self.shift: one run needs no work
        run = self.runs[0] if len(self.runs) == 1 else _reduce(_concat(self.runs), self.shift)
        if _size(run) > self.budget:
            lo_s, hi_s = self.shift, MAX_SHIFT  # the smallest shift whose groups fit: bisection
            while lo_s < hi_s:
                mid = (lo_s + hi_s) // 2
                if _starts(run, mid).size <= self.budget:
                    hi_s = mid
                else:
                    lo_s = mid + 1
            self.shift = lo_s
            run = _reduce(run, self.shift)
        return run

    def merge(self, other: "CountTable") -> "CountTable":
        """A new table for the rows of both (same budget, ranges and companion)."""
        if not isinstance(other, CountTable) or (self.budget, self.companion) != (other.budget, other.companion):
            raise ValueError("cannot merge count tables with different budgets or companions")
        same = (self.ranges is None and other.ranges is None) or (
            self.ranges is not None and other.ranges is not None
            and all(np.array_equal(a, b) for a, b in zip(self.ranges, other.ranges)))
        if not same:
            raise ValueError("cannot merge count tables over different ranges")
        out = CountTable(self.budget, companion=self.companion)
        out.ranges = self.ranges
        out.shift = max(self.shift, other.shift)
        out.total_rows = self.total_rows + other.total_rows
        out.runs = [_reduce(r, out.shift) for r in (*self.runs, *other.runs)]
        out.runs = [out._compacted()]
        return out

    def finalize(self) -> Segments:
        """The entries in ascending order (the state is left as it was, compacted)."""
        self.runs = [self._compacted()]
        run = self.runs[0]
        lo = scores_of(run["lo"])
        hi = lo if run["hi"] is run["lo"] else scores_of(run["hi"])
        return Segments(lo, hi, run["pos"], run["neg"], run["cmin"], run["cmax"], self.shift)  # arrays of a run are never changed in place: no copies needed

    def to_arrays(self) -> Arrays:
        run = self._compacted()
        out: Arrays = {"budget": self.budget, "companion": self.companion, "shift": self.shift,
                       "total_rows": self.total_rows, "has_ranges": self.ranges is not None}
        if self.ranges is not None:
            out["range_lo"], out["range_hi"] = self.ranges[0].copy(), self.ranges[1].copy()
        for f in _FIELDS:
            if run[f] is not None:
                out[f] = run[f].copy()
        return out

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "CountTable":
        out = cls(int(scalar(arrays["budget"])), companion=bool(scalar(arrays["companion"])))
        if bool(scalar(arrays["has_ranges"])):
            out.ranges = (np.asarray(arrays["range_lo"], dtype=np.int64), np.asarray(arrays["range_hi"], dtype=np.int64))
        out.shift = int(scalar(arrays["shift"]))
        out.total_rows = int(scalar(arrays["total_rows"]))
        run = {f: (np.asarray(arrays[f]) if f in arrays else None) for f in _FIELDS}
        if run["lo"] is not None and run["lo"].size:
            out.runs = [run]
        return out


# --------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class Curve:
    """Cumulative counts for "flag the top j distinct scores", j = 0..m.

    ``u`` holds the distinct scores, highest first; ``tp[j]`` and ``fp[j]`` count
    positives and negatives with ``score >= u[j - 1]`` (``tp[0] = fp[0] = 0``).
    Counts are float64 (exact for integers below 2**53), ready for the rates.
    On a curve of buckets (:class:`calibcli.thresholds.refine.Known`) ``u`` holds
    each bucket's lowest score and the candidates are the bucket edges.
    """

    u: np.ndarray
    tp: np.ndarray
    fp: np.ndarray

    @property
    def n_pos(self) -> int:
        return int(self.tp[-1])

    @property
    def n_neg(self) -> int:
        return int(self.fp[-1])

    def threshold_at(self, j: np.ndarray | int) -> np.ndarray:
        """Score value of candidate ``j`` (``inf`` for j = 0)."""
        j = np.asarray(j)
        return np.where(j == 0, np.inf, self.u[np.maximum(j, 1) - 1])


def curve_from(u_desc: np.ndarray, pos_desc: np.ndarray, neg_desc: np.ndarray) -> Curve:
    """The curve of entries given highest first."""
    tp = np.concatenate(([0.0], np.cumsum(pos_desc, dtype=np.float64)))
    fp = np.concatenate(([0.0], np.cumsum(neg_desc, dtype=np.float64)))
    return Curve(u=np.ascontiguousarray(u_desc, dtype=np.float64), tp=tp, fp=fp)


def build_curve(scores: np.ndarray, positive: np.ndarray) -> Curve:
    """Sort once and count: the confusion matrix at every distinct score (all rows in memory).

    Parameters
    ----------
    scores : ndarray of shape (n,), finite
    positive : ndarray of shape (n,), bool

    Examples
    --------
    >>> c = build_curve(np.array([0.2, 0.9, 0.9, 0.5]), np.array([False, True, False, True]))
    >>> c.u.tolist(), c.tp.tolist(), c.fp.tolist()
    ([0.9, 0.5, 0.2], [0.0, 1.0, 2.0, 2.0], [0.0, 1.0, 1.0, 2.0])
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    seg = CountTable(budget=max(2, scores.size)).update(scores, positive).finalize()
    return curve_from(seg.lo[::-1], seg.pos[::-1], seg.neg[::-1])
