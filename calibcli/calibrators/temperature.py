"""Temperature scaling: divide the logits by one fitted T > 0 (Guo et al. 2017).

T minimises the NLL of softmax(z / T) (sigmoid for multilabel). The NLL is convex
in beta = 1/T, so a safeguarded Newton iteration on beta (bracketed, with exact
first and second derivatives) reaches the optimum in a few vectorised passes.
Large inputs start from a fit on an evenly strided subsample and then take one
or two Newton steps on all rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from calibcli.calibrators.base import Calibrator, check_fittable, float_array, log_scores, one_hot
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task, sigmoid

T_MIN, T_MAX = 1e-3, 1e3  # the search range of T; a fit at an end is flagged
TOL = 1e-6  # stop when a Newton step changes T by less than this (times max(1, T))
MAX_ITER = 100
FLAT_TOL = 1e-12
CHUNK_ROWS = 8192  # rows per block in the softmax passes (keeps blocks in cache)
WARM_START_ROWS = 20_000  # above twice this, start from a strided subsample fit


@dataclass(frozen=True)
class TemperatureFit:
    """The outcome of one temperature fit.

    Attributes
    ----------
    temperature : ndarray of shape (m,)
        One T (m = 1), or one per label (multilabel per-label fit).
    iterations : int
        Newton iterations on the full data.
    at_bound : ndarray of bool, shape (m,)
        True where the optimum is not interior: T sits at an end of [1e-3, 1e3], or
        the NLL went flat while still decreasing towards T -> 0 (perfectly
        separated scores) or T -> inf (scores unrelated to the labels).
    beta_eval : ndarray of shape (m,)
        1/T at which the per-row derivatives were last evaluated.
    row_grad, row_hess, row_third : ndarray of shape (n, m)
        Per-row first, second and third derivatives of the NLL in beta at
        ``beta_eval`` (used for the bootstrap interval).
    """

    temperature: np.ndarray
    iterations: int
    at_bound: np.ndarray
    beta_eval: np.ndarray
    row_grad: np.ndarray
    row_hess: np.ndarray
    row_third: np.ndarray


def _softmax_derivs(z: np.ndarray, zmax: np.ndarray, dy: np.ndarray, groups: np.ndarray | None = None,
                    n_groups: int = 1) -> Callable:
    """Derivatives in beta of mean_i [logsumexp(beta z_i) - beta z_iy], blockwise.

    With ``groups`` each row belongs to one of ``n_groups`` independent fits
    (beta[g] for its group g), all advanced in the same pass over the rows.
    """
    n, k = z.shape
    ones = np.ones(k)
    chunk = min(CHUNK_ROWS, n)
    d_buf = np.empty((chunk, k))
    e_buf = np.empty((chunk, k))
    row_g = np.empty((n, 1))
    row_h = np.empty((n, 1))
    row_t = np.empty((n, 1))
    counts = None if groups is None else np.maximum(np.bincount(groups, minlength=n_groups), 1)

    def derivs(beta: np.ndarray):
        b = float(beta[0])
        for s in range(0, n, chunk):
            zc = z[s:s + chunk]
            c = zc.shape[0]
            d, e = d_buf[:c], e_buf[:c]
            np.subtract(zc, zmax[s:s + c, None], out=d)  # d <= 0, so exp never overflows
            if groups is None:
                np.multiply(d, b, out=e)
            else:
                np.multiply(d, beta[groups[s:s + c]][:, None], out=e)
            np.exp(e, out=e)
            s0 = e @ ones
            e *= d
            s1 = e @ ones
            e *= d
            s2 = e @ ones
            e *= d
            s3 = e @ ones
            mean_d = s1 / s0
            var = s2 / s0 - mean_d * mean_d
            row_g[s:s + c, 0] = mean_d - dy[s:s + c]
            row_h[s:s + c, 0] = var
            # third derivative: the third central moment of d under softmax(beta z)
            row_t[s:s + c, 0] = s3 / s0 - 3.0 * mean_d * var - mean_d ** 3
        if groups is None:
            return row_g.mean(axis=0), row_h.mean(axis=0), row_t.mean(axis=0), row_g, row_h, row_t
        g = np.bincount(groups, weights=row_g[:, 0], minlength=n_groups) / counts
        h = np.bincount(groups, weights=row_h[:, 0], minlength=n_groups) / counts
        t3 = np.bincount(groups, weights=row_t[:, 0], minlength=n_groups) / counts
        return g, h, t3, row_g, row_h, row_t

    return derivs


def _sigmoid_derivs(z: np.ndarray, y: np.ndarray, per_column: bool) -> Callable:
    """Derivatives in beta of the binary cross-entropy of sigmoid(beta z), summed over labels."""
    from scipy.special import expit

    def derivs(beta: np.ndarray):
        b = beta[None, :] if per_column else beta[0]
        s = expit(z * b)
        g = (s - y) * z
        h = s * (1.0 - s) * z * z
        t3 = h * (1.0 - 2.0 * s) * z
        if not per_column:
            g = g.sum(axis=1, keepdims=True)
            h = h.sum(axis=1, keepdims=True)
            t3 = t3.sum(axis=1, keepdims=True)
        return g.mean(axis=0), h.mean(axis=0), t3.mean(axis=0), g, h, t3

    return derivs


def _newton(derivs: Callable, beta0: np.ndarray, tol: float = TOL):
    """Safeguarded Newton on each beta (independently, vectorised).

    Returns beta, the iterations, the last (beta, row derivatives) evaluated, and
    where the optimum lies at T -> 0 or T -> inf (the loss went flat unbracketed).
    """
    beta = np.asarray(beta0, dtype=np.float64).copy()
    lo = np.zeros_like(beta)
    hi = np.full_like(beta, np.inf)
    b_min, b_max = 1.0 / T_MAX, 1.0 / T_MIN
    out = None
    flat = np.zeros(beta.shape, dtype=bool)
    for it in range(1, MAX_ITER + 1):
        g, h, t3, rg, rh, rt = derivs(beta)
        out = (beta.copy(), rg, rh, rt)
        # the loss no longer changes (to 1e-12 per e-fold of beta): happens only when
        # the optimum is at T -> 0 (separable) or T -> inf (uninformative scores)
        flat = np.abs(g) * beta < FLAT_TOL
        if np.all(flat):
            break
        up = g > 0  # the optimum lies below beta
        hi = np.where(up, np.minimum(hi, beta), hi)
        lo = np.where(up, lo, np.maximum(lo, beta))
        with np.errstate(divide="ignore", invalid="ignore"):
            new = beta - g / h
        bad = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        fallback = np.where(np.isinf(hi), beta * 4.0, np.where(lo == 0, beta / 4.0, np.sqrt(lo * np.where(np.isinf(hi), 1.0, hi))))
        new = np.clip(np.where(bad, fallback, new), b_min, b_max)
        new = np.where(g == 0, beta, new)
        step_t = np.abs(1.0 / new - 1.0 / beta)
        # a Newton step of size s leaves an error of about |f3 / (2 f2)| s^2 in beta
        # (f2, f3: second and third derivatives); when that is far below tol, another
        # pass would not move T, so stop now
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            predicted = np.abs(t3) / (2.0 * h) * (new - beta) ** 2 / (new * new)
        predicted = np.where(bad | ~np.isfinite(predicted), np.inf, predicted)
        beta = new
        t_now = np.maximum(1.0, 1.0 / beta)
        if np.all((step_t < tol * t_now) | (predicted < 0.1 * tol * t_now) | flat):
            break
    unbounded = flat & ((np.isinf(hi) & (g < 0)) | ((lo == 0) & (g > 0)))
    return beta, it, out, unbounded


def fit_temperature(z: np.ndarray, y: np.ndarray, task: Task, per_label: bool = False, tol: float = TOL,
                    init: float | np.ndarray | None = None, groups: np.ndarray | None = None,
                    n_groups: int = 1) -> TemperatureFit:
    """Fit T by minimising the NLL of softmax(z / T) (multilabel: sigmoid, summed over labels).

    Parameters
    ----------
    z : ndarray of shape (n, K)
        Logits (or log-probabilities).
    y : ndarray
        ``(n,)`` class indices, or ``(n, K)`` 0/1 for multilabel.
    task : Task
    per_label : bool
        Multilabel only: one T per label instead of one shared T.
    tol : float
        Stop when a Newton step moves T by less than ``tol * max(1, T)``.
    init : float or array, optional
        Starting T (e.g. from a previous fit on part of the rows).
    groups : ndarray of int, shape (n,), optional
        Binary and multiclass only: fit one T per group of rows (values
        ``0 .. n_groups - 1``) in the same passes; ``temperature`` then has one
        entry per group (used for cross-fitting).
    n_groups : int

    Examples
    --------
    >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    >>> fit = fit_temperature(z, np.array([0, 1, 0, 1]), Task.BINARY)
    >>> bool(fit.at_bound[0])  # perfectly separated: T wants to go to 0
    True
    """
    n = z.shape[0]
    if task is Task.MULTILABEL:
        m = z.shape[1] if per_label else 1
        derivs = _sigmoid_derivs(z, y.astype(np.float64), per_label)
        beta0 = np.ones(m) if init is None else 1.0 / np.broadcast_to(np.asarray(init, dtype=np.float64), (m,))
    else:
        m = 1 if groups is None else n_groups
        zmax = z.max(axis=1)
        dy = z[np.arange(n), y] - zmax
        if init is None and n > 2 * WARM_START_ROWS:
            step = n // WARM_START_ROWS
            sub = fit_temperature(z[::step], y[::step], task, tol=1e-3,
                                  groups=None if groups is None else groups[::step], n_groups=n_groups)
            init = sub.temperature
        beta0 = np.ones(m) if init is None else 1.0 / np.broadcast_to(np.asarray(init, dtype=np.float64), (m,))
        derivs = _softmax_derivs(z, zmax, dy, groups, n_groups)
    beta, iters, (beta_eval, rg, rh, rt), unbounded = _newton(derivs, beta0, tol)
    at_bound = (beta <= 1.0 / T_MAX) | (beta >= 1.0 / T_MIN) | unbounded
    return TemperatureFit(1.0 / beta, iters, at_bound, beta_eval, rg, rh, rt)


def _step(g, h, t3):
    """The root nearest 0 of g + h d + t3 d^2 / 2 (a Newton step corrected to second order)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = h * h - 2.0 * t3 * g
        quad = -2.0 * g / (h + np.sqrt(np.maximum(disc, 0.0)))
        return np.where((disc > 0) & np.isfinite(quad), quad, -g / np.where(h > 0, h, np.inf))


