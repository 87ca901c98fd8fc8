"""The Dask engine: every pass runs on a ``dask.distributed`` cluster; only partial states travel.

A pass over a :class:`DaskSource` (what :func:`calibcli.engine.local.feed` and
``run_pass`` do when given one) is:

1. the client pickles the pass's unfed consumers once;
2. one task per partition (:func:`calibcli.engine.partitions.feed_partition`)
   unpickles a fresh replica, reads the partition on the worker and feeds it
   every validated batch;
3. an explicit tree of merge tasks, ``FAN_IN`` (8) replicas at a time, combines
   the replicas on the cluster (never ``DataFrame.reduction``);
4. the root is pickled on the cluster and gathered: the client unpickles it and
   merges it into its own consumers.

Pass 1 (validation: problems, evidence, label keys, classes) runs the same way
(:func:`~calibcli.engine.partitions.scan_and_keep`, persisted: each task also keeps
its partition's compact decoded batches on its worker while they fit the
partition's share of ``--memory-limit``; later passes feed those instead of reading)
with :func:`~calibcli.engine.partitions.scan_partition` and
:func:`~calibcli.engine.partitions.merge_scans`; the decisions are then made on
the client by the same code as the local engine, so the messages are the same.
The bytes gathered by the client are counted per pass (``bytes_to_client``).

Clusters: ``--scheduler ADDRESS`` connects to a running scheduler;
``--workers N`` (or neither) starts a ``LocalCluster`` of worker processes on
127.0.0.1 for the run. One client per address (or worker count) is kept for the
life of the process, so the sources of one command share it.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import uuid
from dataclasses import dataclass, replace

import numpy as np

from calibcli.engine.batches import DEFAULT_BATCH_ROWS, SourceInfo
from calibcli.engine.local import FAN_IN, merge_into
from calibcli.engine.partitions import (
    PARTITION_ROWS,
    PassSetup,
    ReadSetup,
    feed_partition,
    merge_results,
    kept_bytes,
    merge_scans,
    open_file,
    plan_partitions,
    scan_and_keep,
    scan_result,
    with_counts,
)
from calibcli.engine.cluster_options import INSTALL_HINT, check_engine_options, check_scheduler_address, require_dask
from calibcli.errors import UsageError
from calibcli.validation.options import DEFAULT_MEMORY_LIMIT, EngineOptions, LoadOptions

_CLIENTS: dict = {}
CONNECT_TIMEOUT = 10.0  # seconds to reach --scheduler and hear it answer (the error message states it)


def get_client(engine: EngineOptions):
    """The client for ``--scheduler`` / ``--workers`` (made once per process; closed at exit).

    Raises
    ------
    UsageError
        Dask missing; ``--scheduler`` not an address, or no scheduler answering there within
        ``CONNECT_TIMEOUT`` seconds (nothing is left to print at exit).
    """
    require_dask()
    key = (engine.scheduler, engine.workers)
    have = _CLIENTS.get(key)
    if have is not None and have[0].status == "running":
        return have[0]
    from distributed import Client, LocalCluster

    cluster = None
    if engine.scheduler is not None:
        check_scheduler_address(engine.scheduler)
        _probe_scheduler(engine.scheduler, CONNECT_TIMEOUT)
        client = _connect(engine.scheduler, CONNECT_TIMEOUT)
    else:
        n = engine.workers or max(1, min(os.cpu_count() or 1, 8))
        # the scheduler always opens an HTTP port (health routes): a free one on loopback, and no dashboard,
        # so neither "Port 8787 is already in use" nor a dashboard reaches the user
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                               silence_logs=logging.ERROR)
        client = Client(cluster, set_as_default=False)
    if not _CLIENTS:
        atexit.register(close_clients)
    _CLIENTS[key] = (client, cluster)
    return client


def _unreachable(address: str, why: str) -> UsageError:
    return UsageError(f"--scheduler {address}: cannot connect to a Dask scheduler ({why}). Check the address "
                      f"(e.g. tcp://10.0.0.5:8786; the dashboard's http:// address is not the scheduler) and that the "
                      f"scheduler runs.")


def _probe_scheduler(address: str, timeout: float) -> None:
    """``UsageError`` unless a Dask scheduler at ``address`` answers an identity request within ``timeout`` s.

    Runs before any ``Client`` is made: a ``Client`` pointed at a port that accepts the connection
    but does not speak Dask's protocol (a web server, the dashboard) waits forever.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def identity():
        from distributed.core import rpc

        r = rpc(address, timeout=timeout)
        try:
            return await r.identity()
        finally:
            await r.close_rpc()

    def ask():  # its own event loop, in a thread: the caller's thread may be running one (a notebook)
        return asyncio.run(asyncio.wait_for(identity(), timeout))

    with ThreadPoolExecutor(1) as pool:
        try:
            info = pool.submit(ask).result()
        except (TimeoutError, asyncio.TimeoutError):
            raise _unreachable(address, f"no answer within {timeout:g} s") from None
        except Exception as exc:  # OSError, CommClosedError, ValueError from distributed's address parsing
            raise _unreachable(address, f"{type(exc).__name__}: {str(exc)[:200]}") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise UsageError(f"--scheduler {address}: the process there is a Dask {kind or 'server'}, not the scheduler. "
                         f"Give the scheduler's address (what Client.scheduler.address prints; port 8786 by default).")


