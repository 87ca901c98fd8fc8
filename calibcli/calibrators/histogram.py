"""Histogram binning: replace each probability by the observed frequency of its bin.

Equal-width bins on [0, 1] with the report's edge rule (lo < c <= hi, the first
bin also takes 0), one-vs-rest per class. An empty bin maps to its midpoint.
Binary: the positive class only; multiclass: rows renormalised to sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.binning import assign_bins, uniform_edges
from calibcli.calibrators.base import Calibrator, check_fittable, float_array, one_hot, renormalize
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task

DEFAULT_BINS = 15


def fit_histogram(x: np.ndarray, y: np.ndarray, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Observed frequency of ``y`` in each equal-width bin of ``x`` (midpoint when empty).

    >>> fit_histogram(np.array([0.1, 0.2, 0.9]), np.array([0.0, 1.0, 1.0]), n_bins=2).tolist()
    [0.5, 1.0]
    """
    edges = uniform_edges(n_bins)
    idx = assign_bins(x, edges)
    count = np.bincount(idx, minlength=n_bins)
    hits = np.bincount(idx, weights=y, minlength=n_bins)
    mid = (edges[:-1] + edges[1:]) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, hits / np.maximum(count, 1), mid)


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
        check_fittable(preds, "histogram binning")
        p, y = preds.probs, one_hot(preds)
        cols = [1] if preds.task is Task.BINARY else range(p.shape[1])
        vals = tuple(tuple(map(float, fit_histogram(p[:, k], y[:, k], n_bins))) for k in cols)
        return cls(preds.task, preds.classes, preds.score_kind, vals)

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
