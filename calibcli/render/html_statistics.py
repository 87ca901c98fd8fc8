"""HTML sections of issue 13: the decision verdict, the statistics tables, the CORP and subgroup figures,
and the subgroup table. Reads the report (typed and its JSON dict); computes nothing.
"""

from __future__ import annotations

from html import escape
from calibcli.render.html_tables import fmt, fmt_ci, fmt_int, interval_of, paragraph, section, table

__all__ = ["verdict_section", "statistics_section", "corp_inline", "groups_section"]

#: the verdict's status -> the CSS class of its box and badge
STATUS_CLASS = {"ok": "pass", "warn": "warn", "fail": "fail", "info": "info"}
#: the gate's words -> the verdict box's class
GATE_CLASS = {"pass": "pass", "warn": "warn", "fail": "fail"}
_ORDER = ("", "info", "pass", "warn", "fail")


def _worst(*classes: str) -> str:
    return max(classes, key=lambda c: _ORDER.index(c) if c in _ORDER else 0)


def _p(text: str) -> str:
    return paragraph(text, "note")


# ------------------------------------------------------------------ verdict
def _verdict_uses(v: dict) -> str:
    items = []
    for line in v.get("lines") or ():
        status = str(line.get("status", ""))
        badge = f"<span class=\"badge {STATUS_CLASS.get(status, '')}\">{escape(status.upper())}</span>"
        items.append(f"<li>{badge} <strong>{escape(str(line.get('use', '')))}</strong>: "
                     f"{escape(str(line.get('sentence', '')))}</li>")
    return f"<ul class=\"uses\">{''.join(items)}</ul>" if items else ""


def _gate_summary(gate: dict) -> tuple[str, str]:
    """The gate's line (with its failed and warned rules) and the box class it asks for."""
    failed = [r for r in gate["rules"] if r["status"] == "fail"]
    warned = [r for r in gate["rules"] if r["status"] == "warn"]
    cls = "fail" if not gate["passed"] else ("warn" if warned else "pass")
    n = len(gate["rules"])
    word = "Gate passed" if gate["passed"] else "Gate failed"
    summary = (f"{word}: {n - len(failed) - len(warned)} of {n} rule{'s' if n != 1 else ''} hold"
               + (f", {len(failed)} failed" if failed else "") + (f", {len(warned)} warned" if warned else "") + ".")
    badge = f"<span class=\"badge {cls}\">{'PASS' if gate['passed'] else 'FAIL'}</span> "
    items = "".join(f"<li>{escape(r['message'])}</li>" for r in failed + warned)
    word, _, rest = summary.partition(":")
    return (f"<p class=\"gate-line\">{badge}<strong>{escape(word)}</strong>:{escape(rest)}</p>"
            + (f"<ul>{items}</ul>" if items else ""), cls)


def verdict_section(d: dict, prefix: str, summary_line: str) -> str:
    """The section that opens a report: the decision verdict (one line per use, each with its status),
    then the gate's outcome; without either, ``summary_line``."""
    v = d.get("verdict") if isinstance(d.get("verdict"), dict) else None
    gate = d.get("gate")
    body, cls = "", ""
    if v is not None:
        status = str(v.get("status", ""))
        info = any(line.get("status") == "info" for line in v.get("lines") or ())
        head = (f"<p><span class=\"badge {STATUS_CLASS.get(status, '')}\">{escape(status.upper())}</span> "
                f"<strong>Decision verdict</strong>: what these scores may be used for (calibration tolerance "
                f"{v.get('tolerance'):g}{'; INFO: not measured, not counted' if info else ''}).</p>")
        body += head + _verdict_uses(v)
        cls = STATUS_CLASS.get(status, "")
    if gate:
        gate_html, gate_cls = _gate_summary(gate)
        body += gate_html
        cls = _worst(cls, gate_cls)
    title = "Verdict" if v is not None else ("Gate" if gate else "Summary")
    if not body:
        body = f"<p>{escape(summary_line)}</p>"
    return section(f"{prefix}verdict", title, f"<div class=\"verdict {cls}\" role=\"status\">{body}</div>\n")


# ------------------------------------------------------------------ statistics
def statistics_section(report, prefix: str, class_rows: int = 50) -> str:
    """The statistics of the headline curve (value and 95% interval), per class a few of them (worst smooth
    ECE first), and the conventions of their intervals. Empty without ``report.statistics``."""
    st = getattr(report, "statistics", None)
    if st is None:
        return ""
    from calibcli.render.statistics_terminal import CLASS_COLUMNS, TITLES, _curve_title
    from calibcli.statistics.result import STATISTICS

    cs = st.headline
    rows = [[(TITLES[n], None), (fmt(cs.values.get(n)), cs.values.get(n)), (fmt_ci(cs.intervals.get(n)), None, "ci")]
            for n in STATISTICS]
    parts = [table(["Statistic", "Value", "95% interval"], rows,
                   f"{_curve_title(st)}, {fmt_int(cs.rows)} rows (blank interval: none, see below)", label="Statistics")]
    if st.classes:
        order = sorted(st.classes, key=lambda c: -(c.values.get("smece") or 0.0))
        crow = [[(c.label, None)] + [(fmt(c.values.get(n)), c.values.get(n)) for n in CLASS_COLUMNS]
                for c in order[:class_rows]]
        more = f"; {len(order) - class_rows} more classes in the JSON report" if len(order) > class_rows else ""
        parts.append(table(["Class"] + [TITLES[n] for n in CLASS_COLUMNS], crow,
                           f"Per class, worst smooth ECE first (click a column head to sort){more}", sortable=True,
                           label="Statistics per class"))
    for key, words in (("statistics_intervals", "Intervals"), ("statistics_no_interval", "No interval")):
        text = st.conventions.get(key)
        if text:
            parts.append(_p(f"{words}: {text}"))
    return section(f"{prefix}statistics", "Statistics", "".join(parts))


