"""``open_source``: prediction files as a multi-pass ``BatchSource`` in bounded memory.

Opening a source is pass 1: every record batch of every file is decoded and
checked (problems with their first rows, score-kind evidence, label values, what
clipping and renormalising change); then classes, task and score kind are
decided exactly as a whole-file check decides them, and bad input raises the same
``InputError`` it always did. Each call of ``batches()`` is one more pass: raw
batch -> validated ``Predictions`` plus global row keys.

Memory is set by ``batch_rows`` and ``memory_limit``, not by the input size:

- While the decoded batches (compact: float32 scores stay float32, labels are
  int32 codes) fit ``memory_limit`` bytes, pass 1 keeps them and later passes are
  served from memory; beyond it they are dropped at once and every later pass
  reads the files again. The default, 448 MiB (``DEFAULT_MEMORY_LIMIT``), keeps
  an input of up to about 1.07e7 rows x 10 float32 logits (44 bytes a row); larger inputs stream.
  With the rest of a run (about 550 MB with numba and two threads) an audit stays under 1 GiB
  of RSS at any input size.
- Standard input is copied to a temporary file while opening (bounded memory), so
  later passes can read it again; the copy is deleted by ``close()`` (or as soon
  as the batches are cached), and at the latest when the process exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from calibcli.engine.batches import DEFAULT_BATCH_ROWS, Batch, SourceInfo
from calibcli.errors import InputError
from calibcli import kernels
from calibcli.engine.prefetch import prefetch
from calibcli.validation.options import DEFAULT_MEMORY_LIMIT, LoadOptions

if TYPE_CHECKING:
    from calibcli.engine.dask import DaskSource


@dataclass(frozen=True)
class EngineStats:
    """How the input was read (the JSON report's ``engine`` object).

    ``passes`` counts pass 1 (opening) and every ``batches()`` call; ``rows_read``
    counts rows decoded from the files over all passes; ``cached``: later passes
    were served from memory instead of reading the files again.
    """

    name: str
    batch_rows: int
    passes: int
    rows_read: int
    cached: bool
    memory_limit: int
    kernels: str = "numpy"  # "numba": the passes ran the compiled kernels (calibcli.kernels)
    first_pass_in_scan: bool = False  # the caller's first pass was fed during pass 1 (calibcli.engine.speculation)

    def to_dict(self) -> dict:
        return {"name": self.name, "batch_rows": self.batch_rows, "passes": self.passes,
                "rows_read": self.rows_read, "cached": self.cached, "reread": not self.cached and self.passes > 1,
                "kernels": self.kernels, "first_pass_in_scan": self.first_pass_in_scan}


def check_file_columns(i: int, f, names: list[str], spec, options: LoadOptions, first) -> None:
    """The checks of one input file's columns against the spec resolved from the first file (``InputError``)."""
    from calibcli.validation.columns import check_duplicates

    if i > 0:
        check_duplicates(names, options.label_col, options.score_cols, f.display)
    if options.id_col and names.count(options.id_col) > 1:
        raise InputError(f"{f.display}: the column name '{options.id_col}' (given by --id-col) appears "
                         f"{names.count(options.id_col)} times in the header. Rename or remove the repeated column.")
    missing = [c for c in spec.needed if c not in names]
    if missing:
        raise InputError(
            f"{f.display}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing[:6])}, which "
            f"{first.display} has. Pooled files need the same columns; audit it separately or use --per-file."
        )
    if options.id_col and options.id_col not in names:
        raise InputError(f"{f.display}: no column '{options.id_col}' (given by --id-col). Columns: {', '.join(names[:12])}.")
    if options.extra_cols:
        from calibcli.validation.extra_columns import check_extra_columns

        check_extra_columns(names, options.extra_cols, f.display)


class StreamingSource:
    """Validated batches of prediction files, any number of passes (see the module docstring).

    Use :func:`open_source` to make one; close it (or use it as a context manager)
    to delete temporary files.
    """

    def __init__(self, files, names: tuple[str, ...], spec, options: LoadOptions, batch_rows: int,
                 memory_limit: int, spills=()):
        self._files = files
        self._names = names
        self.spec = spec
        self.options = options
        self.batch_rows = int(batch_rows)
        self.memory_limit = int(memory_limit)
        self._spills = list(spills)
        self._cache: list | None = []
        self._cache_bytes = 0
        self._passes = 0
        self._rows_read = 0
        self.rows_per_file: tuple[int, ...] = ()
        self._offsets: list[int] = []
        self.info: SourceInfo | None = None
        self._decisions = None
        self._decoder = None
        self.compiled_kernels: bool | None = None  # the kernels of the passes (calibcli.kernels.scope)
        self._plan = None  # the caller's first pass, fed during the scan (calibcli.engine.speculation)
        self._speculation = None
        self._first_pass_in_scan = False

    @property
    def threads(self) -> int:
        """Threads of each pass (``--threads``; see :mod:`calibcli.engine.local`)."""
        return self.options.engine.threads

    # ------------------------------------------------------------------ open
    def _open(self, inputs: tuple[str, ...], notes: tuple[str, ...], first_pass=None) -> None:
        from calibcli.validation.columns import check_roles, resolve_columns
        from calibcli.validation.labels import KeyTable
        from calibcli.validation.decide import decide
        from calibcli.validation.scan import Context, Decoder, FileScan

        options = self.options
        first = self._files[0]
        first_names = first.column_names()
        spec = resolve_columns(first_names, first.display, options.label_col, options.score_cols, options.classes, options.task)
        check_roles(spec, first.display, options.id_col)
        self.spec = spec
        keys = KeyTable()
        decoder = Decoder(spec, options.id_col, keys, options.extra_cols)
        ctx = Context(spec, options, keys)
        if self._cache is not None and self._estimated_bytes(spec, first_names) > self.memory_limit:
            self._cache = None  # will not fit: do not fill memory only to drop it
        if kernels.mode() == "auto" and self._likely_compiled():
            kernels.preload()  # import numba while the first batches are checked (with numpy: the same bits)
        self._plan = first_pass
        self._inputs, self._notes, self._ctx = tuple(inputs), (*notes, *spec.notes), ctx
        scans = []
        offset = 0
        try:
            for i, f in enumerate(self._files):
                names = first_names if i == 0 else f.column_names()
                check_file_columns(i, f, names, spec, options, first)
                self._offsets.append(offset)
                scans.append(self._scan_file(i, f, decoder, ctx, FileScan))
                offset += scans[-1].rows
            self.rows_per_file = tuple(s.rows for s in scans)
            self.compiled_kernels = self._kernel_choice(self.rows_per_file[0])
            self._decoder = decoder
            self._passes = 1
            d = decide(scans, ctx, self._names, self._notes)
            self._decisions = d
            self.info = self._info_of(d)
        except BaseException:
            self._drop_speculation()
            raise
        if self._speculation is not None:
            if not self._speculation.settle(d, self.info, self.compiled_kernels):
                self._speculation = None
        if self._cache is not None:
            self._drop_temporary_files()

    def _info_of(self, d) -> SourceInfo:
        return SourceInfo(self._inputs, d.classes, d.task, d.kind, d.n_rows, d.evidence, self.spec, dict(d.dropped),
                          d.warnings, d.adjustments, self.options.id_col is not None)

    def _large_batches(self, first_rows: int) -> bool:
        """Whether the batches of a first file of ``first_rows`` rows hold at least ``kernels.MIN_ENTRIES`` scores."""
        return min(self.batch_rows, first_rows) * max(1, len(self.spec.score_cols)) >= kernels.MIN_ENTRIES

    def _likely_compiled(self) -> bool:
        """Whether the passes will likely choose the compiled kernels (:meth:`_kernel_choice` from the first file's
        stored or estimated rows), without importing numba."""
        return self._large_batches(self._files[0].estimated_rows())

    def _kernel_choice(self, first_rows: int, wait: bool = True) -> bool | None:
        """The compiled kernels' choice for the passes (``compiled_kernels``) from the batches of the first file
        (``first_rows`` rows, counted by the scan): batches of at least ``kernels.MIN_ENTRIES`` scores (see
        :func:`calibcli.kernels.scope`); None outside ``auto`` mode. ``wait=False``: numba installed stands for
        numba imported (:func:`calibcli.kernels.installed`; for a choice checked again later)."""
        if kernels.mode() != "auto":
            return None
        return self._large_batches(first_rows) and (kernels.available() if wait else kernels.installed())

    # ------------------------------------------------- the first pass in the scan
    def _speculate(self, scan, raw) -> None:
        """After the first batch of the first file: decide as if it were the whole input, capture the caller's
        first pass and start feeding it (see :mod:`calibcli.engine.speculation`); nothing when undecided."""
        from calibcli.engine.local import pass_threads
        from calibcli.engine.speculation import Probe, ProbeInfo, Speculation, capture
        from calibcli.predictions import Task
        from calibcli.validation.decide import decide

        plan, self._plan = self._plan, None  # one attempt
        try:
            d = decide([scan], self._ctx, self._names, self._notes)
        except Exception:  # noqa: BLE001 - e.g. one label so far: the scan decides; no speculation
            return
        info = ProbeInfo(self._info_of(d), self._stored_rows)
        probe = Probe(self, info)
        # the kernels the scan will choose from the first file's rows: a full first batch says it; a shorter one
        # (a small file, or a reader's block, e.g. CSV) is completed by the file's stored or estimated rows
        # (a wrong estimate only drops the speculation: settle() compares the final choice)
        first_rows = raw.n if raw.n >= self.batch_rows else max(raw.n, self._files[0].estimated_rows())
        compiled = self._kernel_choice(first_rows, wait=False)
        consumers = capture(plan, probe)
        if not consumers:
            return
        lut_of = None
        if d.lut is not None and self._ctx.validity == "fixed" and d.task in (Task.BINARY, Task.MULTICLASS):
            from calibcli.validation.labels import class_table

            keys, classes = self._ctx.keys, d.classes
            lut_of = lambda: class_table(keys.keys, classes, derived=False)  # noqa: E731 - what decide does
        self._speculation = Speculation(consumers, d, info, pass_threads(self, consumers), compiled, lut_of)
        if getattr(plan, "only_pass", False):
            self._cache = None  # the caller reads nothing after this pass: keeping batches would only cost memory

    def _stored_rows(self) -> int | None:
        """The rows the files store (every file a format that stores its row count), else None."""
        if any(f.format not in ("parquet", "npz", "feather_v1") for f in self._files):
            return None
        return sum(f.estimated_rows() for f in self._files)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation.drop()
            self._speculation = None

    def take_first_pass(self, consumers) -> int | None:
        """The first pass of ``consumers`` fed during the scan (merged into them; the rows fed), or None: run it.
        Only the first pass after opening is asked (see :mod:`calibcli.engine.speculation`)."""
        spec, self._speculation = self._speculation, None
        rows = None if spec is None else spec.take(consumers)
        self._first_pass_in_scan = self._first_pass_in_scan or rows is not None
        return rows

    def _estimated_bytes(self, spec, names) -> int:
        """What the cache of every file would take (rows exact for Parquet, else estimated)."""
        from calibcli.validation.scan import ID_BYTES

        per_row = 8 * len(spec.score_cols) + 4 + (4 if spec.pred_label_col else 0) + len(spec.label_cols)
        if self.options.id_col:
            per_row += ID_BYTES
        f = self._files[0]
        if f.format == "parquet":  # float32 score columns are cached as float32
            import pyarrow.parquet as pq

            from calibcli.validation.scores import is_float32

            schema = pq.ParquetFile(f._local_path()).schema_arrow
            if all(is_float32(schema.field(c).type) for c in spec.score_cols):
                per_row -= 4 * len(spec.score_cols)
        return per_row * sum(g.estimated_rows() for g in self._files)

    def _scan_file(self, i, f, decoder, ctx, FileScan):
        """Pass 1 over one file (again from the start when a text column had to be widened)."""
        from calibcli.sources.files import TypesWidened

        while True:
            scan = FileScan(i, len(self.spec.score_cols), len(self.spec.label_cols))
            kept: list = []
            kept_bytes = 0
            start = 0
            try:
                # read and decode in a background thread (the label table grows only there; ctx.known() here
                # reads the codes of batches already decoded), check here
                for raw in prefetch(self._decoded(f, i, decoder)):
                    start += raw.n
                    self._rows_read += raw.n
                    scan.update(raw, ctx)
                    if self._plan is not None:
                        self._speculate(scan, raw)
                    if self._speculation is not None:
                        self._speculation.feed(raw, self._offsets[i])
                    if self._cache is not None:
                        kept.append(raw.compact())
                        kept_bytes += raw.nbytes
                        if self._cache_bytes + kept_bytes > self.memory_limit:
                            self._cache, kept = None, []  # does not fit: every later pass reads the files
            except TypesWidened:
                self._plan = None
                self._drop_speculation()  # its batches were read as the narrower types
                continue
            if self._cache is not None:
                self._cache.extend(kept)
                self._cache_bytes += kept_bytes
            return scan

    def _decoded(self, f, i: int, decoder) -> Iterator:
        """The raw batches of file ``i``, decoded in order."""
        start = 0
        for rb in f.record_batches(decoder.columns, self.batch_rows, decoder.numeric):
            raw = decoder.decode(rb, i, start, f.display)
            start += raw.n
            yield raw

    # ---------------------------------------------------------------- passes
    def batches(self) -> Iterator[Batch]:
        """One pass: validated batches of at most ``batch_rows`` rows, in input order (batches
        left without rows by --drop-invalid are skipped)."""
        from calibcli.validation.scan import convert

        if self._decisions is None:
            raise RuntimeError("the source is closed or was never opened")
        self._passes += 1
        d = self._decisions
        if self._cache is not None:
            for raw in self._cache:
                out = convert(raw, d, self._offsets[raw.file])
                if out is not None:
                    yield Batch(*out)
            return
        for i, f in enumerate(self._files):
            start = 0
            try:
                for rb in prefetch(f.record_batches(self._decoder.columns, self.batch_rows, self._decoder.numeric)):
                    raw = self._decoder.decode(rb, i, start, f.display)
                    start += raw.n
                    self._rows_read += raw.n
                    if d.lut is not None and raw.labels.size and int(raw.labels.max()) >= d.lut.size:
                        raise self._changed(f)
                    out = convert(raw, d, self._offsets[i])
                    if out is not None:
                        yield Batch(*out)
            except Exception as exc:
                from calibcli.sources.files import TypesWidened

                if isinstance(exc, TypesWidened):
                    raise self._changed(f) from None
                raise
            if start != self.rows_per_file[i]:
                raise self._changed(f)

    def _changed(self, f) -> InputError:
        return InputError(f"{f.display}: the file changed while calib was reading it (a later pass found other rows "
                          "than the first). Audit a file that is not being written.")

    def engine_stats(self) -> EngineStats:
        """Passes so far, rows read from the files, whether later passes come from memory, the batch size."""
        return EngineStats("local", self.batch_rows, self._passes, self._rows_read, self._cache is not None,
                           self.memory_limit, kernels.name(self.compiled_kernels), self._first_pass_in_scan)

    # --------------------------------------------------------------- closing
    def _drop_temporary_files(self) -> None:
        for f in self._files:
            f.close()
        for s in self._spills:
            s.close()
        self._spills = []

    def close(self) -> None:
        """Delete temporary files (the stdin copy, decompressed copies) and drop cached batches."""
        self._drop_temporary_files()
        self._drop_speculation()
        self._cache = None
        self._decisions = None

    def __enter__(self) -> "StreamingSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(inputs, options: LoadOptions = LoadOptions(), batch_rows: int | None = None,
                memory_limit: int | None = None, first_pass=None) -> "StreamingSource | DaskSource":
    """Open prediction files as a validated, multi-pass batch source (pass 1 runs here).

    Parameters
    ----------
    inputs : file names or globs; ``-`` reads stdin.
    options : column and interpretation settings.
    batch_rows : rows per batch (default ``options.batch_rows``, else ``DEFAULT_BATCH_ROWS``).
    memory_limit : bytes of decoded batches kept between passes (default
        ``options.memory_limit``, else ``DEFAULT_MEMORY_LIMIT``, 448 MiB).
    first_pass : optional; the caller's code up to its first pass, called with the source as its first
        batch describes it: that pass is fed during pass 1 and handed over by the caller's first
        ``feed`` when the scan decides the same (:mod:`calibcli.engine.speculation`). Local engine only.

    Returns
    -------
    StreamingSource (or, with ``options.engine.engine == 'dask'``, a :class:`~calibcli.engine.dask.DaskSource`)
        ``info`` (classes, task, score kind, rows kept, warnings, adjustments),
        ``batches()`` (one pass per call), ``engine_stats()`` and ``close()``.

    Raises
    ------
    InputError
        With every problem found, each naming file, column, rows and fix.
    """
    from calibcli.engine.cluster_options import check_engine_options

    check_engine_options(options.engine)
    if options.engine.engine == "dask":  # the passes run on a Dask cluster
        from calibcli.engine.dask import open_dask_source

        return open_dask_source(inputs, options, batch_rows, memory_limit)
    from calibcli.sources.files import InputFile
    from calibcli.sources.paths import STDIN, STDIN_DISPLAY, Spill, expand_inputs
    from calibcli.sources.sniffing import normalize_encoding

    batch_rows = int(batch_rows or options.batch_rows or DEFAULT_BATCH_ROWS)
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    memory_limit = DEFAULT_MEMORY_LIMIT if memory_limit is None and options.memory_limit is None else (
        memory_limit if memory_limit is not None else options.memory_limit)
    paths = expand_inputs(inputs if isinstance(inputs, list) else list(inputs),  # keeps the notes of InputPaths
                          options.engine.storage_options)
    encoding = normalize_encoding(options.encoding)
    spills = []
    files = []
    try:
        for p in paths:
            if p == STDIN:
                spill = Spill.of_stdin()
                spills.append(spill)
                files.append(InputFile(spill.path, encoding, STDIN_DISPLAY))
            else:
                files.append(InputFile(p, encoding))
        names = tuple(f.display for f in files)
        source = StreamingSource(files, names, None, options, batch_rows, memory_limit, spills)
        notes = tuple(paths.notes)
        source._open(tuple(paths), notes, first_pass)
    except BaseException:
        for f in files:
            f.close()
        for s in spills:
            s.close()
        raise
    return source
