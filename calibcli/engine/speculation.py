"""The first pass of a run, fed while its source is scanned, kept when the scan decides what the first batch implied.

Opening a :class:`~calibcli.engine.streaming.StreamingSource` is pass 1 (the scan): classes,
task and score kind are decided from every row before any batch can be converted. Most
inputs are decided by their first batch already, so the run's first pass (e.g. the audit's
measurement, or the calibration's first pass) can be fed during the scan and kept when the
final decisions are the same; then it costs no pass of its own.

How (all in the engine; the caller only says what its first pass is):

1. ``plan(probe)`` is the caller's own code up to its first pass (e.g. the audit pipeline),
   run on a :class:`Probe`: the source as the first batch describes it. Its first
   ``feed(probe, *consumers)`` is captured, not run (:func:`capture`): the unfed consumers.
2. Every scanned batch is converted with the first batch's decisions and fed to them, in the
   order and thread assignment of a pass (:class:`~calibcli.engine.local.ThreadedFeed`).
3. After the scan, the speculation is kept only if nothing it used differs: the decisions
   that convert a batch, the source's info (rows only if the plan read them), the kernels.
   Anything else (an error, a label the first batch did not imply, a file read twice) drops it.
4. The caller's first ``feed`` of consumers equal to the captured ones when unfed (the same
   types and pickled bytes, compared by digest) receives the fed states by merging
   (:meth:`Speculation.take`).

So the numbers are those of a separate pass, bit for bit: the same batches, the same
replicas, merged in the same order.
"""

from __future__ import annotations

import pickle
from typing import Callable, Sequence

import numpy as np

from calibcli.engine.batches import Batch

Plan = Callable[[object], object]  # the caller's code up to its first feed, given a Probe
QUEUE_DEPTH = 8  # batches waiting per worker thread (memory: threads x 9 batches in flight)


class _Captured(Exception):
    """Raised by a probe's pass: the consumers of the plan's first pass (None: not a feed of consumers)."""

    def __init__(self, consumers):
        super().__init__("captured")
        self.consumers = consumers


class RowsUnknown(Exception):
    """The plan read the source's row count, which the scan has not counted yet (not Parquet)."""


class ProbeInfo:
    """A source's info as its first batch implies it; remembers whether ``n_rows`` was read.

    ``n_rows`` is the files' stored row count (Parquet), read only when asked for: a
    plan that reads it is kept only if the scan counts the same rows.
    """

    def __init__(self, info, rows: Callable[[], int | None]):
        self._info = info
        self._rows = rows
        self.rows_read: int | None = None

    @property
    def n_rows(self) -> int:
        if self.rows_read is None:
            n = self._rows()
            if n is None:
                raise RowsUnknown("rows not known before the scan")
            self.rows_read = int(n)
        return self.rows_read

    def __getattr__(self, name: str):
        return getattr(self._info, name)


class Probe:
    """The source as a plan sees it while the source opens: ``info`` is provisional, a pass is captured."""

    def __init__(self, source, info: ProbeInfo):
        self._source = source
        self.info = info

    take_first_pass = None  # nothing fed yet (calibcli.engine.local.feed asks a source for it)

    def __getattr__(self, name: str):  # options, threads, batch_rows, ... of the opening source
        return getattr(self._source, name)

    def batches(self):
        raise _Captured(None)

    def run(self, consumers):  # calibcli.engine.local.feed hands a source with run() its consumers
        raise _Captured(list(consumers))


def capture(plan: Plan, probe: Probe) -> list | None:
    """The unfed consumers of the first pass of ``plan`` on ``probe``, or None (no feed of consumers came first,
    or the plan failed: its real run will say why)."""
    from calibcli.engine.local import StateConsumer

    try:
        plan(probe)
    except _Captured as got:
        if got.consumers and not any(isinstance(c, StateConsumer) for c in got.consumers):
            return got.consumers
        return None
    except Exception:  # noqa: BLE001 - anything the plan cannot do yet; the real run raises it
        return None
    return None


def fingerprint(consumers: Sequence) -> bytes | None:
    """A digest of the pickled unfed consumers (equal: built with the same parameters), or None.

    A digest, not the bytes: unfed states hold arrays sized by classes and bins (tens of MB with
    1,000 classes), which need not be kept twice.
    """
    import hashlib

    try:
        blob = pickle.dumps((tuple(type(c).__qualname__ for c in consumers), tuple(consumers)), protocol=4)
    except Exception:  # noqa: BLE001 - not picklable: never taken
        return None
    return hashlib.blake2b(blob, digest_size=32).digest()


