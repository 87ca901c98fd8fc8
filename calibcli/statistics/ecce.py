"""ECCE: the binning-free cumulative calibration error (Arrieta-Ibarra, Gujral, Tannen, Tygert & Xu, JMLR 2022).

Sort the rows by score and let ``C_k = sum_{i <= k} w_i (y_i - p_i) / sum_i w_i`` with
``C_0 = 0``. Then, as mcgrad's ``ecce`` (facebookincubator/MCGrad ``metrics.py``):

- ``ecce``    = max_k C_k - min_k C_k (the range, Kuiper-type; 0 included),
- ``ecce_ks`` = max_k |C_k| (the Kolmogorov-Smirnov-type variant of the same paper),
- ``ecce_sigma`` = ``ecce`` / sqrt(sum w**2 p (1 - p)) * sum w (mcgrad's ``ecce_sigma``),
- ``ecce_p``  = 1 - F(ecce_sigma), F the CDF of the range of a standard Brownian motion on
  [0, 1] (mcgrad's ``ecce_pvalue``; its series and cut-offs are ported here).

Ties: rows with equal scores enter the sum together (``C`` is read only after each
distinct score), so the value does not depend on row order. mcgrad sorts with an
unstable argsort and reads ``C`` inside runs of ties too; without ties the two agree
exactly, with ties calib's value is at most mcgrad's.

Streaming: exact from the distinct-score table. Beyond its budget ``C`` is read only at
the edges of ``n_fine`` equal-width buckets (a lower bound of the exact value; ``exact``
False); the sums for sigma stay exact.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from calibcli.statistics.smooth import FineHistogramResult, _as_rows
from calibcli.statistics.states import DistinctWithBuckets
from calibcli.stats.base import Arrays, scalar
from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT, DistinctResult

DEFAULT_ECCE_FINE_BINS = 1 << 14
ECCE_SIGMA_MAX = 8.26732673  # mcgrad: the CDF is 1 - eps beyond
ECCE_SIGMA_MIN = 1e-20  # mcgrad: the p-value is 1 below


@dataclass(frozen=True)
class EcceResult:
    """ECCE (range), its KS variant, its sigma-scaled value and p-value; NaN without weight."""

    ecce: float
    ecce_ks: float
    ecce_sigma: float
    ecce_p: float
    rows: int
    weight: float
    exact: bool


def brownian_range_cdf(x: float) -> float:
    """CDF of the range (max - min) of a standard Brownian motion on [0, 1] at ``x`` > 0 (mcgrad's series).

    >>> round(brownian_range_cdf(1.0), 6), round(brownian_range_cdf(3.0), 6)
    (0.063365, 0.989201)
    """
    eps = sys.float_info.epsilon
    if x >= ECCE_SIGMA_MAX:
        return 1.0 - eps
    fact = 4.0 / math.sqrt(2.0 * math.pi) * (1.0 / x + x / math.pi ** 2)
    kmax = math.ceil(0.5 + x / math.pi / math.sqrt(2.0) * math.sqrt(math.log(fact / eps)))
    k = np.arange(kmax) + 0.5
    terms = (8.0 / x ** 2 + 2.0 / k ** 2 / math.pi ** 2) * np.exp(-2.0 * k ** 2 * math.pi ** 2 / x ** 2)
    return float(terms.sum())


def ecce_pvalue_from_sigma(sigma: float) -> float:
    """p-value of a sigma-scaled ECCE under perfect calibration (mcgrad's ``ecce_pvalue_from_sigma``)."""
    if math.isnan(sigma):
        return float("nan")
    if sigma < ECCE_SIGMA_MIN:
        return 1.0
    if sigma >= ECCE_SIGMA_MAX:
        return sys.float_info.epsilon
    return 1.0 - brownian_range_cdf(sigma)


def ecce_from_tables(table: DistinctResult | None, hist: FineHistogramResult, sum_w: float, sum_w2_var: float
                     ) -> EcceResult:
    """ECCE from the distinct-score table (None or over budget: the fine buckets) and the sigma sums."""
    nan = float("nan")
    if sum_w <= 0:
        return EcceResult(nan, nan, nan, nan, hist.rows, sum_w, True)
    if table is not None and table.exact:
        diff = table.positives - table.values * (table.positives + table.negatives)
        exact = True
    else:
        diff = hist.sum_wy - hist.sum_wp
        exact = False
    c = np.concatenate([[0.0], np.cumsum(diff) / sum_w])
    ecce = float(c.max() - c.min())
    ks = float(np.abs(c).max())
    sd = math.sqrt(max(sum_w2_var, 0.0)) / sum_w
    sigma = (math.inf if ecce != 0 else 0.0) if sd == 0 else ecce / sd
    return EcceResult(ecce, ks, sigma, ecce_pvalue_from_sigma(sigma), hist.rows, sum_w, exact)


class EcceState(DistinctWithBuckets):
    """Partial state of ECCE: distinct-score table, fine buckets beyond its budget, and two sums.

    >>> s = EcceState().update(np.array([0.2, 0.4]), np.array([1, 0]))
    >>> r = s.merge(EcceState().update(np.array([0.9]), np.array([1]))).finalize()
    >>> round(r.ecce, 6), round(r.ecce_ks, 6)
    (0.266667, 0.266667)
    """

    def __init__(self, max_distinct: int = DEFAULT_MAX_DISTINCT, n_fine: int = DEFAULT_ECCE_FINE_BINS):
        super().__init__(max_distinct, n_fine)
        self.sum_w = 0.0
        self.sum_w2_var = 0.0

    def update(self, conf, outcome, weight=None) -> "EcceState":
        """Add a batch: scores (n,), 0/1 outcomes (n,), optional weights (n,)."""
        p, y, w = _as_rows(conf, outcome, weight)  # validated once
        self._add(p, y, w)
        self.sum_w += float(w.sum())
        self.sum_w2_var += float(np.sum(w * w * p * (1.0 - p)))
        return self

    def merge(self, other: "EcceState") -> "EcceState":
        """A new state for the rows of both; the inputs are unchanged."""
        out = super().merge(other)
        out.sum_w = self.sum_w + other.sum_w
        out.sum_w2_var = self.sum_w2_var + other.sum_w2_var
        return out

    def finalize(self) -> EcceResult:
        return ecce_from_tables(self.table.finalize(), self.hist.finalize(), self.sum_w, self.sum_w2_var)

    def to_arrays(self) -> Arrays:
        return {**super().to_arrays(), "sum_w": self.sum_w, "sum_w2_var": self.sum_w2_var}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "EcceState":
        out = super().from_arrays(arrays)
        out.sum_w = float(scalar(arrays["sum_w"]))
        out.sum_w2_var = float(scalar(arrays["sum_w2_var"]))
        return out


def ecce(y_true, y_prob, *, sample_weight=None, max_distinct: int = DEFAULT_MAX_DISTINCT) -> EcceResult:
    """Estimated cumulative calibration error (range of the cumulative sum of y - p over sorted scores).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes, 0/1 (or bool).
    y_prob : array-like of shape (n,)
        Predicted probabilities of the outcome.
    sample_weight : array-like of shape (n,), optional
        Row weights.
    max_distinct : int, default 4,000,000
        Budget of distinct scores for the exact value; beyond it, fine-bucket edges (``exact`` False).

    Returns
    -------
    EcceResult
        ``ecce`` (as mcgrad's ``ecce``), ``ecce_ks``, ``ecce_sigma`` and ``ecce_p``.

    Examples
    --------
    >>> r = ecce([1, 0, 1, 0], [0.2, 0.4, 0.6, 0.8])
    >>> round(r.ecce, 6), round(r.ecce_ks, 6)
    (0.2, 0.2)
    """
    return EcceState(max_distinct).update(y_prob, y_true, sample_weight).finalize()
