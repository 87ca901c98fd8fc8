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
from calibcli.calibrators.temperature import (CI_ROWS, WARM_TOL, IntervalSample, ScaleGaps, TemperatureFit,
                                              TemperatureScaling, interval_sample, outcomes)
from calibcli.calibrators.temperature_passes import ParamLayout, TemperatureFitter, TemperatureSums, accumulate
from calibcli.predictions import Task
from calibcli.stats.base import Arrays


class _Layers:
    """The model layers of a view, with the all-rows model appended when asked."""

    def __init__(self, layout: FitLayout, with_all: bool):
        self.layout, self.with_all = layout, with_all

    def __call__(self, view: RowsView) -> list[np.ndarray]:
        if not self.with_all:
            return view.layers
        return [*view.layers, np.where(view.member(), self.layout.n_models, -1).astype(np.intp)]


class _FirstState:
    """Pass 1: logit scale and gaps, and the fitting rows of every model."""

    def __init__(self, gaps: ScaleGaps, layers: _Layers):
        self.gaps, self.layers = gaps, layers
        self.rows = np.zeros(gaps.layout.n_models, dtype=np.int64)

    def update(self, view: RowsView) -> "_FirstState":
        layers = self.layers(view)
        self.gaps.update(view.log_scores(), layers)
        for layer in layers:
            self.rows += np.bincount(layer[layer >= 0], minlength=self.rows.size)
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
        accumulate(self.sums, self.plan, view.log_scores(), y, self.layers(view), self.beta, self.active, self.inv_scale)
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
        if exact:
            self.fitter = first.gaps.fitter(None, self.tol)
            self._run_in_memory(self.fitter, sample)
            return
        warm = first.gaps.fitter(None, WARM_TOL)
        self._run_in_memory(warm, sample)
        self.fitter = first.gaps.fitter(warm.outcome()["temperature"], self.tol)

    def pass_state(self) -> TemperaturePass | None:
        if self.fitter is None or self.fitter.done:
            return None
        return TemperaturePass(self.plan, self.layers, self.fitter.beta, self.fitter.active, 1.0 / self.fitter.scale)

    def absorb(self, state: TemperaturePass) -> None:
        self.fitter.observe(state.sums)

    # -- results
    def fit(self) -> TemperatureFit:
        """Every parameter's fit, with the interval sample of every parameter."""
        if self._fit is None:
            out = self.fitter.outcome()
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
