"""Audit hook: the statistics of issue 13 (``--statistics``) and the decision verdict (``--tolerance``).

- ``options(fn)``: ``--statistics`` (opt-in: the full set costs a pass, the Cox Newton
  passes and a finalize) and ``--tolerance`` (the verdict's calibration-error tolerance).
- The stage (statistics, and the verdict on every report) is :func:`calibcli.pipeline.statistics_stage`.
- ``plan_outputs(opts, folders, out)`` / ``write_outputs(reports, opts, folders, out)``: with
  ``--plots`` and ``--statistics``, ``corp.png`` in each report's plot folder.
- ``print_verdict(console, report)``: the verdict lines, printed before the terminal report.
"""

from __future__ import annotations

import functools

import click

CORP_FILE = "corp.png"


def options(fn):
    """--statistics, --tolerance."""
    from calibcli.cli.paramtypes import FiniteFloat

    @click.option("--statistics", "statistics", is_flag=True,
                  help="Also compute the full statistics of every curve (L2, debiased and smooth ECE, ECCE, ICI, "
                       "Spiegelhalter, Hosmer-Lemeshow, Cox, Brier and CORP decompositions, AUROC, average "
                       "precision) with 95% intervals, and corp.png with --plots. Costs a pass plus about ten "
                       "Cox passes.")
    @click.option("--tolerance", type=FiniteFloat(0, 1, min_open=True), default=0.02, show_default=True,
                  help="The calibration error a probability-weighted decision tolerates (the verdict's "
                       "'probabilities' line).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def plan_outputs(opts: dict, folders, out) -> None:
    """Check the ``corp.png`` paths in ``out`` before any work (``folders``: audit_plots.plan_outputs's)."""
    if not opts.get("statistics"):
        return
    for folder in folders:
        out.plan("--plots", folder / CORP_FILE)


def write_outputs(reports, opts: dict, folders, out) -> str | None:
    """Stage each report's ``corp.png`` in its plot folder; the note to print, or None."""
    if not opts.get("statistics") or not folders:
        return None
    from calibcli.cli.audit_plots import report_folders
    from calibcli.render.corp_plot import corp_png_bytes

    written = 0
    for report, folder in zip(reports, report_folders(folders, reports)):
        st = report.statistics
        if st is None or st.corp is None:
            continue
        title = "CORP reliability diagram" + (f" ({st.headline.label})" if st.task == "binary" else "")
        out.add("--plots", folder / CORP_FILE, corp_png_bytes(st.corp, title))  # the title corp_png gives it
        written += 1
    return f"wrote {CORP_FILE} (CORP reliability diagram)" if written else None


def print_verdict(console, report) -> None:
    """Print the verdict lines (they open the terminal report)."""
    if getattr(report, "verdict", None) is None:
        return
    from calibcli.render.statistics_terminal import verdict_renderable

    console.print(verdict_renderable(report.verdict))
    console.print()
