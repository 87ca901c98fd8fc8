"""Vector scaling: softmax(w * z + b) with one scale and one bias per class.

Multilabel: sigmoid(w_k z_k + b_k) per label (a Platt fit on each label's logit).
Fitted by minimising the NLL with L-BFGS (exact gradient), starting from the
identity. Unlike temperature scaling it can change the argmax, and it depends on
the per-row offset of the logits, so it is only applied to the score kind it was
fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.calibrators.base import Calibrator, check_fittable, float_array, log_scores, one_hot, pow2_scale
from calibcli.calibrators.platt import fit_logistic_columns
from calibcli.predictions import Predictions, Task, sigmoid, softmax


def _softmax_nll_and_grad(params: np.ndarray, z: np.ndarray, y: np.ndarray):
    k = z.shape[1]
    w, b = params[:k], params[k:]
    u = z * w + b
    m = u.max(axis=1, keepdims=True)
    e = np.exp(u - m)
    s = e.sum(axis=1, keepdims=True)
    lse = (m + np.log(s))[:, 0]
    n = len(y)
    nll = float(np.mean(lse - u[np.arange(n), y]))
    r = e / s
    r[np.arange(n), y] -= 1.0
    grad = np.concatenate([np.mean(r * z, axis=0), np.mean(r, axis=0)])
    return nll, grad


def fit_vector_scaling(z: np.ndarray, y: np.ndarray, init_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-class scales ``w`` and biases ``b`` minimising the NLL of softmax(w * z + b).

    L-BFGS from ``w = init_scale``, ``b = 0`` (a temperature fit gives a good start).
    Logits beyond 2^32 in magnitude are first divided by a power of two (exact), so
    nothing overflows; ``w`` is returned on the original scale.

    Examples
    --------
    >>> z = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> w, b = fit_vector_scaling(z, np.array([0, 1, 1, 0, 0]))
    >>> w.shape, b.shape
    ((2,), (2,))
    """
    from scipy.optimize import minimize

    k = z.shape[1]
    c = pow2_scale(float(np.max(np.abs(z)))) if z.size else 1.0
    if c != 1.0:
        z = z / c
    x0 = np.concatenate([np.full(k, init_scale * c), np.zeros(k)])
    with np.errstate(over="ignore", invalid="ignore"):
        res = minimize(_softmax_nll_and_grad, x0, args=(z, y), jac=True, method="L-BFGS-B",
                       options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-8})
    return res.x[:k] / c, res.x[k:]


@dataclass(frozen=True)
class VectorScaling(Calibrator):
    """softmax(w * z + b) (multilabel: sigmoid per label).

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.5, 0.5]]), np.array([0]), ("a", "b"), Task.BINARY, ScoreKind.LOGITS,
    ...                 logits=np.array([[0.0, 0.0]]))
    >>> VectorScaling(Task.BINARY, ("a", "b"), ScoreKind.LOGITS, (1.0, 1.0), (0.0, np.log(3.0))).transform(p).probs.round(4).tolist()
    [[0.25, 0.75]]
    """

    w: tuple[float, ...] = ()
    b: tuple[float, ...] = ()

    method = "vector"
    kind_invariant = False

    @classmethod
    def fit(cls, preds: Predictions) -> "VectorScaling":
        check_fittable(preds, "vector scaling")
        z = log_scores(preds)
        if preds.task is Task.MULTILABEL:
            w, b = fit_logistic_columns(z, one_hot(preds))
        else:
            from calibcli.calibrators.temperature import fit_temperature

            t = fit_temperature(z, preds.labels, preds.task, tol=1e-4).temperature[0]
            w, b = fit_vector_scaling(z, preds.labels, 1.0 / t)
        return cls(preds.task, preds.classes, preds.score_kind, tuple(map(float, w)), tuple(map(float, b)))

    def _transform_probs(self, preds: Predictions) -> np.ndarray:
        big = np.finfo(np.float64).max
        with np.errstate(over="ignore"):  # w * z beyond the float range: the largest float of its sign
            u = np.clip(log_scores(preds) * np.asarray(self.w) + np.asarray(self.b), -big, big)
        return sigmoid(u) if self.task is Task.MULTILABEL else softmax(u)

    def params(self) -> dict:
        return {"w": list(self.w), "b": list(self.b)}

    @classmethod
    def _from_params(cls, task, classes, kind, params):
        k = len(classes)
        w = float_array(params.get("w"), "params.w", shape=(k,))
        b = float_array(params.get("b"), "params.b", shape=(k,))
        return cls(task, classes, kind, tuple(map(float, w)), tuple(map(float, b)))
