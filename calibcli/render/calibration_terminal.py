"""Terminal section for post-hoc calibration (``calib audit`` and ``calib fit``).

Reads ``CalibrationResult`` / calibrators; computes nothing beyond differences
of numbers it is given.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

NAMES = {
    "temperature": "temperature scaling",
    "vector": "vector scaling",
    "platt": "Platt scaling",
    "isotonic": "isotonic regression",
    "histogram": "histogram binning",
}
ROWS = (("nll", "NLL"), ("ece", "ECE"), ("classwise_ece", "classwise ECE"), ("brier", "Brier"), ("accuracy", "accuracy"))


def _f(x: float | None, digits: int = 5) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _t(x: float) -> str:
    """A temperature: four decimals, or four significant digits when very large or small.

    >>> _t(1.23456), _t(2.5e300), _t(0.0001234)
    ('1.2346', '2.5e+300', '0.0001234')
    """
    return f"{x:.4f}" if 1e-2 <= abs(x) < 1e6 else f"{x:.4g}"


def _scheme(fit: dict) -> str:
    s = fit.get("scheme")
    if s == "cross-fit":
        return f"{fit['folds']}-fold cross-fit (seed {fit['seed']}), every one of {fit['evaluated_rows']:,} rows scored out of fold"
    if s == "split":
        return f"fitted on a random {fit['fraction']:g} ({fit['fit_rows']:,} rows, seed {fit['seed']}), evaluated on the other {fit['evaluated_rows']:,}"
    if s == "fit-on":
        files = ", ".join(fit.get("files") or []) or "--fit-on"
        return f"fitted on {files} ({fit['fit_rows']:,} rows), evaluated on all {fit['evaluated_rows']:,} audited rows"
    return str(s)


def _temperature_line(cal) -> Text | None:
    t = Text()
    if cal.temperature is not None:
        t.append(f"T = {_t(cal.temperature)}", style="bold")
        if cal.temperature_ci is not None:
            lo, hi = cal.temperature_ci
            t.append(f"  95% interval {_t(lo)} to {_t(hi)} (bootstrap)")
        if cal.temperature > 1.0:
            t.append("\nT > 1: the scores were overconfident; dividing the logits by T softens them")
        elif cal.temperature < 1.0:
            t.append("\nT < 1: the scores were underconfident; dividing the logits by T sharpens them")
        return t
    if cal.per_label_temperatures:
        shown = ", ".join(f"{name} {_t(tt)}" for name, tt, _, _ in cal.per_label_temperatures[:6])
        more = len(cal.per_label_temperatures) - 6
        t.append(f"T per label: {shown}{f' ... (+{more})' if more > 0 else ''}")
        return t
    return None


def calibration_section(report) -> Group:
    """Before/after table, T with its interval, and the comparison of calibrators."""
    cal = report.calibration
    title = Text()
    title.append("Calibration", style="bold")
    title.append(f": {NAMES.get(cal.method, cal.method)}, {_scheme(cal.fit)}")
    parts = [title]
    tl = _temperature_line(cal)
    if tl is not None:
        parts.append(tl)

    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("held out")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_column("change", justify="right")
    for key, label in ROWS:
        b, a = getattr(cal.before.metrics, key), getattr(cal.after.metrics, key)
        if b is None and a is None:
            continue
        if key == "accuracy" and cal.accuracy_unchanged is not None:
            change = Text("unchanged", style="green") if cal.accuracy_unchanged else Text("changed (see warning)", style="yellow")
        else:
            d = None if a is None or b is None else a - b
            change = Text("-" if d is None else f"{d:+.5f}", style="green" if d is not None and d < 0 and key != "accuracy" else "")
        table.add_row(label, _f(b), _f(a), change)
    parts.append(table)

    if cal.comparison:
        comp = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0),
                     title=None)
        comp.add_column("calibrator")
        comp.add_column("NLL", justify="right")
        comp.add_column("ECE", justify="right")
        comp.add_column("cw ECE", justify="right")
        comp.add_column("Brier", justify="right")
        comp.add_column("")
        min_ece = min((s.metrics.ece for s in cal.comparison if s.metrics.ece is not None), default=None)
        for s in cal.comparison:
            m = s.metrics
            ece = Text(_f(m.ece), style="bold" if m.ece is not None and m.ece == min_ece else "")
            comp.add_row(s.method, _f(m.nll), ece, _f(m.classwise_ece), _f(m.brier),
                         Text("best (lowest NLL)", style="green") if s.best else "")
        parts += [Text(""), Text("Calibrators compared on the held-out rows", style="bold"), comp]
        if cal.best is None:
            parts.append(Text("none of the calibrators has a lower held-out NLL than the uncalibrated scores: "
                              "keep the scores as they are, or fit on more rows", style="yellow"))
    return Group(*parts)


def fit_summary(cal, fit_info: dict) -> Group:
    """What ``calib fit`` fitted: method, parameters in brief, in-sample NLL and ECE."""
    head = Text()
    head.append(f"{NAMES.get(cal.method, cal.method)}", style="bold")
    head.append(f" fitted on {fit_info['rows']:,} rows, {len(cal.classes)} {'labels' if cal.task.value == 'multilabel' else 'classes'}, "
                f"task {cal.task.value}, from {cal.input_kind.value}")
    parts = [head]
    if cal.method == "temperature":
        ts = cal.temperature
        line = Text()
        if len(ts) == 1:
            line.append(f"T = {_t(ts[0])}", style="bold")
            ci = fit_info.get("temperature_ci")
            if ci:
                line.append(f"  95% interval {_t(ci[0])} to {_t(ci[1])} (bootstrap)")
        else:
            line.append("T per label: " + ", ".join(f"{n} {_t(t)}" for n, t in list(zip(cal.classes, ts))[:8]))
        parts.append(line)
    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("in sample (fitting rows)")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for key, label in (("nll", "NLL"), ("ece", "ECE")):
        table.add_row(label, _f(fit_info["before"].get(key)), _f(fit_info["after"].get(key)))
    parts.append(table)
    parts.append(Text("in-sample numbers flatter the calibrator; calib audit --fit-on gives held-out numbers", style="dim"))
    for w in fit_info.get("warnings", ()):
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)
