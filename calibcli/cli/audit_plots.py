"""Audit hook: reliability diagrams (issue: plots).

- ``options(fn)``: ``--plots DIR`` and ``--max-class-panels``.
- ``plan_outputs(opts, inputs, out)``: check every PNG path before any work.
- ``write_outputs(reports, opts, folders, out)``: stage the PNGs after everything
  else is attached (so calibration overlays are available); ``calib audit``
  commits them with its other outputs. With ``--per-file`` each file's PNGs go
  to ``DIR/<file stem>/``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

PLOT_FILES = ("reliability.png", "classes.png", "confidence.png")


def options(fn):
    """Add ``--plots`` and ``--max-class-panels`` to a command."""

    @click.option("--plots", "plots_dir", type=click.Path(file_okay=False), default=None,
                  help="Write reliability.png, classes.png and confidence.png into this folder (created if missing; "
                       "with --per-file, one subfolder per input file).")
    @click.option("--max-class-panels", type=click.IntRange(1), default=25, show_default=True,
                  help="Most per-class panels in classes.png (worst ECE first; the rest are counted in a note).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def subfolder_names(files: list[str]) -> list[str]:
    """One distinct folder name per input file: its stem, made unique when stems collide.

    Colliding stems get their parent folder's name in front (``runs/a/data.csv``
    -> ``a-data``), and a number if they still collide.

    >>> subfolder_names(["x/preds.csv", "y/other.parquet", "-"])
    ['preds', 'other', 'stdin']
    >>> subfolder_names(["a/data.parquet", "b/data.parquet", "c/a/data.csv"])
    ['a-data', 'b-data', 'a-data-3']
    """
    from calibcli.jobs import file_stem

    stems = [file_stem(f) for f in files]
    names = []
    for f, s in zip(files, stems):
        if stems.count(s) > 1 and f != "-":
            parent = Path(f).parent.name
            s = f"{parent}-{s}" if parent else s
        names.append(s)
    seen: set[str] = set()
    out = []
    for i, n in enumerate(names):
        if n in seen:
            n = f"{n}-{i + 1}"
        seen.add(n)
        out.append(n)
    return out


def plan_outputs(opts: dict, inputs: list[str], out) -> list[Path]:
    """Check every PNG path in ``out`` (an ``OutputSet``) before any work; the folder of each report.

    One folder, or with ``--per-file`` one subfolder per input file (in input order).
    """
    plots_dir = opts.get("plots_dir")
    if not plots_dir:
        return []
    from calibcli.errors import UsageError

    base = Path(plots_dir)
    if base.exists() and not base.is_dir():
        raise UsageError(f"--plots {plots_dir} is a file, not a folder. Give a folder name; calib creates it if missing.")
    folders = [base / n for n in subfolder_names(list(inputs))] if opts.get("per_file") else [base]
    for folder in folders:
        for name in PLOT_FILES:
            out.plan("--plots", folder / name)
    return folders


def report_folders(folders, reports) -> list[Path]:
    """The plot folder of each report: ``folders`` (from :func:`plan_outputs`), the one folder repeated."""
    return list(folders) * len(reports) if len(folders) == 1 else list(folders)


def write_outputs(reports, opts: dict, folders: list[Path], out) -> str | None:
    """Stage the three PNGs of each report in ``out``; the note to print once committed (or None)."""
    plots_dir = opts.get("plots_dir")
    if not plots_dir:
        return None
    from calibcli.plotdata import classes_data, confidence_data, method_name, reliability_data
    from calibcli.render.plots import font_note, render_all

    written, notes = 0, []
    for report, folder in zip(reports, report_folders(folders, reports)):
        figures = (reliability_data(report), classes_data(report, opts.get("max_class_panels", 25)), confidence_data(report))
        pngs = render_all(*figures, method_name(report))
        notes += [n for n in [font_note(*figures)] if n and n not in notes]
        for name, data in pngs.items():
            out.add("--plots", folder / name, data)
            written += 1
    if not written:
        return None
    where = f"{plots_dir}/<file>/" if opts.get("per_file") and len(reports) > 1 else str(plots_dir)
    return "\n".join([f"wrote {written} plots to {where} ({', '.join(PLOT_FILES)})", *notes])
