"""The data behind each reliability figure, computed once, drawn by ``calibcli.render.plots``.

Everything a figure shows is decided here: which curve, which bins, their Wilson
intervals, which classes get a panel and in what order, which were left out and
why, axis labels and titles. The drawing code only reads these frozen objects.

A figure overlays one curve per *stage*: one stage (``""``) for a plain audit,
two (``"before"`` and ``"after"``) when a calibrator was fitted
(``report.calibration`` with ``before``/``after`` measurements).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibcli.direction import worst_first
from calibcli.report import AuditReport, ClassReport, Measurement, Reliability

Z95 = 1.959963984540054  # standard normal quantile 0.975 (two-sided 95%)
LOG_COUNT_RATIO = 100.0  # count axes go logarithmic when the largest non-empty bin holds 100x the smallest
MAX_NAME_CHARS = 22  # class names longer than this are shortened with an ellipsis
DEFAULT_MAX_CLASS_PANELS = 25


def wilson_interval(successes: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion, elementwise; NaN where ``n == 0``.

    Parameters
    ----------
    successes, n : array_like
        Number of successes and of trials per bin (floats allowed).
    z : float
        Normal quantile; the default gives a two-sided 95% interval.

    Returns
    -------
    (low, high) : tuple of ndarray

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([7.0]), np.array([10.0]))
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.3968, 0.8922)
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2n = z * z / n
        centre = (p + z2n / 2.0) / (1.0 + z2n)
        half = z / (1.0 + z2n) * np.sqrt(np.maximum(p * (1.0 - p), 0.0) / n + z2n / (4.0 * n))
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def shorten(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """``name`` cut to ``limit`` characters with a trailing ellipsis when longer.

    >>> shorten("comp.os.ms-windows.misc", 12)
    'comp.os.ms-…'
    >>> shorten("cat")
    'cat'
    """
    return name if len(name) <= limit else name[: limit - 1] + "…"


@dataclass(frozen=True)
class Curve:
    """One reliability curve, every bin kept (empty bins have count 0 and NaN values).

    ``lo``/``hi``: bin edges; ``mean_conf``/``observed``: per-bin means;
    ``ci_low``/``ci_high``: Wilson 95% interval of ``observed``.
    ``ece``/``mce``: of this curve, ``None`` when it has no rows.
    """

    stage: str
    lo: np.ndarray
    hi: np.ndarray
    count: np.ndarray
    mean_conf: np.ndarray
    observed: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ece: float | None
    mce: float | None

    @property
    def drawn(self) -> np.ndarray:
        """Mask of the bins that are drawn: the non-empty ones."""
        return self.count > 0


def curve_from_stats(stats: Reliability, stage: str = "", ece: float | None = None) -> Curve:
    """The drawable curve of one ``Reliability``; ``ece`` defaults to the curve's own.

    Examples
    --------
    >>> from calibcli.binning import uniform_edges
    >>> s = Reliability.from_arrays(np.array([0.1, 0.8, 0.9]), np.array([0, 1, 0]), uniform_edges(2))
    >>> c = curve_from_stats(s)
    >>> c.count.tolist(), c.observed.tolist(), round(c.ece, 4)
    ([1.0, 2.0], [0.0, 0.5], 0.2667)
    """
    count = np.asarray(stats.count, dtype=np.float64)
    low, high = wilson_interval(stats.sum_outcome, count)
    has_rows = bool(count.sum() > 0)
    if ece is None and has_rows:
        ece = float(stats.ece())
    mce = float(stats.mce()) if has_rows else None
    return Curve(stage, stats.edges[:-1].copy(), stats.edges[1:].copy(), count, stats.mean_conf, stats.observed,
                 low, high, ece if has_rows else None, mce)


def log_scale_for(curves: tuple[Curve, ...] | list[Curve]) -> bool:
    """Whether count axes should be logarithmic: non-empty bins span two decades or more.

    >>> from calibcli.binning import uniform_edges
    >>> s = Reliability(uniform_edges(2), np.array([5.0, 500.0]), np.zeros(2), np.zeros(2))
    >>> log_scale_for([curve_from_stats(s)])
    True
    """
    counts = np.concatenate([c.count[c.count > 0] for c in curves] or [np.zeros(0)])
    if counts.size == 0:
        return False
    return bool(counts.max() >= LOG_COUNT_RATIO * counts.min())


@dataclass(frozen=True)
class Panel:
    """One reliability panel with its count strip.

    ``size_text`` says how many rows the class has, both counts named:
    'support 389 · predicted 52' (``support``: rows whose label is the class;
    ``predicted``: rows predicted as it, which are the rows a top-label file's
    panel is drawn from). The reliability figure's single panel says 'N rows'.
    """

    name: str
    title: str
    support: int
    curves: tuple[Curve, ...]
    log_counts: bool
    size_text: str = ""
    predicted: int | None = None
    ece_interval: str = ""  # ' [0.036, 0.047]': the 95% interval of the panel's ECE (one stage only)


@dataclass(frozen=True)
class ReliabilityFigure:
    """Data of ``reliability.png``."""

    title: str
    subtitle: str
    x_label: str
    y_label: str
    count_label: str
    panel: Panel
    calibrated: bool


@dataclass(frozen=True)
class ClassesFigure:
    """Data of ``classes.png``: panels worst ECE first, at most the cap.

    ``left_out``: how many classes got no panel; ``note`` says which and why.
    """

    title: str
    x_label: str
    y_label: str
    panels: tuple[Panel, ...]
    n_total: int
    left_out: int
    note: str
    calibrated: bool


@dataclass(frozen=True)
class ConfidenceSeries:
    """Confidence histogram of one stage, split by outcome.

    ``positive``/``negative``: rows per bin whose outcome is 1 (correct, label
    present) and 0; ``height_*``: what is drawn, each group's share of its own
    rows per bin.
    """

    stage: str
    lo: np.ndarray
    hi: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    height_positive: np.ndarray
    height_negative: np.ndarray
    mean_conf: float
    mean_outcome: float


@dataclass(frozen=True)
class ConfidenceFigure:
    """Data of ``confidence.png``."""

    title: str
    subtitle: str
    x_label: str
    y_label: str
    positive_name: str
    negative_name: str
    mean_conf_name: str
    mean_outcome_name: str
    unit: str
    series: tuple[ConfidenceSeries, ...]
    calibrated: bool


def stages(report: AuditReport) -> list[tuple[str, Measurement]]:
    """The measurements a figure overlays: ``[("", m)]`` or ``[("before", m0), ("after", m1)]``.

    A calibration result counts when it has both ``before`` and ``after``.
    """
    cal = getattr(report, "calibration", None)
    before = getattr(cal, "before", None) if cal is not None else None
    after = getattr(cal, "after", None) if cal is not None else None
    if before is not None and after is not None:
        return [("before", before), ("after", after)]
    return [("", report.measurement)]


def method_name(report: AuditReport) -> str:
    """Name of the fitted calibrator, or '' when none."""
    cal = getattr(report, "calibration", None)
    method = getattr(cal, "method", None) if cal is not None else None
    if method is None:
        return ""
    return str(getattr(method, "value", method))


def bins_text(report: AuditReport) -> str:
    """'15 equal-width bins' / '10 equal-mass bins': the report's binning in words."""
    b = report.binning
    kind = "equal-width" if b.strategy == "uniform" else "equal-mass"
    return f"{b.n_bins} {kind} bins"


