"""Typed results of a subgroup audit (``calib audit --by``), their JSON form and the gate's values."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from calibcli.direction import Direction
from calibcli.report import Interval, MetricSet, Reliability
from calibcli.statistics.result import finite

MULTICALIBRATION_DEFINITION = (
    "multicalibration error: the largest headline ECE (the audit's bins; binary files: the positive class, "
    "otherwise top-label) over the groups with at least --min-group-rows rows. A plug-in binned error is biased "
    "upward, most in small groups: compare each group's ECE with its noise floor.")


@dataclass(frozen=True)
class GroupResult:
    """One subgroup: its column values, rows, headline metrics (with 95% intervals and noise
    floors when the measurement has them), direction and headline reliability curve.

    ``eligible``: it has at least ``--min-group-rows`` rows (only those can be the worst group).
    """

    columns: tuple[str, ...]
    values: tuple[str, ...]
    n: int
    metrics: MetricSet
    direction: Direction
    reliability: Reliability
    eligible: bool
    intervals: dict[str, Interval] = field(default_factory=dict)
    noise_floor: dict[str, float | None] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``region=south`` or ``region=south, device=ios``."""
        return ", ".join(f"{c}={v}" for c, v in zip(self.columns, self.values))

    @property
    def ece(self) -> float | None:
        return finite(self.metrics.ece)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "columns": list(self.columns), "values": list(self.values),
                               "n": int(self.n), "eligible": bool(self.eligible),
                               "metrics": {k: finite(v) for k, v in asdict(self.metrics).items()},
                               "direction": asdict(self.direction)}
        ivs = {k: [float(v[0]), float(v[1])] for k, v in self.intervals.items() if v is not None}
        if ivs:
            out["intervals"] = ivs
        floors = {k: finite(v) for k, v in self.noise_floor.items()}
        if any(v is not None for v in floors.values()):
            out["noise_floor"] = floors
        return out


@dataclass(frozen=True)
class SubgroupReport:
    """Every subgroup of ``--by`` (in key order: values, buckets and periods ascending,
    ``(missing)`` last), the worst eligible group and the multicalibration error."""

    columns: tuple[str, ...]
    groups: tuple[GroupResult, ...]
    min_group_rows: int
    max_groups: int
    notes: tuple[str, ...]  # how each column was cut (values, buckets with their cuts' provenance, periods and zones)
    time_columns: tuple[str, ...] = ()  # columns cut into periods (--by-time), for the drift plot
    definition: str = MULTICALIBRATION_DEFINITION

    @property
    def eligible(self) -> tuple[GroupResult, ...]:
        return tuple(g for g in self.groups if g.eligible and g.ece is not None)

    @property
    def worst(self) -> GroupResult | None:
        """The eligible group with the largest headline ECE (ties: the first in key order)."""
        best, worst = -math.inf, None
        for g in self.eligible:
            if g.ece > best + 1e-12:
                best, worst = g.ece, g
        return worst

    @property
    def multicalibration_error(self) -> float | None:
        w = self.worst
        return None if w is None else w.ece

    def find(self, name: str | tuple[tuple[str, str], ...]) -> GroupResult | None:
        """The group named ``region=south`` (columns in any order; a lone value ``south`` for one ``--by`` column),
        or selected by ``((column, value), ...)`` pairs (column ``""``: the only ``--by`` column), as a gate rule's
        selector (values may then hold commas)."""
        if isinstance(name, str):
            want = _parse_name(name, self.columns)
        else:
            want = {(self.columns[0] if not c and len(self.columns) == 1 else c): v for c, v in name}
        for g in self.groups:
            if want == dict(zip(g.columns, g.values)):
                return g
        return None

    def largest_first(self) -> list[GroupResult]:
        """Eligible groups first, worst ECE first; then the small groups by rows."""
        elig = sorted(self.eligible, key=lambda g: -g.ece)
        rest = sorted((g for g in self.groups if g not in elig), key=lambda g: -g.n)
        return elig + rest

    def display_order(self) -> list[GroupResult]:
        """The order every table and figure shows groups in: periods in time order when time is the only
        ``--by`` column (drift); otherwise :meth:`largest_first`."""
        return list(self.groups) if self.time_columns and self.time_columns == self.columns else self.largest_first()

    def to_dict(self) -> dict[str, Any]:
        """The JSON keys ``groups``, ``worst_group`` and ``multicalibration``."""
        w = self.worst
        worst = None
        if w is not None:
            iv = w.intervals.get("ece")
            worst = {"name": w.name, "columns": list(w.columns), "values": list(w.values), "n": int(w.n),
                     "ece": w.ece, "ece_interval": None if iv is None else [float(iv[0]), float(iv[1])],
                     "direction": w.direction.verdict}
        return {
            "groups": [g.to_dict() for g in self.groups],
            "worst_group": worst,
            "multicalibration": {"error": self.multicalibration_error, "by": list(self.columns),
                                 "groups": len(self.groups), "eligible_groups": len(self.eligible),
                                 "min_group_rows": int(self.min_group_rows), "max_groups": int(self.max_groups),
                                 "definition": self.definition, "notes": list(self.notes)},
        }


def _parse_name(name: str, columns: tuple[str, ...]) -> dict[str, str]:
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 1 and "=" not in parts[0] and len(columns) == 1:
        return {columns[0]: parts[0]}
    out = {}
    for p in parts:
        c, _, v = p.partition("=")
        out[c.strip()] = v.strip()
    return out


# ------------------------------------------------------------------ gate

GROUP_RULE_METRICS = ("worst_group_ece", "multicalibration_error")


def group_rule_value(report: SubgroupReport | None, metric: str,
                     group: str | tuple[tuple[str, str], ...] | None = None) -> tuple[float | None, Interval]:
    """The value a gate rule on groups compares, and its 95% interval (for ``--on upper``).

    ``metric``: ``worst_group_ece`` (= ``multicalibration_error``): the worst eligible
    group's headline ECE; or any headline metric name (``ece``, ``mce``, ``brier``,
    ``accuracy`` ...) of the group named ``group`` (``region=south``, or a gate rule's
    selector ``(("region", "south"),)``: see :meth:`SubgroupReport.find`; a small group counts
    too). (None, None) when there are no groups, no such group or the value is undefined.

    >>> group_rule_value(None, "worst_group_ece")
    (None, None)
    """
    if report is None:
        return None, None
    if metric in GROUP_RULE_METRICS and group is None:
        w = report.worst
        return (None, None) if w is None else (w.ece, w.intervals.get("ece"))
    g = report.find(group) if group else None
    if g is None:
        return None, None
    name = "ece" if metric in GROUP_RULE_METRICS else metric
    return finite(getattr(g.metrics, name, None)), g.intervals.get(name)


def group_not_found(report: SubgroupReport, group: str | tuple[tuple[str, str], ...]) -> str:
    """Why a rule's group is missing, with the closest group names."""
    import difflib

    if not isinstance(group, str):
        group = ", ".join(f"{c}={v}" if c else v for c, v in group)
    names = [g.name for g in report.groups]
    close = difflib.get_close_matches(group, names, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"no group '{group}' among the {len(names)} groups of --by {' --by '.join(report.columns)}.{hint}"

