"""The comparison table at the top of a multi-report HTML document (``--per-file``, ``--models``).

Reads a :class:`calibcli.comparison.Comparison`; computes nothing. Each row's name
links to its report's article; the table is sortable where a browser runs the
report's script and fully readable without it (best first by ``sort_by``).
"""

from __future__ import annotations

from typing import Any, Sequence

from calibcli.render.html_tables import METRIC_NAMES, fmt, fmt_ci, fmt_int, paragraph, section, table

__all__ = ["comparison_section"]


def _signed(x) -> str:
    return "n/a" if x is None else f"{x:+.4f}"


def _signed_ci(iv) -> str:
    if not iv or iv[0] is None or iv[1] is None:
        return ""
    return f"[{_signed(iv[0])}, {_signed(iv[1])}]"


def comparison_section(c: Any, anchors: Sequence[str]) -> str:
    """The ``<section id="comparison">``: caption, table (one row per report, best first) and notes.

    ``anchors[i]`` is the link target of report ``i`` (its article).
    """
    name = METRIC_NAMES.get(c.sort_by, c.sort_by)
    rows = c.rows
    has = {
        "ece_ci": any(r.ece_interval for r in rows),
        "t": any(r.temperature is not None for r in rows),
        "gate": any(r.gate for r in rows),
        "verdict": any(r.verdict for r in rows),
        "diff_ci": any(r.difference and r.difference.interval for r in rows),
    }
    columns = (["Report", "Rank"] + (["Gate"] if has["gate"] else []) + (["Verdict"] if has["verdict"] else [])
               + [f"Δ {name} vs best"] + (["Δ 95% (paired)"] if has["diff_ci"] else [])
               + ["Accuracy", "ECE"] + (["ECE 95%"] if has["ece_ci"] else []) + ["Classwise ECE", "NLL", "Brier"]
               + (["MCE"] if c.sort_by == "mce" else []) + (["Fitted T"] if has["t"] else []) + ["Rows"])
    body = []
    for r in rows:
        href = anchors[r.report] if r.report < len(anchors) else ""
        row = [(r.name, None, "", href), (str(r.rank), r.rank)]
        if has["gate"]:
            row.append((r.gate.upper() if r.gate else "no rules", None, f"text gate-{r.gate or 'none'}"))
        if has["verdict"]:
            row.append((r.verdict.upper() if r.verdict else "n/a", None, f"text verdict-{r.verdict or 'none'}"))
        d = r.difference
        row.append((_signed(d.value if d else None), d.value if d else None))
        if has["diff_ci"]:
            row.append((_signed_ci(d.interval if d else None), None, "ci"))
        row += [(fmt(r.accuracy), r.accuracy), (fmt(r.ece), r.ece)]
        if has["ece_ci"]:
            row.append((fmt_ci(r.ece_interval), None, "ci"))
        row += [(fmt(r.classwise_ece), r.classwise_ece), (fmt(r.nll), r.nll), (fmt(r.brier), r.brier)]
        if c.sort_by == "mce":
            row.append((fmt(r.mce), r.mce))
        if has["t"]:
            row.append((fmt(r.temperature, 3), r.temperature))
        row.append((fmt_int(r.n_samples), r.n_samples))
        body.append(row)
    order = "lowest" if c.ascending else "highest"
    caption = f"Reports side by side, best first by {name} ({order} first)"
    notes = []
    if len(rows) > 1 and c.best is not None:
        notes.append(f"Δ: {name} of the report minus that of the best report ({c.best}).")
    if c.paired:
        p = c.paired
        notes.append(f"Paired 95% intervals: basic bootstrap of the differences on the rows both reports audited "
                     f"({p['replicates']} replicates, seed {p['seed']}; the same row gets the same weight in every model).")
    notes += list(c.notes)
    content = table(columns, body, caption, sortable=True, label="Comparison") + "".join(
        paragraph(n, "note") for n in notes)
    return section("comparison", "Comparison", content)
