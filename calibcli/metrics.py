"""Calibration metrics: scikit-learn-style functions of arrays, over the same partial states as the audit.

The binned metrics finalize :class:`calibcli.stats.bins.BinStats` (one batch);
``calibcli.measure.MeasureState`` feeds the same states batch by batch.

Conventions (printed in every report):

- top-label ECE: confidence = max probability, outcome = argmax is correct (ties in
  the argmax go to the lowest class index); ECE = sum_b (n_b/N) |acc_b - conf_b|.
- MCE: max gap over non-empty bins.
- classwise ECE: mean over classes of each class's one-vs-rest ECE.
- Brier: per row the sum over classes of the squared error, averaged over rows.
- NLL: natural log, probabilities clipped at 1e-12 (``nll_from_logits`` gives the same in log space).
"""

from __future__ import annotations

import numpy as np

from typing import TYPE_CHECKING

from calibcli.binning import make_edges
from calibcli.statistics.inputs import real_array as _real_array

if TYPE_CHECKING:
    from calibcli.report import Reliability

NLL_CLIP = 1e-12


def _mean(x: np.ndarray) -> float:
    """Mean of ``x``; NaN for an empty array, without numpy's 'Mean of empty slice' warning (as the ECE gives)."""
    return float(np.mean(x)) if x.size else float("nan")


def _as_2d_probs(y_prob: np.ndarray) -> np.ndarray:
    p = _real_array(y_prob, "y_prob")
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or not np.all(np.isfinite(p)):
        raise ValueError(f"y_prob must be a finite array of shape (n,) or (n, K), got shape {p.shape}")
    return p


def top_label_stats(y_true, y_prob, n_bins: int = 15, strategy: str = "uniform") -> "Reliability":
    """The top-label reliability curve.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True class indices.
    y_prob : array-like of shape (n, K), or (n,) for P(class 1) of a binary problem
    n_bins : int
    strategy : {'uniform', 'quantile'}
    """
    p = _as_2d_probs(y_prob)
    y = _real_array(y_true, "y_true")
    if y.shape != (len(p),):
        raise ValueError(f"y_true has shape {y.shape} and y_prob {p.shape}: give one class index per row")
    pred = np.argmax(p, axis=1)
    conf = p[np.arange(len(p)), pred]
    from calibcli.report import Reliability

    return Reliability.from_arrays(conf, pred == y, make_edges(conf, n_bins, strategy))


def nll_from_logits(y_true, logits) -> float:
    """NLL of softmax(logits), exact in log space, with the same 1e-12 clip.

    ``logits`` of shape (n, K), or (n,) / (n, 1) for the positive class of a binary problem
    (read as the two logits ``[0, z]``: the NLL of sigmoid(z)); ``y_true`` class indices 0..K-1.
    Raises ``ValueError`` naming the argument for other shapes, non-finite logits or bad labels.

    >>> round(nll_from_logits([0], [[0.0, 0.0]]), 6)
    0.693147
    >>> nll_from_logits([0], [[1e308, -1e308]])  # no overflow warning
    0.0
    >>> round(nll_from_logits([1, 0], [[2.0], [2.0]]), 6) == round(nll_from_logits([1, 0], [2.0, 2.0]), 6)
    True
    """
    z = _real_array(logits, "logits")
    y = _real_array(y_true, "y_true")
    if z.ndim == 1 or (z.ndim == 2 and z.shape[1] == 1):  # binary: the positive class's logit
        z = np.column_stack([np.zeros(z.shape[0]), z.reshape(-1)])
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (n, K), or (n,) for a binary positive class; got {z.shape}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"y_true has shape {y.shape} and logits {z.shape}: give one class index per row of logits")
    if z.size == 0:
        return float("nan")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits must hold finite values (found NaN or inf)")
    if not (np.all(np.isfinite(y)) and np.all(y == np.round(y)) and y.min() >= 0 and y.max() < z.shape[1]):
        raise ValueError(f"y_true must hold class indices 0 .. {z.shape[1] - 1} (one per column of logits)")
    y = y.astype(np.int64)
    m = z.max(axis=1)
    with np.errstate(over="ignore"):  # z - m overflows to -inf for logits 1e308 apart; exp(-inf) = 0 is right
        lse = m + np.log(np.sum(np.exp(z - m[:, None]), axis=1))
        nll = lse - z[np.arange(len(z)), y]
    return _mean(np.minimum(nll, -np.log(NLL_CLIP)))


# ---------------------------------------------------------------- public API
# The scikit-learn-style metrics live in calibcli.metrics_api (binary input is measured on
# the positive class, as the audit's headline). The binary statistics are imported on first use (PEP 562).
from calibcli.metrics_api import (  # noqa: E402
    KINDS,
    ReliabilityCurve,
    accuracy,
    brier_score,
    classwise_ece,
    curve_outcomes,
    e50,
    e90,
    emax,
    expected_calibration_error,
    headline_metrics,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_curve,
)

_STATISTICS = {
    "ece_l2": "calibration_error", "ece_debiased": "calibration_error",
    "spiegelhalter_z": "spiegelhalter", "spiegelhalter_p": "spiegelhalter",
    "cox_calibration": "cox", "cox_slope": "cox", "cox_intercept": "cox", "calibration_in_the_large": "cox",
    "hosmer_lemeshow": "hosmer_lemeshow", "hosmer_lemeshow_p": "hosmer_lemeshow",
    "brier_decomposition": "brier", "brier_reliability": "brier", "brier_resolution": "brier",
    "brier_uncertainty": "brier",
    "auroc": "discrimination", "average_precision": "discrimination",
    "smece": "smooth", "corp_decomposition": "corp", "ecce": "ecce", "ici": "ici",
}

__all__ = ["NLL_CLIP", "KINDS", "ReliabilityCurve", "accuracy", "brier_score", "classwise_ece", "curve_outcomes",
           "e50", "e90", "emax", "expected_calibration_error", "headline_metrics", "maximum_calibration_error", "negative_log_likelihood",
           "nll_from_logits", "reliability_curve", "top_label_stats", *_STATISTICS]


def __getattr__(name: str):
    """The binary statistics of :mod:`calibcli.statistics`, imported when first used."""
    module = _STATISTICS.get(name)
    if module is None:
        raise AttributeError(f"module 'calibcli.metrics' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"calibcli.statistics.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_STATISTICS))
