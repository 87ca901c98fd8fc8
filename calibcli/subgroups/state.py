"""``GroupedMeasure``: a :class:`~calibcli.measure.MeasureState` per subgroup, in one pass.

A pass consumer (engine contract): ``update(batch)`` splits the batch's rows by their
group key (the ``--by`` columns' values, buckets or periods: :mod:`calibcli.subgroups.keys`)
and feeds each group's rows to that group's state; ``merge(other)`` adds the states of
``other`` key by key (union of keys), in place. Its size is bounded by the number of
groups (at most ``max_groups`` per ``--by`` column and per intersection: beyond it a
``UsageError`` names the column), never by the number of rows; each group's state keeps
its bootstrap sums in ``n_blocks`` blocks (fewer blocks when there are many classes, so one
group's state stays near ``GROUP_STATE_BYTES``).
"""

from __future__ import annotations

import numpy as np

from calibcli.engine.batches import Batch
from calibcli.errors import UsageError
from calibcli.measure import DEFAULT_REPLICATES, MeasureState
from calibcli.subgroups.keys import (
    GroupSpec,
    bucket_of,
    check_groupable,
    is_numeric,
    is_temporal,
    numeric_values,
    period_starts,
    type_name,
    value_codes,
)

GROUP_STATE_BYTES = 128 * 1024  # target size of one group's bootstrap block sums
MAX_GROUP_BLOCKS = 32
MIN_GROUP_BLOCKS = 8  # fewer blocks than this: no per-group intervals


def group_blocks(n_classes: int, n_bins: int) -> int:
    """Bootstrap blocks per group: the most (a power of two <= 32) whose block sums fit
    ``GROUP_STATE_BYTES`` (5 sums of 8 bytes per block, bin and curve); 0 (no intervals) below 8.

    >>> group_blocks(2, 15), group_blocks(10, 15), group_blocks(1000, 15)
    (32, 16, 0)
    """
    per_block = 40 * (n_classes + 1) * n_bins
    m = MAX_GROUP_BLOCKS
    while m >= MIN_GROUP_BLOCKS and m * per_block > GROUP_STATE_BYTES:
        m //= 2
    return m if m >= MIN_GROUP_BLOCKS else 0


