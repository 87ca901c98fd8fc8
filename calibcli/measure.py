"""Calibration measurement as mergeable partial states, streamed over a ``BatchSource``.

Two states, each with ``update(batch)``, ``merge(other)`` and ``finalize()``:

- :class:`~calibcli.bin_edges.EdgeState` (quantile bins only): the first pass,
  giving :class:`~calibcli.bin_edges.BinEdges` (exact, or from a KLL sketch).
- :class:`MeasureState`: binned sums (:class:`calibcli.stats.bins.BinStats`) of
  the top-label curve and of every class curve, scalar sums
  (:class:`calibcli.stats.sums.ScalarSums`) and per-class counts; optionally a
  bootstrap, keyed on each row's global row key (or on the hash of its id) so
  replicates do not depend on batching:

  - the grouped bootstrap (``n_blocks = M``, the audit's default: ``DEFAULT_BLOCKS``):
    each row goes to one of ``M`` blocks (:func:`calibcli.stats.rng.group_of`), every
    sum is kept per block, and replicate ``r`` weighs block ``m`` by Poisson(1) keyed
    on ``(seed, r, m)``; replicates are formed at finalize, for any seed and number of
    replicates, at the cost of one matrix product.
  - the per-row bootstrap (``n_replicates`` without blocks): ``R`` weighted copies of
    every sum, each row weighted Poisson(1) (slow: R x n weights; kept for comparison).

  ``finalize()`` gives the :class:`~calibcli.report.Measurement` (with intervals and
  noise floors when the state has blocks); ``replicate_metrics()`` the metrics of
  every replicate.

A new statistic joins the grouped bootstrap by keeping its sums per block (an
``(M, ...)`` array filled with ``np.bincount(block, weights=...)`` or, per bin,
``BinStats(..., n_blocks=M)``) and writing its finalize as a function of those
sums: its replicate values are that function of ``weights @ sums`` with
``weights = rng.group_poisson1_weights(seed, R, M)``, ``(R, M)``.

:func:`measure_source` runs the passes; ``calibcli.audit.measure`` is this over
one in-memory batch.
"""

from __future__ import annotations

import math

import numpy as np

from calibcli.bin_edges import BinEdges, EdgeState, source_edges
from calibcli.binning import assign_bins
from calibcli.engine.batches import Batch, BatchSource
from calibcli.kernels.rows import top_rows
from calibcli.measure_fused import update_fused
from calibcli.metrics import NLL_CLIP
from calibcli.predictions import Predictions, Task
from calibcli.stats import rng
from calibcli.stats.base import Arrays, scalar
from calibcli.stats.bins import BinStats, curve_errors
from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT
from calibcli.stats.sums import ScalarSums

__all__ = ["DEFAULT_BLOCKS", "DEFAULT_REPLICATES", "BinEdges", "EdgeState", "MeasureState", "id_keys", "measure_source", "measure_state", "replicate_weights",
           "source_edges"]

# ---------------------------------------------------------------- measurement


REPLICATE_CELLS = 1 << 21  # rows x replicates of bootstrap weights held at a time (16 MB of float64)
DEFAULT_BLOCKS = 128  # bootstrap blocks of the grouped bootstrap
DEFAULT_REPLICATES = 200  # replicates of the audit's intervals (and of the gate's --on upper)
_SCALARS = ("n", "correct", "brier", "nll")  # per-block scalar sums (block_scalars columns)


def replicate_weights(seed: int, keys: np.ndarray, n_replicates: int) -> np.ndarray:
    """Poisson(1) bootstrap weights ``(n, R)`` (float64) keyed on row keys (:func:`calibcli.stats.rng.poisson1_weights16`)."""
    return rng.poisson1_weights16(seed, keys, n_replicates)


