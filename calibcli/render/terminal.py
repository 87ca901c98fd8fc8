"""Rich renderables for the terminal. Reads the report; decides nothing."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from calibcli.report import AuditReport

VARIANTS = {
    "accuracy": "argmax is correct",
    "ece": "top-label, {bins}",
    "mce": "top-label, max gap over non-empty bins",
    "classwise_ece": "mean of one-vs-rest ECEs, {bins}",
    "brier": "sum over classes, mean over rows",
    "nll": "natural log, p clipped at 1e-12",
}
ML_VARIANTS = {
    "accuracy": "per (row, label) at 0.5",
    "ece": "pooled over (row, label) pairs, {bins}",
    "mce": "pooled, max gap over non-empty bins",
    "classwise_ece": "mean of per-label ECEs, {bins}",
    "brier": "sum over labels, mean over rows",
    "nll": "binary cross-entropy summed over labels, mean over rows",
}
LABELS = {"accuracy": "accuracy", "ece": "ECE", "mce": "MCE", "classwise_ece": "classwise ECE", "brier": "Brier", "nll": "NLL"}
DIRECTION_STYLE = {"overconfident": "red", "underconfident": "yellow", "calibrated": "green"}


def fmt(x: float | None, digits: int = 5) -> str:
    """A metric value for display; '-' when it does not apply."""
    return "-" if x is None else f"{x:.{digits}f}"


def short_direction(d) -> str:
    """The direction phrase for a narrow table column."""
    if d.says is None:
        return f"too few confident rows ({d.count})"
    return f"{d.verdict}: says {d.says:.2f}, right {d.observed:.0%}"


def _bins_text(report: AuditReport) -> str:
    b = report.binning
    kind = "equal-width" if b.strategy == "uniform" else "equal-mass"
    return f"{b.n_bins} {kind} bins"


def summary(report: AuditReport) -> Group:
    """Header lines and the headline metrics table."""
    inp = report.input
    files = inp.files[0] if len(inp.files) == 1 else f"{len(inp.files)} files ({inp.files[0]}, ...)"
    head = Text()
    head.append("calib audit", style="bold")
    head.append(f"  {files}\n")
    head.append(f"{inp.n_samples:,} rows, {inp.n_classes} {'labels' if inp.task == 'multilabel' else 'classes'}, task {inp.task}\n")
    head.append(f"scores: {inp.score_kind} ({'; '.join(inp.score_kind_evidence)})\n")
    head.append(f"binning: {_bins_text(report)}, {report.binning.edge_rule}")
    if inp.dropped:
        head.append(f"\ndropped: {sum(inp.dropped.values()):,} invalid rows", style="yellow")
    variants = ML_VARIANTS if inp.task == "multilabel" else VARIANTS
    table = Table(title=None, show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("variant", overflow="fold")
    for key, label in LABELS.items():
        value = getattr(report.metrics, key)
        table.add_row(label, fmt(value), variants[key].format(bins=_bins_text(report)) if value is not None else "not defined for this input")
    return Group(head, Text(""), table)


def class_table(report: AuditReport, limit: int = 20) -> Group:
    """Per-class table, worst ECE first, at most ``limit`` rows."""
    rows = report.classes_worst_first()
    what = "label" if report.input.task == "multilabel" else "class"
    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column(what, overflow="ellipsis", max_width=24)
    table.add_column("support", justify="right")
    table.add_column("ECE", justify="right")
    table.add_column("Brier", justify="right")
    table.add_column("direction", overflow="fold")
    for c in rows[:limit]:
        table.add_row(c.name, f"{c.support:,}", fmt(c.ece), fmt(c.brier, 4),
                      Text(short_direction(c.direction), style=DIRECTION_STYLE.get(c.direction.verdict, "dim")))
    title = Text(f"Per {what}, worst ECE first", style="bold")
    parts = [title, table]
    if len(rows) > limit:
        parts.append(Text(f"... {len(rows) - limit} more {what}es not shown (--max-classes to show more)" if what == "class"
                          else f"... {len(rows) - limit} more labels not shown (--max-classes to show more)", style="dim"))
    return Group(*parts)


def render_audit(report: AuditReport, max_classes: int = 20) -> Group:
    """The whole terminal report."""
    parts = [summary(report), Text(""), class_table(report, max_classes)]
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
