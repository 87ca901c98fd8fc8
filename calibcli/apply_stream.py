"""``calib apply`` in one streaming pass: record batches in, calibrated record batches out.

Every input file is read batch by batch with all its columns
(:meth:`calibcli.sources.files.InputFile.record_batches`); the score columns of
each batch are checked by the same per-batch checks as ``calib audit`` and ``fit``
(:class:`calibcli.validation.scan.FileScan`) and converted by the same function
(:func:`calibcli.validation.scan.convert`: clipping, ``--renormalize``); the
calibrator transforms the batch; the batch with its ``p_cal_<class>`` columns (or
its score columns replaced) goes to a Parquet or CSV writer. Memory is set by the
batch size, not by the input size.

- Output schema: the first batch's (its columns plus the calibrated ones). A
  later batch of another type (a second file whose column is float where the
  first file's is integer, or a CSV column widened after its first block) makes
  the output start again with the types promoted as stacking whole tables would
  (``promote_options="permissive"``), so the output types never depend on the batch size.
- Parquet output is written in row groups of ``ROW_GROUP_ROWS`` rows whatever the
  batch size (so the bytes do not depend on ``--batch-rows`` either), float columns
  without dictionary encoding (the values are those of any other writer); CSV bytes are
  those of writing the whole table at once; ``.csv.gz`` is gzip through pyarrow.
- Bad rows: checking continues to the end of the input (nothing more is written)
  so the message names the total count and the first rows of each file, whatever
  the batch size; the caller's :class:`~calibcli.outputs.OutputSet` then removes
  the staged output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.errors import InputError, UsageError
from calibcli.predictions import ScoreKind, Task

ROW_GROUP_ROWS = 1 << 17  # rows per Parquet row group of the output
MAX_RESTARTS = 64  # schema changes that restart the output (each widens one column)
_SHOWN = 5


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply_files`` wrote.

    Attributes
    ----------
    rows : rows written.
    batch_rows : rows per input record batch.
    passes : times the input was read (1, plus one per restart after a column type widened).
    partitions : input partitions (``--engine dask``: one output part each; 1 locally).
    bytes_to_client : bytes the client gathered from the workers (``--engine dask``).
    """

    rows: int
    batch_rows: int
    passes: int
    partitions: int = 1
    bytes_to_client: int = 0


class _Restart(Exception):
    """The output schema must change (a later batch held a wider type): write again from the start."""

    def __init__(self, schema):
        super().__init__("restart")
        self.schema = schema


def output_format(path: str) -> str:
    """'parquet', 'csv' or 'csv.gz' from the output name; ``UsageError`` for anything else."""
    lower = str(path).lower()
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith(".csv.gz"):
        return "csv.gz"
    if lower.endswith(".csv"):
        return "csv"
    raise UsageError(f"-o {path}: unknown output format; end the name with .parquet, .pq, .csv or .csv.gz.")


def folder_format(path: str) -> str:
    """'parquet' for an output folder of parts (``--engine dask``); ``UsageError`` for a CSV name.

    >>> folder_format("calibrated/"), folder_format("calibrated.parquet")
    ('parquet', 'parquet')
    """
    if str(path).lower().endswith((".csv", ".csv.gz")):
        raise UsageError(f"-o {path}: with --engine dask, calib apply writes a folder of Parquet parts (one per input "
                         "partition); give a folder name such as calibrated/ or calibrated.parquet.")
    return "parquet"


def score_columns(cf, names: list[str], source: str, score_cols: tuple[str, ...] | None) -> list[str]:
    """The score columns the calibrator reads, one per class in its order (``--score-cols`` or the fitted ones);
    a name the file holds twice is an error."""
    picked = _pick_score_columns(cf, names, source, score_cols)
    twice = sorted({c for c in picked if names.count(c) > 1})
    if twice:
        raise InputError(f"{source}: the column name{'s' if len(twice) > 1 else ''} {', '.join(repr(c) for c in twice)} "
                         f"appear{'' if len(twice) > 1 else 's'} more than once, so calib cannot tell which scores to calibrate. "
                         "Rename or drop the extra column.")
    return picked


