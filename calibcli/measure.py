"""Calibration measurement as mergeable partial states, streamed over a ``BatchSource``.

Two states, each with ``update(batch)``, ``merge(other)`` and ``finalize()``:

- :class:`~calibcli.bin_edges.EdgeState` (quantile bins only): the first pass,
  giving :class:`~calibcli.bin_edges.BinEdges` (exact, or from a KLL sketch).
- :class:`MeasureState`: binned sums (:class:`calibcli.stats.bins.BinStats`) of
  the top-label curve and of every class curve, scalar sums
  (:class:`calibcli.stats.sums.ScalarSums`) and per-class counts; optionally a
  replicate axis of Poisson(1) bootstrap weights keyed on each row's global row
  key (or on the hash of its id), so replicates do not depend on batching.
  ``finalize()`` gives the :class:`~calibcli.report.Measurement`;
  ``replicate_metrics()`` the metrics of every replicate.

:func:`measure_source` runs the passes; ``calibcli.audit.measure`` is this over
one in-memory batch.
"""

from __future__ import annotations

import math

import numpy as np

from calibcli.bin_edges import BinEdges, EdgeState, source_edges
from calibcli.binning import assign_bins
from calibcli.engine.batches import Batch, BatchSource
from calibcli.metrics import NLL_CLIP
from calibcli.predictions import Predictions, Task
from calibcli.stats import rng
from calibcli.stats.base import Arrays, scalar
from calibcli.stats.bins import BinStats
from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT
from calibcli.stats.sums import ScalarSums

__all__ = ["BinEdges", "EdgeState", "MeasureState", "id_keys", "measure_source", "measure_state", "replicate_weights",
           "source_edges"]

# ---------------------------------------------------------------- measurement


