"""Which way a reliability curve is off, in words."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibcli.binning import BinStats

HIGH_CONFIDENCE = 0.5  # bins whose mean confidence is at least this count as "high-confidence"
MIN_BIN_COUNT = 10  # bins with fewer rows are too noisy to judge
MIN_GAP = 0.02  # gaps below this are called calibrated whatever the sample size


@dataclass(frozen=True)
class Direction:
    """Verdict on a curve's high-confidence bins.

    ``verdict`` is one of 'overconfident', 'underconfident', 'calibrated',
    'insufficient data'; ``says`` and ``observed`` are the pooled mean confidence and
    observed frequency over the judged bins, ``count`` their rows.
    """

    verdict: str
    says: float | None
    observed: float | None
    count: int
    text: str


def describe_direction(stats: BinStats) -> Direction:
    """Judge the populated high-confidence bins of one curve.

    A gap is called over- or under-confidence when it exceeds both 0.02 and twice
    the binomial standard error of the observed frequency.

    >>> from calibcli.binning import uniform_edges
    >>> conf = np.full(100, 0.9); hit = np.arange(100) < 72
    >>> describe_direction(BinStats.from_arrays(conf, hit, uniform_edges(10))).text
    'overconfident: says 0.90, right 72% of the time'
    """
    sel = (stats.count >= MIN_BIN_COUNT) & (stats.mean_conf >= HIGH_CONFIDENCE)
    n = float(stats.count[sel].sum())
    if n == 0:
        return Direction("insufficient data", None, None, 0,
                         f"insufficient data: no bin with confidence >= {HIGH_CONFIDENCE} holds {MIN_BIN_COUNT}+ rows")
    says = float(stats.sum_conf[sel].sum() / n)
    right = float(stats.sum_outcome[sel].sum() / n)
    se = math.sqrt(max(right * (1 - right), 1.0 / n) / n)
    gap = says - right
    if abs(gap) <= max(MIN_GAP, 2 * se):
        verdict = "calibrated"
    else:
        verdict = "overconfident" if gap > 0 else "underconfident"
    return Direction(verdict, says, right, int(n), f"{verdict}: says {says:.2f}, right {right:.0%} of the time")


def worst_first(eces: np.ndarray) -> np.ndarray:
    """Indices ordering classes by ECE, largest first, NaN last, ties by index."""
    key = np.where(np.isnan(eces), -np.inf, eces)
    return np.lexsort((np.arange(len(eces)), -key))
