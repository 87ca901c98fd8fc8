"""The HTML report: one self-contained document (inline CSS, inline SVG figures, no network).

Built from the typed :class:`calibcli.report.AuditReport` (figures, worst-first
order) and its JSON dict (:func:`calibcli.render.jsonout.report_dict`, every
number). Sections, in order: verdict (the decision verdict, one line per use, and
the gate), headline metrics with intervals and noise floors, figures (reliability
before/after, per-class small multiples, confidence, CORP with ``--statistics``),
per-class table, statistics (with ``--statistics``), thresholds, calibrator
comparison, gate, subgroups (table and figures, with ``--by``), conventions,
provenance. The same input and options give the same bytes: no
clock, no random ids, figures saved without dates. Renderers compute nothing.
"""

from __future__ import annotations

from html import escape
from typing import Any, Sequence

from calibcli.render.html_provenance import FileRecord, Provenance, file_records  # noqa: F401 (re-exported)
from calibcli.render.html_sections import audit_article, files_title
from calibcli.render.html_tables import definition_list, fmt_int, paragraph, section, table

__all__ = ["FileRecord", "Provenance", "file_records", "render_html", "render_thresholds_html"]


# ------------------------------------------------------------------ document
def _document(title: str, body: str) -> str:
    from calibcli.render.html_style import CSS, SCRIPT

    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
           "base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"color-scheme\" content=\"light dark\">\n"
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body class=\"calib-body\">\n<div class=\"calib-report\">\n{body}</div>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def render_html(reports: Sequence[Any], provenance: Provenance | None = None, max_panels: int = 25,
                figures: bool = True, comparison: Any = None, names: Sequence[str] | None = None) -> str:
    """The HTML report of one or more audit reports (``--per-file``, ``--models``: one article each, with a
    contents list, after the comparison table when given).

    Parameters
    ----------
    reports : ``AuditReport`` objects.
    provenance : input files with their SHA-256, and the command line.
    max_panels : most per-class panels in the small multiples (worst ECE first).
    figures : draw the figures (False: tables only, faster).
    comparison : a :class:`calibcli.comparison.Comparison` of the reports: a table first, each row
        linking to its report's article.
    names : one title per report (``--models``: the model names); default: its files.

    Returns
    -------
    str
        A complete HTML5 document, the same bytes for the same reports and arguments.
    """
    from calibcli.render.jsonout import report_dict

    provenance = provenance or Provenance()
    parts = []
    many = len(reports) > 1
    titles = list(names) if names else [files_title(r.input.files) for r in reports]
    if many:
        per = "model" if names else "file"
        parts.append("<h1>Calibration audit</h1>\n<p class=\"sub\">" + f"{len(reports)} reports, one per {per}</p>\n")
        if comparison is not None:
            from calibcli.render.html_comparison import comparison_section

            parts.append(comparison_section(comparison, [f"#r{i + 1}" for i in range(len(reports))]))
        items = "".join(f"<li><a href=\"#r{i + 1}\">{escape(titles[i])}</a></li>" for i in range(len(reports)))
        parts.append(f"<nav aria-label=\"Reports\"><ol>{items}</ol></nav>\n")
    for i, report in enumerate(reports):
        prefix = f"r{i + 1}-" if many else ""
        parts.append(audit_article(report, report_dict(report), provenance, prefix, max_panels, figures, many,
                                    titles[i] if names else None))
    title = "calib report: " + files_title([f for r in reports for f in r.input.files])
    return _document(title, "".join(parts))


# --------------------------------------------------------------- thresholds
def render_thresholds_html(results: Sequence[tuple[str, Any]], failures: Sequence[tuple[str, str]], spec,
                           provenance: Provenance | None = None) -> str:
    """The HTML report of ``calib thresholds``: one table per file, the failures, the rule, provenance.

    Parameters
    ----------
    results : (file, ThresholdReport) in input order.
    failures : (file, error message) of the files that could not be read.
    spec : the ``ThresholdSpec`` (objectives, costs, bootstrap).
    provenance : input files with their SHA-256, and the command line.
    """
    from calibcli import __version__
    from calibcli.render.jsonout import clean
    from calibcli.thresholds import RULE, bootstrap_method

    provenance = provenance or Provenance()
    parts = ["<h1>Decision thresholds</h1>\n",
             paragraph(f"{len(results)} file{'s' if len(results) != 1 else ''}"
                + (f", {len(failures)} failed" if failures else "") + f" · calib {__version__}", "sub")]
    if failures:
        items = "".join(f"<li><code>{escape(f)}</code>: {escape(m)}</li>" for f, m in failures)
        parts.append(f"<div class=\"verdict fail\" role=\"status\"><p>Some files failed:</p><ul>{items}</ul></div>\n")
    from calibcli.render.html_tables import threshold_table

    for i, (path, report) in enumerate(results):
        t = clean(report.to_dict())
        content = threshold_table(t["recommendations"], f"{fmt_int(t['n_rows'])} rows · {t['task']}")
        for note in [*(t.get("notes") or ()), t.get("scale_note") if len(t.get("scales") or ()) > 1 else None]:
            if note:
                content += paragraph(note, "note")
        parts.append(section(f"f{i + 1}", path, content))
    conv = definition_list([("rule", RULE), ("intervals", bootstrap_method(spec))])
    parts.append(section("conventions", "Conventions", conv))
    records = {r.name: r for r in provenance.files}
    rows = [[(p, None, "text mono"), (fmt_int(records[p].size) if p in records and records[p].size is not None else "",
                                      records[p].size if p in records else None),
             ((records[p].sha256 or records[p].note) if p in records else "", None, "text mono")]
            for p, _ in results]
    prov = table(["File", "Bytes", "SHA-256"], rows, "Input files as given", label="Input files")
    items = [("Tool", f"calib {__version__}")]
    if provenance.command:
        items.append(("Command", provenance.command))
    parts.append(section("provenance", "Provenance", prov + definition_list(items, mono=("Command",))))
    return _document("calib thresholds: " + files_title([p for p, _ in results] + [f for f, _ in failures]), "".join(parts))
