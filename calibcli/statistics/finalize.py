"""Finalize a :class:`~calibcli.statistics.bundle.StatisticsBundle`: every statistic, its interval, the result.

The point values come from the helpers' finalize functions on the bundle's shared
tables (``debiased_from_table``, ``hosmer_lemeshow_from_table``,
``discrimination_from_table``, ``corp_from_tables``, ``ecce_from_tables``,
``smece_from_histogram``, ``ici_from_histogram``) and from the states' own finalize
(Brier decomposition, Spiegelhalter) given the summed arrays, so they equal the
per-statistic functions. Intervals: see :func:`calibcli.statistics.result.conventions`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from calibcli.statistics.brier import BrierDecompositionState
from calibcli.statistics.calibration_error import debiased_from_table
from calibcli.statistics.corp import corp_diagram_from_tables, corp_from_tables
from calibcli.statistics.cox import Z95
from calibcli.statistics.discrimination import discrimination_from_table
from calibcli.statistics.ecce import ecce_from_tables
from calibcli.statistics.hosmer_lemeshow import hosmer_lemeshow_from_table
from calibcli.statistics.ici import ici_from_histogram
from calibcli.statistics.result import (HIST_BOOTSTRAP, ICI_NAMES, CurveStatistics, StatisticsResult, conventions)
from calibcli.statistics.smooth import FineHistogramResult, smece_at, smece_from_histogram
from calibcli.statistics.spiegelhalter import SpiegelhalterState
from calibcli.statistics.table import TableResult
from calibcli.stats import rng
from calibcli.stats.distinct import DistinctResult
from calibcli.stats.intervals import percentile_interval

LEVEL = 0.95
NAN = float("nan")


def delong_variance(t: TableResult) -> tuple[float, float]:
    """(AUROC, DeLong's variance) from a count table per distinct score (ties count one half).

    V10 of a positive at score s: (negatives below s + half the negatives at s) / N-;
    V01 of a negative: (positives above + half those at s) / N+; the variance is
    ``S10 / N+ + S01 / N-`` with S the sample variances (DeLong, DeLong & Clarke-Pearson 1988).

    >>> from calibcli.statistics.table import ScoreTable
    >>> t = ScoreTable().update(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.0, 0.0, 1.0, 1.0])).finalize()
    >>> [round(v, 6) for v in delong_variance(t)]
    [0.75, 0.125]
    """
    pos, neg = t.positives, t.negatives
    m, n = float(pos.sum()), float(neg.sum())
    if m <= 1 or n <= 1:
        return (NAN, NAN) if m == 0 or n == 0 else (float(np.dot(pos, np.cumsum(neg) - 0.5 * neg)) / (m * n), NAN)
    v10 = (np.cumsum(neg) - 0.5 * neg) / n
    v01 = (m - np.cumsum(pos) + 0.5 * pos) / m
    auc = float(np.dot(pos, v10)) / m
    s10 = float(np.dot(pos, (v10 - auc) ** 2)) / (m - 1.0)
    s01 = float(np.dot(neg, (v01 - auc) ** 2)) / (n - 1.0)
    return auc, s10 / m + s01 / n


def shifted_basic(point: float, centre: float, replicates: np.ndarray, lo: float = 0.0, hi: float = 1.0
                  ) -> tuple[float, float] | None:
    """Basic bootstrap interval ``(2c - q_hi, 2c - q_lo)`` of replicates around ``centre``, moved by ``point - centre``.

    With ``centre == point`` this is the basic interval. Clipped to ``[lo, hi]``.

    >>> [round(x, 9) for x in shifted_basic(0.5, 0.5, np.arange(101.0) / 100)]
    [0.025, 0.975]
    """
    if not (math.isfinite(point) and math.isfinite(centre)):
        return None
    q = percentile_interval(replicates, LEVEL)
    if q is None:
        return None
    a, b = point + centre - q[1], point + centre - q[0]
    return float(min(max(a, lo), hi)), float(min(max(b, lo), hi))


def bin_metrics(sums: np.ndarray) -> dict[str, np.ndarray]:
    """ece_l2 and the Murphy terms from audit-bin sums ``(..., 6, B)`` (w, wp, wy, wpp, wpy, wyy)."""
    w, wp, wy = sums[..., 0, :], sums[..., 1, :], sums[..., 2, :]
    n = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        has = w > 0
        safe = np.where(has, w, 1.0)
        nn = np.where(n > 0, n, np.nan)
        ece_l2 = np.sqrt(np.sum(np.where(has, (wp - wy) ** 2 / safe, 0.0), axis=-1) / nn)
        ybar = wy.sum(axis=-1) / nn
        ybar_b = wy / safe
        rel = np.sum(np.where(has, (wp - wy) ** 2 / safe, 0.0), axis=-1) / nn
        res = np.sum(w * (ybar_b - ybar[..., None]) ** 2, axis=-1) / nn
        unc = ybar * (1.0 - ybar)
    return {"ece_l2": ece_l2, "brier_reliability": rel, "brier_resolution": res, "brier_uncertainty": unc,
            "corp_unc": unc}


def _as_distinct(t: TableResult) -> DistinctResult | None:
    """The table as CORP/ECCE read it: exact distinct scores, or None when it coarsened."""
    if not t.exact:
        return None
    return DistinctResult(t.values, t.rows, t.positives, t.negatives, t.total_rows, True)


def _smooth_hist(h: FineHistogramResult) -> FineHistogramResult:
    from calibcli.statistics.bundle import SMOOTH_BINS

    n = h.sum_w.size
    return h.coarsen(n // SMOOTH_BINS) if n > SMOOTH_BINS else h


def _pseudo_table(h: FineHistogramResult) -> TableResult:
    """A coarsened-table view of a histogram (its buckets as cells at their mean scores)."""
    keep = h.sum_w > 0
    w = h.sum_w[keep]
    return TableResult(h.mean_scores()[keep], np.rint(w).astype(np.int64), h.sum_wy[keep], w - h.sum_wy[keep],
                       h.sum_wp[keep], h.rows, 1)


ICI_CLASS_BINS = 1024  # per-class ICI runs on 1024 buckets (the headline on 4096)
ICI_BOOT_BINS = 256  # ICI replicates run loess on 256 buckets (its cost grows with the square of the points)
ICI_REPLICATES = 100  # and on the first 100 replicates only


def hist_statistics(h: FineHistogramResult, sigma: float) -> dict[str, float]:
    """The histogram-based statistics of one (replicate) histogram, smooth ECE at bandwidth ``sigma``."""
    out = {"ece_debiased": debiased_from_table(_pseudo_table(h)).value,
           "smece": smece_at(h, sigma) if math.isfinite(sigma) else NAN}
    sum_w = float(h.sum_w.sum())
    out["ecce"] = ecce_from_tables(None, h, sum_w, float(np.sum(h.sum_wp - h.sum_wpp))).ecce
    c = corp_from_tables(None, h)
    out["corp_mcb"], out["corp_dsc"] = c.mcb, c.dsc
    out["average_precision"] = discrimination_from_table(_pseudo_table(h)).average_precision
    return out


def ici_statistics(h: FineHistogramResult) -> dict[str, float]:
    r = ici_from_histogram(h.coarsen(h.sum_w.size // ICI_BOOT_BINS) if h.sum_w.size > ICI_BOOT_BINS else h)
    return {"ici": r.ici, "e50": r.e50, "e90": r.e90, "emax": r.emax}


def _group_bootstrap(state, weights: np.ndarray, point: dict[str, float | None], sigma: float, rows: int,
                     with_ici: bool) -> dict[str, tuple[float, float]]:
    """Intervals of the histogram-based statistics from the groups' histograms (see the conventions)."""
    gb = state.group_bins
    edges = np.linspace(0.0, 1.0, gb + 1)
    total = FineHistogramResult(edges, *state.group_hist.sum(axis=0), rows)
    centre = hist_statistics(total, sigma)
    reps = np.einsum("rg,gjb->rjb", weights, state.group_hist)
    values: dict[str, list[float]] = {k: [] for k in (*centre, *ICI_NAMES)}
    for r in range(reps.shape[0]):
        h = FineHistogramResult(edges, *reps[r], rows)
        stats = hist_statistics(h, sigma)
        if with_ici and r < ICI_REPLICATES:
            stats.update(ici_statistics(h))
        for k, v in stats.items():
            values[k].append(v)
    if with_ici:
        centre.update(ici_statistics(total))
    out = {}
    for k in HIST_BOOTSTRAP:
        if k in centre and point.get(k) is not None:
            iv = shifted_basic(point[k], centre[k], np.array(values[k]))
            if iv is not None:
                out[k] = iv
    return out


