"""L2 (RMS) calibration errors: the plug-in ``ece_l2`` over given bins and Kumar et al.'s debiased estimator.

``ece_l2`` = sqrt(sum_b (n_b / N) (obs_b - conf_b)**2) over the audit's bins
(:class:`calibcli.stats.bins.BinStats`, with its replicate axis for intervals).

``ece_debiased`` is the debiased L2 estimator of Kumar, Liang and Ma (2019,
"Verified uncertainty calibration"), with the binning of the reference package
``uncertainty-calibration`` (0.1.4, ``calibration.get_calibration_error(p, y,
p=2, debias=True)`` on 1-D probabilities):

- if the number of distinct scores is below N / 4 ("discrete" scores), every
  distinct score is its own bin; otherwise 15 equal-mass bins: the sorted scores
  are split as ``numpy.array_split`` splits them (the first ``N mod 15`` parts one
  longer) and an edge sits midway between the last score of one part and the
  first of the next; the last edge is 1, duplicate edges collapse, and a score
  goes to the first bin whose edge is >= it;
- per bin with n_b >= 2 the squared gap minus its sampling variance,
  ``(mean p - mean y)**2 - ybar (1 - ybar) / (n_b - 1)`` (bins of one row count 0);
- the estimate is ``sqrt(max(0, sum_b (n_b / N) term_b))``: an error, not its square.

Its state is a :class:`~calibcli.statistics.table.ScoreTable`, so the bins come
from exact order statistics in one pass while the distinct scores fit the
budget; beyond it the order statistics are those of cells of relative width
``resolution`` (the result says ``exact=False``). Sample weights act as
frequency weights (N, n_b and the order statistics count weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.base import Arrays
from calibcli.stats.bins import BinStats
from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT
from calibcli.statistics.inputs import Curve, binary_arrays, binned_arrays, check_curve
from calibcli.statistics.states import CurveTableState, curve_from_arrays
from calibcli.statistics.table import TableResult

DEBIASED_BINS = 15
CONVENTION_L2 = "ece_l2: plug-in RMS calibration error sqrt(sum_b (n_b/N) (observed_b - confidence_b)^2) over the audit's bins"
CONVENTION_DEBIASED = (
    "ece_debiased: Kumar, Liang & Ma (2019) debiased L2 calibration error with uncertainty-calibration's binning "
    "(15 equal-mass bins split as numpy.array_split, edges midway between neighbours; each distinct score its own "
    "bin when there are fewer than N/4); per bin (gap^2 - ybar(1-ybar)/(n_b-1)), bins of one row count 0; "
    "sqrt of the clipped sum (an error, not its square)"
)


@dataclass(frozen=True)
class L2Result:
    """``value``: the plug-in L2 ECE; ``replicates``: its bootstrap replicates (R,)."""

    value: float
    replicates: np.ndarray


class ECEL2State:
    """Partial state of the plug-in L2 ECE over fixed bin ``edges`` (a :class:`BinStats`).

    Gaps 0.2 (one row) and 0.3 (two rows): sqrt(0.04 / 3 + 0.09 * 2 / 3).

    >>> s = ECEL2State([0.0, 0.5, 1.0]).update(np.array([0.2, 0.9, 0.7]), np.array([0, 1, 0]))
    >>> round(s.finalize().value, 6)
    0.270801
    """

    def __init__(self, edges, curve: Curve = "positive", n_replicates: int = 0):
        self.curve = check_curve(curve)
        self.bins = BinStats(edges, n_replicates=n_replicates)

    def update(self, conf, outcome=None, weight=None, replicate_weights=None) -> "ECEL2State":
        """Add rows: ``(conf, outcome[, weight])`` arrays, or a ``Batch`` read through ``curve``."""
        p, y, w = binary_arrays(conf, outcome, weight, self.curve)
        self.bins.update(p, y, weight=w, replicate_weights=replicate_weights)
        return self

    def merge(self, other: "ECEL2State") -> "ECEL2State":
        """Add the rows of ``other`` in place; return ``self``."""
        if not isinstance(other, ECEL2State) or other.curve != self.curve:
            raise ValueError("cannot merge L2 ECE states of different curves")
        self.bins = self.bins.merge(other.bins)
        return self

    def finalize(self) -> L2Result:
        r = self.bins.finalize()
        return L2Result(float(r.l2_ece[0]), r.replicate_l2_ece[0].copy())

    def to_arrays(self) -> Arrays:
        return {"curve": str(self.curve), **self.bins.to_arrays()}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "ECEL2State":
        arrays = dict(arrays)
        out = cls(arrays["edges"], curve_from_arrays(arrays.pop("curve")))
        out.bins = BinStats.from_arrays(arrays)
        return out


def ece_l2(y_true, y_prob, *, n_bins: int = 15, strategy: str = "uniform", edges=None, sample_weight=None) -> float:
    """Plug-in RMS calibration error ``sqrt(sum_b (n_b/N) (observed_b - confidence_b)**2)``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Probabilities of the outcome, in [0, 1].
    n_bins : int
        Number of bins (when ``edges`` is not given).
    strategy : {"uniform", "quantile"}
        Equal-width or equal-mass bins (the project's rules, :mod:`calibcli.binning`).
    edges : array-like, optional
        Explicit bin edges (``lo < c <= hi``, the first bin also takes its lower edge).
    sample_weight : array-like of shape (n,), optional

    Returns
    -------
    float

    Examples
    --------
    >>> round(ece_l2([0, 1, 0], [0.2, 0.9, 0.7], n_bins=2), 6)
    0.270801
    """
    p, y, w, e = binned_arrays(y_true, y_prob, sample_weight, n_bins, strategy, edges)
    return ECEL2State(e).update(p, y, w).finalize().value


@dataclass(frozen=True)
class DebiasedResult:
    """The debiased L2 ECE, the squared estimate before clipping, the bins used and whether they are exact."""

    value: float
    squared: float
    n_bins: int
    discrete: bool
    exact: bool
    resolution: float


def debiased_from_table(t: TableResult, n_bins: int = DEBIASED_BINS) -> DebiasedResult:
    """Kumar et al.'s debiased L2 ECE from a finalized :class:`ScoreTable` (the module's binning)."""
    weight = t.weight
    keep = weight > 0
    values, weight, pos, sum_p = t.values[keep], weight[keep], t.positives[keep], t.sum_p[keep]
    total = float(weight.sum())
    nan = float("nan")
    if total <= 0:
        return DebiasedResult(nan, nan, 0, False, t.exact, t.resolution)
    discrete = t.exact and values.size < total / 4.0
    if discrete:
        bins = np.r_[(values[:-1] + values[1:]) / 2.0, 1.0]
    else:
        parts = int(min(n_bins, np.floor(total))) if total >= 1 else 1
        q, r = divmod(total, parts)
        ends = np.arange(1, parts) * q + np.minimum(np.arange(1, parts), r)  # rows before part i (array_split)
        cum = np.cumsum(weight)
        last = values[np.minimum(np.searchsorted(cum, ends - 1, side="right"), values.size - 1)]
        first = values[np.minimum(np.searchsorted(cum, ends, side="right"), values.size - 1)]
        bins = np.unique(np.r_[(last + first) / 2.0, 1.0])
    idx = np.minimum(np.searchsorted(bins, values, side="left"), bins.size - 1)
    m = bins.size
    n_b = np.bincount(idx, weights=weight, minlength=m)
    sp_b = np.bincount(idx, weights=sum_p if not t.exact else values * weight, minlength=m)
    sy_b = np.bincount(idx, weights=pos, minlength=m)
    ok = n_b >= 2
    nb = np.where(ok, n_b, 2.0)
    ybar = sy_b / nb
    terms = np.where(ok, (sp_b / nb - ybar) ** 2 - ybar * (1.0 - ybar) / (nb - 1.0), 0.0)
    squared = float(np.dot(n_b / total, terms))
    return DebiasedResult(max(squared, 0.0) ** 0.5, squared, int(m), bool(discrete), t.exact, t.resolution)


class DebiasedECEState(CurveTableState):
    """Partial state of the debiased L2 ECE: a :class:`ScoreTable` of one curve.

    Parameters
    ----------
    curve : "positive", "top", "pooled" or int
    n_bins : int
        Equal-mass bins of continuous scores (15, the reference's default).
    max_distinct : int
        Distinct scores held exactly.

    >>> p = np.linspace(0.05, 0.95, 40); y = (p > 0.3).astype(float)
    >>> round(DebiasedECEState().update(p, y).finalize().value, 6)
    0.335823
    """

    PARAMS = ("n_bins",)
    WHAT = "debiased ECE states of different curves or bins"

    def __init__(self, curve: Curve = "positive", n_bins: int = DEBIASED_BINS, max_distinct: int = DEFAULT_MAX_DISTINCT):
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        super().__init__(curve, max_distinct)
        self.n_bins = int(n_bins)

    def finalize(self) -> DebiasedResult:
        return debiased_from_table(self.table.finalize(), self.n_bins)


def ece_debiased(y_true, y_prob, *, n_bins: int = DEBIASED_BINS, sample_weight=None,
                 max_distinct: int = DEFAULT_MAX_DISTINCT) -> float:
    """Debiased L2 calibration error (Kumar, Liang and Ma 2019), as ``uncertainty-calibration``.

    Equals ``calibration.get_calibration_error(y_prob, y_true, p=2, debias=True)``
    for 1-D probabilities; see :mod:`calibcli.statistics.calibration_error` for the binning.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Probabilities of the outcome, in [0, 1].
    n_bins : int
        Equal-mass bins for continuous scores (15).
    sample_weight : array-like of shape (n,), optional
        Frequency weights.
    max_distinct : int
        Distinct scores held exactly.

    Returns
    -------
    float
        The estimated L2 calibration error (square root of the clipped debiased square).

    Examples
    --------
    Two bins of four rows, observed 0.75 at 0.2 and 0.25 at 0.8: each bin gives
    0.55**2 - 0.75 * 0.25 / 3 = 0.24, so the estimate is sqrt(0.24).

    >>> round(ece_debiased([1, 1, 1, 0, 1, 0, 0, 0], [0.2, 0.2, 0.2, 0.2, 0.8, 0.8, 0.8, 0.8]), 6)
    0.489898
    """
    p, y, w = binary_arrays(y_prob, y_true, sample_weight)
    return DebiasedECEState(n_bins=n_bins, max_distinct=max_distinct).update(p, y, w).finalize().value
