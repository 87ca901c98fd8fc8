"""Vector scaling: softmax(w * z + b) with one scale and one bias per class.

Multilabel: sigmoid(w_k z_k + b_k) per label (a Platt fit on each label's logit).
Fitted by minimising the NLL with damped Newton steps (exact gradient and
Hessian, summed over rows, so it runs in passes over a source of any size),
starting from a temperature fit. Unlike temperature scaling it can change the argmax, and it depends on
the per-row offset of the logits, so it is only applied to the score kind it was
fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WARM_TOL = 1e-6  # the warm start on a sample stops at this relative step

from calibcli.calibrators.base import Calibrator, float_array, log_scores, pow2_scale
from calibcli.calibrators.damped_newton import DampedNewton, solve_lstsq
from calibcli.calibrators.temperature_passes import row_max
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


def softmax_vector_terms(z: np.ndarray, y: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Sums over rows of the NLL of softmax(w z + b), its gradient and Hessian in (w, b), per candidate.

    ``z`` (n, K) scores, ``y`` (n,) labels, ``points`` (J, 2K) candidates (w, b).
    Returns (J, 1 + 2K + 4K^2): loss, gradient, Hessian (flattened, row-major);
    the gradient and Hessian of the first candidate only (NaN for the others).
    """
    n, k = z.shape
    j = points.shape[0]
    d = 2 * k
    out = np.zeros((j, 1 + d + d * d))
    out[1:, 1:] = np.nan  # derivatives of the first candidate only (DampedNewton asks again where needed)
    if n == 0:
        return out
    rows = np.arange(n)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for c in range(j):
            w, b = points[c, :k], points[c, k:]
            u = z * w + b
            m = row_max(u)
            e = np.exp(u - m[:, None])
            s = e.sum(axis=1)
            p = e / s[:, None]
            loss = float(np.sum(m + np.log(s) - u[rows, y]))
            out[c, 0] = loss
            if c > 0:
                continue
            r = p.copy()
            r[rows, y] -= 1.0
            pz = p * z
            h = np.empty((d, d))
            h[:k, :k] = np.diag((pz * z).sum(axis=0)) - pz.T @ pz
            h[:k, k:] = np.diag(pz.sum(axis=0)) - pz.T @ p
            h[k:, :k] = h[:k, k:].T
            h[k:, k:] = np.diag(p.sum(axis=0)) - p.T @ p
            out[c, 1:1 + k] = (r * z).sum(axis=0)
            out[c, 1 + k:1 + d] = r.sum(axis=0)
            out[c, 1 + d:] = h.reshape(-1)
    return out


def vector_newton_inputs(sums: np.ndarray, rows: np.ndarray, k: int):
    """Mean loss (I, J), gradient (I, J, 2K) and Hessian (I, J, 2K, 2K) from summed terms (I, J, ...)."""
    mean = sums / np.maximum(rows, 1)[:, None, None]
    d = 2 * k
    return mean[..., 0], mean[..., 1:1 + d], mean[..., 1 + d:].reshape(*mean.shape[:2], d, d)


