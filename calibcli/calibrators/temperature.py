"""Temperature scaling: divide the logits by one fitted T > 0 (Guo et al. 2017).

T minimises the NLL of softmax(z / T) (sigmoid for multilabel). The NLL is convex
in beta = 1/T, so a safeguarded Newton iteration on beta (bracketed, with exact
first and second derivatives) reaches the optimum in a few vectorised passes.
Several parameters (one T per cross-fitting fold, or per label) are advanced in the
same passes, each on its own: a parameter that has converged is frozen while the
others go on. Large inputs start from a fit on an evenly strided subsample and
then take one or two Newton steps on all rows.

Scale: T is searched in [1e-3, 1e3], widened to 1e-3 and 1e3 times the largest
logit gap G of the fitting rows (the largest ``max_k z_k - min_k z_k`` of a row;
multilabel: the largest ``|z|``) where that reaches further: [1e-3 min(1, G),
1e3 max(1, G)], capped at 1e308. At T = 1e3 G every softmax is uniform to within
1e-3, so logits near +-1e308 can get a T of their own size instead of a hard 0/1.
Logits of magnitude beyond 2^32 (or below 2^-32) are divided by a power of two
before the passes (exact), so nothing overflows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from calibcli.calibrators.base import Calibrator, check_fittable, float_array, log_scores, one_hot, pow2_scale
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task, scaled_softmax, sigmoid

T_MIN, T_MAX = 1e-3, 1e3  # the search range of T (widened by the largest logit gap); a fit at an end is flagged
T_CAP = 1e308  # T never exceeds this (a finite float for the calibrator file)
TOL = 1e-6  # stop when 1/T is known to a relative 1e-6 (the last Newton step, or its predicted error, is below it)
MAX_ITER = 100
FLAT_TOL = 1e-12  # the loss changes by less than this per e-fold of 1/T: flat
CHUNK_ROWS = 8192  # rows per block in the softmax passes (keeps blocks in cache)
WARM_START_ROWS = 20_000  # above twice this, start from a strided subsample fit


@dataclass(frozen=True)
class TemperatureFit:
    """The outcome of one temperature fit.

    Attributes
    ----------
    temperature : ndarray of shape (m,)
        One T (m = 1), one per label (multilabel per-label fit), or one per group.
    iterations : int
        Newton iterations (derivative passes) on the full data.
    at_bound : ndarray of bool, shape (m,)
        True where the optimum is not interior: T sits at an end of its search
        range (``at_range_end``), or the NLL went flat while still decreasing
        towards T -> 0 (perfectly separated scores) or T -> inf (scores unrelated
        to the labels).
    at_range_end : ndarray of bool, shape (m,)
        True where T stopped at an end of ``t_range`` with the NLL still falling
        beyond it.
    t_range : ndarray of shape (m, 2)
        The search range of each T: [1e-3 min(1, G), 1e3 max(1, G)] with G the
        largest logit gap of its fitting rows (capped at 1e308).
    decreasing_t : ndarray of bool, shape (m,)
        Where ``at_bound``: True when the NLL falls towards smaller T (T -> 0).
    scale : float
        The logits were divided by this power of two for the passes (1.0 for
        ordinary logits): ``beta_eval`` and the row derivatives are in those units,
        1/T = beta / scale.
    beta_eval : ndarray of shape (m,)
        Scaled 1/T at which the per-row derivatives were last evaluated.
    beta_bounds : ndarray of shape (m, 2)
        ``t_range`` as scaled 1/T (low, high).
    row_grad, row_hess, row_third : ndarray of shape (n, m)
        Per-row first, second and third derivatives of the NLL in scaled beta at
        ``beta_eval`` (used for the bootstrap interval).
    """

    temperature: np.ndarray
    iterations: int
    at_bound: np.ndarray
    at_range_end: np.ndarray
    t_range: np.ndarray
    decreasing_t: np.ndarray
    scale: float
    beta_eval: np.ndarray
    beta_bounds: np.ndarray
    row_grad: np.ndarray
    row_hess: np.ndarray
    row_third: np.ndarray


@dataclass(frozen=True)
class NewtonResult:
    """Per parameter: where the Newton iteration stopped and why.

    ``beta`` the solution; ``iterations`` derivative passes; ``evaluated`` the
    (beta, row derivatives) of the last pass; ``flat`` the loss went flat unbracketed
    (optimum at beta -> 0 or inf); ``dead`` the loss and its curvature are exactly 0
    there (every softmax saturated, or no spread at all: the direction is unknown);
    ``at_end`` stopped at an end of the range with the loss still falling beyond it;
    ``last_grad`` the mean first derivative at the parameter's last evaluation (its
    sign says which way the loss falls).
    """

    beta: np.ndarray
    iterations: int
    evaluated: tuple
    flat: np.ndarray
    dead: np.ndarray
    at_end: np.ndarray
    last_grad: np.ndarray


def _softmax_derivs(z: np.ndarray, zmax_s: np.ndarray, dy_s: np.ndarray, inv_scale: float,
                    groups: np.ndarray | None = None, n_groups: int = 1) -> Callable:
    """Derivatives in beta of mean_i [logsumexp(beta z_i) - beta z_iy], blockwise.

    ``z`` is used times ``inv_scale`` (a power of two): ``zmax_s`` and ``dy_s`` are the
    scaled row maxima and label-minus-max differences. With ``groups`` each row
    belongs to one of ``n_groups`` independent fits (beta[g] for its group g), all
    evaluated in the same pass over the rows.
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
        with np.errstate(over="ignore", under="ignore"):  # beta * d -> -inf is exp -> 0, as it should be
            for s in range(0, n, chunk):
                zc = z[s:s + chunk]
                c = zc.shape[0]
                d, e = d_buf[:c], e_buf[:c]
                if inv_scale == 1.0:
                    np.subtract(zc, zmax_s[s:s + c, None], out=d)  # d <= 0, so exp never overflows
                else:
                    np.multiply(zc, inv_scale, out=d)  # exact: a power of two
                    d -= zmax_s[s:s + c, None]
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
                row_g[s:s + c, 0] = mean_d - dy_s[s:s + c]
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
        with np.errstate(over="ignore", under="ignore"):
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


