"""Cox's logistic recalibration (Cox 1958): slope, intercept and calibration-in-the-large, by streamed Newton.

With ``x = logit(p)`` (p clipped to [1e-12, 1 - 1e-12]) two logistic regressions
of the outcome are fitted by maximum likelihood:

- Cox: ``logit P(y = 1) = a + b x``; ``cox_intercept = a``, ``cox_slope = b``
  (a calibrated model has a = 0, b = 1; b < 1: overconfident scores);
- calibration in the large: ``logit P(y = 1) = c + x`` (x as an offset);
  ``calibration_in_the_large = c`` (0 when the mean outcome matches on the logit scale).

Each has a 95% Wald interval, estimate +- 1.96 standard errors from the inverse
observed information (the negated Hessian of the log-likelihood at the
estimate). Sample weights are frequency weights.

Streaming: :class:`CoxPass` is a pass consumer with parameters; it sums the
log-likelihood, gradient and Hessian of both models at its parameters (arrays of
fixed size, exact under any split). :func:`fit_cox` runs passes: a Newton step
per model from the sums, step halving when the log-likelihood would fall, until
the step is below ``tol``; the last pass (at the estimate) gives the Hessian for
the intervals. Separation (no finite MLE: one class only, or p ordering the
outcomes perfectly) or a constant p gives NaN with ``converged = False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generator

import numpy as np

from calibcli.stats.base import Arrays, scalar
from calibcli.statistics.inputs import Curve, binary_arrays, check_curve
from calibcli.statistics.states import curve_from_arrays

CLIP = 1e-12
Z95 = 1.959963984540054
CONVENTION = (
    "cox_slope, cox_intercept: logistic regression of the outcome on logit(p) (p clipped to [1e-12, 1-1e-12]), "
    "b and a of logit P(y=1) = a + b logit(p); calibration_in_the_large: c of logit P(y=1) = c + logit(p) "
    "(logit(p) as offset); maximum likelihood by Newton passes; 95% Wald intervals from the observed information"
)
_N = 9  # cox: ll, g_a, g_b, h_aa, h_ab, h_bb; citl: ll, g, h


def logit_clipped(p: np.ndarray) -> np.ndarray:
    """``logit(p)`` with p clipped to [1e-12, 1 - 1e-12].

    >>> logit_clipped(np.array([0.5, 0.0])).round(4).tolist()
    [0.0, -27.631]
    """
    q = np.clip(p, CLIP, 1.0 - CLIP)
    return np.log(q) - np.log1p(-q)


class CoxPass:
    """Log-likelihood, gradient and Hessian sums of both models at parameters ``(a, b)`` and ``c``.

    Parameters
    ----------
    theta : (float, float)
        Intercept a and slope b of the Cox model.
    offset_intercept : float
        Intercept c of the calibration-in-the-large model.
    curve : "positive", "top", "pooled" or int

    >>> s = CoxPass().update(np.array([0.5, 0.5]), np.array([1, 0]))
    >>> s.sums[:3].round(6).tolist()
    [-1.386294, 0.0, 0.0]
    """

    def __init__(self, theta=(0.0, 1.0), offset_intercept: float = 0.0, curve: Curve = "positive"):
        self.theta = np.array(theta, dtype=np.float64).reshape(2)
        self.offset_intercept = float(offset_intercept)
        self.curve = check_curve(curve)
        self.rows = 0
        self.sums = np.zeros(_N)

    def update(self, conf, outcome=None, weight=None) -> "CoxPass":
        """Add rows: ``(conf, outcome[, weight])`` arrays, or a ``Batch`` read through ``curve``."""
        p, y, w = binary_arrays(conf, outcome, weight, self.curve)
        x = logit_clipped(p)
        a, b = self.theta
        out = []
        for eta in (a + b * x, self.offset_intercept + x):
            mu = np.exp(-np.logaddexp(0.0, -eta))  # sigmoid, stable
            out.append((y * eta - np.logaddexp(0.0, eta), y - mu, mu * (1.0 - mu)))
        (ll1, r1, v1), (ll2, r2, v2) = out
        terms = np.stack([ll1, r1, r1 * x, -v1, -v1 * x, -v1 * x * x, ll2, r2, -v2])
        self.rows += p.size
        self.sums += terms.sum(axis=1) if w is None else terms @ w
        return self

    def merge(self, other: "CoxPass") -> "CoxPass":
        """Add the rows of ``other`` (same parameters) in place; return ``self``."""
        same = isinstance(other, CoxPass) and other.curve == self.curve and \
            np.array_equal(other.theta, self.theta) and other.offset_intercept == self.offset_intercept
        if not same:
            raise ValueError("cannot merge Cox passes at different parameters or curves")
        self.rows += other.rows
        self.sums = self.sums + other.sums
        return self

    def finalize(self) -> np.ndarray:
        """The summed log-likelihood, gradient and Hessian entries (9,)."""
        return self.sums.copy()

    def to_arrays(self) -> Arrays:
        return {"curve": str(self.curve), "theta": self.theta.copy(), "offset_intercept": self.offset_intercept,
                "rows": self.rows, "sums": self.sums.copy()}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "CoxPass":
        out = cls(arrays["theta"], scalar(arrays["offset_intercept"]), curve_from_arrays(arrays["curve"]))
        out.rows = int(scalar(arrays["rows"]))
        out.sums = np.array(arrays["sums"], dtype=np.float64)
        return out


@dataclass(frozen=True)
class CoxResult:
    """Estimates, standard errors and 95% Wald intervals ``(low, high)``.

    ``converged`` (Cox slope and intercept) and ``citl_converged``: False when the
    maximum likelihood estimate does not exist or was not reached; the values are then NaN.
    """

    slope: float
    intercept: float
    calibration_in_the_large: float
    slope_se: float
    intercept_se: float
    citl_se: float
    slope_interval: tuple[float, float]
    intercept_interval: tuple[float, float]
    citl_interval: tuple[float, float]
    converged: bool
    citl_converged: bool
    passes: int


def _cox_step(s: np.ndarray) -> np.ndarray | None:
    """Newton step of (a, b) from the sums, or None when the Hessian is not negative definite."""
    h = np.array([[s[3], s[4]], [s[4], s[5]]])
    det = h[0, 0] * h[1, 1] - h[0, 1] ** 2
    if not (h[0, 0] < 0 and det > 1e-12 * h[0, 0] * h[1, 1]):
        return None
    return -np.linalg.solve(h, s[1:3])


def _citl_step(s: np.ndarray) -> float | None:
    return None if not s[8] < 0 else -s[7] / s[8]


def cox_steps(curve: Curve = "positive", max_iter: int = 50, tol: float = 1e-10
              ) -> Generator[CoxPass, CoxPass, CoxResult]:
    """The Newton passes of :func:`fit_cox` as a generator: yields unfed passes, receives them fed,
    returns the :class:`CoxResult` (lets several curves share their passes, see
    :func:`calibcli.statistics.run.fit_cox_curves`)."""
    theta, c = np.array([0.0, 1.0]), 0.0
    cur = (yield CoxPass(theta, c, curve)).finalize()
    passes = 1
    done1 = done2 = False  # converged
    fail1 = fail2 = False  # no Newton step (singular information): no estimate
    for _ in range(max_iter):
        d1, d2 = _cox_step(cur), _citl_step(cur)
        fail1, fail2 = fail1 or (d1 is None and not done1), fail2 or (d2 is None and not done2)
        done1 = done1 or fail1 or bool(np.max(np.abs(d1)) <= tol * (1.0 + np.max(np.abs(theta))))
        done2 = done2 or fail2 or bool(abs(d2) <= tol * (1.0 + abs(c)))
        if done1 and done2:
            break
        s1 = s2 = 1.0
        for _halving in range(60):
            t_new = theta if done1 else theta + s1 * d1
            c_new = c if done2 else c + s2 * d2
            cand = (yield CoxPass(t_new, c_new, curve)).finalize()
            passes += 1
            ok1 = done1 or cand[0] >= cur[0] - 1e-12 * abs(cur[0])
            ok2 = done2 or cand[6] >= cur[6] - 1e-12 * abs(cur[6])
            if ok1 and ok2:
                break
            s1, s2 = (s1 if ok1 else s1 / 2), (s2 if ok2 else s2 / 2)
        theta, c, cur = t_new, c_new, cand
    nan2 = (float("nan"), float("nan"))
    h = np.array([[cur[3], cur[4]], [cur[4], cur[5]]])
    ok1 = bool(done1 and not fail1 and _cox_step(cur) is not None)
    ok2 = bool(done2 and not fail2 and cur[8] < 0)
    if ok1:
        cov = np.linalg.inv(-h)
        se_a, se_b = float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))
        a, b = float(theta[0]), float(theta[1])
    else:
        a = b = se_a = se_b = float("nan")
    cc, se_c = (float(c), float(1.0 / np.sqrt(-cur[8]))) if ok2 else (float("nan"), float("nan"))

    def wald(v, se):
        return (v - Z95 * se, v + Z95 * se) if np.isfinite(v) else nan2

    return CoxResult(b, a, cc, se_b, se_a, se_c, wald(b, se_b), wald(a, se_a), wald(cc, se_c), ok1, ok2, passes)


def fit_cox(run: Callable[[CoxPass], CoxPass], curve: Curve = "positive", max_iter: int = 50,
            tol: float = 1e-10) -> CoxResult:
    """Fit both models by Newton passes; ``run(consumer)`` feeds an unfed :class:`CoxPass` and returns it.

    >>> p = np.array([0.2, 0.4, 0.6, 0.8, 0.3, 0.7]); y = np.array([0, 1, 0, 1, 1, 0])
    >>> r = fit_cox(lambda c: c.update(p, y))
    >>> r.converged, round(r.slope, 4), round(r.calibration_in_the_large, 4)
    (True, 0.0953, 0.0)
    """
    steps = cox_steps(curve, max_iter, tol)
    consumer = next(steps)
    while True:
        try:
            consumer = steps.send(run(consumer))
        except StopIteration as stop:
            return stop.value


def fit_cox_source(source, curve: Curve = "positive", max_iter: int = 50, tol: float = 1e-10) -> CoxResult:
    """:func:`fit_cox` over a ``BatchSource``: each pass is :func:`calibcli.engine.local.feed`."""
    from calibcli.engine.local import feed

    def run(consumer: CoxPass) -> CoxPass:
        feed(source, consumer)
        return consumer

    return fit_cox(run, curve, max_iter, tol)


def cox_calibration(y_true, y_prob, *, sample_weight=None) -> CoxResult:
    """Cox slope and intercept and calibration in the large, with 95% Wald intervals.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Probabilities of the outcome, in [0, 1] (clipped to [1e-12, 1 - 1e-12] before the logit).
    sample_weight : array-like of shape (n,), optional
        Frequency weights.

    Returns
    -------
    CoxResult

    Examples
    --------
    >>> r = cox_calibration([0, 1, 0, 1, 1, 0], [0.2, 0.4, 0.6, 0.8, 0.3, 0.7])
    >>> round(r.intercept, 6), r.slope_interval[0] < 0 < r.slope_interval[1]
    (0.0, True)
    """
    p, y, w = binary_arrays(y_prob, y_true, sample_weight)
    return fit_cox(lambda c: c.update(p, y, w))


def cox_slope(y_true, y_prob, *, sample_weight=None) -> float:
    """Slope b of ``logit P(y = 1) = a + b logit(p)`` (1 when calibrated; see :func:`cox_calibration`).

    Examples
    --------
    >>> p = np.repeat([0.2, 0.8], 10); y = np.r_[np.arange(10) < 2, np.arange(10) < 8].astype(int)
    >>> round(cox_slope(y, p), 6)
    1.0
    """
    return cox_calibration(y_true, y_prob, sample_weight=sample_weight).slope


def cox_intercept(y_true, y_prob, *, sample_weight=None) -> float:
    """Intercept a of ``logit P(y = 1) = a + b logit(p)`` (0 when calibrated; see :func:`cox_calibration`).

    Examples
    --------
    >>> p = np.repeat([0.2, 0.8], 10); y = np.r_[np.arange(10) < 2, np.arange(10) < 8].astype(int)
    >>> round(abs(cox_intercept(y, p)), 6)
    0.0
    """
    return cox_calibration(y_true, y_prob, sample_weight=sample_weight).intercept


def calibration_in_the_large(y_true, y_prob, *, sample_weight=None) -> float:
    """Intercept c of ``logit P(y = 1) = c + logit(p)`` with logit(p) as offset (0 when calibrated in the large).

    Examples
    --------
    >>> p = np.repeat([0.2, 0.8], 10); y = np.r_[np.arange(10) < 2, np.arange(10) < 8].astype(int)
    >>> round(abs(calibration_in_the_large(y, p)), 6)
    0.0
    """
    return cox_calibration(y_true, y_prob, sample_weight=sample_weight).calibration_in_the_large
