"""Temperature scaling fitted over a source: the ``MethodFit`` of :mod:`calibcli.calibrators.fit_passes`.

Models: the layout's models (folds, the split, or all rows) and, with
``with_all``, one more model fitted on every fitting row (the T that ``calib fit``
would save, reported by the audit). Each model has one T, or one per label
(multilabel ``per_label``); all are Newton parameters advanced in shared passes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from calibcli.calibrators.newton import TOL
from calibcli.calibrators.rows import FitLayout, RowsView, uniform_of
from calibcli.calibrators.temperature import (CI_ROWS, EXACT_TOL, WARM_TOL, IntervalSample, ScaleGaps,
                                              TemperatureFit, TemperatureScaling, interval_sample, outcomes)
from calibcli.calibrators.temperature_passes import ParamLayout, TemperatureFitter, TemperatureSums, accumulate
from calibcli.predictions import Task
from calibcli.stats.base import Arrays

TAYLOR_REACH = 0.01  # the all-rows 1/T from the fold fits' sums when every fold's 1/T lies within 1% of it


class _Layers:
    """The model layers of a view, with the all-rows model appended when asked."""

    def __init__(self, layout: FitLayout, with_all: bool):
        self.layout, self.with_all = layout, with_all

    def __call__(self, view: RowsView) -> list[np.ndarray]:
        if not self.with_all:
            return view.layers
        return [*view.layers, np.where(view.member(), self.layout.n_models, -1).astype(np.intp)]


class _TaylorAll:
    """The all-rows parameters from the fold models' last derivative sums (no pass of their own).

    The all-rows NLL is the sum of the fold models' NLLs over their rows (with K
    folds each row fits K - 1 models: the sum counts it K - 1 times). Each fold
    model's derivative sums at its last 1/T, expanded to third order (first four
    derivatives), give the all-rows derivatives near it. On many rows the fold fits
    lie within a few 1/sqrt(n) of the all-rows fit, where the neglected term (of
    order (d/beta)^4) is far below the fit's tolerance; when some fold's 1/T lies
    more than ``TAYLOR_REACH`` away, the all-rows parameters get passes of their own.
    """

    def __init__(self, n_models: int, n_cols: int):
        p = n_models * n_cols
        self.n_models, self.n_cols = n_models, n_cols
        self.beta = np.zeros(p)
        self.weight = np.zeros(p)
        self.means = np.zeros((4, p))

    def record(self, beta: np.ndarray, sums: TemperatureSums, active: np.ndarray) -> None:
        got = np.asarray(active, dtype=bool) & (sums.weight > 0)
        means = sums.finalize()
        self.beta = np.where(got, beta, self.beta)
        self.weight = np.where(got, sums.weight, self.weight)
        self.means[:, got] = means[:, got]

    def derivatives(self, beta_all: np.ndarray) -> np.ndarray:
        """Mean first to fourth derivatives (4, n_cols) of the all-rows parameters at ``beta_all``."""
        c = self.n_cols
        w = self.weight.reshape(self.n_models, c)
        m = self.means.reshape(4, self.n_models, c)
        d = beta_all[None, :] - self.beta.reshape(self.n_models, c)
        g, h, t3, t4 = m
        out = np.stack([g + d * (h + d * (t3 / 2.0 + d * t4 / 6.0)), h + d * (t3 + d * t4 / 2.0), t3 + d * t4, t4])
        total = np.maximum(w.sum(axis=0), 1e-300)
        return (out * w[None]).sum(axis=1) / total


class _AllRows:
    """The single layer of the all-rows model: every fitting row (model 0 of its own pass)."""

    def __call__(self, view: RowsView) -> list[np.ndarray]:
        return [np.where(view.member(), 0, -1).astype(np.intp)]


def _join(fold: dict, whole: dict) -> dict:
    """One fit outcome: the fold models' parameters, then the all-rows model's."""
    return {k: (np.concatenate([fold[k], whole[k]]) if isinstance(fold[k], np.ndarray) else fold[k]) for k in fold}


class _FirstState:
    """Pass 1: logit scale and gaps, and the fitting rows of every model."""

    def __init__(self, gaps: ScaleGaps, layers: _Layers):
        self.gaps, self.layers = gaps, layers
        self.rows = np.zeros(gaps.layout.n_models, dtype=np.int64)

    def update(self, view: RowsView) -> "_FirstState":
        layers = self.layers(view)
        self.gaps.update(view.exact_log_scores(), layers)  # widened to float64 exactly
        for layer in layers:
            every = layer.size and int(layer.min()) >= 0  # every row fits a model of this layer: no selection
            self.rows += np.bincount(layer if every else layer[layer >= 0], minlength=self.rows.size)
        return self

    def merge(self, other: "_FirstState") -> "_FirstState":
        out = _FirstState(self.gaps.merge(other.gaps), self.layers)
        out.rows = self.rows + other.rows
        return out

    def to_arrays(self) -> Arrays:
        return {**self.gaps.to_arrays(), "rows": self.rows.copy()}


class TemperaturePass:
    """One Newton pass: derivative sums at the current betas (a mergeable partial state)."""

    def __init__(self, plan: ParamLayout, layers: _Layers, beta: np.ndarray, active: np.ndarray, inv_scale: float):
        self.plan, self.layers = plan, layers
        self.beta, self.active, self.inv_scale = beta.copy(), active.copy(), float(inv_scale)
        self.sums = TemperatureSums(plan.n_params)

    def update(self, view: RowsView) -> "TemperaturePass":
        y = outcomes(self.plan.task, view.preds.labels)
        accumulate(self.sums, self.plan, view.exact_log_scores(), y, self.layers(view), self.beta, self.active,
                   self.inv_scale)  # float32 logits are widened to float64 block by block (the same sums)
        return self

    def merge(self, other: "TemperaturePass") -> "TemperaturePass":
        if not np.array_equal(self.beta, other.beta):
            raise ValueError("cannot merge temperature passes evaluated at different temperatures")
        out = TemperaturePass(self.plan, self.layers, self.beta, self.active, self.inv_scale)
        out.sums = self.sums.merge(other.sums)
        return out

    def to_arrays(self) -> Arrays:
        return {"beta": self.beta.copy(), "active": self.active.copy(), **self.sums.to_arrays()}


class TemperatureMethod:
    """Temperature scaling of every model of a layout (``MethodFit``)."""

    method = "temperature"

    def __init__(self, layout: FitLayout, task: Task, classes: tuple[str, ...], kind, per_label: bool = False,
                 with_all: bool = False, seed: int = 0, tol: float = TOL):
        self.layout, self.task, self.classes, self.kind = layout, task, classes, kind
        self.with_all, self.seed, self.tol = with_all, seed, tol
        n_cols = len(classes) if (per_label and task is Task.MULTILABEL) else 1
        self.plan = ParamLayout(task, layout.n_models + (1 if with_all else 0), n_cols)
        self.layers = _Layers(layout, with_all)
        self.fitter: TemperatureFitter | None = None
        self._fit: TemperatureFit | None = None
        self._outcome: dict | None = None
        self._taylor: _TaylorAll | None = None
        self._all_pass: TemperatureFitter | None = None
        self._fold_outcome: dict | None = None
        self._sample: RowsView | None = None
        self.rows = np.zeros(self.plan.n_models, dtype=np.int64)

    @property
    def per_label(self) -> bool:
        return self.plan.n_cols > 1

    def first_state(self) -> _FirstState:
        return _FirstState(ScaleGaps(self.plan), self.layers)

    def _run_in_memory(self, fitter: TemperatureFitter, view: RowsView) -> None:
        z, y, layers = view.log_scores(), outcomes(self.task, view.preds.labels), self.layers(view)
        while not fitter.done:
            sums = fitter.new_sums()
            accumulate(sums, self.plan, z, y, layers, fitter.beta, fitter.active, 1.0 / fitter.scale)
            fitter.observe(sums)

    def start(self, first: _FirstState, sample: RowsView, exact: bool) -> None:
        self._sample = sample
        self.rows = first.rows.copy()
        self._gaps = first.gaps
        if exact:  # every fitting row is in memory: fit every parameter exactly, to 1e-10
            self.fitter = first.gaps.fitter(None, EXACT_TOL)
            self._run_in_memory(self.fitter, sample)
            return
        warm = first.gaps.fitter(None, WARM_TOL)
        self._run_in_memory(warm, sample)
        t_warm = warm.outcome()["temperature"]
        n_fold = self.layout.n_models
        c = self.plan.n_cols
        # passes fit the layout's models; the all-rows model (cross-fit) follows from their sums (_TaylorAll)
        self.fitter = first.gaps.fitter(t_warm[:n_fold * c], self.tol, models=np.arange(n_fold))
        self._taylor = _TaylorAll(n_fold, c) if self.with_all else None
        self._t_all_init = t_warm[n_fold * c:] if self.with_all else None

    def pass_state(self) -> TemperaturePass | None:
        if self._all_pass is not None:  # the all-rows parameters by passes of their own
            f = self._all_pass
            if f.done:
                return None
            plan = ParamLayout(self.task, 1, self.plan.n_cols)
            return TemperaturePass(plan, _AllRows(), f.beta, f.active, 1.0 / f.scale)
        if self.fitter is None or self.fitter.done:
            return None
        plan = ParamLayout(self.task, self.layout.n_models, self.plan.n_cols)
        return TemperaturePass(plan, _Layers(self.layout, False), self.fitter.beta, self.fitter.active,
                               1.0 / self.fitter.scale)

    def absorb(self, state: TemperaturePass) -> None:
        if self._all_pass is not None:
            self._all_pass.observe(state.sums)
            if self._all_pass.done:
                self._outcome = _join(self._fold_outcome, self._all_pass.outcome())
            return
        if self._taylor is not None:
            self._taylor.record(state.beta, state.sums, state.active)
        self.fitter.observe(state.sums)
        if self.fitter.done:
            self._finish()

    def _finish(self) -> None:
        """The fold fits are done: the all-rows parameters from their sums (or, when the fold fits lie too
        far from them for the expansion, from passes of their own), then one fit outcome for all."""
        fold = self.fitter.outcome()
        if self._taylor is None:
            self._outcome = fold
            return
        n_fold = self.layout.n_models
        all_fit = self._gaps.fitter(self._t_all_init, EXACT_TOL, models=np.array([n_fold]))
        while not all_fit.done:
            all_fit.newton.observe(*self._taylor.derivatives(all_fit.beta))
        beta_all = all_fit.beta
        spread = np.abs(self._taylor.beta.reshape(n_fold, -1) - beta_all[None, :]).max(initial=0.0)
        if spread <= TAYLOR_REACH * float(np.min(beta_all, initial=np.inf)):
            self._outcome = _join(fold, all_fit.outcome())
            return
        self._fold_outcome = fold
        self._all_pass = self._gaps.fitter(all_fit.outcome()["temperature"], self.tol, models=np.array([n_fold]))

    # -- results
    def fit(self) -> TemperatureFit:
        """Every parameter's fit, with the interval sample of every parameter."""
        if self._fit is None:
            out = self._outcome if self._outcome is not None else self.fitter.outcome()
            self._fit = TemperatureFit(**out, interval_sample=self._interval_sample(out))
        return self._fit

    def _interval_sample(self, out: dict) -> IntervalSample:
        view = self._sample
        n_fit = np.repeat(self.rows, self.plan.n_cols)
        report = self.report_model()
        n_report = int(self.rows[report]) if self.rows.size else 0
        keys = view.keys
        rows = np.arange(keys.size)
        if n_report > CI_ROWS:
            rows = np.flatnonzero(uniform_of(self.seed, keys) < CI_ROWS / n_report)
        sub = view.preds.subset(rows)
        layers = [layer[rows] for layer in self.layers(view)]
        from calibcli.calibrators.base import log_scores

        return interval_sample(self.plan, log_scores(sub), outcomes(self.task, sub.labels), layers, out["beta"],
                               1.0 / out["scale"], keys[rows], n_fit)

    def report_model(self) -> int:
        """The model whose T is reported: the all-rows model when fitted, else model 0."""
        return self.layout.n_models if self.with_all else 0

    def model_fit(self, model: int) -> TemperatureFit:
        """The fit of one model's parameters (its T, or its T per label)."""
        c = self.plan.n_cols
        idx = np.arange(model * c, (model + 1) * c)
        f = self.fit()
        s = f.interval_sample
        sample = None if s is None else replace(s, grad=s.grad[:, idx], hess=s.hess[:, idx], third=s.third[:, idx],
                                                member=s.member[:, idx], n_fit=s.n_fit[idx])
        return TemperatureFit(f.temperature[idx], f.iterations, f.at_bound[idx], f.at_range_end[idx], f.t_range[idx],
                              f.decreasing_t[idx], f.scale, f.beta[idx], f.beta_bounds[idx], sample)

    def temperatures(self, model: int) -> tuple[float, ...]:
        return tuple(float(t) for t in self.model_fit(model).temperature)

    def calibrator(self, model: int) -> TemperatureScaling:
        return TemperatureScaling(self.task, self.classes, self.kind, self.temperatures(model))

    def info(self) -> dict:
        return {"passes": 0 if self.fitter is None else self.fitter.newton.iterations}
