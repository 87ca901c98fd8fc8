"""GitHub-flavoured Markdown report: verdict first, rules, headline metrics, per-class table.

Used for ``--md-out`` and the GitHub Actions job summary. Reads the report;
computes nothing.
"""

from __future__ import annotations

import re

from calibcli.report import AuditReport, count_note

METRIC_ROWS = (("accuracy", "accuracy"), ("ece", "ECE"), ("mce", "MCE"), ("classwise_ece", "classwise ECE"), ("brier", "Brier"), ("nll", "NLL"))
BINARY_ROWS = (("ece", "ECE (positive class)"), ("ece_top_label", "top-label ECE"))
STATUS = {"pass": "✅ pass", "fail": "❌ fail", "warn": "⚠️ warn"}
REQUIRED = {">": "≤", ">=": "<", "<": "≥", "<=": ">"}
MAX_CLASS_ROWS = 200
_ESCAPE = re.compile(r"([\\`*_{}\[\]<>#|~!$])")


def md_escape(text: str) -> str:
    """Text safe inside a Markdown paragraph or table cell.

    >>> md_escape("a|b_c <x>")
    'a\\\\|b\\\\_c \\\\<x\\\\>'
    """
    text = str(text).replace("&", "&amp;").replace("\r", " ").replace("\n", " ")
    return _ESCAPE.sub(r"\\\1", text)


def _fmt(x: float | None, digits: int = 5) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _verdict(report: AuditReport) -> tuple[str, str]:
    """(emoji, words) of one report's gate."""
    g = report.gate
    if g is None:
        return "ℹ️", "no gate rules"
    n_fail, n_warn, n = len(g.failed), len(g.warned), len(g.rules)
    if not g.passed:
        words = f"failed: {n_fail} of {n} rule{'s' if n != 1 else ''}"
        return "❌", words + (f", {n_warn} warning{'s' if n_warn != 1 else ''}" if n_warn else "")
    if n_warn:
        return "⚠️", f"passed with {n_warn} warning{'s' if n_warn != 1 else ''} ({n} rules)"
    return "✅", f"passed: all {n} rule{'s' if n != 1 else ''}"


def _files(report: AuditReport) -> str:
    f = report.input.files
    return md_escape(f[0] if len(f) == 1 else f"{len(f)} files ({f[0]}, ...)")


def _input_line(report: AuditReport) -> str:
    inp, b = report.input, report.binning
    what = "labels" if inp.task == "multilabel" else "classes"
    kind = "equal-width" if b.strategy == "uniform" else "equal-mass"
    line = (f"**{_files(report)}**: {inp.n_samples:,} rows, {inp.n_classes} {what}, task {inp.task}, "
            f"scores {inp.score_kind}; {b.n_bins} {kind} bins")
    if inp.dropped and not any(a.kind == "dropped" for a in inp.adjustments):
        line += f"; {sum(inp.dropped.values()):,} invalid rows dropped"
    line += "."
    for a in inp.adjustments:  # what calib changed in the rows (--renormalize, --drop-invalid, clipping)
        line += f"\n\n⚠️ Adjusted ({a.kind}, {a.rows:,} row{'s' if a.rows != 1 else ''}): {md_escape(a.detail)}"
        if a.largest_change is not None and "largest change" not in a.detail:
            line += f"; largest change of one probability {a.largest_change:.3g}"
    return line


def _rules_table(report: AuditReport) -> list[str]:
    from calibcli.gate import format_limit, format_value

    g = report.gate
    how = ("the point estimate" if g.on == "point"
           else f"the pessimistic end of a bootstrap 95% interval ({g.replicates} replicates, seed {g.seed})")
    lines = [f"Rules compared on {how}{'; warnings fail (--strict)' if g.strict else ''}.", "",
             "| status | metric | value | required | severity | source |", "|---|---|--:|---|---|---|"]
    for r in g.rules:
        rule = r.rule
        if r.value is None:
            value = "not defined"
        else:
            value = format_value(r.value, rule.limit)
            if r.interval is not None and r.point is not None:
                value += f" (point {format_value(r.point, rule.limit)})"
        required = f"{REQUIRED[rule.op]} {format_limit(rule.limit)}"
        lines.append(f"| {STATUS[r.status]} | {md_escape(r.label)} | {value} | {required} | {rule.severity} | {md_escape(rule.source)} |")
    if g.baseline is not None:
        b = g.baseline
        lines += ["", f"Baseline: {md_escape(', '.join(b.files))}, {b.n_matched:,} rows matched by {b.matched_by}."]
    return lines


