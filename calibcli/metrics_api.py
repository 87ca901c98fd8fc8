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

import numpy as np

from calibcli.metrics_measured import ReliabilityCurve, measure_arrays
from calibcli.metrics_validation import (  # noqa: F401  (RANGE_TOL, ROW_SUM_TOL: re-exported)
    KINDS, RANGE_TOL, ROW_SUM_TOL, Kind, resolve_kind, validate_arrays)

__all__ = ["KINDS", "ReliabilityCurve", "accuracy", "brier_score", "classwise_ece", "curve_outcomes", "e50", "e90",
           "emax", "expected_calibration_error", "headline_metrics", "maximum_calibration_error", "negative_log_likelihood",
           "reliability_curve"]


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
    return measure_arrays(y_true, y_prob, n_bins, strategy, sample_weight).curve(kind).errors()[0]


def maximum_calibration_error(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform", *, sample_weight=None,
                              kind: Kind = "auto") -> float:
    """The largest ``|observed - mean confidence|`` over non-empty bins of one curve.

    Parameters are those of :func:`expected_calibration_error`.

    Examples
    --------
    >>> round(maximum_calibration_error([1, 0, 1, 1], [0.9, 0.3, 0.6, 0.8], n_bins=5), 6)
    0.4
    """
    return measure_arrays(y_true, y_prob, n_bins, strategy, sample_weight).curve(kind).errors()[1]


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
    m = measure_arrays(y_true, y_prob, n_bins, strategy, sample_weight)
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
    m = measure_arrays(y_true, y_prob, sample_weight=sample_weight)
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
    return measure_arrays(y_true, y_prob, sample_weight=sample_weight).nll


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
    return measure_arrays(y_true, y_prob, sample_weight=sample_weight).accuracy


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
    return measure_arrays(y_true, y_prob, n_bins, strategy, sample_weight).curve(kind).reliability()


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
    m = measure_arrays(y_true, y_prob, n_bins, strategy, sample_weight)
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

    preds, _ = validate_arrays(y_true, y_prob)
    which = resolve_kind(preds.task.value, preds.n_classes, kind)
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