def _source_text(report: AuditReport) -> str:
    files = report.input.files
    if not files:
        return "predictions"
    from pathlib import PurePath

    path = PurePath(files[0])
    first = "stdin" if files[0] == "-" else (f"{path.parent.name}/{path.name}" if path.parent.name else path.name)
    first = first if len(first) <= 60 else "…" + first[-59:]
    return first if len(files) == 1 else f"{len(files)} files ({first}, ...)"


def _class_words(name: str) -> str:
    """'class 1' for numeric names, else the (shortened) name itself.

    >>> _class_words("1"), _class_words("person")
    ('class 1', 'person')
    """
    return f"class {name}" if name.lstrip("-").isdigit() else shorten(name, 30)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def _interval_text(st: list[tuple[str, Measurement]], index: int | None) -> str:
    """' [0.182, 0.198]': the 95% interval of the headline ECE (``index`` None) or of class ``index``'s ECE,
    for a single stage only ('' otherwise or without intervals)."""
    if len(st) != 1:
        return ""
    m = st[0][1]
    iv = m.intervals.get("ece") if index is None else m.classes[index].intervals.get("ece")
    return "" if iv is None else f" [{iv[0]:.3f}, {iv[1]:.3f}]"


def _values(curves: tuple[Curve, ...], attr: str) -> str:
    """'0.1234' for one stage, '0.1234 → 0.0456' for before and after."""
    return " → ".join(_fmt(getattr(c, attr)) for c in curves)


