"""Typed results of an audit; renderers read these and compute nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from calibcli.binning import BinStats
from calibcli.direction import Direction

if TYPE_CHECKING:
    from calibcli.loading import Adjustment

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
class MetricSet:
    """Headline metrics; ``None`` where a metric does not apply to the task."""

    accuracy: float | None
    ece: float | None
    mce: float | None
    classwise_ece: float | None
    brier: float | None
    nll: float | None


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
    reliability: BinStats


@dataclass(frozen=True)
class Measurement:
    """Metrics plus the curves behind them, for one set of predictions."""

    metrics: MetricSet
    reliability: BinStats
    classes: tuple[ClassReport, ...]


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
class AuditReport:
    """Everything ``calib audit`` found. Later stages (calibration, thresholds,
    gate) attach their own frozen results; each provides ``to_dict()``."""

    input: InputSummary
    binning: BinningInfo
    measurement: Measurement
    conventions: dict[str, str]
    warnings: tuple[str, ...] = ()
    calibration: Any = None
    thresholds: Any = None
    gate: Any = None

    @property
    def metrics(self) -> MetricSet:
        return self.measurement.metrics

    def classes_worst_first(self) -> list[ClassReport]:
        """Classes by ECE, largest first; classes without an ECE last."""
        cls = list(self.measurement.classes)
        from calibcli.direction import worst_first

        eces = np.array([np.nan if c.ece is None else c.ece for c in cls], dtype=float)
        return [cls[i] for i in worst_first(eces)]
