"""Temperature scaling: divide the logits by one fitted T > 0 (Guo et al. 2017).

T minimises the NLL of softmax(z / T) (sigmoid for multilabel). The NLL is convex
in beta = 1/T, so a safeguarded Newton iteration on beta (bracketed, with exact
first, second and third derivatives) reaches the optimum in a few passes over the
rows; each pass only adds derivative sums (:mod:`calibcli.calibrators.temperature_passes`),
so it runs batch by batch on files of any size. Several parameters (one T per
cross-fitting fold, the all-rows T, one per label) are advanced in the same
passes, each on its own: a parameter that has converged is frozen while the others
go on. Many rows: the fit starts from a fit on a row-keyed sample of about 200,000
rows, then takes a few Newton steps on all rows.

Scale: T is searched in [1e-3, 1e3], widened to 1e-3 and 1e3 times the largest
logit gap G of the fitting rows (the largest ``max_k z_k - min_k z_k`` of a row;
multilabel: the largest ``|z|``) where that reaches further: [1e-3 min(1, G),
1e3 max(1, G)], capped at 1e308. At T = 1e3 G every softmax is uniform to within
1e-3, so logits near +-1e308 can get a T of their own size instead of a hard 0/1.
Logits of magnitude beyond 2^32 (or below 2^-32) are divided by a power of two
before the passes (exact), so nothing overflows.

The interval of T is a one-step bootstrap on a row-keyed sample of at most 5,000
fitting rows (:func:`temperature_interval`): replicate r weights row i by a
Poisson(1) draw keyed on (seed, row key, r), so it needs no array over all rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.calibrators.base import Calibrator, check_fittable, float_array, log_scores, one_hot, pow2_scale
from calibcli.calibrators.newton import TOL, quadratic_step
from calibcli.calibrators.rows import sample_limits, uniform_of
from calibcli.calibrators.temperature_passes import (GAP_PRESCALE, T_CAP, T_MAX, T_MIN, ParamLayout, TemperatureFitter,
                                                     accumulate, row_max, row_min, sigmoid_entry_derivs,
                                                     softmax_row_derivs)
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task, scaled_softmax, sigmoid

CI_ROWS = 5_000  # the interval of T: at most this many rows (m-out-of-n beyond)
N_BOOT = 200
WARM_TOL = 1e-6  # the warm start on the sample (in memory: iterations are cheap)
EXACT_TOL = 1e-10  # rows in memory: iterations are free, so 1/T is fitted to a relative 1e-10

__all__ = ["T_MIN", "T_MAX", "T_CAP", "TOL", "TemperatureFit", "TemperatureScaling", "ScaleGaps", "IntervalSample",
           "fit_temperature", "fit_temperature_preds", "temperature_interval", "interval_sample", "EXACT_TOL"]


class ScaleGaps:
    """Pass-1 facts of a temperature fit: the largest |logit| (for the power-of-two scale) and, per
    parameter, the largest logit gap of its rows (for the search range). A mergeable state (maxima).

    Gaps are kept times 1/4 (exact) until the scale is known, so ``max - min`` of logits near
    +-1e308 never overflows.
    """

    def __init__(self, layout: ParamLayout):
        self.layout = layout
        self.absmax = 0.0
        self.gap = np.zeros(layout.n_params)

    def update(self, z: np.ndarray, model_layers: list[np.ndarray]) -> "ScaleGaps":
        if z.shape[0] == 0:
            return self
        lay = self.layout
        if lay.task is Task.MULTILABEL:
            a = np.abs(np.multiply(z, GAP_PRESCALE, dtype=np.float64))
            for model in model_layers:
                member = model >= 0
                if not member.any():
                    continue
                col = np.zeros((lay.n_models, a.shape[1]))
                for m in np.unique(model[member]):
                    col[m] = a[model == m].max(axis=0)
                per = col.reshape(-1) if lay.n_cols > 1 else col.max(axis=1)
                self.gap = np.maximum(self.gap, per)
                self.absmax = max(self.absmax, float(a[member].max()) / GAP_PRESCALE)
            return self
        if z.ndim == 2 and z.shape[1] and z.dtype in (np.float32, np.float64):
            from calibcli.kernels import use_compiled

            if use_compiled(z.size):
                return self._update_compiled(z, model_layers)
        # row max and min in the logits' dtype, then scaled: scaling by 1/4 is monotone, so this equals the
        # max and min of the scaled float64 logits, without widening the whole batch
        hi = np.multiply(row_max(z), GAP_PRESCALE, dtype=np.float64)
        lo = np.multiply(row_min(z), GAP_PRESCALE, dtype=np.float64)
        row_gap = hi - lo
        for model in model_layers:
            member = model >= 0
            if not member.any():
                continue
            for m in range(lay.n_models):
                sel = model == m
                if sel.any():
                    self.gap[m] = max(self.gap[m], float(row_gap[sel].max()))
            self.absmax = max(self.absmax, max(float(hi[member].max()), -float(lo[member].min())) / GAP_PRESCALE)
        return self

    def _update_compiled(self, z: np.ndarray, model_layers: list[np.ndarray]) -> "ScaleGaps":
        """:meth:`update` of softmax logits by one pass for the row extremes and one per layer (the same maxima)."""
        from calibcli.kernels.extremes import layer_gaps, scaled_row_extremes

        hi, lo = scaled_row_extremes(z, GAP_PRESCALE)
        for model in model_layers:
            gmax, count, top, bottom, members = layer_gaps(hi, lo, model, self.layout.n_models)
            if not members:
                continue
            for m in np.flatnonzero(count):
                self.gap[m] = max(self.gap[m], float(gmax[m]))
            self.absmax = max(self.absmax, max(top, -bottom) / GAP_PRESCALE)
        return self

    def merge(self, other: "ScaleGaps") -> "ScaleGaps":
        out = ScaleGaps(self.layout)
        out.absmax, out.gap = max(self.absmax, other.absmax), np.maximum(self.gap, other.gap)
        return out

    def to_arrays(self) -> dict:
        return {"absmax": self.absmax, "gap": self.gap.copy()}

    @classmethod
    def from_arrays(cls, arrays: dict, layout: ParamLayout) -> "ScaleGaps":
        """The state ``to_arrays`` described, for the parameters of ``layout``."""
        from calibcli.stats.base import scalar

        out = cls(layout)
        out.absmax, out.gap = float(scalar(arrays["absmax"])), np.array(arrays["gap"], dtype=np.float64)
        return out

    def scale(self) -> float:
        """The power of two the logits are divided by."""
        return pow2_scale(self.absmax)

    def fitter(self, init_t: np.ndarray | None = None, tol: float = TOL,
               models: np.ndarray | None = None) -> TemperatureFitter:
        """A Newton fitter for these parameters (search ranges from the gaps), or for those of ``models`` only."""
        c = self.scale()
        gap_s = self.gap * (1.0 / (GAP_PRESCALE * c))  # exact: a power of two
        layout = self.layout
        if models is not None:
            cols = layout.n_cols
            gap_s = gap_s.reshape(layout.n_models, cols)[np.asarray(models)].reshape(-1)
            layout = ParamLayout(layout.task, len(models), cols)
        return TemperatureFitter(layout, c, gap_s, init_t, tol)


@dataclass(frozen=True)
class IntervalSample:
    """Rows carrying the bootstrap interval of T: their keys and NLL derivatives at the fitted 1/T.

    ``grad``, ``hess``, ``third`` and ``member`` have shape (m, P): row i's terms
    for parameter p (0 where the row does not fit p); ``n_fit`` (P,) the rows
    fitting each parameter, of which these m are a row-keyed sample.
    """

    keys: np.ndarray
    grad: np.ndarray
    hess: np.ndarray
    third: np.ndarray
    member: np.ndarray
    n_fit: np.ndarray


@dataclass(frozen=True)
class TemperatureFit:
    """The outcome of one temperature fit.

    Attributes
    ----------
    temperature : ndarray of shape (m,)
        One T (m = 1), one per label (multilabel per-label fit), or one per group.
    iterations : int
        Newton iterations (derivative passes) over all fitting rows.
    at_bound : ndarray of bool, shape (m,)
        True where the optimum is not interior: T sits at an end of its search
        range (``at_range_end``), or the NLL went flat while still decreasing
        towards T -> 0 (perfectly separated scores) or T -> inf (scores unrelated
        to the labels).
    at_range_end : ndarray of bool, shape (m,)
        True where T stopped at an end of ``t_range`` with the NLL still falling beyond it.
    t_range : ndarray of shape (m, 2)
        The search range of each T: [1e-3 min(1, G), 1e3 max(1, G)] with G the
        largest logit gap of its fitting rows (capped at 1e308).
    decreasing_t : ndarray of bool, shape (m,)
        Where ``at_bound``: True when the NLL falls towards smaller T (T -> 0).
    scale : float
        The logits were divided by this power of two for the passes (1.0 for
        ordinary logits): ``beta`` is in those units, 1/T = beta / scale.
    beta : ndarray of shape (m,)
        Scaled 1/T of the fit.
    beta_bounds : ndarray of shape (m, 2)
        ``t_range`` as scaled 1/T (low, high).
    interval_sample : IntervalSample or None
        Rows for the bootstrap interval (:func:`temperature_interval`).
    """

    temperature: np.ndarray
    iterations: int
    at_bound: np.ndarray
    at_range_end: np.ndarray
    t_range: np.ndarray
    decreasing_t: np.ndarray
    scale: float
    beta: np.ndarray
    beta_bounds: np.ndarray
    interval_sample: IntervalSample | None = None

    def with_interval_sample(self, sample: IntervalSample | None) -> "TemperatureFit":
        from dataclasses import replace

        return replace(self, interval_sample=sample)


def outcomes(task: Task, labels: np.ndarray) -> np.ndarray:
    """What the derivative functions take as y: class indices, or float 0/1 per label."""
    return labels.astype(np.float64) if task is Task.MULTILABEL else labels


def interval_sample(layout: ParamLayout, z: np.ndarray, y: np.ndarray, model_layers: list[np.ndarray],
                    beta: np.ndarray, inv_scale: float, keys: np.ndarray, n_fit: np.ndarray) -> IntervalSample:
    """Per-row derivative terms of every parameter at ``beta`` for the rows of a (row-keyed) sample."""
    m, p = z.shape[0], layout.n_params
    grad, hess, third = np.zeros((m, p)), np.zeros((m, p)), np.zeros((m, p))
    member = np.zeros((m, p), dtype=bool)
    for model in model_layers:
        rows = np.flatnonzero(model >= 0)
        if rows.size == 0:
            continue
        mr = model[rows]
        if layout.task is Task.MULTILABEL:
            k = z.shape[1]
            if layout.n_cols > 1:
                cols = mr[:, None] * k + np.arange(k)[None, :]
                g, h, t3, _ = sigmoid_entry_derivs(z[rows], y[rows], beta[cols], inv_scale)
                r2 = np.repeat(rows, k).reshape(-1, k)
                grad[r2, cols], hess[r2, cols], third[r2, cols], member[r2, cols] = g, h, t3, True
                continue
            g, h, t3, _ = sigmoid_entry_derivs(z[rows], y[rows], beta[mr][:, None], inv_scale).sum(axis=2)
        else:
            g, h, t3, _ = softmax_row_derivs(z[rows], y[rows], beta[mr], inv_scale)
        grad[rows, mr], hess[rows, mr], third[rows, mr], member[rows, mr] = g, h, t3, True
    return IntervalSample(keys, grad, hess, third, member, np.asarray(n_fit, dtype=np.int64))


def fit_temperature(z: np.ndarray, y: np.ndarray, task: Task, per_label: bool = False, tol: float = EXACT_TOL,
                    init: float | np.ndarray | None = None, groups: np.ndarray | None = None,
                    n_groups: int = 1, weight: np.ndarray | None = None, seed: int = 0,
                    keys: np.ndarray | None = None, ci_rows: int = CI_ROWS) -> TemperatureFit:
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
        error it leaves, is below it). Rows in memory: 1e-10 by default (over a
        source, where each iteration is a pass, 1e-6).
    init : float or array, optional
        Starting T (e.g. from a previous fit on part of the rows).
    groups : ndarray of int, shape (n,), optional
        Fit one T per group of rows (values ``0 .. n_groups - 1``) in the same
        passes; ``temperature`` then has one entry per group (per group and label
        with ``per_label``). Each equals the fit on that group's rows alone.
    n_groups : int
    weight : ndarray (n,), optional
        Row weights (e.g. bootstrap weights).
    seed, keys : int and ndarray (n,), optional
        The row-keyed sample (warm start above 400,000 rows, rows of the interval)
        is drawn with this seed from these keys (default: the row positions).
    ci_rows : int
        Rows of the interval sample (m-out-of-n beyond).

    Examples
    --------
    >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    >>> fit = fit_temperature(z, np.array([0, 1, 0, 1]), Task.BINARY)
    >>> bool(fit.at_bound[0]), bool(fit.decreasing_t[0])  # perfectly separated: T wants to go to 0
    (True, True)
    """
    n = z.shape[0]
    multilabel = task is Task.MULTILABEL
    layout = ParamLayout(task, n_groups if groups is not None else 1, z.shape[1] if (multilabel and per_label) else 1)
    models = np.zeros(n, dtype=np.intp) if groups is None else np.asarray(groups, dtype=np.intp)
    keys = np.arange(n, dtype=np.uint64) if keys is None else np.asarray(keys, dtype=np.uint64)
    yv = outcomes(task, np.asarray(y))
    sg = ScaleGaps(layout).update(z, [models])
    rows, full = sample_limits(z.shape[1])
    u = uniform_of(seed, keys) if (init is None and n > full) or n > ci_rows else None
    if init is None and n > full:
        sub = np.flatnonzero(u < rows / n)
        warm = sg.fitter(None, WARM_TOL)
        _run(warm, layout, z[sub], yv[sub], [models[sub]], None if weight is None else weight[sub])
        init = warm.outcome()["temperature"]
    fitter = sg.fitter(None if init is None else np.asarray(init, dtype=np.float64), tol)
    _run(fitter, layout, z, yv, [models], weight)
    out = fitter.outcome()
    ci = np.arange(n) if n <= ci_rows else np.flatnonzero(u < ci_rows / n)
    n_fit = np.bincount(models, minlength=layout.n_models)
    n_fit = np.repeat(n_fit, layout.n_cols)
    sample = interval_sample(layout, z[ci], yv[ci], [models[ci]], out["beta"], 1.0 / out["scale"], keys[ci], n_fit)
    return TemperatureFit(**out, interval_sample=sample)


