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


def binary_arrays(conf: Any, outcome: Any, weight: Any = None, curve: Curve = "positive",
                  name: str = "y_prob", probabilities: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated float64 ``(conf, outcome, weight)``; ``outcome=None`` reads ``conf`` as a batch.

    Raises ``ValueError`` naming the argument for mismatched shapes, values of
    ``conf`` not finite or (when ``probabilities``) outside [0, 1], outcomes outside [0, 1] and negative weights.
    """
    if outcome is None:
        conf, outcome = curve_arrays(conf, curve)
    p = np.asarray(conf, dtype=np.float64).reshape(-1)
    y = np.asarray(outcome, dtype=np.float64).reshape(-1)
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
    w = np.asarray(weight, dtype=np.float64).reshape(-1)
    if w.shape != p.shape:
        raise ValueError(f"sample_weight has {w.size} values, expected {p.size}")
    if w.size and not (np.all(np.isfinite(w)) and w.min() >= 0.0):
        raise ValueError("sample_weight must hold finite non-negative values")
    return p + 0.0, y, w


def binned_arrays(y_true: Any, y_prob: Any, sample_weight: Any, n_bins: int, strategy: str, edges: Any = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Validated ``(p, y, w)`` (:func:`binary_arrays`) and the bin edges: ``edges``, else ``n_bins`` by ``strategy``."""
    from calibcli.binning import make_edges

    p, y, w = binary_arrays(y_prob, y_true, sample_weight)
    return p, y, w, (make_edges(p, n_bins, strategy) if edges is None else edges)