def temperature_interval(fit: TemperatureFit, level: float = 0.95, n_boot: int = 200, max_rows: int = 5_000,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Bootstrap interval of T from the per-row derivatives of a fit (no refitting).

    Each bootstrap resample solves a second-order Taylor expansion of its score
    equation around the fitted beta, using the resampled mean first, second and
    third derivatives (a one-step bootstrap with a quadratic correction; it
    agrees with refitting to third order in the resampling deviation). Resamples draw ``m = min(n, max_rows)`` rows with
    replacement; when m < n the spread is rescaled by sqrt(m/n) (m-out-of-n).
    The interval is the percentile interval of the resampled T.

    Returns
    -------
    lo, hi : ndarray of shape (m_params,)
    description : str
        How the interval was computed, for the report.
    """
    rg, rh, rt = fit.row_grad, fit.row_hess, fit.row_third
    n, mp = rg.shape
    m = min(n, max_rows)
    rng = np.random.default_rng(seed)
    beta_hat = fit.beta_eval + _step(rg.mean(axis=0), rh.mean(axis=0), rt.mean(axis=0))
    reps = np.empty((n_boot, mp))
    ght = np.concatenate([rg, rh, rt], axis=1)
    per = max(1, 2_000_000 // m)
    for start in range(0, n_boot, per):
        stop = min(n_boot, start + per)
        idx = rng.integers(0, n, size=(stop - start, m))
        means = ght[idx].mean(axis=1)
        reps[start:stop] = fit.beta_eval + _step(means[..., :mp], means[..., mp:2 * mp], means[..., 2 * mp:])
    reps = beta_hat + np.sqrt(m / n) * (reps - beta_hat)
    reps = np.clip(np.nan_to_num(reps, nan=1.0 / T_MAX, posinf=1.0 / T_MIN, neginf=1.0 / T_MAX), 1.0 / T_MAX, 1.0 / T_MIN)
    t_reps = 1.0 / reps
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(t_reps, [a, 1.0 - a], axis=0)
    how = (f"percentile {level:.0%} interval of a one-step bootstrap (each resample solves a second-order expansion of "
           f"its NLL score equation in 1/T around the fit, no refit): {n_boot} resamples of {m:,} rows with replacement, seed {seed}")
    if m < n:
        how += f"; m-out-of-n with m = {m:,} of n = {n:,}, spread rescaled by sqrt(m/n)"
    return lo, hi, how


@dataclass(frozen=True)
class TemperatureScaling(Calibrator):
    """softmax(z / T) for binary and multiclass; sigmoid(z / T) per label for multilabel.

    ``temperature`` holds one T, or one per label (multilabel ``per_label``).
    Temperature scaling never changes the argmax, so accuracy is unchanged.

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.9, 0.1]]), np.array([0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> cal = TemperatureScaling(Task.BINARY, ("a", "b"), ScoreKind.PROBS, (2.0,))
    >>> cal.transform(p).probs.round(4).tolist()  # sqrt(0.9/0.1) = 3 : 1
    [[0.75, 0.25]]
    """

    temperature: tuple[float, ...] = (1.0,)

    method = "temperature"
    kind_invariant = True  # softmax ignores the per-row offset between logits and log-probabilities

    @property
    def per_label(self) -> bool:
        return len(self.temperature) > 1

    @classmethod
    def fit(cls, preds: Predictions, per_label: bool = False, init: float | None = None) -> "TemperatureScaling":
        """Fit on ``preds`` (logits, or log-probabilities clipped at 1e-12)."""
        f = fit_temperature_preds(preds, per_label, init)
        return cls(preds.task, preds.classes, preds.score_kind, tuple(float(t) for t in f.temperature))

    def _transform_probs(self, preds: Predictions) -> np.ndarray:
        z = log_scores(preds)
        t = np.asarray(self.temperature)
        if self.task is Task.MULTILABEL:
            return sigmoid(z / t[None, :] if t.size > 1 else z / t[0])
        return scaled_softmax(z, t[0])

    def params(self) -> dict:
        return {"temperature": list(self.temperature)}

    @classmethod
    def _from_params(cls, task, classes, kind, params):
        t = params.get("temperature")
        if isinstance(t, (int, float)):
            t = [t]
        arr = float_array(t, "params.temperature", positive=True)
        if arr.ndim != 1 or arr.size not in ({1, len(classes)} if task is Task.MULTILABEL else {1}):
            raise ConfigError("'params.temperature' must be a list with one value (or one per label for multilabel)")
        return cls(task, classes, kind, tuple(float(x) for x in arr))


def scaled_softmax(z: np.ndarray, t_row: np.ndarray | float) -> np.ndarray:
    """softmax(z / T) row by row, with one T per row (or one for all), blockwise in place.

    >>> scaled_softmax(np.array([[np.log(9.0), 0.0]]), 2.0).round(4).tolist()
    [[0.75, 0.25]]
    """
    n, k = z.shape
    out = np.empty((n, k))
    inv = 1.0 / np.broadcast_to(np.asarray(t_row, dtype=np.float64), (n,))
    ones = np.ones(k)
    for s in range(0, n, CHUNK_ROWS):
        zc = z[s:s + CHUNK_ROWS]
        o = out[s:s + CHUNK_ROWS]
        np.subtract(zc, zc.max(axis=1, keepdims=True), out=o)
        o *= inv[s:s + CHUNK_ROWS, None]
        np.exp(o, out=o)
        o /= (o @ ones)[:, None]
    return out


def fit_temperature_preds(preds: Predictions, per_label: bool = False, init=None) -> TemperatureFit:
    """``fit_temperature`` on validated predictions (logits or clipped log-probabilities)."""
    check_fittable(preds, "temperature scaling")
    y = one_hot(preds) if preds.task is Task.MULTILABEL else preds.labels
    return fit_temperature(log_scores(preds), y, preds.task, per_label and preds.task is Task.MULTILABEL, init=init)
