"""Discrimination: AUROC and average precision from a table of counts per distinct score.

Conventions (scikit-learn's): AUROC is the trapezoidal area under the ROC curve
with one point per distinct score, so tied scores count one half (as
``roc_auc_score``); average precision is the step-wise sum
``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds in decreasing order (as
``average_precision_score``, no interpolation). Both are exact while the distinct
scores fit the table's budget; beyond it the table groups scores into cells of
relative width ``resolution`` and rows within a cell count as tied: AUROC is
then within ``auroc_bound`` (half the share of positive-negative pairs inside
one cell) of its exact value. Undefined values (one class only) are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.distinct import DEFAULT_MAX_DISTINCT
from calibcli.statistics.inputs import Curve
from calibcli.statistics.states import CurveTableState
from calibcli.statistics.table import TableResult

CONVENTION = (
    "auroc: trapezoidal area under the ROC curve, tied scores count one half (scikit-learn roc_auc_score); "
    "average_precision: step-wise sum of (R_k - R_(k-1)) P_k over distinct thresholds, no interpolation "
    "(scikit-learn average_precision_score); exact while the distinct scores fit the table's budget"
)


@dataclass(frozen=True)
class DiscriminationResult:
    """AUROC and average precision; ``exact`` False when the table coarsened (see ``auroc_bound``)."""

    auroc: float
    average_precision: float
    positives: float
    negatives: float
    exact: bool
    resolution: float
    auroc_bound: float


def discrimination_from_table(t: TableResult) -> DiscriminationResult:
    """AUROC and average precision of a finalized :class:`ScoreTable`.

    >>> from calibcli.statistics.table import ScoreTable
    >>> t = ScoreTable().update(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.0, 0.0, 1.0, 1.0])).finalize()
    >>> r = discrimination_from_table(t)
    >>> r.auroc, round(r.average_precision, 6)
    (0.75, 0.833333)
    """
    pos, neg = t.positives[::-1], t.negatives[::-1]  # decreasing score
    tps, fps = np.cumsum(pos), np.cumsum(neg)
    n_pos, n_neg = (float(tps[-1]), float(fps[-1])) if tps.size else (0.0, 0.0)
    auroc = ap = bound = float("nan")
    if n_pos > 0 and n_neg > 0:
        tpr, fpr = np.r_[0.0, tps] / n_pos, np.r_[0.0, fps] / n_neg
        auroc = float(np.trapezoid(tpr, fpr))
        bound = 0.0 if t.exact else float(0.5 * np.dot(pos, neg) / (n_pos * n_neg))
    if n_pos > 0:
        ps = tps + fps
        precision = np.divide(tps, ps, out=np.zeros_like(tps), where=ps != 0)
        recall = tps / n_pos
        ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return DiscriminationResult(auroc, ap, n_pos, n_neg, t.exact, t.resolution, bound)


class DiscriminationState(CurveTableState):
    """Partial state of AUROC and average precision: a :class:`ScoreTable` of one curve.

    Parameters
    ----------
    curve : "positive", "top", "pooled" or int
        Which (conf, outcome) a ``Batch`` gives (see :mod:`calibcli.statistics.inputs`).
    max_distinct : int
        Budget of distinct scores held exactly.

    >>> s = DiscriminationState().update(np.array([0.2, 0.9]), np.array([0, 1]))
    >>> s.finalize().auroc
    1.0
    """

    WHAT = "discrimination states of different curves"
    PROBABILITIES = False

    def __init__(self, curve: Curve = "positive", max_distinct: int = DEFAULT_MAX_DISTINCT):
        super().__init__(curve, max_distinct)

    def finalize(self) -> DiscriminationResult:
        return discrimination_from_table(self.table.finalize())


def auroc(y_true, y_prob, *, sample_weight=None, max_distinct: int = DEFAULT_MAX_DISTINCT) -> float:
    """Area under the ROC curve (ties count one half), as scikit-learn's ``roc_auc_score``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Finite scores (only their order matters: probabilities or logits).
    sample_weight : array-like of shape (n,), optional
    max_distinct : int
        Distinct scores held exactly; beyond it see :mod:`calibcli.statistics.discrimination`.

    Returns
    -------
    float
        NaN when ``y_true`` holds one class only.

    Examples
    --------
    >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    return DiscriminationState(max_distinct=max_distinct).update(y_prob, y_true, sample_weight).finalize().auroc


def average_precision(y_true, y_prob, *, sample_weight=None, max_distinct: int = DEFAULT_MAX_DISTINCT) -> float:
    """Average precision, step-wise over distinct thresholds, as scikit-learn's ``average_precision_score``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Finite scores (probabilities or logits).
    sample_weight : array-like of shape (n,), optional
    max_distinct : int
        Distinct scores held exactly.

    Returns
    -------
    float
        NaN without positives.

    Examples
    --------
    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 6)
    0.833333
    """
    return DiscriminationState(max_distinct=max_distinct).update(y_prob, y_true, sample_weight).finalize().average_precision