REPLICATE_CELLS = 1 << 21  # rows x replicates of bootstrap weights held at a time (16 MB of float64)


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
        Bootstrap replicates ``R`` (0: none). Row ``i`` weighs
        ``poisson1_weights(seed, key_i)`` in every replicate.
    seed : int
        Seed of the replicate weights.
    key_on_ids : bool
        Key the weights on ``hash_ids(batch.ids)`` instead of the global row keys,
        so paired files (a baseline) give the same item the same weight.
    replicate_classes : bool
        Also replicate the class curves (needed for classwise and worst-class ECE
        intervals; costs about one top-label curve per class).

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> s = MeasureState(Task.BINARY, p.classes, BinEdges.uniform(5)).update(Batch(p, np.arange(2)))
    >>> round(s.finalize().metrics.ece, 12)
    0.25
    """

    def __init__(self, task: Task, classes: tuple[str, ...], edges: BinEdges, n_replicates: int = 0, seed: int = 0,
                 key_on_ids: bool = False, replicate_classes: bool = True):
        self.task, self.classes, self.edges = Task(task), tuple(str(c) for c in classes), edges
        self.n_classes = len(self.classes)
        self.n_replicates, self.seed, self.key_on_ids = int(n_replicates), int(seed), bool(key_on_ids)
        self.replicate_classes = bool(replicate_classes) and self.n_replicates > 0
        k, r = self.n_classes, self.n_replicates
        rc = r if self.replicate_classes else 0
        self.top = BinStats(edges.top, 1, r)
        if self.task is Task.TOP_LABEL or edges.classes is None:
            self.per_class = [BinStats(edges.top, k, rc)]  # one state, a group per class
        else:
            self.per_class = [BinStats(e, 1, rc) for e in edges.classes]
        self.sums = ScalarSums(1 if self.task is Task.MULTILABEL else k, r)
        self.support = np.zeros(k, dtype=np.int64)
        self.predicted = np.zeros(k, dtype=np.int64)
        # binary/multiclass: sum_i p_ik^2 and sum_{i: y_i = k} p_ik; multilabel: sum of squared errors and of BCE
        self.class_a = np.zeros(k)
        self.class_b = np.zeros(k)

    # -- update
    def _keys(self, batch: Batch) -> np.ndarray:
        return id_keys(batch) if self.key_on_ids else batch.rows

    def update(self, batch: Batch) -> "MeasureState":
        """Add one batch of validated rows (in place; with replicates, in blocks of rows)."""
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

    def _update(self, p: Predictions, rw: np.ndarray | None) -> None:
        n, k = p.n_samples, self.n_classes
        rwc = rw if self.replicate_classes else None
        if self.task is Task.MULTILABEL:
            probs, y = p.probs, p.labels
            yf = y.astype(np.float64)
            self.top.update(probs.ravel(), yf.ravel(),
                            replicate_weights=None if rw is None else np.repeat(rw, k, axis=0))
            self._update_classes(probs, outcome=yf, rw=rwc)
            sq = (probs - yf) ** 2
            pc = np.where(y > 0, probs, 1.0 - probs)
            bce = -np.log(np.maximum(pc, NLL_CLIP))
            self.support += y.sum(axis=0).astype(np.int64)
            self.predicted += np.count_nonzero(probs >= 0.5, axis=0)
            self.class_a += sq.sum(axis=0)
            self.class_b += bce.sum(axis=0)
            correct = np.count_nonzero((probs >= 0.5) == (y > 0), axis=1) / k
            self.sums.update(np.zeros(n, dtype=np.intp), correct, sq.sum(axis=1), bce.sum(axis=1), replicate_weights=rw)
            return
        if self.task is Task.TOP_LABEL:
            conf, correct = p.confidence_and_correct()
        else:  # as confidence_and_correct, keeping the argmax for the predicted counts
            rows = np.arange(n)
            top = np.argmax(p.probs, axis=1)
            conf, correct = p.probs[rows, top], top == p.labels
        self.top.update(conf, correct, replicate_weights=rw)
        self.support += np.bincount(p.labels, minlength=k)
        if self.task is Task.TOP_LABEL:
            self.per_class[0].update(conf, correct, group=p.pred_labels, replicate_weights=rwc)
            self.predicted += np.bincount(p.pred_labels, minlength=k)
            zero = np.zeros(n)
            self.sums.update(p.labels, correct, zero, zero, replicate_weights=rw)
            return
        probs = p.probs
        self._update_classes(probs, labels=p.labels, rw=rwc)
        p_true = probs[rows, p.labels]
        self.predicted += np.bincount(top, minlength=k)
        self.class_a += np.einsum("ij,ij->j", probs, probs)
        self.class_b += np.bincount(p.labels, weights=p_true, minlength=k)
        brier = np.einsum("ij,ij->i", probs, probs) - 2.0 * p_true + 1.0
        nll = -np.log(np.maximum(p_true, NLL_CLIP))
        self.sums.update(p.labels, correct, brier, nll, replicate_weights=rw)

    def _update_classes(self, probs: np.ndarray, outcome: np.ndarray | None = None, labels: np.ndarray | None = None,
                        rw: np.ndarray | None = None) -> None:
        if self.edges.classes is None:
            self.per_class[0].update(probs, outcome, labels=labels, replicate_weights=rw)
            return
        for c, state in enumerate(self.per_class):
            y = outcome[:, c] if outcome is not None else (labels == c)
            state.update(probs[:, c], y, replicate_weights=rw)

    # -- merge
    def _empty_like(self) -> "MeasureState":
        return MeasureState(self.task, self.classes, self.edges, self.n_replicates, self.seed, self.key_on_ids,
                            self.replicate_classes)

    def merge(self, other: "MeasureState") -> "MeasureState":
        """A new state for the rows of both (same task, classes, edges, replicates and seed)."""
        same = (self.task, self.classes, self.n_replicates, self.seed, self.key_on_ids, self.replicate_classes) == \
            (other.task, other.classes, other.n_replicates, other.seed, other.key_on_ids, other.replicate_classes)
        if not isinstance(other, MeasureState) or not same:
            raise ValueError("cannot merge measurements of different tasks, classes, replicates or seeds")
        out = self._empty_like()
        out.top = self.top.merge(other.top)
        out.per_class = [a.merge(b) for a, b in zip(self.per_class, other.per_class)]
        out.sums = self.sums.merge(other.sums)
        for name in ("support", "predicted", "class_a", "class_b"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        return out

    # -- finalize
    def _class_curves(self) -> list[tuple[BinStats, int]]:
        """(state, group) of every class curve, in class order."""
        return [(state, g) for state in self.per_class for g in range(state.n_groups)]

    def finalize(self):
        """The :class:`~calibcli.report.Measurement` of the rows seen (division happens here)."""
        from calibcli.direction import describe_direction
        from calibcli.report import ClassReport, Measurement, MetricSet, Reliability

        n, k = self.sums.rows, self.n_classes
        top = Reliability.from_state(self.top)
        curves = [Reliability.from_state(state, g) for state, g in self._class_curves()]
        eces = np.array([c.ece() for c in curves])
        totals = self.sums.finalize()
        top_label = self.task is Task.TOP_LABEL
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.task is Task.MULTILABEL:
                briers = self.class_a / n if n else np.full(k, np.nan)
                nlls = self.class_b / n if n else np.full(k, np.nan)
                classwise = float(np.nanmean(eces)) if np.isfinite(eces).any() else math.nan
                metrics = MetricSet(totals.accuracy, top.ece(), top.mce(), classwise, float(np.sum(briers)), float(np.sum(nlls)))
            elif top_label:
                briers = None
                metrics = MetricSet(totals.accuracy, top.ece(), top.mce(), None, None, None)
            else:
                briers = (self.class_a - 2.0 * self.class_b + self.support) / n if n else np.full(k, np.nan)
                metrics = MetricSet(totals.accuracy, top.ece(), top.mce(), float(np.mean(eces)), float(np.sum(briers)),
                                    totals.nll)
        classes = []
        for c in range(k):
            s = curves[c]
            ece = s.ece() if s.count.sum() > 0 else None
            scope = f"rows predicted as '{self.classes[c]}'" if top_label else None
            classes.append(ClassReport(self.classes[c], int(self.support[c]), int(self.predicted[c]),
                                       None if ece is None or np.isnan(ece) else float(ece),
                                       None if briers is None else float(briers[c]), describe_direction(s, scope), s))
        return Measurement(metrics, top, tuple(classes))

    def replicate_metrics(self) -> dict[str, np.ndarray]:
        """Every metric in every bootstrap replicate: arrays of shape (R,), NaN where undefined.

        Keys: ece, mce, classwise_ece, class_ece, accuracy, brier, nll (brier, nll
        and classwise_ece absent for top-label files; classwise_ece and class_ece
        absent without ``replicate_classes``).
        """
        top = self.top.finalize()
        sums = self.sums.finalize()
        out = {"ece": top.replicate_ece[0], "mce": top.replicate_mce[0], "accuracy": sums.replicate_accuracy}
        if self.task is not Task.TOP_LABEL:
            out["brier"], out["nll"] = sums.replicate_brier, sums.replicate_nll
        if not self.replicate_classes:
            return out
        cls = np.array([state.finalize().replicate_ece[g] for state, g in self._class_curves()])  # (K, R)
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
                  bool(scalar(arrays["replicate_classes"])))
        out.top, out.per_class, out.sums = top, per_class, ScalarSums.from_arrays(sub("sums"))
        out.support = np.array(arrays["support"], dtype=np.int64)
        out.predicted = np.array(arrays["predicted"], dtype=np.int64)
        out.class_a = np.array(arrays["class_a"], dtype=np.float64)
        out.class_b = np.array(arrays["class_b"], dtype=np.float64)
        return out


# ---------------------------------------------------------------- passes


def measure_state(source: BatchSource, edges: BinEdges, n_replicates: int = 0, seed: int = 0,
                  key_on_ids: bool = False, replicate_classes: bool = True) -> MeasureState:
    """One pass of :class:`MeasureState` over ``source`` (see its parameters)."""
    from calibcli.engine.local import run_pass

    info = source.info
    return run_pass(source, lambda: MeasureState(info.task, info.classes, edges, n_replicates, seed, key_on_ids,
                                                 replicate_classes), lambda s, b: s.update(b))


def measure_source(source: BatchSource, n_bins: int = 15, strategy: str = "uniform",
                   max_distinct: int = DEFAULT_MAX_DISTINCT):
    """The :class:`~calibcli.report.Measurement` of every row of ``source`` (one pass; two for quantile bins)."""
    return measure_state(source, source_edges(source, n_bins, strategy, max_distinct)).finalize()
