"""The validated in-memory form of a prediction file."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Task(str, Enum):
    """What the scores describe."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"
    TOP_LABEL = "top_label"


class ScoreKind(str, Enum):
    """Whether the stored scores were probabilities or logits."""

    PROBS = "probs"
    LOGITS = "logits"


@dataclass(frozen=True)
class Predictions:
    """Validated predictions; nothing inside the library re-validates them.

    Attributes
    ----------
    probs : ndarray of shape (n, K)
        Probabilities (float64). Binary and multiclass rows sum to 1; multilabel
        columns are independent. For ``Task.TOP_LABEL`` the shape is ``(n, 1)``
        holding the confidence of the predicted class.
    labels : ndarray
        ``(n,)`` class indices, or ``(n, K)`` 0/1 for multilabel.
    classes : tuple of str
        Class (or label) names, in column order.
    task : Task
    score_kind : ScoreKind
        What the file held. When it held logits, ``logits`` keeps them.
    logits : ndarray or None
        The raw logits ``(n, K)`` when the file held logits.
    pred_labels : ndarray or None
        ``(n,)`` predicted class indices for ``Task.TOP_LABEL``.
    """

    probs: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    task: Task
    score_kind: ScoreKind
    logits: np.ndarray | None = None
    pred_labels: np.ndarray | None = None
    score_kind_evidence: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def confidence_and_correct(self) -> tuple[np.ndarray, np.ndarray]:
        """Top-label confidence and whether the top label is correct.

        Binary and multiclass: ``max`` probability and ``argmax == label``
        (ties in the argmax go to the lowest class index). Top-label files:
        the stored confidence and ``pred_label == label``.
        """
        if self.task is Task.TOP_LABEL:
            return self.probs[:, 0], (self.pred_labels == self.labels)
        if self.task is Task.MULTILABEL:
            raise ValueError("top-label confidence is not defined for multilabel predictions")
        pred = np.argmax(self.probs, axis=1)
        conf = np.take_along_axis(self.probs, pred[:, None], axis=1)[:, 0]
        return conf, pred == self.labels

    def subset(self, rows: np.ndarray) -> "Predictions":
        """The same predictions restricted to ``rows`` (indices or a boolean mask)."""
        return Predictions(
            probs=self.probs[rows],
            labels=self.labels[rows],
            classes=self.classes,
            task=self.task,
            score_kind=self.score_kind,
            logits=None if self.logits is None else self.logits[rows],
            pred_labels=None if self.pred_labels is None else self.pred_labels[rows],
            score_kind_evidence=self.score_kind_evidence,
        )


SOFTMAX_BLOCK_ROWS = 8192  # rows per block: keeps each block in cache
HUGE_EXP = 1000  # rows with logits of magnitude beyond 2^1000 are scaled down by a power of two first