def _pick_score_columns(cf, names: list[str], source: str, score_cols: tuple[str, ...] | None) -> list[str]:
    from calibcli.validation.columns import CALIBRATED_PREFIX, match_columns

    cal = cf.calibrator
    if score_cols:
        picked = match_columns(names, score_cols, source)
        expected = (1, 2) if cal.task is Task.BINARY else (len(cal.classes),)
        if len(picked) not in expected:
            raise InputError(f"{source}: --score-cols picks {len(picked)} columns but the calibrator has {len(cal.classes)} "
                             f"classes ({', '.join(cal.classes[:8])}); pick one column per class, in the calibrator's class order.")
        return picked
    wanted = list(cf.columns)
    if not wanted:
        raise InputError(f"{source}: the calibrator file does not record its score columns; name them with --score-cols "
                         f"(one per class, in the order {', '.join(cal.classes[:8])}).")
    missing = [c for c in wanted if c not in names]
    if missing:
        have = [n for n in names if n.startswith(("p_", "prob_", "proba_", "logit_")) and not n.startswith(CALIBRATED_PREFIX)]
        raise InputError(
            f"{source}: the calibrator was fitted on columns {', '.join(wanted[:10])}{' ...' if len(wanted) > 10 else ''}; "
            f"this file lacks {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}"
            f"{'; its score columns are ' + ', '.join(have[:10]) if have else ''}. "
            "Rename the columns, or map them with --score-cols (one per class, in the calibrator's class order)."
        )
    return wanted


@dataclass(frozen=True)
class _Columns:
    """Where the calibrated probabilities go: (output name, position to replace or None to append, class index)."""

    placed: tuple[tuple[str, int | None, int], ...]

    @classmethod
    def plan(cls, cal, names: list[str], cols: list[str], replace: bool, src: str) -> "_Columns":
        from calibcli.validation.columns import CALIBRATED_PREFIX, strip_prefix

        class_idx = [1] if (cal.task is Task.BINARY and len(cols) == 1) else list(range(len(cols)))
        if replace:
            placed = []
            for j, c in enumerate(cols):
                base, kind = strip_prefix(c)
                new_name = f"p_{base}" if kind is ScoreKind.LOGITS else c
                if new_name != c and new_name in names:
                    raise InputError(f"{src}: --replace would rename '{c}' to '{new_name}', which already exists. "
                                     "Drop --replace to add p_cal_ columns instead.")
                placed.append((new_name, names.index(c), class_idx[j]))
            return cls(tuple(placed))
        new = [f"{CALIBRATED_PREFIX}{cal.classes[k]}" for k in class_idx]
        clash = [c for c in new if c in names]
        if clash:
            raise InputError(f"{src}: already has column{'s' if len(clash) > 1 else ''} {', '.join(clash[:5])} (from an earlier "
                             "calib apply?). Drop them first, or pass --replace to overwrite the score columns instead.")
        return cls(tuple((name, None, k) for name, k in zip(new, class_idx)))

    def build(self, rb, probs: np.ndarray):
        """The output record batch: ``rb`` with the calibrated columns (schema metadata kept)."""
        import pyarrow as pa

        arrays = list(rb.columns)
        schema = rb.schema
        for name, pos, k in self.placed:
            arr = pa.array(np.ascontiguousarray(probs[:, k]))
            if pos is None:
                arrays.append(arr)
                schema = schema.append(pa.field(name, pa.float64()))
            else:
                arrays[pos] = arr
                schema = schema.set(pos, pa.field(name, pa.float64()))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


