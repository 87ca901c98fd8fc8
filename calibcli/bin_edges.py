"""Bin edges of every curve of a measurement, and the first pass that finds equal-mass edges.

:class:`EdgeState` is a partial state (``update(batch)``, ``merge``,
``finalize() -> BinEdges``): exact distinct-value tables of the confidences of
every curve (top-label, and per class for the one-vs-rest curves) while they fit
``max_distinct`` values, with a KLL sketch beside each for when they do not.
Edges follow the order-statistic rule of
:func:`calibcli.binning.quantile_edges_from_counts`; :class:`BinEdges` says
whether they are exact or from a sketch (with its rank error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.binning import STRATEGIES, quantile_edges_from_counts, uniform_edges
from calibcli.engine.batches import Batch, BatchSource
from calibcli.predictions import Predictions, Task
from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT, DistinctTable
from calibcli.stats.kll import DEFAULT_K, KLLSketch, normalized_rank_error


@dataclass(frozen=True)
class BinEdges:
    """Bin edges of every curve of a measurement.

    ``top``: the top-label curve (multilabel: all (row, label) pairs pooled).
    ``classes``: one edge array per class for the one-vs-rest curves, or ``None``
    when every class curve uses ``top`` (equal-width bins; top-label files, whose
    per-class curves are top-label curves of the rows predicted as the class).
    ``exact``: False when some quantile edges came from a KLL sketch, whose
    normalized rank error is ``rank_error``.
    """

    top: np.ndarray
    classes: tuple[np.ndarray, ...] | None = None
    exact: bool = True
    rank_error: float | None = None

    @classmethod
    def uniform(cls, n_bins: int) -> "BinEdges":
        """Equal-width edges for every curve.

        >>> BinEdges.uniform(2).top.tolist()
        [0.0, 0.5, 1.0]
        """
        return cls(uniform_edges(n_bins))

    def of_class(self, k: int) -> np.ndarray:
        return self.top if self.classes is None else self.classes[k]


def _curve_values(p: Predictions) -> tuple[np.ndarray, list[np.ndarray]]:
    """The confidences of the top-label curve and of each class curve (none for top-label files)."""
    if p.task is Task.MULTILABEL:
        return p.probs.ravel(), [p.probs[:, k] for k in range(p.n_classes)]
    conf, _ = p.confidence_and_correct()
    if p.task is Task.TOP_LABEL:
        return conf, []
    return conf, [p.probs[:, k] for k in range(p.n_classes)]


class _ExactOrSketch:
    """A distinct-value table (exact within budget) and a KLL sketch of the same values.

    Per-batch tables wait in ``pending`` and are merged into ``table`` once they
    hold as many values as it does, so the table is re-sorted a logarithmic number
    of times, not once per batch.
    """

    def __init__(self, max_distinct: int, k: int, seed: int):
        self.table = DistinctTable(max_distinct)
        self.pending: list[DistinctTable] = []
        self.sketch = KLLSketch(k, seed)

    def update(self, values: np.ndarray) -> None:
        self.sketch.update(values)
        if self.table.exact:
            self.pending.append(DistinctTable(self.table.max_distinct).update(values, np.zeros(values.shape)))
            if sum(t.size for t in self.pending) >= max(self.table.size, 1 << 16):
                self._flush()
        else:
            self.table.total_rows += values.size

    def _flush(self) -> None:
        for t in self.pending:
            self.table = self.table.merge(t)
        self.pending = []

    def merged(self, other: "_ExactOrSketch") -> "_ExactOrSketch":
        self._flush()
        other._flush()
        out = _ExactOrSketch(self.table.max_distinct, self.sketch.k, self.sketch.seed)
        out.table, out.sketch = self.table.merge(other.table), self.sketch.merge(other.sketch)
        return out

    def edges(self, n_bins: int) -> tuple[np.ndarray, bool]:
        self._flush()
        t = self.table.finalize()
        if t.exact:
            return quantile_edges_from_counts(t.values, t.rows, n_bins), True
        return self.sketch.finalize().quantile_edges(n_bins), False


class EdgeState:
    """First pass of equal-mass binning: the values behind every curve's quantile edges.

    Parameters
    ----------
    task : Task
    n_classes : int
    n_bins : int
    max_distinct : int
        Budget of distinct values over all curves (split evenly between them);
        beyond it a curve's edges come from its KLL sketch.
    sketch_k : int
        KLL parameter (rank error :func:`calibcli.stats.kll.normalized_rank_error`).
    """

    def __init__(self, task: Task, n_classes: int, n_bins: int, max_distinct: int = DEFAULT_MAX_DISTINCT,
                 sketch_k: int = DEFAULT_K, seed: int = 0):
        self.task, self.n_classes, self.n_bins = task, int(n_classes), int(n_bins)
        self.max_distinct, self.sketch_k, self.seed = int(max_distinct), int(sketch_k), int(seed)
        n_curves = 1 + (0 if task is Task.TOP_LABEL else self.n_classes)
        per = max(1, self.max_distinct // n_curves)
        self.curves = [_ExactOrSketch(per, sketch_k, seed) for _ in range(n_curves)]

    def update(self, batch: Batch | Predictions) -> "EdgeState":
        p = batch.predictions if isinstance(batch, Batch) else batch
        top, per_class = _curve_values(p)
        for curve, values in zip(self.curves, [top, *per_class]):
            curve.update(np.asarray(values, dtype=np.float64))
        return self

    def merge(self, other: "EdgeState") -> "EdgeState":
        """A new state of the values of both (the inputs are left unchanged; a pass consumer that
        holds one merges with ``calibcli.engine.local.merge_into``)."""
        out = EdgeState(self.task, self.n_classes, self.n_bins, self.max_distinct, self.sketch_k, self.seed)
        out.curves = [a.merged(b) for a, b in zip(self.curves, other.curves, strict=True)]
        return out

    def finalize(self) -> BinEdges:
        got = [c.edges(self.n_bins) for c in self.curves]
        exact = all(e for _, e in got)
        classes = None if self.task is Task.TOP_LABEL else tuple(e for e, _ in got[1:])
        return BinEdges(got[0][0], classes, exact, None if exact else normalized_rank_error(self.sketch_k))


def source_edges(source: BatchSource, n_bins: int, strategy: str, max_distinct: int = DEFAULT_MAX_DISTINCT) -> BinEdges:
    """Edges of every curve: equal-width without reading, or quantile edges from one pass."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "uniform":
        return BinEdges.uniform(n_bins)
    from calibcli.engine.local import run_pass

    info = source.info
    return run_pass(source, lambda: EdgeState(info.task, len(info.classes), n_bins, max_distinct),
                    lambda s, b: s.update(b)).finalize()
