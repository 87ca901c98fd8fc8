"""Drawing the reliability figures from ``calibcli.plotdata`` objects. No statistics here.

Explicit ``matplotlib.figure.Figure`` objects on the Agg canvas; no pyplot, no
global rcParams: every style is passed to its artist. Layouts are fixed in
inches, so a figure's pixel size depends only on what it shows (for
``classes.png``, on the number of panels), and PNG bytes carry no timestamp or
software tag, so the same input gives identical files.

Text: every text artist gets a list of font families (DejaVu Sans, then the
installed CJK, symbol and emoji fonts of ``FONT_FAMILIES``; matplotlib falls back
glyph by glyph). A character that no installed font can draw is written as its
code point (``<U+1F436>``) and ``font_note`` says so in calib's words; '$' is
escaped so class names are never read as mathtext. matplotlib's own warnings
about missing glyphs are caught where the figure is drawn.
"""

from __future__ import annotations

import functools
import io
import math
import unicodedata
import warnings
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING

import numpy as np

from calibcli.plotdata import ClassesFigure, ConfidenceFigure, Curve, ReliabilityFigure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
# Okabe-Ito colour-blind-safe palette.
BLUE = "#0072B2"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
GREY = "#8C8C8C"
LIGHT = "#E6E6E6"
INK = "#222222"
STAGE_COLOURS = {"": BLUE, "before": ORANGE, "after": BLUE}
FONT = 10

RELIABILITY_SIZE = (8.0, 8.0)  # inches
CONFIDENCE_SIZE = (8.0, 5.6)
CELL_W, CELL_MAIN, CELL_STRIP, CELL_TITLE, CELL_XAXIS = 2.45, 1.85, 0.42, 0.62, 0.4
CLASSES_LEFT, CLASSES_RIGHT, CLASSES_TOP, CLASSES_BOTTOM = 0.75, 0.35, 1.45, 0.55
MAX_COLUMNS = 5

#: Font families in order of preference; those installed are used, matplotlib falling back glyph by glyph.
#: Colour-bitmap emoji fonts (Noto Color Emoji, Apple Color Emoji) are left out: Agg cannot scale them.
FONT_FAMILIES = (
    "DejaVu Sans", "Noto Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR",
    "Source Han Sans", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "Microsoft YaHei",
    "PingFang SC", "Hiragino Sans", "Arial Unicode MS", "Noto Sans Symbols", "Noto Sans Symbols 2", "Noto Emoji",
    "Symbola", "Segoe UI Symbol", "Segoe UI Emoji",
)
GLYPH_WARNING = r"(?s).*Glyph .* missing from (current )?font"


@dataclass(frozen=True)
class Fonts:
    """The installed families of ``FONT_FAMILIES`` and every code point one of them can draw."""

    families: tuple[str, ...]
    coverage: frozenset[int]

    def drawable(self, text: str) -> str:
        """``text`` as it can be drawn: characters no font has become ``<U+XXXX>``, '$' is escaped.

        Line breaks stay; other control characters become spaces; invisible joiners and
        variation selectors that no font has are dropped.

        >>> print(Fonts(("DejaVu Sans",), frozenset(map(ord, "cat $"))).drawable("cat $5 🐶"))
        cat \\$<U+0035> <U+1F436>
        """
        out = []
        for ch in text:
            code = ord(ch)
            if ch == "$":
                out.append("\\$")
            elif ch == "\n" or code in self.coverage:
                out.append(ch)
            elif unicodedata.category(ch) == "Cc":
                out.append(" ")
            elif unicodedata.category(ch) in ("Cf", "Mn") or 0xFE00 <= code <= 0xFE0F:
                continue
            else:
                out.append(f"<U+{code:04X}>")
        return "".join(out)

    def missing(self, text: str) -> list[str]:
        """The characters of ``text`` no installed font can draw (visible ones only), in order, once each."""
        seen: dict[str, None] = {}
        for ch in text:
            if ord(ch) not in self.coverage and unicodedata.category(ch) not in ("Cc", "Cf", "Mn") \
                    and not 0xFE00 <= ord(ch) <= 0xFE0F:
                seen[ch] = None
        return list(seen)


