"""Partitions of the input and what one partition does in a pass, for any engine that runs them elsewhere.

Everything here is engine-neutral: plain functions of picklable arguments that a
Dask task (:mod:`calibcli.engine.dask`) or, later, a Spark ``mapInArrow`` call can run.

- :func:`plan_partitions` (client): the files, split into :class:`Partition` s:
  Parquet files into runs of whole row groups (row counts from the footer),
  every other format one partition per file.
- :func:`scan_partition` (pass 1, on a worker): the validation state of one
  partition (:class:`PartScan`: per-file ``FileScan`` s, the label keys seen, the
  rows); :func:`merge_scans` combines two in partition order (label codes are
  renumbered into one key table), so a tree of merges gives what one sequential
  scan gives.
- :func:`partition_batches` (later passes): validated ``Batch`` es of one partition
  with global row keys, converted by the decisions of pass 1.
- :func:`feed_partition` / :func:`merge_results`: one pass of unfed consumers
  over a partition, and the merge of two such results.

Errors the user can fix (``CalibError``) are returned as values, not raised, so
the engine raises the error of the earliest partition, as a sequential read would.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from calibcli.engine.batches import Batch
from calibcli.engine.local import merge_into
from calibcli.errors import CalibError, InputError

PARTITION_ROWS = 1 << 20  # a Parquet partition takes whole row groups until it holds at least this many rows


@dataclass(frozen=True)
class Partition:
    """A contiguous run of rows of one input file.

    Attributes
    ----------
    index : position in the partition order (input order).
    file : position of the file in the input order.
    path : where to read (absolute for local files).
    display : the file name as messages show it.
    row_groups : Parquet row groups (None: the whole file).
    start : index of the first row within the file.
    rows : rows of the partition (None until pass 1 counted them).
    offset : global row key of the file's first row (set after pass 1).
    """

    index: int
    file: int
    path: str
    display: str
    row_groups: tuple[int, ...] | None = None
    start: int = 0
    rows: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class ReadSetup:
    """What every partition task needs to read and check rows (picklable; storage options are never printed)."""

    spec: object  # ColumnSpec
    options: object  # LoadOptions
    batch_rows: int
    encoding: str
    storage_options: tuple[tuple[str, str], ...] = ()
    types: dict = field(default_factory=dict)  # file -> widened CSV column types (after pass 1)
    probes: dict = field(default_factory=dict)  # file -> Probe: the client's sniffing, not redone by every partition

    def __repr__(self) -> str:  # never show storage option values
        return f"ReadSetup(batch_rows={self.batch_rows}, storage_options={len(self.storage_options)} keys)"


def _is_url(path: str) -> bool:
    return "://" in path


def open_file(path: str, encoding: str, display: str, storage_options=(), row_groups=None, row_base: int = 0):
    """An :class:`~calibcli.sources.files.InputFile` reading only ``row_groups`` (Parquet) when given.

    URLs (a :class:`~calibcli.sources.remote.RemoteURL`, or a URL string opened with
    ``storage_options``) are read on the worker through fsspec: Parquet row groups by
    ranged reads of the footer and of those row groups only.
    """
    from calibcli.sources.files import InputFile

    class _PartFile(InputFile):
        def _parquet(self, columns, batch_rows, numeric):
            if row_groups is None:
                yield from super()._parquet(columns, batch_rows, numeric)
                return
            import pyarrow.parquet as pq

            opener = getattr(self, "_parquet_file", None)
            pf = opener() if opener is not None else pq.ParquetFile(self._local_path(), pre_buffer=False)
            yield from pf.iter_batches(batch_size=batch_rows, columns=columns, row_groups=list(row_groups))

        def _decode_binary(self, batch, row0, bad):  # rows numbered within the whole file
            return super()._decode_binary(batch, row0 + row_base, bad)

    return _PartFile(path, encoding, display, storage_options=tuple(storage_options))


def plan_partitions(files, partition_rows: int = PARTITION_ROWS) -> list[Partition]:
    """Split opened input files into partitions (Parquet by row groups, others whole).

    Parameters
    ----------
    files : ``InputFile`` s in input order.
    partition_rows : a Parquet partition takes consecutive row groups until it holds at least this many rows.
    """
    out: list[Partition] = []
    for i, f in enumerate(files):
        path = f.path if _is_url(f.path) else os.path.abspath(f.path)
        groups = None
        if f.format == "parquet" and not f.probe.compression:
            import pyarrow.parquet as pq

            opener = getattr(f, "_parquet_file", None)
            meta = (opener() if opener is not None else pq.ParquetFile(f._local_path())).metadata
            groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        if not groups or sum(groups) == 0:
            out.append(Partition(len(out), i, path, f.display))
            continue
        run: list[int] = []
        run_rows = start = 0
        for g, n in enumerate(groups):
            if n == 0:
                continue
            run.append(g)
            run_rows += n
            if run_rows >= partition_rows:
                out.append(Partition(len(out), i, path, f.display, tuple(run), start, run_rows))
                start += run_rows
                run, run_rows = [], 0
        if run:
            out.append(Partition(len(out), i, path, f.display, tuple(run), start, run_rows))
    return out


def _open(part: Partition, setup: ReadSetup):
    f = open_file(part.path, setup.encoding, part.display, setup.storage_options, part.row_groups, part.start)
    probe = setup.probes.get(part.file)
    if probe is not None:  # no sniffing GET per partition and pass (a URL's first bytes were read by the client)
        f.__dict__["probe"] = probe
    if part.file in setup.types:
        f._types = dict(setup.types[part.file])
    return f


# ----------------------------------------------------------------------------------- pass 1
@dataclass
class PartScan:
    """Pass-1 state of consecutive partitions: per-file scans, label keys in first-seen order, rows.

    ``error``: the first error a user can fix, from the earliest partition that had one.
    """

    keys: list
    files: dict  # file -> FileScan
    rows: dict  # partition index -> rows
    types: dict  # file -> widened CSV types
    error: tuple | None = None  # (partition index, CalibError)


@dataclass
class Kept:
    """The compact decoded batches of one partition, kept on the worker between passes (None: not kept)."""

    raws: list | None
    nbytes: int = 0
    keys: tuple = ()  # the partition's own label key table (the codes of the kept batches)


def scan_and_keep(part: Partition, setup: ReadSetup, keep_bytes: int) -> tuple:
    """Pass 1 over one partition, keeping its decoded batches while they take at most ``keep_bytes``.

    Returns ``(PartScan, Kept)``; later passes feed the kept batches instead of reading the partition.
    """
    kept = Kept([] if keep_bytes > 0 else None)
    scan = scan_partition(part, setup, kept, keep_bytes)
    if scan.error is not None or kept.raws is None:
        kept = Kept(None)
    else:
        kept.keys = tuple(scan.keys)
    return scan, kept


def scan_result(leaf: tuple) -> "PartScan":
    """The ``PartScan`` of a :func:`scan_and_keep` result (what the tree of merges combines)."""
    return leaf[0]


def kept_bytes(leaf: tuple) -> int:
    """Bytes of the batches a :func:`scan_and_keep` result keeps (-1: none kept)."""
    return -1 if leaf[1].raws is None else int(leaf[1].nbytes)


def scan_partition(part: Partition, setup: ReadSetup, kept: Kept | None = None, keep_bytes: int = 0) -> PartScan:
    """Pass 1 over one partition: every check of :class:`~calibcli.validation.scan.FileScan`.

    ``kept`` (optional) collects the compact decoded batches while they take at most ``keep_bytes``.
    """
    from calibcli.sources.files import TypesWidened
    from calibcli.validation.labels import KeyTable
    from calibcli.validation.scan import Context, Decoder, FileScan

    spec = setup.spec
    keys = KeyTable()
    decoder = Decoder(spec, setup.options.id_col, keys, setup.options.extra_cols)
    ctx = Context(spec, setup.options, keys)
    f = _open(part, setup)
    try:
        while True:
            scan = FileScan(part.file, len(spec.score_cols), len(spec.label_cols))
            start = part.start
            if kept is not None and kept.raws is not None:
                kept.raws, kept.nbytes = [], 0
            try:
                for rb in f.record_batches(decoder.columns, setup.batch_rows, decoder.numeric):
                    raw = decoder.decode(rb, part.file, start, part.display)
                    start += raw.n
                    scan.update(raw, ctx)
                    if kept is not None and kept.raws is not None:
                        kept.raws.append(raw.compact())
                        kept.nbytes += raw.nbytes
                        if kept.nbytes > keep_bytes:
                            kept.raws, kept.nbytes = None, 0  # over budget: later passes read the partition
            except TypesWidened:
                continue
            break
        return PartScan(list(keys.keys), {part.file: scan}, {part.index: scan.rows}, {part.file: dict(f._types)})
    except CalibError as exc:
        return PartScan([], {}, {part.index: 0}, {}, (part.index, exc))
    finally:
        f.close()


def _remap_scan(scan, codes: np.ndarray, n_keys: int):
    """``scan`` with its label codes renumbered (``codes[old] = new``) into a table of ``n_keys`` keys."""
    def table(a: np.ndarray) -> np.ndarray:
        out = np.zeros(max(n_keys, 0), dtype=a.dtype)
        if a.size:
            np.add.at(out, codes[: a.size], a)
        return out

    scan.code_total = table(scan.code_total)
    scan.clean = {k: table(v) for k, v in scan.clean.items()}
    scan.bad_codes = {int(codes[c]) for c in scan.bad_codes}
    log = scan.log
    for key in [k for k in log.counts if k.startswith("key:")]:
        new = f"key:{int(codes[int(key[4:])])}"
        log.counts[new] = log.counts.pop(key)
        log.places[new] = log.places.pop(key)
    return scan


def merge_scans(a: PartScan, b: PartScan) -> PartScan:
    """The pass-1 state of ``a``'s partitions followed by ``b``'s (a new object)."""
    if a.error is not None or b.error is not None:
        first = min((e for e in (a.error, b.error) if e is not None), key=lambda e: e[0])
        return PartScan([], {}, {**a.rows, **b.rows}, {}, first)
    keys = list(a.keys)
    index = {k: i for i, k in enumerate(keys)}
    for k in b.keys:
        if k not in index:
            index[k] = len(keys)
            keys.append(k)
    codes = np.array([index[k] for k in b.keys], dtype=np.int64)
    files = {f: _remap_scan(s, np.arange(len(a.keys), dtype=np.int64), len(keys)) for f, s in a.files.items()}
    for f, s in b.files.items():
        s = _remap_scan(s, codes, len(keys))
        if f in files:
            merged = files[f].merge(s)
            merged.file = f
            files[f] = merged
        else:
            files[f] = s
    return PartScan(keys, files, {**a.rows, **b.rows}, {**a.types, **b.types})


# ----------------------------------------------------------------------------- later passes
@dataclass(frozen=True)
class PassSetup:
    """What a later pass needs besides the partition: how to read, the label keys, the decisions of pass 1."""

    read: ReadSetup
    keys: tuple
    decisions: object  # Decisions


def _changed(display: str) -> InputError:
    return InputError(f"{display}: the file changed while calib was reading it (a later pass found other rows "
                      "than the first). Audit a file that is not being written.")


def kept_batches(part: Partition, setup: PassSetup, kept: Kept) -> Iterator[Batch]:
    """Validated batches of one partition from the decoded batches pass 1 kept (no reading).

    Label codes of the kept batches are the partition's own (first seen order); they are
    renumbered into the merged key table of pass 1, as reading the partition again would.
    """
    from calibcli.validation.scan import convert

    d = setup.decisions
    index = {k: i for i, k in enumerate(setup.keys)}
    codes = np.array([index[k] for k in kept.keys], dtype=np.int32)

    def recode(a):
        if a is None or a.ndim != 1 or not a.size:
            return a
        return np.where(a >= 0, codes[np.clip(a, 0, max(codes.size - 1, 0))], a).astype(a.dtype, copy=False)

    for raw in kept.raws:
        if codes.size:
            raw = replace(raw, labels=recode(raw.labels), pred=recode(raw.pred))
        out = convert(raw, d, part.offset)
        if out is not None:
            yield Batch(*out)


def partition_batches(part: Partition, setup: PassSetup) -> Iterator[Batch]:
    """Validated batches of one partition with global row keys (``part.offset`` + row within the file)."""
    from calibcli.sources.files import TypesWidened
    from calibcli.validation.labels import KeyTable
    from calibcli.validation.scan import Decoder, convert

    read = setup.read
    keys = KeyTable()
    for k in setup.keys:
        keys.code(k)
    decoder = Decoder(read.spec, read.options.id_col, keys, read.options.extra_cols)
    d = setup.decisions
    f = _open(part, read)
    start = part.start
    try:
        for rb in f.record_batches(decoder.columns, read.batch_rows, decoder.numeric):
            raw = decoder.decode(rb, part.file, start, part.display)
            start += raw.n
            if d.lut is not None and raw.labels is not None and raw.labels.size and int(raw.labels.max()) >= d.lut.size:
                raise _changed(part.display)
            out = convert(raw, d, part.offset)
            if out is not None:
                yield Batch(*out)
    except TypesWidened:
        raise _changed(part.display) from None
    finally:
        f.close()
    if part.rows is not None and start - part.start != part.rows:
        raise _changed(part.display)


@dataclass
class PartResult:
    """Consumers fed with some partitions' rows, the rows fed and decoded, and the earliest error."""

    consumers: list
    rows: int = 0
    rows_read: int = 0
    error: tuple | None = None  # (partition index, CalibError)


