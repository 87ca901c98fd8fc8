"""The CI acceptance gate: rules on audit metrics, their evaluation and verdict.

- :mod:`calibcli.gate.rules`: the metrics, the rule grammar (never ``eval``), how limits print.
- :mod:`calibcli.gate.evaluate`: point values or bootstrap bounds, deltas, verdicts (``evaluate_gate``).
- :mod:`calibcli.gate.bootstrap`: ``--on upper`` intervals from a measurement's row-keyed replicate axis.
- :mod:`calibcli.gate.baseline`: pairing a baseline with the audited rows (in memory, or by fingerprints).
- :mod:`calibcli.gate.results`: the typed results (``GateResult``, ``RuleResult``, ``BaselineInfo``).
"""

from __future__ import annotations

from calibcli.gate.baseline import Baseline, PairingFingerprint, match_baseline, pair_sources
from calibcli.gate.evaluate import evaluate_gate, point_metrics, worst_class
from calibcli.gate.results import BaselineInfo, GateResult, RuleResult
from calibcli.gate.rules import (
    BASE_METRICS,
    DELTA_METRICS,
    FLAG_RULES,
    GROUP_METRICS,
    METRIC_RANGES,
    METRICS,
    ON_CHOICES,
    ON_GROUPS,
    OPS,
    RULE_METRICS,
    SEVERITIES,
    Rule,
    Token,
    format_limit,
    format_value,
    limit_problem,
    format_selector,
    parse_rule,
    parse_selector,
    rule_from_flag,
    tokenize,
)

__all__ = [
    "BASE_METRICS", "DELTA_METRICS", "FLAG_RULES", "GROUP_METRICS", "METRIC_RANGES", "METRICS", "ON_CHOICES", "ON_GROUPS",
    "OPS", "RULE_METRICS", "SEVERITIES",
    "Baseline", "BaselineInfo", "GateResult", "PairingFingerprint", "Rule", "RuleResult", "Token", "evaluate_gate",
    "format_limit", "format_selector", "format_value", "limit_problem", "match_baseline", "pair_sources", "parse_rule", "parse_selector", "point_metrics",
    "rule_from_flag", "tokenize", "worst_class",
]
