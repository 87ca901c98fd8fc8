"""The audit's metrics as scikit-learn-style functions of arrays (exposed as :mod:`calibcli.metrics`).

Every function takes ``y_true`` and ``y_prob`` in one of three forms:

- binary: ``y_true`` 0/1 of shape (n,), ``y_prob`` P(y=1) of shape (n,) (or the two
  columns ``(n, 2)`` of ``predict_proba``, read as a two-column file is: binary);
- multi-class: ``y_true`` class indices 0..K-1 of shape (n,), ``y_prob`` of shape (n, K)
  with rows summing to 1;
- multilabel: ``y_true`` a 0/1 indicator matrix (n, K), ``y_prob`` (n, K) of independent
  probabilities.

Unweighted values come from the audit's own code: the rows become one in-memory batch
(:class:`~calibcli.engine.batches.InMemorySource`) measured by
:class:`~calibcli.measure.MeasureState` (bin edges from :mod:`calibcli.bin_edges`), so
they equal ``calib audit``'s numbers for the same rows. ``sample_weight`` (frequency
weights: weight 2 counts a row twice) goes through the same partial states with weights
(:class:`~calibcli.stats.bins.BinStats`) and weighted quantile edges.

Conventions (those of the audit): bins ``lo < c <= hi``, the first also takes 0; the
headline ECE/MCE (``kind="auto"``) is the positive class's for binary input, the
top-label one (confidence = max probability, outcome = argmax is correct, ties to the
lowest index) for multi-class, and all (row, label) pairs pooled for multilabel; Brier
is per row the sum over classes of the squared error, averaged; NLL is the natural log,
probabilities clipped at 1e-12.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from calibcli.binning import STRATEGIES, quantile_edges_from_counts, uniform_edges

Kind = Union[str, int]
KINDS = ("auto", "top_label", "positive", "pooled")
ROW_SUM_TOL = 1e-3  # as calibcli.validation.scores.ROW_SUM_TOL (a test checks they agree)
RANGE_TOL = 1e-4  # float noise accepted outside [0, 1] (as calibcli.validation.scores.RANGE_TOL), used as given

__all__ = ["KINDS", "ReliabilityCurve", "accuracy", "brier_score", "classwise_ece", "curve_outcomes", "e50", "e90",
           "emax", "expected_calibration_error", "headline_metrics", "maximum_calibration_error", "negative_log_likelihood",
           "reliability_curve"]


# ------------------------------------------------------------------ results
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
class _Curve:
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
class _Measured:
    """Every curve and scalar of one set of rows."""

    task: str  # "binary", "multiclass" or "multilabel"
    top: _Curve  # top-label curve (multilabel: all (row, label) pairs pooled)
    classes: tuple[_Curve, ...]  # one-vs-rest curve of each class (label)
    accuracy: float
    class_brier: np.ndarray  # (K,)
    brier: float
    nll: float

    def curve(self, kind: Kind) -> _Curve:
        which = _resolve(self.task, len(self.classes), kind)
        return self.top if which == "top" else self.classes[which]

    def classwise(self) -> float:
        eces = np.array([c.errors()[0] for c in self.classes])
        if self.task == "multilabel":  # as the audit: the mean over labels with a defined ECE
            return float(np.nanmean(eces)) if np.isfinite(eces).any() else float("nan")
        return float(np.mean(eces))


# ------------------------------------------------------------------ validation
def _resolve(task: str, n_classes: int, kind: Kind) -> str | int:
    """The curve ``kind`` names for ``task``: ``"top"`` (top label; multilabel: pooled) or a class index."""
    if isinstance(kind, (int, np.integer)) and not isinstance(kind, bool):
        if not 0 <= kind < n_classes:
            raise ValueError(f"kind={kind} is not a class index of y_prob (0 .. {n_classes - 1})")
        return int(kind)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or a class index, got {kind!r}")
    if kind == "auto":
        return 1 if task == "binary" else "top"
    if kind == "top_label" and task == "multilabel":
        raise ValueError("kind='top_label' is not defined for multilabel input (labels are independent); "
                         "use kind='pooled' or a label index")
    if kind == "positive" and task != "binary":
        raise ValueError(f"kind='positive' needs binary input, got {task} input; use 'auto' or a class index")
    if kind == "pooled" and task != "multilabel":
        raise ValueError(f"kind='pooled' needs multilabel input (a 2-D y_true), got {task} input")
    return 1 if kind == "positive" else "top"


def _check_bins(n_bins: Any, strategy: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    return int(n_bins)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0])


def _numeric(x: Any, name: str, hint: str = "") -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got an array of dtype {a.dtype}{hint}")
    return a


def _validate(y_true: Any, y_prob: Any, sample_weight: Any = None):
    """``(Predictions, weights or None)`` from the arrays; a ``ValueError`` naming the argument and first bad row."""
    from calibcli.predictions import Predictions, ScoreKind, Task

    p = _numeric(y_prob, "y_prob").astype(np.float64)
    y = _numeric(y_true, "y_true", " (class names? pass their column indices in y_prob, e.g. "
                 "np.searchsorted(classes, y) for sorted classes)")
    if p.ndim not in (1, 2) or (p.ndim == 2 and p.shape[1] < 2):
        raise ValueError(f"y_prob must have shape (n,) (binary: P(y=1)) or (n, K) with K >= 2, got {p.shape}")
    n = p.shape[0]
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"y_true has shape {y.shape} and y_prob {p.shape}: they need the same number of rows")
    bad = ~np.isfinite(p)
    if bad.any():
        raise ValueError(f"y_prob holds {int(bad.sum())} NaN or infinite value(s), first in row {_first(bad)}")
    out = (p < -RANGE_TOL) | (p > 1.0 + RANGE_TOL)
    if out.any():
        i = _first(out)
        raise ValueError(f"y_prob must hold probabilities in [0, 1] (tolerance {RANGE_TOL:g}); row {i} holds {p[i].tolist()} "
                         "(logits? apply a softmax, or a sigmoid per label, first)")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"y_true holds NaN or infinite values, first in row {_first(~np.isfinite(y))}")
    if y.size and not np.all(y == np.round(y)):
        raise ValueError(f"y_true must hold integers (class indices or 0/1), row {_first(y != np.round(y))} does not")
    if y.ndim == 2:  # multilabel
        if p.shape != y.shape:
            raise ValueError(f"a 2-D y_true (multilabel indicators) needs y_prob of the same shape: "
                             f"y_true {y.shape}, y_prob {p.shape}")
        bad = (y != 0) & (y != 1)
        if bad.any():
            raise ValueError(f"multilabel y_true must hold 0/1 indicators; row {_first(bad)} holds {y[_first(bad)].tolist()}")
        labels, task, probs = y.astype(np.int64), Task.MULTILABEL, p
    else:
        probs = np.column_stack([1.0 - p, p]) if p.ndim == 1 else p
        k = probs.shape[1]
        bad = (y < 0) | (y >= k)
        if bad.any():
            i = _first(bad)
            what = "0/1 labels" if p.ndim == 1 else f"class indices 0 .. {k - 1} (one per column of y_prob)"
            raise ValueError(f"y_true must hold {what}; row {i} holds {y[i].tolist()!r}")
        if p.ndim == 2:
            off = np.abs(p.sum(axis=1) - 1.0) > ROW_SUM_TOL
            if off.any():
                i = _first(off)
                raise ValueError(f"rows of y_prob must sum to 1 (tolerance {ROW_SUM_TOL:g}); row {i} sums to "
                                 f"{p[i].sum():.6g}. Normalise the rows, or pass a 2-D 0/1 y_true for multilabel input")
        labels, task = y.astype(np.int64), (Task.BINARY if k == 2 else Task.MULTICLASS)
    w = None
    if sample_weight is not None:
        w = _numeric(sample_weight, "sample_weight").astype(np.float64)
        if w.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},) (one weight per row), got {w.shape}")
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            i = _first(bad)
            raise ValueError(f"sample_weight must hold finite non-negative values; row {i} holds {w[i].tolist()!r}")
    classes = tuple(str(c) for c in range(probs.shape[1]))
    return Predictions(probs + 0.0, labels, classes, task, ScoreKind.PROBS), w


# ------------------------------------------------------------------ measuring
def _measure(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform", sample_weight=None) -> _Measured:
    n_bins = _check_bins(n_bins, strategy)
    preds, w = _validate(y_true, y_prob, sample_weight)
    return _weighted(preds, w, n_bins, strategy) if w is not None else _audited(preds, n_bins, strategy)


def _audited(preds, n_bins: int, strategy: str) -> _Measured:
    """The audit's measurement (:func:`calibcli.measure.measure_source` over one in-memory batch)."""
    from calibcli.engine.batches import InMemorySource
    from calibcli.measure import measure_source

    m = measure_source(InMemorySource.from_predictions(preds, max(preds.n_samples, 1)), n_bins, strategy)

    def curve(r) -> _Curve:
        return _Curve(r.edges, r.count, r.count.astype(np.float64), r.sum_conf, r.sum_outcome)

    class_brier = np.array([np.nan if c.brier is None else c.brier for c in m.classes], dtype=np.float64)
    return _Measured(preds.task.value, curve(m.reliability), tuple(curve(c.reliability) for c in m.classes),
                     m.metrics.accuracy, class_brier, m.metrics.brier, m.metrics.nll)


