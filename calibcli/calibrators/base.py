"""What every calibrator shares: the interface, score helpers and validation.

A calibrator maps validated ``Predictions`` to calibrated ``Predictions``
(probabilities; same task, classes, labels and row order). It is a frozen
dataclass that round-trips through plain JSON data (``to_dict`` /
``from_dict``); nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from calibcli.errors import ConfigError, InputError
from calibcli.predictions import Predictions, ScoreKind, Task

PROB_CLIP = 1e-12  # probabilities are clipped here before taking logs
SATURATION_WARN_FRACTION = 0.01  # warn when at least this share of rows is saturated


@dataclass(frozen=True)
class Calibrator:
    """Base of every post-hoc calibrator.

    Attributes
    ----------
    task : Task
        The task of the predictions it was fitted on (binary, multiclass, multilabel).
    classes : tuple of str
        Class (or label) names in column order; inputs must match them.
    input_kind : ScoreKind
        Whether it was fitted on logits or on probabilities.
    """

    task: Task
    classes: tuple[str, ...]
    input_kind: ScoreKind

    method: ClassVar[str] = ""
    #: True when the transform gives the same result from logits or log-probabilities.
    kind_invariant: ClassVar[bool] = True

    # -- interface -------------------------------------------------------------------
    def transform(self, preds: Predictions) -> Predictions:
        """Calibrated probabilities for ``preds`` (labels, classes and order kept)."""
        self.check_compatible(preds)
        return with_probs(preds, self._transform_probs(preds), self.method)

    def _transform_probs(self, preds: Predictions) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``from_dict`` of it gives an equal calibrator."""
        return {
            "method": self.method,
            "task": self.task.value,
            "classes": list(self.classes),
            "input_kind": self.input_kind.value,
            "params": self.params(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calibrator":
        """Rebuild from ``to_dict`` data; raises ``ConfigError`` naming what is wrong."""
        if not isinstance(data, dict):
            raise ConfigError("the calibrator must be a JSON object")
        method = data.get("method")
        if method != cls.method:
            raise ConfigError(f"'method' is {method!r}, expected {cls.method!r}")
        task = _enum(data, "task", Task)
        if task is Task.TOP_LABEL:
            raise ConfigError("'task' top_label cannot be calibrated (no full score vectors)")
        classes = data.get("classes")
        if not isinstance(classes, list) or len(classes) < 1 or not all(isinstance(c, str) for c in classes):
            raise ConfigError("'classes' must be a non-empty list of strings")
        if len(set(classes)) != len(classes):
            raise ConfigError("'classes' has duplicate names")
        if task is not Task.MULTILABEL and len(classes) < 2:
            raise ConfigError(f"'classes' of a {task.value} calibrator needs at least two names")
        kind = _enum(data, "input_kind", ScoreKind)
        params = data.get("params")
        if not isinstance(params, dict):
            raise ConfigError("'params' must be a JSON object")
        return cls._from_params(task, tuple(classes), kind, params)

    @classmethod
    def _from_params(cls, task: Task, classes: tuple[str, ...], kind: ScoreKind, params: dict) -> "Calibrator":  # pragma: no cover
        raise NotImplementedError

    # -- checks ----------------------------------------------------------------------
    def check_compatible(self, preds: Predictions) -> None:
        """Raise ``InputError`` saying what differs between ``preds`` and this calibrator."""
        if preds.task is Task.TOP_LABEL:
            raise InputError("top-label predictions (confidence and pred_label only) cannot be calibrated: "
                             "export the full score vector (p_<class> or logit_<class> columns).")
        if preds.task is not self.task:
            raise InputError(f"the calibrator was fitted on a {self.task.value} task but the predictions are "
                             f"{preds.task.value}. Pass --task {self.task.value} if the columns are the same, or refit.")
        if tuple(preds.classes) != tuple(self.classes):
            raise InputError(describe_class_mismatch(self.classes, preds.classes))
        if not self.kind_invariant and preds.score_kind is not self.input_kind:
            raise InputError(
                f"the {self.method} calibrator was fitted on {self.input_kind.value} but the predictions hold "
                f"{preds.score_kind.value}; {self.method} depends on the per-row offset of the logits, so it cannot "
                f"be applied across kinds. Apply it to {self.input_kind.value}, or refit on these scores."
            )


def describe_class_mismatch(expected: tuple[str, ...], found: tuple[str, ...]) -> str:
    """One sentence on how two class lists differ (missing, extra, or order)."""
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""))
    if extra:
        parts.append("not in the calibrator: " + ", ".join(extra[:8]) + (" ..." if len(extra) > 8 else ""))
    if not parts:
        parts.append("same names in a different order")
    return (f"the classes do not match the calibrator ({'; '.join(parts)}). The calibrator has "
            f"{', '.join(expected[:12])}{' ...' if len(expected) > 12 else ''}; the predictions have "
            f"{', '.join(found[:12])}{' ...' if len(found) > 12 else ''}. Use --classes to fix the order, or refit.")


