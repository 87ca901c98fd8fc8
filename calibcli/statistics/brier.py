"""Murphy's decomposition of the Brier score over the audit's bins, with the within-bin terms.

For one curve (p = P(event), y in {0, 1}; the binary Brier score of this curve,
half of the two-class "sum over classes" Brier the audit reports for binary files):

- reliability ``REL = sum_b (n_b / N) (pbar_b - ybar_b)**2``
- resolution ``RES = sum_b (n_b / N) (ybar_b - ybar)**2``
- uncertainty ``UNC = ybar (1 - ybar)``

``BS = REL - RES + UNC`` holds exactly only when p is constant within each bin.
In general ``BS = REL - RES + UNC + WBV - WBC`` (Stephenson, Coelho and Jolliffe
2008) with the within-bin variance ``WBV = sum_b sum_i (p_i - pbar_b)**2 / N`` and
covariance ``WBC = 2 sum_b sum_i (p_i - pbar_b)(y_i - ybar_b) / N``;
``within = BS - (REL - RES + UNC)`` is reported (it equals ``WBV - WBC`` for 0/1 outcomes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.base import Arrays
from calibcli.statistics.inputs import Curve, binary_arrays, binned_arrays, check_curve
from calibcli.statistics.states import curve_from_arrays

CONVENTION = (
    "brier_reliability, brier_resolution, brier_uncertainty: Murphy's decomposition of the curve's binary Brier "
    "score over the audit's bins; BS = REL - RES + UNC + within, where within (within-bin variance minus "
    "covariance of p) is 0 only when p is constant within bins"
)
_SUMS = ("w", "wp", "wy", "wpp", "wpy", "wyy")


@dataclass(frozen=True)
class BrierDecomposition:
    """Brier score of the curve, its Murphy terms and the within-bin gap (NaN without weight)."""

    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within: float
    within_variance: float
    within_covariance: float


class BrierDecompositionState:
    """Partial state: per bin the weighted sums of 1, p, y, p^2, p y and y^2.

    Parameters
    ----------
    edges : array of shape (B + 1,)
        Bin edges (``lo < p <= hi``; the first bin also takes its lower edge).
    curve : "positive", "top", "pooled" or int

    >>> s = BrierDecompositionState([0.0, 0.5, 1.0]).update(np.array([0.2, 0.2, 0.8, 0.8]), np.array([0, 1, 1, 1]))
    >>> r = s.finalize(); [round(x, 6) for x in (r.brier, r.reliability, r.resolution, r.uncertainty, r.within)]
    [0.19, 0.065, 0.0625, 0.1875, 0.0]
    """

    def __init__(self, edges, curve: Curve = "positive"):
        e = np.array(edges, dtype=np.float64)
        if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
            raise ValueError("edges must be a 1-D strictly increasing finite array of at least 2 values")
        self.edges = e
        self.curve = check_curve(curve)
        self.sums = np.zeros((len(_SUMS), e.size - 1))

    def update(self, conf, outcome=None, weight=None) -> "BrierDecompositionState":
        """Add rows: ``(conf, outcome[, weight])`` arrays, or a ``Batch`` read through ``curve``."""
        from calibcli.binning import assign_bins

        p, y, w = binary_arrays(conf, outcome, weight, self.curve)
        idx = assign_bins(p, self.edges)
        ones = np.ones_like(p) if w is None else w
        for j, v in enumerate((ones, ones * p, ones * y, ones * p * p, ones * p * y, ones * y * y)):
            self.sums[j] += np.bincount(idx, weights=v, minlength=self.sums.shape[1])
        return self

    def merge(self, other: "BrierDecompositionState") -> "BrierDecompositionState":
        """Add the rows of ``other`` (same edges) in place; return ``self``."""
        if not isinstance(other, BrierDecompositionState) or other.curve != self.curve or \
                not np.array_equal(other.edges, self.edges):
            raise ValueError("cannot merge Brier decompositions of different curves or edges")
        self.sums = self.sums + other.sums
        return self

    def finalize(self) -> BrierDecomposition:
        w, wp, wy, wpp, wpy, wyy = self.sums
        n = w.sum()
        if n <= 0:
            return BrierDecomposition(*(float("nan"),) * 7)
        has = w > 0
        safe = np.where(has, w, 1.0)
        pbar, ybar_b, ybar = wp / safe, wy / safe, wy.sum() / n
        brier = float((wpp.sum() - 2.0 * wpy.sum() + wyy.sum()) / n)
        rel = float(np.sum(w * (pbar - ybar_b) ** 2) / n)
        res = float(np.sum(w * (ybar_b - ybar) ** 2) / n)
        unc = float(ybar * (1.0 - ybar))
        wbv = float(np.sum(wpp - wp * pbar) / n)
        wbc = float(2.0 * np.sum(wpy - wp * ybar_b) / n)
        return BrierDecomposition(brier, rel, res, unc, brier - (rel - res + unc), wbv, wbc)

    def to_arrays(self) -> Arrays:
        return {"curve": str(self.curve), "edges": self.edges.copy(), **{k: v.copy() for k, v in zip(_SUMS, self.sums)}}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "BrierDecompositionState":
        out = cls(arrays["edges"], curve_from_arrays(arrays["curve"]))
        out.sums = np.stack([np.array(arrays[k], dtype=np.float64) for k in _SUMS])
        return out


def _decompose(y_true, y_prob, n_bins, strategy, edges, sample_weight) -> BrierDecomposition:
    p, y, w, e = binned_arrays(y_true, y_prob, sample_weight, n_bins, strategy, edges)
    return BrierDecompositionState(e).update(p, y, w).finalize()


def brier_decomposition(y_true, y_prob, *, n_bins: int = 15, strategy: str = "uniform", edges=None,
                        sample_weight=None) -> BrierDecomposition:
    """Murphy's decomposition of the binary Brier score over bins, with the within-bin gap.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Probabilities of the outcome, in [0, 1].
    n_bins : int
        Number of bins (when ``edges`` is not given).
    strategy : {"uniform", "quantile"}
        Equal-width or equal-mass bins.
    edges : array-like, optional
        Explicit bin edges.
    sample_weight : array-like of shape (n,), optional

    Returns
    -------
    BrierDecomposition
        ``brier == reliability - resolution + uncertainty + within``.

    Examples
    --------
    >>> r = brier_decomposition([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8], n_bins=2)
    >>> round(r.reliability - r.resolution + r.uncertainty, 6), round(r.brier, 6)
    (0.19, 0.19)
    """
    return _decompose(y_true, y_prob, n_bins, strategy, edges, sample_weight)


def brier_reliability(y_true, y_prob, *, n_bins: int = 15, strategy: str = "uniform", edges=None,
                      sample_weight=None) -> float:
    """Reliability term ``sum_b (n_b / N) (pbar_b - ybar_b)**2`` (see :func:`brier_decomposition`).

    Examples
    --------
    >>> round(brier_reliability([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8], n_bins=2), 6)
    0.065
    """
    return _decompose(y_true, y_prob, n_bins, strategy, edges, sample_weight).reliability


def brier_resolution(y_true, y_prob, *, n_bins: int = 15, strategy: str = "uniform", edges=None,
                     sample_weight=None) -> float:
    """Resolution term ``sum_b (n_b / N) (ybar_b - ybar)**2`` (see :func:`brier_decomposition`).

    Examples
    --------
    >>> round(brier_resolution([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8], n_bins=2), 6)
    0.0625
    """
    return _decompose(y_true, y_prob, n_bins, strategy, edges, sample_weight).resolution


def brier_uncertainty(y_true, y_prob, *, sample_weight=None) -> float:
    """Uncertainty term ``ybar (1 - ybar)`` (it does not depend on the bins).

    Examples
    --------
    >>> brier_uncertainty([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8])
    0.1875
    """
    return _decompose(y_true, y_prob, 1, "uniform", None, sample_weight).uncertainty