class _Writer:
    """Parquet (row groups of ``ROW_GROUP_ROWS``), CSV or gzip CSV into one staged file."""

    def __init__(self, path: str, fmt: str, schema):
        import pyarrow as pa

        self.schema = schema
        self.fmt = fmt
        self.rows = 0
        self._pending: list = []
        self._pending_rows = 0
        self._sink = pa.OSFile(path, "wb")
        self._stream = pa.CompressedOutputStream(self._sink, "gzip") if fmt == "csv.gz" else self._sink
        if fmt == "parquet":
            import pyarrow.parquet as pq

            # dictionary pages only for non-float columns: floats are nearly all distinct, and trying a
            # dictionary for them makes writing about 15 times slower for nothing
            dictionary = [f.name for f in schema if not pa.types.is_floating(f.type)]
            self._writer = pq.ParquetWriter(self._stream, schema, use_dictionary=dictionary)
        else:
            import pyarrow.csv as pcsv

            self._writer = pcsv.CSVWriter(self._stream, schema)

    def write(self, batch) -> None:
        self.rows += batch.num_rows
        if self.fmt != "parquet":
            self._writer.write_batch(batch)
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        import pyarrow as pa

        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        full = (table.num_rows // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
        upto = table.num_rows if final else full
        if upto:
            self._writer.write_table(table.slice(0, upto), row_group_size=ROW_GROUP_ROWS)
        rest = table.slice(upto)
        self._pending = rest.to_batches() if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self, ok: bool = True) -> None:
        """Finish the file (``ok``) or just release it (the staged file is removed by the OutputSet)."""
        try:
            if ok and self.fmt == "parquet":
                self._flush(final=True)
            if ok or self.fmt == "parquet":
                self._writer.close()
        finally:
            self._pending = []
            if not self._stream.closed:
                self._stream.close()
            if not self._sink.closed:
                self._sink.close()