def scaled_softmax(z: np.ndarray, t_row: np.ndarray | float = 1.0) -> np.ndarray:
    """softmax(z / T) row by row, with one T per row (or one for all), blockwise in place.

    Stable for any finite logits and T > 0: each row is shifted by its maximum,
    and rows holding magnitudes beyond 2^1000 are first divided by a power of two
    (exactly), so that no difference of logits overflows; a quotient beyond the
    float range gives a probability of exactly 0, as it should.

    >>> scaled_softmax(np.array([[np.log(9.0), 0.0]]), 2.0).round(4).tolist()
    [[0.75, 0.25]]
    >>> scaled_softmax(np.array([[1e308, -1e308]]), 1e308).round(4).tolist()  # sigmoid(2)
    [[0.8808, 0.1192]]

    ``z`` may be float32 (a file's logits): each block is widened to float64 exactly as it is
    used, so the result is the same as for ``z.astype(np.float64)`` without that copy.
    """
    z = np.asarray(z)
    if z.dtype != np.float32 and z.dtype != np.float64:
        z = z.astype(np.float64)
    n, k = z.shape
    out = np.empty((n, k))
    unit = np.ndim(t_row) == 0 and float(t_row) == 1.0  # T = 1: z - max needs no scaling
    inv = 1.0 / np.broadcast_to(np.asarray(t_row, dtype=np.float64), (n,))
    from calibcli.kernels import use_compiled

    if n and k and use_compiled(z.size):  # one compiled pass per row, the same numbers (calibcli.kernels.softmax)
        from calibcli.kernels.softmax import scaled_softmax_into, sum_plan

        scalar_t = np.ndim(t_row) == 0
        scaled_softmax_into(z, np.ascontiguousarray(inv[:1] if scalar_t else inv), 0 if scalar_t else 1,
                            SOFTMAX_BLOCK_ROWS, 2.0 ** HUGE_EXP, sum_plan(k, NARROW_COLUMNS), out)
        return out
    with np.errstate(over="ignore", under="ignore"):
        for s in range(0, n, SOFTMAX_BLOCK_ROWS):
            zc = z[s:s + SOFTMAX_BLOCK_ROWS]
            o = out[s:s + SOFTMAX_BLOCK_ROWS]
            ib = inv[s:s + SOFTMAX_BLOCK_ROWS]
            zmax = row_max(zc).astype(np.float64)[:, None]  # the max of float32 values is exact
            big = max(float(zmax.max(initial=0.0)), -float(zc.min(initial=0.0))) > 2.0 ** HUGE_EXP
            if big:  # exact: divide the logits by 2^24 and multiply 1/T by it
                np.multiply(zc, 2.0 ** -24, out=o, dtype=np.float64)
                o -= zmax * 2.0 ** -24
                # 1/T * 2^24 may overflow to inf: the row's maxima stay 0 (not 0 * inf), the rest go to -inf
                scale = np.minimum(ib * 2.0 ** 24, np.finfo(np.float64).max)
                o *= scale[:, None]
            else:
                np.subtract(zc, zmax, out=o, dtype=np.float64)
                if not unit:
                    o *= ib[:, None]
            np.exp(o, out=o)
            o /= row_sum(o)[:, None]
    return out


NARROW_COLUMNS = 32  # up to this many columns, row reductions loop over columns (numpy's axis=1 reductions are slow on narrow rows)


