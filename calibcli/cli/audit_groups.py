"""Audit hook: subgroups and drift (``--by COL``, ``--by-bins``, ``--by-time``; issue 13).

- ``options(fn)``: the options; puts the ``--by`` columns into ``load_options.extra_cols``
  (read with each batch) and a ``GroupSpec`` into ``opts["group_spec"]``.
  The stage itself is :func:`calibcli.pipeline.groups_stage`.
- ``plan_outputs(opts, folders, out)`` / ``write_outputs(reports, opts, folders, out)``: with
  ``--plots``, ``groups.png`` (and ``drift.png`` with ``--by-time``) in each report's plot folder.
- ``print_terminal(console, report)``: the subgroup table after the audit's terminal report.
No numerics here.
"""

from __future__ import annotations

import dataclasses
import functools

import click


def options(fn):
    """--by, --by-bins, --by-time, --min-group-rows, --max-groups."""

    @click.option("--by", "by", multiple=True, metavar="COL",
                  help="Audit each group of rows sharing a value of COL (repeatable: several columns give their "
                       "intersections): rows, ECE with its interval, direction, the worst group and the "
                       "multicalibration error. Null values form the group (missing).")
    @click.option("--by-bins", "by_bins", multiple=True, metavar="N|COL=N",
                  help="Cut numeric --by columns (or only COL) into N equal-mass quantile buckets.")
    @click.option("--by-time", "by_time", multiple=True, metavar="FREQ|COL=FREQ",
                  help="Floor timestamp --by columns (or only COL) to periods to see drift: 1D, 1W (from Monday), "
                       "1M, 1Q, 1Y, 6H, 15min. Timezone-aware timestamps are floored in their zone's local time.")
    @click.option("--min-group-rows", type=click.IntRange(0), default=100, show_default=True,
                  help="Groups with fewer rows are reported but never named the worst group.")
    @click.option("--max-groups", type=click.IntRange(1), default=1000, show_default=True,
                  help="Most distinct values per --by column and groups per intersection (beyond it: exit 2).")
    @functools.wraps(fn)
    def wrapper(*args, by, by_bins, by_time, min_group_rows, max_groups, **kwargs):
        from calibcli.subgroups.keys import GroupSpec

        spec = GroupSpec.parse(tuple(by), tuple(by_bins), tuple(by_time), min_group_rows, max_groups) if (by or by_bins or by_time) else None
        kwargs["group_spec"] = spec
        if spec is not None and "load_options" in kwargs:
            lo = kwargs["load_options"]
            kwargs["load_options"] = dataclasses.replace(lo, extra_cols=tuple(dict.fromkeys((*lo.extra_cols, *spec.columns))))
        return fn(*args, **kwargs)

    return wrapper


def plan_outputs(opts: dict, folders, out) -> None:
    """Check the group PNG paths in ``out`` before any work (``folders``: audit_plots.plan_outputs's)."""
    if opts.get("group_spec") is None:
        return
    from calibcli.render.groups_plot import GROUP_FILES

    spec = opts["group_spec"]
    for folder in folders:
        for name in GROUP_FILES if spec.freq else GROUP_FILES[:1]:
            out.plan("--plots", folder / name)


def write_outputs(reports, opts: dict, folders, out) -> str | None:
    """Stage ``groups.png`` (and ``drift.png``) of each report in its plot folder; the note to print, or None."""
    if opts.get("group_spec") is None or not folders:
        return None
    from calibcli.cli.audit_plots import report_folders
    from calibcli.render.groups_plot import render_group_pngs

    written = []
    for report, folder in zip(reports, report_folders(folders, reports)):
        if report.groups is None:
            continue
        for name, data in render_group_pngs(report.groups, report.metrics.ece).items():
            out.add("--plots", folder / name, data)
            written.append(name)
    return f"wrote {', '.join(dict.fromkeys(written))} (subgroups)" if written else None


def print_terminal(console, report, limit: int | None = None) -> None:
    """Print the subgroup table after the audit's terminal report (nothing without ``--by``)."""
    if getattr(report, "groups", None) is None:
        return
    from calibcli.render.groups_terminal import DEFAULT_SHOWN, render_groups

    console.print()
    console.print(render_groups(report.groups, limit or DEFAULT_SHOWN))