def _cal_text(report: AuditReport, calibrated: bool) -> str:
    """' · before → after temperature (T = 1.5, 2-fold cross-fit)' or '' without calibration."""
    if not calibrated:
        return ""
    cal = report.calibration
    name = method_name(report) or "calibration"
    details = []
    t = getattr(cal, "temperature", None)
    if isinstance(t, (int, float)) and math.isfinite(t):
        details.append(f"T = {t:.3g}")
    fit = getattr(cal, "fit", None)
    scheme = fit.get("scheme") if isinstance(fit, dict) else None
    if scheme == "cross-fit" and fit.get("folds"):
        details.append(f"{fit['folds']}-fold cross-fit")
    elif scheme:
        details.append(f"evaluation: {scheme}")
    return f" · before → after {name}" + (f" ({', '.join(details)})" if details else "")


def reliability_data(report: AuditReport) -> ReliabilityFigure:
    """Data of the top-label diagram (binary: the positive-class curve).

    Examples
    --------
    With ``report`` the audit of a multi-class file (see ``tests/test_plotdata.py``):

    >>> fig = reliability_data(report)  # doctest: +SKIP
    >>> fig.title  # doctest: +SKIP
    'ECE (top-label) 0.0581   MCE 0.1336'
    """
    st = stages(report)
    task = report.input.task
    calibrated = len(st) == 2
    bins = bins_text(report)
    inp = report.input
    source = _source_text(report)
    if task == "binary":
        pos = inp.classes[1]
        curves = tuple(curve_from_stats(m.classes[1].reliability, s, m.classes[1].ece) for s, m in st)
        variant = f"positive class {pos}" if pos.lstrip("-").isdigit() else f"positive class '{shorten(pos, 30)}'"
        x_label = f"mean predicted P({_class_words(pos)})"
        y_label = f"observed frequency of {_class_words(pos)}"
        top = " → ".join(_fmt(m.metrics.ece_top_label) for _, m in st)
        subtitle = f"{source} · {inp.n_samples:,} rows · {bins} · top-label ECE {top}{_cal_text(report, calibrated)}"
        name = pos
    elif task == "multilabel":
        curves = tuple(curve_from_stats(m.reliability, s, m.metrics.ece) for s, m in st)
        variant = "pooled over (row, label) pairs"
        x_label = "mean P(label present)"
        y_label = "observed frequency of label present"
        subtitle = f"{source} · {inp.n_samples:,} rows x {inp.n_classes} labels · {bins}{_cal_text(report, calibrated)}"
        name = "all labels"
    else:
        curves = tuple(curve_from_stats(m.reliability, s, m.metrics.ece) for s, m in st)
        variant = "top-label"
        x_label = "mean confidence (top-label probability)"
        y_label = "observed accuracy"
        subtitle = f"{source} · {inp.n_samples:,} rows · {inp.n_classes} classes · {bins}{_cal_text(report, calibrated)}"
        name = "top label"
    title = f"ECE ({variant}) {_values(curves, 'ece')}{_interval_text(st, None)}   MCE {_values(curves, 'mce')}"
    panel = Panel(name, shorten(name), report.input.n_samples, curves, log_scale_for(curves), f"{report.input.n_samples:,} rows")
    return ReliabilityFigure(title, subtitle, x_label, y_label, "rows per bin", panel, calibrated)


def class_order(classes: tuple[ClassReport, ...]) -> np.ndarray:
    """Indices of ``classes`` worst ECE first; classes without an ECE last, ties by index.

    >>> from calibcli.binning import uniform_edges
    >>> s = Reliability(uniform_edges(1), np.zeros(1), np.zeros(1), np.zeros(1))
    >>> cs = tuple(ClassReport(n, 0, 0, e, None, None, s) for n, e in [("a", 0.1), ("b", None), ("c", 0.3)])
    >>> class_order(cs).tolist()
    [2, 0, 1]
    """
    eces = np.array([np.nan if c.ece is None else c.ece for c in classes], dtype=np.float64)
    return worst_first(eces)


