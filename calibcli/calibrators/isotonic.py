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

from calibcli.calibrators.base import Calibrator, float_array, renormalize
from calibcli.errors import ConfigError
from calibcli.predictions import Predictions, Task


def isotonic_knots(values: np.ndarray, weight: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots of the increasing least-squares fit from a table of distinct scores (ascending) with their
    weights (rows) and weighted positives: PAV on the mean outcome of each score, keeping only the ends
    of each flat piece.

    >>> xs, ys = isotonic_knots(np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 1.0]), np.array([0.0, 1.0, 1.0]))
    >>> xs.tolist(), ys.tolist()
    ([0.1, 0.2, 0.3], [0.0, 0.5, 1.0])
    """
    from scipy.optimize import isotonic_regression

    keep_rows = weight > 0
    ux, w, pos = values[keep_rows], weight[keep_rows].astype(np.float64), positives[keep_rows]
    if ux.size == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    fitted = isotonic_regression(pos / w, weights=w, increasing=True).x
    keep = np.ones(ux.size, dtype=bool)
    if ux.size > 2:
        keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return ux[keep], np.clip(fitted[keep], 0.0, 1.0)


def fit_isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots ``(xs, ys)`` of the increasing least-squares fit of ``y`` on ``x`` (ties merged by their mean,
    as scikit-learn's ``IsotonicRegression`` does).

    Predict with ``np.interp(x, xs, ys)``.

    Examples
    --------
    >>> xs, ys = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 1.0]))
    >>> xs.tolist(), ys.tolist()
    ([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.5, 1.0])
    """
    ux, inv = np.unique(x, return_inverse=True)
    w = np.bincount(inv, minlength=ux.size).astype(np.float64)
    return isotonic_knots(ux, w, np.bincount(inv, weights=y, minlength=ux.size))


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
        """Fit on every row of ``preds`` (PAV on the exact table of distinct scores)."""
        from calibcli.calibrators import fit_calibrator

        return fit_calibrator("isotonic", preds)

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


# -- fitting over a source --------------------------------------------------------------------
MAX_DISTINCT = 4_000_000  # distinct scores kept exactly, over all tables of a fit (32 bytes each)
MIN_TABLE = 1_000  # every table may hold at least this many


class _Exact:
    """A distinct-score table with amortised merging: per-batch tables wait until they are as large as it."""

    def __init__(self, budget: int):
        from calibcli.stats.distinct import DistinctTable

        self.table = DistinctTable(budget)
        self.pending: list = []
        self.pending_size = 0

    def update(self, scores: np.ndarray, outcome: np.ndarray) -> None:
        from calibcli.stats.distinct import DistinctTable

        if not self.table.exact:
            self.table.total_rows += scores.size
            return
        t = DistinctTable(self.table.max_distinct).update(scores, outcome)
        self.pending.append(t)
        self.pending_size += t.size
        if not t.exact or self.pending_size >= max(self.table.size, 1 << 16):
            self.flush()

    def flush(self) -> None:
        for t in self.pending:
            self.table = self.table.merge(t)
        self.pending, self.pending_size = [], 0

    def merged(self, other: "_Exact") -> "_Exact":
        self.flush()
        other.flush()
        out = _Exact(self.table.max_distinct)
        out.table = self.table.merge(other.table)
        return out


