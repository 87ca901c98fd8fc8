"""Pass consumers of the threshold plan: the count tables one pass fills, as an engine feeds them.

A pass over the rows fills a :class:`ThresholdCounts`: one
:class:`~calibcli.thresholds.tables.CountTable` per binary problem it was asked for
(a target on one score scale, optionally only inside given score ranges), the
rows seen and the counts at or above the Bayes threshold. It follows the engine
contract: it is built unfed, so ``copy.deepcopy`` gives an empty replica with
the same parameters; ``update(batch)`` adds a batch; ``merge(other)`` adds the
rows of a replica fed elsewhere (in place); and it holds only tables within
their budget (never rows). So the local loop (:func:`calibcli.engine.local.feed`)
and the Dask engine (a replica per partition, then a tree of merges) give the
same tables for any split of the rows.

What a batch contributes is said by a :class:`Layout`: which problems the tables
count and a *view* of the batch, ``batch -> (raw, calibrated or None)`` or
``None`` to skip it (:class:`RawRows`, :class:`CalibrateEach`,
:class:`PairedRows`). Layouts and views are immutable and shared by replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from calibcli.predictions import Predictions, Task
from calibcli.thresholds.tables import CountTable

if TYPE_CHECKING:
    from calibcli.engine.batches import Batch

View = Callable[["Batch"], "tuple[Predictions, Predictions | None] | None"]


def targets(preds: Predictions) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The binary problems of a prediction set: (name, scores, positive).

    Binary: the positive class (column 1). Multiclass: each class one-vs-rest.
    Multilabel: each label. Top-label files: the confidence, positive = the
    predicted label is correct.
    """
    if preds.task is Task.BINARY:
        return [(preds.classes[1], preds.probs[:, 1], preds.labels == 1)]
    if preds.task is Task.MULTILABEL:
        return [(c, preds.probs[:, k], preds.labels[:, k] == 1) for k, c in enumerate(preds.classes)]
    if preds.task is Task.TOP_LABEL:
        return [("top-label correct", preds.probs[:, 0], preds.pred_labels == preds.labels)]
    return [(c, preds.probs[:, k], preds.labels == k) for k, c in enumerate(preds.classes)]


def target_names(task: Task, classes: tuple[str, ...]) -> list[str]:
    """Names of :func:`targets` without the data.

    >>> target_names(Task.BINARY, ("neg", "pos")), target_names(Task.MULTICLASS, ("a", "b", "c"))
    (['pos'], ['a', 'b', 'c'])
    """
    if task is Task.BINARY:
        return [classes[1]]
    if task is Task.TOP_LABEL:
        return ["top-label correct"]
    return list(classes)


class _Shared:
    """Immutable: replicas share it (``copy.deepcopy`` returns it)."""

    def __deepcopy__(self, memo) -> "_Shared":
        return self


@dataclass(frozen=True)
class RawRows(_Shared):
    """View: every row of the batch, raw scores only."""

    def __call__(self, batch: "Batch") -> tuple[Predictions, None]:
        return batch.predictions, None


@dataclass(frozen=True)
class CalibrateEach(_Shared):
    """View: every row of the batch, raw and ``calibrate(batch)`` (the same rows calibrated)."""

    calibrate: Callable[["Batch"], Predictions]

    def __call__(self, batch: "Batch") -> tuple[Predictions, Predictions]:
        return batch.predictions, self.calibrate(batch)


@dataclass(frozen=True)
class TransformWith(_Shared):
    """``calibrate`` of :class:`CalibrateEach` for a calibrator object: ``calibrator.transform(batch.predictions)``."""

    calibrator: object

    def __call__(self, batch: "Batch") -> Predictions:
        return self.calibrator.transform(batch.predictions)