class Speculation:
    """Consumers fed with the batches of a scan, converted by the decisions the first batch implied.

    Parameters
    ----------
    consumers : the unfed consumers captured from the plan.
    decisions : ``calibcli.validation.scan.Decisions`` of the first batch.
    info : the ``ProbeInfo`` the plan saw.
    threads, compiled : threads and kernel choice of the pass (as ``feed`` would choose).
    lut_of : the label table of the current label keys (classes fixed by the columns: it grows
        with new keys exactly as the final decision's); None: a new key drops the speculation.
    """

    def __init__(self, consumers: list, decisions, info: ProbeInfo, threads: int, compiled: bool | None,
                 lut_of: Callable[[], np.ndarray] | None):
        from calibcli.engine.local import ThreadedFeed

        self.consumers = consumers
        self.decisions = decisions
        self.info = info
        self.compiled = compiled
        self.fingerprint = fingerprint(consumers)
        self._lut_of = lut_of
        self.rows = 0
        self.alive = self.fingerprint is not None
        # a deeper queue: while the workers wait for numba's import (kernels.preload), the scan goes on
        self._fan = ThreadedFeed(consumers, threads, compiled, QUEUE_DEPTH) if threads > 1 and self.alive else None

    def feed(self, raw, file_offset: int) -> None:
        """Convert a scanned raw batch with the first batch's decisions and feed it (nothing once dropped)."""
        if not self.alive:
            return
        from calibcli import kernels
        from calibcli.validation.scan import convert

        d = self.decisions
        try:
            if d.lut is not None and raw.labels is not None and raw.labels.size and int(raw.labels.max()) >= d.lut.size:
                if self._lut_of is None:
                    return self.drop()
                from dataclasses import replace

                d = self.decisions = replace(d, lut=self._lut_of())
                if int(raw.labels.max()) >= d.lut.size:
                    return self.drop()
            out = convert(raw, d, file_offset)
            if out is None:
                return
            batch = Batch(*out)
            if self._fan is not None:
                if not self._fan.put(batch):
                    return self.drop()
            else:
                with kernels.scope(self.compiled):
                    for c in self.consumers:
                        c.update(batch)
            self.rows += batch.n_rows
        except Exception:  # noqa: BLE001 - bad rows the scan will report, or a plan that needs the final decisions
            self.drop()

    def drop(self) -> None:
        """Give up: stop the workers; the consumers are discarded."""
        self.alive = False
        if self._fan is not None:
            self._fan.abandon()
            self._fan = None

    def settle(self, decisions, info, compiled: bool | None) -> bool:
        """After the scan: finish the pass and keep it when ``decisions``, ``info`` and the kernel choice are
        those it used; else drop it. Returns whether it is kept."""
        if self.alive and not (_same_conversion(self.decisions, decisions) and _same_info(self.info, info)
                               and compiled == self.compiled):
            self.drop()
        if not self.alive:
            return False
        if self._fan is not None:
            try:
                self._fan.finish()
            except Exception:  # noqa: BLE001 - the real pass raises it again
                self.alive = False
            self._fan = None
        return self.alive

    def take(self, consumers: Sequence) -> int | None:
        """Merge the fed consumers into ``consumers`` (unfed, built as the captured ones) and return the rows
        fed; None when they are not the captured consumers (then nothing is changed). Taken once."""
        from calibcli.engine.local import merge_into

        if not self.alive or len(consumers) != len(self.consumers) or fingerprint(consumers) != self.fingerprint:
            return None
        for mine, fed in zip(consumers, self.consumers):
            merge_into(mine, fed)
        self.alive = False
        self.consumers = []
        return self.rows


def _same_conversion(a, b) -> bool:
    """Whether two ``Decisions`` convert every batch the same way (``a``'s label table may be a prefix)."""
    if (a.classes, a.task, a.kind, a.drop, a.row_sums, a.renormalize) != (b.classes, b.task, b.kind, b.drop,
                                                                           b.row_sums, b.renormalize):
        return False
    if (a.lut is None) != (b.lut is None):
        return False
    # the batches fed used label codes below a.lut.size only: the same classes if b agrees on those codes
    return a.lut is None or (a.lut.size <= b.lut.size and np.array_equal(a.lut, b.lut[:a.lut.size]))


def _same_info(probe: ProbeInfo, info) -> bool:
    """Whether the info a plan saw is the final info, in everything a plan may build its consumers from."""
    p = probe._info
    same = (p.files, p.classes, p.task, p.score_kind, p.columns, p.has_ids) == (info.files, info.classes, info.task,
                                                                                info.score_kind, info.columns,
                                                                                info.has_ids)
    return same and (probe.rows_read is None or probe.rows_read == info.n_rows)
