"""Which rows fit which calibrator, decided from row keys alone; per-batch views; the row-keyed sample.

A :class:`FitLayout` says, from a row's key (its global row index, or the hash of
its id), which models it fits: every row fits the single model (``calib fit``,
``--fit-on``); with ``--calibration-split F`` the rows drawn into the split fit
it and the others are evaluated; with K-fold cross-fitting, model ``f`` is
fitted on the rows outside fold ``f`` and scores fold ``f``. Folds, the split and
the sample come from :mod:`calibcli.stats.rng`, so they do not depend on batch
size, batch order or partitioning.

The sample: rows with ``uniform(seed, STREAM_FIT_SAMPLE, key) < rate``, kept in
memory (bounded): all fitting rows when they are few (the fits are then exact
and need no further pass), else about ``SAMPLE_ROWS`` of them for warm starts.
The rows with ``u < CI rate`` (a subset) carry the bootstrap interval of T.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calibcli.engine.batches import Batch
from calibcli.predictions import Predictions, Task
from calibcli.stats import rng

STREAM_FIT_SAMPLE = 6 << 32  # the row-keyed sample of fitting rows (warm starts, interval of T)
SAMPLE_ROWS = 200_000  # rows of the warm-start sample
FULL_ROWS = 2 * SAMPLE_ROWS  # up to this many fitting rows the sample holds them all: exact in-memory fits
SAMPLE_CELLS = 4_000_000  # at most this many scores per kept row set (rows x classes): the rows shrink for many classes
MIN_SAMPLE_ROWS = 2_000


def row_keys(batch: Batch) -> np.ndarray:
    """The keys of a batch's rows: the hash of the id column when there is one, else the global row index."""
    if batch.ids is not None:
        return rng.hash_ids(batch.ids)
    return rng.as_keys(batch.rows)