def _newton(derivs: Callable, beta0: np.ndarray, b_lo: np.ndarray, b_hi: np.ndarray, tol: float = TOL) -> NewtonResult:
    """Safeguarded Newton on each beta, independently, in shared derivative passes.

    ``derivs(beta)`` returns the mean first, second and third derivatives per
    parameter (and the per-row ones). Each parameter keeps its own bracket and its
    own converged flag: once converged it is frozen (its later derivatives are
    ignored) while the others go on, so each stops at its own optimum, exactly as
    a fit of that parameter alone would. A parameter has converged when its Newton
    step is at most ``tol`` times beta (the step is taken), or when the predicted
    error after a step, |f3 / (2 f2)| s^2, is below a tenth of that. It stops
    without an interior optimum when the loss is flat (the optimum lies at
    beta -> 0 or inf) or at an end of [b_lo, b_hi] with the loss still falling
    beyond it.
    """
    beta = np.clip(np.asarray(beta0, dtype=np.float64), b_lo, b_hi)
    lo = np.zeros_like(beta)
    hi = np.full_like(beta, np.inf)
    active = np.ones(beta.shape, dtype=bool)
    flat = np.zeros(beta.shape, dtype=bool)
    dead = np.zeros(beta.shape, dtype=bool)
    at_end = np.zeros(beta.shape, dtype=bool)
    last_g = np.zeros_like(beta)
    out = None
    it = 0
    for it in range(1, MAX_ITER + 1):
        g, h, t3, rg, rh, rt = derivs(beta)
        out = (beta.copy(), rg, rh, rt)
        last_g = np.where(active, g, last_g)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = -g / h
            newton_ok = (h > 0) & np.isfinite(step)
            # 1. converged: the Newton step is within tolerance (take it; it stays inside the range)
            small = active & newton_ok & (np.abs(step) <= tol * beta)
            beta = np.where(small, np.clip(beta + step, b_lo, b_hi), beta)
            active &= ~small
            # 2. the loss went flat (less than FLAT_TOL per e-fold of beta) with nothing bracketed on the side
            #    it falls towards: the optimum lies at beta -> inf or 0 (a flat stretch inside a bracket goes on)
            is_flat = active & (np.abs(g) * beta < FLAT_TOL) & ((g == 0) | ((g < 0) & np.isinf(hi)) | ((g > 0) & (lo == 0)))
            flat |= is_flat & (g != 0)
            dead |= is_flat & (g == 0) & (h == 0)
            active &= ~is_flat
            if not active.any():
                break
            # 3. a safeguarded step for the others: the bracket [lo, hi] holds the optimum
            up = g > 0  # the optimum lies below beta
            hi = np.where(active & up, np.minimum(hi, beta), hi)
            lo = np.where(active & ~up, np.maximum(lo, beta), lo)
            new = beta + step
            bad = ~newton_ok | (new <= lo) | (new >= hi)
            # no usable Newton step: bisect the bracket in log space; without one end, move at least 4x towards
            # that side, or halfway (in log space) to the end of the range when that is further
            up_factor = np.maximum(4.0, np.sqrt(b_hi / beta))
            down_factor = np.maximum(4.0, np.sqrt(beta / b_lo))
            fallback = np.where(np.isinf(hi), beta * up_factor,
                                np.where(lo == 0, beta / down_factor, np.sqrt(lo * np.where(np.isinf(hi), 1.0, hi))))
            new = np.where(bad, fallback, new)
            clipped = np.clip(new, b_lo, b_hi)
            # at an end of the range with the loss still falling beyond it: stop there
            stuck = active & (clipped == beta)
            at_end |= stuck & ((beta >= b_hi) | (beta <= b_lo))  # else the bracket closed on beta: converged
            active &= ~stuck
            # a Newton step of size s leaves an error of about |f3 / (2 f2)| s^2 in beta: when that is far
            # below the tolerance another pass would not move beta, so this parameter stops after this step
            predicted = np.abs(t3) / (2.0 * h) * step * step
            done = active & ~bad & (clipped == new) & (predicted < 0.1 * tol * clipped)
            beta = np.where(active, clipped, beta)
            active &= ~done
        if not active.any():
            break
    return NewtonResult(beta, it, out, flat, dead, at_end, last_g)


