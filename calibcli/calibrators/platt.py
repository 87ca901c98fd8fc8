"""Platt scaling: a logistic regression on each class's one-vs-rest log-odds.

Binary: P(positive) = sigmoid(a s + b) with s the positive class's log-odds.
Multilabel: one (a, b) per label on its logit. Multiclass: one-vs-rest per class,
then each row is renormalised to sum to 1 (as scikit-learn's
``CalibratedClassifierCV(method="sigmoid")`` does). Fitted by maximum likelihood
(no Platt target smoothing), with a damped Newton iteration per column whose
evaluations are sums over rows, so it runs in passes over a source of any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.calibrators.base import Calibrator, float_array, ovr_log_odds, pow2_scale, renormalize
from calibcli.calibrators.damped_newton import DampedNewton, solve_2x2
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task

WARM_TOL = 1e-6  # the warm start on a sample stops at this relative step


def logistic_terms(s: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sums over rows of the logistic loss and its derivatives, per column and candidate.

    ``s``, ``y`` (n, C): scores and 0/1 outcomes; ``a``, ``b`` (C, J): parameters
    of J candidates per column. Returns (C, J, 6): the sums of the loss
    softplus(u) - y u with u = a s + b, of its gradient (a, b) and of its Hessian
    (aa, ab, bb).
    """
    from scipy.special import expit

    n, c = s.shape
    j = a.shape[1]
    out = np.zeros((c, j, 6))
    if n == 0:
        return out
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(j):
            u = s * a[:, k] + b[:, k]
            p = expit(u)
            loss = np.logaddexp(0.0, u) - y * u
            r = p - y
            w = p * (1.0 - p)
            ws = w * s
            out[:, k] = np.stack([loss.sum(axis=0), (r * s).sum(axis=0), r.sum(axis=0), (ws * s).sum(axis=0),
                                  ws.sum(axis=0), w.sum(axis=0)], axis=1)
    return out