def _conform(batch, schema):
    """``batch`` in ``schema``: equal, or cast where its types promote into the schema's; else ``_Restart``."""
    import pyarrow as pa

    if batch.schema.equals(schema, check_metadata=False):
        return batch if batch.schema.metadata == schema.metadata else pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    try:
        unified = pa.unify_schemas([schema, batch.schema], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _Incompatible(str(exc)) from None
    if not unified.equals(schema, check_metadata=False):
        raise _Restart(unified.with_metadata(schema.metadata))
    try:
        return pa.RecordBatch.from_arrays([c.cast(t) for c, t in zip(batch.columns, schema.types)], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise _Incompatible(str(exc)) from None


class _Incompatible(Exception):
    pass


def _rows_text(count: int, rows) -> str:
    shown = ", ".join(str(int(r) + 1) for r in rows[:_SHOWN])
    return f"{count} row{'s' if count != 1 else ''} (row {shown}{' and more' if count > _SHOWN else ''})"


def _where(logs, key: str, names: tuple[str, ...], src: str) -> tuple[str, str] | None:
    """(file prefix, rows) of a problem key: one file named with its rows, several listed per file."""
    from calibcli.validation.problems import places_of

    per = places_of(logs, key)
    if not per:
        return None
    if len(per) == 1:
        f, count, rows = per[0]
        return names[f], _rows_text(count, rows)
    return src, "; ".join(f"{names[f]}: {_rows_text(count, rows)}" for f, count, rows in per)


def _check(scans, ctx, names: tuple[str, ...], src: str, cols: list[str], forced, prefix) -> None:
    """The first problem in the order of the checks (non-numeric, missing, score kind, range, row sums) as ``InputError``."""
    from calibcli.validation.scores import ROW_SUM_TOL, decide_score_kind

    logs = [s.log for s in scans]
    for j, c in enumerate(cols):
        w = _where(logs, f"nonnum:{j}", names, src)
        if w:
            raise InputError(f"{w[0]}, column '{c}': non-numeric scores in {w[1]}. Write plain numbers.")
    for j, c in enumerate(cols):
        w = _where(logs, f"nonfinite:{j}", names, src)
        if w:
            raise InputError(f"{w[0]}, column '{c}': missing, NaN or infinite scores in {w[1]}. "
                             "calib apply keeps every row, so fix the export (or filter those rows) first.")
    total = scans[0]
    for s in scans[1:]:
        total = total.merge(s)
    kind = ctx.kinds[0]
    if total.ev_rows:
        dev = total.ev_dev if ctx.row_sums else None
        kind, _ = decide_score_kind(total.ev_min, total.ev_max, dev, ctx.spec.task, prefix, forced, src, tuple(cols),
                                    ctx.options.renormalize)
    if kind is ScoreKind.PROBS:
        for j, c in enumerate(cols):
            w = _where(logs, f"range:{j}", names, src)
            if w:
                raise InputError(f"{w[0]}, column '{c}': probabilities outside [0, 1] in {w[1]}. "
                                 "If these are logits pass --score-kind logits.")
        w = _where(logs, "rowsum", names, src)
        if w:
            raise InputError(f"{w[0]}: probability rows not summing to 1 (tolerance {ROW_SUM_TOL:g}) in {w[1]}. "
                             "Pass --renormalize to divide each row by its sum.")


def apply_files(cf, inputs: list[str], output: str, staged: str, score_cols: tuple[str, ...] | None = None,
                score_kind: ScoreKind | None = None, renormalize: bool = False, replace: bool = False,
                encoding: str = "utf-8", batch_rows: int | None = None, engine=None,
                partition_rows: int | None = None) -> ApplyResult:
    """Write the rows of ``inputs`` with the calibrator's probabilities to ``staged``, batch by batch.

    With ``engine`` (an ``EngineOptions``) naming Dask, ``staged`` is a folder
    (``OutputSet.staged_dir``): the workers write one Parquet part per input
    partition into it (see :mod:`calibcli.engine.apply_parts`).

    Parameters
    ----------
    cf : CalibratorFile
        The loaded calibrator file.
    inputs : expanded input paths in order (``-`` reads stdin, copied to a temporary file).
    output : the output name as given (its extension decides the format).
    staged : the path to write (``OutputSet.staged_path``); left incomplete on error.
    score_cols, score_kind, renormalize, replace, encoding : as ``calib apply``'s options.
    batch_rows : rows per record batch (default ``DEFAULT_BATCH_ROWS``).
    engine : ``EngineOptions`` (None: local).
    partition_rows : with Dask, a Parquet partition takes whole row groups until it holds this many rows.

    Returns
    -------
    ApplyResult

    Raises
    ------
    InputError
        Columns the calibrator does not find, or rows it cannot take (naming file, column and first rows).
    """
    from calibcli.engine.batches import DEFAULT_BATCH_ROWS
    from calibcli.sources.files import InputFile
    from calibcli.sources.paths import STDIN, STDIN_DISPLAY, Spill
    from calibcli.sources.sniffing import normalize_encoding

    dask = engine is not None and engine.engine == "dask"
    fmt = folder_format(output) if dask else output_format(output)
    batch_rows = int(batch_rows or DEFAULT_BATCH_ROWS)
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    encoding = normalize_encoding(encoding or "utf-8")
    if dask and STDIN in inputs:
        raise UsageError("-: standard input cannot be read by Dask workers. Write it to a file first, or run with --engine local.")
    spills, files = [], []
    try:
        for p in inputs:
            if dask:
                from calibcli.engine.partitions import open_file

                files.append(open_file(p, encoding, p, tuple(engine.storage_options)))
            elif p == STDIN:
                spills.append(Spill.of_stdin())
                files.append(InputFile(spills[-1].path, encoding, STDIN_DISPLAY))
            else:
                files.append(InputFile(p, encoding))
        return _apply(cf, files, fmt, staged, score_cols, score_kind, renormalize, replace, batch_rows,
                      (engine, encoding, partition_rows) if dask else None)
    finally:
        for f in files:
            f.close()
        for s in spills:
            s.close()


def _apply(cf, files, fmt, staged, score_cols, score_kind, renormalize, replace, batch_rows, dask=None) -> ApplyResult:
    from calibcli.validation.columns import ColumnSpec, prefix_kind
    from calibcli.validation.options import LoadOptions

    cal = cf.calibrator
    names = tuple(f.display for f in files)
    src = names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} more)"
    columns = files[0].column_names()
    for f in files[1:]:
        other = f.column_names()
        if other != columns:
            raise InputError(f"{f.display}: its columns differ from {names[0]} ({', '.join(other[:8])} vs "
                             f"{', '.join(columns[:8])}); calib apply stacks files with the same columns. Apply them one at a time.")
    cols = score_columns(cf, columns, src, score_cols)
    placed = _Columns.plan(cal, columns, cols, replace, src)
    prefix = prefix_kind(cols)
    forced = score_kind if score_kind is not None else (cal.input_kind if prefix is None else None)
    spec = ColumnSpec(cal.task, tuple(cols), tuple(cal.classes), prefix, label_col=None)
    options = LoadOptions(label_col=None, score_kind=forced, renormalize=renormalize)
    if dask is not None:  # one part per input partition, written on the workers
        from calibcli.engine.apply_parts import apply_dask

        engine, encoding, partition_rows = dask
        rows, passes, parts, gathered = apply_dask(cf, files, names, src, cols, spec, options, placed, forced, prefix, staged,
                                                   batch_rows, encoding, engine, partition_rows)
        return ApplyResult(rows, batch_rows, passes, parts, gathered)
    schema = None
    for passes in range(1, MAX_RESTARTS + 1):
        try:
            rows = _one_pass(cal, files, names, src, cols, spec, options, placed, fmt, staged, batch_rows, schema, forced, prefix)
            return ApplyResult(rows, batch_rows, passes)
        except _Restart as restart:
            schema = restart.schema
        except _Incompatible as exc:
            raise InputError(f"cannot stack {', '.join(names)}: {exc}. Apply them one at a time.") from None
    raise InputError(f"{src}: the column types kept changing while reading; apply the files one at a time.")  # pragma: no cover


