"""Bootstrap intervals of the recommended thresholds and of their objective values.

A Poisson(1) weight per row summed over a set of rows is Poisson(its count), and
the replicate thresholds only need the weighted counts of positives and
negatives between candidate thresholds: so a replicate is one Poisson draw per
(cell, outcome), drawn from the merged count tables, never from rows. The cells
are whole groups of tie blocks: every candidate when there are at most
``max_groups`` of them, else ``max_groups`` equal-mass cut points refined near
each recommendation (``LOCAL_POINTS`` cut points within ``LOCAL_WIDTH * sqrt(n)``
rows of it, so replicate thresholds are not coarser than their own spread).

The draws are a function of the counts alone (seeded by ``(seed, target)``), so
the intervals are the same for any batching, batch order, partitioning and row
order of the same rows; and they cost nothing next to a pass over the data.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from calibcli.thresholds.select import _headline, _Rows, _select
from calibcli.thresholds.spec import CI_LEVEL, Recommendation, ThresholdSpec
from calibcli.thresholds.tables import Curve

LOCAL_WIDTH = 2.0
LOCAL_POINTS = 17


def _ci(values: np.ndarray) -> tuple[float, float] | None:
    """Percentile interval on the order statistics (no interpolation); NaN ignored."""
    v = np.sort(values[~np.isnan(values)])
    if v.size == 0:
        return None
    alpha = (1.0 - CI_LEVEL) / 2.0
    lo = v[int(math.floor(alpha * (v.size - 1)))]
    hi = v[int(math.ceil((1.0 - alpha) * (v.size - 1)))]
    return float(lo), float(hi)


def cut_targets(flagged: np.ndarray, max_groups: int, centers: list[int]) -> np.ndarray:
    """Flagged counts the cut points aim at: ``max_groups`` equal-mass ones and ``LOCAL_POINTS`` around each center."""
    n = flagged[-1]
    targets = [np.arange(1, max_groups) * (n / max_groups)]
    half = LOCAL_WIDTH * math.sqrt(n)
    for c in centers:
        targets.append(flagged[c] + np.linspace(-half, half, LOCAL_POINTS))
    return np.concatenate(targets)


def _candidates(flagged: np.ndarray, max_groups: int, centers: list[int], exact: bool = True) -> np.ndarray:
    """Candidate indices kept for bootstrap replicates (whole tie blocks only).

    All candidates when there are at most ``max_groups`` distinct scores. Else
    ``max_groups`` equal-mass cut points, refined near each recommendation:
    ``LOCAL_POINTS`` cut points within ``LOCAL_WIDTH * sqrt(n)`` rows of it, so
    the replicate thresholds are not coarser than their own spread. A cut point
    is the first candidate flagging at least its target. On a curve of bucket
    edges (``exact`` False: more distinct scores than the table's budget) the
    buckets holding a target were gathered exactly (:func:`calibcli.thresholds.refine.cut_segments`),
    so the cut points are those of the exact curve.
    """
    L = flagged.shape[0]
    if exact and L - 1 <= max_groups:
        return np.arange(L)
    cuts = np.searchsorted(flagged, cut_targets(flagged, max_groups, centers), side="left")
    return np.unique(np.concatenate(([0, L - 1], np.clip(cuts, 0, L - 1), centers)))


def _bootstrap(curve: Curve, keep: np.ndarray, n_boot: int, rng: np.random.Generator) -> _Rows:
    """Replicate cumulative counts (B', len(keep)) from Poisson-weighted block counts.

    Replicates without a positive or without a negative are left out (B' <= B).
    """
    pos = np.diff(curve.tp[keep])
    neg = np.diff(curve.fp[keep])
    zero = np.zeros((n_boot, 1), dtype=np.int64)
    tp = np.concatenate((zero, np.cumsum(rng.poisson(pos, size=(n_boot, pos.size)), axis=1)), axis=1)
    fp = np.concatenate((zero, np.cumsum(rng.poisson(neg, size=(n_boot, neg.size)), axis=1)), axis=1)
    ok = (tp[:, -1] > 0) & (fp[:, -1] > 0)
    return _Rows(tp[ok], fp[ok])


def bootstrap(curve: Curve, centers: list[int], spec: ThresholdSpec, seed_key: int,
              exact: bool = True) -> tuple[np.ndarray, _Rows] | None:
    """Kept candidate indices and the replicate curves over them; ``None`` without replicates.

    ``centers`` are the candidates chosen on ``curve`` (refined around);
    ``seed_key`` tells targets apart (the target's index); ``exact`` is False for
    a curve of bucket edges.
    """
    if spec.n_bootstrap == 0:
        return None
    keep = _candidates(curve.tp + curve.fp, spec.max_groups, centers, exact)
    return keep, _bootstrap(curve, keep, spec.n_bootstrap, np.random.default_rng([spec.seed, seed_key]))


def with_intervals(rec: Recommendation, o: str, boot, curve: Curve, spec: ThresholdSpec) -> Recommendation:
    keep, brows = boot
    btp, bfp = brows.tp, brows.fp
    R = btp.shape[0]
    if R == 0:
        return replace(rec, bootstrap_replicates=0)
    bj, bmet, bi = _select(o, brows, spec)
    rows = np.arange(R)
    tp, fp = btp[rows, bj], bfp[rows, bj]
    P, N = btp[:, -1], bfp[:, -1]
    thresholds = curve.threshold_at(keep[bj])
    fi = None if bi is None else btp[rows, bi] + bfp[rows, bi]
    values = _headline(o, tp, fp, P, N, spec, fi)
    rec = replace(rec, threshold_ci=_ci(thresholds), headline_ci=_ci(values), bootstrap_candidates=int(keep.size - 1),
                  bootstrap_replicates=int(R))
    if rec.met is not None:
        rec = replace(rec, met_rate=float(np.mean(bmet)))
    if bi is not None:
        rec = replace(rec, threshold_low_ci=_ci(curve.threshold_at(keep[bi])))
    return rec


def bootstrap_method(spec: ThresholdSpec) -> str:
    """How the intervals were computed, in words."""
    if spec.n_bootstrap == 0:
        return "no intervals (0 bootstrap replicates)"
    return (f"{int(CI_LEVEL * 100)}% percentile intervals from {spec.n_bootstrap} Poisson-bootstrap replicates (seed {spec.seed}): "
            "each row gets a Poisson(1) weight, drawn per block of equal scores from the merged count tables "
            "(a block's summed weight is Poisson(its count); no rows are revisited, and any batching gives the same draws); "
            f"with more than {spec.max_groups} distinct scores, replicate thresholds are chosen among {spec.max_groups} "
            f"equal-mass cut points between tie blocks plus {LOCAL_POINTS} cut points within {LOCAL_WIDTH:g}*sqrt(n) rows "
            "of each recommended threshold (the recommendation itself uses every distinct score; beyond the memory budget "
            "the cut points are among the edges of the buckets counted exactly)")
