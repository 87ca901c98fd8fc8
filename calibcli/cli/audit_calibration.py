"""Audit hook: post-hoc calibration inside ``calib audit`` (issue: temperature scaling).

- ``options(fn)``: decorator adding this feature's click options to ``audit``.
- ``parse_calibrators(value)``: the names given to ``--calibrators``.

The stage itself is :func:`calibcli.pipeline.calibration_stage`. No numerics here.
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


def parse_calibrators(value: str | None, check: bool = True) -> tuple[str, ...] | None:
    """The names given to --calibrators (None when not given); ``check``: refuse unknown names."""
    from calibcli.errors import UsageError

    if value is None:
        return None
    names = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in METHOD_CHOICES]
    if check and (unknown or not names):
        raise UsageError(f"--calibrators {value!r}: unknown calibrator {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(METHOD_CHOICES)} (comma-separated).")
    return names