def _run(fitter: TemperatureFitter, layout: ParamLayout, z, y, layers, weight) -> None:
    """Newton passes over in-memory rows until every parameter has converged."""
    inv = 1.0 / fitter.scale
    while not fitter.done:
        sums = fitter.new_sums()
        accumulate(sums, layout, z, y, layers, fitter.beta, fitter.active, inv, weight)
        fitter.observe(sums)


def temperature_interval(fit: TemperatureFit, level: float = 0.95, n_boot: int = N_BOOT,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Bootstrap interval of T from the derivative terms of a row-keyed sample (no refitting).

    Replicate r weights each sample row by a Poisson(1) draw keyed on (``seed``,
    row key, r) and solves a second-order Taylor expansion of its weighted score
    equation around the fitted beta, using the weighted mean first, second and
    third derivatives (a one-step bootstrap with a quadratic correction; it agrees
    with refitting to third order in the resampling deviation). When the sample
    holds m of the n fitting rows (m < n: at most 5,000 rows are kept), the spread
    of the replicates around the sample's own one-step estimate is rescaled by
    sqrt(m/n) (m-out-of-n). The interval is the percentile interval of the
    replicate T, within the search range of T. Where the fit has no interior
    optimum (``at_bound``) the interval runs from T to the end of the range the
    NLL falls towards.

    Returns
    -------
    lo, hi : ndarray of shape (m_params,)
    description : str
        How the interval was computed, for the report.
    """
    from calibcli.stats.rng import poisson1_weights

    s = fit.interval_sample
    t = fit.temperature
    b_lo, b_hi = fit.beta_bounds[:, 0], fit.beta_bounds[:, 1]
    a = (1.0 - level) / 2.0
    if s is None or s.keys.size == 0:
        lo = hi = np.full(t.shape, np.nan)
        m_rows, n_rows = 0, 0
    else:
        w = poisson1_weights(seed, s.keys, n_boot).astype(np.float64)  # (m, R)
        mem = s.member.astype(np.float64)
        wsum = mem.T @ w  # (P, R)
        with np.errstate(divide="ignore", invalid="ignore"):
            means = [(x.T @ w) / wsum for x in (s.grad, s.hess, s.third)]
            count = np.maximum(mem.sum(axis=0), 1.0)
            centre_means = [x.sum(axis=0) / count for x in (s.grad, s.hess, s.third)]
        beta = fit.beta
        reps = beta[:, None] + quadratic_step(*means)  # (P, R)
        centre = beta + quadratic_step(*centre_means)
        m_p = mem.sum(axis=0)
        n_p = np.maximum(s.n_fit, 1).astype(np.float64)
        shrink = np.sqrt(np.minimum(m_p / n_p, 1.0))
        with np.errstate(over="ignore", invalid="ignore"):
            reps = beta[:, None] + shrink[:, None] * (reps - centre[:, None])
        reps = np.where(np.isnan(reps), b_lo[:, None], reps)
        reps = np.clip(reps, b_lo[:, None], b_hi[:, None])
        t_reps = fit.scale / reps
        lo, hi = np.quantile(t_reps, [a, 1.0 - a], axis=1)
        m_rows, n_rows = int(m_p.max(initial=0)), int(s.n_fit.max(initial=0))
    lo = np.where(fit.at_bound, np.where(fit.decreasing_t, fit.t_range[:, 0], t), lo)
    hi = np.where(fit.at_bound, np.where(fit.decreasing_t, t, fit.t_range[:, 1]), hi)
    how = (f"percentile {level:.0%} interval of a one-step bootstrap (each replicate solves a second-order expansion of "
           f"its NLL score equation in 1/T around the fit, no refit): {n_boot} replicates weighting each row by a "
           f"Poisson(1) draw keyed on the row (seed {seed})")
    if m_rows < n_rows:
        how += (f"; m-out-of-n: a row-keyed sample of m = {m_rows:,} of the n = {n_rows:,} fitting rows, spread "
                "rescaled by sqrt(m/n)")
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
        from calibcli.predictions import exact_logits

        t = np.asarray(self.temperature)
        if self.task is not Task.MULTILABEL:
            z = exact_logits(preds)  # float32 logits are widened block by block (the same numbers)
            return scaled_softmax(log_scores(preds) if z is None else z, t[0])
        z = log_scores(preds)
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


def fit_temperature_preds(preds: Predictions, per_label: bool = False, init=None, seed: int = 0) -> TemperatureFit:
    """``fit_temperature`` on validated predictions (logits or clipped log-probabilities)."""
    check_fittable(preds, "temperature scaling")
    y = one_hot(preds) if preds.task is Task.MULTILABEL else preds.labels
    return fit_temperature(log_scores(preds), y, preds.task, per_label and preds.task is Task.MULTILABEL, init=init,
                           seed=seed)
