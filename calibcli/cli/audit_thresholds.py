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
    source, pairs = _source(loaded, getattr(report, "calibration", None), opts["load_options"].batch_rows)
    result = recommend_source(source, spec, tuple(opts.get("threshold_classes") or ()) or None, pairs=pairs)
    notes = ()
    if pairs is not None and result.n_rows < source.info.n_rows:
        notes = (f"thresholds use the {result.n_rows:,} rows the calibrator was evaluated on (not fitted on), "
                 "on both scales",)
    return replace(report, thresholds=replace(result, notes=notes))


def _source(loaded, cal, batch_rows):
    """The batch source of the audited rows, and (with calibration) ``pairs(batch)``: the batch's rows the
    calibrator was evaluated on (not fitted on), raw and calibrated out of fold (None: raw scores only)."""
    from calibcli.engine.batches import DEFAULT_BATCH_ROWS, InMemorySource

    if hasattr(loaded, "batches"):  # a BatchSource (streamed input)
        source = loaded
    else:
        source = InMemorySource.from_loaded(loaded, batch_rows or DEFAULT_BATCH_ROWS)
    if cal is None or getattr(cal, "out_of_fold", None) is None:
        return source, None
    return source, cal.calibrate_batch