def _curve(bundle, i: int, full: bool, cox, weights: np.ndarray | None) -> tuple[CurveStatistics, Any]:
    plan, state = bundle.plans[i], bundle.curves[i]
    t = state.table.finalize()
    h = state.hist.finalize()
    dres = _as_distinct(t)
    vals: dict[str, float | None] = {}
    ivs: dict[str, tuple[float, float]] = {}
    skipped: list[str] = []
    bin_sums = state.bins.sum(axis=0)
    brier = BrierDecompositionState(plan.edges)
    brier.sums = bin_sums
    bd = brier.finalize()
    bm = bin_metrics(bin_sums)
    vals["ece_l2"] = float(bm["ece_l2"])
    vals.update(brier_reliability=bd.reliability, brier_resolution=bd.resolution, brier_uncertainty=bd.uncertainty)
    sp = SpiegelhalterState()
    sp.sums = state.spiegel.sum(axis=0)
    spr = sp.finalize()
    vals.update(spiegelhalter_z=spr.z, spiegelhalter_p=spr.p_value)
    hl = hosmer_lemeshow_from_table(t)
    vals.update(hosmer_lemeshow=hl.statistic, hosmer_lemeshow_p=hl.p_value)
    vals["ece_debiased"] = debiased_from_table(t).value
    disc = discrimination_from_table(t)
    vals.update(auroc=disc.auroc, average_precision=disc.average_precision)
    _, var = delong_variance(t)
    if math.isfinite(disc.auroc) and math.isfinite(var):
        sd = math.sqrt(max(var, 0.0))
        ivs["auroc"] = (max(disc.auroc - Z95 * sd, 0.0), min(disc.auroc + Z95 * sd, 1.0))
    hs = _smooth_hist(h)
    smooth = smece_from_histogram(hs)
    vals["smece"] = smooth.smece
    vals["ecce"] = ecce_from_tables(dres, h, float(h.sum_w.sum()), float(np.sum(h.sum_wp - h.sum_wpp))).ecce
    corp = corp_from_tables(dres, h)
    vals.update(corp_mcb=corp.mcb, corp_dsc=corp.dsc, corp_unc=corp.unc)
    if full:
        r = ici_from_histogram(hs if plan.headline or hs.sum_w.size <= ICI_CLASS_BINS
                               else hs.coarsen(hs.sum_w.size // ICI_CLASS_BINS))
        vals.update(ici=r.ici, e50=r.e50, e90=r.e90, emax=r.emax)
    else:
        skipped.extend(ICI_NAMES)
        skipped.append("corp_bands")
        vals.update({k: None for k in ICI_NAMES})
    c = cox.get(plan.curve)
    if c is not None:
        vals.update(cox_slope=c.slope, cox_intercept=c.intercept, calibration_in_the_large=c.calibration_in_the_large)
        for name, iv in (("cox_slope", c.slope_interval), ("cox_intercept", c.intercept_interval),
                         ("calibration_in_the_large", c.citl_interval)):
            if all(math.isfinite(x) for x in iv):
                ivs[name] = (float(iv[0]), float(iv[1]))
    else:
        vals.update(cox_slope=None, cox_intercept=None, calibration_in_the_large=None)
    vals = {k: (None if v is None or not math.isfinite(float(v)) else float(v)) for k, v in vals.items()}
    if weights is not None and state.bins.shape[0] == weights.shape[1]:
        reps = bin_metrics(np.einsum("rg,gjb->rjb", weights, state.bins))
        for name, rv in reps.items():
            if vals.get(name) is not None:
                iv = shifted_basic(vals[name], vals[name], rv)
                if iv is not None:
                    ivs[name] = iv
    if weights is not None and state.group_bins:
        ivs.update(_group_bootstrap(state, weights, vals, smooth.sigma, h.rows, full))
    diagram = corp_diagram_from_tables(dres, h) if full else None
    k = plan.curve if isinstance(plan.curve, int) else None
    cs = CurveStatistics(plan.curve, plan.label, int(t.total_rows), vals, ivs, tuple(skipped), t.exact,
                         t.resolution, plan.fine_bins, plan.table_cells, k)
    return cs, diagram


def _binned_ece(state) -> float:
    s = state.bins.sum(axis=0)
    n = s[0].sum()
    return float(np.abs(s[1] - s[2]).sum() / n) if n > 0 else -1.0


def finalize_bundle(bundle, cox: dict) -> StatisticsResult:
    """The :class:`StatisticsResult` of a fed bundle (``cox``: CoxResult by curve)."""
    b = bundle.budget
    weights = rng.group_poisson1_weights(bundle.seed, b.n_replicates, b.n_groups) if b.n_replicates >= 2 else None
    class_idx = list(range(1, len(bundle.plans)))
    worst = sorted(class_idx, key=lambda i: -_binned_ece(bundle.curves[i]))[:b.max_full_classes]
    head, head_diagram = _curve(bundle, 0, True, cox, weights)
    classes, diagrams = [], {}
    for i in class_idx:
        cs, d = _curve(bundle, i, i in worst, cox, weights)
        classes.append(cs)
        if d is not None:
            diagrams[int(bundle.plans[i].curve)] = d
    scheme: dict[str, Any] = {
        "groups": b.n_groups, "replicates": b.n_replicates if weights is not None else 0, "seed": bundle.seed,
        "keyed_on": "id" if bundle.key_on_ids else "row", "group_bins": b.group_bins, "level": LEVEL,
        "max_values": b.max_values, "max_full_classes": b.max_full_classes,
        "interval_method": "basic bootstrap (grouped, Poisson(1) group weights); Wald (Cox); DeLong (auroc)",
        "cox_fitted": bool(cox),
    }
    return StatisticsResult(bundle.task.value, head, tuple(classes), conventions(bundle.task.value, scheme), scheme,
                            head_diagram, diagrams)
