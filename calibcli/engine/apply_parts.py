"""``calib apply`` on a cluster: one Parquet part per input partition, written by the worker that reads it.

:func:`apply_partition` (engine-neutral, runs on a worker) reads one partition
with all its columns, checks the scores with the same per-batch checks as the
local ``calib apply`` (:class:`~calibcli.validation.scan.FileScan`), converts and
calibrates each batch and writes ``part-NNNNN.parquet`` into the staged folder.
It returns only the partition's check state, its row count and its output schema.

:func:`apply_dask` (client) plans the partitions, runs one task per partition,
raises the first problem in the order the local command names it, and rewrites
the parts whose schema differs from the schema all parts promote to (as stacking
the tables would), so every part has the same types.
"""

from __future__ import annotations

import os
import pickle
import uuid
from dataclasses import dataclass

from calibcli.engine.partitions import Partition, open_file, plan_partitions
from calibcli.errors import CalibError, InputError


@dataclass(frozen=True)
class ApplyJob:
    """Everything a partition needs to apply the calibrator (picklable)."""

    calibrator: object
    spec: object
    options: object
    placed: object
    batch_rows: int
    encoding: str
    storage_options: tuple = ()

    def __repr__(self) -> str:  # never show storage option values
        return f"ApplyJob(batch_rows={self.batch_rows})"


@dataclass
class PartApplied:
    """What one partition's task returns: the check state, rows written, output schema, or the error."""

    index: int
    file: int
    scan: object
    rows: int
    schema: object
    failed: bool
    error: CalibError | None = None


def part_name(index: int) -> str:
    """The file name of a partition's output part.

    >>> part_name(3)
    'part-00003.parquet'
    """
    return f"part-{index:05d}.parquet"


def apply_partition(part: Partition, job: ApplyJob, folder: str, schema=None) -> PartApplied:
    """Apply the calibrator to one partition, writing ``folder/part-NNNNN.parquet`` (in ``schema`` when given)."""
    from calibcli.apply_stream import _Incompatible, _Restart, _Writer, _conform, calibrated_batch, reading_state
    from calibcli.sources.files import TypesWidened
    from calibcli.validation.scan import FileScan

    cal, spec = job.calibrator, job.spec
    decoder, ctx, kind, decisions = reading_state(cal, spec, job.options, len(spec.score_cols))
    f = open_file(part.path, job.encoding, part.display, job.storage_options, part.row_groups, part.start)
    path = os.path.join(folder, part_name(part.index))
    try:
        for _ in range(64):  # again from the start after a CSV type was widened or the schema promoted
            scan = FileScan(part.file, len(spec.score_cols))
            writer = None
            failed = False
            start = part.start
            try:
                for rb in f.record_batches(None, job.batch_rows):
                    raw = decoder.decode(rb, part.file, start, part.display)
                    start += raw.n
                    scan.update(raw, ctx)
                    if failed or scan.bad_rows.get(kind, 0):
                        failed = True  # check the rest, write nothing more
                        continue
                    out = calibrated_batch(cal, job.placed, decisions, rb, raw)
                    if writer is None:
                        writer = _Writer(path, "parquet", schema if schema is not None else out.schema)
                    writer.write(_conform(out, writer.schema))
            except TypesWidened:
                if writer is not None:
                    writer.close(ok=False)
                continue
            except _Restart as restart:
                writer.close(ok=False)
                schema = restart.schema
                continue
            except BaseException:
                if writer is not None:
                    writer.close(ok=False)
                raise
            if writer is None:
                return PartApplied(part.index, part.file, scan, 0, None, True)
            writer.close(ok=not failed)
            return PartApplied(part.index, part.file, scan, writer.rows, writer.schema, failed)
        raise InputError(f"{part.display}: the column types kept changing while reading; apply the files one at a time.")
    except _Incompatible as exc:
        return PartApplied(part.index, part.file, None, 0, None, True,
                           InputError(f"cannot stack the parts of {part.display}: {exc}. Apply the files one at a time."))
    except CalibError as exc:
        return PartApplied(part.index, part.file, None, 0, None, True, exc)
    finally:
        f.close()


def apply_dask(cf, files, names: tuple[str, ...], src: str, cols, spec, options, placed, forced, prefix, folder: str,
               batch_rows: int, encoding: str, engine, partition_rows: int | None = None):
    """Run :func:`apply_partition` for every partition of ``files`` on the cluster of ``engine``; returns
    (rows written, passes, partitions, bytes gathered by the client)."""
    import pyarrow as pa
    from dask import delayed

    from calibcli.apply_stream import _check
    from calibcli.engine.dask import get_client
    from calibcli.engine.partitions import PARTITION_ROWS
    from calibcli.validation.labels import KeyTable
    from calibcli.validation.scan import Context

    parts = plan_partitions(files, partition_rows or PARTITION_ROWS)
    client = get_client(engine)
    job = ApplyJob(cf.calibrator, spec, options, placed, batch_rows, encoding, tuple(engine.storage_options))
    gathered = 0

    def run(todo, schema=None):
        nonlocal gathered
        tag = f"calib-apply-{uuid.uuid4().hex[:10]}"
        job_d = delayed(job, name=f"{tag}-job", traverse=False)
        tasks = [delayed(apply_partition, pure=False)(p, job_d, folder, schema, dask_key_name=f"{tag}-part-{p.index}") for p in todo]
        results = client.compute(tasks, sync=True)
        gathered += len(pickle.dumps(results))
        return results

    results = run(parts)
    errors = [r for r in results if r.error is not None]
    if errors:
        raise min(errors, key=lambda r: r.index).error
    per_file: dict[int, object] = {}
    for r in results:  # in partition order: the places of the checks keep the earliest rows
        if r.file in per_file:
            merged = per_file[r.file].merge(r.scan)
            merged.file = r.file
            per_file[r.file] = merged
        else:
            per_file[r.file] = r.scan
    ctx = Context(spec, options, KeyTable())
    _check([per_file[i] for i in range(len(files))], ctx, names, src, list(cols), forced, prefix)
    if any(r.failed for r in results):  # pragma: no cover - _check names every problem that sets it
        raise InputError(f"{src}: invalid scores; calib apply keeps every row, so fix the export first.")
    schemas = [r.schema for r in results]
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive").with_metadata(schemas[0].metadata)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"cannot stack {', '.join(names)}: {exc}. Apply them one at a time.") from None
    passes = 1
    redo = [p for p, s in zip(parts, schemas) if not s.equals(unified, check_metadata=False)]
    if redo:
        passes = 2
        again = run(redo, unified)
        bad = [r for r in again if r.error is not None]
        if bad:
            raise min(bad, key=lambda r: r.index).error
    return sum(r.rows for r in results), passes, len(parts), gathered


__all__ = ["ApplyJob", "PartApplied", "apply_dask", "apply_partition", "part_name"]
