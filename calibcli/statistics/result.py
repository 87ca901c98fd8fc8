"""Typed results of the statistics bundle, their JSON fragments and the conventions they follow."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calibcli.statistics.corp import CorpDiagram
    from calibcli.statistics.inputs import Curve

# the JSON names, in display order
STATISTICS = (
    "ece_l2", "ece_debiased", "smece", "ecce", "ici", "e50", "e90", "emax",
    "spiegelhalter_z", "spiegelhalter_p", "hosmer_lemeshow", "hosmer_lemeshow_p",
    "cox_slope", "cox_intercept", "calibration_in_the_large",
    "brier_reliability", "brier_resolution", "brier_uncertainty", "corp_mcb", "corp_dsc", "corp_unc",
    "auroc", "average_precision",
)
ICI_NAMES = ("ici", "e50", "e90", "emax")
HIST_BOOTSTRAP = ("ece_debiased", "smece", "ecce", "ici", "e50", "e90", "emax", "corp_mcb", "corp_dsc",
                  "average_precision")
BIN_BOOTSTRAP = ("ece_l2", "brier_reliability", "brier_resolution", "brier_uncertainty", "corp_unc")
NO_INTERVAL = ("spiegelhalter_z", "spiegelhalter_p", "hosmer_lemeshow", "hosmer_lemeshow_p", "average_precision")

Interval = tuple[float, float]


def finite(x: Any) -> float | None:
    """A float, or None for None, NaN and infinities (JSON null).

    >>> finite(float("nan")), finite(2)
    (None, 2.0)
    """
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class CurveStatistics:
    """Every statistic of one curve.

    ``values``: by JSON name (None: undefined, not computed or skipped). ``intervals``:
    95% intervals ``(low, high)`` by name, only for the names that have one here.
    ``skipped``: names not computed on this curve (budget). ``exact``: the curve's
    distinct-score table held every distinct score (else cells of relative width
    ``resolution``); ``fine_bins``: buckets of its fine histogram.
    """

    curve: "Curve"
    label: str
    rows: int
    values: dict[str, float | None]
    intervals: dict[str, Interval]
    skipped: tuple[str, ...]
    exact: bool
    resolution: float
    fine_bins: int
    table_cells: int
    class_index: int | None = None

    def metrics_dict(self) -> dict[str, float | None]:
        return {name: finite(self.values.get(name)) for name in STATISTICS}

    def intervals_dict(self) -> dict[str, list[float] | None]:
        out: dict[str, list[float] | None] = {}
        for name in STATISTICS:
            iv = self.intervals.get(name)
            out[name] = None if iv is None or finite(iv[0]) is None or finite(iv[1]) is None else [float(iv[0]), float(iv[1])]
        return out

    def details(self) -> dict[str, Any]:
        return {"curve": str(self.curve), "label": self.label, "rows": int(self.rows), "exact": bool(self.exact),
                "resolution": float(self.resolution), "fine_bins": int(self.fine_bins),
                "table_cells": int(self.table_cells), "skipped": list(self.skipped)}


@dataclass(frozen=True)
class StatisticsResult:
    """The statistics of the headline curve and of each class curve.

    ``classes``: one entry per class of a multi-class or multilabel file (class
    order); empty for binary files (their statistics are the positive class's, in
    ``headline``) and top-label files. ``corp``: the CORP diagram data of the
    headline (for ``corp.png``); ``class_corp``: those of the classes that got one.
    ``scheme``: how the intervals were formed. ``conventions``: one sentence per name.
    """

    task: str
    headline: CurveStatistics
    classes: tuple[CurveStatistics, ...]
    conventions: dict[str, str]
    scheme: dict[str, Any]
    corp: "CorpDiagram | None" = None
    class_corp: dict[int, "CorpDiagram"] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON fragments: ``metrics``/``intervals`` (headline, merged into the report's),
        ``classes`` (per class index: ``name``, ``metrics``, ``intervals``), ``conventions``
        (merged into the report's) and ``statistics`` (scheme, budgets, skipped names per curve)."""
        return {
            "metrics": self.headline.metrics_dict(),
            "intervals": self.headline.intervals_dict(),
            "classes": [{"name": c.label, "metrics": c.metrics_dict(), "intervals": c.intervals_dict()} for c in self.classes],
            "conventions": dict(self.conventions),
            "statistics": {**self.scheme, "headline": self.headline.details(),
                           "classes": [c.details() for c in self.classes]},
        }


