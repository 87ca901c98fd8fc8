"""Histogram binning: replace each probability by the observed frequency of its bin.

Equal-width bins on [0, 1] with the report's edge rule (lo < c <= hi, the first
bin also takes 0), one-vs-rest per class: the binned sums are the project's
:class:`calibcli.stats.bins.BinStats` (one pass, mergeable). An empty bin maps to
its midpoint.
Binary: the positive class only; multiclass: rows renormalised to sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.binning import assign_bins, uniform_edges
from calibcli.calibrators.base import Calibrator, float_array, renormalize
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task

DEFAULT_BINS = 15


@dataclass(frozen=True)
class HistogramBinning(Calibrator):
    """Per calibrated column the frequency of each of ``n_bins`` equal-width bins.

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.3, 0.7]]), np.array([0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> HistogramBinning(Task.BINARY, ("a", "b"), ScoreKind.PROBS, ((0.2, 0.6),)).transform(p).probs.round(4).tolist()
    [[0.4, 0.6]]
    """

    values: tuple[tuple[float, ...], ...] = ()

    method = "histogram"

    @property
    def n_bins(self) -> int:
        return len(self.values[0])

    @classmethod
    def fit(cls, preds: Predictions, n_bins: int = DEFAULT_BINS) -> "HistogramBinning":
        """Fit on every row of ``preds`` (binned sums of :class:`calibcli.stats.bins.BinStats`)."""
        from calibcli.calibrators import fit_calibrator

        return fit_calibrator("histogram", preds, n_bins=n_bins)

    def _transform_probs(self, preds: Predictions) -> np.ndarray:
        p = preds.probs
        edges = uniform_edges(self.n_bins)
        v = np.asarray(self.values)
        if self.task is Task.BINARY:
            p1 = v[0][assign_bins(p[:, 1], edges)]
            return np.column_stack([1.0 - p1, p1])
        out = np.empty_like(p)
        for k in range(p.shape[1]):
            out[:, k] = v[k][assign_bins(p[:, k], edges)]
        return out if self.task is Task.MULTILABEL else renormalize(out, p)

    def params(self) -> dict:
        return {"n_bins": self.n_bins, "values": [list(v) for v in self.values]}

    @classmethod
    def _from_params(cls, task, classes, kind, params):
        m = 1 if task is Task.BINARY else len(classes)
        n_bins = params.get("n_bins")
        if not isinstance(n_bins, int) or isinstance(n_bins, bool) or not 1 <= n_bins <= 100_000:
            raise ConfigError("'params.n_bins' must be an integer from 1 to 100000")
        v = float_array(params.get("values"), "params.values", shape=(m, n_bins), lo=0.0, hi=1.0)
        return cls(task, classes, kind, tuple(tuple(map(float, row)) for row in v))


def calibrated_columns(task: Task, n_classes: int) -> list[int]:
    """The columns a one-vs-rest calibrator fits: binary the positive class only, else every class."""
    return [1] if task is Task.BINARY else list(range(n_classes))


class _BinsState:
    """Pass 1 of histogram binning: per model, binned sums of each calibrated column (BinStats, exact)."""

    def __init__(self, n_models: int, n_cols: int, n_bins: int, cols: list[int]):
        from calibcli.stats.bins import BinStats

        self.cols, self.n_bins = cols, n_bins
        self.bins = [BinStats.uniform(n_bins, n_groups=n_cols) for _ in range(n_models)]

    def update(self, view) -> "_BinsState":
        p, y = view.preds.probs[:, self.cols], view.one_hot()[:, self.cols]
        for layer in view.layers:
            for m, state in enumerate(self.bins):
                sel = layer == m
                if sel.all():
                    state.update(p, y)
                elif sel.any():
                    state.update(p[sel], y[sel])
        return self

    def merge(self, other: "_BinsState") -> "_BinsState":
        out = _BinsState(0, len(self.cols), self.n_bins, self.cols)
        out.bins = [a.merge(b) for a, b in zip(self.bins, other.bins, strict=True)]
        return out

    def to_arrays(self) -> dict:
        out = {"cols": np.array(self.cols, dtype=np.int64), "n_bins": self.n_bins, "n_models": len(self.bins)}
        for m, b in enumerate(self.bins):
            out.update({f"model{m}.{k}": v for k, v in b.to_arrays().items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict) -> "_BinsState":
        from calibcli.stats.base import scalar
        from calibcli.stats.bins import BinStats

        cols = [int(c) for c in np.asarray(arrays["cols"]).tolist()]
        out = cls(0, len(cols), int(scalar(arrays["n_bins"])), cols)
        out.bins = [BinStats.from_arrays({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"model{m}.")})
                    for m in range(int(scalar(arrays["n_models"])))]
        return out


class HistogramMethod:
    """Histogram binning of every model of a layout, from one pass of binned sums (``MethodFit``)."""

    method = "histogram"

    def __init__(self, layout, task: Task, classes: tuple[str, ...], kind, n_bins: int = DEFAULT_BINS):
        self.layout, self.task, self.classes, self.kind, self.n_bins = layout, task, classes, kind, n_bins
        self.cols = calibrated_columns(task, len(classes))
        self.models: list[HistogramBinning] = []

    def first_state(self) -> _BinsState:
        return _BinsState(self.layout.n_models, len(self.cols), self.n_bins, self.cols)

    def start(self, first: _BinsState, sample, exact: bool) -> None:
        edges = uniform_edges(self.n_bins)
        mid = (edges[:-1] + edges[1:]) / 2.0
        self.models = []
        for state in first.bins:
            count, hits = state.count, state.sums["sum_wy"]
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(count > 0, hits / np.maximum(count, 1), mid[None, :])
            self.models.append(HistogramBinning(self.task, self.classes, self.kind,
                                                tuple(tuple(map(float, row)) for row in values)))

    def pass_state(self):
        return None

    def absorb(self, state) -> None:  # pragma: no cover - never iterates
        raise AssertionError("histogram binning needs no further pass")

    def calibrator(self, model: int) -> HistogramBinning:
        return self.models[model]

    def info(self) -> dict:
        return {}
