"""Figures of a subgroup audit: per-group reliability small multiples (``groups.png``) and,
with ``--by-time``, the drift of the headline ECE over the periods (``drift.png``).

Agg ``Figure`` objects (no pyplot, no global rcParams), Okabe-Ito colours, fixed layouts
in inches and PNGs without metadata (:func:`calibcli.render.plots.png_bytes`), so the same
report gives the same bytes. Reads a :class:`~calibcli.subgroups.result.SubgroupReport`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from calibcli.render.plots import BLUE, GREY, INK, LIGHT, VERMILLION, _axes, _font, _new_figure, _t, png_bytes
from calibcli.subgroups.result import GroupResult, SubgroupReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe-Ito, for the series of a drift plot
SERIES = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
MAX_PANELS = 12
MAX_SERIES = len(SERIES)
PANEL_W, PANEL_H, COLS = 2.6, 2.6, 4
TOP, BOTTOM, LEFT, RIGHT = 1.0, 0.45, 0.6, 0.25
GROUP_FILES = ("groups.png", "drift.png")


def _panel_groups(report: SubgroupReport, limit: int) -> list[GroupResult]:
    """The groups of the panels, in :meth:`SubgroupReport.display_order`."""
    groups = report.display_order()
    return groups[:limit]


def groups_figure(report: SubgroupReport, max_panels: int = MAX_PANELS) -> "Figure":
    """Small multiples: each group's headline reliability curve (points sized by rows) on the diagonal.

    Periods alone in time order, otherwise eligible groups worst first; the worst group's title in vermillion.
    """
    groups = _panel_groups(report, max_panels)
    n = max(1, len(groups))
    cols = min(COLS, n)
    rows = (n + cols - 1) // cols
    width = LEFT + cols * PANEL_W + RIGHT
    height = TOP + rows * PANEL_H + BOTTOM
    fig = _new_figure(width, height)
    worst = report.worst
    more = len(report.groups) - len(groups)
    title = f"Reliability by {' x '.join(report.columns)}"
    fig.text(LEFT / width, 1 - 0.35 / height, _t(title), **_font(13, color=INK, weight="bold", va="center"))
    sub = f"{len(report.groups)} groups" + (f"; {len(groups)} shown ({more} more in the JSON report)" if more else "")
    if worst is not None:
        sub += f"; worst: {worst.name} (ECE {worst.ece:.3f})"
    fig.text(LEFT / width, 1 - 0.7 / height, _t(sub), **_font(9, color=GREY, va="center"))
    for i, g in enumerate(groups):
        r, c = divmod(i, cols)
        ax = _axes(fig, LEFT + c * PANEL_W + 0.1, BOTTOM + (rows - 1 - r) * PANEL_H + 0.35, PANEL_W - 0.45, PANEL_H - 0.8)
        ax.plot([0, 1], [0, 1], color=GREY, linewidth=0.8, linestyle="--")
        rel = g.reliability
        ok = rel.count > 0
        x, y, cnt = rel.mean_conf[ok], rel.observed[ok], rel.count[ok]
        colour = VERMILLION if g is worst else (GREY if not g.eligible else BLUE)
        if x.size:
            ax.plot(x, y, color=colour, linewidth=1.2)
            size = 6 + 60 * np.sqrt(cnt / max(1, cnt.max()))
            ax.scatter(x, y, s=size, color=colour, zorder=3, linewidths=0)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xticks([0, 0.5, 1])
        ax.set_yticks([0, 0.5, 1])
        ax.tick_params(labelsize=7, colors=INK)
        for s in ax.spines.values():
            s.set_color(LIGHT)
        name = g.name if len(g.name) <= 30 else g.name[:29] + "…"
        ax.set_title(_t(name), **_font(8.5, color=VERMILLION if g is worst else INK, loc="left"))
        ece = "-" if g.ece is None else f"{g.ece:.3f}"
        ax.text(0.03, 0.97, f"n={g.n:,}\nECE {ece}", transform=ax.transAxes, va="top", **_font(7.5, color=INK))
    return fig


def _series(report: SubgroupReport) -> tuple[str, dict[str, list[GroupResult]]]:
    """(time column, groups per series: the values of the other columns, in key order)."""
    tcol = report.time_columns[0]
    ti = report.columns.index(tcol)
    out: dict[str, list[GroupResult]] = {}
    for g in report.groups:
        key = ", ".join(f"{c}={v}" for j, (c, v) in enumerate(zip(g.columns, g.values)) if j != ti) or "all rows"
        out.setdefault(key, []).append(g)
    return tcol, out


def drift_figure(report: SubgroupReport, overall_ece: float | None = None) -> "Figure":
    """The headline ECE of each period (95% interval bars when present), one line per combination of the
    other ``--by`` columns (at most 8: the largest), rows per period below; hollow markers for small periods."""
    tcol, series = _series(report)
    ti = report.columns.index(tcol)
    periods = sorted({g.values[ti] for g in report.groups}, key=lambda v: (v == "(missing)", v))
    pos = {p: i for i, p in enumerate(periods)}
    keys = sorted(series, key=lambda k: -sum(g.n for g in series[k]))[:MAX_SERIES]
    width = max(7.0, min(16.0, 1.5 + 0.45 * len(periods)))
    height = 5.6
    fig = _new_figure(width, height)
    fig.text(0.8 / width, 1 - 0.35 / height, _t(f"Calibration drift by {tcol}"), **_font(13, color=INK, weight="bold", va="center"))
    w = report.worst
    sub = "headline ECE per period with its 95% interval" + (f"; worst: {w.name} (ECE {w.ece:.3f})" if w else "")
    fig.text(0.8 / width, 1 - 0.7 / height, _t(sub), **_font(9, color=GREY, va="center"))
    ax = _axes(fig, 0.8, 1.9, width - 1.2, height - 2.9)
    bars = _axes(fig, 0.8, 0.9, width - 1.2, 0.8)
    totals = np.zeros(len(periods))
    for j, k in enumerate(keys):
        gs = series[k]
        x = np.array([pos[g.values[ti]] for g in gs], dtype=float)
        y = np.array([np.nan if g.ece is None else g.ece for g in gs])
        colour = SERIES[j % len(SERIES)]
        ax.plot(x, y, color=colour, linewidth=1.4, label=_t(k) if len(keys) > 1 else None)
        for g, xi, yi in zip(gs, x, y):
            iv = g.intervals.get("ece")
            if iv is not None:
                ax.plot([xi, xi], [iv[0], iv[1]], color=colour, linewidth=0.9, alpha=0.6)
            ax.scatter([xi], [yi], s=28, zorder=3, color=colour if g.eligible else "white", edgecolors=colour, linewidths=1.0)
    for g in report.groups:
        totals[pos[g.values[ti]]] += g.n
    if overall_ece is not None:
        ax.axhline(overall_ece, color=GREY, linewidth=0.8, linestyle="--")
        ax.text(len(periods) - 0.5, overall_ece, " all rows", va="bottom", ha="right", **_font(7.5, color=GREY))
    ax.set_xlim(-0.5, len(periods) - 0.5)
    ax.set_ylim(bottom=0)
    ax.set_xticks(range(len(periods)))
    ax.set_xticklabels([])
    ax.set_ylabel("ECE", **_font(9, color=INK))
    ax.tick_params(labelsize=7.5, colors=INK)
    if len(keys) > 1:
        ax.legend(loc="upper left", frameon=False, prop={"family": "DejaVu Sans", "size": 7.5})
    bars.bar(range(len(periods)), totals, color=LIGHT, edgecolor=GREY, linewidth=0.5)
    bars.set_xlim(-0.5, len(periods) - 0.5)
    bars.set_xticks(range(len(periods)))
    step = max(1, len(periods) // 16)
    bars.set_xticklabels([_t(p) if i % step == 0 else "" for i, p in enumerate(periods)], rotation=45, ha="right",
                         **_font(7))
    bars.set_ylabel("rows", **_font(8, color=INK))
    bars.tick_params(labelsize=7, colors=INK)
    for a in (ax, bars):
        for s in a.spines.values():
            s.set_color(LIGHT)
    return fig


def render_group_pngs(report: SubgroupReport, overall_ece: float | None = None, max_panels: int = MAX_PANELS) -> dict[str, bytes]:
    """``groups.png`` (and ``drift.png`` with ``--by-time``) as PNG bytes, deterministic."""
    out = {"groups.png": png_bytes(groups_figure(report, max_panels))}
    if report.time_columns:
        out["drift.png"] = png_bytes(drift_figure(report, overall_ece))
    return out
