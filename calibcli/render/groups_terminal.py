"""The subgroup audit (``calib audit --by``) for the terminal and for Markdown. Reads a
:class:`~calibcli.subgroups.result.SubgroupReport`; decides nothing."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from calibcli.subgroups.result import GroupResult, SubgroupReport

DEFAULT_SHOWN = 15  # group rows in the terminal table (the rest are counted in a note)
DIRECTION_STYLE = {"overconfident": "red", "underconfident": "yellow", "calibrated": "green"}


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _interval(g: GroupResult, name: str = "ece") -> str:
    iv = g.intervals.get(name)
    return "" if iv is None else f"[{iv[0]:.3f}, {iv[1]:.3f}]"


def _direction(g: GroupResult) -> str:
    d = g.direction
    if d.says is None:
        return "too few confident rows"
    return f"{d.verdict} ({d.says:.2f} vs {d.observed:.0%})"


def shown_groups(report: SubgroupReport, limit: int = DEFAULT_SHOWN) -> tuple[list[GroupResult], int]:
    """The groups a table shows and how many it leaves out, in :meth:`SubgroupReport.display_order`."""
    groups = report.display_order()
    return groups[:limit], max(0, len(groups) - limit)


def headline(report: SubgroupReport) -> str:
    """One line: how many groups and the worst one (the multicalibration error)."""
    by = " x ".join(report.columns)
    w = report.worst
    head = f"{len(report.groups)} groups by {by} ({len(report.eligible)} with >= {report.min_group_rows} rows)"
    if w is None:
        return f"{head}; no group has enough rows to name a worst group"
    iv = w.intervals.get("ece")
    ci = "" if iv is None else f" [{iv[0]:.3f}, {iv[1]:.3f}]"
    return f"{head}; worst: {w.name}, ECE {w.ece:.3f}{ci}, {w.direction.verdict} (multicalibration error)"


def render_groups(report: SubgroupReport, limit: int = DEFAULT_SHOWN) -> Group:
    """A rich renderable: the headline, one row per group (name, rows, ECE, 95% interval, direction), notes.

    Narrow enough for 80 columns (the group name is cut with an ellipsis first).
    """
    worst = report.worst
    title = Text("Subgroups", style="bold")
    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("group", overflow="ellipsis", max_width=28, no_wrap=True)
    table.add_column("rows", justify="right")
    table.add_column("ECE", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("direction", overflow="fold")
    groups, more = shown_groups(report, limit)
    for g in groups:
        name = Text(g.name, style="bold red" if g is worst else ("dim" if not g.eligible else ""))
        verdict = Text(_direction(g), style=DIRECTION_STYLE.get(g.direction.verdict, ""))
        table.add_row(name, f"{g.n:,}", _num(g.ece), _interval(g), verdict)
    notes = []
    if more:
        notes.append(f"{more} more groups (in the JSON report)")
    small = sum(1 for g in report.groups if not g.eligible)
    if small:
        notes.append(f"{small} groups below --min-group-rows {report.min_group_rows} are dimmed and never the worst")
    notes += list(report.notes)
    notes.append(report.definition)
    return Group(title, Text(headline(report)), table, Text("\n".join(notes), style="dim"))


def groups_markdown(report: SubgroupReport, limit: int = 50) -> str:
    """The subgroup section of the Markdown report (a heading, the headline, a table and the notes)."""
    groups, more = shown_groups(report, limit)
    worst = report.worst
    lines = ["## Subgroups", "", headline(report) + ".", "",
             "| group | rows | ECE | 95% CI | direction |", "|---|---:|---:|---:|---|"]
    for g in groups:
        name = _md(g.name)
        if g is worst:
            name = f"**{name}** (worst)"
        elif not g.eligible:
            name = f"{name} (small)"
        lines.append(f"| {name} | {g.n:,} | {_num(g.ece)} | {_interval(g)} | {_direction(g)} |")
    if more:
        lines += ["", f"{more} more groups (in the JSON report)."]
    lines += [""] + [f"- {n}" for n in (*report.notes, report.definition)]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")