@functools.lru_cache(maxsize=1)
def installed_fonts() -> Fonts:
    """The fonts this machine has of ``FONT_FAMILIES`` (read once per process; nothing is changed)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    names = {f.name for f in font_manager.fontManager.ttflist}
    families, coverage = [], set()
    for family in FONT_FAMILIES:
        if family not in names:
            continue
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
            coverage.update(FT2Font(path).get_charmap())
        except (ValueError, RuntimeError, OSError):  # unreadable font file: skip it
            continue
        families.append(family)
    if not families:  # matplotlib always ships DejaVu Sans; be safe anyway
        families = ["DejaVu Sans"]
    return Fonts(tuple(families), frozenset(coverage))


def _font(size: float, **kwargs) -> dict:
    """Keyword arguments of a text artist: size, the font family list, and ``kwargs``."""
    return {"fontsize": size, "fontfamily": list(installed_fonts().families), **kwargs}


def _legend_font(size: float) -> dict:
    return {"family": list(installed_fonts().families), "size": size}


def _t(text: str) -> str:
    """Text as it can be drawn (see ``Fonts.drawable``)."""
    return installed_fonts().drawable(text)


def _strings(obj) -> list[str]:
    """Every string held by a figure-data object (dataclass fields, tuples), depth first."""
    if isinstance(obj, str):
        return [obj]
    if is_dataclass(obj) and not isinstance(obj, type):
        return [s for f in fields(obj) for s in _strings(getattr(obj, f.name))]
    if isinstance(obj, (tuple, list)):
        return [s for item in obj for s in _strings(item)]
    return []


def font_note(*figures) -> str | None:
    """In calib's words, which characters of the figures' text no installed font can draw, or None.

    >>> font_note() is None
    True
    """
    fonts = installed_fonts()
    missing: dict[str, None] = {}
    for text in (s for fig in figures for s in _strings(fig)):
        missing.update(dict.fromkeys(fonts.missing(text)))
    if not missing:
        return None
    chars = list(missing)
    shown = ", ".join(f"{c} (U+{ord(c):04X})" for c in chars[:5]) + (f" and {len(chars) - 5} more" if len(chars) > 5 else "")
    return (f"note: no installed font can draw {len(chars)} character{'s' if len(chars) != 1 else ''} of the plot "
            f"labels: {shown}; the plots show them as <U+code>. Install a font that has them (for example Noto Sans CJK "
            "or Noto Emoji) to see them drawn.")


def _new_figure(width: float, height: float) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _axes(fig: "Figure", left: float, bottom: float, width: float, height: float):
    """Axes placed in inches from the figure's lower-left corner."""
    w, h = fig.get_size_inches()
    return fig.add_axes((left / w, bottom / h, width / w, height / h))


