"""The statistics of issue 13 and the decision verdict for the terminal (rich) and for Markdown.

Reads a :class:`~calibcli.statistics.result.StatisticsResult` or a
:class:`~calibcli.verdict.Verdict`; decides nothing. The tables fit 80 columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from calibcli.statistics.result import STATISTICS

if TYPE_CHECKING:
    from calibcli.statistics.result import CurveStatistics, StatisticsResult
    from calibcli.verdict import Verdict

TITLES = {
    "ece_l2": "L2 ECE (plug-in)", "ece_debiased": "L2 ECE (debiased)", "smece": "smooth ECE", "ecce": "ECCE",
    "ici": "ICI", "e50": "E50", "e90": "E90", "emax": "Emax", "spiegelhalter_z": "Spiegelhalter z",
    "spiegelhalter_p": "Spiegelhalter p", "hosmer_lemeshow": "Hosmer-Lemeshow", "hosmer_lemeshow_p": "Hosmer-Lemeshow p",
    "cox_slope": "Cox slope", "cox_intercept": "Cox intercept", "calibration_in_the_large": "calibration in the large",
    "brier_reliability": "Brier reliability", "brier_resolution": "Brier resolution",
    "brier_uncertainty": "Brier uncertainty", "corp_mcb": "CORP MCB", "corp_dsc": "CORP DSC", "corp_unc": "CORP UNC",
    "auroc": "AUROC", "average_precision": "average precision",
}
CLASS_COLUMNS = ("ece_debiased", "smece", "cox_slope", "auroc")
DEFAULT_CLASS_ROWS = 15
STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "info": "dim"}


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4):
        return f"{x:.2e}"
    return f"{x:.4f}"


def _interval(cs: "CurveStatistics", name: str) -> str:
    iv = cs.intervals.get(name)
    return "" if iv is None else f"[{_num(iv[0])}, {_num(iv[1])}]"


def _curve_title(result: "StatisticsResult") -> str:
    cs = result.headline
    return {"positive": f"positive class '{cs.label}'", "top": "top label", "pooled": "all labels pooled"}.get(
        str(cs.curve), cs.label)


def statistics_table(result: "StatisticsResult") -> Table:
    """The headline curve's statistics: name, value and 95% interval (blank: none; see the conventions)."""
    cs = result.headline
    table = Table(title=f"Statistics ({_curve_title(result)}, n = {cs.rows})", title_justify="left", box=None,
                  pad_edge=False, show_edge=False)
    table.add_column("statistic", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("95% interval", justify="right", no_wrap=True)
    for name in STATISTICS:
        table.add_row(TITLES[name], _num(cs.values.get(name)), _interval(cs, name))
    return table


def class_statistics_table(result: "StatisticsResult", columns: tuple[str, ...] = CLASS_COLUMNS,
                           limit: int = DEFAULT_CLASS_ROWS) -> Table | None:
    """Per class a few statistics (worst smooth ECE first), at most ``limit`` rows; None without classes."""
    if not result.classes:
        return None
    order = sorted(result.classes, key=lambda c: -(c.values.get("smece") or 0.0))
    table = Table(title="Per class", title_justify="left", box=None, pad_edge=False, show_edge=False)
    table.add_column("class", no_wrap=True, max_width=16, overflow="ellipsis")
    for name in columns:
        table.add_column(TITLES[name], justify="right", no_wrap=True)
    for cs in order[:limit]:
        table.add_row(cs.label, *(_num(cs.values.get(name)) for name in columns))
    if len(order) > limit:
        table.caption = f"{len(order) - limit} more classes in the JSON report"
    return table


def statistics_renderable(result: "StatisticsResult") -> Group:
    """The headline table, the per-class table (when there are classes) and the notes on skipped statistics."""
    parts: list = [statistics_table(result)]
    per_class = class_statistics_table(result)
    if per_class is not None:
        parts += [Text(""), per_class]
    skipped = [c.label for c in result.classes if "ici" in c.skipped]
    if skipped:
        parts.append(Text(f"ICI/E50/E90/Emax and CORP bands skipped for {len(skipped)} class(es) "
                          f"(only the {result.scheme['max_full_classes']} with the largest binned ECE get them)",
                          style="dim"))
    if not result.headline.exact:
        parts.append(Text(f"score table coarsened: scores within a relative {result.headline.resolution:.1e} count as "
                          "tied", style="dim"))
    return Group(*parts)


def verdict_renderable(verdict: "Verdict") -> Table:
    """The verdict, one line per use, status coloured."""
    table = Table(title="Verdict", title_justify="left", box=None, pad_edge=False, show_edge=False, show_header=False)
    table.add_column("status", no_wrap=True)
    table.add_column("use", no_wrap=True)
    table.add_column("sentence", overflow="fold")
    for line in verdict.items:
        table.add_row(Text(line.status.upper(), style=STATUS_STYLE[line.status]), line.use, line.sentence)
    return table


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def statistics_markdown(result: "StatisticsResult") -> str:
    """A Markdown section: the headline statistics with intervals and a per-class table."""
    cs = result.headline
    out = [f"## Statistics ({_curve_title(result)}, n = {cs.rows})", "", "| statistic | value | 95% interval |",
           "|---|---:|---:|"]
    out += [f"| {TITLES[n]} | {_num(cs.values.get(n))} | {_interval(cs, n)} |" for n in STATISTICS]
    if result.classes:
        out += ["", "| class | " + " | ".join(TITLES[n] for n in CLASS_COLUMNS) + " |",
                "|---|" + "---:|" * len(CLASS_COLUMNS)]
        out += [f"| {_md_cell(c.label)} | " + " | ".join(_num(c.values.get(n)) for n in CLASS_COLUMNS) + " |"
                for c in result.classes]
    out += ["", "Intervals: " + _md_cell(result.conventions["statistics_intervals"]),
            "", "No interval: " + _md_cell(result.conventions["statistics_no_interval"])]
    return "\n".join(out) + "\n"


def verdict_markdown(verdict: "Verdict") -> str:
    """The verdict as a Markdown list (it opens the report)."""
    lines = ["## Verdict", ""]
    lines += [f"- **{line.status.upper()}** {line.use}: {_md_cell(line.sentence)}" for line in verdict.items]
    return "\n".join(lines) + "\n"
