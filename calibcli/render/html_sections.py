"""The sections of one audit's HTML article: verdict, headline, figures, classes, thresholds, calibration,
gate, conventions and provenance (the statistics and subgroups sections are :mod:`calibcli.render.html_statistics`).

Each section reads the report's JSON dict (and the typed report for figures and ordering); nothing is computed.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

from calibcli.render.html_provenance import FileRecord, Provenance
from calibcli.render.html_statistics import groups_section, statistics_section, verdict_section
from calibcli.render.html_tables import (METRIC_NAMES, definition_list, fmt, fmt_ci, fmt_int, interval_of, paragraph,
                                         section, table)


def files_title(files: Sequence[str]) -> str:
    """The title of a report of ``files``: the first file, with how many more."""
    if not files:
        return "(no file)"
    return files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"


#: the headline metrics, in the JSON's order (calibcli.schema.METRIC_KEYS)
HEADLINE_KEYS = ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll", "ece_top_label")


def _metric_name(key: str) -> str:
    return METRIC_NAMES.get(key, key)


def audit_article(report, d: dict, prov: Provenance, prefix: str, max_panels: int, figures: bool, many: bool,
                   name: str | None = None) -> str:
    inp = d["input"]
    title = name or (files_title(inp["files"]) if inp["files"] else "in-memory data")
    out = [f"<article id=\"{prefix.rstrip('-') or 'report'}\">\n"]
    out.append(f"<h1>{'Calibration audit: ' if not many else ''}{escape(title)}</h1>\n")
    out.append(paragraph((f"{files_title(inp['files'])} · " if name and inp["files"] else "") +
                  f"{fmt_int(inp['n_samples'])} rows · {inp['n_classes']} classes · {inp['task']} · "
                  f"scores read as {inp['score_kind']} · {d['binning']['n_bins']} {d['binning']['strategy']} bins · "
                  f"calib {d['tool']['version']}", "sub"))
    out.append(_verdict(d, prefix))
    out.append(_headline(d, prefix))
    if figures:
        out.append(_figures(report, prefix, max_panels))
    out.append(_classes(report, d, prefix))
    out.append(statistics_section(report, prefix))
    if d.get("thresholds"):
        out.append(_thresholds(d["thresholds"], prefix))
    if d.get("calibration"):
        out.append(_calibration(d["calibration"], prefix))
    if d.get("gate"):
        out.append(_gate(d["gate"], prefix))
    if getattr(report, "groups", None) is not None:
        out.append(groups_section(report, prefix, figures))
    out.append(_conventions(d, prefix))
    out.append(_provenance(d, prov, prefix))
    out.append("</article>\n")
    return "".join(out)


def _verdict(d: dict, prefix: str) -> str:
    return verdict_section(d, prefix, _summary_line(d))


def _summary_line(d: dict) -> str:
    m = d["metrics"]
    inp = d["input"]
    key = "ece" if m.get("ece") is not None else "classwise_ece"
    line = f"{_metric_name(key)} {fmt(m.get(key))} on {fmt_int(inp['n_samples'])} rows ({inp['task']})"
    ci = interval_of((d.get("intervals") or {}).get(key))
    if ci:
        line += f", 95% interval {fmt_ci(ci)}"
    cal = d.get("calibration")
    if cal and cal.get("after", {}).get(key) is not None:
        line += (f"; {cal['method']} calibration brings it to {fmt(cal['after'][key])} on held-out rows "
                 f"(from {fmt(cal['before'][key])})")
    worst = max((c for c in d["classes"] if c.get("ece") is not None), key=lambda c: c["ece"], default=None)
    if worst is not None and inp["task"] != "binary":
        line += f"; worst class {worst['name']} (ECE {fmt(worst['ece'])}, {worst['direction']['verdict']})"
    return line + "."


def _headline(d: dict, prefix: str) -> str:
    cal = d.get("calibration") or {}
    intervals = d.get("intervals") or {}
    floors = {k: v for k, v in (d.get("noise_floor") or {}).items() if v is not None}
    n = d["input"]["n_samples"]
    evaluated = (cal.get("fit") or {}).get("evaluated_rows")
    same_rows = evaluated is None or evaluated == n
    columns = ["Metric", "All rows" if cal else "Value"]
    if intervals:
        columns.append("95% interval")
    if floors:
        columns.append("Noise floor")
    if cal and not same_rows:
        columns.append("Before (evaluated rows)")
    if cal:
        columns.append(f"After {cal['method']}")
    rows = []
    for key in HEADLINE_KEYS:  # the statistics of --statistics (merged into the JSON metrics) have their own table
        if key not in d["metrics"]:
            continue
        value = d["metrics"][key]
        row = [(_metric_name(key), None), (fmt(value), value)]
        if intervals:
            ci = interval_of(intervals.get(key))
            row.append((fmt_ci(ci), None, "ci"))
        if floors:
            row.append((fmt(floors.get(key)) if key in floors else "", floors.get(key)))
        if cal and not same_rows:
            v = (cal.get("before") or {}).get(key)
            row.append((fmt(v), v))
        if cal:
            v = (cal.get("after") or {}).get(key)
            row.append((fmt(v), v))
        rows.append(row)
    caption = "Headline metrics over all rows"  # short: a caption scrolls with a wide table on a phone
    notes = []
    if cal:
        notes.append(f"After: {cal['method']} fitted and measured on disjoint rows "
                     f"({fmt_int(evaluated) if evaluated is not None else 'all'} rows evaluated).")
    if intervals:
        notes.append("95% interval: for the population value (see Conventions: intervals).")
    if floors:
        notes.append("Noise floor: the value a perfectly calibrated model with these scores, rows and bins would "
                     "show by chance alone; a value near it is consistent with a calibrated model.")
    content = table(columns, rows, caption, label="Headline metrics") + "".join(paragraph(n, "note") for n in notes)
    return section(f"{prefix}headline", "Headline metrics", content)


def _figures(report, prefix: str, max_panels: int) -> str:
    from calibcli.render.html_figures import figure_html, report_figures

    from calibcli.render.html_statistics import corp_inline

    titles = {"reliability": "Figure 1. Reliability diagram", "classes": "Figure 2. Reliability per class",
              "confidence": "Figure 3. Confidence histogram", "corp": "Figure 4. CORP reliability diagram"}
    corp = corp_inline(report)
    figures = (*report_figures(report, max_panels), *((corp,) if corp is not None else ()))
    parts = [figure_html(fig, prefix, titles[fig.key]) for fig in figures]
    return section(f"{prefix}figures", "Figures", "".join(parts))


def _classes(report, d: dict, prefix: str) -> str:
    from calibcli.report import count_note

    by_name = {c["name"]: c for c in d["classes"]}
    cal = d.get("calibration") or {}
    after = {c["name"]: c for c in cal.get("classes") or ()}
    has_ci = any(c.get("intervals") for c in d["classes"])
    columns = ["Class", "Support", "Predicted", "ECE"] + (["95% interval"] if has_ci else []) + ["Brier", "Direction"]
    if after:
        columns.append(f"ECE after {cal['method']}")
    rows = []
    for c in report.classes_worst_first():
        x = by_name[c.name]
        row = [(x["name"], None), (fmt_int(x["support"]), x["support"]), (fmt_int(x["predicted"]), x["predicted"]),
               (fmt(x["ece"]), x["ece"])]
        if has_ci:
            row.append((fmt_ci(interval_of((x.get("intervals") or {}).get("ece"))), None, "ci"))
        row += [(fmt(x["brier"]), x["brier"]), (x["direction"].get("text") or x["direction"].get("verdict", ""), None, "text")]
        if after:
            v = (after.get(c.name) or {}).get("ece_after")
            row.append((fmt(v), v))
        rows.append(row)
    caption = "One row per class, worst ECE first (click a column head to sort)"
    note = count_note(d["input"]["task"])
    return section(f"{prefix}classes", "Per-class calibration",
                    table(columns, rows, caption, sortable=True, label="Per-class calibration") + paragraph(note, "note"))


def _thresholds(t: dict, prefix: str) -> str:
    from calibcli.render.html_tables import threshold_table

    parts = [threshold_table(t["recommendations"], "Recommended thresholds")]
    for note in [*(t.get("notes") or ()), t.get("scale_note")]:
        if note:
            parts.append(paragraph(note, "note"))
    parts.append(paragraph(f"Rule: {t['rule']}.", "note"))
    parts.append(paragraph(f"Intervals: {t['method']}.", "note"))
    return section(f"{prefix}thresholds", "Decision thresholds", "".join(parts))


def _calibration(cal: dict, prefix: str) -> str:
    parts = []
    fit = cal.get("fit") or {}
    facts = [("Method", cal["method"])]
    if cal.get("temperature") is not None:
        ci = cal.get("temperature_ci")
        facts.append(("Temperature T", f"{cal['temperature']:.4f}" + (f" (95% interval {fmt_ci(ci)})" if ci else "")))
    if cal.get("per_label_temperatures"):
        facts.append(("Temperatures per label", "; ".join(f"{x[0]}: {fmt(x[1])} ({fmt_ci(x[2:4])})"
                                                           for x in cal["per_label_temperatures"])))
    if fit.get("description"):
        facts.append(("Rows", fit["description"]))
    if cal.get("accuracy_unchanged") is not None:
        facts.append(("Accuracy unchanged", "yes" if cal["accuracy_unchanged"] else "no"))
    parts.append(definition_list(facts))
    comparison = cal.get("comparison") or []
    if comparison:
        keys = [k for k in ("nll", "ece", "classwise_ece", "brier", "mce", "accuracy") if k in comparison[0]]
        columns = ["Calibrator"] + [_metric_name(k) for k in keys] + ["Best"]
        rows = [[(s["method"], None)] + [(fmt(s.get(k)), s.get(k)) for k in keys] + [("best" if s.get("best") else "", None)]
                for s in comparison]
        parts.append(table(columns, rows, "Every calibrator on the same held-out rows; best = lowest NLL, only if "
                                           "below the uncalibrated scores'", sortable=True, label="Calibrator comparison"))
        if cal.get("none_helps"):
            parts.append(paragraph("No calibrator lowers the held-out NLL below the uncalibrated scores'.", "note"))
    for w in cal.get("warnings") or ():
        parts.append(paragraph(f"warning: {w}", "note"))
    return section(f"{prefix}calibration", "Calibrator comparison" if comparison else "Calibration", "".join(parts))


def _gate(g: dict, prefix: str) -> str:
    columns = ["Rule", "Value", "95% interval", "Severity", "Status", "Source"]
    rows = []
    for r in g["rules"]:
        status = r["status"]
        sel = f"[{r['selector']}]" if r.get("selector") else ""
        about = f" (group {r['group']})" if r.get("group") and not sel else ""
        rows.append([(f"{r['metric']}{sel} {r['op']} {fmt(r['limit'])}{about}", None), (fmt(r.get("value")), r.get("value")),
                     (fmt_ci(interval_of(r.get("interval"))), None, "ci"), (r["severity"], None, "text"),
                     (("✓ " if status == "pass" else "✗ ") + status, None, "text " + ("pass-text" if status == "pass" else "fail-text")),
                     (r.get("source") or "", None, "text")])
    caption = f"Each rule fails when it holds; compared on the {'point estimate' if g['on'] == 'point' else 'pessimistic interval end'}"
    parts = [table(columns, rows, caption, label="Gate rules")]
    base = g.get("baseline")
    if base:
        parts.append(paragraph(f"Baseline: {', '.join(base.get('files', [])) if isinstance(base, dict) else base}", "note"))
    return section(f"{prefix}gate", "Gate results", "".join(parts))


def _conventions(d: dict, prefix: str) -> str:
    from calibcli.report import count_note

    b = d["binning"]
    items = [("bins", f"{b['n_bins']} {b['strategy']} bins; {b['edge_rule']}"
              + ("" if b.get("edges_exact", True) else f" (edges from a sketch, rank error {fmt(b.get('edges_rank_error'))})"))]
    items += [(k, v) for k, v in d["conventions"].items() if k != "bins"]
    items.append(("counts", count_note(d["input"]["task"])))
    return section(f"{prefix}conventions", "Conventions", definition_list(items))


def _provenance(d: dict, prov: Provenance, prefix: str) -> str:
    inp = d["input"]
    records = {r.name: r for r in prov.files}
    rows = []
    for f in inp["files"] or [r.name for r in prov.files]:
        r = records.get(f, FileRecord(f))
        rows.append([(f, None, "text mono"), (fmt_int(r.size) if r.size is not None else "", r.size),
                     (r.sha256 or r.note or "", None, "text mono")])
    parts = [table(["File", "Bytes", "SHA-256"], rows, "Input files as given", label="Input files")]
    items = [("Rows audited", fmt_int(inp["n_samples"]))]
    if inp.get("dropped_rows"):
        items.append(("Rows dropped", "; ".join(f"{k}: {fmt_int(v)}" for k, v in inp["dropped_rows"].items())))
    for a in inp.get("adjustments") or ():
        items.append(("Rows changed", f"{a['kind']}: {fmt_int(a['rows'])} rows" + (f" ({a['detail']})" if a.get("detail") else "")))
    items.append(("Classes", ", ".join(inp["classes"])))
    items.append(("Score kind", f"{inp['score_kind']} ({'; '.join(inp['score_kind_evidence'])})"
                  if inp["score_kind_evidence"] else inp["score_kind"]))
    seeds = _seeds(d)
    if seeds:
        items.append(("Seeds", seeds))
    e = d.get("engine")
    if e:
        items.append(("Engine", f"{e['name']}, {fmt_int(e['batch_rows'])} rows per batch, {e['passes']} passes, "
                                f"{fmt_int(e['rows_read'])} rows decoded" + (", later passes from memory" if e["cached"] else "")))
    items.append(("Tool", f"{d['tool']['name']} {d['tool']['version']} (JSON schema {d['schema_version']})"))
    if prov.command:
        items.append(("Command", prov.command))
    parts.append(definition_list(items, mono=("Command",)))
    for w in d.get("warnings") or ():
        parts.append(paragraph(f"warning: {w}", "note"))
    return section(f"{prefix}provenance", "Provenance", "".join(parts))


def _seeds(d: dict) -> str:
    seeds = []
    cal = d.get("calibration")
    if cal and (cal.get("fit") or {}).get("seed") is not None:
        seeds.append(f"calibration {cal['fit']['seed']}")
    t = d.get("thresholds")
    if t and (t.get("parameters") or {}).get("seed") is not None:
        seeds.append(f"thresholds {t['parameters']['seed']}")
    g = d.get("gate")
    if g and g.get("replicates"):
        seeds.append(f"gate {g['seed']}")
    return ", ".join(seeds)
