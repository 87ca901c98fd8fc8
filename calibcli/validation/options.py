"""How to read the input (``LoadOptions``) and what was done to its rows (``Adjustment``)."""

from __future__ import annotations

from dataclasses import dataclass

from calibcli.predictions import ScoreKind, Task

DEFAULT_BATCH_ROWS = 65_536  # rows per record batch (--batch-rows); see calibcli.engine.batches
DEFAULT_MEMORY_LIMIT = 448 * 2**20  # bytes of decoded batches kept between passes (--memory-limit)


@dataclass(frozen=True)
class EngineOptions:
    """Where the passes run and how remote inputs are opened (``--engine``, ``--scheduler``,
    ``--workers``, ``--storage-option``, ``--threads``).

    ``storage_options`` are (key, value) pairs handed to fsspec / pyarrow filesystems for
    URLs (s3://, gs://, az://, https://); values may be credentials and are never printed.
    """

    engine: str = "local"  # 'local' | 'dask'
    scheduler: str | None = None  # address of a running dask.distributed scheduler
    workers: int | None = None  # start a LocalCluster with this many workers for the run
    storage_options: tuple[tuple[str, str], ...] = ()
    threads: int = 2  # threads of each local pass (calibcli.engine.local.DEFAULT_THREADS; --threads)

    @property
    def storage_dict(self) -> dict[str, str]:
        """The storage options as a dict (for fsspec / pyarrow)."""
        return dict(self.storage_options)


@dataclass(frozen=True)
class LoadOptions:
    """How to interpret the input columns (mirrors the CLI's input options).

    ``batch_rows`` and ``memory_limit`` (bytes; None for the default) say how the
    input is streamed: rows per record batch, and how much of the decoded input
    may be kept in memory between passes instead of reading the files again.
    """

    label_col: str = "label"
    score_cols: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    task: Task | None = None
    score_kind: ScoreKind | None = None
    renormalize: bool = False
    drop_invalid: bool = False
    id_col: str | None = None  # optional row-id column, kept as ``LoadedInput.ids`` (gate baselines)
    encoding: str = "utf-8"  # text encoding of CSV / JSON Lines input (--encoding)
    batch_rows: int = DEFAULT_BATCH_ROWS
    memory_limit: int | None = None
    engine: EngineOptions = EngineOptions()
    extra_cols: tuple[str, ...] = ()  # more columns read with each batch as Arrow arrays (``Batch.extra``; --by)


@dataclass(frozen=True)
class Adjustment:
    """One change calib made to the input rows before auditing them (shown in every report).

    Attributes
    ----------
    kind : ``'renormalized'`` (--renormalize divided rows by their sum), ``'dropped'``
        (--drop-invalid removed rows; one entry, its detail names each problem) or ``'clipped'``
        (probabilities within tolerance outside [0, 1] moved onto the range).
    rows : number of rows affected.
    largest_change : the largest absolute change of one probability (renormalized,
        clipped); None where it does not apply (dropped rows).
    detail : what was done and why, in words (e.g. the problem that made rows invalid
        and the column).
    """

    kind: str  # 'renormalized' | 'dropped' | 'clipped'
    rows: int
    largest_change: float | None
    detail: str