def solve_centred(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Newton directions of (w, b) with the bias part centred (the softmax ignores a common shift of b)."""
    d = solve_lstsq(g, h)
    k = d.shape[1] // 2
    d[:, k:] -= d[:, k:].mean(axis=1, keepdims=True)
    return d


def fit_vector_scaling(z: np.ndarray, y: np.ndarray, init_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-class scales ``w`` and biases ``b`` minimising the NLL of softmax(w * z + b).

    Damped Newton (:class:`calibcli.calibrators.damped_newton.DampedNewton`) with
    the exact Hessian, from ``w = init_scale``, ``b = 0`` (a temperature fit gives a
    good start); the biases keep summing to 0 (the softmax ignores a common shift).
    Logits beyond 2^32 in magnitude are first divided by a power of two (exact), so
    nothing overflows; ``w`` is returned on the original scale.

    Examples
    --------
    >>> z = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> w, b = fit_vector_scaling(z, np.array([0, 1, 1, 0, 0]))
    >>> w.shape, b.shape
    ((2,), (2,))
    """
    k = z.shape[1]
    c = pow2_scale(float(np.max(np.abs(z)))) if z.size else 1.0
    zs = z / c if c != 1.0 else z
    nt = DampedNewton(np.concatenate([np.full(k, init_scale * c), np.zeros(k)])[None, :], solve_centred)
    rows = np.array([z.shape[0]])
    while not nt.done:
        nt.observe(*vector_newton_inputs(softmax_vector_terms(zs, y, nt.points()[0])[None], rows, k))
    return nt.theta[0, :k] / c, nt.theta[0, k:]


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
        """Fit on every row of ``preds``."""
        from calibcli.calibrators import fit_calibrator

        return fit_calibrator("vector", preds)

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


# -- fitting over a source --------------------------------------------------------------------
class _ScaleState:
    """Pass 1: per model the largest |logit| (its power-of-two scale)."""

    def __init__(self, n_models: int):
        self.absmax = np.zeros(n_models)

    def update(self, view) -> "_ScaleState":
        z = view.log_scores()
        for layer in view.layers:
            for m in range(self.absmax.size):
                sel = layer == m
                if sel.any():
                    self.absmax[m] = max(self.absmax[m], float(np.abs(z[sel]).max()))
        return self

    def merge(self, other: "_ScaleState") -> "_ScaleState":
        out = _ScaleState(self.absmax.size)
        out.absmax = np.maximum(self.absmax, other.absmax)
        return out

    def to_arrays(self) -> dict:
        return {"absmax": self.absmax.copy()}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "_ScaleState":
        absmax = np.array(arrays["absmax"], dtype=np.float64)
        out = cls(absmax.size)
        out.absmax = absmax
        return out


class VectorPass:
    """One evaluation pass of softmax vector scaling: per model and candidate, summed loss, gradient, Hessian."""

    def __init__(self, points: np.ndarray, scale: np.ndarray, active: np.ndarray):
        self.points, self.scale, self.active = points, scale, active
        self.sums: np.ndarray | None = None
        self.rows = np.zeros(scale.size, dtype=np.int64)

    def update(self, view) -> "VectorPass":
        z, y = view.log_scores(), view.preds.labels
        k = z.shape[1]
        if self.sums is None:
            self.sums = np.zeros((self.scale.size, self.points.shape[1], 1 + 2 * k + 4 * k * k))
        for layer in view.layers:
            for m in range(self.scale.size):
                if not self.active[m]:
                    continue
                sel = layer == m
                if not sel.any():
                    continue
                zm, ym = (z, y) if sel.all() else (z[sel], y[sel])
                self.sums[m] += softmax_vector_terms(zm / self.scale[m], ym, self.points[m])
                self.rows[m] += zm.shape[0]
        return self

    def merge(self, other: "VectorPass") -> "VectorPass":
        if not np.array_equal(self.points, other.points):
            raise ValueError("cannot merge vector passes evaluated at different points")
        out = VectorPass(self.points, self.scale, self.active)
        if self.sums is None or other.sums is None:
            out.sums = self.sums if other.sums is None else other.sums
        else:
            out.sums = self.sums + other.sums
        out.rows = self.rows + other.rows
        return out

    def to_arrays(self) -> dict:
        return {"points": self.points.copy(), "scale": self.scale.copy(), "active": self.active.copy(),
                "sums": np.zeros(0) if self.sums is None else self.sums.copy(), "rows": self.rows.copy()}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "VectorPass":
        out = cls(np.asarray(arrays["points"]), np.asarray(arrays["scale"]), np.asarray(arrays["active"]))
        sums = np.asarray(arrays["sums"], dtype=np.float64)
        out.sums = None if sums.size == 0 else sums
        out.rows = np.array(arrays["rows"], dtype=np.int64)
        return out


class SoftmaxVectorMethod:
    """Vector scaling (binary, multiclass) of every model of a layout (``MethodFit``)."""

    method = "vector"

    def __init__(self, layout, task: Task, classes: tuple[str, ...], kind):
        self.layout, self.task, self.classes, self.kind = layout, task, classes, kind
        self.k = len(classes)
        self.scale = np.ones(layout.n_models)
        self.newton: DampedNewton | None = None

    def first_state(self) -> _ScaleState:
        return _ScaleState(self.layout.n_models)

    def _in_memory(self, nt: DampedNewton, view) -> None:
        while not nt.done:
            ev = VectorPass(nt.points(), self.scale, nt.active.copy()).update(view)
            nt.observe(*vector_newton_inputs(ev.sums, ev.rows, self.k))

    def start(self, first: _ScaleState, sample, exact: bool) -> None:
        from calibcli.calibrators.temperature import fit_temperature

        self.scale = np.array([pow2_scale(float(a)) for a in first.absmax])
        z, y = sample.log_scores(), sample.preds.labels
        theta0 = np.zeros((self.layout.n_models, 2 * self.k))
        for m in range(self.layout.n_models):
            rows = np.zeros(z.shape[0], dtype=bool)
            for layer in sample.layers:
                rows |= layer == m
            t = fit_temperature(z[rows], y[rows], self.task, tol=1e-4).temperature[0] if rows.any() else 1.0
            theta0[m, :self.k] = self.scale[m] / t
        nt = DampedNewton(theta0, solve_centred, tol=1e-10 if exact else WARM_TOL)
        self._in_memory(nt, sample)
        self.newton = nt if exact else DampedNewton(nt.theta, solve_centred)

    def pass_state(self) -> VectorPass | None:
        if self.newton is None or self.newton.done:
            return None
        return VectorPass(self.newton.points(), self.scale, self.newton.active.copy())

    def absorb(self, state: VectorPass) -> None:
        self.newton.observe(*vector_newton_inputs(state.sums, state.rows, self.k))

    def calibrator(self, model: int) -> "VectorScaling":
        th = self.newton.theta[model]
        w, b = th[:self.k] / self.scale[model], th[self.k:]
        return VectorScaling(self.task, self.classes, self.kind, tuple(map(float, w)), tuple(map(float, b)))

    def info(self) -> dict:
        return {}


def VectorMethod(layout, task: Task, classes: tuple[str, ...], kind):  # noqa: N802
    """Vector scaling of every model of a layout (multilabel: a logistic fit per label on its logit)."""
    if task is Task.MULTILABEL:
        from calibcli.calibrators.platt import LogisticColumnsMethod

        def inputs(view):
            return view.log_scores(), view.one_hot()

        return LogisticColumnsMethod("vector", layout, inputs, len(classes),
                                     lambda w, b: VectorScaling(task, classes, kind, tuple(map(float, w)),
                                                                tuple(map(float, b))))
    return SoftmaxVectorMethod(layout, task, classes, kind)
