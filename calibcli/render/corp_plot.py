"""Drawing ``corp.png``: the CORP reliability diagram (PAV-recalibrated probabilities) with consistency bands.

No statistics here: the data come from :func:`calibcli.statistics.corp.corp_diagram_from_tables`.
Explicit Agg ``Figure``, no pyplot, no rcParams; the Okabe-Ito colours, fonts and the
deterministic PNG writer of :mod:`calibcli.render.plots`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from calibcli.render.plots import BLUE, FONT, GREY, INK, LIGHT, ORANGE, _axes, _font, _header, _legend_font, _new_figure, png_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from calibcli.statistics.corp import CorpDiagram

CORP_SIZE = (8.0, 8.0)  # inches
HIST_BINS = 50


def corp_figure(data: "CorpDiagram", title: str = "CORP reliability diagram") -> "Figure":
    """The figure: CEP line over its consistency band and the diagonal, score histogram below."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    width, height = CORP_SIZE
    fig = _new_figure(width, height)
    level = f"{100 * data.level:g}%"
    subtitle = (f"MCB {data.mcb:.4f}  DSC {data.dsc:.4f}  UNC {data.unc:.4f}  (Brier = MCB - DSC + UNC). "
                f"Band: {level} consistency band ({data.n_boot} resamples, outcomes drawn from the scores)."
                + (" Points pool fine buckets of scores." if data.pooled else ""))
    _header(fig, title, subtitle, width, height)
    ax = _axes(fig, 0.75, 2.15, 4.5, 4.5)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_aspect("equal", adjustable="box")
    ticks = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=FONT - 1, colors=INK)
    ax.grid(True, color=LIGHT, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.plot([0, 1], [0, 1], linestyle=(0, (4, 3)), color=GREY, linewidth=1.0, zorder=1)
    finite = np.isfinite(data.lower) & np.isfinite(data.upper)
    if finite.any():
        ax.fill_between(data.x[finite], data.lower[finite], data.upper[finite], color=ORANGE, alpha=0.3,
                        linewidth=0, zorder=2)
    if data.x.size:
        ax.plot(data.x, data.cep, color=BLUE, linewidth=2.0, zorder=4, drawstyle="default")
    ax.set_ylabel("conditional event probability (PAV)", **_font(FONT, color=INK))

    hist = _axes(fig, 0.75, 0.6, 4.5, 1.1)
    counts, edges = np.histogram(data.x, bins=HIST_BINS, range=(0.0, 1.0), weights=data.weight)
    nonempty = counts > 0
    hist.bar(edges[:-1][nonempty], counts[nonempty], width=(edges[1] - edges[0]) * 0.9, align="edge", color=GREY,
             linewidth=0)
    hist.set_xlim(0.0, 1.0)
    hist.set_xticks(ticks)
    hist.tick_params(labelsize=FONT - 1, colors=INK)
    for side in ("top", "right"):
        hist.spines[side].set_visible(False)
    hist.set_xlabel("predicted probability", **_font(FONT, color=INK))
    hist.set_ylabel("weight", **_font(FONT, color=INK))

    handles = [Line2D([], [], color=BLUE, linewidth=2, label="CORP (PAV) recalibration"),
               Patch(facecolor=ORANGE, alpha=0.3, label=f"{level} consistency band"),
               Line2D([], [], color=GREY, linestyle=(0, (4, 3)), label="perfect calibration"),
               Patch(facecolor=GREY, label="scores (weight)")]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(5.45 / width, 6.65 / height), frameon=False,
               prop=_legend_font(FONT - 1))
    return fig


def corp_png_bytes(data: "CorpDiagram", title: str = "CORP reliability diagram") -> bytes:
    """The PNG bytes of :func:`corp_figure` (deterministic)."""
    return png_bytes(corp_figure(data, title))


def write_corp_png(data: "CorpDiagram", path: str | Path, title: str = "CORP reliability diagram") -> None:
    """Write ``corp.png`` for ``data`` to ``path``.

    >>> import tempfile, os
    >>> from calibcli.statistics.corp import CorpState
    >>> d = CorpState().update(np.array([0.1, 0.4, 0.6, 0.9]), np.array([0, 1, 0, 1])).diagram(n_boot=5)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_corp_png(d, os.path.join(tmp, "corp.png"))
    ...     open(os.path.join(tmp, "corp.png"), "rb").read(8) == b'\\x89PNG\\r\\n\\x1a\\n'
    True
    """
    Path(path).write_bytes(corp_png_bytes(data, title))