def _connect(address: str, timeout: float):
    """A ``Client`` of the scheduler at ``address``; a half-made one is closed here, so ``__del__`` prints nothing."""
    from distributed import Client

    try:
        return Client(address, timeout=f"{timeout:g}s", set_as_default=False)
    except Exception as exc:
        half = _client_in(exc.__traceback__)
        why = f"{type(exc).__name__}: {str(exc)[:200]}"
        del exc
        if half is not None:
            _close_quietly(half)
        raise _unreachable(address, why) from None


def _client_in(tb):
    """The ``Client`` whose constructor raised (found in the traceback's frames), or None."""
    from distributed import Client

    while tb is not None:
        obj = tb.tb_frame.f_locals.get("self")
        if isinstance(obj, Client):
            return obj
        tb = tb.tb_next
    return None


def _close_quietly(client) -> None:
    """Close a client that failed to start; afterwards its ``__del__`` has nothing left to do."""
    try:
        client.close(timeout=2)
    except Exception:
        pass
    finally:
        client.status = "closed"  # __del__ closes again (with a 2 x timeout wait) unless it reads closed
        try:
            client._loop_runner.stop()
        except Exception:
            pass


def close_clients() -> None:
    """Close every client (and local cluster) this process made."""
    while _CLIENTS:
        _, (client, cluster) = _CLIENTS.popitem()
        try:
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


def _merge_many(merge, *states):
    acc = states[0]
    for s in states[1:]:
        acc = merge(acc, s)
    return acc


def _dumps(obj) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(obj)


def largest_array(obj, _seen=None) -> int:
    """Entries of the largest numpy array reachable from ``obj`` (what a gathered state holds at most).

    >>> largest_array({"a": [np.zeros(3), (np.ones(7),)]})
    7
    """
    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        best = int(obj.size)
        if obj.dtype == object:
            best = max([best] + [largest_array(v, seen) for v in obj.ravel().tolist()])
        return best
    if isinstance(obj, (str, bytes, int, float, bool, type(None), np.generic)):
        return 0
    if isinstance(obj, dict):
        items = list(obj.keys()) + list(obj.values())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
    else:
        items = list(getattr(obj, "__dict__", {}).values())
        for cls in type(obj).__mro__:
            for s in getattr(cls, "__slots__", ()):
                if hasattr(obj, s):
                    items.append(getattr(obj, s))
    return max([0] + [largest_array(v, seen) for v in items])


@dataclass(frozen=True)
class Gathered:
    """What one pass brought to the client: pickled bytes and the largest array in it."""

    bytes: int
    largest_array: int


@dataclass(frozen=True)
class DaskStats:
    """The JSON report's ``engine`` object for the Dask engine."""

    name: str
    batch_rows: int
    passes: int
    rows_read: int
    cached: bool
    memory_limit: int
    partitions: int
    workers: int
    bytes_to_client: int

    def to_dict(self) -> dict:
        from calibcli import kernels

        return {"name": self.name, "batch_rows": self.batch_rows, "passes": self.passes, "rows_read": self.rows_read,
                "cached": self.cached, "reread": not self.cached and self.passes > 1, "partitions": self.partitions,
                "workers": self.workers, "bytes_to_client": self.bytes_to_client, "kernels": kernels.name()}


