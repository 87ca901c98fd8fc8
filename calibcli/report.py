"""Typed results of an audit; renderers read these and compute nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from calibcli.direction import Direction

if TYPE_CHECKING:
    from calibcli.calibration_stage import CalibrationResult
    from calibcli.gate.results import GateResult
    from calibcli.loading import Adjustment
    from calibcli.subgroups.result import SubgroupReport
    from calibcli.thresholds.spec import ThresholdReport

SCHEMA_VERSION = 1

#: what the two counts of a per-class table are, per task (renderers print it under the table)
COUNT_NOTES = {
    "top_label": "support: rows whose label is the class; predicted: rows predicted as it (pred_label). "
                 "ECE and direction are over the predicted rows.",
    "multilabel": "support: rows where the label is present; predicted: rows with P(label) >= 0.5.",
    "": "support: rows whose label is the class; predicted: rows whose highest score is the class (argmax).",
}


def count_note(task: str) -> str:
    """What ``support`` and ``predicted`` count for ``task`` (top-label: also what the ECE is over).

    >>> count_note("multilabel")
    'support: rows where the label is present; predicted: rows with P(label) >= 0.5.'
    """
    return COUNT_NOTES.get(task, COUNT_NOTES[""])


@dataclass(frozen=True)
class Reliability:
    """One finalized reliability curve: per bin its rows and the sums of confidence and outcome.

    The result type of the partial state :class:`calibcli.stats.bins.BinStats`
    (one group); renderers read it. Means are divided here, NaN for empty bins.
    """

    edges: np.ndarray  # (B + 1,)
    count: np.ndarray  # (B,) rows per bin
    sum_conf: np.ndarray  # (B,)
    sum_outcome: np.ndarray  # (B,)

    @classmethod
    def from_state(cls, state, group: int = 0) -> "Reliability":
        """Curve ``group`` of a :class:`calibcli.stats.bins.BinStats` state (its unweighted sums)."""
        return cls(state.edges, state.count[group].copy(), state.sums["sum_wc"][group].copy(),
                   state.sums["sum_wy"][group].copy())

    @classmethod
    def from_arrays(cls, conf, outcome, edges) -> "Reliability":
        """The curve of confidences ``conf`` (n,) against outcomes (n,) on ``edges`` (one batch of the state).

        >>> from calibcli.binning import uniform_edges
        >>> s = Reliability.from_arrays(np.array([0.2, 0.9]), np.array([0, 1]), uniform_edges(2))
        >>> s.count.tolist(), s.sum_outcome.tolist(), s.ece()
        ([1, 1], [0.0, 1.0], 0.15)
        """
        from calibcli.stats.bins import BinStats

        return cls.from_state(BinStats(edges).update(np.asarray(conf), np.asarray(outcome)))

    @property
    def mean_conf(self) -> np.ndarray:
        """Mean confidence per bin; NaN for empty bins."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum_conf / np.where(self.count > 0, self.count, 1), np.nan)

    @property
    def observed(self) -> np.ndarray:
        """Observed frequency of the outcome per bin; NaN for empty bins."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum_outcome / np.where(self.count > 0, self.count, 1), np.nan)

    def ece(self) -> float:
        """sum_b (n_b / N) |observed_b - mean_conf_b| (NaN without rows)."""
        from calibcli.stats.bins import curve_errors

        return float(curve_errors(self.count.astype(np.float64), self.sum_conf, self.sum_outcome)[0])

    def mce(self) -> float:
        """Max |observed - mean confidence| over non-empty bins (NaN without rows)."""
        from calibcli.stats.bins import curve_errors

        return float(curve_errors(self.count.astype(np.float64), self.sum_conf, self.sum_outcome)[1])


@dataclass(frozen=True)
class MetricSet:
    """Headline metrics; ``None`` where a metric does not apply to the task.

    ``ece`` and ``mce`` are the headline curve's: binary files, the positive
    class's curve (P(y=1) against the observed frequency); multi-class and
    top-label files, the top-label curve; multilabel, all (row, label) pairs
    pooled. ``ece_top_label`` is the top-label ECE (binary: confidence =
    max(p, 1-p)); None for multilabel.
    """

    accuracy: float | None
    ece: float | None
    mce: float | None
    classwise_ece: float | None
    brier: float | None
    nll: float | None
    ece_top_label: float | None = None


Interval = tuple[float, float] | None


@dataclass(frozen=True)
class IntervalInfo:
    """How the 95% intervals were made: method, level, replicates, bootstrap groups
    (blocks of rows), seed, and what the groups are keyed on (``row`` or ``id``)."""

    method: str
    level: float
    replicates: int
    groups: int
    seed: int
    keyed_on: str


@dataclass(frozen=True)
class ClassReport:
    """One class (or label) of the audit.

    ``support``: rows whose true label is this class (multilabel: rows where the
    label is present). ``predicted``: rows predicted as this class (top-label
    files: ``pred_label``; binary and multiclass: the argmax, ties to the lowest
    class index; multilabel: P(label) >= 0.5).

    ``ece`` and ``direction`` are over all rows, one-vs-rest, of this class's
    probability; for top-label files they are over the rows *predicted* as this
    class (its top-label ECE), so ``predicted`` rows stand behind them, not
    ``support``.
    """

    name: str
    support: int
    predicted: int
    ece: float | None
    brier: float | None
    direction: Direction
    reliability: Reliability
    intervals: dict[str, Interval] = field(default_factory=dict)  # "ece", "brier" (not for top-label files)
    noise_floor: float | None = None  # the ECE a perfectly calibrated model would show here by chance


@dataclass(frozen=True)
class Measurement:
    """Metrics plus the curves behind them, for one set of predictions.

    ``intervals``: a 95% interval per metric name of ``metrics`` (None where
    undefined; empty without a bootstrap); ``noise_floor``: per binned error
    (``ece``, ``ece_top_label``, ``mce``, ``classwise_ece``) its expected value for
    a perfectly calibrated model with these scores, rows and bins; ``interval_info``:
    how the intervals were made. ``state``: the partial state behind it (with
    bootstrap blocks), so other replicates can be formed without another pass.
    """

    metrics: MetricSet
    reliability: Reliability
    classes: tuple[ClassReport, ...]
    intervals: dict[str, Interval] = field(default_factory=dict)
    noise_floor: dict[str, float | None] = field(default_factory=dict)
    interval_info: IntervalInfo | None = None
    state: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class InputSummary:
    """What was audited: files, size, task, score kind (with its evidence), and
    what calib changed in the rows before measuring (``adjustments``, in the
    order applied; ``dropped`` counts dropped rows per problem)."""

    files: tuple[str, ...]
    n_samples: int
    n_classes: int
    task: str
    score_kind: str
    score_kind_evidence: tuple[str, ...]
    classes: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)
    adjustments: tuple[Adjustment, ...] = ()  # what calib changed in the rows (renormalized, dropped, clipped)


@dataclass(frozen=True)
class BinningInfo:
    """How confidences were binned. ``edges_exact`` is False when some equal-mass
    edges came from a quantile sketch (too many distinct scores for the exact
    table), whose normalized rank error is ``edges_rank_error``."""

    n_bins: int
    strategy: str
    edge_rule: str
    edges_exact: bool = True
    edges_rank_error: float | None = None


@dataclass(frozen=True)
class EngineInfo:
    """How the input was read: the engine, batch size, passes over the data, rows
    decoded over all passes, and whether later passes came from memory (``cached``)
    or read the files again (``reread``)."""

    name: str
    batch_rows: int
    passes: int
    rows_read: int
    cached: bool
    reread: bool
    partitions: int | None = None  # the Dask engine: input partitions, workers, bytes gathered by the client
    workers: int | None = None
    bytes_to_client: int | None = None
    kernels: str | None = None  # "numba": large batches go through the compiled per-row kernels; "numpy": numpy only
    first_pass_in_scan: bool | None = None  # the first pass was fed while pass 1 checked the input (local engine)


@dataclass(frozen=True)
class AuditReport:
    """Everything ``calib audit`` found. Later stages attach their own frozen
    results (``None`` when the stage did not run); each provides ``to_dict()``."""

    input: InputSummary
    binning: BinningInfo
    measurement: Measurement
    conventions: dict[str, str]
    warnings: tuple[str, ...] = ()
    calibration: CalibrationResult | None = None
    thresholds: ThresholdReport | None = None
    gate: GateResult | None = None
    engine: EngineInfo | None = None
    groups: "SubgroupReport | None" = None  # calib audit --by (calibcli.subgroups)
    statistics: object | None = None  # calib audit --statistics (calibcli.statistics.result.StatisticsResult)
    verdict: object | None = None  # the decision verdict (calibcli.verdict.Verdict; calib audit always sets it)

    @property
    def metrics(self) -> MetricSet:
        return self.measurement.metrics

    def classes_worst_first(self) -> list[ClassReport]:
        """Classes by ECE, largest first; classes without an ECE last."""
        cls = list(self.measurement.classes)
        from calibcli.direction import worst_first

        eces = np.array([np.nan if c.ece is None else c.ece for c in cls], dtype=float)
        return [cls[i] for i in worst_first(eces)]
