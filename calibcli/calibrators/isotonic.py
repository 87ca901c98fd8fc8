"""Isotonic regression of the outcome on each class's probability (one-vs-rest).

Uses ``scipy.optimize.isotonic_regression`` on the distinct probabilities (ties
merged by their weighted mean, as scikit-learn's ``IsotonicRegression`` does),
keeps only the ends of each flat piece, and predicts by linear interpolation,
clamped outside the fitted range. Binary: the positive class only; multiclass:
per class, then rows renormalised to sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.calibrators.base import Calibrator, check_fittable, float_array, one_hot, renormalize
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task


def fit_isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots ``(xs, ys)`` of the increasing least-squares fit of ``y`` on ``x``.

    Predict with ``np.interp(x, xs, ys)``.

    Examples
    --------
    >>> xs, ys = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 1.0]))
    >>> xs.tolist(), ys.tolist()
    ([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.5, 1.0])
    """
    from scipy.optimize import isotonic_regression

    ux, inv = np.unique(x, return_inverse=True)
    w = np.bincount(inv, minlength=ux.size).astype(np.float64)
    ym = np.bincount(inv, weights=y, minlength=ux.size) / w
    fitted = isotonic_regression(ym, weights=w, increasing=True).x
    keep = np.ones(ux.size, dtype=bool)
    if ux.size > 2:
        keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return ux[keep], fitted[keep]


@dataclass(frozen=True)
class IsotonicCalibrator(Calibrator):
    """Piecewise-linear increasing maps, one per calibrated column.

    ``x`` and ``y`` hold the knots per column (binary: the positive class only).

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.7, 0.3]]), np.array([0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> IsotonicCalibrator(Task.BINARY, ("a", "b"), ScoreKind.PROBS, ((0.0, 1.0),), ((0.0, 0.5),)).transform(p).probs.round(4).tolist()
    [[0.85, 0.15]]
    """

    x: tuple[tuple[float, ...], ...] = ()
    y: tuple[tuple[float, ...], ...] = ()

    method = "isotonic"

    @classmethod
    def fit(cls, preds: Predictions) -> "IsotonicCalibrator":
        check_fittable(preds, "isotonic regression")
        p, y = preds.probs, one_hot(preds)
        cols = [1] if preds.task is Task.BINARY else range(p.shape[1])
        xs, ys = [], []
        for k in cols:
            kx, ky = fit_isotonic(p[:, k], y[:, k])
            xs.append(tuple(map(float, kx)))
            ys.append(tuple(map(float, ky)))
        return cls(preds.task, preds.classes, preds.score_kind, tuple(xs), tuple(ys))

    def _transform_probs(self, preds: Predictions) -> np.ndarray:
        p = preds.probs
        if self.task is Task.BINARY:
            p1 = np.interp(p[:, 1], self.x[0], self.y[0])
            return np.column_stack([1.0 - p1, p1])
        out = np.empty_like(p)
        for k in range(p.shape[1]):
            out[:, k] = np.interp(p[:, k], self.x[k], self.y[k])
        return out if self.task is Task.MULTILABEL else renormalize(out, p)

    def params(self) -> dict:
        return {"x": [list(v) for v in self.x], "y": [list(v) for v in self.y]}

    @classmethod
    def _from_params(cls, task, classes, kind, params):
        m = 1 if task is Task.BINARY else len(classes)
        xs, ys = params.get("x"), params.get("y")
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != m or len(ys) != m:
            raise ConfigError(f"'params.x' and 'params.y' must be lists of {m} knot lists")
        out_x, out_y = [], []
        for k in range(m):
            kx = float_array(xs[k], f"params.x[{k}]", increasing=True, lo=0.0, hi=1.0)
            if kx.ndim != 1 or kx.size < 1:
                raise ConfigError(f"'params.x[{k}]' must be a non-empty list of numbers")
            ky = float_array(ys[k], f"params.y[{k}]", shape=kx.shape, lo=0.0, hi=1.0)
            if ky.size > 1 and np.any(np.diff(ky) < 0):
                raise ConfigError(f"'params.y[{k}]' must be non-decreasing")
            out_x.append(tuple(map(float, kx)))
            out_y.append(tuple(map(float, ky)))
        return cls(task, classes, kind, tuple(out_x), tuple(out_y))
