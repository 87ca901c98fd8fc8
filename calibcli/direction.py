"""Which way a reliability curve is off, in words."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from calibcli.report import Reliability

HIGH_CONFIDENCE = 0.5  # bins whose mean confidence is at least this count as "high-confidence"
MIN_ROWS = 10  # fewer high-confidence rows than this are too few to judge
MIN_GAP = 0.02  # gaps below this are called calibrated whatever the sample size


@dataclass(frozen=True)
class Direction:
    """Verdict on a curve's high-confidence bins.

    ``verdict`` is one of 'overconfident', 'underconfident', 'calibrated',
    'uncertain', 'insufficient data'; ``says`` and ``observed`` are the pooled mean confidence and
    observed frequency over the judged bins, ``count`` their rows.
    """

    verdict: str
    says: float | None
    observed: float | None
    count: int
    text: str


def describe_direction(stats: "Reliability", scope: str | None = None) -> Direction:
    """Judge the populated high-confidence bins of one curve, pooled.

    ``scope`` names the rows the curve is over when that is not every row
    (top-label files: "rows predicted as 'cat'"); the text then ends with it.

    The judged bins are the non-empty bins whose mean confidence is at least 0.5;
    fewer than 10 rows in them is "insufficient data".
    A gap of at most 0.02 is "calibrated"; a larger gap within twice the binomial
    standard error of the observed frequency is "uncertain"; beyond that it is
    "overconfident" (says more than it gets right) or "underconfident".

    >>> from calibcli.binning import uniform_edges
    >>> from calibcli.report import Reliability
    >>> conf = np.full(100, 0.9); hit = np.arange(100) < 72
    >>> describe_direction(Reliability.from_arrays(conf, hit, uniform_edges(10))).text
    'overconfident: says 0.90, right 72% of the time'
    >>> describe_direction(Reliability.from_arrays(conf, hit, uniform_edges(10)), "rows predicted as 'cat'").text
    "overconfident: says 0.90, right 72% of the time (rows predicted as 'cat')"
    """
    tail = f" ({scope})" if scope else ""
    sel = (stats.count > 0) & (stats.mean_conf >= HIGH_CONFIDENCE)
    n = float(stats.count[sel].sum())
    if n < MIN_ROWS:
        return Direction("insufficient data", None, None, int(n),
                         f"insufficient data: {int(n)} rows in bins with mean confidence >= {HIGH_CONFIDENCE} (need {MIN_ROWS}){tail}")
    says = float(stats.sum_conf[sel].sum() / n)
    right = float(stats.sum_outcome[sel].sum() / n)
    se = math.sqrt(max(right * (1 - right), 1.0 / n) / n)
    gap = says - right
    if abs(gap) <= MIN_GAP:
        verdict = "calibrated"
    elif abs(gap) <= 2 * se:
        verdict = "uncertain"
    else:
        verdict = "overconfident" if gap > 0 else "underconfident"
    return Direction(verdict, says, right, int(n), f"{verdict}: says {says:.2f}, right {right:.0%} of the time{tail}")


def worst_first(eces: np.ndarray) -> np.ndarray:
    """Indices ordering classes by ECE, largest first, NaN last, ties by index.

    ECEs equal to 12 decimals count as ties (the two classes of a binary problem
    have the same ECE up to float rounding), so the order is stable.

    >>> worst_first(np.array([0.1, np.nan, 0.3, 0.1 + 1e-15])).tolist()
    [2, 0, 3, 1]
    """
    key = np.where(np.isnan(eces), -np.inf, np.round(eces, 12))
    return np.lexsort((np.arange(len(eces)), -key))