def id_keys(batch: Batch) -> np.ndarray:
    """``hash_ids`` of a batch's ids: the row keys that pair the same item across files.

    Raises ``InputError`` for a missing id (it could not be paired), naming the
    first such row by its global row number (1-based, over all inputs).
    """
    if batch.ids is None:
        raise ValueError("keying on ids needs batches with ids")
    missing = np.flatnonzero(np.asarray([v is None for v in batch.ids], dtype=bool)) if batch.ids.dtype == object else []
    if len(missing):
        from calibcli.errors import InputError

        raise InputError(f"the id column has {len(missing)} empty value(s) (first at data row {int(batch.rows[missing[0]]) + 1} "
                         "counting over all inputs); every row needs an id to be paired. Fill or drop those rows.")
    return rng.hash_ids(batch.ids)


class MeasureState:
    """Mergeable sums behind every metric and reliability curve of ``calib audit``.

    Parameters
    ----------
    task : Task
    classes : tuple of str
        Class (or label) names, in column order.
    edges : BinEdges
        Edges of every curve (``BinEdges.uniform(n_bins)`` or :class:`EdgeState`'s).
    n_replicates : int
        Bootstrap replicates ``R`` (0: none). Without blocks row ``i`` weighs
        ``poisson1_weights16(seed, key_i)`` in every replicate (a replicate axis in
        every sum); with blocks ``R`` is the number of replicates formed at finalize.
    seed : int
        Seed of the replicate weights.
    key_on_ids : bool
        Key the weights on ``hash_ids(batch.ids)`` instead of the global row keys,
        so paired files (a baseline) give the same item the same weight.
    replicate_classes : bool
        Also replicate the class curves (needed for classwise and worst-class ECE
        intervals; costs about one top-label curve per class). Per-row bootstrap only.
    n_blocks : int
        Bootstrap blocks ``M`` of the grouped bootstrap (0: none; ``DEFAULT_BLOCKS``
        in the audit). Keyed like the per-row weights (row keys or id hashes).

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> s = MeasureState(Task.BINARY, p.classes, BinEdges.uniform(5)).update(Batch(p, np.arange(2)))
    >>> round(s.finalize().metrics.ece, 12), round(s.finalize().metrics.ece_top_label, 12)  # binary: positive class
    (0.45, 0.25)
    """

    def __init__(self, task: Task, classes: tuple[str, ...], edges: BinEdges, n_replicates: int = 0, seed: int = 0,
                 key_on_ids: bool = False, replicate_classes: bool = True, n_blocks: int = 0):
        self.task, self.classes, self.edges = Task(task), tuple(str(c) for c in classes), edges
        self.n_classes = len(self.classes)
        self.n_replicates, self.seed, self.key_on_ids = int(n_replicates), int(seed), bool(key_on_ids)
        self.n_blocks = int(n_blocks)
        if self.n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        self.replicate_classes = bool(replicate_classes) and self.n_replicates > 0
        k, m = self.n_classes, self.n_blocks
        r = 0 if m else self.n_replicates  # replicate axes in the sums: per-row bootstrap only
        rc = r if self.replicate_classes else 0
        self.top = BinStats(edges.top, 1, r, n_blocks=m)
        if self.task is Task.TOP_LABEL or edges.classes is None:
            self.per_class = [BinStats(edges.top, k, rc, n_blocks=m)]  # one state, a group per class
        else:
            self.per_class = [BinStats(e, 1, rc, n_blocks=m) for e in edges.classes]
        self.sums = ScalarSums(1 if self.task is Task.MULTILABEL else k, r)
        self.block_scalars = np.zeros((m, len(_SCALARS)))  # per block: rows, sums of correct, Brier, NLL
        self.support = np.zeros(k, dtype=np.int64)
        self.predicted = np.zeros(k, dtype=np.int64)
        # binary/multiclass: sum_i p_ik^2 and sum_{i: y_i = k} p_ik; multilabel: sum of squared errors and of BCE
        self.class_a = np.zeros(k)
        self.class_b = np.zeros(k)

    # -- update
    def _keys(self, batch: Batch) -> np.ndarray:
        return id_keys(batch) if self.key_on_ids else batch.rows

    def update(self, batch: Batch) -> "MeasureState":
        """Add one batch of validated rows (in place; with per-row replicates, in blocks of rows)."""
        if self.n_blocks:
            self._update(batch.predictions, None, rng.group_of(self._keys(batch), self.n_blocks))
            return self
        if not self.n_replicates:
            self._update(batch.predictions, None)
            return self
        keys = self._keys(batch)
        step = max(1, REPLICATE_CELLS // self.n_replicates)
        for a in range(0, batch.n_rows, step):
            p = batch.predictions if batch.n_rows <= step else batch.predictions.subset(slice(a, a + step))
            # rows in top-label bin order: the weights come out grouped by bin, so the top curve's sums need no gather
            order = self._top_bin_order(p)
            self._update(p.subset(order), replicate_weights(self.seed, keys[a:a + step][order], self.n_replicates))
        return self

    def _top_bin_order(self, p: Predictions) -> np.ndarray:
        if self.task is Task.MULTILABEL:
            return np.arange(p.n_samples)
        conf, _ = p.confidence_and_correct()
        return np.argsort(assign_bins(conf, self.top.edges), kind="stable")

    def _add_block_scalars(self, blk: np.ndarray | None, correct, brier, nll) -> None:
        if blk is None:
            return
        m = self.n_blocks
        from calibcli.kernels import use_compiled

        if use_compiled(blk.size):  # work: rows (four additions each: about one score's work, never first to import numba)
            from calibcli.kernels.grouped import rows_and_sums3

            got = rows_and_sums3(blk, correct, brier, nll, m)  # the bincounts' sums, added in the same order
            if got is not None:
                self.block_scalars += got
                return
        self.block_scalars[:, 0] += np.bincount(blk, minlength=m)
        for j, v in enumerate((correct, brier, nll), start=1):
            self.block_scalars[:, j] += np.bincount(blk, weights=np.asarray(v, dtype=np.float64), minlength=m)

    def _update(self, p: Predictions, rw: np.ndarray | None, blk: np.ndarray | None = None) -> None:
        n, k = p.n_samples, self.n_classes
        rwc = rw if self.replicate_classes else None
        if self.task is Task.MULTILABEL:
            probs, y = p.probs, p.labels
            yf = y.astype(np.float64)
            self.top.update(probs.ravel(), yf.ravel(),
                            replicate_weights=None if rw is None else np.repeat(rw, k, axis=0),
                            block=None if blk is None else np.repeat(blk, k))
            self._update_classes(probs, outcome=yf, rw=rwc, blk=blk)
            sq = (probs - yf) ** 2
            pc = np.where(y > 0, probs, 1.0 - probs)
            bce = -np.log(np.maximum(pc, NLL_CLIP))
            self.support += y.sum(axis=0).astype(np.int64)
            self.predicted += np.count_nonzero(probs >= 0.5, axis=0)
            self.class_a += sq.sum(axis=0)
            self.class_b += bce.sum(axis=0)
            correct = np.count_nonzero((probs >= 0.5) == (y > 0), axis=1) / k
            self.sums.update(np.zeros(n, dtype=np.intp), correct, sq.sum(axis=1), bce.sum(axis=1), replicate_weights=rw)
            self._add_block_scalars(blk, correct, sq.sum(axis=1), bce.sum(axis=1))
            return
        if rw is None and update_fused(self, p, blk):
            return
        if self.task is Task.TOP_LABEL:
            conf, correct = p.confidence_and_correct()
        else:  # as confidence_and_correct, keeping the argmax for the predicted counts (one pass per row)
            top, conf, p_true, row_sq = top_rows(p.probs, p.labels)
            correct = top == p.labels
        self.top.update(conf, correct, replicate_weights=rw, block=blk)
        self.support += np.bincount(p.labels, minlength=k)
        if self.task is Task.TOP_LABEL:
            self.per_class[0].update(conf, correct, group=p.pred_labels, replicate_weights=rwc, block=blk)
            self.predicted += np.bincount(p.pred_labels, minlength=k)
            zero = np.zeros(n)
            self.sums.update(p.labels, correct, zero, zero, replicate_weights=rw)
            self._add_block_scalars(blk, correct, zero, zero)
            return
        probs = p.probs
        self._update_classes(probs, labels=p.labels, rw=rwc, blk=blk)
        self.predicted += np.bincount(top, minlength=k)
        self.class_a += np.einsum("ij,ij->j", probs, probs)
        self.class_b += np.bincount(p.labels, weights=p_true, minlength=k)
        brier = row_sq - 2.0 * p_true + 1.0
        nll = -np.log(np.maximum(p_true, NLL_CLIP))
        self.sums.update(p.labels, correct, brier, nll, replicate_weights=rw)
        self._add_block_scalars(blk, correct, brier, nll)

    def _update_classes(self, probs: np.ndarray, outcome: np.ndarray | None = None, labels: np.ndarray | None = None,
                        rw: np.ndarray | None = None, blk: np.ndarray | None = None) -> None:
        if self.edges.classes is None:
            self.per_class[0].update(probs, outcome, labels=labels, replicate_weights=rw, block=blk)
            return
        for c, state in enumerate(self.per_class):
            y = outcome[:, c] if outcome is not None else (labels == c)
            state.update(probs[:, c], y, replicate_weights=rw, block=blk)

    # -- merge
    def merge(self, other: "MeasureState") -> "MeasureState":
        """Add the rows of ``other`` (same task, classes, edges, replicates and seed) in place; returns ``self``.

        ``other`` is left unchanged (the pass-consumer contract: RULES, engine contract).
        """
        same = isinstance(other, MeasureState) and (
            self.task, self.classes, self.n_replicates, self.seed, self.key_on_ids, self.replicate_classes,
            self.n_blocks) == (other.task, other.classes, other.n_replicates, other.seed, other.key_on_ids,
                               other.replicate_classes, other.n_blocks)
        if not same or len(self.per_class) != len(other.per_class):
            raise ValueError("cannot merge measurements of different tasks, classes, replicates or seeds")
        self.top = self.top.merge(other.top)  # BinStats and ScalarSums merge into new states: rebound here
        self.per_class = [a.merge(b) for a, b in zip(self.per_class, other.per_class)]
        self.sums = self.sums.merge(other.sums)
        for name in ("support", "predicted", "class_a", "class_b", "block_scalars"):
            setattr(self, name, getattr(self, name) + getattr(other, name))  # new arrays: a caller's copy stays as it was
        return self

    # -- finalize
    def _class_curves(self) -> list[tuple[BinStats, int]]:
        """(state, group) of every class curve, in class order."""
        return [(state, g) for state in self.per_class for g in range(state.n_groups)]

    def _headline_class(self) -> int | None:
        """The class whose curve is the headline (binary: the positive class), or None (the top curve)."""
        return 1 if self.task is Task.BINARY and self.n_classes == 2 else None

    def finalize(self):
        """The :class:`~calibcli.report.Measurement` of the rows seen (division happens here).

        With blocks and replicates it carries 95% intervals (basic bootstrap, seed
        ``self.seed``) and noise floors; the state itself rides along (``state``) so
        the gate can form other replicates without another pass.
        """
        from calibcli.direction import describe_direction
        from calibcli.report import ClassReport, IntervalInfo, Measurement, MetricSet, Reliability

        n, k = self.sums.rows, self.n_classes
        top = Reliability.from_state(self.top)
        curves = [Reliability.from_state(state, g) for state, g in self._class_curves()]
        eces = np.array([c.ece() for c in curves])
        totals = self.sums.finalize()
        top_label = self.task is Task.TOP_LABEL
        head = self._headline_class()
        ece, mce = (top.ece(), top.mce()) if head is None else (curves[head].ece(), curves[head].mce())
        ece_top = None if self.task is Task.MULTILABEL else top.ece()
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.task is Task.MULTILABEL:
                briers = self.class_a / n if n else np.full(k, np.nan)
                nlls = self.class_b / n if n else np.full(k, np.nan)
                classwise = float(np.nanmean(eces)) if np.isfinite(eces).any() else math.nan
                metrics = MetricSet(totals.accuracy, ece, mce, classwise, float(np.sum(briers)), float(np.sum(nlls)), ece_top)
            elif top_label:
                briers = None
                metrics = MetricSet(totals.accuracy, ece, mce, None, None, None, ece_top)
            else:
                briers = (self.class_a - 2.0 * self.class_b + self.support) / n if n else np.full(k, np.nan)
                metrics = MetricSet(totals.accuracy, ece, mce, float(np.mean(eces)), float(np.sum(briers)),
                                    totals.nll, ece_top)
        bands = self._intervals(metrics, eces, briers) if self.n_blocks and self.n_replicates else None
        floors = self._noise_floors() if self.n_blocks else None
        classes = []
        for c in range(k):
            s = curves[c]
            c_ece = s.ece() if s.count.sum() > 0 else None
            scope = f"rows predicted as '{self.classes[c]}'" if top_label else None
            classes.append(ClassReport(self.classes[c], int(self.support[c]), int(self.predicted[c]),
                                       None if c_ece is None or np.isnan(c_ece) else float(c_ece),
                                       None if briers is None else float(briers[c]), describe_direction(s, scope), s,
                                       {} if bands is None else bands[1][c],
                                       None if floors is None else _finite(floors[1][c])))
        info = None
        if bands is not None:
            info = IntervalInfo("basic bootstrap", 0.95, self.n_replicates, self.n_blocks, self.seed,
                                "id" if self.key_on_ids else "row")
        return Measurement(metrics, top, tuple(classes), {} if bands is None else bands[0],
                           {} if floors is None else floors[0], info, self if self.n_blocks else None)

    def _intervals(self, metrics, eces: np.ndarray, briers: np.ndarray | None):
        """(headline intervals by metric name, per-class ``{"ece", "brier"}`` intervals).

        Basic bootstrap intervals; a binned error's lower end is 0 when its plug-in value
        is within the 95% quantile of a perfectly calibrated model's (see
        :mod:`calibcli.stats.intervals`).
        """
        from calibcli.stats.intervals import basic_interval, zero_floor

        reps = self.replicate_metrics()
        nulls, class_nulls = self._null_quantiles()
        bounds = {"accuracy": (0.0, 1.0), "brier": (0.0, math.inf), "nll": (0.0, math.inf)}
        head = {}
        for name in ("accuracy", "ece", "ece_top_label", "mce", "classwise_ece", "brier", "nll"):
            point = getattr(metrics, name)
            lo, hi = bounds.get(name, (0.0, 1.0))
            iv = None if point is None or name not in reps else basic_interval(point, reps[name], lo, hi)
            head[name] = zero_floor(iv, point, nulls.get(name))
        per_class = []
        for c in range(self.n_classes):
            d = {"ece": zero_floor(basic_interval(float(eces[c]), reps["classes_ece"][c], 0.0, 1.0), float(eces[c]),
                                   float(class_nulls[c]))}
            if briers is not None:
                d["brier"] = basic_interval(float(briers[c]), reps["classes_brier"][c], 0.0, 1.0)
            per_class.append(d)
        return head, per_class

    def _null_quantiles(self) -> tuple[dict[str, float], np.ndarray]:
        """95% quantiles of the binned errors of a perfectly calibrated model: headline by name, and per class ECE."""
        from calibcli.stats.intervals import null_quantile_ece, null_quantile_mce, null_quantile_mean_ece

        t = self._block_totals(self.top)
        c = self._class_totals()
        top_q = float(null_quantile_ece(*t, seed=self.seed)[0])
        cls_q = null_quantile_ece(*c, seed=self.seed)
        head = self._headline_class()
        out = {"ece_top_label": top_q}
        if head is None:
            out["ece"], out["mce"] = top_q, null_quantile_mce(t[0][0], t[1][0], t[2][0])
        else:
            out["ece"], out["mce"] = float(cls_q[head]), null_quantile_mce(c[0][head], c[1][head], c[2][head])
        if self.task is not Task.TOP_LABEL:
            out["classwise_ece"] = null_quantile_mean_ece(*c)
        return out, cls_q

    def _class_totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``_block_totals`` of every class curve, ``(K, B)`` each."""
        parts = [self._block_totals(state) for state in self.per_class]
        return tuple(_pad_cat([p[j] for p in parts]) for j in range(3))

    def _block_totals(self, state: BinStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per (group, bin): rows, sum of c and of c**2 (from the block sums)."""
        return tuple(state.blocks[name].sum(axis=1) for name in ("n", "wc", "wcc"))

    def _noise_floors(self) -> tuple[dict[str, float | None], list[float]]:
        """Noise floors (:mod:`calibcli.stats.intervals`): headline ``{ece, ece_top_label, mce, classwise_ece}`` and per class."""
        from calibcli.stats.intervals import noise_floor_ece, noise_floor_mce

        t_n, t_c, t_cc = self._block_totals(self.top)
        c_n, c_c, c_cc = self._class_totals()
        top_floor = float(noise_floor_ece(t_n, t_c, t_cc)[0])
        cls_floor = noise_floor_ece(c_n, c_c, c_cc)
        head = self._headline_class()
        out: dict[str, float | None] = {}
        if head is None:
            out["ece"], out["mce"] = top_floor, noise_floor_mce(t_n[0], t_c[0], t_cc[0], self.seed)
        else:
            out["ece"], out["mce"] = float(cls_floor[head]), noise_floor_mce(c_n[head], c_c[head], c_cc[head], self.seed)
        out["ece_top_label"] = None if self.task is Task.MULTILABEL else top_floor
        if self.task is Task.TOP_LABEL:
            out["classwise_ece"] = None
        else:
            finite = cls_floor[np.isfinite(cls_floor)]
            out["classwise_ece"] = float(finite.mean()) if finite.size else None
        return {key: _finite(v) for key, v in out.items()}, [float(x) for x in cls_floor]

    def replicate_metrics(self, seed: int | None = None, n_replicates: int | None = None) -> dict[str, np.ndarray]:
        """Every metric in every bootstrap replicate: arrays of shape (R,), NaN where undefined.

        Keys: ece, mce, ece_top_label, classwise_ece, class_ece (the worst class), accuracy, brier,
        nll (brier, nll and classwise_ece absent for top-label files; ece_top_label for multilabel);
        with blocks also classes_ece and classes_brier, shape (K, R). Without blocks classwise_ece
        and class_ece need ``replicate_classes``, and ``seed``/``n_replicates`` must be the state's.
        With blocks any ``seed`` and ``n_replicates`` (default: the state's) are formed from the
        block sums (no pass over the rows).
        """
        if not self.n_blocks:
            if (seed is not None and seed != self.seed) or (n_replicates is not None and n_replicates != self.n_replicates):
                raise ValueError("a per-row bootstrap state has its own seed and replicates")
            return self._row_replicate_metrics()
        seed = self.seed if seed is None else int(seed)
        r = self.n_replicates if n_replicates is None else int(n_replicates)
        w = rng.group_poisson1_weights(seed, r, self.n_blocks)
        top = self.top.block_replicates(w)
        top_ece, top_mce, _ = curve_errors(top["w"], top["wc"], top["wy"])
        parts = [state.block_replicates(w) for state in self.per_class]
        cat = {name: _pad_cat([p[name] for p in parts]) for name in ("w", "wc", "wy", "wcc", "wcy")}
        cls_ece, cls_mce, _ = curve_errors(cat["w"], cat["wc"], cat["wy"])  # (K, R)
        sc = w @ self.block_scalars  # (R, 4)
        with np.errstate(invalid="ignore", divide="ignore"):
            rows = np.where(sc[:, 0] > 0, sc[:, 0], np.nan)
            out = {"accuracy": sc[:, 1] / rows}
            head = self._headline_class()
            out["ece"], out["mce"] = (top_ece[0], top_mce[0]) if head is None else (cls_ece[head], cls_mce[head])
            out["classes_ece"] = cls_ece
            if self.task is not Task.MULTILABEL:
                out["ece_top_label"] = top_ece[0]
            if self.task is not Task.TOP_LABEL:
                out["brier"], out["nll"] = sc[:, 2] / rows, sc[:, 3] / rows
                out["classes_brier"] = (cat["wcc"] - 2.0 * cat["wcy"] + cat["wy"]).sum(axis=2) / rows[None, :]
            out.update(self._class_summaries(cls_ece))
        return out

    def _row_replicate_metrics(self) -> dict[str, np.ndarray]:
        """``replicate_metrics`` of the per-row bootstrap (replicate axes in the sums)."""
        top = self.top.finalize()
        sums = self.sums.finalize()
        out = {"ece": top.replicate_ece[0], "mce": top.replicate_mce[0], "accuracy": sums.replicate_accuracy}
        if self.task is not Task.MULTILABEL:
            out["ece_top_label"] = top.replicate_ece[0]
        if self.task is not Task.TOP_LABEL:
            out["brier"], out["nll"] = sums.replicate_brier, sums.replicate_nll
        if not self.replicate_classes:
            if self._headline_class() is not None:
                del out["ece"], out["mce"]  # the headline is a class curve, not replicated
            return out
        fin = {id(state): state.finalize() for state in self.per_class}
        cls = np.array([fin[id(state)].replicate_ece[g] for state, g in self._class_curves()])  # (K, R)
        cls_mce = np.array([fin[id(state)].replicate_mce[g] for state, g in self._class_curves()])
        head = self._headline_class()
        if head is not None:
            out["ece"], out["mce"] = cls[head], cls_mce[head]
        out["classes_ece"] = cls
        out.update(self._class_summaries(cls))
        return out

    def _class_summaries(self, cls: np.ndarray) -> dict[str, np.ndarray]:
        """``class_ece`` (the worst finite class) and ``classwise_ece`` (the mean; multilabel: of the finite
        classes; absent for top-label files) of per-class replicate ECEs ``cls``, shape (K, R)."""
        out = {}
        finite = np.isfinite(cls)
        with np.errstate(invalid="ignore"):
            out["class_ece"] = np.where(finite.any(axis=0), np.where(finite, cls, -np.inf).max(axis=0, initial=-np.inf), np.nan)
            if self.task is Task.MULTILABEL:
                cnt = finite.sum(axis=0)
                out["classwise_ece"] = np.where(cnt > 0, np.where(finite, cls, 0.0).sum(axis=0) / np.maximum(cnt, 1), np.nan)
            elif self.task is not Task.TOP_LABEL:
                out["classwise_ece"] = cls.mean(axis=0)
        return out

    # -- serialisation
    def to_arrays(self) -> Arrays:
        """Plain arrays and scalars (see :mod:`calibcli.stats.base`)."""
        out: Arrays = {"task": self.task.value, "classes": np.array(self.classes, dtype=str), "n_replicates": self.n_replicates,
                       "seed": self.seed, "key_on_ids": self.key_on_ids, "replicate_classes": self.replicate_classes, "n_class_states": len(self.per_class),
                       "n_blocks": self.n_blocks, "block_scalars": self.block_scalars.copy(),
                       "edges_exact": self.edges.exact,
                       "edges_rank_error": math.nan if self.edges.rank_error is None else self.edges.rank_error,
                       "edges_shared": self.edges.classes is None,
                       "support": self.support.copy(), "predicted": self.predicted.copy(),
                       "class_a": self.class_a.copy(), "class_b": self.class_b.copy()}
        for prefix, state in [("top", self.top), *((f"class{i}", s) for i, s in enumerate(self.per_class)), ("sums", self.sums)]:
            out.update({f"{prefix}.{key}": value for key, value in state.to_arrays().items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "MeasureState":
        """The state ``to_arrays`` described."""
        def sub(prefix):
            return {key[len(prefix) + 1:]: v for key, v in arrays.items() if key.startswith(prefix + ".")}

        top = BinStats.from_arrays(sub("top"))
        per_class = [BinStats.from_arrays(sub(f"class{i}")) for i in range(int(scalar(arrays["n_class_states"])))]
        rank_error = float(scalar(arrays["edges_rank_error"]))
        edges = BinEdges(top.edges, None if bool(scalar(arrays["edges_shared"])) else tuple(s.edges for s in per_class),
                         bool(scalar(arrays["edges_exact"])), None if math.isnan(rank_error) else rank_error)
        out = cls(Task(str(scalar(arrays["task"]))), tuple(str(c) for c in np.asarray(arrays["classes"]).tolist()), edges,
                  int(scalar(arrays["n_replicates"])), int(scalar(arrays["seed"])), bool(scalar(arrays["key_on_ids"])),
                  bool(scalar(arrays["replicate_classes"])), int(scalar(arrays.get("n_blocks", 0))))
        if "block_scalars" in arrays:
            out.block_scalars = np.array(arrays["block_scalars"], dtype=np.float64).reshape(out.block_scalars.shape)
        out.top, out.per_class, out.sums = top, per_class, ScalarSums.from_arrays(sub("sums"))
        out.support = np.array(arrays["support"], dtype=np.int64)
        out.predicted = np.array(arrays["predicted"], dtype=np.int64)
        out.class_a = np.array(arrays["class_a"], dtype=np.float64)
        out.class_b = np.array(arrays["class_b"], dtype=np.float64)
        return out


def _pad_cat(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate along the first axis, padding the last (bin) axis with zeros (empty bins): per-class
    quantile edges may give the classes different numbers of bins."""
    width = max(a.shape[-1] for a in arrays)
    pad = [np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])]) if a.shape[-1] < width else a for a in arrays]
    return np.concatenate(pad, axis=0)


def _finite(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# ---------------------------------------------------------------- passes


def measure_state(source: BatchSource, edges: BinEdges, n_replicates: int = 0, seed: int = 0,
                  key_on_ids: bool = False, replicate_classes: bool = True, n_blocks: int = 0) -> MeasureState:
    """One pass of :class:`MeasureState` over ``source`` (see its parameters)."""
    from calibcli.engine.local import run_pass

    info = source.info
    return run_pass(source, lambda: MeasureState(info.task, info.classes, edges, n_replicates, seed, key_on_ids,
                                                 replicate_classes, n_blocks), lambda s, b: s.update(b))


def measure_source(source: BatchSource, n_bins: int = 15, strategy: str = "uniform",
                   max_distinct: int = DEFAULT_MAX_DISTINCT, intervals: bool = False, seed: int = 0,
                   key_on_ids: bool = False):
    """The :class:`~calibcli.report.Measurement` of every row of ``source`` (one pass; two for quantile bins).

    ``intervals``: with the grouped bootstrap (``DEFAULT_BLOCKS`` blocks, ``DEFAULT_REPLICATES``
    replicates of seed ``seed``, keyed on row keys or on id hashes): 95% intervals and noise floors.
    """
    edges = source_edges(source, n_bins, strategy, max_distinct)
    if not intervals:
        return measure_state(source, edges).finalize()
    return measure_state(source, edges, DEFAULT_REPLICATES, seed, key_on_ids, n_blocks=DEFAULT_BLOCKS).finalize()
