"""Audit hook: post-hoc calibration inside ``calib audit`` (issue: temperature scaling).

Contract used by ``calibcli.cli.audit``:
- ``options(fn)``: decorator adding this feature's click options to ``audit``.
- ``build(loaded, opts) -> AuditReport``: the audit report with ``calibration``
  set, the before-measurement fed in the calibration's first pass (no pass of its own).
- ``attach(report, loaded, opts) -> AuditReport``: returns the report with
  ``calibration`` set (or unchanged); ``loaded`` is a ``BatchSource`` or validated
  input in memory (read in batches of ``opts["batch_rows"]``). ``opts`` holds all
  audit keyword options, including ``load_options``, ``n_bins`` and ``strategy``.
  No numerics here.
"""

from __future__ import annotations

import functools

import click

from calibcli.cli.paramtypes import FiniteFloat

METHOD_CHOICES = ("temperature", "vector", "platt", "isotonic", "histogram")


def options(fn):
    """--no-calibration, --calibrators, --calibration-split, --fit-on, --seed, --per-label."""

    @click.option("--no-calibration", is_flag=True,
                  help="Skip post-hoc calibration (by default temperature scaling is fitted and evaluated on held-out rows).")
    @click.option("--calibrators", default=None, metavar="LIST",
                  help="Calibrators to fit and compare with the uncalibrated scores on held-out NLL and ECE, comma-separated from "
                       "temperature, vector, platt, isotonic, histogram (default: temperature). The first is reported in detail.")
    @click.option("--calibration-split", type=FiniteFloat(0, 1, min_open=True, max_open=True), default=None,
                  metavar="FRACTION", help="Fit on a seeded random FRACTION of the rows, evaluate on the rest "
                                           "(default: 2-fold cross-fitting, every row scored out of fold).")
    @click.option("--fit-on", default=None, metavar="FILE",
                  help="Fit the calibrators on this validation file (same columns and options) and evaluate on all audited rows.")
    @click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
                  help="Seed of the cross-fitting folds, --calibration-split, the row-keyed sample and the bootstrap "
                       "interval of T (each row's draws are keyed on its position, or on --id-col).")
    @click.option("--per-label", is_flag=True, help="Multilabel: one temperature per label instead of one shared T.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def _methods(value: str | None) -> tuple[str, ...]:
    from calibcli.errors import UsageError

    if value is None:
        return ("temperature",)
    names = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in METHOD_CHOICES]
    if unknown or not names:
        raise UsageError(f"--calibrators {value!r}: unknown calibrator {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(METHOD_CHOICES)} (comma-separated).")
    return names


def _source(data, opts: dict):
    """A ``BatchSource`` of the audited rows (validated input in memory is read in batches of --batch-rows)."""
    if hasattr(data, "batches"):
        return data
    from calibcli.engine.batches import DEFAULT_BATCH_ROWS, InMemorySource

    rows = getattr(opts.get("load_options"), "batch_rows", None) or opts.get("batch_rows") or DEFAULT_BATCH_ROWS
    return InMemorySource.from_loaded(data, rows)


def _plan(source, opts: dict) -> tuple[str, ...] | str | None:
    """The calibrators to run (a tuple), or why not: None (skipped, nothing to say) or a warning.

    Raises ``UsageError`` for options that contradict each other or the input.
    """
    from calibcli.errors import UsageError
    from calibcli.predictions import Task

    explicit = [name for name, on in (("--calibrators", opts.get("calibrators") is not None),
                                      ("--calibration-split", opts.get("calibration_split") is not None),
                                      ("--fit-on", opts.get("fit_on") is not None),
                                      ("--per-label", opts.get("per_label"))) if on]
    if opts.get("no_calibration"):
        if explicit:
            raise UsageError(f"--no-calibration skips calibration, but {', '.join(explicit)} asks for it; drop one of them.")
        return None
    info = source.info
    if info.task is Task.TOP_LABEL:
        if explicit:
            raise UsageError(f"{', '.join(explicit)}: calibration needs full score vectors, but this is a top-label file "
                             "(confidence and pred_label only). Export p_<class> or logit_<class> columns, or drop the option.")
        return None
    methods = _methods(opts.get("calibrators"))
    if opts.get("per_label") and info.task is not Task.MULTILABEL:
        raise UsageError(f"--per-label fits one temperature per label and only applies to multilabel files; this one is {info.task.value}.")
    if opts.get("calibration_split") is not None and opts.get("fit_on"):
        raise UsageError("--calibration-split and --fit-on both say which rows fit the calibrator; give only one.")

    from calibcli.calibration_stage import MIN_ROWS

    if not explicit and info.n_rows < MIN_ROWS:
        return f"calibration skipped: {info.n_rows} rows are too few to fit on some and evaluate on others"
    return methods


def _run(source, opts: dict, methods: tuple[str, ...], before=None, before_state=None):
    from contextlib import nullcontext

    from calibcli.calibration_stage import run_calibration

    fit_on_ctx = nullcontext(None)
    if opts.get("fit_on"):
        from calibcli.engine.streaming import open_source

        fit_on_ctx = open_source([opts["fit_on"]], opts["load_options"])  # streamed: read in the fitting passes only
    with fit_on_ctx as fit_on:
        return run_calibration(
            source,
            methods,
            split=opts.get("calibration_split"),
            fit_on=fit_on,
            fit_on_files=tuple(fit_on.info.files) if fit_on is not None else (),
            seed=opts.get("seed", 0),
            per_label=bool(opts.get("per_label")),
            n_bins=opts["n_bins"],
            strategy=opts["strategy"],
            before=before,
            before_state=before_state,
        )


def build(loaded, opts: dict):
    """The audit report (``calibcli.audit.build_audit``) with ``calibration`` attached (unless skipped).

    The before-measurement of every row is fed in the calibration's first pass over
    the audited rows instead of a pass of its own.
    """
    from dataclasses import replace

    from calibcli.audit import audit_state, build_audit
    from calibcli.measure import source_edges

    source = _source(loaded, opts)
    plan = _plan(source, opts)
    if not isinstance(plan, tuple):
        report = build_audit(source, opts["n_bins"], opts["strategy"])
        return report if plan is None else replace(report, warnings=(*report.warnings, plan))
    edges = source_edges(source, opts["n_bins"], opts["strategy"])
    result = _run(source, opts, plan, before_state=audit_state(source, edges))
    report = build_audit(source, opts["n_bins"], opts["strategy"], edges=edges, measurement=result.measured)
    return replace(report, calibration=result, warnings=(*report.warnings, *result.warnings))


def attach(report, loaded, opts: dict):
    """The report with ``calibration`` set, unless skipped (top-label file, --no-calibration).

    ``loaded`` is the audited input: a ``BatchSource``, or validated input in memory;
    ``report.measurement`` is reused as the before-measurement (see :func:`build`,
    which saves that pass).
    """
    from dataclasses import replace

    source = _source(loaded, opts)
    plan = _plan(source, opts)
    if not isinstance(plan, tuple):
        return report if plan is None else replace(report, warnings=(*report.warnings, plan))
    result = _run(source, opts, plan, before=report.measurement)
    return replace(report, calibration=result, warnings=(*report.warnings, *result.warnings))