def _edges(values: np.ndarray, w: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Equal-width edges, or equal-mass edges of the weighted values (weights as counts: the audit's rule)."""
    if strategy == "uniform":
        return uniform_edges(n_bins)
    distinct, inverse = np.unique(values + 0.0, return_inverse=True)
    return quantile_edges_from_counts(distinct, np.bincount(inverse.ravel(), weights=w, minlength=distinct.size), n_bins)


def _binned(conf: np.ndarray, outcome: np.ndarray, w: np.ndarray, n_bins: int, strategy: str) -> _Curve:
    from calibcli.stats.bins import BinStats

    edges = _edges(conf, w, n_bins, strategy)
    s = BinStats(edges).update(conf, outcome, weight=w)
    return _Curve(s.edges, s.count[0], s.sums["sum_w"][0], s.sums["sum_wc"][0], s.sums["sum_wy"][0])


def _weighted(preds, w: np.ndarray, n_bins: int, strategy: str) -> _Measured:
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
    return _Measured(preds.task.value, top, classes, acc, class_brier, float(np.sum(class_brier)), nll)


# ------------------------------------------------------------------ public functions
def expected_calibration_error(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform", *, sample_weight=None,
                               kind: Kind = "auto") -> float:
    """Binned expected calibration error, ``sum_b (n_b / N) |observed_b - mean confidence_b|``.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, K)
        0/1 labels (binary), class indices 0..K-1 (multi-class) or a 0/1 indicator matrix (multilabel).
    y_prob : array-like of shape (n,) or (n, K)
        P(y=1) (binary), class probabilities with rows summing to 1, or per-label probabilities.
    n_bins : int, default 15
        Number of bins.
    strategy : {"uniform", "quantile"}, default "uniform"
        Equal-width bins, or equal-mass bins (ties never split).
    sample_weight : array-like of shape (n,), optional
        Frequency weights (weight 2 counts a row twice).
    kind : {"auto", "top_label", "positive", "pooled"} or int, default "auto"
        Which curve: "auto" is the audit's headline (binary: the positive class; multi-class:
        the top label; multilabel: all (row, label) pairs pooled); "top_label" the audit's
        ``ece_top_label`` (binary confidence = max(p, 1 - p)); an integer ``k`` the one-vs-rest
        curve of class (label) ``k``.

    Returns
    -------
    float
        NaN without rows.

    Examples
    --------
    >>> round(expected_calibration_error([1, 0, 1, 1], [0.9, 0.3, 0.6, 0.8], n_bins=5), 6)
    0.25
    >>> P = [[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]
    >>> round(expected_calibration_error([1, 1, 2], P, n_bins=5), 6)  # top label
    0.366667
    >>> round(expected_calibration_error([1, 1, 2], P, n_bins=5, kind=2), 6)  # class 2 one-vs-rest
    0.133333
    """
    return _measure(y_true, y_prob, n_bins, strategy, sample_weight).curve(kind).errors()[0]


def maximum_calibration_error(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform", *, sample_weight=None,
                              kind: Kind = "auto") -> float:
    """The largest ``|observed - mean confidence|`` over non-empty bins of one curve.

    Parameters are those of :func:`expected_calibration_error`.

    Examples
    --------
    >>> round(maximum_calibration_error([1, 0, 1, 1], [0.9, 0.3, 0.6, 0.8], n_bins=5), 6)
    0.4
    """
    return _measure(y_true, y_prob, n_bins, strategy, sample_weight).curve(kind).errors()[1]


def classwise_ece(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform", *, sample_weight=None,
                  average: str | None = "macro"):
    """Mean over classes (labels) of each class's one-vs-rest ECE.

    Parameters
    ----------
    y_true, y_prob, n_bins, strategy, sample_weight
        As :func:`expected_calibration_error`.
    average : {"macro", None}, default "macro"
        "macro": the mean over classes (the audit's ``classwise_ece``); None: the ECE of
        every class, an array of shape (K,) (the audit's per-class ``ece``).

    Examples
    --------
    >>> round(classwise_ece([0, 1], [[0.9, 0.1], [0.4, 0.6]], n_bins=10), 6)
    0.25
    >>> classwise_ece([0, 1], [[0.9, 0.1], [0.4, 0.6]], n_bins=10, average=None).round(6).tolist()
    [0.25, 0.25]
    """
    if average not in ("macro", None):
        raise ValueError(f"average must be 'macro' or None, got {average!r}")
    m = _measure(y_true, y_prob, n_bins, strategy, sample_weight)
    if average is None:
        return np.array([c.errors()[0] for c in m.classes])
    return m.classwise()


def brier_score(y_true, y_prob, *, sample_weight=None, average: str | None = "sum"):
    """Multi-class Brier score: per row ``sum_k (p_k - onehot_k)^2``, averaged over rows (range 0..2).

    For binary input this is twice scikit-learn's ``brier_score_loss`` (both classes'
    squared errors count); for multilabel input the sum over labels of each label's Brier score.

    Parameters
    ----------
    y_true, y_prob, sample_weight
        As :func:`expected_calibration_error`.
    average : {"sum", None}, default "sum"
        "sum": the score above; None: each class's (label's) mean squared error, shape (K,).

    Examples
    --------
    >>> brier_score([0], [[0.75, 0.25]])
    0.125
    >>> brier_score([1, 0], [0.8, 0.4], average=None).round(6).tolist()
    [0.1, 0.1]
    """
    if average not in ("sum", None):
        raise ValueError(f"average must be 'sum' or None, got {average!r}")
    m = _measure(y_true, y_prob, sample_weight=sample_weight)
    return m.class_brier if average is None else m.brier


def negative_log_likelihood(y_true, y_prob, *, sample_weight=None) -> float:
    """Mean of ``-ln(max(p_true, 1e-12))``; multilabel: the sum over labels of each label's binary cross-entropy.

    Examples
    --------
    >>> round(negative_log_likelihood([0], [[0.5, 0.5]]), 6)
    0.693147
    >>> round(negative_log_likelihood([1, 0], [0.9, 0.2]), 6)  # scikit-learn's log_loss
    0.164252
    """
    return _measure(y_true, y_prob, sample_weight=sample_weight).nll


def accuracy(y_true, y_prob, *, sample_weight=None) -> float:
    """Share of rows whose argmax (ties to the lowest class index) is the label.

    Binary 1-D ``y_prob``: predicted 1 when p > 0.5 (a tie goes to class 0). Multilabel:
    the share of (row, label) pairs right at the threshold 0.5 (present when p >= 0.5).

    Examples
    --------
    >>> accuracy([1, 0, 1], [0.9, 0.5, 0.4])
    0.6666666666666666
    >>> accuracy([[1, 0], [0, 0]], [[0.7, 0.6], [0.2, 0.1]])
    0.75
    """
    return _measure(y_true, y_prob, sample_weight=sample_weight).accuracy


def reliability_curve(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform", *, sample_weight=None,
                      kind: Kind = "auto") -> ReliabilityCurve:
    """Every bin of one reliability curve: mean confidence, observed frequency, rows and weight.

    Like scikit-learn's ``calibration_curve`` (which returns the non-empty bins'
    ``prob_true, prob_pred``), but every bin is kept (empty ones: count 0, NaN means)
    and the bin rule is ``lo < c <= hi`` (the first bin also takes 0). Parameters are
    those of :func:`expected_calibration_error`.

    Examples
    --------
    >>> r = reliability_curve([1, 0, 1, 1], [0.9, 0.3, 0.6, 0.8], n_bins=2)
    >>> r.count.tolist(), r.mean_confidence.round(6).tolist(), r.observed_frequency.round(6).tolist()
    ([1, 3], [0.3, 0.766667], [0.0, 1.0])
    >>> reliability_curve([1, 0], [0.9, 0.3], n_bins=4).count.tolist()  # the empty bins stay
    [0, 1, 0, 1]
    """
    return _measure(y_true, y_prob, n_bins, strategy, sample_weight).curve(kind).reliability()


def headline_metrics(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform", *, sample_weight=None
                     ) -> dict[str, float | None]:
    """The audit's headline metrics in one pass: the keys and values of its JSON ``metrics`` object.

    Keys: ``accuracy``, ``ece``, ``mce``, ``classwise_ece``, ``brier``, ``nll``, ``ece_top_label``
    (None for multilabel input).

    Examples
    --------
    >>> m = headline_metrics([1, 0, 1, 1], [0.9, 0.3, 0.6, 0.8], n_bins=5)
    >>> sorted(m), round(m["ece"], 6), m["accuracy"]
    (['accuracy', 'brier', 'classwise_ece', 'ece', 'ece_top_label', 'mce', 'nll'], 0.25, 1.0)
    """
    m = _measure(y_true, y_prob, n_bins, strategy, sample_weight)
    ece, mce = m.curve("auto").errors()
    return {"accuracy": m.accuracy, "ece": ece, "mce": mce, "classwise_ece": m.classwise(), "brier": m.brier,
            "nll": m.nll, "ece_top_label": None if m.task == "multilabel" else m.top.errors()[0]}


def curve_outcomes(y_true, y_prob, *, kind: Kind = "auto") -> tuple[np.ndarray, np.ndarray]:
    """``(outcome, confidence)`` of one curve, to feed the binary statistics (``ece_l2``, ``auroc``, ...).

    ``kind`` as in :func:`expected_calibration_error`. For multilabel ``kind="pooled"``
    (or "auto") the arrays hold every (row, label) pair, row by row: repeat a row's
    weight with ``np.repeat(sample_weight, K)``.

    Examples
    --------
    >>> y, c = curve_outcomes([2, 0], [[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    >>> y.tolist(), c.tolist()
    ([1.0, 0.0], [0.5, 0.6])
    >>> [a.tolist() for a in curve_outcomes([2, 0], [[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]], kind=0)]
    [[0.0, 1.0], [0.2, 0.1]]
    """
    from calibcli.statistics.inputs import curve_arrays

    preds, _ = _validate(y_true, y_prob)
    which = _resolve(preds.task.value, preds.n_classes, kind)
    if which == "top":
        which = "pooled" if preds.task.value == "multilabel" else "top"
    conf, outcome = curve_arrays(preds, which)
    return np.asarray(outcome, dtype=np.float64), np.asarray(conf, dtype=np.float64)


def _ici_part(name: str, y_true, y_prob, sample_weight, n_bins: int | None) -> float:
    from calibcli.statistics.ici import ici

    fine = {} if n_bins is None else {"n_bins": n_bins}
    return float(getattr(ici(y_true, y_prob, sample_weight=sample_weight, **fine), name))


def e50(y_true, y_prob, *, sample_weight=None, n_bins: int | None = None) -> float:
    """Median absolute gap between the loess-smoothed calibration curve and the scores (Austin & Steyerberg 2019).

    Binary: ``y_true`` 0/1 and ``y_prob`` of shape (n,) (see :func:`curve_outcomes` for other
    input); ``n_bins``: the fine buckets the loess runs on (default: ``ici``'s, 4096; the audit's
    per-class curves use 1024). :func:`calibcli.statistics.ici.ici` gives ICI, E50, E90 and Emax at once.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=2000)
    >>> y = (rng.uniform(size=2000) < p).astype(int)
    >>> e50(y, p) <= e90(y, p) <= emax(y, p) < 0.1
    True
    """
    return _ici_part("e50", y_true, y_prob, sample_weight, n_bins)


def e90(y_true, y_prob, *, sample_weight=None, n_bins: int | None = None) -> float:
    """90th percentile of the absolute gap of the loess-smoothed calibration curve (see :func:`e50`).

    >>> round(e90([0, 1] * 200, [0.5] * 400), 6)
    0.0
    """
    return _ici_part("e90", y_true, y_prob, sample_weight, n_bins)


def emax(y_true, y_prob, *, sample_weight=None, n_bins: int | None = None) -> float:
    """Largest absolute gap of the loess-smoothed calibration curve (see :func:`e50`).

    >>> round(emax([0, 1] * 200, [0.5] * 400), 6)
    0.0
    """
    return _ici_part("emax", y_true, y_prob, sample_weight, n_bins)
