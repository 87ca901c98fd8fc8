"""The gate's typed results: each rule's verdict, the baseline's summary, the overall verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from calibcli.gate.rules import Rule, format_selector



@dataclass(frozen=True)
class RuleResult:
    """A rule and its verdict.

    ``value`` is what was compared: the point estimate (``on='point'``) or the
    pessimistic end of the bootstrap interval (``on='upper'``). ``status`` is
    ``pass``, ``fail`` (a fail-severity rule, or any rule under ``--strict``),
    or ``warn`` (a violated warn-severity rule).
    """

    rule: Rule
    value: float | None
    point: float | None
    interval: tuple[float, float] | None
    status: str
    message: str
    group: str | None = None  # the subgroup the value is about (``region=south``), for rules on groups

    @property
    def label(self) -> str:
        """The metric in words, naming its group: ``worst group's ECE (region=south)``, ``ECE of group region=north``."""
        if self.rule.group is None and self.group is not None:
            return f"{self.rule.label} ({self.group})"
        return self.rule.label

    def to_dict(self) -> dict[str, Any]:
        r = self.rule
        return {
            "metric": r.metric,
            "op": r.op,
            "limit": r.limit,
            "value": self.value,
            "severity": r.severity,
            "status": self.status,
            "source": r.source,
            "file": r.file,
            "line": r.line,
            "point": self.point,
            "interval": None if self.interval is None else list(self.interval),
            "message": self.message,
            "group": self.group,
            "selector": None if r.group is None else format_selector(r.group),
        }


@dataclass(frozen=True)
class BaselineInfo:
    """How the baseline predictions were matched and what they measured."""

    files: tuple[str, ...]
    matched_by: str  # "id" or "position"
    n_matched: int
    metrics: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"files": list(self.files), "matched_by": self.matched_by, "n_matched": self.n_matched, "metrics": dict(self.metrics)}


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: ``passed`` is False when any rule has status ``fail``."""

    passed: bool
    on: str
    strict: bool
    seed: int
    replicates: int
    rules: tuple[RuleResult, ...]
    baseline: BaselineInfo | None = None

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.status == "fail")

    @property
    def warned(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.status == "warn")

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "on": self.on,
            "strict": self.strict,
            "seed": self.seed,
            "replicates": self.replicates if self.on == "upper" else 0,
            "rules": [r.to_dict() for r in self.rules],
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
        }