class DaskSource:
    """Validated prediction files whose passes run on a Dask cluster (see the module docstring).

    Use :func:`open_dask_source` (or ``open_source`` with ``--engine dask``). ``run(consumers)``
    is one pass; ``batches()`` is not available (the rows stay on the workers).
    """

    def __init__(self, client, parts, setup: PassSetup, info: SourceInfo, batch_rows: int, memory_limit: int,
                 rows_per_file: tuple[int, ...], first: Gathered, rows_read: int):
        self.client = client
        self.partitions = list(parts)
        self.setup = setup
        self.info = info
        self.spec = setup.read.spec
        self.options = setup.read.options
        self.batch_rows = batch_rows
        self.memory_limit = memory_limit
        self.rows_per_file = rows_per_file
        self.gathered: list[Gathered] = [first]
        self._passes = 1
        self._rows_read = rows_read
        self._closed = False
        self.kept: list | None = None  # per partition: pass 1's task (PartScan, Kept), held on the workers
        self.kept_partitions = 0  # partitions whose decoded batches the workers keep between passes

    # ------------------------------------------------------------------ passes
    def _tree(self, leaves, merge, tag: str):
        from dask import delayed

        level = list(leaves)
        depth = 0
        while len(level) > 1:
            level = [delayed(_merge_many, pure=False)(merge, *level[i:i + FAN_IN], dask_key_name=f"{tag}-merge-{depth}-{i // FAN_IN}")
                     for i in range(0, len(level), FAN_IN)]
            depth += 1
        blob = self.client.compute(delayed(_dumps, pure=False)(level[0], dask_key_name=f"{tag}-root")).result()
        out = pickle.loads(blob)
        self.gathered.append(Gathered(len(blob), largest_array(out)))
        return out

    def run(self, consumers) -> int:
        """One pass: each consumer gets every row (through a replica per partition, merged on the cluster).

        Returns the rows fed.
        """
        from dask import delayed

        if self._closed:
            raise RuntimeError("the source is closed")
        lacking = [type(c).__name__ for c in consumers
                   if not callable(getattr(c, "update", None)) or not callable(getattr(c, "merge", None))]
        if lacking:
            raise TypeError(f"the dask engine needs update(batch) and merge(other) on every pass consumer; "
                            f"{', '.join(lacking)} lack{'s' if len(lacking) == 1 else ''} them")
        tag = f"calib-pass-{uuid.uuid4().hex[:10]}"
        blob = delayed(_dumps(list(consumers)), name=f"{tag}-consumers", traverse=False)
        setup = delayed(self.setup, name=f"{tag}-setup", traverse=False)
        kept = self.kept or [None] * len(self.partitions)
        leaves = [delayed(feed_partition, pure=False)(p, setup, blob, k, dask_key_name=f"{tag}-part-{p.index}")
                  for p, k in zip(self.partitions, kept)]
        result = _first_error(self._tree(leaves, merge_results, tag))
        for c, m in zip(consumers, result.consumers):
            merge_into(c, m)
        self._passes += 1
        self._rows_read += result.rows_read
        return result.rows

    def batches(self):
        raise RuntimeError("a DaskSource's rows stay on the workers: run passes with calibcli.engine.local.feed or run_pass")

    # ------------------------------------------------------------------- stats
    def engine_stats(self) -> DaskStats:
        workers = len(self.client.scheduler_info(n_workers=-1).get("workers", {})) if not self._closed else 0
        cached = bool(self.partitions) and self.kept_partitions == len(self.partitions)
        return DaskStats("dask", self.batch_rows, self._passes, self._rows_read, cached, self.memory_limit,
                         len(self.partitions), workers, sum(g.bytes for g in self.gathered))

    def close(self) -> None:
        """Forget the source and release the batches kept on the workers (the cluster stays up)."""
        self._closed = True
        self.kept = None

    def __enter__(self) -> "DaskSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _first_error(result):
    if result.error is not None:
        raise result.error[1]
    return result