def corp_inline(report):
    """The CORP reliability diagram as an :class:`~calibcli.render.html_figures.InlineFigure` (SVG), or None."""
    st = getattr(report, "statistics", None)
    if st is None or st.corp is None:
        return None
    from calibcli.render.corp_plot import corp_figure
    from calibcli.render.html_figures import inline_figure

    title = "CORP reliability diagram" + (f" ({st.headline.label})" if st.task == "binary" else "")
    v = st.headline.values
    alt = ("CORP reliability diagram: the PAV (isotonic) recalibration of the scores against the scores, with its "
           "consistency band and the diagonal, and a histogram of the scores. Brier decomposition: miscalibration "
           f"MCB {fmt(v.get('corp_mcb'))}, discrimination DSC {fmt(v.get('corp_dsc'))}, uncertainty "
           f"UNC {fmt(v.get('corp_unc'))}.")
    return inline_figure("corp", corp_figure(st.corp, title), alt, title)


# ------------------------------------------------------------------ subgroups
def _group_figures(groups, overall_ece) -> list:
    from calibcli.render.groups_plot import drift_figure, groups_figure
    from calibcli.render.html_figures import inline_figure

    shown = groups.display_order()
    worst = groups.worst
    alt = (f"One small reliability diagram per subgroup of {', '.join(groups.columns)}, "
           + ("in time order: " if groups.time_columns == groups.columns else "worst ECE first: ")
           + ", ".join(f"{g.name} (ECE {fmt(g.ece)}, {fmt_int(g.n)} rows)" for g in shown[:8])
           + (f" and {len(shown) - 8} more" if len(shown) > 8 else "") + "."
           + (f" Worst group: {worst.name}." if worst is not None else ""))
    out = []
    out.append(inline_figure("groups", groups_figure(groups), alt, "Reliability per subgroup"))
    if groups.time_columns:
        alt = (f"Calibration drift: the ECE of each period of {', '.join(groups.time_columns)} with its 95% interval"
               + (f", against the ECE over all rows ({fmt(overall_ece)})" if overall_ece is not None else "") + ".")
        out.append(inline_figure("drift", drift_figure(groups, overall_ece), alt, "Calibration drift over time"))
    return out


def groups_section(report, prefix: str, figures: bool = True, rows_limit: int = 200) -> str:
    """The subgroup table (in ``display_order``: periods in time order, else worst ECE first), the worst group,
    the multicalibration error, how columns were cut, and the groups (and drift) figures."""
    groups = getattr(report, "groups", None)
    if groups is None:
        return ""
    shown = groups.display_order()
    has_floor = any(g.noise_floor.get("ece") is not None for g in shown)
    columns = (["Group", "Rows", "ECE", "95% interval"] + (["Noise floor"] if has_floor else [])
               + ["MCE", "Brier", "Accuracy", "Direction"])
    worst = groups.worst
    rows = []
    for g in shown[:rows_limit]:
        name = g.name + (" (worst)" if g is worst else "") + ("" if g.eligible else " (small)")
        row = [(name, None), (fmt_int(g.n), g.n), (fmt(g.ece), g.ece), (fmt_ci(interval_of(g.intervals.get("ece"))), None, "ci")]
        if has_floor:
            row.append((fmt(g.noise_floor.get("ece")), g.noise_floor.get("ece")))
        m = g.metrics
        row += [(fmt(m.mce), m.mce), (fmt(m.brier), m.brier), (fmt(m.accuracy), m.accuracy),
                (g.direction.text or g.direction.verdict, None, "text")]
        rows.append(row)
    more = f"; {len(shown) - rows_limit} more groups in the JSON report" if len(shown) > rows_limit else ""
    caption = (f"One row per group of {', '.join(groups.columns)}: groups with at least {fmt_int(groups.min_group_rows)} "
               f"rows worst ECE first, then the small ones (click a column head to sort){more}")
    parts = [table(columns, rows, caption, sortable=True, label="Subgroups")]
    if worst is not None:
        iv = worst.intervals.get("ece")
        parts.append(f"<p><strong>Worst group: {escape(worst.name)}</strong>, ECE {fmt(worst.ece)}"
                     + (f" (95% interval {fmt_ci(iv)})" if iv is not None else "")
                     + f", {escape(worst.direction.verdict)}, {fmt_int(worst.n)} rows.</p>\n")
    else:
        parts.append(_p(f"No group has at least {fmt_int(groups.min_group_rows)} rows and a defined ECE: no worst group."))
    definition = groups.definition.partition(": ")[2] or groups.definition
    parts.append(_p(f"Multicalibration error {fmt(groups.multicalibration_error)}: {definition}"))
    for note in groups.notes:
        parts.append(_p(note))
    if figures:
        from calibcli.render.html_figures import figure_html

        parts += [figure_html(fig, prefix, fig.caption) for fig in _group_figures(groups, report.metrics.ece)]
    return section(f"{prefix}groups", "Subgroups", "".join(parts))

