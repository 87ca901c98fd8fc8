"""Measuring validated arrays for :mod:`calibcli.metrics_api`: every curve's bin sums and the scalar metrics.

Unweighted rows go through the audit's own code (:func:`calibcli.measure.measure_source`
over one in-memory batch); weighted rows through the same partial states with weights
(:class:`~calibcli.stats.bins.BinStats`) and weighted quantile edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.binning import quantile_edges_from_counts, uniform_edges
from calibcli.metrics_validation import Kind, check_bins, resolve_kind, validate_arrays


@dataclass(frozen=True)
class ReliabilityCurve:
    """One binned reliability curve (every bin, empty ones with count 0 and NaN means).

    Attributes
    ----------
    edges : ndarray of shape (B + 1,)
        Bin edges; a confidence ``c`` is in the bin with ``lo < c <= hi`` (the first bin also takes 0).
    mean_confidence : ndarray of shape (B,)
        Weighted mean confidence of each bin (NaN when empty).
    observed_frequency : ndarray of shape (B,)
        Weighted mean outcome of each bin: the accuracy of a top-label curve (NaN when empty).
    count : ndarray of shape (B,)
        Rows in each bin.
    weight : ndarray of shape (B,)
        Sum of ``sample_weight`` in each bin (equal to ``count`` without weights).
    """

    edges: np.ndarray
    mean_confidence: np.ndarray
    observed_frequency: np.ndarray
    count: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class CurveSums:
    """Per-bin sums of one curve: rows, weight, weighted confidence and weighted outcome."""

    edges: np.ndarray
    count: np.ndarray
    weight: np.ndarray
    sum_conf: np.ndarray
    sum_outcome: np.ndarray

    def errors(self) -> tuple[float, float]:
        """(ECE, MCE), as :meth:`calibcli.report.Reliability.ece` and ``mce``."""
        from calibcli.stats.bins import curve_errors

        ece, mce, _ = curve_errors(self.weight, self.sum_conf, self.sum_outcome)
        return float(ece), float(mce)

    def reliability(self) -> ReliabilityCurve:
        has = self.weight > 0
        safe = np.where(has, self.weight, 1.0)
        return ReliabilityCurve(self.edges.copy(), np.where(has, self.sum_conf / safe, np.nan),
                                np.where(has, self.sum_outcome / safe, np.nan), self.count.astype(np.int64),
                                self.weight.astype(np.float64))


@dataclass(frozen=True)
class Measured:
    """Every curve and scalar of one set of rows."""

    task: str  # "binary", "multiclass" or "multilabel"
    top: CurveSums  # top-label curve (multilabel: all (row, label) pairs pooled)
    classes: tuple[CurveSums, ...]  # one-vs-rest curve of each class (label)
    accuracy: float
    class_brier: np.ndarray  # (K,)
    brier: float
    nll: float

    def curve(self, kind: Kind) -> CurveSums:
        which = resolve_kind(self.task, len(self.classes), kind)
        return self.top if which == "top" else self.classes[which]

    def classwise(self) -> float:
        eces = np.array([c.errors()[0] for c in self.classes])
        if self.task == "multilabel":  # as the audit: the mean over labels with a defined ECE
            return float(np.nanmean(eces)) if np.isfinite(eces).any() else float("nan")
        return float(np.mean(eces))


def measure_arrays(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform", sample_weight=None) -> Measured:
    """Every curve and scalar of the rows ``(y_true, y_prob)``, validated (:func:`validate_arrays`)."""
    n_bins = check_bins(n_bins, strategy)
    preds, w = validate_arrays(y_true, y_prob, sample_weight)
    return _weighted(preds, w, n_bins, strategy) if w is not None else _audited(preds, n_bins, strategy)


def _audited(preds, n_bins: int, strategy: str) -> Measured:
    """The audit's measurement (:func:`calibcli.measure.measure_source` over one in-memory batch)."""
    from calibcli.engine.batches import InMemorySource
    from calibcli.measure import measure_source

    m = measure_source(InMemorySource.from_predictions(preds, max(preds.n_samples, 1)), n_bins, strategy)

    def curve(r) -> CurveSums:
        return CurveSums(r.edges, r.count, r.count.astype(np.float64), r.sum_conf, r.sum_outcome)

    class_brier = np.array([np.nan if c.brier is None else c.brier for c in m.classes], dtype=np.float64)
    return Measured(preds.task.value, curve(m.reliability), tuple(curve(c.reliability) for c in m.classes),
                     m.metrics.accuracy, class_brier, m.metrics.brier, m.metrics.nll)


def _edges(values: np.ndarray, w: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Equal-width edges, or equal-mass edges of the weighted values (weights as counts: the audit's rule)."""
    if strategy == "uniform":
        return uniform_edges(n_bins)
    distinct, inverse = np.unique(values + 0.0, return_inverse=True)
    return quantile_edges_from_counts(distinct, np.bincount(inverse.ravel(), weights=w, minlength=distinct.size), n_bins)


def _binned(conf: np.ndarray, outcome: np.ndarray, w: np.ndarray, n_bins: int, strategy: str) -> CurveSums:
    from calibcli.stats.bins import BinStats

    edges = _edges(conf, w, n_bins, strategy)
    s = BinStats(edges).update(conf, outcome, weight=w)
    return CurveSums(s.edges, s.count[0], s.sums["sum_w"][0], s.sums["sum_wc"][0], s.sums["sum_wy"][0])


def _weighted(preds, w: np.ndarray, n_bins: int, strategy: str) -> Measured:
    """The audit's metrics with frequency weights: weighted binned sums and weighted means."""
    from calibcli.metrics import NLL_CLIP
    from calibcli.predictions import Task

    probs, y, k = preds.probs, preds.labels, preds.n_classes
    total = float(w.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        def mean(v: np.ndarray) -> float:
            return float(np.dot(w, v) / total) if total > 0 else float("nan")

        if preds.task is Task.MULTILABEL:
            yf = y.astype(np.float64)
            top = _binned(probs.ravel(), yf.ravel(), np.repeat(w, k), n_bins, strategy)
            outcomes = [yf[:, c] for c in range(k)]
            sq = (probs - yf) ** 2
            class_brier = np.array([mean(sq[:, c]) for c in range(k)])
            bce = -np.log(np.maximum(np.where(y > 0, probs, 1.0 - probs), NLL_CLIP))
            nll = float(sum(mean(bce[:, c]) for c in range(k)))
            acc = mean(np.count_nonzero((probs >= 0.5) == (y > 0), axis=1) / k)
        else:
            conf, correct = preds.confidence_and_correct()
            top = _binned(conf, correct.astype(np.float64), w, n_bins, strategy)
            onehot = (y[:, None] == np.arange(k)[None, :]).astype(np.float64)
            outcomes = [onehot[:, c] for c in range(k)]
            class_brier = np.array([mean((probs[:, c] - onehot[:, c]) ** 2) for c in range(k)])
            nll = mean(-np.log(np.maximum(probs[np.arange(len(y)), y], NLL_CLIP)))
            acc = mean(correct.astype(np.float64))
        classes = tuple(_binned(probs[:, c], outcomes[c], w, n_bins, strategy) for c in range(k))
    return Measured(preds.task.value, top, classes, acc, class_brier, float(np.sum(class_brier)), nll)
