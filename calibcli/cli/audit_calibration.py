"""Audit hook: post-hoc calibration inside ``calib audit`` (issue: temperature scaling).

Contract used by ``calibcli.cli.audit``:
- ``options(fn)``: decorator adding this feature's click options to ``audit``.
- ``attach(report, loaded, opts) -> AuditReport``: returns the report with
  ``calibration`` set (or unchanged). ``opts`` holds all audit keyword options,
  including ``load_options``, ``n_bins`` and ``strategy``. No numerics here.
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
                  help="Seed of the cross-fitting folds, --calibration-split and the bootstrap interval of T.")
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


def attach(report, loaded, opts: dict):
    """The report with ``calibration`` set, unless skipped (top-label file, --no-calibration)."""
    from dataclasses import replace

    from calibcli.errors import UsageError
    from calibcli.predictions import Task

    explicit = [name for name, on in (("--calibrators", opts.get("calibrators") is not None),
                                      ("--calibration-split", opts.get("calibration_split") is not None),
                                      ("--fit-on", opts.get("fit_on") is not None),
                                      ("--per-label", opts.get("per_label"))) if on]
    if opts.get("no_calibration"):
        if explicit:
            raise UsageError(f"--no-calibration skips calibration, but {', '.join(explicit)} asks for it; drop one of them.")
        return report
    preds = loaded.predictions
    if preds.task is Task.TOP_LABEL:
        if explicit:
            raise UsageError(f"{', '.join(explicit)}: calibration needs full score vectors, but this is a top-label file "
                             "(confidence and pred_label only). Export p_<class> or logit_<class> columns, or drop the option.")
        return report
    methods = _methods(opts.get("calibrators"))
    if opts.get("per_label") and preds.task is not Task.MULTILABEL:
        raise UsageError(f"--per-label fits one temperature per label and only applies to multilabel files; this one is {preds.task.value}.")
    if opts.get("calibration_split") is not None and opts.get("fit_on"):
        raise UsageError("--calibration-split and --fit-on both say which rows fit the calibrator; give only one.")

    from calibcli.calibration import MIN_ROWS, evaluate_calibration

    if not explicit and preds.n_samples < MIN_ROWS:
        return replace(report, warnings=(*report.warnings,
                                         f"calibration skipped: {preds.n_samples} rows are too few to fit on some and evaluate on others"))
    fit_on = fit_files = None
    if opts.get("fit_on"):
        from calibcli.loading import load_predictions

        fit_loaded = load_predictions([opts["fit_on"]], opts["load_options"])
        fit_on, fit_files = fit_loaded.predictions, fit_loaded.files
    result = evaluate_calibration(
        preds,
        methods,
        split=opts.get("calibration_split"),
        fit_on=fit_on,
        fit_on_files=tuple(fit_files or ()),
        seed=opts.get("seed", 0),
        per_label=bool(opts.get("per_label")),
        n_bins=opts["n_bins"],
        strategy=opts["strategy"],
        before=report.measurement,
    )
    return replace(report, calibration=result, warnings=(*report.warnings, *result.warnings))