def conventions(task: str, scheme: dict[str, Any]) -> dict[str, str]:
    """One sentence per statistic (the modules' conventions) plus what each interval is an interval for."""
    from calibcli.statistics import brier, cox, discrimination, hosmer_lemeshow, spiegelhalter
    from calibcli.statistics.calibration_error import CONVENTION_DEBIASED, CONVENTION_L2

    g, r, gb = scheme["groups"], scheme["replicates"], scheme["group_bins"]
    curves = {"binary": "binary files: the positive class (P(y=1) against y=1)",
              "multiclass": "multi-class files: the top label (headline) and each class one-vs-rest",
              "multilabel": "multilabel files: every (row, label) pair pooled (headline) and each label",
              "top_label": "top-label files: the top label only"}.get(task, task)
    return {
        "statistics_curves": f"statistics are computed per curve; {curves}",
        "ece_l2": CONVENTION_L2,
        "ece_debiased": CONVENTION_DEBIASED,
        "smece": "smece: smooth ECE of Blasiok & Nakkiran (relplot 1.0.3's smECE with its bandwidth search) from a "
                 "fine mergeable histogram (4096 buckets, or the curve's fine_bins when fewer)",
        "ecce": "ecce: range max_k C_k - min_k C_k of the cumulative sum C of (y - p)/N over scores sorted ascending, "
                "tied scores entering together (mcgrad's ecce); exact from the distinct-score table, else read at "
                "fine-bucket edges (a lower bound)",
        "ici": "ici, e50, e90, emax: mean, median, 90th percentile and maximum of |p - f(p)| (Austin & Steyerberg "
               "2019), f a loess (span 0.75, degree 2, tricube) on the weighted means of a 4096-bucket histogram (1024 buckets "
               "for class curves: the loess costs the square of the buckets)",
        "spiegelhalter": spiegelhalter.CONVENTION,
        "cox": cox.CONVENTION,
        "hosmer_lemeshow": hosmer_lemeshow.CONVENTION,
        "brier_decomposition": brier.CONVENTION,
        "corp": "corp_mcb, corp_dsc, corp_unc: CORP decomposition of the curve's Brier score "
                "(Dimitriadis, Gneiting & Jordan 2021): PAV (isotonic) recalibration on distinct scores, "
                "MCB = S(p) - S(cep), DSC = S(ybar) - S(cep), UNC = ybar(1 - ybar); on fine buckets when the "
                "distinct scores exceed the table",
        "discrimination": discrimination.CONVENTION,
        "statistics_intervals": (
            f"95% intervals of the statistics: cox_slope, cox_intercept and calibration_in_the_large Wald "
            f"(+-1.96 standard errors from the observed information); auroc DeLong's variance from the distinct-score "
            f"table (exact; tied scores count one half), estimate +-1.96 sd, clipped to [0, 1]; ece_l2, the Brier "
            f"terms and corp_unc a basic bootstrap over {g} row-keyed groups (Poisson(1) weight per group and "
            f"replicate, {r} replicates, seed {scheme['seed']}) of the audit-bin sums, for the headline and each "
            f"class; ece_debiased, smece, ecce, ici, e50, e90, emax, corp_mcb, corp_dsc and average_precision "
            f"(headline only) the same "
            f"groups' {gb}-bucket histograms: the basic bootstrap interval of the statistic at that resolution, "
            f"shifted by (full-resolution estimate - its {gb}-bucket value); each is an interval for the population "
            f"value of the statistic as defined (plug-in errors are biased upward: compare ece_debiased)"),
        "statistics_no_interval": (
            "no interval: spiegelhalter_z/_p and hosmer_lemeshow/_p (test statistics with their p-values), "
            "and per class ece_debiased, smece, ecce, ici, e50, e90, emax, corp_mcb, corp_dsc and "
            "average_precision (the group histograms are kept for the headline only)"),
        "statistics_budget": (
            f"memory: the tables of all curves share {scheme['max_values']:.3g} float64 values; a distinct-score "
            f"table over its cells merges neighbouring scores (relative width 'resolution' in statistics.classes[]); "
            f"ICI/E50/E90/Emax and CORP consistency bands are computed for the headline and the "
            f"{scheme['max_full_classes']} classes with the largest binned ECE only ('skipped' lists the rest)"),
    }
