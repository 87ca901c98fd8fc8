"""The Hosmer–Lemeshow goodness-of-fit test over groups of equal count, ties kept together.

Groups (a well-defined, streamable rule): the project's equal-mass bins
(:func:`calibcli.binning.quantile_edges_from_counts`) with ``n_groups`` (10) bins
over the rows' p, i.e. "deciles of risk" whose edges are order statistics:
edge j is the smallest p with F(p) >= j/10 and a row belongs to the group
``lo < p <= hi`` (the first group also takes 0). Rows with equal p are always in
one group, so heavy ties give fewer (never empty) groups. With n divisible by 10
and distinct p these are the textbook groups of n/10 consecutive sorted rows.

``H = sum_g (O_g - E_g)**2 / (E_g (1 - E_g / n_g))`` with O_g the events, E_g the
sum of p and n_g the rows (weights) of group g; ``p = 1 - chi2_cdf(H, G - 2)``
with G the number of non-empty groups (df 8 for ten groups). A group with
E_g = 0 or E_g = n_g adds 0 when O_g = E_g, else infinity. The state is a
:class:`~calibcli.statistics.table.ScoreTable`: exact while the distinct p fit its
budget; beyond it the groups are formed from cells of relative width ``resolution``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT
from calibcli.statistics.inputs import Curve
from calibcli.statistics.states import CurveTableState
from calibcli.statistics.table import TableResult

N_GROUPS = 10
CONVENTION = (
    "hosmer_lemeshow: sum_g (O_g - E_g)^2 / (E_g (1 - E_g/n_g)) over 10 groups of equal count over sorted p "
    "(edges are order statistics, tied p kept in one group, so ties may give fewer groups); "
    "hosmer_lemeshow_p: chi-squared with (groups - 2) degrees of freedom (8 for 10 groups)"
)


@dataclass(frozen=True)
class HosmerLemeshowResult:
    """The statistic, its p-value, degrees of freedom and the groups (rows, events, expected events)."""

    statistic: float
    p_value: float
    df: int
    edges: np.ndarray
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    exact: bool
    resolution: float


def hosmer_lemeshow_from_table(t: TableResult, n_groups: int = N_GROUPS) -> HosmerLemeshowResult:
    """The test from a finalized :class:`ScoreTable` (groups as in the module docstring)."""
    from scipy.stats import chi2

    from calibcli.binning import assign_bins, quantile_edges_from_counts

    w = t.weight
    keep = w > 0
    values, w, pos, sp = t.values[keep], w[keep], t.positives[keep], t.sum_p[keep]
    counts = t.rows[keep] if np.array_equal(w, t.rows[keep]) else w
    edges = quantile_edges_from_counts(values, counts, n_groups)
    g = assign_bins(values, edges)
    m = edges.size - 1
    n, o, e = (np.bincount(g, weights=v, minlength=m) for v in (w, pos, sp))
    has = n > 0
    n, o, e = n[has], o[has], e[has]
    with np.errstate(invalid="ignore", divide="ignore"):
        var = e * (1.0 - e / n)
        terms = np.where(var > 0, (o - e) ** 2 / np.where(var > 0, var, 1.0),
                         np.where(np.isclose(o, e, rtol=0, atol=1e-12), 0.0, np.inf))
    stat = float(terms.sum()) if n.size else float("nan")
    df = int(n.size) - 2
    p = float(chi2.sf(stat, df)) if df > 0 and np.isfinite(stat) else (0.0 if df > 0 and stat == np.inf else float("nan"))
    return HosmerLemeshowResult(stat, p, df, edges, n, o, e, t.exact, t.resolution)


class HosmerLemeshowState(CurveTableState):
    """Partial state of the Hosmer–Lemeshow test: a :class:`ScoreTable` of one curve.

    Parameters
    ----------
    curve : "positive", "top", "pooled" or int
    n_groups : int
        Groups asked for (10).
    max_distinct : int
        Distinct p held exactly.

    >>> p = np.repeat(np.linspace(0.1, 0.9, 10), 10); y = (np.arange(100) % 10 < 5).astype(float)
    >>> r = HosmerLemeshowState().update(p, y).finalize()
    >>> r.df, round(r.statistic, 4)
    (8, 54.804)
    """

    PARAMS = ("n_groups",)
    WHAT = "Hosmer-Lemeshow states of different curves or groups"

    def __init__(self, curve: Curve = "positive", n_groups: int = N_GROUPS, max_distinct: int = DEFAULT_MAX_DISTINCT):
        if n_groups < 3:
            raise ValueError(f"n_groups must be >= 3, got {n_groups}")
        super().__init__(curve, max_distinct)
        self.n_groups = int(n_groups)

    def finalize(self) -> HosmerLemeshowResult:
        return hosmer_lemeshow_from_table(self.table.finalize(), self.n_groups)


def _test(y_true, y_prob, n_groups, sample_weight) -> HosmerLemeshowResult:
    return HosmerLemeshowState(n_groups=n_groups).update(y_prob, y_true, sample_weight).finalize()


def hosmer_lemeshow(y_true, y_prob, *, n_groups: int = N_GROUPS, sample_weight=None) -> float:
    """Hosmer–Lemeshow statistic over ``n_groups`` groups of equal count (ties kept together).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Probabilities of the outcome, in [0, 1].
    n_groups : int
        Groups asked for (10).
    sample_weight : array-like of shape (n,), optional
        Frequency weights (groups then hold equal weight).

    Returns
    -------
    float

    Examples
    --------
    Two groups: 0.2 with 1 event of 2 (expected 0.4), 0.6 with 1 of 2 (expected 1.2).

    >>> round(hosmer_lemeshow([0, 1, 1, 0], [0.2, 0.2, 0.6, 0.6], n_groups=3), 6)
    1.208333
    """
    return _test(y_true, y_prob, n_groups, sample_weight).statistic


def hosmer_lemeshow_p(y_true, y_prob, *, n_groups: int = N_GROUPS, sample_weight=None) -> float:
    """P-value of the Hosmer–Lemeshow test, chi-squared with (groups - 2) degrees of freedom.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Probabilities of the outcome, in [0, 1].
    n_groups : int
        Groups asked for (10).
    sample_weight : array-like of shape (n,), optional

    Returns
    -------
    float
        NaN with fewer than 3 non-empty groups.

    Examples
    --------
    >>> p = np.repeat(np.linspace(0.1, 0.9, 10), 10); y = (np.arange(100) % 10 < 5).astype(int)
    >>> hosmer_lemeshow_p(y, p) < 1e-6
    True
    """
    return _test(y_true, y_prob, n_groups, sample_weight).p_value