def reading_state(cal, spec, options, n_score_cols: int):
    """``(decoder, ctx, kind, decisions)`` for reading one apply run's rows (a pass, or one partition).

    The conversion decisions are fixed by the calibrator (its classes and task), never by evidence.
    """
    from calibcli.validation.labels import KeyTable
    from calibcli.validation.scan import Context, Decisions, Decoder
    from calibcli.validation.scores import row_sums_checked

    keys = KeyTable()
    decoder = Decoder(spec, None, keys)
    ctx = Context(spec, options, keys)
    kind = ctx.kinds[0]
    decisions = Decisions(tuple(cal.classes), cal.task, kind, (), None, False, row_sums_checked(cal.task, n_score_cols),
                          options.renormalize, 0, {}, (), ())
    return decoder, ctx, kind, decisions


def calibrated_batch(cal, placed, decisions, rb, raw):
    """The output table of one checked batch: its columns as placed, the scores replaced by calibrated ones."""
    from calibcli.validation.scan import convert

    converted = convert(raw, decisions, 0)
    return placed.build(rb, cal.transform(converted[0]).probs)


def _one_pass(cal, files, names, src, cols, spec, options, placed, fmt, staged, batch_rows, schema, forced, prefix) -> int:
    """Read every file once, writing while no row is bad; returns the rows written."""
    from calibcli.sources.files import TypesWidened
    from calibcli.validation.scan import FileScan

    decoder, ctx, kind, decisions = reading_state(cal, spec, options, len(cols))
    scans = []
    writer = None
    failed = False
    done = False
    try:
        for i, f in enumerate(files):
            while True:  # again from the start of the file when a CSV column type was widened
                scan = FileScan(i, len(cols))
                start = 0
                try:
                    for rb in f.record_batches(None, batch_rows):
                        raw = decoder.decode(rb, i, start, f.display)
                        start += raw.n
                        scan.update(raw, ctx)
                        if failed or scan.bad_rows.get(kind, 0):
                            failed = True  # check the rest, write nothing more
                            continue
                        out = calibrated_batch(cal, placed, decisions, rb, raw)
                        if writer is None:
                            writer = _Writer(staged, fmt, schema if schema is not None else out.schema)
                        writer.write(_conform(out, writer.schema))
                except TypesWidened:
                    if failed or (writer is None and i == 0):
                        continue  # nothing written yet from other types: read this file again
                    raise _Restart(schema) from None
                break
            scans.append(scan)
        _check(scans, ctx, names, src, cols, forced, prefix)
        if failed:  # pragma: no cover - _check names every problem that sets it
            raise InputError(f"{src}: invalid scores; calib apply keeps every row, so fix the export first.")
        if writer is None:  # pragma: no cover - files without rows are refused by the reader
            raise InputError(f"{src}: no rows to apply the calibrator to.")
        writer.close(ok=True)
        done = True
        return writer.rows
    finally:
        if writer is not None and not done:
            writer.close(ok=False)


__all__ = ["ApplyResult", "ROW_GROUP_ROWS", "apply_files", "folder_format", "output_format", "score_columns"]