def _iv(interval) -> str:
    return "–" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def _metrics_table(report: AuditReport) -> list[str]:
    m = report.measurement
    rows = list(METRIC_ROWS)
    if report.input.task == "binary":
        rows[1:2] = BINARY_ROWS
    if not m.intervals:
        lines = ["| metric | value |", "|---|--:|"]
        for key, label in rows:
            value = getattr(report.metrics, key)
            lines.append(f"| {label} | {_fmt(value) if value is not None else 'not defined for this input'} |")
        return lines
    lines = ["| metric | value | 95% interval | noise floor |", "|---|--:|--:|--:|"]
    for key, label in rows:
        value = getattr(report.metrics, key)
        if value is None:
            lines.append(f"| {label} | not defined for this input | | |")
            continue
        floor = m.noise_floor.get(key)
        lines.append(f"| {label} | {_fmt(value)} | {_iv(m.intervals.get(key))} | {'' if floor is None else _fmt(floor)} |")
    if m.interval_info is not None:
        i = m.interval_info
        lines += ["", f"Intervals: 95% for the population value (same bins), basic bootstrap, {i.replicates} replicates over "
                      f"{i.groups} row groups, seed {i.seed}. Noise floor: what a perfectly calibrated model with these "
                      "scores, rows and bins would show by chance alone."]
    return lines


def _calibration_table(report: AuditReport) -> list[str]:
    """Before/after table of the post-hoc calibration stage, read from its JSON form."""
    cal = report.calibration
    if cal is None or not hasattr(cal, "to_dict"):
        return []
    d = cal.to_dict()
    before, after = d.get("before"), d.get("after")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    what = md_escape(str(d.get("method", "calibration")))
    t = d.get("temperature")
    if isinstance(t, (int, float)):
        what += f" (T = {t:.3f})"
    scheme = (d.get("fit") or {}).get("scheme")
    lines = [f"After {what}, measured on rows not used to fit it" + (f" ({md_escape(scheme)})" if scheme else "") + ":", "",
             "| metric | before | after |", "|---|--:|--:|"]
    for key, label in METRIC_ROWS:
        b, a = before.get(key), after.get(key)
        if b is None and a is None:
            continue
        lines.append(f"| {label} | {_fmt(b)} | {_fmt(a)} |")
    return lines + [""]


def _fmt_ece(c) -> str:
    """A class's ECE with its 95% interval: ``0.0412 [0.036, 0.047]``."""
    iv = c.intervals.get("ece")
    if c.ece is None or iv is None:
        return _fmt(c.ece)
    return f"{c.ece:.4f} [{iv[0]:.3f}, {iv[1]:.3f}]"


def _class_table(report: AuditReport) -> list[str]:
    rows = report.classes_worst_first()
    task = report.input.task
    what = "label" if task == "multilabel" else "class"
    if task == "top_label":  # no Brier score; ECE and direction over the rows predicted as the class
        lines = [f"<details><summary>Per predicted class ({len(rows)}), worst ECE first</summary>", "",
                 md_escape(count_note(task)), "",
                 "| class | support | predicted | ECE | direction |", "|---|--:|--:|--:|---|"]
        cells = [(c, f"{_fmt_ece(c)}") for c in rows[:MAX_CLASS_ROWS]]
    else:
        lines = [f"<details><summary>Per {what} ({len(rows)}), worst ECE first</summary>", "",
                 md_escape(count_note(task)), "",
                 f"| {what} | support | predicted | ECE | Brier | direction |", "|---|--:|--:|--:|--:|---|"]
        cells = [(c, f"{_fmt_ece(c)} | {_fmt(c.brier, 4)}") for c in rows[:MAX_CLASS_ROWS]]
    for c, values in cells:
        lines.append(f"| {md_escape(c.name)} | {c.support:,} | {c.predicted:,} | {values} | {md_escape(c.direction.text)} |")
    if len(rows) > MAX_CLASS_ROWS:
        lines += ["", f"{len(rows) - MAX_CLASS_ROWS} more not shown (see the JSON report)."]
    lines += ["", "</details>"]
    return lines