def feed_partition(part: Partition, setup: PassSetup, consumers_blob: bytes, kept: tuple | None = None) -> PartResult:
    """One pass over one partition: fresh replicas of the consumers (unpickled), each batch to every one.

    ``kept``: what :func:`scan_and_keep` returned for this partition; when it kept the
    decoded batches they are fed instead of reading the partition again.
    """
    consumers = pickle.loads(consumers_blob)
    raws = None if kept is None else kept[1].raws
    batches = partition_batches(part, setup) if raws is None else kept_batches(part, setup, kept[1])
    read = part.rows or 0 if raws is None else 0
    rows = 0
    try:
        for batch in batches:
            for c in consumers:
                c.update(batch)
            rows += batch.n_rows
    except CalibError as exc:
        return PartResult(consumers, rows, read, (part.index, exc))
    return PartResult(consumers, rows, read)


def merge_results(a: PartResult, b: PartResult) -> PartResult:
    """``a`` with ``b``'s rows merged in (consumer by consumer; ``merge`` may work in place or return a new state)."""
    errors = [e for e in (a.error, b.error) if e is not None]
    if errors:
        return PartResult(a.consumers, a.rows + b.rows, a.rows_read + b.rows_read, min(errors, key=lambda e: e[0]))
    merged = [merge_into(x, y) for x, y in zip(a.consumers, b.consumers)]
    return PartResult(merged, a.rows + b.rows, a.rows_read + b.rows_read)


def with_counts(parts: list[Partition], scan: PartScan) -> list[Partition]:
    """The partitions with their rows (from pass 1) and the global row key of their file's first row."""
    per_file: dict[int, int] = {}
    for p in parts:
        per_file[p.file] = per_file.get(p.file, 0) + scan.rows[p.index]
    offsets, total = {}, 0
    for f in sorted(per_file):
        offsets[f] = total
        total += per_file[f]
    return [replace(p, rows=scan.rows[p.index], offset=offsets[p.file]) for p in parts]
