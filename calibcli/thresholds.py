"""Decision thresholds recommended from predictions, per class, with bootstrap intervals.

The rule everywhere: an item is *flagged* (decided positive) when
``score >= threshold``. A threshold is always one of the scores in the data (the
score at which the decision changes), so items with equal scores are all flagged
or none. ``inf`` means "flag nothing" (no score reaches it); it appears only when
flagging nothing is what an objective asks for (or, as the lower threshold of a
review band, when every item is cleared). Among equally good thresholds the
highest wins (fewest flagged) unless an objective says otherwise; costs and
F-beta values equal up to float rounding count as equal.

How it is computed (per class, one-vs-rest): the scores are sorted once; the
rows are grouped into blocks of equal score, and cumulative counts of positives
and negatives from the highest score down give, for every candidate threshold,
the confusion matrix of "flag the top j blocks". Every objective is then a
vectorised pass over those ``m + 1`` candidates (``m`` distinct scores), so the
whole computation is O(n log n) per class.

Bootstrap intervals reuse the sorted blocks: a Poisson(1) weight per row summed
over a block is Poisson(block count), so a replicate is one Poisson draw per
(block, outcome) cell, no re-sorting. With more than ``max_groups`` distinct
scores, the blocks are pooled into groups of whole blocks first (equal-mass,
refined near each recommended threshold; see ``_candidates``), so replicate
thresholds come from those group boundaries (the recommendation itself always
uses every distinct score).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from calibcli.errors import UsageError
from calibcli.predictions import Predictions, Task

OBJECTIVES = ("cost", "f1", "fbeta", "youden", "precision", "recall", "flag-rate", "review-band")
RULE = ("score >= threshold means flagged (decided positive); equal scores are all flagged or none; threshold inf "
        "(null in JSON) means flag nothing, and so does a null end of a threshold interval")
HEADLINES = {
    "cost": "expected cost",
    "f1": "F1",
    "fbeta": "F-beta",
    "youden": "Youden J",
    "precision": "recall",
    "recall": "precision",
    "flag-rate": "recall",
    "review-band": "review fraction",
}
CI_LEVEL = 0.95
LOCAL_WIDTH = 2.0
LOCAL_POINTS = 17
_TIE_EPS = 16 * np.finfo(np.float64).eps  # relative rounding tolerance for ties of float objectives


@dataclass(frozen=True)
class ThresholdSpec:
    """Which objectives to optimise and their parameters.

    Attributes
    ----------
    objectives : tuple of str
        Names from ``OBJECTIVES``; reported in that canonical order.
    cost_fp, cost_fn, cost_tp, cost_tn : float
        Cost of each outcome of a decision (``cost`` objective).
    beta : float or None
        ``fbeta`` weight of recall.
    min_precision, min_recall, max_flag_rate : float or None
        Targets of the ``precision``, ``recall`` and ``flag-rate`` objectives.
    review_precision : float or None
        ``review-band``: precision required on each auto-decided side (> 0.5).
    n_bootstrap : int
        Bootstrap replicates for the intervals (0: no intervals).
    seed : int
        Seed of the bootstrap (the same seed gives the same intervals).
    max_groups : int
        Candidate thresholds per bootstrap replicate (see module docstring).

    Examples
    --------
    >>> ThresholdSpec(("f1",)).objectives
    ('f1',)
    """

    objectives: tuple[str, ...] = ("f1", "youden")
    cost_fp: float | None = None
    cost_fn: float | None = None
    cost_tp: float = 0.0
    cost_tn: float = 0.0
    beta: float | None = None
    min_precision: float | None = None
    min_recall: float | None = None
    max_flag_rate: float | None = None
    review_precision: float | None = None
    n_bootstrap: int = 200
    seed: int = 0
    max_groups: int = 512

    def validated(self) -> "ThresholdSpec":
        """The spec with objectives in canonical order; ``UsageError`` when a parameter is missing or out of range."""
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown:
            raise UsageError(f"unknown objective {unknown[0]!r}; choose from {', '.join(OBJECTIVES)}.")
        objs = tuple(o for o in OBJECTIVES if o in self.objectives)
        if not objs:
            raise UsageError(f"no objective chosen; pass --objective (one of {', '.join(OBJECTIVES)}) or a target such as --min-precision.")
        need = {
            "cost": ("--cost-fp and --cost-fn", self.cost_fp is not None and self.cost_fn is not None),
            "fbeta": ("--beta", self.beta is not None),
            "precision": ("--min-precision", self.min_precision is not None),
            "recall": ("--min-recall", self.min_recall is not None),
            "flag-rate": ("--max-flag-rate", self.max_flag_rate is not None),
            "review-band": ("--review-precision", self.review_precision is not None),
        }
        for o in objs:
            if o in need and not need[o][1]:
                raise UsageError(f"objective {o} needs {need[o][0]}.")
        costs = [c for c in (self.cost_fp, self.cost_fn, self.cost_tp, self.cost_tn) if c is not None]
        if any(not math.isfinite(c) for c in costs):
            raise UsageError("costs must be finite numbers.")
        if self.beta is not None and not (self.beta > 0 and math.isfinite(self.beta)):
            raise UsageError(f"--beta must be a positive number, got {self.beta}.")
        for name, value, lo_open in (("--min-precision", self.min_precision, True), ("--min-recall", self.min_recall, True),
                                     ("--max-flag-rate", self.max_flag_rate, True)):
            if value is not None and not ((0 < value <= 1) if lo_open else (0 <= value <= 1)):
                raise UsageError(f"{name} must be within {'(0, 1]' if lo_open else '[0, 1]'}, got {value}.")
        if self.review_precision is not None and not (0.5 < self.review_precision <= 1):
            raise UsageError(f"--review-precision must be within (0.5, 1] (each side must be right more often than not), got {self.review_precision}.")
        if self.n_bootstrap < 0:
            raise UsageError(f"--bootstrap must be 0 or more, got {self.n_bootstrap}.")
        if self.max_groups < 2:
            raise ValueError("max_groups must be at least 2")
        return replace(self, objectives=objs)

    @property
    def has_costs(self) -> bool:
        return self.cost_fp is not None and self.cost_fn is not None

    def scaled_costs(self) -> tuple[float, float, float, float, float]:
        """``(scale, c_tp, c_fp, c_fn, c_tn)`` with the costs divided by ``scale``, a power of two.

        The scaled costs lie within (-2, 2), so sums of costs over many rows
        cannot overflow even for costs near the largest float; dividing by a
        power of two is exact, so results equal the unscaled ones otherwise.

        >>> ThresholdSpec(cost_fp=1.0, cost_fn=4.0).scaled_costs()
        (4.0, 0.0, 0.25, 1.0, 0.0)
        """
        costs = [0.0 if c is None else float(c) for c in (self.cost_tp, self.cost_fp, self.cost_fn, self.cost_tn)]
        largest = max(abs(c) for c in costs)
        scale = 1.0 if largest == 0 else math.ldexp(1.0, math.frexp(largest)[1] - 1)
        return (scale, *(c / scale for c in costs))

    def fbeta_weights(self) -> tuple[float, float]:
        """``(w, v)`` with F-beta ``= TP / (w * flagged + v * P)``: ``w = 1/(1+beta^2)``, ``v = beta^2/(1+beta^2)``.

        Finite for every positive beta (beta^2 may overflow to inf or underflow to 0).

        >>> ThresholdSpec(beta=1.0).fbeta_weights()
        (0.5, 0.5)
        >>> ThresholdSpec(beta=1e200).fbeta_weights()
        (0.0, 1.0)
        """
        beta = 1.0 if self.beta is None else float(self.beta)
        b2 = beta * beta  # inf or 0 beyond the float range, never an error
        if math.isinf(b2):
            return 0.0, 1.0
        return 1.0 / (1.0 + b2), b2 / (1.0 + b2)

    def bayes_threshold(self) -> float | None:
        """Threshold a calibrated model should use to minimise expected cost.

        ``(c_fp - c_tn) / ((c_fp - c_tn) + (c_fn - c_tp))``; ``None`` when a wrong
        decision is not costlier than the right one on both sides.

        >>> ThresholdSpec(cost_fp=1.0, cost_fn=4.0).bayes_threshold()
        0.2
        """
        if not self.has_costs:
            return None
        a, b = self.cost_fp - self.cost_tn, self.cost_fn - self.cost_tp
        if not math.isfinite(a + b):  # costs near the float limit: the same ratio in scaled costs
            _, c_tp, c_fp, c_fn, c_tn = self.scaled_costs()
            a, b = c_fp - c_tn, c_fn - c_tp
        if a <= 0 or b <= 0:
            return None
        return a / (a + b)


@dataclass(frozen=True)
class Recommendation:
    """One recommended threshold for one class, objective and score scale.

    ``target`` is the class (or label) the threshold decides. ``threshold`` flags ``score >= threshold``; ``inf`` flags nothing (``nan``:
    not defined, the class has no positive or no negative row). ``precision``,
    ``recall``, ``fpr`` and ``flagged_fraction`` are those of that decision on
    the data; ``headline`` names the rate the objective is judged by (F1 for
    ``f1``, recall for ``precision``, ...) and ``headline_value`` is its value.
    ``met`` is ``None`` for objectives without a target, else whether the target
    (``goal``) was reached; when not, the row holds the closest achievable
    threshold. ``met_rate`` is the share of bootstrap replicates that reach it.
    Review band: ``threshold`` is the upper threshold (flag at or above),
    ``threshold_low`` the lower one (clear below), ``npv`` the share of negatives
    among the cleared items. Intervals are bootstrap percentile intervals
    ``(low, high)``; ``None`` when not computed.
    """

    target: str
    objective: str
    scale: str
    threshold: float
    n: int
    n_positive: int
    n_flagged: int
    precision: float | None
    recall: float | None
    fpr: float | None
    flagged_fraction: float
    headline: str
    headline_value: float | None
    threshold_ci: tuple[float, float] | None = None
    headline_ci: tuple[float, float] | None = None
    expected_cost: float | None = None
    met: bool | None = None
    goal: float | None = None
    met_rate: float | None = None
    bayes_threshold: float | None = None
    cost_at_bayes: float | None = None
    threshold_low: float | None = None
    threshold_low_ci: tuple[float, float] | None = None
    review_fraction: float | None = None
    npv: float | None = None
    other_scale_threshold: float | None = None
    other_scale_threshold_low: float | None = None
    bootstrap_candidates: int | None = None
    bootstrap_replicates: int | None = None
    note: str = ""

    @property
    def bayes_gap(self) -> float | None:
        """``threshold - bayes_threshold`` (a large gap: scores not calibrated for this decision)."""
        if self.bayes_threshold is None or not math.isfinite(self.threshold):
            return None
        return self.threshold - self.bayes_threshold

    @property
    def bayes_in_interval(self) -> bool | None:
        """Whether the Bayes threshold lies within the bootstrap interval of the threshold.

        Outside: on this data the cost-optimal threshold differs from what
        calibrated scores would need, beyond sampling noise.
        """
        if self.bayes_threshold is None or self.threshold_ci is None:
            return None
        return self.threshold_ci[0] <= self.bayes_threshold <= self.threshold_ci[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain data; ``target`` is the class (or label) name."""
        d = asdict(self)
        d["bayes_gap"] = self.bayes_gap
        d["bayes_in_interval"] = self.bayes_in_interval
        for key in ("threshold_ci", "headline_ci", "threshold_low_ci"):
            d[key] = None if d[key] is None else list(d[key])
        return d