class GroupedMeasure:
    """Per-group measurement states keyed by the group's key (see the module docstring).

    Parameters
    ----------
    spec : GroupSpec
    task, classes, edges : as :class:`~calibcli.measure.MeasureState` (the audit's bins).
    cuts : dict of column -> :class:`~calibcli.subgroups.edges.ColumnCuts` (``--by-bins``; from the first pass)
    seed, key_on_ids : the audit's bootstrap seed and keying.
    n_blocks : bootstrap blocks per group (default :func:`group_blocks`); 0: no intervals.
    """

    def __init__(self, spec: GroupSpec, task, classes, edges, cuts: dict | None = None, seed: int = 0,
                 key_on_ids: bool = False, n_blocks: int | None = None):
        self.spec, self.task, self.classes, self.edges = spec, task, tuple(classes), edges
        self.cuts = dict(cuts or {})
        self.seed, self.key_on_ids = int(seed), bool(key_on_ids)
        self.n_blocks = group_blocks(len(self.classes), len(edges.top) - 1) if n_blocks is None else int(n_blocks)
        self.states: dict[tuple, MeasureState] = {}
        self.seen: dict[str, set] = {c: set() for c in spec.columns}  # distinct key components per column
        self.kinds: dict[str, set] = {c: set() for c in spec.columns}  # 'values' | 'buckets' | 'periods'
        self.zones: dict[str, set] = {c: set() for c in spec.columns}  # '' (naive) or zone names, periods only

    def _new_state(self) -> MeasureState:
        return MeasureState(self.task, self.classes, self.edges, DEFAULT_REPLICATES if self.n_blocks else 0, self.seed,
                            self.key_on_ids, n_blocks=self.n_blocks)

    # -- keys of one batch
    def _column(self, col: str, arr) -> tuple[np.ndarray, list]:
        """(per-row code, key component of each code) of one column of a batch."""
        import pyarrow as pa

        t = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
        check_groupable(col, arr.type)
        freq = self.spec.freq_of(col)
        if freq is not None and is_temporal(t):
            ns, missing, tz = period_starts(arr, freq)
            self.kinds[col].add("periods")
            self.zones[col].add(tz)
            u, inv = np.unique(ns, return_inverse=True)
            comps: list = [int(x) for x in u]
            inv = inv.reshape(-1).astype(np.int64)
            if missing.any():
                comps.append(None)
                inv[missing] = len(comps) - 1
            return inv, comps
        if freq is not None and col in self.spec.freq:
            raise UsageError(f"--by-time: the column '{col}' holds {type_name(t)}, not timestamps. calib floors "
                             "timestamp and date columns (Parquet/Arrow timestamps; ISO 8601 text such as "
                             "2024-01-31T12:00:00 in CSV and JSON Lines is read as timestamps).")
        if col in self.cuts and is_numeric(t):
            b = bucket_of(numeric_values(arr), self.cuts[col].cuts)
            self.kinds[col].add("buckets")
            n_b = len(self.cuts[col].cuts) + 1
            comps = list(range(n_b)) + [None]
            b[b < 0] = n_b
            return b, comps
        self.kinds[col].add("values")
        return value_codes(arr)

    def update(self, batch: Batch) -> "GroupedMeasure":
        """Add one batch: each group's rows to its state (in place)."""
        if batch.n_rows == 0:
            return self
        if batch.extra is None:
            raise ValueError("grouping needs batches read with LoadOptions.extra_cols (Batch.extra)")
        codes, comps = [], []
        for col in self.spec.columns:
            c, k = self._column(col, batch.extra[col])
            codes.append(c)
            comps.append(k)
        if len(codes) == 1:
            inv = codes[0]
            uniq = np.unique(inv)
            firsts = [(int(u),) for u in uniq]
            inv = np.searchsorted(uniq, inv)
        else:
            stacked = np.stack(codes, axis=1)
            u, inv = np.unique(stacked, axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            firsts = [tuple(int(x) for x in row) for row in u]
        keys = [tuple(comps[j][code[j]] for j in range(len(code))) for code in firsts]
        self._admit(keys)
        if len(keys) == 1:
            self.states.setdefault(keys[0], self._new_state()).update(batch)
            return self
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(len(keys) + 1))
        for g, key in enumerate(keys):
            idx = order[bounds[g]:bounds[g + 1]]
            sub = Batch(batch.predictions.subset(idx), batch.rows[idx], None if batch.ids is None else batch.ids[idx])
            self.states.setdefault(key, self._new_state()).update(sub)
        return self

    # -- the budget
    def _admit(self, keys) -> None:
        """Count new keys against the budget (``UsageError`` naming the column beyond it)."""
        for j, col in enumerate(self.spec.columns):
            self.seen[col].update(k[j] for k in keys)
        self._check_budget(sum(1 for k in set(keys) if k not in self.states))

    def _check_budget(self, new: int = 0) -> None:
        m = self.spec.max_groups
        for col in self.spec.columns:
            if len(self.seen[col]) > m:
                raise UsageError(self._too_many(col))
        if len(self.states) + new > m:
            counts = ", ".join(f"{c}: {len(self.seen[c])}" for c in self.spec.columns)
            raise UsageError(f"--by {' --by '.join(self.spec.columns)}: more than {m} groups in the intersection "
                             f"(distinct values so far: {counts}). Group by fewer columns, cut a numeric column into "
                             f"quantile buckets with --by-bins N, or raise --max-groups.")

    def _too_many(self, col: str) -> str:
        m = self.spec.max_groups
        kinds = self.kinds[col]
        if "periods" in kinds:
            fix = "Use a coarser period (e.g. --by-time 1W or 1M)"
        else:
            fix = (f"If '{col}' is numeric, cut it into quantile buckets with --by-bins 10 (or --by-bins {col}=10); "
                   f"if it holds timestamps, floor them with --by-time 1D; otherwise group by a coarser column")
        return (f"--by {col}: more than {m} distinct values (the budget of groups per column). {fix}, "
                f"or raise --max-groups.")

    # -- merge
    def merge(self, other: "GroupedMeasure") -> "GroupedMeasure":
        """Add the groups of ``other`` (a replica fed other rows), key by key, in place."""
        for key, st in other.states.items():
            mine = self.states.get(key)
            self.states[key] = st if mine is None else mine.merge(st)
        for col in self.spec.columns:
            self.seen[col] |= other.seen[col]
            self.kinds[col] |= other.kinds[col]
            self.zones[col] |= other.zones[col]
        self._check_budget()
        return self
