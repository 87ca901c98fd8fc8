"""Audit hook: the thresholds section of ``calib audit`` (issue: decision thresholds).

Same contract as ``audit_calibration``: ``options(fn)`` and
``attach(report, loaded, opts) -> AuditReport`` (sets ``thresholds``). Runs after
calibration, so ``report.calibration`` is available. Thresholds are computed
only when an objective is asked for (``--objective`` or a flag implying one), so
a plain audit stays fast.
"""

from __future__ import annotations

import functools

import click

from calibcli.cli.thresholds import asked_objectives, objective_options, spec_from_opts


def options(fn):
    """The objective flags of ``calib thresholds`` plus --threshold-class, --threshold-bootstrap, --threshold-seed."""

    @objective_options
    @click.option("--threshold-class", "threshold_classes", multiple=True, metavar="NAME",
                  help="Thresholds only for this class or label (repeatable; default: binary the positive class, otherwise every class).")
    @click.option("--threshold-bootstrap", type=click.IntRange(0, 100_000), default=200, show_default=True,
                  help="Bootstrap replicates for the threshold intervals (0: none).")
    @click.option("--threshold-seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the threshold bootstrap.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def attach(report, loaded, opts: dict):
    """The report with ``thresholds`` set when an objective was asked for.

    With calibration in the report, each objective is optimised on the raw and
    on the calibrated scores of the rows the calibrator was evaluated on.
    """
    objectives = asked_objectives(opts)
    if not objectives:
        if opts.get("threshold_classes"):
            from calibcli.errors import UsageError

            raise UsageError("--threshold-class picks classes for the thresholds section, which needs an objective: "
                             "add --objective (e.g. --objective f1) or a target such as --min-precision.")
        return report
    from dataclasses import replace

    from calibcli.thresholds import recommend_source

    spec = spec_from_opts(opts, objectives, opts.get("threshold_bootstrap", 200), opts.get("threshold_seed", 0))
    source, calibrate = _source(loaded, getattr(report, "calibration", None), opts["load_options"].batch_rows)
    result = recommend_source(source, spec, tuple(opts.get("threshold_classes") or ()) or None, calibrate)
    notes = ()
    n_input = loaded.info.n_rows if hasattr(loaded, "batches") else loaded.predictions.n_samples
    if calibrate is not None and result.n_rows < n_input:
        notes = (f"thresholds use the {result.n_rows:,} rows the calibrator was evaluated on (not fitted on), "
                 "on both scales",)
    return replace(report, thresholds=replace(result, notes=notes))


class _Evaluated:
    """The evaluated rows of each batch of ``source`` (a ``BatchSource``), and their out-of-fold calibrated
    scores for ``calibrate(batch)``, computed once per batch by the calibration stage's ``out_of_fold.pairs``."""

    def __init__(self, source, out_of_fold, method: str):
        self.info, self._source, self._oof, self._method = source.info, source, out_of_fold, method
        self._last = None

    def batches(self):
        for batch in self._source.batches():
            pair = self._oof.pairs(batch, (self._method,))
            if pair is None:
                continue
            raw, cal = pair
            self._last = (raw, cal[self._method].predictions)
            yield raw

    def calibrate(self, batch):
        raw, calibrated = self._last
        if batch is not raw:
            raise RuntimeError("calibrate() is for the batch just yielded")
        return calibrated


def _source(loaded, cal, batch_rows):
    """The rows to recommend on as a batch source and how to calibrate a batch of them (None: raw only).

    With calibration: the rows the calibrator was evaluated on, keyed by their
    row index in the input, each batch with its out-of-fold calibrated scores.
    """
    import numpy as np

    from calibcli.engine.batches import DEFAULT_BATCH_ROWS, InMemorySource

    if hasattr(loaded, "batches"):  # a BatchSource (streamed input)
        source = loaded
    else:
        source = InMemorySource.from_loaded(loaded, batch_rows or DEFAULT_BATCH_ROWS)
    if cal is None:
        return source, None
    oof = getattr(cal, "out_of_fold", None)
    if oof is not None:
        evaluated = _Evaluated(source, oof, cal.method)
        return evaluated, evaluated.calibrate
    calibrated = getattr(cal, "calibrated", None)  # a calibration result holding its rows in memory
    if calibrated is None:
        return source, None
    rows = getattr(cal, "evaluated_rows", None)
    preds = loaded.predictions
    keys = np.arange(preds.n_samples, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    order = np.argsort(keys, kind="stable")  # the batches go in input order; calibrated is in the order of rows
    keys = keys[order]
    preds = preds.subset(keys)
    source = InMemorySource(preds, InMemorySource.from_predictions(preds).info, source.batch_rows, rows=keys)

    def calibrate(batch):  # the out-of-fold calibrated scores of this batch's rows
        return calibrated.subset(order[np.searchsorted(keys, batch.rows)])

    return source, calibrate
