"""The comparison table (:class:`calibcli.comparison.Comparison`) for the terminal and for Markdown.

Reads the comparison; computes nothing. The terminal table is built for the width
rich gives it: columns are dropped, least important first, until it fits (the name
column folds); without a width limit (output not a terminal) every column is shown.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text

from calibcli.comparison import Comparison, ComparisonRow

__all__ = ["comparison_markdown", "comparison_terminal", "column_keys"]

LABELS = {"accuracy": "accuracy", "ece": "ECE", "mce": "MCE", "classwise_ece": "classwise ECE", "brier": "Brier",
          "nll": "NLL"}
SHORT = {"accuracy": "acc", "ece": "ECE", "mce": "MCE", "classwise_ece": "cw-ECE", "brier": "Brier", "nll": "NLL"}
GATE_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}
VERDICT_STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}
MIN_NAME = 22  # on a narrow terminal the name column gets at least this (longer names fold)
PAD = 2


def _f(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _signed(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def _iv(iv, signed: bool = False) -> str:
    if iv is None or iv[0] is None or iv[1] is None:
        return "-"
    f = _signed if signed else _f
    return f"[{f(iv[0])}, {f(iv[1])}]"


def common_folder(names: list[str]) -> str:
    """The folder all ``names`` (paths) share, with its trailing '/', or '' (shown once under the table).

    >>> common_folder(["runs/a.csv", "runs/b.csv"]), common_folder(["a.csv", "runs/b.csv"]), common_folder(["x/a"])
    ('runs/', '', '')
    """
    if len(names) < 2 or not all("/" in n for n in names):
        return ""
    folder = posixpath.commonpath([posixpath.dirname(n) or "." for n in names])
    if not folder or folder == "." or any(not n.startswith(folder + "/") for n in names):
        return ""
    return folder + "/"


@dataclass(frozen=True)
class _Col:
    key: str
    header: str
    cell: Callable[[ComparisonRow], str]
    right: bool = True


def _columns(c: Comparison, folder: str = "") -> list[_Col]:
    """Every column with something to show, in display order (names without ``folder``)."""
    s = c.sort_by
    cols = [
        _Col("rank", "#", lambda r: str(r.rank)),
        _Col("name", "name", lambda r: r.name[len(folder):], right=False),
        _Col("rows", "rows", lambda r: f"{r.n_samples:,}"),
        _Col("accuracy", "acc", lambda r: _f(r.accuracy)),
        _Col("ece", "ECE", lambda r: _f(r.ece)),
        _Col("ece_interval", "ECE 95%", lambda r: _iv(r.ece_interval)),
        _Col("classwise_ece", "cw-ECE", lambda r: _f(r.classwise_ece)),
        _Col("nll", "NLL", lambda r: _f(r.nll)),
        _Col("brier", "Brier", lambda r: _f(r.brier)),
        _Col("mce", "MCE", lambda r: _f(r.mce)),
        _Col("temperature", "T", lambda r: _f(r.temperature, 3)),
        _Col("gate", "gate", lambda r: r.gate or "no rules", right=False),
        _Col("verdict", "verdict", lambda r: r.verdict or "-", right=False),
        _Col("difference", f"Δ {SHORT[s]}", lambda r: _signed(r.difference.value if r.difference else None)),
        _Col("difference_interval", "Δ 95% (paired)",
             lambda r: _iv(r.difference.interval if r.difference else None, signed=True)),
    ]
    present = {
        "ece_interval": any(r.ece_interval for r in c.rows),
        "temperature": any(r.temperature is not None for r in c.rows),
        "gate": any(r.gate for r in c.rows),
        "verdict": any(r.verdict for r in c.rows),
        "difference_interval": any(r.difference and r.difference.interval for r in c.rows),
        "mce": s == "mce",  # MCE only as the sort metric (the headline table of each report has it)
        "difference": len(c.rows) > 1,
    }
    return [col for col in cols if present.get(col.key, True)]


def _priority(c: Comparison) -> list[str]:
    """Column keys, most important first: what is dropped last on a narrow terminal."""
    first = ["rank", "name", c.sort_by, "difference", "gate", "verdict", "ece", "difference_interval", "ece_interval",
             "accuracy", "classwise_ece", "brier", "nll", "temperature", "rows", "mce"]
    return list(dict.fromkeys(first))


def column_keys(c: Comparison, width: int | None, folder: str = "") -> list[str]:
    """The columns shown at ``width`` characters (None: no limit), in display order.

    The name column counts its longest name, at most ``MIN_NAME``.
    """
    cols = _columns(c, folder)
    widths = {}
    for col in cols:
        cells = [col.header] + [col.cell(r) for r in c.rows]
        widths[col.key] = max(len(x) for x in cells)
    if width is None:
        return [col.key for col in cols]
    widths["name"] = min(widths["name"], MIN_NAME)
    keep = [k for k in _priority(c) if k in widths]
    while len(keep) > 3 and sum(widths[k] for k in keep) + PAD * (len(keep) - 1) > width:
        keep.pop()
    return [col.key for col in cols if col.key in keep]


def _table(c: Comparison, width: int | None, folder: str = "") -> Table:
    keys = column_keys(c, width, folder)
    cols = {col.key: col for col in _columns(c, folder)}
    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, PAD, 0, 0))
    longest = max(len(x) for x in ["name"] + [r.name[len(folder):] for r in c.rows])
    for k in keys:
        col = cols[k]
        if k == "name":
            table.add_column(col.header, overflow="fold", min_width=min(longest, MIN_NAME))
        else:
            table.add_column(col.header, justify="right" if col.right else "left", no_wrap=True)
    for r in c.rows:
        cells = []
        for k in keys:
            text = cols[k].cell(r)
            style = (GATE_STYLE.get(r.gate, "") if k == "gate" else VERDICT_STYLE.get(r.verdict, "") if k == "verdict"
                     else "bold" if k == c.sort_by else "")
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    return table


class _FitWidth:
    def __init__(self, c: Comparison):
        self.c = c

    def __rich_console__(self, console, options):
        from calibcli.cli.consoles import UNBOUNDED

        width = options.max_width
        yield _table(self.c, None if width >= UNBOUNDED else width, common_folder([r.name for r in self.c.rows]))


def _title(c: Comparison) -> str:
    order = "lowest" if c.ascending else "highest"
    return f"Comparison, best first by {LABELS[c.sort_by]} ({order} first)"


def _footer(c: Comparison, folder: str = "") -> list[str]:
    lines = [f"Files in {folder}"] if folder else []
    if len(c.rows) > 1 and c.best is not None:
        lines.append(f"Δ: {LABELS[c.sort_by]} minus that of the best row ({c.best}).")
    if c.paired:
        p = c.paired
        lines.append(f"Δ 95%: paired basic bootstrap on the shared rows ({p['replicates']} replicates, seed {p['seed']}).")
    if any(r.verdict for r in c.rows):
        lines.append("verdict: the status of each report's decision verdict (ok, warn, fail).")
    lines += list(c.notes)
    return lines


def comparison_terminal(c: Comparison) -> Group:
    """The comparison as a rich renderable: title, table (fitted to the width), notes."""
    parts = [Text(_title(c), style="bold"), _FitWidth(c)]
    parts += [Text(line, style="dim") for line in _footer(c, common_folder([r.name for r in c.rows]))]
    return Group(*parts)


def comparison_markdown(c: Comparison, links: dict[int, str] | None = None) -> list[str]:
    """Lines of a Markdown section: the table with every column, then notes.

    ``links``: report index -> anchor, to link each name to its section.
    """
    from calibcli.render.markdown import md_escape

    cols = _columns(c)
    lines = [f"### {md_escape(_title(c))}", "",
             "| " + " | ".join(md_escape(col.header) for col in cols) + " |",
             "|" + "|".join("---:" if col.right else "---" for col in cols) + "|"]
    for r in c.rows:
        cells = []
        for col in cols:
            text = md_escape(col.cell(r))
            if col.key == "name" and links and r.report in links:
                text = f"[{text}](#{links[r.report]})"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [md_escape(line) for line in _footer(c)]
    return lines + [""]
