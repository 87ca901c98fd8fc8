"""``BinStats``: weighted binned sums per bin, per group and per bootstrap replicate.

One state holds, for every group ``g`` (a curve: the top-label curve, or one class
of a one-vs-rest family) and bin ``b``, the row count and the sums of ``w``,
``w * conf`` and ``w * outcome``; with ``moments=2`` also ``w**2``, ``w * conf**2``
and ``w * outcome**2`` (for debiased and L2 estimators). With ``n_replicates = R``
it also holds ``R`` copies of the first three sums, each row weighted by its
bootstrap weight (see :func:`calibcli.stats.rng.poisson1_weights`).

The grouped bootstrap (``n_blocks = M > 0``, the default of the audit): every row
belongs to one of ``M`` bootstrap blocks (a fixed random partition of the row
keys, :func:`calibcli.stats.rng.group_of`), and the state keeps its sums per
block, ``(G, M, B)``: the row count and the sums of ``w``, ``w*c``, ``w*y``,
``w*c**2`` and ``w*c*y`` (``blocks``). One ``bincount`` over (group, block, bin)
fills them; the totals (``count``, ``sums``) are their sums over blocks.
Replicate ``r`` weighs block ``m`` by a Poisson(1) draw keyed on ``(seed, r, m)``
(:func:`calibcli.stats.rng.group_poisson1_weights`), so any statistic that is a
function of per-bin sums gets its replicate values at finalize
(:meth:`BinStats.block_replicates`: one matrix product), for any seed and number
of replicates, without another pass.

Bins follow the project's rule (``calibcli.binning.assign_bins``): a confidence goes
to the bin with ``lo < c <= hi``; the first bin also takes its lower edge.
Equal-width edges come from :meth:`BinStats.uniform`; quantile edges are passed in
explicitly (see :func:`calibcli.stats.distinct.quantile_edges_from_counts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.binning import BLOCK_ROWS, assign_bins, uniform_edges
from calibcli.stats.base import Arrays, scalar

_FIRST = ("sum_w", "sum_wc", "sum_wy")
_SECOND = ("sum_w2", "sum_wcc", "sum_wyy")
_REPLICATE = ("rep_w", "rep_wc", "rep_wy")
_BLOCK = ("n", "w", "wc", "wy", "wcc", "wcy")  # per (group, block, bin): rows, sums of w, w*c, w*y, w*c*c, w*c*y


def curve_errors(w: np.ndarray, wc: np.ndarray, wy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECE, MCE and L2-ECE over the last (bin) axis from per-bin sums.

    ECE = sum_b |wy_b - wc_b| / sum_b w_b; MCE = max over bins with w_b > 0 of
    |wy_b / w_b - wc_b / w_b|; L2-ECE = sqrt(sum_b w_b (wy_b/w_b - wc_b/w_b)**2 / sum_b w_b).
    A curve without weight gives NaN for all three.

    >>> [round(float(x), 12) for x in curve_errors(np.array([2.0, 2.0]), np.array([0.4, 1.6]), np.array([0.0, 2.0]))]
    [0.2, 0.2, 0.2]
    """
    total = w.sum(axis=-1)
    has = total > 0
    safe_total = np.where(has, total, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ece = np.where(has, np.abs(wy - wc).sum(axis=-1) / safe_total, np.nan)
        nonempty = w > 0
        safe_w = np.where(nonempty, w, 1.0)
        gap = np.abs(np.where(nonempty, wy / safe_w, np.nan) - np.where(nonempty, wc / safe_w, np.nan))
        mce = np.where(has, np.where(nonempty, gap, -np.inf).max(axis=-1, initial=-np.inf), np.nan)
        l2 = np.where(has, np.sqrt(np.where(nonempty, w * gap * gap, 0.0).sum(axis=-1) / safe_total), np.nan)
    return ece, mce, l2


REPLICATE_CELLS = 1 << 21  # entries x replicates gathered at a time (16 MB of float64)


def _replicate_bin_sums(flat: np.ndarray, per_row: int, every_group: bool, values: np.ndarray, row_w: np.ndarray,
                        size: int) -> np.ndarray:
    """Per flat bin and replicate: sum of w, w * c and w * y over the entries in the bin.

    ``flat`` (m,) is each entry's flat bin ``g * B + b``; entry ``e`` belongs to row
    ``e // per_row`` (``per_row`` = G for one entry per group per row, else 1); ``every_group``:
    every row has an entry in every group (2-D confidences, or a single group);
    ``values`` (m, 2) holds (c, y) per entry; ``row_w`` (n, R) the weights of each row.

    Entries are sorted by bin once and each run of equal bins is one small matrix
    product ``[1, c, y]^T @ W``. When every row has an entry in every group, the
    most populated bin of each group is left out of that gather and obtained as
    the group's total (one matrix product over all rows) minus its other bins: most
    one-vs-rest entries sit in one bin (near 0), so the weights are gathered for few
    entries. Returns (size, 3, R).
    """
    m, r = flat.size, row_w.shape[1]
    out = np.zeros((size, 3, r))
    if m == 0 or r == 0:
        return out
    vals = np.empty((m, 3))
    vals[:, 0] = 1.0
    vals[:, 1:] = values
    dominant = None
    if every_group:
        n_groups = per_row
        n_bins = size // n_groups
        counts = np.bincount(flat, minlength=size).reshape(n_groups, n_bins)
        dominant = counts.argmax(axis=1) + np.arange(n_groups) * n_bins  # flat bin of each group left out
        totals = np.einsum("ij,ik->jk", vals.reshape(-1, n_groups * 3), row_w).reshape(n_groups, 3, r)
        keep = np.flatnonzero(flat != np.tile(dominant, m // n_groups))
    else:
        keep = np.arange(m)
    presorted = dominant is None and bool(np.all(flat[1:] >= flat[:-1]))  # rows already in bin order: no gather
    order = keep if presorted else keep[np.argsort(flat[keep], kind="stable")]
    bins = flat[order]
    rows = order // per_row if per_row > 1 else order
    step = max(1, REPLICATE_CELLS // r)
    for a in range(0, order.size, step):
        b = min(order.size, a + step)
        w = row_w[a:b] if presorted else row_w[rows[a:b]]
        v = vals[a:b] if presorted else vals[order[a:b]]
        cuts = np.flatnonzero(bins[a + 1:b] != bins[a:b - 1]) + 1
        for s, e in zip(np.r_[0, cuts], np.r_[cuts, b - a]):
            out[bins[a + s]] += np.einsum("ij,ik->jk", v[s:e], w[s:e])  # numpy's loop: steadier than BLAS at M = 3
    if dominant is not None:
        others = out.reshape(n_groups, -1, 3, r).sum(axis=1)  # the dominant bins are still zero here
        out[dominant] = totals - others
    return out


@dataclass(frozen=True)
class BinResult:
    """Finalised binned statistics; arrays have a leading group axis ``(G, ...)``.

    Empty bins (no weight) have count 0 (or the rows of zero weight) and NaN means.
    ``replicate_*`` are ``(G, R)`` (``R = 0`` without replicates).
    """

    edges: np.ndarray
    count: np.ndarray  # (G, B) rows per bin (int64)
    weight: np.ndarray  # (G, B) sum of weights
    mean_conf: np.ndarray  # (G, B)
    observed: np.ndarray  # (G, B) weighted mean outcome: the accuracy of a top-label curve
    ece: np.ndarray  # (G,)
    mce: np.ndarray  # (G,)
    l2_ece: np.ndarray  # (G,)
    replicate_ece: np.ndarray  # (G, R)
    replicate_mce: np.ndarray  # (G, R)
    replicate_l2_ece: np.ndarray  # (G, R)


class BinStats:
    """Mergeable binned sums (see the module docstring); ``update`` in place, ``merge`` new.

    Parameters
    ----------
    edges : array of shape (B + 1,)
        Strictly increasing bin edges.
    n_groups : int
        Number of curves ``G``.
    n_replicates : int
        Number of bootstrap replicates ``R`` (0: none).
    moments : {1, 2}
        2 also keeps the second-moment sums.
    n_blocks : int
        Bootstrap blocks ``M`` of the grouped bootstrap (0: none); exclusive with ``n_replicates``.

    Examples
    --------
    >>> s = BinStats.uniform(2).update(np.array([0.2, 0.9, 0.7]), np.array([0, 1, 0]))
    >>> r = s.finalize()
    >>> r.count.tolist(), r.observed.round(6).tolist(), round(float(r.ece[0]), 6)
    ([[1, 2]], [[0.0, 0.5]], 0.266667)
    """

    def __init__(self, edges, n_groups: int = 1, n_replicates: int = 0, moments: int = 1, n_blocks: int = 0):
        e = np.array(edges, dtype=np.float64)
        if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
            raise ValueError("edges must be a 1-D strictly increasing finite array of at least 2 values")
        if n_groups < 1 or n_replicates < 0 or moments not in (1, 2):
            raise ValueError(f"need n_groups >= 1, n_replicates >= 0, moments in (1, 2); got {n_groups}, {n_replicates}, {moments}")
        if n_blocks < 0 or (n_blocks and n_replicates):
            raise ValueError(f"need n_blocks >= 0 and not both n_blocks and n_replicates; got {n_blocks}, {n_replicates}")
        e.flags.writeable = False
        self.edges = e
        self.n_groups, self.n_replicates, self.moments = int(n_groups), int(n_replicates), int(moments)
        self.n_blocks = int(n_blocks)
        shape = (self.n_groups, self.n_bins)
        self.count = np.zeros(shape, dtype=np.int64)
        self.sums = {name: np.zeros(shape) for name in self._sum_names()}
        rep_shape = (self.n_groups, self.n_replicates, self.n_bins)
        self.replicates = {name: np.zeros(rep_shape) for name in _REPLICATE}
        block_shape = (self.n_groups, self.n_blocks, self.n_bins)
        self.blocks = {name: np.zeros(block_shape) for name in (_BLOCK if self.n_blocks else ())}

    @classmethod
    def uniform(cls, n_bins: int = 15, n_groups: int = 1, n_replicates: int = 0, moments: int = 1,
                n_blocks: int = 0) -> "BinStats":
        """A state with ``n_bins`` equal-width bins on [0, 1]."""
        return cls(uniform_edges(n_bins), n_groups, n_replicates, moments, n_blocks)

    @property
    def n_bins(self) -> int:
        return self.edges.size - 1

    def _sum_names(self) -> tuple[str, ...]:
        return _FIRST + (_SECOND if self.moments == 2 else ())

    def _flat_bins(self, conf: np.ndarray, group, block=None) -> np.ndarray:
        """Index ``g * B + b`` of each confidence (same shape as ``conf``); with blocks ``(g * M + m) * B + b``."""
        idx = assign_bins(conf, self.edges)
        stride = self.n_bins * max(self.n_blocks, 1)
        if block is not None:
            idx += block * self.n_bins if conf.ndim == 1 else (block * self.n_bins)[:, None]
        g = self._group_index(conf, group)
        if conf.ndim == 2:
            idx += (np.arange(self.n_groups) * stride)[None, :]
        elif g is not None:
            idx += g * stride
        return idx

    def update(self, conf, outcome=None, weight=None, group=None, replicate_weights=None, labels=None,
               block=None) -> "BinStats":
        """Add a batch of rows (processed in cache-sized blocks of ``BLOCK_ROWS`` rows).

        Parameters
        ----------
        conf : array of shape (n,) or (n, G)
            Confidences; with two dimensions column ``g`` belongs to group ``g``.
        outcome : array, same shape as ``conf``
            Outcomes (0/1, bool, or a frequency in [0, 1]); or pass ``labels``.
        weight : array of shape (n,), optional
            Sample weights (default 1).
        group : int array of shape (n,), optional
            Group of each row when ``conf`` is 1-D (required when ``G > 1``).
        replicate_weights : array of shape (n, R), optional
            Bootstrap weights of each row (required when ``R > 0``), multiplied by ``weight``.
        labels : int array of shape (n,), optional
            One-vs-rest outcomes for 2-D ``conf``: ``outcome[:, g] = (labels == g)``, summed
            from the n true-class entries only (faster than passing the one-hot array).
        block : int array of shape (n,), optional
            Bootstrap block of each row in ``0 .. M-1`` (required when ``M > 0``;
            :func:`calibcli.stats.rng.group_of` of the row keys).
        """
        conf = np.asarray(conf)
        if conf.ndim not in (1, 2):
            raise ValueError(f"conf must be 1-D or 2-D, got shape {conf.shape}")
        n = conf.shape[0]
        if (outcome is None) == (labels is None):
            raise ValueError("pass exactly one of outcome and labels")
        y = lab = None
        if labels is not None:
            lab = np.asarray(labels)
            if conf.ndim != 2 or lab.shape != (n,):
                raise ValueError("labels (n,) need conf of shape (n, G), one column per group (one-vs-rest)")
            if n and (lab.min() < 0 or lab.max() >= self.n_groups):
                raise ValueError(f"labels must be within 0 .. {self.n_groups - 1}")
        else:
            y = np.asarray(outcome)
            if y.shape != conf.shape:
                raise ValueError(f"conf {conf.shape} and outcome {y.shape} must have the same shape")
        w = None if weight is None else np.asarray(weight, dtype=np.float64)
        if w is not None and w.shape != (n,):
            raise ValueError(f"weight has shape {w.shape}, expected ({n},)")
        rw = self._check_replicate_weights(replicate_weights, n)
        blk = self._check_block(block, n)
        for a in range(0, max(n, 1), BLOCK_ROWS):
            b = slice(a, a + BLOCK_ROWS)
            pick = lambda x: None if x is None else x[b]  # noqa: E731
            self._add_block(conf[b], pick(y), pick(lab), pick(w), pick(group), pick(rw), pick(blk))
        return self

    def _check_block(self, block, n: int) -> np.ndarray | None:
        if self.n_blocks == 0:
            if block is not None:
                raise ValueError("block given but the state has no bootstrap blocks")
            return None
        if block is None:
            raise ValueError(f"block (n,) in 0 .. {self.n_blocks - 1} is required with n_blocks = {self.n_blocks}")
        blk = np.asarray(block)
        if blk.shape != (n,) or blk.dtype.kind not in "iu":
            raise ValueError(f"block must be an integer array of shape ({n},), got {blk.dtype} {blk.shape}")
        if n and (blk.min() < 0 or blk.max() >= self.n_blocks):
            raise ValueError(f"block values must be within 0 .. {self.n_blocks - 1}")
        return blk.astype(np.intp, copy=False)

    def _check_replicate_weights(self, replicate_weights, n: int) -> np.ndarray | None:
        if self.n_replicates == 0:
            if replicate_weights is not None:
                raise ValueError("replicate_weights given but the state has no replicates")
            return None
        if replicate_weights is None:
            raise ValueError(f"replicate_weights of shape (n, {self.n_replicates}) are required")
        rw = np.asarray(replicate_weights)
        if rw.shape != (n, self.n_replicates):
            raise ValueError(f"replicate_weights has shape {rw.shape}, expected ({n}, {self.n_replicates})")
        return rw

    def _add_block(self, conf, y, labels, w, group, rw, blk=None) -> None:
        """Add one block of rows; ``y`` per entry (like ``conf``) or ``labels`` per row (one-vs-rest)."""
        if self.n_blocks:
            self._add_blocked(conf, y, labels, w, group, blk)
            return
        size, shape = self.n_groups * self.n_bins, self.count.shape
        idx = self._flat_bins(conf, group)
        flat = idx.ravel()
        per_entry = (lambda v: np.repeat(v, self.n_groups)) if conf.ndim == 2 else (lambda v: v)  # row -> entries
        c = conf.astype(np.float64, copy=False).ravel()
        wf = None if w is None else per_entry(w)
        y_at = None if labels is None else idx[np.arange(labels.shape[0]), labels]  # each row's true-class bin
        yf = None if y is None else y.astype(np.float64, copy=False).ravel()
        counts = np.bincount(flat, minlength=size)

        def bins_of(values, where=flat):
            return (counts if values is None else np.bincount(where, weights=values, minlength=size)).reshape(shape)

        def outcome_sum(row_w, entry_w, square=False):
            """sum of weight * outcome (or outcome**2) per bin."""
            if y_at is not None:  # 0/1 outcomes: outcome**2 == outcome
                return np.bincount(y_at, weights=row_w, minlength=size).reshape(shape)
            v = yf * yf if square else yf
            return bins_of(v if entry_w is None else entry_w * v)

        self.count += counts.reshape(shape)
        self.sums["sum_w"] += bins_of(wf)
        self.sums["sum_wc"] += bins_of(c if wf is None else wf * c)
        self.sums["sum_wy"] += outcome_sum(w, wf)
        if self.moments == 2:
            self.sums["sum_w2"] += bins_of(None if wf is None else wf * wf)
            self.sums["sum_wcc"] += bins_of(c * c if wf is None else wf * c * c)
            self.sums["sum_wyy"] += outcome_sum(w, wf, square=True)
        if self.n_replicates:
            row_w = rw.astype(np.float64, copy=False) if w is None else rw * w[:, None]
            if labels is not None:
                yf = np.zeros(flat.size)
                yf[np.arange(labels.shape[0]) * self.n_groups + labels] = 1.0
            per_row = self.n_groups if conf.ndim == 2 else 1
            every_group = conf.ndim == 2  # one entry per group in every row: the complement trick pays
            sums = _replicate_bin_sums(flat, per_row, every_group, np.column_stack([c, yf]), row_w, size)
            for j, name in enumerate(_REPLICATE):  # sums: (size, 3, R) -> (G, R, B)
                self.replicates[name] += sums[:, j, :].reshape(self.n_groups, self.n_bins, -1).transpose(0, 2, 1)

    def _add_blocked(self, conf, y, labels, w, group, blk) -> None:
        """``_add_block`` with bootstrap blocks: one bincount per sum over (group, block, bin).

        Large blocks of the common shapes go through the compiled kernel
        (:func:`calibcli.kernels.bins.add_blocked`: the same sums in one pass);
        this numpy code is its reference and fallback.
        """
        if self._add_blocked_compiled(conf, y, labels, w, group, blk):
            return
        m, shape = self.n_blocks, (self.n_groups, self.n_blocks, self.n_bins)
        size = self.n_groups * m * self.n_bins
        idx = self._flat_bins(conf, group, blk)
        flat = idx.ravel()
        c = conf.astype(np.float64, copy=False).ravel()
        wf = None if w is None else (np.repeat(w, self.n_groups) if conf.ndim == 2 else w)
        counts = np.bincount(flat, minlength=size)

        def bins_of(values, where=flat):
            return np.bincount(where, weights=values, minlength=size).reshape(shape)

        wc = c if wf is None else wf * c
        add = {"n": counts.reshape(shape), "w": counts.reshape(shape) if wf is None else bins_of(wf),
               "wc": bins_of(wc), "wcc": bins_of(wc * c)}
        if labels is not None:  # 0/1 outcomes: the true-class entry of each row
            rows = np.arange(labels.shape[0])
            y_at = idx[rows, labels]
            c_true = conf[rows, labels].astype(np.float64, copy=False)
            add["wy"] = bins_of(w, y_at)
            add["wcy"] = bins_of(c_true if w is None else w * c_true, y_at)
        else:
            yf = y.astype(np.float64, copy=False).ravel()
            wy = yf if wf is None else wf * yf
            add["wy"] = bins_of(wy)
            add["wcy"] = bins_of(wy * c)
        for name, v in add.items():
            self.blocks[name] += v
        self.count += add["n"].sum(axis=1)
        self.sums["sum_w"] += add["w"].sum(axis=1)
        self.sums["sum_wc"] += add["wc"].sum(axis=1)
        self.sums["sum_wy"] += add["wy"].sum(axis=1)
        if self.moments == 2:
            self.sums["sum_wcc"] += add["wcc"].sum(axis=1)
            self.sums["sum_w2"] += add["n"].sum(axis=1) if wf is None else bins_of(wf * wf).sum(axis=1)
            self.sums["sum_wyy"] += add["wy"].sum(axis=1) if labels is not None else bins_of(
                (yf * yf) if wf is None else wf * yf * yf).sum(axis=1)

    def _add_blocked_compiled(self, conf, y, labels, w, group, blk) -> bool:
        """Add the rows with the compiled kernel when it covers them and pays (``calibcli.kernels``); else False."""
        from calibcli import kernels

        if not kernels.use_compiled(conf.size):
            return False
        from calibcli.kernels import bins as kernel

        if not kernel.supported(conf, y, labels, self.n_bins):
            return False
        g = self._group_index(conf, group)
        kernel.add_blocked(conf, y, labels, w, g, blk, self.edges, self.n_blocks, self.blocks, self.count, self.sums)
        return True

    def _group_index(self, conf: np.ndarray, group) -> np.ndarray | None:
        """The checked group of each row as intp for 1-D ``conf`` (None: one group, or a column per group)."""
        if conf.ndim == 2:
            if group is not None:
                raise ValueError("group must be None when conf has one column per group")
            if conf.shape[1] != self.n_groups:
                raise ValueError(f"conf has {conf.shape[1]} columns but the state has {self.n_groups} groups")
            return None
        if group is None:
            if self.n_groups != 1:
                raise ValueError(f"group is required with {self.n_groups} groups")
            return None
        g = np.asarray(group)
        if g.shape != conf.shape:
            raise ValueError(f"group has shape {g.shape}, conf {conf.shape}")
        if g.size and (g.min() < 0 or g.max() >= self.n_groups):
            raise ValueError(f"group values must be within 0 .. {self.n_groups - 1}")
        return g.astype(np.intp, copy=False)

    def block_replicates(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """The block sums re-weighted: ``{name: (G, R, B)}`` for ``weights`` ``(R, M)`` (one block weight per replicate).

        Names: ``n`` (rows), ``w``, ``wc``, ``wy``, ``wcc``, ``wcy`` (see the module docstring).
        """
        if not self.n_blocks:
            raise ValueError("the state has no bootstrap blocks")
        wt = np.asarray(weights, dtype=np.float64)
        if wt.ndim != 2 or wt.shape[1] != self.n_blocks:
            raise ValueError(f"weights must have shape (R, {self.n_blocks}), got {wt.shape}")
        names = list(self.blocks)
        stacked = np.stack([self.blocks[k] for k in names], axis=0)  # (S, G, M, B)
        s, g, m, b = stacked.shape
        got = wt @ stacked.transpose(2, 0, 1, 3).reshape(m, s * g * b)  # (R, S*G*B): one matrix product
        got = got.reshape(wt.shape[0], s, g, b).transpose(1, 2, 0, 3)  # (S, G, R, B)
        return dict(zip(names, got))

    def _check_compatible(self, other: "BinStats") -> None:
        if not isinstance(other, BinStats):
            raise TypeError(f"cannot merge BinStats with {type(other).__name__}")
        same = (self.n_groups, self.n_replicates, self.moments, self.n_blocks) == \
            (other.n_groups, other.n_replicates, other.moments, other.n_blocks)
        if not same or not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot merge BinStats with different edges, groups, replicates, moments or blocks")

    def merge(self, other: "BinStats") -> "BinStats":
        """A new state for the rows of both (same edges, groups, replicates and moments)."""
        self._check_compatible(other)
        out = BinStats(self.edges, self.n_groups, self.n_replicates, self.moments, self.n_blocks)
        out.count = self.count + other.count
        out.sums = {k: self.sums[k] + other.sums[k] for k in self.sums}
        out.replicates = {k: self.replicates[k] + other.replicates[k] for k in self.replicates}
        out.blocks = {k: self.blocks[k] + other.blocks[k] for k in self.blocks}
        return out

    def finalize(self) -> BinResult:
        """Per-bin means and the curve errors; division happens only here."""
        w, wc, wy = (self.sums[k] for k in _FIRST)
        nonempty = w > 0
        safe = np.where(nonempty, w, 1.0)
        ece, mce, l2 = curve_errors(w, wc, wy)
        r_ece, r_mce, r_l2 = curve_errors(*(self.replicates[k] for k in _REPLICATE))
        return BinResult(
            edges=self.edges,
            count=self.count.copy(),
            weight=w.copy(),
            mean_conf=np.where(nonempty, wc / safe, np.nan),
            observed=np.where(nonempty, wy / safe, np.nan),
            ece=ece,
            mce=mce,
            l2_ece=l2,
            replicate_ece=r_ece,
            replicate_mce=r_mce,
            replicate_l2_ece=r_l2,
        )

    def to_arrays(self) -> Arrays:
        """Plain arrays and scalars (see :mod:`calibcli.stats.base`)."""
        return {"edges": np.array(self.edges), "n_groups": self.n_groups, "n_replicates": self.n_replicates,
                "moments": self.moments, "n_blocks": self.n_blocks, "count": self.count.copy(),
                **{k: v.copy() for k, v in self.sums.items()}, **{k: v.copy() for k, v in self.replicates.items()},
                **{f"block_{k}": v.copy() for k, v in self.blocks.items()}}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "BinStats":
        """The state ``to_arrays`` described."""
        out = cls(arrays["edges"], scalar(arrays["n_groups"]), scalar(arrays["n_replicates"]), scalar(arrays["moments"]),
                  scalar(arrays.get("n_blocks", 0)))
        out.count = np.array(arrays["count"], dtype=np.int64).reshape(out.count.shape)
        out.sums = {k: np.array(arrays[k], dtype=np.float64).reshape(out.count.shape) for k in out.sums}
        out.replicates = {k: np.array(arrays[k], dtype=np.float64).reshape(out.replicates[k].shape) for k in out.replicates}
        out.blocks = {k: np.array(arrays[f"block_{k}"], dtype=np.float64).reshape(out.blocks[k].shape) for k in out.blocks}
        return out
