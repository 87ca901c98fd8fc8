"""The figures of the HTML report: the PNG figures of ``calibcli.render.plots`` as inline SVG data URIs.

The figure builders of :mod:`calibcli.render.plots` draw from the data objects of
:mod:`calibcli.plotdata`; here each figure is saved as SVG (glyphs as paths, so
no font is needed to view it) with a fixed ``svg.hashsalt`` and no date, which
makes the bytes depend only on what is drawn. Each figure comes with alt text
that states what a reader of the picture would take from it. No statistics here.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from calibcli.report import AuditReport

#: matplotlib's settings for one ``savefig`` call (a context, never the global rcParams)
SVG_SETTINGS = {"svg.hashsalt": "calib-html", "svg.fonttype": "path", "svg.image_inline": True}


@dataclass(frozen=True)
class InlineFigure:
    """One figure ready for an ``<img>``: a ``data:`` URI, its alt text, a caption and its pixel size."""

    key: str
    uri: str
    alt: str
    caption: str
    width: int
    height: int


def svg_bytes(fig: "Figure") -> bytes:
    """The SVG of ``fig`` with no date and a fixed hash salt, so the same figure gives the same bytes.

    >>> from calibcli.render.plots import _new_figure
    >>> svg_bytes(_new_figure(1, 1)) == svg_bytes(_new_figure(1, 1))
    True
    """
    import matplotlib

    from calibcli.render.plots import DPI, GLYPH_WARNING

    buf = io.BytesIO()
    with matplotlib.rc_context(SVG_SETTINGS), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=GLYPH_WARNING, category=UserWarning)
        fig.savefig(buf, format="svg", dpi=DPI, facecolor="white", metadata={"Date": None})
    return buf.getvalue()


def _size(svg: bytes) -> tuple[int, int]:
    """The width and height (CSS px) of an SVG written by matplotlib (in pt)."""
    m = re.search(rb'width="([0-9.]+)pt" height="([0-9.]+)pt"', svg[:2000])
    if not m:
        return 0, 0
    return round(float(m.group(1)) * 4 / 3), round(float(m.group(2)) * 4 / 3)


def data_uri(svg: bytes) -> str:
    """``svg`` as a base64 ``data:image/svg+xml`` URI (an ``<img>`` keeps its ids apart from the page's)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def inline_figure(key: str, fig: "Figure", alt: str, caption: str) -> InlineFigure:
    """``fig`` drawn as SVG into an :class:`InlineFigure` (its ``data:`` URI and pixel size)."""
    svg = svg_bytes(fig)
    return InlineFigure(key, data_uri(svg), alt, caption, *_size(svg))


def figure_html(fig: InlineFigure, prefix: str, caption: str) -> str:
    """The ``<figure id="{prefix}fig-{key}">`` of ``fig`` with ``caption`` under it."""
    return (f"<figure id=\"{prefix}fig-{fig.key}\">\n<img src=\"{fig.uri}\" alt=\"{escape(fig.alt)}\" "
            f"width=\"{fig.width}\" height=\"{fig.height}\" loading=\"eager\" decoding=\"sync\">\n"
            f"<figcaption>{escape(caption)}</figcaption>\n</figure>\n")


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _curve_words(curves, method: str) -> str:
    parts = []
    for c in curves:
        stage = {"before": "before calibration", "after": f"after {method or 'calibration'}"}.get(c.stage, "")
        over = int(((c.observed < c.mean_conf) & c.drawn).sum())
        drawn = int(c.drawn.sum())
        parts.append(f"{stage + ': ' if stage else ''}ECE {_fmt(c.ece)}, {over} of {drawn} non-empty bins below the diagonal "
                     "(overconfident)")
    return "; ".join(parts)


def reliability_alt(data, method: str) -> str:
    """Alt text of the reliability diagram: what it shows and the ECE of each curve."""
    return (f"Reliability diagram: {data.y_label} against {data.x_label} per bin, with the diagonal of perfect "
            f"calibration and a histogram of {data.count_label}. {_curve_words(data.panel.curves, method)}.")


def classes_alt(data, method: str) -> str:
    """Alt text of the per-class small multiples: the classes shown, worst first, with their ECE."""
    shown = ", ".join(f"{p.name} (ECE {' to '.join(_fmt(c.ece) for c in p.curves)})" for p in data.panels[:8])
    more = f" and {len(data.panels) - 8} more" if len(data.panels) > 8 else ""
    left = f"; {data.left_out} classes without a panel (see the per-class table)" if data.left_out else ""
    return f"One small reliability diagram per class, worst ECE first: {shown}{more}{left}."


def confidence_alt(data, method: str) -> str:
    """Alt text of the confidence histogram: the mean confidence against the mean outcome."""
    parts = []
    for s in data.series:
        stage = {"before": "before calibration: ", "after": f"after {method or 'calibration'}: "}.get(s.stage, "")
        parts.append(f"{stage}{data.mean_conf_name} {s.mean_conf:.3f}, {data.mean_outcome_name} {s.mean_outcome:.3f}")
    return (f"Histogram of {data.x_label}, split into {data.positive_name} and {data.negative_name}; "
            + "; ".join(parts) + ".")


def report_figures(report: "AuditReport", max_panels: int = 25) -> tuple[InlineFigure, ...]:
    """The reliability, per-class and confidence figures of ``report`` as inline SVG, in that order.

    Parameters
    ----------
    report : the audit report (with calibration, the curves before and after are overlaid).
    max_panels : most per-class panels (worst ECE first).
    """
    from calibcli.plotdata import classes_data, confidence_data, method_name, reliability_data
    from calibcli.render.plots import classes_figure, confidence_figure, reliability_figure

    method = method_name(report)
    rel, cls, conf = reliability_data(report), classes_data(report, max_panels), confidence_data(report)
    out = []
    for key, data, draw, alt, caption in (
        ("reliability", rel, reliability_figure, reliability_alt(rel, method), rel.title),
        ("classes", cls, classes_figure, classes_alt(cls, method), cls.title),
        ("confidence", conf, confidence_figure, confidence_alt(conf, method), conf.title),
    ):
        out.append(inline_figure(key, draw(data, method), alt, caption))
    return tuple(out)
