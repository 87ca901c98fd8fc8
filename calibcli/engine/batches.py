"""What every engine carries: validated batches of rows keyed by their global row index.

A ``Batch`` is a slice of the input: validated ``Predictions`` for some rows plus
the *global row keys* of those rows (0-based position over all input files in
input order, counted before any row is dropped), so row-keyed randomness
(:mod:`calibcli.stats.rng`) gives every row the same fold, split and bootstrap
weight whatever the batch size, order or partitioning.

A ``BatchSource`` can be iterated several times (one iteration is one *pass*);
``info`` says what every batch shares (classes, task, score kind, files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Protocol

import numpy as np

from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.validation.options import DEFAULT_BATCH_ROWS

if TYPE_CHECKING:
    from calibcli.loading import LoadedInput
    from calibcli.validation.columns import ColumnSpec
    from calibcli.validation.options import Adjustment

__all__ = ["DEFAULT_BATCH_ROWS", "Batch", "BatchSource", "InMemorySource", "SourceInfo"]


@dataclass(frozen=True)
class Batch:
    """Validated rows and their global row keys.

    Attributes
    ----------
    predictions : Predictions
        This batch's rows only.
    rows : ndarray of int64, shape (n,)
        Global row keys (0-based index over all inputs, before dropped rows).
    ids : ndarray or None
        The ``--id-col`` values as text, when one is given.
    extra : dict of str to pyarrow.Array, or None
        The ``LoadOptions.extra_cols`` columns of these rows as read (Arrow type kept:
        text, numbers, timestamps with their zone), when some are asked for (``--by``).
    """

    predictions: Predictions
    rows: np.ndarray
    ids: np.ndarray | None = None
    extra: "dict[str, object] | None" = None

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])


@dataclass(frozen=True)
class SourceInfo:
    """What all batches of a source share, and what was done to the rows."""

    files: tuple[str, ...]
    classes: tuple[str, ...]
    task: Task
    score_kind: ScoreKind
    n_rows: int
    score_kind_evidence: tuple[str, ...] = ()
    columns: "ColumnSpec | None" = None
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    adjustments: "tuple[Adjustment, ...]" = ()
    has_ids: bool = False


class BatchSource(Protocol):
    """Where batches come from; ``batches()`` may be called once per pass."""

    info: SourceInfo

    def batches(self) -> Iterator[Batch]: ...


class InMemorySource:
    """Batches of ``batch_rows`` rows sliced from predictions already in memory.

    Examples
    --------
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1]),
    ...                 ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> src = InMemorySource.from_predictions(p, batch_rows=2)
    >>> [b.rows.tolist() for b in src.batches()]
    [[0, 1], [2]]
    """

    def __init__(self, predictions: Predictions, info: SourceInfo, batch_rows: int = DEFAULT_BATCH_ROWS,
                 rows: np.ndarray | None = None, ids: np.ndarray | None = None):
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
        self.predictions = predictions
        self.info = info
        self.batch_rows = int(batch_rows)
        n = predictions.n_samples
        self.rows = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        self.ids = ids

    @classmethod
    def from_predictions(cls, predictions: Predictions, batch_rows: int = DEFAULT_BATCH_ROWS,
                         files: tuple[str, ...] = ()) -> "InMemorySource":
        """A source over ``predictions`` with row keys 0..n-1."""
        info = SourceInfo(files, predictions.classes, predictions.task, predictions.score_kind,
                          predictions.n_samples, predictions.score_kind_evidence)
        return cls(predictions, info, batch_rows)

    @classmethod
    def from_loaded(cls, loaded: "LoadedInput", batch_rows: int = DEFAULT_BATCH_ROWS,
                    rows: np.ndarray | None = None) -> "InMemorySource":
        """A source over validated input already in memory (``rows``: its global row keys, default 0..n-1)."""
        p = loaded.predictions
        info = SourceInfo(loaded.files, p.classes, p.task, p.score_kind, p.n_samples, p.score_kind_evidence,
                          loaded.columns, dict(loaded.dropped), tuple(loaded.warnings), tuple(loaded.adjustments),
                          loaded.ids is not None)
        return cls(p, info, batch_rows, rows=rows, ids=loaded.ids)

    def batches(self) -> Iterator[Batch]:
        n = self.predictions.n_samples
        for start in range(0, n, self.batch_rows):
            sl = slice(start, min(n, start + self.batch_rows))
            yield Batch(self.predictions.subset(sl), self.rows[sl], None if self.ids is None else self.ids[sl])