def newton_inputs(sums: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean loss (I, J), gradient (I, J, 2) and Hessian (I, J, 2, 2) from summed terms (I, J, 6)."""
    mean = sums / np.maximum(rows, 1)[:, None, None]
    hess = np.stack([np.stack([mean[..., 3], mean[..., 4]], -1), np.stack([mean[..., 4], mean[..., 5]], -1)], -2)
    return mean[..., 0], mean[..., 1:3], hess


def fit_logistic_columns(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column k the maximum-likelihood (a_k, b_k) of P(y=1) = sigmoid(a_k s_k + b_k).

    Damped Newton on every column at once (2x2 systems solved in closed form;
    :class:`calibcli.calibrators.damped_newton.DampedNewton`), starting from the
    identity a = 1, b = 0. A column of scores beyond 2^32 in magnitude is first
    divided by a power of two (exact) and starts from a = 1 on that scale, so
    nothing overflows; ``a`` is returned on the original scale.

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
    n, m = s.shape
    scale = np.array([pow2_scale(float(np.max(np.abs(s[:, k])))) if n else 1.0 for k in range(m)])
    ss = s / scale
    nt = DampedNewton(np.column_stack([np.ones(m), np.zeros(m)]), solve_2x2)
    rows = np.full(m, n)
    while not nt.done:
        pts = nt.points()
        nt.observe(*newton_inputs(logistic_terms(ss, y, pts[..., 0], pts[..., 1]), rows))
    return nt.theta[:, 0] / scale, nt.theta[:, 1]


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
        """Fit on every row of ``preds``."""
        from calibcli.calibrators import fit_calibrator

        return fit_calibrator("platt", preds)

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


# -- fitting over a source --------------------------------------------------------------------
def platt_inputs(view) -> tuple[np.ndarray, np.ndarray]:
    """Scores and outcomes of Platt scaling: the one-vs-rest log-odds (binary: of the positive class)."""
    s, y = view.ovr_log_odds(), view.one_hot()
    return (s[:, 1:], y[:, 1:]) if view.preds.task is Task.BINARY else (s, y)


class _ScaleState:
    """Pass 1: per model and column the largest |score| (its power-of-two scale)."""

    def __init__(self, inputs, n_models: int, n_cols: int):
        self.inputs = inputs
        self.absmax = np.zeros((n_models, n_cols))

    def update(self, view) -> "_ScaleState":
        s, _ = self.inputs(view)
        for layer in view.layers:
            for m in range(self.absmax.shape[0]):
                sel = layer == m
                if sel.any():
                    self.absmax[m] = np.maximum(self.absmax[m], np.abs(s[sel]).max(axis=0))
        return self

    def merge(self, other: "_ScaleState") -> "_ScaleState":
        out = _ScaleState(self.inputs, *self.absmax.shape)
        out.absmax = np.maximum(self.absmax, other.absmax)
        return out

    def to_arrays(self) -> dict:
        return {"absmax": self.absmax.copy()}


class LogisticPass:
    """One evaluation pass: per (model, column) and candidate, the summed loss, gradient and Hessian."""

    def __init__(self, inputs, points: np.ndarray, scale: np.ndarray, active: np.ndarray):
        self.inputs, self.points, self.scale, self.active = inputs, points, scale, active
        n_models, n_cols = scale.shape
        self.sums = np.zeros((n_models * n_cols, points.shape[1], 6))
        self.rows = np.zeros(n_models * n_cols, dtype=np.int64)

    def update(self, view) -> "LogisticPass":
        s, y = self.inputs(view)
        n_models, c = self.scale.shape
        for layer in view.layers:
            for m in range(n_models):
                cols = slice(m * c, (m + 1) * c)
                if not self.active[cols].any():
                    continue
                sel = layer == m
                if not sel.any():
                    continue
                sm, ym = (s, y) if sel.all() else (s[sel], y[sel])
                pts = self.points[cols]
                self.sums[cols] += logistic_terms(sm / self.scale[m], ym, pts[..., 0], pts[..., 1])
                self.rows[cols] += sm.shape[0]
        return self

    def merge(self, other: "LogisticPass") -> "LogisticPass":
        if not np.array_equal(self.points, other.points):
            raise ValueError("cannot merge logistic passes evaluated at different points")
        out = LogisticPass(self.inputs, self.points, self.scale, self.active)
        out.sums, out.rows = self.sums + other.sums, self.rows + other.rows
        return out

    def to_arrays(self) -> dict:
        return {"points": self.points.copy(), "scale": self.scale.copy(), "active": self.active.copy(),
                "sums": self.sums.copy(), "rows": self.rows.copy()}


class LogisticColumnsMethod:
    """Per model and column a logistic fit (a, b) of the outcome on a score (``MethodFit``): Platt scaling,
    and vector scaling of multilabel files. Exact on the sample when it holds every fitting row, else
    warm-started there and finished by damped Newton passes over the source."""

    def __init__(self, method: str, layout, inputs, n_cols: int, build):
        self.method, self.layout, self.inputs, self.n_cols, self.build = method, layout, inputs, n_cols, build
        self.scale = np.ones((layout.n_models, n_cols))
        self.newton: DampedNewton | None = None

    def first_state(self) -> _ScaleState:
        return _ScaleState(self.inputs, self.layout.n_models, self.n_cols)

    def _in_memory(self, nt: DampedNewton, view) -> None:
        while not nt.done:
            ev = LogisticPass(self.inputs, nt.points(), self.scale, nt.active).update(view)
            nt.observe(*newton_inputs(ev.sums, ev.rows))

    def start(self, first: _ScaleState, sample, exact: bool) -> None:
        self.scale = np.vectorize(pow2_scale, otypes=[float])(first.absmax)
        p = self.scale.size
        theta0 = np.column_stack([np.ones(p), np.zeros(p)])
        if exact:
            self.newton = DampedNewton(theta0, solve_2x2)
            self._in_memory(self.newton, sample)
            return
        warm = DampedNewton(theta0, solve_2x2, tol=WARM_TOL)
        self._in_memory(warm, sample)
        self.newton = DampedNewton(warm.theta, solve_2x2)

    def pass_state(self) -> LogisticPass | None:
        if self.newton is None or self.newton.done:
            return None
        return LogisticPass(self.inputs, self.newton.points(), self.scale, self.newton.active.copy())

    def absorb(self, state: LogisticPass) -> None:
        self.newton.observe(*newton_inputs(state.sums, state.rows))

    def params(self, model: int) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) of one model on the original score scale."""
        c = self.n_cols
        th = self.newton.theta[model * c:(model + 1) * c]
        return th[:, 0] / self.scale[model], th[:, 1]

    def calibrator(self, model: int):
        return self.build(*self.params(model))

    def info(self) -> dict:
        return {}


def PlattMethod(layout, task: Task, classes: tuple[str, ...], kind) -> LogisticColumnsMethod:  # noqa: N802
    """Platt scaling of every model of a layout."""
    n_cols = 1 if task is Task.BINARY else len(classes)
    return LogisticColumnsMethod("platt", layout, platt_inputs, n_cols,
                                 lambda a, b: PlattScaling(task, classes, kind, tuple(map(float, a)), tuple(map(float, b))))