def fit_temperature(z: np.ndarray, y: np.ndarray, task: Task, per_label: bool = False, tol: float = TOL,
                    init: float | np.ndarray | None = None, groups: np.ndarray | None = None,
                    n_groups: int = 1) -> TemperatureFit:
    """Fit T by minimising the NLL of softmax(z / T) (multilabel: sigmoid, summed over labels).

    Parameters
    ----------
    z : ndarray of shape (n, K)
        Logits (or log-probabilities), finite.
    y : ndarray
        ``(n,)`` class indices, or ``(n, K)`` 0/1 for multilabel.
    task : Task
    per_label : bool
        Multilabel only: one T per label instead of one shared T.
    tol : float
        Stop when 1/T is known to a relative ``tol`` (the last Newton step, or the
        error it leaves, is below it).
    init : float or array, optional
        Starting T (e.g. from a previous fit on part of the rows).
    groups : ndarray of int, shape (n,), optional
        Binary and multiclass only: fit one T per group of rows (values
        ``0 .. n_groups - 1``) in the same passes; ``temperature`` then has one
        entry per group (used for cross-fitting). Each equals the fit on that
        group's rows alone.
    n_groups : int

    Examples
    --------
    >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    >>> fit = fit_temperature(z, np.array([0, 1, 0, 1]), Task.BINARY)
    >>> bool(fit.at_bound[0]), bool(fit.decreasing_t[0])  # perfectly separated: T wants to go to 0
    (True, True)
    """
    n = z.shape[0]
    if task is Task.MULTILABEL:
        m = z.shape[1] if per_label else 1
        largest = float(np.max(np.abs(z))) if z.size else 0.0
        c = pow2_scale(largest)
        zs = z if c == 1.0 else z * (1.0 / c)
        col_max = np.max(np.abs(zs), axis=0) if z.size else np.zeros(z.shape[1])
        gap_s = col_max if per_label else np.array([col_max.max(initial=0.0)])
        derivs = _sigmoid_derivs(zs, y.astype(np.float64), per_label)
    else:
        m = 1 if groups is None else n_groups
        zmax = z.max(axis=1)
        zmin = z.min(axis=1)
        c = pow2_scale(max(float(zmax.max(initial=0.0)), -float(zmin.min(initial=0.0))))
        inv_c = 1.0 / c
        zmax_s = zmax if c == 1.0 else zmax * inv_c
        row_gap = zmax_s - (zmin if c == 1.0 else zmin * inv_c)
        if groups is None:
            gap_s = np.array([row_gap.max(initial=0.0)])
        else:
            gap_s = np.array([row_gap[groups == j].max(initial=0.0) for j in range(n_groups)])
        dy_s = z[np.arange(n), y] * inv_c - zmax_s if c != 1.0 else z[np.arange(n), y] - zmax
        if init is None and n > 2 * WARM_START_ROWS:
            step = n // WARM_START_ROWS
            sub = fit_temperature(z[::step], y[::step], task, tol=1e-3,
                                  groups=None if groups is None else groups[::step], n_groups=n_groups)
            init = sub.temperature
        derivs = _softmax_derivs(z, zmax_s, dy_s, inv_c, groups, n_groups)
    # the search range of T per parameter, in scaled units: [T_MIN min(1, G), T_MAX max(1, G)] (G: its largest gap)
    spread = gap_s > 0
    one_s = 1.0 / c  # T = 1 in scaled units
    with np.errstate(over="ignore"):
        t_lo_s = T_MIN * np.where(spread, np.minimum(gap_s, one_s), one_s)
        t_hi_s = np.minimum(T_MAX * np.maximum(gap_s, one_s), T_CAP / c)
    b_lo, b_hi = 1.0 / t_hi_s, 1.0 / t_lo_s
    t_init = np.ones(m) if init is None else np.broadcast_to(np.asarray(init, dtype=np.float64), (m,))
    beta0 = c / t_init
    res = _newton(derivs, beta0, b_lo, b_hi, tol)
    beta = res.beta
    at_end = res.at_end | ((beta >= b_hi) & (res.last_grad < 0)) | ((beta <= b_lo) & (res.last_grad > 0))
    # loss and curvature exactly 0 with logits that differ: every softmax is one-hot on its label (the
    # scores separate the classes), so the NLL is lowest as T -> 0
    separated = res.dead & spread
    at_bound = at_end | res.flat | separated
    decreasing = at_bound & ((res.last_grad < 0) | separated)
    beta_eval, rg, rh, rt = res.evaluated
    t_range = np.column_stack([c * t_lo_s, c * t_hi_s])
    return TemperatureFit(c / beta, res.iterations, at_bound, at_end, t_range, decreasing, c,
                          beta_eval, np.column_stack([b_lo, b_hi]), rg, rh, rt)