def _row_reduce(z: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
    """``ufunc.reduce(z, axis=1)``, looping over the columns left to right when there are few of them."""
    if z.shape[1] > NARROW_COLUMNS or z.shape[1] == 0:
        return ufunc.reduce(z, axis=1)
    m = z[:, 0].copy()
    for j in range(1, z.shape[1]):
        ufunc(m, z[:, j], out=m)
    return m


def row_max(z: np.ndarray) -> np.ndarray:
    """Maximum of each row of a 2-D array (as ``z.max(axis=1)``, faster for few columns).

    >>> row_max(np.array([[1.0, 3.0, 2.0], [0.0, -1.0, -2.0]])).tolist()
    [3.0, 0.0]
    """
    return _row_reduce(z, np.maximum)


def row_sum(z: np.ndarray) -> np.ndarray:
    """Sum of each row of a 2-D array, adding the columns left to right (the same for any row order or block).

    >>> row_sum(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [3.0, 7.0]
    """
    return _row_reduce(z, np.add)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for any finite logits, computed blockwise in place.

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    return scaled_softmax(z, 1.0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, stable for large magnitudes.

    >>> float(sigmoid(np.array([0.0]))[0])
    0.5
    """
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def clip_probabilities(scores: np.ndarray) -> np.ndarray:
    """Probabilities clipped to [0, 1], in place (and returned).

    The one treatment of probabilities that validation accepted within its
    tolerance (1e-4) outside [0, 1]: loading (``calib audit``, ``calib fit``,
    ``calib thresholds``) and ``calib apply`` both call it right after the range
    check, so a calibrator is fitted, evaluated and applied on the same numbers,
    and isotonic knots fitted on them lie in [0, 1].

    >>> clip_probabilities(np.array([[1.00001, -0.00002, 0.5]])).tolist()
    [[1.0, 0.0, 0.5]]
    """
    return np.clip(scores, 0.0, 1.0, out=scores)


def scores_to_probs(scores: np.ndarray, kind: ScoreKind, task: Task) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities (and the logits kept, or None) from validated score columns.

    Logits become probabilities with a softmax (multiclass, two-column binary) or
    a sigmoid (one-column binary, multilabel). A one-column binary score becomes
    two columns ``(1 - p, p)``; its logit becomes ``(0, z)``, whose softmax is the
    same sigmoid.

    >>> probs, logits = scores_to_probs(np.array([[0.0]]), ScoreKind.LOGITS, Task.BINARY)
    >>> probs.tolist(), logits.tolist()
    ([[0.5, 0.5]], [[0.0, 0.0]])
    """
    one_column = scores.shape[1] == 1 and task is not Task.MULTILABEL and task is not Task.TOP_LABEL
    if kind is ScoreKind.PROBS or task is Task.TOP_LABEL:
        return (np.column_stack([1.0 - scores[:, 0], scores[:, 0]]) if one_column else scores), None
    if task is Task.MULTILABEL:
        return sigmoid(scores), scores
    if one_column:
        p1 = sigmoid(scores[:, 0])
        return np.column_stack([1.0 - p1, p1]), np.column_stack([np.zeros(len(scores)), scores[:, 0]])
    return softmax(scores), scores


def exact_logits(preds: Predictions) -> np.ndarray | None:
    """The logits of a softmax task in the file's dtype (float32 stays float32), or None.

    For callers that widen each block to float64 as they use it (:func:`scaled_softmax`, the
    temperature derivative sums), so that a float32 batch is not copied to float64 whole; any
    float64 arithmetic on the widened values gives the same numbers as on ``preds.logits``.
    Read only. None when ``preds`` hold no logits or the task is not a softmax of the columns
    (multilabel, top-label, one-column binary): use ``preds.logits`` then.
    """
    if isinstance(preds, LazyPredictions):
        z = preds._scores
        return z if preds.task is not Task.MULTILABEL and z.ndim == 2 and z.shape[1] >= 2 else None
    if preds.logits is None or preds.task in (Task.MULTILABEL, Task.TOP_LABEL):
        return None
    return preds.logits


def _set_fields(obj, **fields) -> None:
    """Set the fields of a frozen ``Predictions`` subclass that computes its arrays on first use."""
    for name, value in fields.items():
        object.__setattr__(obj, name, value)


class LazyPredictions(Predictions):
    """``Predictions`` of logits whose ``probs`` (and float64 ``logits``) are computed on first use (then kept).

    A streaming pass that needs only the logits (the Newton passes of temperature
    scaling) then skips the softmax of every batch; the probabilities, when used,
    are exactly those of :func:`scores_to_probs`. The scores may stay in the file's
    dtype (float32): ``logits`` is their float64 copy, made on first use, and a
    softmax task's probabilities are computed from them block by block
    (:func:`scaled_softmax`, the same numbers).

    >>> p = LazyPredictions(np.array([[0.0, 0.0]]), np.array([0]), ("a", "b"), Task.MULTICLASS)
    >>> p.probs.tolist(), p.score_kind is ScoreKind.LOGITS
    ([[0.5, 0.5]], True)
    >>> q = LazyPredictions(np.array([[1.0, 0.0]], dtype=np.float32), np.array([0]), ("a", "b"), Task.MULTICLASS)
    >>> q.logits.dtype.name, bool(np.array_equal(q.probs, softmax(np.array([[1.0, 0.0]]))))
    ('float64', True)
    """

    def __init__(self, logits: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], task: Task,
                 pred_labels: np.ndarray | None = None, score_kind_evidence: tuple[str, ...] = ()):
        if task is Task.TOP_LABEL:
            raise ValueError("top-label files hold confidences, not logits")
        _set_fields(self, labels=labels, classes=classes, task=task, score_kind=ScoreKind.LOGITS,
                    pred_labels=pred_labels, score_kind_evidence=score_kind_evidence, _scores=logits, _probs=None,
                    _logits64=None)

    @property
    def logits(self) -> np.ndarray:  # type: ignore[override]
        if self._logits64 is None:
            z = np.array(self._scores, dtype=np.float64)  # a copy: callers may write to it
            one_column = z.shape[1] == 1 and self.task is not Task.MULTILABEL
            object.__setattr__(self, "_logits64", np.column_stack([np.zeros(len(z)), z[:, 0]]) if one_column else z)
        return self._logits64

    @property
    def probs(self) -> np.ndarray:  # type: ignore[override]
        if self._probs is None:
            fast = exact_logits(self)
            probs = softmax(fast) if fast is not None else scores_to_probs(
                np.asarray(self._scores, dtype=np.float64), ScoreKind.LOGITS, self.task)[0]
            object.__setattr__(self, "_probs", probs)
        return self._probs

    def subset(self, rows: np.ndarray) -> "Predictions":
        """The same predictions restricted to ``rows``; still lazy when the probabilities were not computed."""
        if self._probs is not None:
            return super().subset(rows)
        return LazyPredictions(self._scores[rows], self.labels[rows], self.classes, self.task,
                               None if self.pred_labels is None else self.pred_labels[rows], self.score_kind_evidence)


# --- calibrated predictions softmax(z / T) computed on first use (the fused measurement reads z and 1/T instead)
class TemperedPredictions(Predictions):
    """Calibrated predictions ``softmax(z / T)``, one ``T`` per row (or one for all), whose ``probs`` are computed
    on first use (then kept): exactly ``scaled_softmax(z, t_row)``, as if given to :func:`with_probs`.

    They are probabilities (``score_kind`` PROBS, no ``logits``); ``scores_and_inverse()`` gives the
    logits and ``1/T`` to a consumer that computes the softmax itself (:mod:`calibcli.kernels.measure`).

    >>> p = TemperedPredictions(np.array([[np.log(9.0), 0.0]]), np.array([2.0]), np.array([0]), ("a", "b"),
    ...                         Task.MULTICLASS)
    >>> p.probs.round(4).tolist(), p.logits is None, p.score_kind is ScoreKind.PROBS
    ([[0.75, 0.25]], True, True)
    """

    def __init__(self, logits: np.ndarray, t_row: np.ndarray | float, labels: np.ndarray, classes: tuple[str, ...],
                 task: Task, score_kind_evidence: tuple[str, ...] = ()):
        if task not in (Task.BINARY, Task.MULTICLASS) or logits.ndim != 2:
            raise ValueError("tempered predictions are a softmax of (n, K) logits (binary or multiclass)")
        _set_fields(self, labels=labels, classes=classes, task=task, score_kind=ScoreKind.PROBS, pred_labels=None,
                    score_kind_evidence=score_kind_evidence, _scores=logits, _t_row=t_row, _probs=None)

    @property
    def logits(self) -> None:  # type: ignore[override]
        return None

    @property
    def probs(self) -> np.ndarray:  # type: ignore[override]
        if self._probs is None:
            object.__setattr__(self, "_probs", scaled_softmax(self._scores, self._t_row))
        return self._probs

    def scores_and_inverse(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(z, 1/T of every row (n,) or of all rows (1,))`` as ``scaled_softmax`` uses them; None once ``probs`` exist."""
        if self._probs is not None:
            return None
        n = self._scores.shape[0]
        if np.ndim(self._t_row) == 0:
            return self._scores, 1.0 / np.broadcast_to(np.asarray(self._t_row, dtype=np.float64), (n,))[:1]
        return self._scores, np.ascontiguousarray(1.0 / np.broadcast_to(np.asarray(self._t_row, dtype=np.float64), (n,)))
