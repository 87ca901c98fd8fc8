"""Audit hook: many models side by side (``--models``, ``--sort-by``; issue: comparison).

Contract used by ``calibcli.cli.audit``:

- ``options(fn)``: ``--models LIST`` and ``--sort-by METRIC``.
- ``plan(paths, opts)``: the run's :class:`calibcli.jobs.JobPlan` (one job per file with
  ``--per-file``, one per model with ``--models``, per file and model with both, else one
  for the pooled files); :func:`calibcli.jobs.run_jobs` audits them and compares the reports.
- ``plot_args(plan, opts, paths)``: the arguments of ``audit_plots.plan_outputs``.
- ``print_terminal(console, comparison)``: the comparison table after the reports.

No numerics and no job logic here: they are :mod:`calibcli.jobs` and :mod:`calibcli.comparison`.
"""

from __future__ import annotations

import functools

import click

SORT_CHOICES = ("ece", "classwise_ece", "nll", "brier", "mce", "accuracy")  # calibcli.comparison.SORT_METRICS


def options(fn):
    """Add ``--models`` and ``--sort-by`` to a command."""

    @click.option("--models", default=None, metavar="LIST",
                  help="Several models' scores in the same file(s), one label column: comma-separated score-column "
                       "names or globs, one model each (e.g. 'RLR,SVM' or 'a_*,b_*'). Each model is audited against the "
                       "same labels and all are compared in one table, with paired intervals for the differences.")
    @click.option("--sort-by", type=click.Choice(SORT_CHOICES), default="ece", show_default=True,
                  help="Order of the comparison table of --per-file and --models: best first (errors ascending, "
                       "accuracy descending; ties keep the input order).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def plan(paths, opts: dict):
    """The audits of this ``calib audit`` run (:func:`calibcli.jobs.plan_jobs`; messages name the flags)."""
    from calibcli.jobs import plan_jobs

    return plan_jobs(paths, opts["load_options"], models=opts.get("models"), per_file=bool(opts.get("per_file")),
                     sort_by=opts.get("sort_by") or "ece", spelling="cli")


def plot_args(job_plan, opts: dict, paths) -> tuple[dict, list[str]]:
    """``(opts, inputs)`` for ``audit_plots.plan_outputs``: with ``--models``, one folder per model."""
    if not job_plan.models:
        return opts, paths
    return {**opts, "per_file": True}, [n.replace(":", "-").replace("/", "-") for n in job_plan.names]


def print_terminal(console, comparison) -> None:
    """Print the comparison table after the reports (when it has two rows or more)."""
    if comparison is None or len(comparison.rows) < 2:
        return
    from calibcli.render.comparison import comparison_terminal

    console.rule()
    console.print(comparison_terminal(comparison))
