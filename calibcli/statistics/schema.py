"""JSON Schema fragments of the statistics (issue 13) and of the decision verdict.

To wire in: the report's ``metrics`` and ``intervals`` objects gain the keys of
:func:`metric_properties` / :func:`interval_properties`; each ``classes[]`` entry gains the
metric keys (flat, as its ``ece``) and its ``intervals`` the interval keys; the report
gains the optional properties of :func:`statistics_properties` (``statistics``, ``verdict``).
:func:`fragment_schema` validates ``StatisticsResult.to_dict()`` itself.
"""

from __future__ import annotations

from typing import Any

from calibcli.schema import INT0, NUM, NUM_OR_NULL, STR, _obj
from calibcli.statistics.result import STATISTICS

_PAIR_OR_NULL = {"oneOf": [{"type": "null"}, {"type": "array", "items": NUM, "minItems": 2, "maxItems": 2}]}


def metric_properties() -> dict[str, Any]:
    """``metrics`` keys of the statistics (each a number or null).

    >>> "smece" in metric_properties()
    True
    """
    return {name: NUM_OR_NULL for name in STATISTICS}


def interval_properties() -> dict[str, Any]:
    """``intervals`` keys of the statistics: ``[low, high]`` or null (no interval: see the conventions)."""
    return {name: _PAIR_OR_NULL for name in STATISTICS}


def _curve_details() -> dict[str, Any]:
    return _obj({"curve": STR, "label": STR, "rows": INT0, "exact": {"type": "boolean"},
                 "resolution": {"type": "number", "minimum": 0}, "fine_bins": INT0, "table_cells": INT0,
                 "skipped": {"type": "array", "items": STR}})


def class_statistics_schema() -> dict[str, Any]:
    """One entry of ``StatisticsResult.to_dict()["classes"]``: name, metrics and intervals."""
    return _obj({"name": STR, "metrics": _obj(metric_properties()), "intervals": _obj(interval_properties())})


def verdict_schema() -> dict[str, Any]:
    """The ``verdict`` object (:meth:`calibcli.verdict.Verdict.to_dict`)."""
    status = {"enum": ["ok", "warn", "fail"]}
    line = _obj({"use": {"enum": ["probabilities", "ranking", "threshold"]},
                 "status": {"enum": ["info", "ok", "warn", "fail"], "description": "info: not measured (not counted)"},
                 "sentence": STR,
                 "evidence": {"type": "object", "description": "the numbers the sentence rests on"}})
    return _obj({"status": status, "tolerance": NUM, "lines": {"type": "array", "items": line}})


def statistics_properties() -> dict[str, Any]:
    """Optional report properties: ``statistics`` (scheme, budgets, per-curve details) and ``verdict``.

    >>> sorted(statistics_properties())
    ['statistics', 'verdict']
    """
    statistics = _obj({
        "groups": INT0, "replicates": INT0, "seed": {"type": "integer"}, "keyed_on": {"enum": ["row", "id"]},
        "group_bins": INT0, "level": NUM, "max_values": INT0, "max_full_classes": INT0, "interval_method": STR,
        "cox_fitted": {"type": "boolean"}, "headline": _curve_details(),
        "classes": {"type": "array", "items": _curve_details()},
    })
    return {"statistics": statistics, "verdict": verdict_schema()}


def fragment_schema() -> dict[str, Any]:
    """The schema of ``StatisticsResult.to_dict()`` as a whole (for tests and for wiring)."""
    return _obj({"metrics": _obj(metric_properties()), "intervals": _obj(interval_properties()),
                 "classes": {"type": "array", "items": class_statistics_schema()},
                 "conventions": {"type": "object", "additionalProperties": STR},
                 "statistics": statistics_properties()["statistics"]})