def _enum(data: dict, key: str, enum):
    value = data.get(key)
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ConfigError(f"'{key}' is {value!r}; expected one of {allowed}") from None


def float_array(value: Any, name: str, shape: tuple[int, ...] | None = None, positive: bool = False,
                increasing: bool = False, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """A validated float64 array from JSON data (``ConfigError`` naming ``name``)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' must be numbers") from None
    if arr.dtype == object or (shape is not None and arr.shape != shape):
        raise ConfigError(f"'{name}' must have shape {list(shape) if shape else '?'}, found {list(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"'{name}' must be finite numbers")
    if positive and not np.all(arr > 0):
        raise ConfigError(f"'{name}' must be positive")
    if lo is not None and not np.all(arr >= lo):
        raise ConfigError(f"'{name}' must be >= {lo}")
    if hi is not None and not np.all(arr <= hi):
        raise ConfigError(f"'{name}' must be <= {hi}")
    if increasing and arr.size > 1 and not np.all(np.diff(arr) > 0):
        raise ConfigError(f"'{name}' must be strictly increasing")
    return arr


# -- scores ----------------------------------------------------------------------------
SCALE_FREE_EXP = 32  # scores of magnitude within [2^-32, 2^32] are fitted as they are
SCALE_MAX_EXP = 1000  # a scale stays within [2^-1000, 2^1000], so it and its inverse are normal floats


def pow2_scale(largest: float) -> float:
    """A power of two to divide scores by before fitting, given their largest magnitude.

    1.0 for ordinary scores (magnitude within [2^-32, 2^32]); otherwise the power
    of two ``c`` with ``largest / c`` in [1, 2) (within [2^-1000, 2^1000]). Dividing by
    a power of two is exact, so a fit on the scaled scores is the fit on the scores
    themselves, without overflow in differences, squares or cubes of logits near 1e308
    (or underflow of tiny ones).

    >>> pow2_scale(30.0), pow2_scale(1e308) == 2.0 ** 1000, pow2_scale(3e20)
    (1.0, True, 2.9514790517935283e+20)
    """
    if not np.isfinite(largest) or largest <= 0.0:
        return 1.0
    exp = int(np.frexp(largest)[1]) - 1  # largest = f 2^(exp+1), f in [0.5, 1)
    if -SCALE_FREE_EXP <= exp < SCALE_FREE_EXP:
        return 1.0
    return float(np.ldexp(1.0, int(np.clip(exp, -SCALE_MAX_EXP, SCALE_MAX_EXP))))


def log_scores(preds: Predictions) -> np.ndarray:
    """Logits to calibrate: the file's logits, else logs of the clipped probabilities.

    Softmax tasks get ``log(max(p, 1e-12))`` (logits up to a per-row constant);
    multilabel gets ``logit(clip(p, 1e-12, 1 - 1e-12))``.

    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.5, 0.5]]), np.array([0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> log_scores(p).round(6).tolist()
    [[-0.693147, -0.693147]]
    """
    if preds.logits is not None:
        return preds.logits
    p = preds.probs
    if preds.task is Task.MULTILABEL:
        return np.log(np.maximum(p, PROB_CLIP)) - np.log(np.maximum(1.0 - p, PROB_CLIP))
    return np.log(np.maximum(p, PROB_CLIP))


def ovr_log_odds(preds: Predictions) -> np.ndarray:
    """Per class the one-vs-rest log-odds ``log(p_k / (1 - p_k))``, shape (n, K).

    Binary and multilabel logits are used exactly; probabilities are clipped at
    1e-12 from both ends first. A log-odds beyond the float range (logits near
    +-1e308 of opposite signs) is the largest float of its sign.
    """
    if preds.task is Task.MULTILABEL:
        return log_scores(preds)
    big = np.finfo(np.float64).max
    if preds.task is Task.BINARY:
        z = log_scores(preds)
        with np.errstate(over="ignore"):
            s = np.clip(z[:, 1] - z[:, 0], -big, big)
        return np.column_stack([-s, s])
    if preds.logits is not None:
        z = preds.logits
        m = z.max(axis=1, keepdims=True)
        with np.errstate(over="ignore", divide="ignore"):
            log_p = z - m - np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
            log_1mp = np.log(np.maximum(-np.expm1(log_p), 1e-300))
            return np.clip(log_p - log_1mp, -big, big)
    p = np.clip(preds.probs, PROB_CLIP, 1.0 - PROB_CLIP)
    return np.log(p) - np.log1p(-p)


def one_hot(preds: Predictions) -> np.ndarray:
    """0/1 outcomes per class, shape (n, K) (multilabel labels as they are)."""
    if preds.task is Task.MULTILABEL:
        return preds.labels.astype(np.float64)
    return (preds.labels[:, None] == np.arange(preds.n_classes)[None, :]).astype(np.float64)


def saturated_rows(preds: Predictions) -> int:
    """Rows holding a probability of exactly 0 or 1 (0 when the file held logits)."""
    from calibcli.predictions import LazyPredictions

    if isinstance(preds, LazyPredictions) or preds.logits is not None or preds.task is Task.TOP_LABEL:
        return 0  # (lazy predictions hold logits: not widened only to be tested here)
    p = preds.probs
    return int(np.count_nonzero(np.any((p <= 0.0) | (p >= 1.0), axis=1)))


def saturation_warning(preds: Predictions) -> str | None:
    """A warning when many rows have probabilities of exactly 0 or 1, else None."""
    f32 = any("float32" in e for e in preds.score_kind_evidence)  # loading.FLOAT32_EVIDENCE: the file stored float32
    return saturation_message(saturated_rows(preds), preds.n_samples, f32)


def saturation_message(n_saturated: int, n_rows: int, float32: bool) -> str | None:
    """A warning when many of ``n_rows`` rows hold a probability of exactly 0 or 1, else None.

    >>> saturation_message(5, 10, False)[:47]
    '5 of 10 rows (50.0%) have a probability of exac'
    >>> saturation_message(0, 10, False) is None
    True
    """
    if n_saturated == 0 or n_saturated < SATURATION_WARN_FRACTION * n_rows:
        return None
    why = (" (the score columns are float32, which stores probabilities within 6e-8 of 1 as exactly 1)"
           if float32 else "")
    return (f"{n_saturated:,} of {n_rows:,} rows ({n_saturated / n_rows:.1%}) have a probability of exactly 0 or 1{why}; "
            "the logits were taken as log(max(p, 1e-12)), which biases the fitted calibration. Export logits if you can.")


def renormalize(probs: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows divided by their sum; rows summing to 0 take ``fallback``'s row."""
    s = probs.sum(axis=1, keepdims=True)
    ok = s[:, 0] > 0
    out = np.where(ok[:, None], probs / np.where(ok[:, None], s, 1.0), fallback)
    return out


def with_probs(preds: Predictions, probs: np.ndarray, method: str) -> Predictions:
    """``preds`` with new (calibrated) probabilities and no logits."""
    return Predictions(
        probs=probs,
        labels=preds.labels,
        classes=preds.classes,
        task=preds.task,
        score_kind=ScoreKind.PROBS,
        logits=None,
        pred_labels=None,
        score_kind_evidence=(*preds.score_kind_evidence, f"calibrated by {method}"),
    )


def check_fittable(preds: Predictions, method: str) -> None:
    """Raise ``InputError`` when ``preds`` cannot be calibrated (top-label files)."""
    if preds.task is Task.TOP_LABEL:
        raise InputError(f"{method} needs full score vectors, but this is a top-label file (confidence and pred_label "
                         "only). Export p_<class> or logit_<class> columns for every class.")