def _statistics_parts(report: AuditReport, which: str, h: str) -> list[str]:
    """The verdict or the statistics section (calibcli.render.statistics_terminal), headings one level below ``h``."""
    value = getattr(report, which, None)
    if value is None:
        return []
    from calibcli.render.statistics_terminal import statistics_markdown, verdict_markdown

    return _nested((verdict_markdown if which == "verdict" else statistics_markdown)(value), h)


def _nested(text: str, h: str) -> list[str]:
    """The lines of a section rendered on its own (``## `` headings), its headings one level below ``h``."""
    return [f"{h}#{line[2:]}" if line.startswith("## ") else line for line in text.splitlines()] + [""]


def _section(report: AuditReport, level: int, title: str) -> list[str]:
    h = "#" * level
    lines = [f"{h} {title}", "", _input_line(report), ""]
    lines += _statistics_parts(report, "verdict", h)  # the decision verdict opens the report
    if report.gate is not None:
        lines += _rules_table(report) + [""]
    lines += [f"{h}# Metrics", ""] + _metrics_table(report) + [""]
    cal = _calibration_table(report)
    if cal:
        lines += [f"{h}# Calibration", ""] + cal
    lines += _class_table(report) + [""]
    lines += _statistics_parts(report, "statistics", h)  # calib audit --statistics
    if getattr(report, "groups", None) is not None:  # calib audit --by
        from calibcli.render.groups_terminal import groups_markdown

        lines += _nested(groups_markdown(report.groups), h)
    if report.warnings:
        lines += [f"{h}# Warnings", ""] + [f"- {md_escape(w)}" for w in report.warnings] + [""]
    return lines


def render_markdown(reports: list[AuditReport], comparison=None, names: list[str] | None = None) -> str:
    """The Markdown report of one or several (``--per-file``, ``--models``) audits.

    The first line is the verdict: ``## ✅ calib gate passed: ...``,
    ``## ❌ calib gate failed: ...`` or ``## ℹ️ calib audit: no gate rules``.
    ``comparison`` (:class:`calibcli.comparison.Comparison`) comes next when given;
    ``names`` title each report's section (default: its files).
    """
    if len(reports) == 1:
        r = reports[0]
        emoji, words = _verdict(r)
        title = f"{emoji} calib gate {words}" if r.gate is not None else f"{emoji} calib audit: {words}"
        return "\n".join(_section(r, 2, title)).rstrip() + "\n"
    failed = sum(1 for r in reports if r.gate is not None and not r.gate.passed)
    gated = sum(1 for r in reports if r.gate is not None)
    what = "models" if comparison is not None and any(r.score_columns for r in comparison.rows) else "files"
    if not gated:
        head = f"## ℹ️ calib audit: {len(reports)} {what}, no gate rules"
    elif failed:
        head = f"## ❌ calib gate failed: {failed} of {len(reports)} {what}"
    else:
        head = f"## ✅ calib gate passed: all {len(reports)} {what}"
    lines = [head, ""]
    if comparison is not None and len(comparison.rows) > 1:
        from calibcli.render.comparison import comparison_markdown

        lines += comparison_markdown(comparison)
    for i, r in enumerate(reports):
        emoji, words = _verdict(r)
        title = md_escape(names[i]) if names else _files(r)
        lines += _section(r, 3, f"{emoji} {title}: {'gate ' if r.gate is not None else ''}{words}")
    return "\n".join(lines).rstrip() + "\n"
