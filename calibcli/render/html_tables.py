"""Number formats and tables of the HTML report (escaped text only; no statistics).

A table cell is ``(text, value)``, ``(text, value, css_class)`` or
``(text, value, css_class, href)``: ``text`` is shown (a link to ``href`` when
given), ``value`` (a number) is what a sortable column sorts by. Wide tables sit
in a scrolling region of their own, so the page never scrolls sideways.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Iterable, Sequence

#: display names of the metrics (other keys are shown as they are named in the JSON)
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "ece": "ECE",
    "mce": "MCE",
    "classwise_ece": "Classwise ECE",
    "brier": "Brier",
    "nll": "NLL",
    "ece_top_label": "Top-label ECE",
}


def fmt(x: Any, digits: int = 4) -> str:
    """A metric for display: 4 decimals, 'n/a' for missing values.

    >>> fmt(0.123456), fmt(None), fmt(float("nan")), fmt(12)
    ('0.1235', 'n/a', 'n/a', '12')
    """
    if x is None or isinstance(x, bool):
        return "n/a" if x is None else str(x)
    if isinstance(x, int):
        return str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(f):
        return "n/a" if math.isnan(f) else ("inf" if f > 0 else "-inf")
    if f != 0 and abs(f) < 1e-3:
        return f"{f:.3g}"
    return f"{f:.{digits}f}"


def fmt_int(x: Any) -> str:
    """A count with thousands separators ('' for missing).

    >>> fmt_int(1234567), fmt_int(None)
    ('1,234,567', '')
    """
    return "" if x is None else f"{int(x):,}"


def interval_of(v: Any) -> tuple[float | None, float | None] | None:
    """``(low, high)`` of an interval written as ``[lo, hi]`` or as an object with low/high (or lower/upper,
    lo/hi, or a ``ci``/``interval`` entry); None when ``v`` holds none.

    >>> interval_of([0.1, 0.2]), interval_of({"low": 0.1, "high": 0.3}), interval_of({"ci": [1, 2]}), interval_of(None)
    ((0.1, 0.2), (0.1, 0.3), (1, 2), None)
    """
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(x is None or isinstance(x, (int, float)) for x in v):
        return (v[0], v[1])
    if isinstance(v, dict):
        for lo, hi in (("low", "high"), ("lower", "upper"), ("lo", "hi"), ("ci_low", "ci_high")):
            if lo in v and hi in v:
                return (v[lo], v[hi])
        for key in ("ci", "interval", "ci95"):
            if key in v:
                return interval_of(v[key])
    return None


def fmt_ci(ci) -> str:
    """An interval as '[0.1200, 0.1500]' ('' without one).

    >>> fmt_ci((0.12, 0.15)), fmt_ci(None)
    ('[0.1200, 0.1500]', '')
    """
    if not ci:
        return ""
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def metric_rows(metrics: dict) -> list[tuple[str, Any]]:
    """(name, value) of every numeric or missing metric, in the JSON's order.

    >>> metric_rows({"ece": 0.1, "note": "x", "mce": None})
    [('ece', 0.1), ('mce', None)]
    """
    return [(k, v) for k, v in metrics.items() if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))]


def _cell(tag: str, cell: Sequence, sortable: bool, scope: str = "") -> str:
    text, value = cell[0], cell[1]
    cls = cell[2] if len(cell) > 2 else ""
    attrs = f" scope=\"{scope}\"" if scope else ""
    if cls:
        attrs += f" class=\"{escape(cls)}\""
    if sortable:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
            attrs += f" data-v=\"{float(value)!r}\""
        elif value is None and text in ("n/a", ""):
            attrs += " data-v=\"\""
    inner = escape(str(text))
    if len(cell) > 3 and cell[3]:
        inner = f"<a href=\"{escape(cell[3])}\">{inner}</a>"
    return f"<{tag}{attrs}>{inner}</{tag}>"


def table(columns: Sequence[str], rows: Iterable[Sequence[Sequence]], caption: str, sortable: bool = False,
          label: str = "") -> str:
    """A table with a caption inside a labelled scrolling region; the first cell of a row heads it.

    >>> print(table(["a", "b"], [[("x", None), ("1", 1)]], "cap"))  # doctest: +NORMALIZE_WHITESPACE
    <div class="scroll" role="region" aria-label="cap" tabindex="0"><table>
    <caption>cap</caption><thead><tr><th scope="col">a</th><th scope="col">b</th></tr></thead><tbody>
    <tr><th scope="row">x</th><td>1</td></tr>
    </tbody></table></div>
    """
    rows = [list(r) for r in rows]
    kinds = [(rows[0][j][2] if rows and len(rows[0]) > j and len(rows[0][j]) > 2 else "") for j in range(len(columns))]
    head = "".join(f"<th scope=\"col\"{' class=' + chr(34) + 'text' + chr(34) if j and 'text' in kinds[j].split() else ''}>"
                   f"{escape(c)}</th>" for j, c in enumerate(columns))
    body = "".join("<tr>" + "".join(_cell("th" if j == 0 else "td", c, sortable, "row" if j == 0 else "")
                                    for j, c in enumerate(row)) + "</tr>\n" for row in rows)
    cls = " class=\"sortable\"" if sortable else ""
    return (f"<div class=\"scroll\" role=\"region\" aria-label=\"{escape(label or caption)}\" tabindex=\"0\"><table{cls}>\n"
            f"<caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table></div>\n")


def _threshold_text(r: dict) -> str:
    t = r.get("threshold")
    text = "flag nothing" if t is None else fmt(t)
    if r.get("threshold_low") is not None:
        text = f"{fmt(r['threshold_low'])} to {text}"
    return text


def threshold_table(recommendations: Sequence[dict], caption: str) -> str:
    """The recommended thresholds, one row per class x objective x scale, with their intervals."""
    scales = {r.get("scale") for r in recommendations}
    columns = ["Class", "Objective"] + (["Scale"] if len(scales) > 1 else []) + [
        "Threshold", "95% interval", "Objective value", "95% interval", "Precision", "Recall", "Flagged"]
    rows = []
    for r in recommendations:
        row = [(str(r["target"]), None), (r["objective"], None, "text")]
        if len(scales) > 1:
            row.append((r.get("scale") or "", None, "text"))
        headline = f"{r.get('headline') or ''} {fmt(r.get('headline_value'))}".strip()
        row += [(_threshold_text(r), r.get("threshold")), (fmt_ci(r.get("threshold_ci")), None, "ci"),
                (headline, r.get("headline_value")), (fmt_ci(r.get("headline_ci")), None, "ci"),
                (fmt(r.get("precision")), r.get("precision")), (fmt(r.get("recall")), r.get("recall")),
                (fmt(r.get("flagged_fraction")), r.get("flagged_fraction"))]
        rows.append(row)
    out = table(columns, rows, caption + " (score >= threshold is flagged)", sortable=True, label="Thresholds")
    notes = [f"{r['target']} / {r['objective']}: {r['note']}" for r in recommendations if r.get("note")]
    return out + "".join(paragraph(n, "note") for n in notes)


# ------------------------------------------------------------------ building blocks
def section(sid: str, title: str, content: str, level: int = 2) -> str:
    """A ``<section>`` with its heading (``aria-labelledby`` points at it)."""
    return (f"<section id=\"{sid}\" aria-labelledby=\"{sid}-h\">\n<h{level} id=\"{sid}-h\">{escape(title)}</h{level}>\n"
            f"{content}</section>\n")


def paragraph(text: str, cls: str = "") -> str:
    """An escaped ``<p>``, with a class when given."""
    return f"<p{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{escape(text)}</p>\n"


def definition_list(items: Sequence[tuple[str, str]], mono: Sequence[str] = ()) -> str:
    """A ``<dl>`` of (term, text) pairs; terms in ``mono`` get monospace values."""
    body = "".join(f"<dt>{escape(k)}</dt><dd{' class=' + chr(34) + 'mono' + chr(34) if k in mono else ''}>{escape(str(v))}</dd>"
                   for k, v in items)
    return f"<dl>{body}</dl>\n"
