"""Which curves the statistics bundle follows, and how a fixed memory budget is split between them.

Curves (names as :mod:`calibcli.statistics.inputs` reads them):

- binary files: ``"positive"`` (P(class 1) against label == 1), the headline;
- multi-class: ``"top"`` (the headline) and every class ``k`` one-vs-rest;
- multilabel: ``"pooled"`` (every (row, label) pair; the headline) and every label ``k``;
- top-label files: ``"top"`` only (their per-class curves are not one-vs-rest).

Budget: ``max_values`` float64 values for every table of every curve (default
4e6, 32 MB). Fixed parts come first: the headline's ``n_groups`` bootstrap
histograms of ``group_bins`` buckets, and per curve the audit-bin sums per group
(``n_groups`` x 6 x bins; per-class curves keep one group, i.e. no per-class
bootstrap, when those sums would take more than a tenth of the budget). A quarter
of the rest goes to the fine histograms (the largest power of two of buckets, at
most 16384 and at least 1024, that fits every curve), the remainder to the
distinct-score tables (5 values a cell; the headline takes half of it when there
are class curves). A table over its cells coarsens (see
:mod:`calibcli.statistics.table`) and the result states its resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.predictions import Task
from calibcli.statistics.inputs import Curve

DEFAULT_MAX_VALUES = 4_000_000
DEFAULT_GROUPS = 128  # as the audit's grouped bootstrap (calibcli.measure.DEFAULT_BLOCKS): the same row groups
DEFAULT_GROUP_BINS = 1024
DEFAULT_REPLICATES = 200
DEFAULT_FULL_CLASSES = 5
MAX_FINE_BINS = 1 << 14
MIN_FINE_BINS = 1 << 10
MIN_TABLE_CELLS = 1 << 12
TABLE_VALUES_PER_CELL = 5  # key, rows, positives, negatives, sum of p
HIST_SUMS = 5  # FineHistogram: w, wp, wy, wpp, wpy
BIN_SUMS = 6  # per audit bin: w, wp, wy, wpp, wpy, wyy
SPIEGEL_SUMS = 2


@dataclass(frozen=True)
class StatisticsBudget:
    """Memory and cost limits of the statistics bundle.

    Attributes
    ----------
    max_values : int
        float64 values held by all curves' tables together (default 4e6 = 32 MB).
    n_groups : int
        Row-keyed bootstrap groups (``calibcli.stats.rng.group_of``; 128 as the audit).
    group_bins : int
        Buckets of each group's histogram (headline curve only).
    n_replicates : int
        Bootstrap replicates formed at finalize (Poisson(1) weight per group).
    max_full_classes : int
        Class curves (the worst by binned ECE) that also get ICI/E50/E90/Emax and a
        CORP diagram with consistency bands; the others skip them (stated in the result).
    """

    max_values: int = DEFAULT_MAX_VALUES
    n_groups: int = DEFAULT_GROUPS
    group_bins: int = DEFAULT_GROUP_BINS
    n_replicates: int = DEFAULT_REPLICATES
    max_full_classes: int = DEFAULT_FULL_CLASSES

    def __post_init__(self):
        if self.n_groups < 1 or self.group_bins < 1 or self.n_replicates < 0 or self.max_full_classes < 0:
            raise ValueError("n_groups and group_bins must be >= 1; n_replicates and max_full_classes >= 0")
        if MAX_FINE_BINS % self.group_bins:
            raise ValueError(f"group_bins must divide {MAX_FINE_BINS}, got {self.group_bins}")


@dataclass(frozen=True)
class CurvePlan:
    """One curve: its name, the label shown, its audit bin edges and its table sizes."""

    curve: Curve
    label: str
    edges: np.ndarray
    n_groups: int  # groups of the audit-bin sums (1: no bootstrap of this curve's binned statistics)
    fine_bins: int
    table_cells: int
    headline: bool

    @property
    def values(self) -> int:
        """float64 values this curve may hold (tables at their budget)."""
        b = self.edges.size - 1
        return (self.table_cells * TABLE_VALUES_PER_CELL + self.fine_bins * HIST_SUMS
                + self.n_groups * (BIN_SUMS * b + SPIEGEL_SUMS))


def curve_names(task: Task, n_classes: int) -> list[tuple[Curve, str | None]]:
    """``(curve, class index or None)`` of every curve of a task, the headline first.

    >>> curve_names(Task.MULTICLASS, 2)
    [('top', None), (0, 0), (1, 1)]
    """
    task = Task(task)
    if task is Task.BINARY:
        return [("positive", 1)]
    if task is Task.TOP_LABEL:
        return [("top", None)]
    head = "pooled" if task is Task.MULTILABEL else "top"
    return [(head, None), *((k, k) for k in range(n_classes))]


def _edges_of(edges, curve: Curve) -> np.ndarray:
    if curve == "positive":
        return np.asarray(edges.of_class(1), dtype=np.float64)
    if curve in ("top", "pooled"):
        return np.asarray(edges.top, dtype=np.float64)
    return np.asarray(edges.of_class(int(curve)), dtype=np.float64)


def plan_curves(task: Task, classes: tuple[str, ...], edges, budget: StatisticsBudget = StatisticsBudget()
                ) -> tuple[CurvePlan, ...]:
    """The curves of a task with their share of ``budget`` (see the module docstring).

    >>> from calibcli.bin_edges import BinEdges
    >>> plans = plan_curves(Task.MULTICLASS, tuple("abc"), BinEdges.uniform(15))
    >>> [p.curve for p in plans], plans[0].fine_bins, sum(p.values for p in plans) <= 4_000_000
    (['top', 0, 1, 2], 16384, True)
    """
    task = Task(task)
    names = curve_names(task, len(classes))
    c = len(names)
    g = budget.n_groups
    all_edges = [_edges_of(edges, curve) for curve, _ in names]
    group_hist = g * HIST_SUMS * budget.group_bins
    bin_values = [g * (BIN_SUMS * (e.size - 1) + SPIEGEL_SUMS) for e in all_edges]
    class_groups = g if sum(bin_values[1:]) <= budget.max_values / 10 else 1
    fixed = group_hist + bin_values[0] + sum(v // g * class_groups for v in bin_values[1:])
    rest = max(budget.max_values - fixed, 0)
    fine = MAX_FINE_BINS
    while fine > MIN_FINE_BINS and c * HIST_SUMS * fine > rest / 4:
        fine //= 2
    tables = max(rest - c * HIST_SUMS * fine, 0) // TABLE_VALUES_PER_CELL
    head_cells = tables if c == 1 else tables // 2
    class_cells = (tables - head_cells) // max(c - 1, 1)
    out = []
    for i, ((curve, k), e) in enumerate(zip(names, all_edges)):
        label = str(curve) if k is None else str(classes[k])
        cells = max(MIN_TABLE_CELLS, head_cells if i == 0 else class_cells)
        out.append(CurvePlan(curve, label, e, g if i == 0 else class_groups, fine, int(cells), i == 0))
    return tuple(out)
