"""Renderers of threshold recommendations: rich table, CSV and JSON. They read
``ThresholdReport`` objects and compute nothing."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

CSV_COLUMNS = (
    "file", "target", "objective", "scale", "threshold", "threshold_ci_low", "threshold_ci_high",
    "threshold_low", "threshold_low_ci_low", "threshold_low_ci_high", "other_scale_threshold", "other_scale_threshold_low",
    "precision", "recall", "fpr", "flagged_fraction", "n_flagged", "n", "n_positive",
    "headline", "headline_value", "headline_ci_low", "headline_ci_high",
    "expected_cost", "bayes_threshold", "bayes_gap", "bayes_in_interval", "cost_at_bayes", "review_fraction", "npv",
    "goal", "met", "met_rate", "bootstrap_replicates", "bootstrap_candidates", "note",
)
SHORT = {"expected cost": "cost", "F-beta": "F-beta", "Youden J": "J", "review fraction": "review"}


def _num(x: float | None, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return format(x, fmt)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(ci: tuple[float, float] | None, fmt: str = ".3g", pct: bool = False) -> str:
    if ci is None:
        return ""
    show = _pct if pct else (lambda x: _num(x, fmt))
    if ci[0] == ci[1]:
        return show(ci[0])
    lo, hi = show(ci[0]), show(ci[1])
    if lo == hi and not pct:  # rounding hid the width: more digits
        lo, hi = _num(ci[0], ".6g"), _num(ci[1], ".6g")
    return f"{lo}–{hi}"


def objective_text(r, spec) -> str:
    """What the row optimises, in a few words."""
    o = r.objective
    if o == "cost":
        return "min cost"
    if o == "f1":
        return "max F1"
    if o == "fbeta":
        beta = f"{spec.beta:g}"
        return f"max F{beta}" if "e" not in beta else f"max Fβ, β={beta}"  # not "F1e+300"
    if o == "youden":
        return "max TPR-FPR"
    if o == "precision":
        return f"prec ≥ {spec.min_precision:g}"
    if o == "recall":
        return f"recall ≥ {spec.min_recall:g}"
    if o == "flag-rate":
        return f"flagged ≤ {100 * spec.max_flag_rate:g}%"
    return f"review, p ≥ {spec.review_precision:g}"


def _threshold_cell(r, other_name: str | None) -> Text:
    t = Text()
    band = r.objective == "review-band" and r.threshold_low is not None
    t.append(("≥ " if band else "") + _num(r.threshold, ".6g"))
    if r.threshold_ci is not None:
        t.append(f"\n{_ci(r.threshold_ci)}", style="dim")
    if other_name and r.other_scale_threshold is not None:
        t.append(f"\n= {other_name} {_num(r.other_scale_threshold)}", style="cyan")
    if band:
        t.append(f"\n< {_num(r.threshold_low, '.6g')}")
        if r.threshold_low_ci is not None:
            t.append(f"\n{_ci(r.threshold_low_ci)}", style="dim")
        if other_name and r.other_scale_threshold_low is not None:
            t.append(f"\n= {other_name} {_num(r.other_scale_threshold_low)}", style="cyan")
    return t


def _value_cell(r) -> Text:
    name = SHORT.get(r.headline, r.headline)
    pct = r.headline == "review fraction"
    t = Text(f"{name} {_pct(r.headline_value) if pct else _num(r.headline_value)}")
    if r.headline_ci is not None:
        t.append(f"\n{_ci(r.headline_ci, pct=pct)}", style="dim")
    return t


def _met_style(r) -> str:
    return "red" if r.met is False else ""


def report_table(report, show_class: bool = True) -> Table:
    """One row per class x objective (x scale) of one ``ThresholdReport``."""
    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0), show_lines=False)
    multi = show_class and len({r.target for r in report.recommendations}) > 1
    if multi:
        table.add_column("label" if report.task == "multilabel" else "class", overflow="ellipsis", max_width=16)
    table.add_column("objective", overflow="fold", min_width=10, max_width=18)
    table.add_column("threshold", no_wrap=True)
    table.add_column("prec", justify="right")
    table.add_column("recall", justify="right")
    table.add_column("FPR", justify="right")
    table.add_column("flagged", justify="right")
    table.add_column("optimum", no_wrap=True)
    calibrated = "calibrated" in report.scales
    last_target = None
    for r in report.recommendations:
        if r.note.startswith("not defined"):
            cells = [Text(r.note, style="dim"), "", "", "", "", ""]
        else:
            label = objective_text(r, report.spec)
            if calibrated:
                label = label if r.scale == "raw" else "  calibrated"
            if r.met is False:
                label = "✗ " + label
            cells = [Text(label, style=_met_style(r)),
                     _threshold_cell(r, ("cal" if r.scale == "raw" else "raw") if calibrated else None),
                     _num(r.precision, ".3f"), _num(r.recall, ".3f"), _num(r.fpr, ".3f"), _pct(r.flagged_fraction),
                     _value_cell(r)]
        if multi:
            cells.insert(0, r.target if r.target != last_target else "")
        last_target = r.target
        table.add_row(*cells)
    return table


def notes(report) -> list[Text]:
    """Lines under the table: targets not met, cost against Bayes, review bands."""
    out = []
    multi = len({r.target for r in report.recommendations}) > 1
    for r in report.recommendations:
        who = f"{r.target} " if multi else ""
        scale = f" ({r.scale})" if len(report.scales) > 1 else ""
        if r.met is False:
            out.append(Text(f"{who}{r.objective}{scale}: {r.note}", style="red"))
        if r.objective == "cost" and r.bayes_threshold is not None and r.expected_cost is not None:
            gap = r.bayes_gap
            spec = report.spec
            costs = f"fp {spec.cost_fp:g}, fn {spec.cost_fn:g}" + (f", tp {spec.cost_tp:g}" if spec.cost_tp else "") + (
                f", tn {spec.cost_tn:g}" if spec.cost_tn else "")
            line = (f"{who}cost{scale} ({costs}): Bayes threshold for calibrated scores {r.bayes_threshold:.4g}; "
                    f"the data's optimum {_num(r.threshold)}" + ("" if gap is None else f" ({gap:+.3g})")
                    + f"; cost per item {r.expected_cost:.4g} at the optimum, {_num(r.cost_at_bayes)} at the Bayes threshold")
            inside = r.bayes_in_interval
            if inside is False:
                line += "; the Bayes threshold is outside the 95% interval: the scores are not calibrated for this decision"
            elif inside:
                line += "; the Bayes threshold is within the 95% interval"
            out.append(Text(line, style="yellow" if inside is False else ""))
        if r.objective == "review-band" and r.met:
            flag = ("flag nothing" if math.isinf(r.threshold) else
                    f"flag score ≥ {_num(r.threshold, '.6g')} (precision {_num(r.precision, '.3f')})")
            clear = ("clear every item" if math.isinf(r.threshold_low) else
                     f"clear score < {_num(r.threshold_low, '.6g')}")
            out.append(Text(f"{who}review band{scale}: {flag}, {clear} (negatives {_num(r.npv, '.3f')}), "
                            f"send {_pct(r.review_fraction)} of items to review"))
    return out


def footer(report) -> list[Text]:
    lines = [Text(f"note: {n}") for n in report.notes]
    if any(r.met is False for r in report.recommendations):
        lines.append(Text("✗ target not met: the row holds the closest achievable threshold (see above)", style="red"))
    lines += [Text(f"rule: {report.rule}", style="dim"), Text(f"intervals: {short_method(report.spec)}", style="dim")]
    if len(report.scales) > 1:
        lines.append(Text(f"scales: {report.scale_note}", style="dim"))
    lines.append(Text("the table rounds thresholds; --format json or csv gives them exactly", style="dim"))
    return lines


def short_method(spec) -> str:
    """The interval method in one line (the JSON holds the full description)."""
    if spec.n_bootstrap == 0:
        return "none (0 bootstrap replicates)"
    return (f"95% Poisson bootstrap, {spec.n_bootstrap} replicates, seed {spec.seed}, resampling the tie blocks "
            f"of the count tables (no row revisited); over {spec.max_groups} distinct scores, replicate thresholds come from equal-mass cut points "
            "refined near each recommendation")


def render_thresholds(report) -> Group:
    """The thresholds section of the ``calib audit`` terminal report."""
    title = Text("Decision thresholds", style="bold")
    targets = {r.target for r in report.recommendations}
    if len(targets) == 1:
        r = report.recommendations[0]
        title.append(f"  {r.target}: {r.n_positive:,} positive of {r.n:,}", style="")
    return Group(Text(""), title, report_table(report), *notes(report), *footer(report))


def render_batch(results, failures) -> Group:
    """``calib thresholds`` output: one block per file, then the conventions."""
    parts: list[Any] = []
    for path, report in results:
        classes = {r.target for r in report.recommendations}
        head = Text()
        head.append(path, style="bold")
        pos = report.recommendations[0] if report.recommendations else None
        head.append(f"  {report.n_rows:,} rows")
        what = "label" if report.task == "multilabel" else "class"
        if pos is not None and len(classes) == 1:
            head.append(f", {what} {pos.target} ({pos.n_positive:,} positive)")
        elif len(classes) > 1:
            head.append(f", {len(classes)} classes one-vs-rest" if what == "class" else f", {len(classes)} labels")
        parts += [head, report_table(report), *notes(report), Text("")]
    if failures:  # the messages themselves went to stderr
        parts.append(Text(f"{len(failures)} file{'s' if len(failures) > 1 else ''} failed (see the errors): "
                          + ", ".join(path for path, _ in failures), style="red"))
    if results:
        parts += footer(results[0][1])
    return Group(*parts)


def _flat(path: str, r) -> dict[str, Any]:
    d = r.to_dict()
    row = {"file": path}
    for key in ("threshold_ci", "threshold_low_ci", "headline_ci"):
        ci = d.pop(key)
        row[f"{key}_low"], row[f"{key}_high"] = (None, None) if ci is None else ci
    row.update(d)
    return row


def _csv_value(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    return str(v)


def thresholds_csv(results) -> str:
    """One CSV row per file x class x objective x scale; exact floats, empty for none."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for path, report in results:
        for r in report.recommendations:
            row = _flat(path, r)
            writer.writerow([_csv_value(row.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def thresholds_json(results, failures, spec) -> str:
    """The batch as JSON: conventions once, then each file's recommendations and the failures."""
    from calibcli import __version__
    from calibcli.render.jsonout import dumps
    from calibcli.report import SCHEMA_VERSION
    from calibcli.thresholds import RULE, bootstrap_method

    return dumps({
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "calib", "version": __version__},
        "rule": RULE,
        "method": bootstrap_method(spec),
        "results": [{"file": path, **report.to_dict()} for path, report in results],
        "failures": [{"file": path, "error": message} for path, message in failures],
    })