@dataclass(frozen=True)
class PairedRows(_Shared):
    """View: ``pairs(batch)`` -> (rows to use, the same rows calibrated) as batches, or None to skip the batch
    (e.g. the evaluated rows of an audit, calibrated out of fold)."""

    pairs: Callable[["Batch"], "tuple[Batch, Batch] | None"]

    def __call__(self, batch: "Batch") -> tuple[Predictions, Predictions] | None:
        got = self.pairs(batch)
        return None if got is None else (got[0].predictions, got[1].predictions)


@dataclass(frozen=True)
class Layout(_Shared):
    """Which problems the tables count: table ``t`` is target ``picks[t // n_scales]`` on scale
    ``t % n_scales`` (0 raw, 1 calibrated); ``view`` says what each batch contributes."""

    picks: tuple[int, ...]
    n_scales: int = 1
    view: View = RawRows()

    @property
    def n_tables(self) -> int:
        return len(self.picks) * self.n_scales


class ThresholdCounts:
    """Count tables of one pass (a pass consumer; see the module docstring).

    Parameters
    ----------
    layout : Layout
    budget : int
        Entries each table keeps (see :class:`~calibcli.thresholds.tables.CountTable`).
    bayes : float, optional
        Also count the positives and negatives scoring at or above it (``at_bayes``).
    ranges : dict, optional
        Table index -> score ranges ``(lo, hi)`` (ascending): only these tables are
        counted, each only inside its ranges (a refinement pass). Default: every
        table, every row.

    Examples
    --------
    >>> import copy
    >>> from calibcli.engine.batches import InMemorySource
    >>> from calibcli.engine.local import feed
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7], [0.3, 0.7]]), np.array([0, 1, 0]),
    ...                 ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> c = ThresholdCounts(Layout((0,)), budget=8)
    >>> feed(InMemorySource.from_predictions(p, 2), c)
    3
    >>> s = c.tables[0].finalize(); s.lo.tolist(), s.pos.tolist(), s.neg.tolist()
    ([0.2, 0.7], [0, 1], [1, 1])
    """

    def __init__(self, layout: Layout, budget: int, bayes: float | None = None,
                 ranges: dict[int, tuple[np.ndarray, np.ndarray]] | None = None):
        self.layout = layout
        self.want = tuple(range(layout.n_tables)) if ranges is None else tuple(sorted(ranges))
        companion = layout.n_scales == 2
        self.tables = [CountTable(budget, None if ranges is None else ranges[t], companion) for t in self.want]
        self.bayes = bayes
        self.at_bayes = np.zeros((len(self.want), 2), dtype=np.int64)
        self.n_rows = 0

    def update(self, batch: "Batch") -> "ThresholdCounts":
        """Add the rows the layout's view takes from ``batch``."""
        got = self.layout.view(batch)
        if got is None:
            return self
        raw, cal = got
        scales = (targets(raw),) if self.layout.n_scales == 1 else (targets(raw), targets(cal))
        self.n_rows += raw.n_samples
        for i, t in enumerate(self.want):
            k, s = self.layout.picks[t // self.layout.n_scales], t % self.layout.n_scales
            _, scores, y = scales[s][k]
            other = None if len(scales) == 1 else np.asarray(scales[1 - s][k][1], dtype=np.float64)
            scores, y = np.asarray(scores, dtype=np.float64), np.asarray(y, dtype=bool)
            self.tables[i].update(scores, y, other)
            if self.bayes is not None:
                above = scores >= self.bayes
                k_above = int(np.count_nonzero(above))
                hit = int(np.count_nonzero(above & y))
                self.at_bayes[i] += (hit, k_above - hit)
        return self

    def merge(self, other: "ThresholdCounts") -> "ThresholdCounts":
        """Add the rows of ``other``, a replica of this consumer fed with other rows (in place)."""
        if not isinstance(other, ThresholdCounts) or other.want != self.want or other.bayes != self.bayes \
                or other.layout.n_tables != self.layout.n_tables:
            raise ValueError("cannot merge threshold counts of different passes")
        self.tables = [a.merge(b) for a, b in zip(self.tables, other.tables)]
        self.at_bayes += other.at_bayes
        self.n_rows += other.n_rows
        return self
