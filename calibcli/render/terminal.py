"""Rich renderables for the terminal. Reads the report; decides nothing."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from calibcli.plotdata import bins_text
from calibcli.report import AuditReport, count_note

VARIANTS = {
    "accuracy": "argmax is correct",
    "ece": "top-label, {bins}",
    "ece_top_label": "top-label, {bins}",
    "mce": "top-label, max gap over non-empty bins",
    "classwise_ece": "mean of one-vs-rest ECEs",
    "brier": "sum over classes, mean over rows",
    "nll": "natural log, p clipped at 1e-12",
}
BINARY_VARIANTS = {
    "ece": "positive class P({pos}), {bins}",
    "mce": "positive class, max bin gap",
    "ece_top_label": "top-label: confidence max(p, 1-p)",
}
ML_VARIANTS = {
    "accuracy": "per (row, label) at 0.5",
    "ece": "pooled over (row, label) pairs, {bins}",
    "mce": "pooled, max gap over non-empty bins",
    "classwise_ece": "mean of per-label ECEs, {bins}",
    "brier": "sum over labels, mean over rows",
    "nll": "binary cross-entropy summed over labels, mean over rows",
}
LABELS = {"accuracy": "accuracy", "ece": "ECE", "ece_top_label": "top-label ECE", "mce": "MCE", "classwise_ece": "classwise ECE",
          "brier": "Brier", "nll": "NLL"}
DIRECTION_STYLE = {"overconfident": "red", "underconfident": "yellow", "calibrated": "green"}


def fmt(x: float | None, digits: int = 5) -> str:
    """A metric value for display; '-' when it does not apply."""
    return "-" if x is None else f"{x:.{digits}f}"


def fmt_interval(x: float | None, interval=None) -> str:
    """``0.0412 [0.036, 0.047]``: the value and its 95% interval, compact; '-' when it does not apply.

    >>> fmt_interval(0.04123, (0.0361, 0.0474)), fmt_interval(0.5), fmt_interval(None)
    ('0.0412 [0.036, 0.047]', '0.5000', '-')
    """
    if x is None:
        return "-"
    text = f"{x:.4f}"
    return text if interval is None else f"{text} [{interval[0]:.3f}, {interval[1]:.3f}]"


def short_direction(d) -> str:
    """The direction phrase for a narrow table column."""
    if d.says is None:
        return f"too few confident rows ({d.count})"
    return f"{d.verdict}: says {d.says:.2f}, right {d.observed:.0%}"


def summary(report: AuditReport) -> Group:
    """Header lines and the headline metrics table."""
    inp = report.input
    files = inp.files[0] if len(inp.files) == 1 else f"{len(inp.files)} files ({inp.files[0]}, ...)"
    head = Text()
    head.append("calib audit", style="bold")
    head.append(f"  {files}\n")
    head.append(f"{inp.n_samples:,} rows, {inp.n_classes} {'labels' if inp.task == 'multilabel' else 'classes'}, task {inp.task}\n")
    head.append(f"scores: {inp.score_kind} ({'; '.join(inp.score_kind_evidence)})\n")
    head.append(f"binning: {bins_text(report)}, {report.binning.edge_rule}")
    for line in adjustment_lines(report):
        head.append(f"\n{line}", style="yellow")
    if inp.dropped and not any(a.kind == "dropped" for a in inp.adjustments):
        head.append(f"\ndropped: {sum(inp.dropped.values()):,} invalid rows", style="yellow")
    variants = ML_VARIANTS if inp.task == "multilabel" else (
        {**VARIANTS, **BINARY_VARIANTS} if inp.task == "binary" else VARIANTS)
    m = report.measurement
    table = Table(title=None, show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("metric")
    table.add_column("value [95% interval]" if m.intervals else "value", justify="right")
    table.add_column("variant", overflow="fold")
    pos = inp.classes[1] if len(inp.classes) > 1 else ""
    for key, label in LABELS.items():
        value = getattr(report.metrics, key)
        if key == "ece_top_label" and inp.task != "binary":
            continue  # equal to the ECE (multi-class, top-label) or not defined (multilabel)
        variant = variants[key].format(bins=bins_text(report), pos=pos) if value is not None else "not defined for this input"
        table.add_row(label, fmt_interval(value, m.intervals.get(key)), variant)
    parts = [head, Text(""), table]
    floor = noise_floor_line(report)
    if floor:
        parts.append(Text(floor, style="dim"))
    return Group(*parts)


def noise_floor_line(report: AuditReport) -> str | None:
    """What a perfectly calibrated model of this size would show by chance, and what the intervals are for."""
    m = report.measurement
    nf = m.noise_floor
    if not nf or nf.get("ece") is None:
        return None
    parts = [f"ECE {nf['ece']:.4f}"]
    if nf.get("classwise_ece") is not None and report.metrics.classwise_ece is not None:
        parts.append(f"classwise {nf['classwise_ece']:.4f}")
    if nf.get("mce") is not None:
        parts.append(f"MCE {nf['mce']:.4f}")
    line = f"noise floor (a perfectly calibrated model, same scores and bins): {', '.join(parts)}."
    if m.interval_info is not None:
        i = m.interval_info
        line += (f" Intervals: 95% for the population value, basic bootstrap, {i.replicates} replicates over "
                 f"{i.groups} row groups, seed {i.seed}.")
    return line


NAME_WIDTH = 24  # the class-name column at 80 columns; wider terminals give it the rest of their width
OTHER_COLUMNS_WIDTH = 88  # the other columns of the per-class table, padding included, at their usual widths


class _FitWidth:
    """A renderable built for the width it is given (rich asks at print time)."""

    def __init__(self, build):
        self.build = build

    def __rich_console__(self, console, options):
        yield self.build(options.max_width)


def _class_rows_table(report: AuditReport, rows, width: int) -> Table:
    top_label = report.input.task == "top_label"
    what = "label" if report.input.task == "multilabel" else "class"
    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column(what, overflow="ellipsis", max_width=max(NAME_WIDTH, width - OTHER_COLUMNS_WIDTH))
    table.add_column("support", justify="right")
    table.add_column("predicted", justify="right")
    table.add_column("ECE [95% interval]" if any(c.intervals for c in rows) else "ECE", justify="right")
    if not top_label:  # a top-label file has no Brier score
        table.add_column("Brier", justify="right")
    table.add_column("direction", overflow="fold")
    for c in rows:
        cells = [Text(c.name), f"{c.support:,}", f"{c.predicted:,}", fmt_interval(c.ece, c.intervals.get("ece"))]
        if not top_label:
            cells.append(fmt(c.brier, 4))
        cells.append(Text(short_direction(c.direction), style=DIRECTION_STYLE.get(c.direction.verdict, "dim")))
        table.add_row(*cells)
    return table


def class_table(report: AuditReport, limit: int = 20) -> Group:
    """Per-class table, worst ECE first, at most ``limit`` rows.

    Columns: name, ``support`` (rows whose label is the class), ``predicted`` (rows
    predicted as the class), ECE, Brier (not for top-label files) and direction.
    For top-label files ECE and direction are over the rows predicted as the class,
    as the title and the note under the table say. The name column is 24 characters
    at 80 columns and grows with the terminal (unbounded when output is not a terminal).
    """
    rows = report.classes_worst_first()
    task = report.input.task
    what = "label" if task == "multilabel" else "class"
    title = Text("Per predicted class, worst ECE first" if task == "top_label" else f"Per {what}, worst ECE first", style="bold")
    shown = rows[:limit]
    parts = [title, _FitWidth(lambda width: _class_rows_table(report, shown, width)), Text(count_note(task), style="dim")]
    if len(rows) > limit:
        parts.append(Text(f"... {len(rows) - limit} more {what}es not shown (--max-classes to show more)" if what == "class"
                          else f"... {len(rows) - limit} more labels not shown (--max-classes to show more)", style="dim"))
    return Group(*parts)


def adjustment_lines(report: AuditReport) -> list[str]:
    """One line per change calib made to the rows (--renormalize, --drop-invalid, clipping)."""
    lines = []
    for a in report.input.adjustments:
        line = f"adjusted ({a.kind}, {a.rows:,} row{'s' if a.rows != 1 else ''}): {a.detail}"
        if a.largest_change is not None and "largest change" not in a.detail:
            line += f"; largest change of one probability {a.largest_change:.3g}"
        lines.append(line)
    return lines


def render_audit(report: AuditReport, max_classes: int = 20) -> Group:
    """The whole terminal report."""
    parts = [summary(report), Text(""), class_table(report, max_classes)]
    if getattr(report, "statistics", None) is not None:  # calib audit --statistics
        from calibcli.render.statistics_terminal import statistics_renderable

        parts += [Text(""), statistics_renderable(report.statistics)]
    if report.calibration is not None:
        from calibcli.render.calibration_terminal import calibration_section

        parts += [Text(""), calibration_section(report)]
    if report.thresholds is not None:
        from calibcli.render.thresholds_terminal import render_thresholds

        parts.append(render_thresholds(report.thresholds))
    for w in report.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    if report.gate is not None:
        from calibcli.render.gate_terminal import render_gate

        parts += [Text(""), render_gate(report.gate)]
    return Group(*parts)