@dataclass(frozen=True)
class ThresholdReport:
    """All recommendations for one set of predictions (audit section / one file of ``calib thresholds``)."""

    rule: str
    method: str
    spec: ThresholdSpec
    n_rows: int
    scales: tuple[str, ...]
    scale_note: str
    recommendations: tuple[Recommendation, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    task: str = ""

    def to_dict(self) -> dict[str, Any]:
        spec = asdict(self.spec)
        spec["objectives"] = list(spec["objectives"])
        return {
            "rule": self.rule,
            "method": self.method,
            "parameters": spec,
            "n_rows": self.n_rows,
            "task": self.task,
            "scales": list(self.scales),
            "scale_note": self.scale_note,
            "notes": list(self.notes),
            "recommendations": [r.to_dict() for r in self.recommendations],
        }


# --------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class Curve:
    """Cumulative counts for "flag the top j distinct scores", j = 0..m.

    ``u`` holds the distinct scores, highest first; ``tp[j]`` and ``fp[j]`` count
    positives and negatives with ``score >= u[j - 1]`` (``tp[0] = fp[0] = 0``).
    Counts are float64 (exact for integers below 2**53), ready for the rates.
    """

    u: np.ndarray
    tp: np.ndarray
    fp: np.ndarray

    @property
    def n_pos(self) -> int:
        return int(self.tp[-1])

    @property
    def n_neg(self) -> int:
        return int(self.fp[-1])

    def threshold_at(self, j: np.ndarray | int) -> np.ndarray:
        """Score value of candidate ``j`` (``inf`` for j = 0)."""
        j = np.asarray(j)
        return np.where(j == 0, np.inf, self.u[np.maximum(j, 1) - 1])


_SIGN_FLIP = np.int64(0x7FFFFFFFFFFFFFFF)


def _sorted_blocks(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ascending distinct scores, index of the last row of each block, positives up to it.

    Scores within (-2, 2) (all probabilities) are sorted as one int64 key per row,
    ``order-preserving float bits << 1 | label``: a plain ``np.sort`` without an
    index array, several times faster than ``np.argsort``. Within a block of equal
    scores the negatives then come first. Other scores fall back to ``argsort``.
    Both give the same blocks.
    """
    n = scores.shape[0]
    lo, hi = (float(scores.min()), float(scores.max())) if n else (0.0, 0.0)
    if n and -2.0 < lo and hi < 2.0:
        keys = scores + 0.0  # a fresh array; + 0.0 turns -0.0 into 0.0
        keys = keys.view(np.int64)
        if lo < 0:
            neg = keys < 0
            keys[neg] ^= _SIGN_FLIP  # negative floats: reverse their order
        keys <<= 1
        keys |= positive
        keys.sort()
        labels = keys & 1
        keys >>= 1  # back to the order-preserving score bits
        ends = np.flatnonzero(keys[1:] != keys[:-1])
        ends = np.concatenate((ends, [n - 1]))
        below_pos = np.cumsum(labels, out=labels)[ends]
        vb = keys[ends]
        u = np.where(vb < 0, vb ^ _SIGN_FLIP, vb).view(np.float64)
        return u, ends, below_pos
    order = np.argsort(scores)
    s = scores[order]
    ends = np.append(np.flatnonzero(s[1:] != s[:-1]), n - 1)
    return s[ends], ends, np.cumsum(positive[order], dtype=np.int64)[ends]


def build_curve(scores: np.ndarray, positive: np.ndarray) -> Curve:
    """Sort once and count: the confusion matrix at every distinct score.

    Parameters
    ----------
    scores : ndarray of shape (n,), finite
    positive : ndarray of shape (n,), bool

    Examples
    --------
    >>> c = build_curve(np.array([0.2, 0.9, 0.9, 0.5]), np.array([False, True, False, True]))
    >>> c.u.tolist(), c.tp.tolist(), c.fp.tolist()
    ([0.9, 0.5, 0.2], [0.0, 1.0, 2.0, 2.0], [0.0, 1.0, 1.0, 2.0])
    """
    scores = np.ascontiguousarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n = scores.shape[0]
    u, ends, below_pos = _sorted_blocks(scores, positive)
    m = u.shape[0]
    n_pos = float(below_pos[-1]) if n else 0.0
    # dropping one block at a time from the top: tp[j] = P - positives below the j-th highest score
    tp = np.empty(m + 1)
    np.subtract(n_pos, below_pos[::-1], out=tp[:m])
    tp[m] = n_pos
    fp = np.empty(m + 1)
    np.subtract(float(n), ends[::-1], out=fp[:m])
    fp[:m] -= 1.0  # rows above = n - (end + 1)
    fp[m] = n
    fp -= tp
    return Curve(u=u[::-1].copy(), tp=tp, fp=fp)


# --------------------------------------------------------------------------- objectives
# Each selector works on arrays of shape (R, L): R curves (1 for the point
# estimate, B for bootstrap replicates) of L candidates each; column j means
# "flag the top j distinct scores", so tp, fp and tp + fp never decrease along a
# row. It returns the chosen column per curve and whether the target was met.
# Ties go to the highest threshold (fewest flagged) unless stated otherwise.
# Long rows (the point estimate) are handled by vectorised passes; the many short
# rows of the bootstrap by the same passes over the stack, or a loop over rows.


def _first_max(values: np.ndarray) -> np.ndarray:
    return np.argmax(values, axis=1)


def _last_max(values: np.ndarray) -> np.ndarray:
    return values.shape[1] - 1 - np.argmax(values[:, ::-1], axis=1)


def _first_within(values: np.ndarray, best: np.ndarray, tol: np.ndarray, lower: bool) -> np.ndarray:
    """Per row, the first column within ``tol`` of the optimum at column ``best``.

    Only the columns before ``best`` are scanned.
    """
    R, L = values.shape
    tol = np.broadcast_to(tol, (R, 1))
    if R > 1:  # short rows: one pass over the stack
        v = values[np.arange(R), best][:, None]
        near = (values <= v + tol) if lower else (values >= v - tol)
        near &= np.arange(L) <= best[:, None]
        return np.argmax(near, axis=1)
    out = best.copy()
    for r in range(R):
        head = values[r, : best[r]]
        v, t = values[r, best[r]], tol[r, 0]
        near = head <= v + t if lower else head >= v - t
        if near.any():
            out[r] = int(np.argmax(near))
    return out


def _div(a, b, fill: float = np.nan) -> np.ndarray:
    """``a / b`` as float, ``fill`` where ``b == 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(a, b, dtype=np.float64)
    if np.ndim(out) == 0:
        return out if b != 0 else np.float64(fill)
    if not np.all(b):
        out[np.broadcast_to(b, out.shape) == 0] = fill
    return out


def _cost(tp, fp, P, N, spec: ThresholdSpec) -> np.ndarray:
    """Mean cost per item of flagging the top candidates (summed in scaled costs: no overflow)."""
    scale, c_tp, c_fp, c_fn, c_tn = spec.scaled_costs()
    total = c_tp * tp + c_fp * fp + c_fn * (P - tp) + c_tn * (N - fp)
    return total / np.maximum(P + N, 1) * scale


def _fbeta(tp, fp, P, spec: ThresholdSpec) -> np.ndarray:
    """F-beta; 0 where nothing is flagged (TP = 0 and P > 0)."""
    w, v = spec.fbeta_weights()
    return _div(tp, w * (tp + fp) + v * P, 0.0)


def _min_count(total: float, goal: float) -> int:
    """Smallest integer k with ``k / total >= goal`` as computed in float64."""
    k = max(0, math.ceil(goal * total))
    while k > 0 and (k - 1) / total >= goal:
        k -= 1
    while k / total < goal:
        k += 1
    return k


def _max_count(total: float, goal: float) -> int:
    """Largest integer k with ``k / total <= goal`` as computed in float64."""
    k = max(0, math.floor(goal * total))
    while (k + 1) / total <= goal:
        k += 1
    while k > 0 and k / total > goal:
        k -= 1
    return k


class _Rows:
    """Counts of R curves as float64 plus arrays shared by several selectors,
    computed once on demand. Every curve has at least one positive and one
    negative."""

    def __init__(self, tp: np.ndarray, fp: np.ndarray):
        self.tp = np.asarray(tp, dtype=np.float64)
        self.fp = np.asarray(fp, dtype=np.float64)
        self.P, self.N = self.tp[:, -1:], self.fp[:, -1:]
        self._flagged = self._prec = None

    @property
    def flagged(self) -> np.ndarray:
        if self._flagged is None:
            self._flagged = self.tp + self.fp
        return self._flagged

    @property
    def prec(self) -> np.ndarray:
        """Precision per candidate; -inf at j = 0 (nothing flagged)."""
        if self._prec is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                self._prec = self.tp / self.flagged
            self._prec[:, 0] = -np.inf
        return self._prec


def _select(objective: str, rows: _Rows, spec: ThresholdSpec):
    """Chosen candidate index, target met, and (review band) the lower index."""
    tp, fp, P, N = rows.tp, rows.fp, rows.P, rows.N
    R, L = tp.shape
    all_met = np.ones(R, dtype=bool)
    if objective == "cost":
        # the mean cost is a constant plus this, so its argmin is the same
        _, c_tp, c_fp, c_fn, c_tn = spec.scaled_costs()
        a, b = c_tp - c_fn, c_fp - c_tn
        varying = np.multiply(tp, a)
        varying += np.multiply(fp, b)
        # costs that are equal in exact arithmetic may differ by rounding: count them as ties
        tol = _TIE_EPS * (abs(a) * P + abs(b) * N)
        return _first_within(varying, np.argmin(varying, axis=1), tol, lower=True), all_met, None
    if objective == "f1":
        # F1 = 2TP / (TP + FP + P): one division of exact integers, so ties are exact
        return _first_max(tp / (rows.flagged + P)), all_met, None
    if objective == "fbeta":
        f = _fbeta(tp, fp, P, spec)  # rounding may split exact ties
        best = np.argmax(f, axis=1)
        return _first_within(f, best, f[np.arange(R), best][:, None] * _TIE_EPS, lower=False), all_met, None
    if objective == "youden":
        j = tp * N
        j -= fp * P
        return _first_max(j), all_met, None  # (TPR - FPR) * P * N, exact in integers
    if objective == "precision":
        feasible = rows.prec >= spec.min_precision
        met = feasible.any(axis=1)
        last = _last_max(feasible)  # the most recall among feasible (tp never decreases) ...
        # ... reached first at the lowest j with that tp (same recall, fewer flagged, all feasible)
        if R == 1:
            best = np.searchsorted(tp[0], tp[0, last], side="left")
        else:
            best = np.argmax(tp >= tp[np.arange(R), last][:, None], axis=1)
        if met.all():
            return best, met, None
        closest = _last_max(rows.prec)  # highest precision, then highest recall
        return np.where(met, best, closest), met, None
    if objective == "recall":
        # recall >= goal holds on a suffix of each row; there the highest precision, then the highest recall
        if R == 1:
            start = max(1, int(np.searchsorted(tp[0], _min_count(P[0, 0], spec.min_recall), side="left")))
            return start + _last_max(rows.prec[:, start:]), all_met, None
        feasible = tp / P >= spec.min_recall
        feasible[:, 0] = False
        return _last_max(np.where(feasible, rows.prec, -np.inf)), all_met, None
    if objective == "flag-rate":
        # flagged / n <= goal holds on a prefix of each row: its last candidate
        if R == 1:
            best = np.searchsorted(rows.flagged[0], [_max_count(P[0, 0] + N[0, 0], spec.max_flag_rate)], side="right") - 1
        else:
            best = _last_max(rows.flagged / (P + N) <= spec.max_flag_rate)
        met = best >= 1
        return np.where(met, best, 1), met, None
    if objective == "review-band":
        return _review_band(rows, spec.review_precision)
    raise ValueError(objective)


def _review_band(rows: _Rows, target: float):
    """Auto-flag the top j blocks, auto-clear below candidate i >= j, review between.

    Top side: precision of the flagged set >= target (or j = 0, nothing flagged).
    Bottom side: share of negatives among the cleared rows >= target (or
    i = L - 1, nothing cleared). Minimises the reviewed count F[i] - F[j]; ties
    go to the lowest j. (Bootstrap replicates can hold blocks of weight zero,
    where several j make the same decisions; which of them is reported then
    does not matter.)
    """
    R, L = rows.tp.shape
    flagged = rows.flagged
    top_ok = rows.prec >= target
    top_ok[:, 0] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        bottom_ok = (rows.N - rows.fp) / ((rows.P + rows.N) - flagged) >= target
    bottom_ok[:, -1] = True
    if R > 1:  # short rows: a pass over the whole stack
        cand = np.where(bottom_ok, np.arange(L), L - 1)
        nearest = np.minimum.accumulate(cand[:, ::-1], axis=1)[:, ::-1]  # smallest feasible i >= j
        review = np.take_along_axis(flagged, nearest, axis=1) - flagged
        review[~top_ok] = np.inf
        js = np.argmin(review, axis=1)
        is_ = nearest[np.arange(R), js]
    else:  # one long row: only the candidates that can win
        top, bottom = top_ok[0], bottom_ok[0]
        both = np.flatnonzero(top & bottom)
        if both.size:  # j = i feasible on both sides: nothing to review; the lowest such j
            js = is_ = both[:1]
        else:
            # in a run of top-feasible j the last reviews least (same nearest i, more flagged);
            # the nearest feasible i >= j starts a run of bottom-feasible candidates
            ends = top.copy()
            ends[:-1] &= ~top[1:]
            starts = bottom.copy()
            starts[1:] &= ~bottom[:-1]
            tops, bottoms = np.flatnonzero(ends), np.flatnonzero(starts)
            nearest = bottoms[np.searchsorted(bottoms, tops, side="left")]
            k = int(np.argmin(flagged[0, nearest] - flagged[0, tops]))
            js, is_ = tops[k:k + 1], nearest[k:k + 1]
    met = ~((js == 0) & (is_ == L - 1))
    return js, met, is_


# --------------------------------------------------------------------------- one class


def _ci(values: np.ndarray) -> tuple[float, float] | None:
    """Percentile interval on the order statistics (no interpolation); NaN ignored."""
    v = np.sort(values[~np.isnan(values)])
    if v.size == 0:
        return None
    alpha = (1.0 - CI_LEVEL) / 2.0
    lo = v[int(math.floor(alpha * (v.size - 1)))]
    hi = v[int(math.ceil((1.0 - alpha) * (v.size - 1)))]
    return float(lo), float(hi)


def _headline(objective: str, tp, fp, P, N, spec: ThresholdSpec, flagged_low=None) -> np.ndarray:
    """The rate an objective is judged by, at the chosen candidates (1-D arrays)."""
    if objective == "cost":
        return _cost(tp, fp, P, N, spec)
    if objective == "f1":
        return _div(2 * tp, tp + fp + P)
    if objective == "fbeta":
        return _fbeta(tp, fp, P, spec)
    if objective == "youden":
        return _div(tp, P) - _div(fp, N)
    if objective in ("precision", "flag-rate"):
        return _div(tp, P)
    if objective == "recall":
        return _div(tp, tp + fp)
    if objective == "review-band":
        return _div(flagged_low - (tp + fp), P + N)  # rows between the two thresholds
    raise ValueError(objective)


def _candidates(flagged: np.ndarray, max_groups: int, centers: list[int]) -> np.ndarray:
    """Candidate indices kept for bootstrap replicates (whole tie blocks only).

    All candidates when there are at most ``max_groups`` distinct scores. Else
    ``max_groups`` equal-mass cut points, refined near each recommendation:
    ``LOCAL_POINTS`` cut points within ``LOCAL_WIDTH * sqrt(n)`` rows of it, so
    the replicate thresholds are not coarser than their own spread.
    """
    L = flagged.shape[0]
    if L - 1 <= max_groups:
        return np.arange(L)
    n = flagged[-1]
    targets = [np.arange(1, max_groups) * (n / max_groups)]
    half = LOCAL_WIDTH * math.sqrt(n)
    for c in centers:
        targets.append(flagged[c] + np.linspace(-half, half, LOCAL_POINTS))
    cuts = np.searchsorted(flagged, np.concatenate(targets), side="left")
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


def recommend_binary(scores: np.ndarray, positive: np.ndarray, spec: ThresholdSpec, target: str = "positive",
                     scale: str = "raw", seed_key: int = 0) -> list[Recommendation]:
    """Recommendations for one binary (one-vs-rest) problem, one per objective.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Scores; higher means more likely positive.
    positive : ndarray of shape (n,), bool
        True where the item is positive.
    spec : ThresholdSpec
        Validated objectives and parameters.

    Examples
    --------
    >>> s = np.array([0.1, 0.4, 0.35, 0.8])
    >>> y = np.array([False, False, True, True])
    >>> r = recommend_binary(s, y, ThresholdSpec(("f1",), n_bootstrap=0))[0]
    >>> r.threshold, r.headline_value
    (0.35, 0.8)
    """
    spec = spec.validated()
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    curve = build_curve(scores, positive)
    n, P, N = scores.shape[0], curve.n_pos, curve.n_neg
    bayes = spec.bayes_threshold()
    if P == 0 or N == 0:
        why = "no positive rows" if P == 0 else "no negative rows"
        return [Recommendation(target, o, scale, math.nan, n, P, 0, None, None, None, 0.0, HEADLINES[o], None,
                               note=f"not defined: {why} for {target}") for o in spec.objectives]

    rows = _Rows(curve.tp[None, :], curve.fp[None, :])
    chosen = {o: _select(o, rows, spec) for o in spec.objectives}
    boot = None
    if spec.n_bootstrap > 0:
        centers = [int(c[0]) for j, _, i in chosen.values() for c in (j, i) if c is not None]
        keep = _candidates(rows.flagged[0], spec.max_groups, centers)
        rng = np.random.default_rng([spec.seed, seed_key])
        boot = (keep, _bootstrap(curve, keep, spec.n_bootstrap, rng))

    out = []
    for o in spec.objectives:
        j, met, i = chosen[o]
        j = int(j[0])
        tp, fp = int(curve.tp[j]), int(curve.fp[j])
        flagged_low = None if i is None else np.array([curve.tp[int(i[0])] + curve.fp[int(i[0])]])
        value = _headline(o, np.array([tp]), np.array([fp]), P, N, spec, flagged_low)
        rec = Recommendation(
            target=target, objective=o, scale=scale,
            threshold=float(curve.threshold_at(j)), n=n, n_positive=P, n_flagged=tp + fp,
            precision=None if tp + fp == 0 else tp / (tp + fp), recall=tp / P, fpr=fp / N,
            flagged_fraction=(tp + fp) / n, headline=HEADLINES[o], headline_value=_none(value[0]),
            expected_cost=float(_cost(tp, fp, P, N, spec)) if spec.has_costs else None,
            bayes_threshold=bayes if o == "cost" else None,
        )
        if o in ("precision", "recall", "flag-rate", "review-band"):
            goal = {"precision": spec.min_precision, "recall": spec.min_recall, "flag-rate": spec.max_flag_rate,
                    "review-band": spec.review_precision}[o]
            rec = replace(rec, met=bool(met[0]), goal=goal, note=_target_note(o, bool(met[0]), rec, goal))
        if o == "cost" and bayes is not None:
            jb = int(np.searchsorted(-curve.u, -bayes, side="right"))  # distinct scores >= bayes
            rec = replace(rec, cost_at_bayes=float(_cost(curve.tp[jb], curve.fp[jb], P, N, spec)))
        if o == "cost" and j == 0:
            rec = replace(rec, note="flagging nothing has the lowest cost")
        if o == "review-band":
            ii = int(i[0])
            F_i = int(curve.tp[ii] + curve.fp[ii])
            cleared = n - F_i
            rec = replace(rec, threshold_low=float(curve.threshold_at(ii)), review_fraction=(F_i - tp - fp) / n,
                          npv=None if cleared == 0 else (N - int(curve.fp[ii])) / cleared)
        if boot is not None:
            rec = _with_intervals(rec, o, boot, curve, spec)
        out.append(rec)
    return out


def _with_intervals(rec: Recommendation, o: str, boot, curve: Curve, spec: ThresholdSpec) -> Recommendation:
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


def _none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _target_note(o: str, met: bool, rec: Recommendation, goal: float) -> str:
    if met:
        return ""
    if o == "precision":
        best = "-" if rec.precision is None else f"{rec.precision:.4g}"
        return f"target not met: no threshold reaches precision {goal:g}; closest achievable: precision {best} at this threshold"
    if o == "recall":
        return f"target not met: recall {goal:g} is not reachable"
    if o == "flag-rate":
        items = "the top-scored item" if rec.n_flagged == 1 else f"the {rec.n_flagged} items sharing the top score"
        return (f"target not met: the fewest items any threshold flags ({items}) are {rec.flagged_fraction:.4g} of all, "
                f"more than {goal:g}; closest achievable shown")
    return f"target not met: no score region reaches precision {goal:g} on either side; every item would go to review"


# --------------------------------------------------------------------------- predictions


def targets(preds: Predictions) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The binary problems of a prediction set: (name, scores, positive).

    Binary: the positive class (column 1). Multiclass: each class one-vs-rest.
    Multilabel: each label. Top-label files: the confidence, positive = the
    predicted label is correct.
    """
    if preds.task is Task.BINARY:
        return [(preds.classes[1], preds.probs[:, 1], preds.labels == 1)]
    if preds.task is Task.MULTILABEL:
        return [(c, preds.probs[:, k], preds.labels[:, k] == 1) for k, c in enumerate(preds.classes)]
    if preds.task is Task.TOP_LABEL:
        return [("top-label correct", preds.probs[:, 0], preds.pred_labels == preds.labels)]
    return [(c, preds.probs[:, k], preds.labels == k) for k, c in enumerate(preds.classes)]


def equivalent_threshold(src: np.ndarray, dst: np.ndarray, threshold: float) -> float | None:
    """Threshold on ``dst`` that flags exactly the rows ``src >= threshold`` flags, or ``None``.

    Exists when the rows flagged on ``src`` all score higher on ``dst`` than the
    rows not flagged (e.g. a monotone calibration map); checked on the data.

    >>> equivalent_threshold(np.array([0.1, 0.6, 0.9]), np.array([0.2, 0.5, 0.7]), 0.6)
    0.5
    >>> equivalent_threshold(np.array([0.1, 0.6, 0.9]), np.array([0.6, 0.5, 0.7]), 0.6) is None
    True
    """
    if not math.isfinite(threshold):
        return threshold
    flagged = src >= threshold
    if not flagged.any():
        return math.inf
    t = float(dst[flagged].min())
    if np.any(dst[~flagged] >= t):
        return None
    return t


def bootstrap_method(spec: ThresholdSpec) -> str:
    """How the intervals were computed, in words."""
    if spec.n_bootstrap == 0:
        return "no intervals (0 bootstrap replicates)"
    return (f"{int(CI_LEVEL * 100)}% percentile intervals from {spec.n_bootstrap} Poisson-bootstrap replicates (seed {spec.seed}): "
            "each row gets a Poisson(1) weight, drawn per block of equal scores on the already sorted data (no re-sorting); "
            f"with more than {spec.max_groups} distinct scores, replicate thresholds are chosen among {spec.max_groups} "
            f"equal-mass cut points between tie blocks plus {LOCAL_POINTS} cut points within {LOCAL_WIDTH:g}*sqrt(n) rows "
            "of each recommended threshold (the recommendation itself uses every distinct score)")


def recommend(preds: Predictions, spec: ThresholdSpec, classes: tuple[str, ...] | None = None,
              calibrated: Predictions | None = None) -> ThresholdReport:
    """Recommend thresholds for every class (or the chosen ``classes``) of ``preds``.

    Parameters
    ----------
    preds : Predictions
        Raw predictions.
    spec : ThresholdSpec
    classes : tuple of str, optional
        Restrict to these class (label) names.
    calibrated : Predictions, optional
        Calibrated predictions of the same rows; each objective is then also
        optimised on the calibrated scores, and each threshold is translated to
        the other scale where one threshold there makes the same decisions.

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]]), np.array([0, 1, 0]),
    ...                 ("neg", "pos"), Task.BINARY, ScoreKind.PROBS)
    >>> r = recommend(p, ThresholdSpec(("f1",), n_bootstrap=0)).recommendations[0]
    >>> r.target, r.threshold, r.precision, r.recall
    ('pos', 0.6, 0.5, 1.0)
    """
    spec = spec.validated()
    if calibrated is not None and calibrated.n_samples != preds.n_samples:
        raise ValueError("calibrated predictions must cover the same rows as the raw ones")
    raw_targets = targets(preds)
    names = [t[0] for t in raw_targets]
    if classes:
        missing = [c for c in classes if c not in names]
        if missing:
            raise UsageError(f"--class {missing[0]!r} is not a class of this input; its classes are: {', '.join(names[:20])}"
                             f"{' ...' if len(names) > 20 else ''}.")
    cal_targets = targets(calibrated) if calibrated is not None else None
    recs: list[Recommendation] = []
    for k, (name, scores, y) in enumerate(raw_targets):
        if classes and name not in classes:
            continue
        raw = recommend_binary(scores, y, spec, name, "raw", k)
        if cal_targets is None:
            recs.extend(raw)
            continue
        cal_scores = cal_targets[k][1]
        cal = recommend_binary(cal_scores, y, spec, name, "calibrated", k)
        for r, c in zip(raw, cal):
            recs.append(_translate(r, scores, cal_scores))
            recs.append(_translate(c, cal_scores, scores))
    scales = ("raw",) if calibrated is None else ("raw", "calibrated")
    note = ("thresholds on the raw scores" if calibrated is None else
            "each objective is optimised separately on the raw and on the calibrated scores; other_scale_threshold "
            "('= raw' / '= cal' in the table) is the threshold on the other scale that makes exactly the same decisions "
            "on these rows, when a single threshold does")
    return ThresholdReport(RULE, bootstrap_method(spec), spec, preds.n_samples, scales, note, tuple(recs), task=preds.task.value)


def _translate(rec: Recommendation, src: np.ndarray, dst: np.ndarray) -> Recommendation:
    if math.isnan(rec.threshold):
        return rec
    other = equivalent_threshold(src, dst, rec.threshold)
    low = None if rec.threshold_low is None else equivalent_threshold(src, dst, rec.threshold_low)
    return replace(rec, other_scale_threshold=other, other_scale_threshold_low=low)