def png_bytes(fig: "Figure") -> bytes:
    """The PNG of ``fig``, byte-identical across runs (no Software/time metadata).

    >>> fig = _new_figure(1, 1)
    >>> png_bytes(fig)[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
    True
    """
    buf = io.BytesIO()
    with warnings.catch_warnings():  # characters no font has are already replaced; nothing of matplotlib's reaches stderr
        warnings.filterwarnings("ignore", message=GLYPH_WARNING, category=UserWarning)
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def _style_unit_axes(ax, fontsize: float, ticks: tuple[float, ...]) -> None:
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=fontsize, colors=INK)
    ax.grid(True, color=LIGHT, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_curves(ax, curves: tuple[Curve, ...], marker_size: float, line_width: float, detail: bool = True) -> None:
    """Diagonal, then per curve: shaded gap, Wilson intervals and the observed points.

    ``detail=False`` leaves out gap and intervals (crowded small overlay panels).
    """
    ax.plot([0, 1], [0, 1], linestyle=(0, (4, 3)), color=GREY, linewidth=1.0, zorder=1)
    alpha = 0.2 if len(curves) == 1 else 0.13
    for curve in curves:
        colour = STAGE_COLOURS.get(curve.stage, BLUE)
        d = curve.drawn
        x, y = curve.mean_conf[d], curve.observed[d]
        if x.size == 0:
            continue
        if detail:
            ax.fill_between(x, y, x, color=colour, alpha=alpha, linewidth=0, zorder=2)
            ax.vlines(x, curve.ci_low[d], curve.ci_high[d], color=colour, linewidth=line_width * 0.75, alpha=0.85, zorder=3)
        ax.plot(x, y, color=colour, linewidth=line_width, marker="o", markersize=marker_size,
                markeredgecolor="white", markeredgewidth=0.6, zorder=4)


def _draw_counts(ax, curves: tuple[Curve, ...], log: bool, fontsize: float) -> None:
    """Count bars for the non-empty bins; grey for one stage, stage colours side by side for two."""
    n = len(curves)
    for j, curve in enumerate(curves):
        d = curve.drawn
        if not d.any():
            continue
        lo, hi = curve.lo[d], curve.hi[d]
        width = (hi - lo) / n
        colour = GREY if n == 1 else STAGE_COLOURS.get(curve.stage, BLUE)
        ax.bar(lo + j * width, curve.count[d], width=width * 0.9, align="edge", color=colour, linewidth=0)
    ax.set_xlim(0.0, 1.0)
    if log:
        ax.set_yscale("log", nonpositive="clip")
        ax.set_ylim(bottom=0.7)
    ax.tick_params(labelsize=fontsize, colors=INK)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _stage_name(stage: str, method: str) -> str:
    return f"after ({method})" if stage == "after" and method else stage


def _legend_handles(curves: tuple[Curve, ...], method: str = "", detail: bool = True, counts: bool = True) -> list:
    """Legend entries: one per stage colour, then the meaning of each mark in neutral grey."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    if len(curves) == 1:
        colour = STAGE_COLOURS.get(curves[0].stage, BLUE)
        handles.append(Line2D([], [], color=colour, marker="o", markeredgecolor="white", linewidth=2, label="observed per bin"))
        if detail:
            handles.append(Line2D([], [], color=colour, marker="|", markersize=12, linestyle="none", label="Wilson 95% interval"))
            handles.append(Patch(facecolor=colour, alpha=0.2, label="gap to diagonal"))
        if counts:
            handles.append(Patch(facecolor=GREY, label="rows per bin"))
    else:
        for c in curves:
            colour = STAGE_COLOURS.get(c.stage, BLUE)
            handles.append(Line2D([], [], color=colour, marker="o", markeredgecolor="white", linewidth=2,
                                  label=_stage_name(c.stage, method)))
        handles.append(Line2D([], [], color=INK, marker="o", markeredgecolor="white", linewidth=2, label="observed per bin"))
        if detail:
            handles.append(Line2D([], [], color=INK, marker="|", markersize=12, linestyle="none", label="Wilson 95% interval"))
            handles.append(Patch(facecolor=INK, alpha=0.2, label="gap to diagonal"))
        if counts:
            handles.append(Patch(facecolor=INK, alpha=0.5, label="rows per bin"))
    handles.append(Line2D([], [], color=GREY, linestyle=(0, (4, 3)), label="perfect calibration"))
    return handles


def _wrap(text: str, width_in: float, fontsize: float) -> str:
    """Break ``text`` into lines that fit ``width_in`` inches at ``fontsize`` points (DejaVu Sans average)."""
    import textwrap

    chars = max(20, int(width_in * 72 / (fontsize * 0.58)))
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False)) or text


def _header(fig, title: str, subtitle: str, width: float, height: float) -> None:
    """Bold title and a (wrapped, at most two-line) subtitle at the top of ``fig``."""
    fig.text(0.2 / width, 1 - 0.22 / height, _t(title), **_font(FONT + 2.5, fontweight="bold", color=INK, va="top"))
    fig.text(0.2 / width, 1 - 0.58 / height, _t(_wrap(subtitle, width - 0.4, FONT - 0.5)),
             **_font(FONT - 0.5, color=INK, va="top", linespacing=1.3))


def reliability_figure(data: ReliabilityFigure, method: str = "") -> "Figure":
    """Draw ``reliability.png``: square reliability panel above a count histogram, legend on the right."""
    width, height = RELIABILITY_SIZE
    fig = _new_figure(width, height)
    main_left, main_size, strip_h, gap = 0.9, 5.0, 1.25, 0.12
    main_bottom = height - 1.15 - main_size
    strip_bottom = main_bottom - gap - strip_h
    _header(fig, data.title, data.subtitle, width, height)

    ax = _axes(fig, main_left, main_bottom, main_size, main_size)
    _style_unit_axes(ax, FONT, (0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    _draw_curves(ax, data.panel.curves, marker_size=6, line_width=2.0)
    ax.set_ylabel(_t(data.y_label), **_font(FONT + 1, color=INK))
    ax.tick_params(labelbottom=False)
    ax.text(0.98, 0.02, "below the diagonal:\noverconfident", transform=ax.transAxes, ha="right", va="bottom",
            **_font(FONT - 1, color=GREY, style="italic"))
    ax.text(0.02, 0.98, "above the diagonal:\nunderconfident", transform=ax.transAxes, ha="left", va="top",
            **_font(FONT - 1, color=GREY, style="italic"))

    hx = _axes(fig, main_left, strip_bottom, main_size, strip_h)
    _draw_counts(hx, data.panel.curves, data.panel.log_counts, FONT)
    hx.set_xticks((0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    hx.set_xlabel(_t(data.x_label), **_font(FONT + 1, color=INK))
    hx.set_ylabel(_t(data.count_label + (" (log)" if data.panel.log_counts else "")), **_font(FONT, color=INK))
    hx.grid(True, axis="y", color=LIGHT, linewidth=0.8)
    hx.set_axisbelow(True)

    handles = _legend_handles(data.panel.curves, method)
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=((main_left + main_size + 0.15) / width, (main_bottom + main_size) / height),
               prop=_legend_font(FONT - 1), frameon=False, handlelength=1.8, borderaxespad=0.0)
    return fig


def _grid(n: int) -> tuple[int, int]:
    cols = min(MAX_COLUMNS, max(1, math.ceil(math.sqrt(n))))
    return cols, max(1, math.ceil(n / cols))


def classes_figure(data: ClassesFigure, method: str = "") -> "Figure":
    """Draw ``classes.png``: one small reliability panel with a count strip per class.

    With two stages (before/after) the panels show the curves only: intervals and
    gap shading of two noisy curves in a 2-inch panel hide more than they show.
    """
    cols, rows = _grid(len(data.panels))
    cell_h = CELL_TITLE + CELL_MAIN + 0.04 + CELL_STRIP + CELL_XAXIS
    width = max(CLASSES_LEFT + cols * CELL_W + CLASSES_RIGHT, 7.6)
    height = CLASSES_TOP + rows * cell_h + CLASSES_BOTTOM
    fig = _new_figure(width, height)
    _header(fig, data.title, data.note, width, height)
    curves = data.panels[0].curves if data.panels else ()
    detail = len(curves) <= 1
    handles = _legend_handles(curves, method, detail=detail)
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.2 / width, 1 - 1.0 / height), ncol=min(len(handles), 6),
               prop=_legend_font(FONT - 1), frameon=False, handlelength=1.6, borderaxespad=0.0, columnspacing=1.2)
    for k, panel in enumerate(data.panels):
        r, c = divmod(k, cols)
        left = CLASSES_LEFT + c * CELL_W
        top = height - CLASSES_TOP - r * cell_h
        main_bottom = top - CELL_TITLE - CELL_MAIN
        ax = _axes(fig, left, main_bottom, CELL_MAIN, CELL_MAIN)
        _style_unit_axes(ax, FONT - 1.5, (0.0, 0.5, 1.0))
        _draw_curves(ax, panel.curves, marker_size=3.5, line_width=1.4, detail=detail)
        ax.tick_params(labelbottom=False)
        eces = " → ".join("n/a" if cv.ece is None else f"{cv.ece:.4f}" for cv in panel.curves)
        ax.set_title(_t(f"{panel.title}\nECE {eces}{panel.ece_interval}\n{panel.size_text}"),
                     **_font(FONT - 1, color=INK, pad=3, linespacing=1.15))
        sx = _axes(fig, left, main_bottom - 0.04 - CELL_STRIP, CELL_MAIN, CELL_STRIP)
        _draw_counts(sx, panel.curves, panel.log_counts, FONT - 1.5)
        sx.set_xticks((0.0, 0.5, 1.0))
        sx.set_yticks([])
        sx.minorticks_off()
        if panel.log_counts:
            sx.text(1.01, 0.5, "log", transform=sx.transAxes, ha="left", va="center", **_font(FONT - 2.5, color=GREY))
    strip = "strip below each panel: rows per bin (log where marked)"
    footer = _wrap(f"x: {data.x_label}    y: {data.y_label}    {strip}", width - CLASSES_LEFT - 0.2, FONT - 0.5)
    fig.text(CLASSES_LEFT / width, 0.1 / height, _t(footer), **_font(FONT - 0.5, color=INK, va="bottom"))
    return fig


def _paired_bars(ax, groups: list[tuple[np.ndarray, np.ndarray, np.ndarray, str, str]]) -> None:
    """Bars of several groups side by side inside each bin: (lo, hi, heights, colour, label)."""
    n = len(groups)
    for j, (lo, hi, heights, colour, label) in enumerate(groups):
        width = (hi - lo) / n
        ax.bar(lo + j * width, heights, width=width * 0.92, align="edge", color=colour, linewidth=0, label=_t(label))


def confidence_figure(data: ConfidenceFigure, method: str = "") -> "Figure":
    """Draw ``confidence.png``: confidence histograms by outcome (by outcome and stage when calibrated)."""
    width, height = CONFIDENCE_SIZE
    fig = _new_figure(width, height)
    _header(fig, data.title, data.subtitle, width, height)
    bottom, top = 0.65, height - (1.85 if data.calibrated else 1.55)

    def finish(ax, show_ylabel: bool) -> None:
        ax.set_xlim(0.0, 1.0)
        ax.set_xticks((0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
        ax.set_ylim(bottom=0.0)
        ax.set_xlabel(_t(data.x_label), **_font(FONT + 1, color=INK))
        if show_ylabel:
            ax.set_ylabel(_t(data.y_label), **_font(FONT, color=INK))
        ax.tick_params(labelsize=FONT, colors=INK)
        ax.grid(True, axis="y", color=LIGHT, linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    def legend(handles, ncol: int) -> None:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.95 / width, 1 - 1.02 / height), ncol=ncol,
                   prop=_legend_font(FONT - 1), frameon=False, handlelength=1.8, borderaxespad=0.0, columnspacing=1.5)

    if not data.calibrated:
        s = data.series[0]
        ax = _axes(fig, 0.95, bottom, width - 1.25, top - bottom)
        _paired_bars(ax, [(s.lo, s.hi, s.height_positive, BLUE, f"{data.positive_name} ({s.positive.sum():,.0f} {data.unit})"),
                          (s.lo, s.hi, s.height_negative, VERMILLION, f"{data.negative_name} ({s.negative.sum():,.0f} {data.unit})")])
        ax.axvline(s.mean_conf, color=INK, linestyle=(0, (4, 3)), linewidth=1.2, label=_t(f"{data.mean_conf_name} {s.mean_conf:.3f}"))
        ax.axvline(s.mean_outcome, color=INK, linestyle=":", linewidth=1.5, label=_t(f"{data.mean_outcome_name} {s.mean_outcome:.3f}"))
        finish(ax, True)
        lines, bars = ax.get_legend_handles_labels()[0][:2], ax.get_legend_handles_labels()[0][2:]
        legend([bars[0], lines[0], bars[1], lines[1]], 2)
        return fig

    panel_w = (width - 1.8) / 2
    handles = []
    for j, (name, attr) in enumerate(((data.positive_name, "height_positive"), (data.negative_name, "height_negative"))):
        ax = _axes(fig, 0.95 + j * (panel_w + 0.55), bottom, panel_w, top - bottom)
        groups = []
        for s in data.series:
            label = _stage_name(s.stage, method)
            groups.append((s.lo, s.hi, getattr(s, attr), STAGE_COLOURS.get(s.stage, BLUE), f"{label}: {data.mean_conf_name} {s.mean_conf:.3f}, {data.mean_outcome_name} {s.mean_outcome:.3f} (all {data.unit})"))
        _paired_bars(ax, groups)
        ax.set_title(_t(name), **_font(FONT + 1, color=INK))
        finish(ax, j == 0)
        if j == 0:
            handles = ax.get_legend_handles_labels()[0]
    legend(handles, 1)
    return fig


def render_all(reliability: ReliabilityFigure, classes: ClassesFigure, confidence: ConfidenceFigure, method: str = "") -> dict[str, bytes]:
    """PNG bytes of the three figures, keyed by file name."""
    out = {}
    for name, fig in (("reliability.png", reliability_figure(reliability, method)),
                      ("classes.png", classes_figure(classes, method)),
                      ("confidence.png", confidence_figure(confidence, method))):
        out[name] = png_bytes(fig)
    return out
