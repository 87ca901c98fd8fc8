"""Fitting calibrators over a ``BatchSource``: pass 1, then iterative passes, each fusing every method.

The pass plan of a fit:

1. **Pass 1** (shared with any other consumers the caller passes, e.g. the
   before-measurement): per model the fitting rows and class counts, the
   saturated rows, the row-keyed sample (:class:`calibcli.calibrators.rows.RowSample`)
   and each method's pass-1 state (temperature: logit scale and gaps; isotonic:
   distinct-score tables; histogram: binned sums; Platt: score scales).
2. **In memory**: each method fits its models on the sample. When the sample
   holds every fitting row (up to about 400,000 rows with 10 classes) these fits are exact and no
   further pass is needed; otherwise they are warm starts.
3. **Newton passes** over the source, every method that still iterates
   (temperature, Platt, vector; isotonic beyond its exact budget) adding its
   merged sums in the same pass, until all have converged.

Every state is mergeable and keyed on rows, so the fitted parameters do not
depend on the batch size (within float rounding, 1e-9 relative).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from calibcli.calibrators.rows import FitLayout, RowSample, RowsView, sample_rate
from calibcli.engine.batches import Batch, BatchSource
from calibcli.predictions import Predictions, Task


class MethodFit(Protocol):
    """One calibration method fitting ``n_models`` models in shared passes."""

    method: str

    def first_state(self) -> Any: ...  # update(view) / merge(other)

    def start(self, first: Any, sample: RowsView, exact: bool) -> None: ...  # fit on the sample (exact: all rows)

    def pass_state(self) -> Any | None: ...  # None when converged; else update(view) / merge(other)

    def absorb(self, state: Any) -> None: ...

    def calibrator(self, model: int): ...

    def info(self) -> dict[str, Any]: ...


class FitFacts:
    """Pass-1 counts of the fitting rows: per model the rows and the class counts (multilabel: positives
    per label), and the rows holding a probability of exactly 0 or 1. Mergeable (sums)."""

    def __init__(self, n_models: int, n_classes: int, task: Task):
        self.n_models, self.n_classes, self.task = int(n_models), int(n_classes), task
        self.rows = np.zeros(self.n_models, dtype=np.int64)
        self.class_counts = np.zeros((self.n_models, self.n_classes), dtype=np.int64)
        self.fit_rows = 0
        self.saturated = 0

    def update(self, view: RowsView) -> "FitFacts":
        from calibcli.calibrators.base import saturated_rows

        p = view.preds
        member = view.member()
        self.fit_rows += int(np.count_nonzero(member))
        if member.any():
            self.saturated += saturated_rows(p if member.all() else p.subset(np.flatnonzero(member)))
        if self.task is not Task.MULTILABEL:
            self._add_counts(view.layers, p.labels)
            return self
        for layer in view.layers:
            for m in range(self.n_models):
                sel = layer == m
                if not sel.any():
                    continue
                self.rows[m] += int(np.count_nonzero(sel))
                if self.task is Task.MULTILABEL:
                    self.class_counts[m] += p.labels[sel].sum(axis=0).astype(np.int64)
                else:
                    self.class_counts[m] += np.bincount(p.labels[sel], minlength=self.n_classes)
        return self

    def _add_counts(self, layers: list[np.ndarray], labels: np.ndarray) -> None:
        """Rows and class counts per model of single-label rows: one bincount over (model, class) per layer."""
        m_count, k = self.n_models, self.n_classes
        for layer in layers:
            if layer.size == 0:
                continue
            if int(layer.min()) >= 0 and int(layer.max()) < m_count:
                model, y = layer, labels
            else:  # rows of no model (-1) are not counted
                sel = (layer >= 0) & (layer < m_count)
                model, y = layer[sel], labels[sel]
            self.rows += np.bincount(model, minlength=m_count)
            cell = model * k
            cell += y
            self.class_counts += np.bincount(cell, minlength=m_count * k).reshape(m_count, k)

    def merge(self, other: "FitFacts") -> "FitFacts":
        """A new state of the counts of both (the inputs are left unchanged)."""
        out = FitFacts(self.n_models, self.n_classes, self.task)
        out.rows, out.class_counts = self.rows + other.rows, self.class_counts + other.class_counts
        out.fit_rows, out.saturated = self.fit_rows + other.fit_rows, self.saturated + other.saturated
        return out

    def to_arrays(self) -> dict:
        """Plain arrays and scalars (see :mod:`calibcli.stats.base`)."""
        return {"n_models": self.n_models, "n_classes": self.n_classes, "task": self.task.value, "rows": self.rows.copy(),
                "class_counts": self.class_counts.copy(), "fit_rows": self.fit_rows, "saturated": self.saturated}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "FitFacts":
        from calibcli.stats.base import scalar

        out = cls(scalar(arrays["n_models"]), scalar(arrays["n_classes"]), Task(str(scalar(arrays["task"]))))
        out.rows = np.array(arrays["rows"], dtype=np.int64)
        out.class_counts = np.array(arrays["class_counts"], dtype=np.int64).reshape(out.n_models, out.n_classes)
        out.fit_rows, out.saturated = int(scalar(arrays["fit_rows"])), int(scalar(arrays["saturated"]))
        return out

    def outcome_counts(self) -> np.ndarray:
        """Per model and class the fitting rows of the class (multilabel: of the rarer outcome of each label)."""
        if self.task is Task.MULTILABEL:
            return np.minimum(self.class_counts, self.rows[:, None] - self.class_counts)
        return self.class_counts


class _Consumer:
    """Feeds one view of each batch to several states (one pass, shared with other consumers).

    A pass consumer: unfed when given to ``feed`` (a deep copy is an empty replica), ``merge``
    adds a replica's rows to every state in place.
    """

    def __init__(self, layout: FitLayout, states: list, sample: RowSample | None = None):
        self.layout, self.states, self.sample = layout, states, sample

    def update(self, batch: Batch) -> None:
        view = RowsView.of(batch, self.layout)
        if self.sample is not None:
            self.sample.update(view.preds, view.keys, view.member())
        for s in self.states:
            s.update(view)

    def merge(self, other: "_Consumer") -> "_Consumer":
        """Add the rows of ``other`` (a replica fed other rows) to every state, in place."""
        from calibcli.engine.local import merge_into

        for s, o in zip(self.states, other.states, strict=True):
            merge_into(s, o)
        if self.sample is not None:
            merge_into(self.sample, other.sample)
        return self


@dataclass
class FitRun:
    """What a fit over a source produced: the methods (fitted), pass-1 facts and the pass count."""

    layout: FitLayout
    fits: dict[str, MethodFit]
    facts: FitFacts
    sample: Predictions
    sample_keys: np.ndarray
    exact_sample: bool
    passes: int = 1
    notes: list[str] = field(default_factory=list)


def fit_source(source: BatchSource, layout: FitLayout, fits: dict[str, MethodFit], seed: int = 0,
               n_expected: float | None = None, extra_first: tuple = (), max_passes: int = 200,
               check=None) -> FitRun:
    """Fit every method's models over ``source`` (see the module docstring for the passes).

    Parameters
    ----------
    source : the fitting rows.
    layout : which rows fit which model.
    fits : method name -> a ``MethodFit`` (fitted in place).
    seed : seed of the row-keyed sample.
    n_expected : fitting rows expected (default: all rows of the source); sets the sample rate.
    extra_first : other consumers (``update(batch)``) fed in pass 1.
    check : called with the pass-1 ``FitFacts`` before any fit (raises to stop).
    """
    from calibcli.engine.local import feed

    info = source.info
    n_classes = len(info.classes)
    n_exp = float(info.n_rows if n_expected is None else n_expected)
    rate = sample_rate(n_exp, n_classes)
    sample = RowSample(seed, rate)
    facts = FitFacts(layout.n_models, n_classes, info.task)
    firsts = {name: f.first_state() for name, f in fits.items()}
    feed(source, _Consumer(layout, [facts, *firsts.values()], sample), *extra_first)
    if check is not None:
        check(facts)
    preds, keys = sample.finalize()
    exact = rate >= 1.0
    if preds is None:  # an empty source: nothing to fit on
        preds = Predictions(np.zeros((0, n_classes)), np.zeros((0, n_classes) if info.task is Task.MULTILABEL else 0,
                                                                 dtype=np.int64),
                            info.classes, info.task, info.score_kind)
    view = RowsView(preds, keys, layout.fit_layers(keys))
    for name, f in fits.items():
        f.start(firsts[name], view, exact)
    run = FitRun(layout, fits, facts, preds, keys, exact)
    while run.passes < max_passes:
        states = {name: f.pass_state() for name, f in fits.items()}
        states = {name: s for name, s in states.items() if s is not None}
        if not states:
            break
        feed(source, _Consumer(layout, list(states.values())))
        run.passes += 1
        for name, s in states.items():
            fits[name].absorb(s)
    return run


def fit_in_memory(preds: Predictions, keys: np.ndarray, layout: FitLayout, fits: dict[str, MethodFit]) -> None:
    """Fit every method on rows already in memory (exactly: they are all the fitting rows)."""
    view = RowsView(preds, keys, layout.fit_layers(keys))
    firsts = {name: f.first_state() for name, f in fits.items()}
    for s in firsts.values():
        s.update(view)
    for name, f in fits.items():
        f.start(firsts[name], view, True)


def method_fit(method: str, layout: FitLayout, info, per_label: bool = False, n_bins: int = 15, seed: int = 0,
               with_all: bool = False) -> MethodFit:
    """The ``MethodFit`` of ``method`` for the models of ``layout`` on a source described by ``info``.

    ``with_all`` (temperature): also fit one model on every fitting row.
    """
    task, classes, kind = info.task, tuple(info.classes), info.score_kind
    if method == "temperature":
        from calibcli.calibrators.temperature_source import TemperatureMethod

        return TemperatureMethod(layout, task, classes, kind, per_label=per_label, with_all=with_all, seed=seed)
    if method == "histogram":
        from calibcli.calibrators.histogram import HistogramMethod

        return HistogramMethod(layout, task, classes, kind, n_bins)
    if method == "isotonic":
        from calibcli.calibrators.isotonic import IsotonicMethod

        return IsotonicMethod(layout, task, classes, kind)
    if method == "platt":
        from calibcli.calibrators.platt import PlattMethod

        return PlattMethod(layout, task, classes, kind)
    if method == "vector":
        from calibcli.calibrators.vector import VectorMethod

        return VectorMethod(layout, task, classes, kind)
    raise ValueError(f"unknown calibration method {method!r}")