def open_dask_source(inputs, options: LoadOptions = LoadOptions(), batch_rows: int | None = None,
                     memory_limit: int | None = None, partition_rows: int = PARTITION_ROWS) -> DaskSource:
    """Open prediction files as a source whose passes run on a Dask cluster (pass 1 runs here).

    Parameters
    ----------
    inputs : file names, globs, directories of parts or URLs (not stdin: workers cannot read it).
    options : column and interpretation settings; ``options.engine`` says which cluster.
    batch_rows : rows per record batch (default ``options.batch_rows``).
    memory_limit : bytes of decoded batches each worker may keep between passes: pass 1 keeps a
        partition's batches on its worker while they fit the partition's share
        (``memory_limit * workers / partitions``); later passes feed kept batches instead of reading.
    partition_rows : a Parquet partition takes whole row groups until it holds this many rows.

    Raises
    ------
    InputError
        The same errors, with the same messages, as the local engine.
    UsageError
        Dask missing, the scheduler unreachable, stdin as input.
    """
    from dask import delayed

    from calibcli.engine.streaming import check_file_columns
    from calibcli.sources.paths import STDIN, expand_inputs
    from calibcli.sources.sniffing import normalize_encoding
    from calibcli.validation.columns import check_roles, resolve_columns
    from calibcli.validation.decide import decide
    from calibcli.validation.labels import KeyTable
    from calibcli.validation.scan import Context

    require_dask()
    check_engine_options(options.engine)
    batch_rows = int(batch_rows or options.batch_rows or DEFAULT_BATCH_ROWS)
    memory_limit = int(memory_limit if memory_limit is not None else (options.memory_limit if options.memory_limit is not None
                                                                       else DEFAULT_MEMORY_LIMIT))
    paths = expand_inputs(inputs if isinstance(inputs, list) else list(inputs), options.engine.storage_options)
    if STDIN in paths:
        raise UsageError("-: standard input cannot be read by Dask workers. Write it to a file (or a bucket) first, "
                         "or run with --engine local.")
    encoding = normalize_encoding(options.encoding)
    storage = tuple(options.engine.storage_options)
    files = [open_file(p, encoding, p, storage) for p in paths]
    try:
        names = tuple(f.display for f in files)
        first = files[0]
        first_names = first.column_names()
        spec = resolve_columns(first_names, first.display, options.label_col, options.score_cols, options.classes, options.task)
        check_roles(spec, first.display, options.id_col)
        for i, f in enumerate(files):
            check_file_columns(i, f, first_names if i == 0 else f.column_names(), spec, options, first)
        parts = plan_partitions(files, partition_rows)
        probes = {i: f.probe for i, f in enumerate(files)}
    finally:
        for f in files:
            f.close()
    client = get_client(options.engine)
    # the storage options travel once, in ReadSetup (whose repr hides them), not inside the options as well
    read = ReadSetup(spec, replace(options, engine=EngineOptions("dask")), batch_rows, encoding, storage, probes=probes)
    tag = f"calib-scan-{uuid.uuid4().hex[:10]}"
    setup_d = delayed(read, name=f"{tag}-setup", traverse=False)
    n_workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    keep = memory_limit * n_workers // max(len(parts), 1)  # a partition's share of the workers' --memory-limit
    kept = client.persist([delayed(scan_and_keep, pure=False)(p, setup_d, keep, dask_key_name=f"{tag}-keep-{p.index}")
                           for p in parts])
    leaves = [delayed(scan_result, pure=True)(k, dask_key_name=f"{tag}-part-{p.index}") for p, k in zip(parts, kept)]
    source = DaskSource(client, parts, PassSetup(read, (), None), None, batch_rows, memory_limit, (), Gathered(0, 0), 0)
    source.gathered = []
    scan = _first_error(source._tree(leaves, merge_scans, tag))
    if keep > 0:
        sizes = client.compute([delayed(kept_bytes, pure=True)(k, dask_key_name=f"{tag}-kept-{p.index}")
                                for p, k in zip(parts, kept)], sync=True)
        if any(b >= 0 for b in sizes):
            source.kept = kept
            source.kept_partitions = sum(b >= 0 for b in sizes)
    keys = KeyTable()
    for k in scan.keys:
        keys.code(k)
    ctx = Context(spec, options, keys)
    scans = [scan.files[i] for i in range(len(files))]
    d = decide(scans, ctx, names, (*paths.notes, *spec.notes))
    info = SourceInfo(tuple(paths), d.classes, d.task, d.kind, d.n_rows, d.evidence, spec, dict(d.dropped),
                      d.warnings, d.adjustments, options.id_col is not None)
    parts = with_counts(parts, scan)
    source.partitions = parts
    source.setup = PassSetup(replace(read, types=scan.types), tuple(keys.keys), d)
    source.info = info
    source.rows_per_file = tuple(s.rows for s in scans)
    source._rows_read = sum(source.rows_per_file)
    return source


__all__ = ["DaskSource", "DaskStats", "Gathered", "INSTALL_HINT", "check_engine_options", "close_clients", "get_client",
           "largest_array", "open_dask_source", "require_dask"]