class _TablesState:
    """Pass 1 of isotonic regression: per model and calibrated column, the exact distinct-score table."""

    def __init__(self, n_models: int, cols: list[int], budget: int):
        self.cols, self.budget = cols, budget
        self.tables = [[_Exact(budget) for _ in cols] for _ in range(n_models)]

    def update(self, view) -> "_TablesState":
        p, y = view.preds.probs, view.one_hot()
        for layer in view.layers:
            for m, tables in enumerate(self.tables):
                sel = layer == m
                if not sel.any():
                    continue
                for t, k in zip(tables, self.cols):
                    t.update(p[sel, k] if not sel.all() else p[:, k], y[sel, k] if not sel.all() else y[:, k])
        return self

    def merge(self, other: "_TablesState") -> "_TablesState":
        out = _TablesState(0, self.cols, self.budget)
        out.tables = [[a.merged(b) for a, b in zip(ta, tb, strict=True)] for ta, tb in zip(self.tables, other.tables, strict=True)]
        return out

    def to_arrays(self) -> dict:
        out = {"cols": np.array(self.cols, dtype=np.int64), "budget": self.budget, "n_models": len(self.tables)}
        for m, tables in enumerate(self.tables):
            for j, t in enumerate(tables):
                t.flush()
                out.update({f"m{m}c{j}.{k}": v for k, v in t.table.to_arrays().items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict) -> "_TablesState":
        from calibcli.stats.base import scalar
        from calibcli.stats.distinct import DistinctTable

        cols = [int(c) for c in np.asarray(arrays["cols"]).tolist()]
        out = cls(int(scalar(arrays["n_models"])), cols, int(scalar(arrays["budget"])))
        for m, tables in enumerate(out.tables):
            for j, t in enumerate(tables):
                t.table = DistinctTable.from_arrays({k.split(".", 1)[1]: v for k, v in arrays.items()
                                                     if k.startswith(f"m{m}c{j}.")})
        return out


class _BucketState:
    """A second pass for tables over budget: per bucket (edges from the sample's scores) the exact rows,
    sum of scores and positives."""

    def __init__(self, edges: dict[tuple[int, int], np.ndarray], cols: list[int]):
        self.edges, self.cols = edges, cols
        self.sums = {key: np.zeros((3, e.size + 1)) for key, e in edges.items()}

    def update(self, view) -> "_BucketState":
        p, y = view.preds.probs, view.one_hot()
        for layer in view.layers:
            for (m, j), e in self.edges.items():
                sel = layer == m
                if not sel.any():
                    continue
                k = self.cols[j]
                x, yy = p[sel, k], y[sel, k]
                b = np.searchsorted(e, x, side="left")  # bucket b holds e[b-1] < x <= e[b]
                size = e.size + 1
                self.sums[(m, j)] += np.stack([np.bincount(b, minlength=size), np.bincount(b, weights=x, minlength=size),
                                               np.bincount(b, weights=yy, minlength=size)])
        return self

    def merge(self, other: "_BucketState") -> "_BucketState":
        out = _BucketState(self.edges, self.cols)
        out.sums = {k: self.sums[k] + other.sums[k] for k in self.sums}
        return out


class IsotonicMethod:
    """Isotonic regression of every model of a layout (``MethodFit``).

    Exact (PAV on every distinct score) while the distinct scores of a model's
    column fit its share of ``MAX_DISTINCT``; beyond it, PAV on buckets whose
    upper edges are the distinct scores of the row-keyed sample (about 200,000,
    equal-mass in expectation), with the exact rows, mean score and positives of
    each bucket from one more pass: the knots are then the buckets' mean scores.
    ``info()`` says which columns were approximated.
    """

    method = "isotonic"

    def __init__(self, layout, task: Task, classes: tuple[str, ...], kind, max_distinct: int | None = None):
        from calibcli.calibrators.histogram import calibrated_columns

        self.layout, self.task, self.classes, self.kind = layout, task, classes, kind
        self.cols = calibrated_columns(task, len(classes))
        total = MAX_DISTINCT if max_distinct is None else int(max_distinct)
        self.budget = max(MIN_TABLE, total // max(1, layout.n_models * len(self.cols)))
        self.knots: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.pending: dict[tuple[int, int], np.ndarray] = {}
        self.approximated: list[str] = []

    def first_state(self) -> _TablesState:
        return _TablesState(self.layout.n_models, self.cols, self.budget)

    def start(self, first: _TablesState, sample, exact: bool) -> None:
        p = sample.preds.probs
        for m, tables in enumerate(first.tables):
            for j, acc in enumerate(tables):
                acc.flush()
                t = acc.table.finalize()
                if t.exact:
                    self.knots[(m, j)] = isotonic_knots(t.values, t.rows.astype(np.float64), t.positives)
                    continue
                rows = np.zeros(p.shape[0], dtype=bool)
                for layer in sample.layers:
                    rows |= layer == m
                edges = np.unique(p[rows, self.cols[j]])
                self.pending[(m, j)] = edges
        if self.pending:
            self.approximated = [f"model {m}, column '{self.classes[self.cols[j]]}'" for m, j in self.pending]

    def pass_state(self) -> _BucketState | None:
        return _BucketState(self.pending, self.cols) if self.pending else None

    def absorb(self, state: _BucketState) -> None:
        for key, (rows, sx, pos) in state.sums.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                x = np.where(rows > 0, sx / np.maximum(rows, 1), 0.0)
            self.knots[key] = isotonic_knots(x, rows, pos)
        self.pending = {}

    def calibrator(self, model: int) -> "IsotonicCalibrator":
        xs, ys = [], []
        for j in range(len(self.cols)):
            kx, ky = self.knots[(model, j)]
            xs.append(tuple(map(float, kx)))
            ys.append(tuple(map(float, ky)))
        return IsotonicCalibrator(self.task, self.classes, self.kind, tuple(xs), tuple(ys))

    def info(self) -> dict:
        if not self.approximated:
            return {"isotonic_fit": "exact: PAV on every distinct score"}
        return {"isotonic_fit": (f"approximate for {', '.join(self.approximated[:6])}: more distinct scores than the "
                                 f"budget of {self.budget:,} per column, so PAV ran on buckets whose upper edges are the "
                                 "distinct scores of a row-keyed sample of about 200,000 rows, with the exact rows, mean "
                                 "score and positives of each bucket (knots at the buckets' mean scores)")}