def _step(g, h, t3):
    """The root nearest 0 of g + h d + t3 d^2 / 2 (a Newton step corrected to second order)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
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
    The interval is the percentile interval of the resampled T, within the
    search range of T. Where the fit has no interior optimum (``at_bound``) the
    interval runs from T to the end of the range the NLL falls towards.

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
    b_lo, b_hi = fit.beta_bounds[:, 0], fit.beta_bounds[:, 1]
    with np.errstate(over="ignore", invalid="ignore"):
        reps = beta_hat + np.sqrt(m / n) * (reps - beta_hat)
    reps = np.where(np.isnan(reps), b_lo, reps)
    reps = np.clip(reps, b_lo, b_hi)
    t_reps = fit.scale / reps
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(t_reps, [a, 1.0 - a], axis=0)
    t = fit.temperature
    lo = np.where(fit.at_bound, np.where(fit.decreasing_t, fit.t_range[:, 0], t), lo)
    hi = np.where(fit.at_bound, np.where(fit.decreasing_t, t, fit.t_range[:, 1]), hi)
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
            with np.errstate(over="ignore"):  # |z / T| beyond 1e308 is +-inf: sigmoid 0 or 1, as it should be
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


def fit_temperature_preds(preds: Predictions, per_label: bool = False, init=None) -> TemperatureFit:
    """``fit_temperature`` on validated predictions (logits or clipped log-probabilities)."""
    check_fittable(preds, "temperature scaling")
    y = one_hot(preds) if preds.task is Task.MULTILABEL else preds.labels
    return fit_temperature(log_scores(preds), y, preds.task, per_label and preds.task is Task.MULTILABEL, init=init)