def sample_limits(n_classes: int) -> tuple[int, int]:
    """(sample rows, most fitting rows for an exact in-memory fit) for ``n_classes`` score columns.

    >>> sample_limits(10), sample_limits(1000)
    ((200000, 400000), (2000, 4000))
    """
    rows = int(min(SAMPLE_ROWS, max(MIN_SAMPLE_ROWS, SAMPLE_CELLS // max(1, 2 * n_classes))))
    return rows, 2 * rows


def sample_rate(n_fit: float, n_classes: int) -> float:
    """Probability that a fitting row is kept in the sample: 1 when an exact in-memory fit fits the budget.

    >>> sample_rate(30_000, 10), sample_rate(2_000_000, 10)
    (1.0, 0.1)
    """
    rows, full = sample_limits(n_classes)
    return 1.0 if n_fit <= full else rows / float(n_fit)


@dataclass(frozen=True)
class FitLayout:
    """Which models each row fits, and which model scores each evaluated row.

    ``scheme``: ``"all"`` (one model on every row), ``"split"`` (one model on the
    rows drawn into a seeded ``fraction``; the others are evaluated) or
    ``"cross-fit"`` (``folds`` models, model f fitted outside fold f).
    """

    scheme: str = "all"
    folds: int = 2
    fraction: float | None = None
    seed: int = 0

    @property
    def n_models(self) -> int:
        return self.folds if self.scheme == "cross-fit" else 1

    def fit_layers(self, keys: np.ndarray) -> list[np.ndarray]:
        """Arrays (n,) of the model each row fits, one array per model a row can fit (-1: none).

        >>> [x.tolist() for x in FitLayout().fit_layers(np.arange(3, dtype=np.uint64))]
        [[0, 0, 0]]
        """
        n = keys.shape[0]
        if self.scheme == "all":
            return [np.zeros(n, dtype=np.intp)]
        if self.scheme == "split":
            return [np.where(rng.in_split(self.seed, keys, self.fraction), 0, -1).astype(np.intp)]
        fold = rng.fold_of(self.seed, keys, self.folds).astype(np.intp, copy=False)
        return [_shift_fold(fold, 1 + j, self.folds) for j in range(self.folds - 1)]

    def scoring_model(self, keys: np.ndarray) -> np.ndarray:
        """The model that calibrates each row (-1: the row fitted the only model and is not evaluated)."""
        n = keys.shape[0]
        if self.scheme == "all":
            return np.zeros(n, dtype=np.intp)
        if self.scheme == "split":
            return np.where(rng.in_split(self.seed, keys, self.fraction), -1, 0).astype(np.intp)
        return rng.fold_of(self.seed, keys, self.folds).astype(np.intp, copy=False)


def _shift_fold(fold: np.ndarray, step: int, folds: int) -> np.ndarray:
    """``(fold + step) % folds`` for folds in ``0 .. folds-1``: a lookup in a table of ``folds`` entries
    (a gather is about ten times faster than numpy's integer modulo).

    >>> _shift_fold(np.array([0, 1, 2]), 2, 3).tolist()
    [2, 0, 1]
    """
    table = (np.arange(folds, dtype=np.intp) + step) % folds
    return np.take(table, fold)


@dataclass
class RowsView:
    """One batch seen by the fitting states: predictions, keys, the models each row fits, derived arrays.

    Derived arrays (log-scores, one-vs-rest log-odds, one-hot outcomes) are computed
    once per batch and shared by every state fed in the same pass.
    """

    preds: Predictions
    keys: np.ndarray
    layers: list[np.ndarray]
    cache: dict = field(default_factory=dict)

    @classmethod
    def of(cls, batch: Batch, layout: FitLayout) -> "RowsView":
        keys = row_keys(batch)
        return cls(batch.predictions, keys, layout.fit_layers(keys))

    @property
    def n(self) -> int:
        return self.preds.n_samples

    def member(self) -> np.ndarray:
        """Rows that fit at least one model."""
        if "member" not in self.cache:
            m = self.layers[0] >= 0
            for layer in self.layers[1:]:
                m = m | (layer >= 0)
            self.cache["member"] = m
        return self.cache["member"]

    def _get(self, name: str, make):
        if name not in self.cache:
            self.cache[name] = make(self.preds)
        return self.cache[name]

    def log_scores(self) -> np.ndarray:
        from calibcli.calibrators.base import log_scores

        return self._get("log_scores", log_scores)

    def exact_log_scores(self) -> np.ndarray:
        """``log_scores`` in the file's dtype when they are a softmax task's logits (float32 stays float32,
        not copied: for callers that widen each block to float64 exactly), else ``log_scores()``."""
        from calibcli.predictions import exact_logits

        z = exact_logits(self.preds)
        return self.log_scores() if z is None else z

    def ovr_log_odds(self) -> np.ndarray:
        from calibcli.calibrators.base import ovr_log_odds

        return self._get("ovr", ovr_log_odds)

    def one_hot(self) -> np.ndarray:
        from calibcli.calibrators.base import one_hot

        return self._get("one_hot", one_hot)


def concat_predictions(parts: list[Predictions], template: Predictions | None = None) -> Predictions | None:
    """The rows of several ``Predictions`` of one source, stacked (bounded: used for samples only)."""
    parts = [p for p in parts if p.n_samples] or parts[:1]
    if not parts:
        return template.subset(np.zeros(0, dtype=np.intp)) if template is not None else None
    first = parts[0]
    if len(parts) == 1:
        return first
    cat = lambda name: None if getattr(first, name) is None else np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return Predictions(cat("probs"), cat("labels"), first.classes, first.task, first.score_kind, cat("logits"),
                       cat("pred_labels"), first.score_kind_evidence)


class RowSample:
    """Rows kept with probability ``rate`` (row-keyed), with their keys: bounded, mergeable, order-free.

    ``finalize()`` sorts the rows by key, so the sample is the same whatever the
    batching and the merge order.
    """

    def __init__(self, seed: int, rate: float):
        self.seed, self.rate = int(seed), float(rate)
        self.parts: list[Predictions] = []
        self.keys: list[np.ndarray] = []

    def update(self, preds: Predictions, keys: np.ndarray, candidate: np.ndarray | None = None) -> "RowSample":
        """Keep the rows of a batch drawn into the sample (among ``candidate`` rows, default all)."""
        keep = np.ones(keys.shape[0], dtype=bool) if candidate is None else candidate.copy()
        if self.rate < 1.0:
            keep &= rng.uniform(self.seed, STREAM_FIT_SAMPLE, keys) < self.rate
        if keep.all():
            self.parts.append(preds)
            self.keys.append(keys)
        elif keep.any():
            idx = np.flatnonzero(keep)
            self.parts.append(preds.subset(idx))
            self.keys.append(keys[idx])
        return self

    def merge(self, other: "RowSample") -> "RowSample":
        """A new sample of the rows of both (the inputs are left unchanged)."""
        if (self.seed, self.rate) != (other.seed, other.rate):
            raise ValueError("cannot merge row samples of different seeds or rates")
        out = RowSample(self.seed, self.rate)
        out.parts, out.keys = self.parts + other.parts, self.keys + other.keys
        return out

    def finalize(self, template: Predictions | None = None) -> tuple[Predictions | None, np.ndarray]:
        """The kept rows sorted by key, and their keys."""
        keys = np.concatenate(self.keys) if self.keys else np.zeros(0, dtype=np.uint64)
        preds = concat_predictions(self.parts, template)
        if preds is None:
            return None, keys
        order = np.argsort(keys, kind="stable")
        if not np.array_equal(order, np.arange(order.size)):
            preds = preds.subset(order)
        return preds, keys[order]

    @property
    def n_rows(self) -> int:
        return int(sum(k.size for k in self.keys))


def uniform_of(seed: int, keys: np.ndarray) -> np.ndarray:
    """The sample's uniform of each key (rows with ``u < rate`` are kept)."""
    return rng.uniform(seed, STREAM_FIT_SAMPLE, keys)


def is_multilabel(preds: Predictions) -> bool:
    return preds.task is Task.MULTILABEL