def classes_data(report: AuditReport, max_panels: int = DEFAULT_MAX_CLASS_PANELS) -> ClassesFigure:
    """Data of the small multiples: one panel per class, worst (before) ECE first, capped.

    Only the selected classes are turned into curves, so 1000 classes cost one sort.

    Examples
    --------
    With ``report`` the audit of a 1000-class file:

    >>> fig = classes_data(report, max_panels=25)  # doctest: +SKIP
    >>> fig.n_total, len(fig.panels), fig.left_out  # doctest: +SKIP
    (1000, 25, 975)
    """
    if max_panels < 1:
        raise ValueError(f"max_panels must be >= 1, got {max_panels}")
    st = stages(report)
    calibrated = len(st) == 2
    task = report.input.task
    what = "label" if task == "multilabel" else "class"
    first = st[0][1].classes
    order = class_order(first)
    shown = order[:max_panels]
    panels = []
    for i in shown:
        curves = tuple(curve_from_stats(m.classes[i].reliability, s, m.classes[i].ece) for s, m in st)
        c = first[i]
        size = f"support {c.support:,} · predicted {c.predicted:,}"
        panels.append(Panel(c.name, shorten(c.name), c.support, curves, log_scale_for(curves), size, c.predicted,
                            _interval_text(st, i)))
    n = len(first)
    left_out = n - len(shown)
    rest = order[max_panels:]
    no_ece = sum(1 for i in rest if first[i].ece is None)
    lower = left_out - no_ece
    rank = "before calibration " if calibrated else ""
    plural = f"{what}es" if what == "class" else f"{what}s"
    if left_out:
        why = []
        if lower:
            why.append(f"{lower} with lower ECE")
        if no_ece:
            why.append(f"{no_ece} never predicted" if task == "top_label" else f"{no_ece} without rows")
        note = (f"showing the {len(shown)} {plural} with the highest ECE {rank}of {n}; left out: {', '.join(why)}"
                " (raise --max-class-panels to see more)")
    else:
        note = f"all {n} {plural}, worst ECE {rank}first"
    if task == "top_label":
        x_label, y_label = "confidence (rows predicted as the class)", "accuracy"
        kind = "top-label ECE of the rows predicted as each class"
    else:
        x_label, y_label = f"P({what})", f"observed frequency of the {what}"
        kind = f"one-vs-rest ECE per {what}"
    title = f"Per-{what} reliability, worst ECE first"
    note = f"{kind}, {bins_text(report)}{_cal_text(report, calibrated)}. {note[0].upper()}{note[1:]}"
    return ClassesFigure(title, x_label, y_label, tuple(panels), n, left_out, note, calibrated)


def confidence_data(report: AuditReport) -> ConfidenceFigure:
    """Data of the confidence histogram, split into correct/incorrect (multilabel: present/absent).

    Read from the top-label bin statistics: per bin, ``sum_outcome`` rows are
    correct and ``count - sum_outcome`` incorrect, so the resolution is the
    audit's binning.

    Examples
    --------
    >>> s = confidence_data(report).series[0]  # doctest: +SKIP
    >>> s.positive + s.negative == report.measurement.reliability.count  # doctest: +SKIP
    """
    st = stages(report)
    calibrated = len(st) == 2
    task = report.input.task
    uniform = report.binning.strategy == "uniform"
    series = []
    for s, m in st:
        b = m.reliability
        pos = np.asarray(b.sum_outcome, dtype=np.float64)
        neg = np.asarray(b.count, dtype=np.float64) - pos
        hp = pos / pos.sum() if pos.sum() > 0 else np.zeros_like(pos)
        hn = neg / neg.sum() if neg.sum() > 0 else np.zeros_like(neg)
        total = float(b.count.sum())
        series.append(ConfidenceSeries(s, b.edges[:-1].copy(), b.edges[1:].copy(), pos, neg, hp, hn,
                                       float(b.sum_conf.sum() / total) if total else math.nan,
                                       float(b.sum_outcome.sum() / total) if total else math.nan))
    # Shares, not densities: equal-mass bins can be very narrow near 1, where a
    # density would spike off the scale. The label says when bin widths differ.
    y_label = "share of the group per bin" if uniform else "share of the group per bin (bins of unequal width)"
    bins = bins_text(report)
    if task == "multilabel":
        return ConfidenceFigure(
            "Distribution of P(label present) for present and absent labels",
            f"{_source_text(report)} · all (row, label) pairs pooled · {bins}{_cal_text(report, calibrated)}",
            "P(label present)", y_label, "label present", "label absent",
            "mean P(label present)", "share present", "pairs", tuple(series), calibrated)
    if task == "binary":
        sub = f"{_source_text(report)} · confidence = the larger of P({_class_words(report.input.classes[1])}) and 1 - it · {bins}"
    else:
        sub = f"{_source_text(report)} · confidence = top-label probability · {bins}"
    return ConfidenceFigure(
        "Distribution of confidence for correct and incorrect predictions",
        sub + _cal_text(report, calibrated),
        "confidence", y_label, "correct", "incorrect",
        "mean confidence", "accuracy", "rows", tuple(series), calibrated)
