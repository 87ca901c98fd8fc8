"""What to optimise and what comes out: objectives, their parameters, recommendations, reports.

The rule everywhere: an item is *flagged* (decided positive) when
``score >= threshold``. A threshold is always one of the scores in the data (the
score at which the decision changes), so items with equal scores are all flagged
or none. ``inf`` means "flag nothing" (no score reaches it); it appears only when
flagging nothing is what an objective asks for (or, as the lower threshold of a
review band, when every item is cleared). Among equally good thresholds the
highest wins (fewest flagged) unless an objective says otherwise; costs and
F-beta values equal up to float rounding count as equal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from calibcli.errors import UsageError

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
        Candidate thresholds per bootstrap replicate (see :mod:`calibcli.thresholds.intervals`).

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
    passes: int = 0
    refinement_rounds: int = 0

    # ``passes``: passes over the data (tables, refinement rounds, replicates); ``refinement_rounds``:
    # passes that gathered exact scores inside buckets (0 when every table fitted its budget). Not in the JSON.

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
