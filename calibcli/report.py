"""Typed results of an audit; renderers read these and compute nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibcli.binning import BinStats
from calibcli.direction import Direction

SCHEMA_VERSION = 1


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
    label is present). ``ece`` is the one-vs-rest ECE of this class's probability
    (top-label files: the top-label ECE of the rows predicted as this class).
    """

    name: str
    support: int
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
    files: tuple[str, ...]
    n_samples: int
    n_classes: int
    task: str
    score_kind: str
    score_kind_evidence: tuple[str, ...]
    classes: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BinningInfo:
    n_bins: int
    strategy: str
    edge_rule: str


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
