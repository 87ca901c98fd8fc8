"""The (conf, outcome) arrays a statistic reads: from arrays, or from a batch and a named curve.

Every statistic of this package is binary: ``conf`` is P(event) in [0, 1] and
``outcome`` is 1 when the event happened. A *curve* says which event a batch's
rows give: ``"positive"`` (binary files: P(class 1) against label == 1),
``"top"`` (top label: max probability against argmax == label), an integer ``k``
(class ``k`` one-vs-rest; for multilabel files, label ``k``) or ``"pooled"``
(multilabel: every (row, label) pair).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

Curve = Union[str, int]
CURVES = ("positive", "top", "pooled")


def check_curve(curve: Curve) -> Curve:
    """``curve`` if it names a curve, else a ``ValueError`` naming the choices."""
    if isinstance(curve, (int, np.integer)) and not isinstance(curve, bool) and curve >= 0:
        return int(curve)
    if curve in CURVES:
        return curve
    raise ValueError(f"curve must be one of {CURVES} or a class index >= 0, got {curve!r}")


def curve_arrays(batch: Any, curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    """``(conf, outcome)`` of one curve of a ``Batch`` (or of ``Predictions``).

    >>> from calibcli.predictions import Predictions, ScoreKind, Task
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> [a.tolist() for a in curve_arrays(p, "positive")], [a.tolist() for a in curve_arrays(p, "top")]
    ([[0.2, 0.7], [0.0, 0.0]], [[0.8, 0.7], [1.0, 0.0]])
    """
    from calibcli.predictions import Task

    p = getattr(batch, "predictions", batch)
    if curve == "top":
        conf, correct = p.confidence_and_correct()
        return conf, correct.astype(np.float64)
    if curve == "pooled":
        if p.task is not Task.MULTILABEL:
            raise ValueError("the pooled curve is defined for multilabel predictions only")
        return p.probs.ravel(), np.asarray(p.labels, dtype=np.float64).ravel()
    if curve == "positive":
        if p.task is not Task.BINARY:
            raise ValueError("the positive-class curve is defined for binary predictions only")
        curve = 1
    k = int(curve)
    if p.task is Task.TOP_LABEL or k >= p.n_classes:
        raise ValueError(f"class {k} has no one-vs-rest curve in {p.task.value} predictions")
    if p.task is Task.MULTILABEL:
        return p.probs[:, k], np.asarray(p.labels[:, k], dtype=np.float64)
    return p.probs[:, k], (p.labels == k).astype(np.float64)


MAX_TOTAL_WEIGHT = 1e150  # sums of squared weights stay finite below this


def real_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 array (any shape), or a ``ValueError`` naming ``name`` when it does not hold real numbers."""
    a = np.asarray(x)
    if a.dtype.kind == "O":
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold real numbers, got values such as {a.reshape(-1)[:3].tolist()!r}") from None
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got an array of dtype {a.dtype}")
    return a.astype(np.float64)


def _real(x: Any, name: str) -> np.ndarray:
    """``x`` as a 1-D float64 array, or a ``ValueError`` naming ``name`` (None, not real numbers, not 1-D)."""
    if x is None:
        raise ValueError(f"{name} is None; give an array of shape (n,)")
    a = real_array(x, name)
    if a.ndim > 1 and a.size != a.shape[0]:
        raise ValueError(f"{name} must have shape (n,), got {a.shape} (for multi-class or multilabel input, "
                         "calibcli.metrics.curve_outcomes gives one curve's (y_true, y_prob))")
    return a.reshape(-1)


def binary_arrays(conf: Any, outcome: Any, weight: Any = None, curve: Curve = "positive",
                  name: str = "y_prob", probabilities: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated float64 ``(conf, outcome, weight)``; ``outcome=None`` reads ``conf`` as a batch.

    Raises ``ValueError`` naming the argument for None, non-real or non-1-D arrays, mismatched shapes,
    values of ``conf`` not finite or (when ``probabilities``) outside [0, 1], outcomes outside [0, 1],
    negative weights and weights summing past ``MAX_TOTAL_WEIGHT``.
    """
    if outcome is None:
        if not (hasattr(conf, "predictions") or hasattr(conf, "task")):
            raise ValueError("y_true is None; give the outcomes (0/1) of shape (n,)")
        conf, outcome = curve_arrays(conf, curve)
    p = _real(conf, name)
    y = _real(outcome, "y_true")
    if p.shape != y.shape:
        raise ValueError(f"y_true has {y.size} values and {name} has {p.size}; they must have the same length")
    if p.size and not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must hold finite values")
    if probabilities and p.size and not (p.min() >= 0.0 and p.max() <= 1.0):
        raise ValueError(f"{name} must hold probabilities in [0, 1] (found {p.min():.6g} .. {p.max():.6g})")
    if y.size and not (np.all(np.isfinite(y)) and y.min() >= 0.0 and y.max() <= 1.0):
        raise ValueError("y_true must hold outcomes in {0, 1} (or frequencies in [0, 1])")
    if weight is None:
        return p + 0.0, y, None  # + 0.0 turns -0.0 into 0.0
    w = _real(weight, "sample_weight")
    if w.shape != p.shape:
        raise ValueError(f"sample_weight has {w.size} values, expected {p.size}")
    if w.size and not (np.all(np.isfinite(w)) and w.min() >= 0.0):
        raise ValueError("sample_weight must hold finite non-negative values")
    if np.sum(w / MAX_TOTAL_WEIGHT) > 1.0:  # divided first: the sum itself must not overflow
        raise ValueError(f"sample_weight sums to more than {MAX_TOTAL_WEIGHT:g}; scale the weights down")
    return p + 0.0, y, w


def binned_arrays(y_true: Any, y_prob: Any, sample_weight: Any, n_bins: int, strategy: str, edges: Any = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Validated ``(p, y, w)`` (:func:`binary_arrays`) and the bin edges: ``edges``, else ``n_bins`` by ``strategy``."""
    from calibcli.binning import make_edges

    p, y, w = binary_arrays(y_prob, y_true, sample_weight)
    return p, y, w, (make_edges(p, n_bins, strategy) if edges is None else edges)
