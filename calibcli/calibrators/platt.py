"""Platt scaling: a logistic regression on each class's one-vs-rest log-odds.

Binary: P(positive) = sigmoid(a s + b) with s the positive class's log-odds.
Multilabel: one (a, b) per label on its logit. Multiclass: one-vs-rest per class,
then each row is renormalised to sum to 1 (as scikit-learn's
``CalibratedClassifierCV(method="sigmoid")`` does). Fitted by maximum likelihood
(no Platt target smoothing), with a damped Newton iteration per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.calibrators.base import (Calibrator, check_fittable, float_array, one_hot, ovr_log_odds, pow2_scale,
                                       renormalize)
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task

MAX_ITER = 100
STEP_TOL = 1e-10  # stop when a Newton step moves a and b by less than this (relative)


def _softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, u)


def _column_loss(s: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        u = s * a + b
        loss = np.mean(_softplus(u) - y * u, axis=0)
    return np.where(np.isnan(loss), np.inf, loss)  # inf - inf where u overflows: no better than any finite step


def fit_logistic_columns(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column k the maximum-likelihood (a_k, b_k) of P(y=1) = sigmoid(a_k s_k + b_k).

    Damped Newton on every column at once (2x2 systems solved in closed form),
    starting from the identity a = 1, b = 0. A column of scores beyond 2^32 in
    magnitude is first divided by a power of two (exact) and starts from a = 1 on
    that scale, so nothing overflows; ``a`` is returned on the original scale.

    Parameters
    ----------
    s : ndarray of shape (n, m)
        Scores (log-odds).
    y : ndarray of shape (n, m)
        0/1 outcomes.

    Examples
    --------
    >>> s = np.array([[-2.0], [-1.0], [1.0], [2.0], [0.5], [-0.5]])
    >>> y = np.array([[0.0], [1.0], [1.0], [1.0], [0.0], [0.0]])
    >>> a, b = fit_logistic_columns(s, y)
    >>> bool(a[0] > 0)
    True
    """
    from scipy.special import expit

    n, m = s.shape
    scale = np.array([pow2_scale(float(np.max(np.abs(s[:, k])))) if n else 1.0 for k in range(m)])
    if np.any(scale != 1.0):
        s = s / scale
    a, b = np.ones(m), np.zeros(m)
    loss = _column_loss(s, y, a, b)
    active = np.ones(m, dtype=bool)
    for _ in range(MAX_ITER):
        cols = np.flatnonzero(active)
        sc, yc, ac, bc = s[:, cols], y[:, cols], a[cols], b[cols]
        with np.errstate(over="ignore"):
            p = expit(sc * ac + bc)
        r = p - yc
        ga, gb = np.mean(r * sc, axis=0), np.mean(r, axis=0)
        w = p * (1.0 - p)
        haa, hab, hbb = np.mean(w * sc * sc, axis=0), np.mean(w * sc, axis=0), np.mean(w, axis=0)
        det = haa * hbb - hab * hab
        ok = det > 1e-300
        with np.errstate(divide="ignore", invalid="ignore"):
            da = np.where(ok, (hbb * ga - hab * gb) / np.where(ok, det, 1.0), ga)
            db = np.where(ok, (haa * gb - hab * ga) / np.where(ok, det, 1.0), gb)
        small = (np.abs(da) <= STEP_TOL * (1.0 + np.abs(ac))) & (np.abs(db) <= STEP_TOL * (1.0 + np.abs(bc)))
        # damped step: halve until the loss does not increase
        step = np.ones(cols.size)
        done = small.copy()
        for _ in range(40):
            todo = np.flatnonzero(~done)
            if todo.size == 0:
                break
            na, nb = ac[todo] - step[todo] * da[todo], bc[todo] - step[todo] * db[todo]
            new_loss = _column_loss(sc[:, todo], yc[:, todo], na, nb)
            better = new_loss <= loss[cols[todo]]
            hit = todo[better]
            ac[hit], bc[hit] = na[better], nb[better]
            loss[cols[hit]] = new_loss[better]
            done[hit] = True
            step[todo[~better]] /= 2.0
        a[cols], b[cols] = ac, bc
        # converged: tiny Newton step, or no step lowers the loss (float noise at the optimum)
        active[cols[small | ~done]] = False
        if not active.any():
            break
    return a / scale, b


@dataclass(frozen=True)
class PlattScaling(Calibrator):
    """sigmoid(a_k s_k + b_k) per class on the one-vs-rest log-odds ``s_k``.

    Binary stores one pair (the positive class, the second class); others one per class.

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.5, 0.5]]), np.array([0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> PlattScaling(Task.BINARY, ("a", "b"), ScoreKind.PROBS, (1.0,), (np.log(3.0),)).transform(p).probs.round(4).tolist()
    [[0.25, 0.75]]
    """

    a: tuple[float, ...] = (1.0,)
    b: tuple[float, ...] = (0.0,)

    method = "platt"

    @classmethod
    def fit(cls, preds: Predictions) -> "PlattScaling":
        check_fittable(preds, "Platt scaling")
        s, y = ovr_log_odds(preds), one_hot(preds)
        if preds.task is Task.BINARY:
            s, y = s[:, 1:], y[:, 1:]
        a, b = fit_logistic_columns(s, y)
        return cls(preds.task, preds.classes, preds.score_kind, tuple(map(float, a)), tuple(map(float, b)))

    def _transform_probs(self, preds: Predictions) -> np.ndarray:
        from scipy.special import expit

        s = ovr_log_odds(preds)
        a, b = np.asarray(self.a), np.asarray(self.b)
        with np.errstate(over="ignore"):  # a * s beyond the float range is +-inf: a probability of 0 or 1
            if self.task is Task.BINARY:
                p1 = expit(s[:, 1] * a[0] + b[0])
                return np.column_stack([1.0 - p1, p1])
            p = expit(s * a + b)
        if self.task is Task.MULTILABEL:
            return p
        return renormalize(p, preds.probs)

    def params(self) -> dict:
        return {"a": list(self.a), "b": list(self.b)}

    @classmethod
    def _from_params(cls, task, classes, kind, params):
        m = 1 if task is Task.BINARY else len(classes)
        a = float_array(params.get("a"), "params.a", shape=(m,))
        b = float_array(params.get("b"), "params.b", shape=(m,))
        if task is Task.BINARY and len(classes) != 2:
            raise ConfigError("a binary calibrator needs exactly two classes")
        return cls(task, classes, kind, tuple(map(float, a)), tuple(map(float, b)))
