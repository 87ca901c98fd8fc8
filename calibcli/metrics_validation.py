"""Checking the arrays given to the metric functions of :mod:`calibcli.metrics_api`.

:func:`validate_arrays` turns ``(y_true, y_prob[, sample_weight])`` into validated
:class:`~calibcli.predictions.Predictions` (binary, multi-class or multilabel, as the
module notes of :mod:`calibcli.metrics_api` describe) and weights, or raises a
``ValueError`` naming the argument and the first bad row; :func:`resolve_kind` says
which curve a ``kind`` names.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from calibcli.binning import STRATEGIES

Kind = Union[str, int]
KINDS = ("auto", "top_label", "positive", "pooled")
ROW_SUM_TOL = 1e-3  # as calibcli.validation.scores.ROW_SUM_TOL (a test checks they agree)
MAX_TOTAL_WEIGHT = 1e150  # as calibcli.statistics.inputs.MAX_TOTAL_WEIGHT: weighted sums of squares stay finite
RANGE_TOL = 1e-4  # float noise accepted outside [0, 1] (as calibcli.validation.scores.RANGE_TOL), used as given


def resolve_kind(task: str, n_classes: int, kind: Kind) -> str | int:
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


def check_bins(n_bins: Any, strategy: Any) -> int:
    """``n_bins`` as an int, or a ``ValueError`` for a bad bin count or strategy."""
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


def validate_arrays(y_true: Any, y_prob: Any, sample_weight: Any = None):
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
        if np.sum(w / MAX_TOTAL_WEIGHT) > 1.0:  # divided first: the sum itself must not overflow
            raise ValueError(f"sample_weight sums to more than {MAX_TOTAL_WEIGHT:g}; scale the weights down")
    classes = tuple(str(c) for c in range(probs.shape[1]))
    return Predictions(probs + 0.0, labels, classes, task, ScoreKind.PROBS), w
