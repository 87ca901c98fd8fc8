"""Audit hook: the thresholds section of ``calib audit`` (issue: decision thresholds).

- ``options(fn)``: the objective flags and --threshold-class, --threshold-bootstrap, --threshold-seed.
- ``spec(opts)``: the ``ThresholdSpec`` they ask for, or None.

The stage itself is :func:`calibcli.pipeline.thresholds_stage`. No numerics here.
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


def spec(opts: dict):
    """The ``ThresholdSpec`` the options ask for (validated; ``UsageError`` naming the flag), or None without an
    objective (``--objective`` or a flag implying one), so a plain audit stays fast."""
    objectives = asked_objectives(opts)
    if not objectives:
        return None
    return spec_from_opts(opts, objectives, opts.get("threshold_bootstrap", 200), opts.get("threshold_seed", 0))
