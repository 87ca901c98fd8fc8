"""JSON Schema of the subgroup keys of the audit report (``groups``, ``worst_group``, ``multicalibration``)."""

from __future__ import annotations

from typing import Any

from calibcli.schema import INT0, NUM_OR_NULL, STR, _obj

_METRICS = ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll", "ece_top_label")
_PAIR = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
_STRS = {"type": "array", "items": STR}


def group_properties() -> dict[str, Any]:
    """The report properties ``groups``, ``worst_group`` and ``multicalibration`` (all optional).

    >>> sorted(group_properties())
    ['groups', 'multicalibration', 'worst_group']
    """
    group = _obj({
        "name": {**STR, "description": "col=value, joined by ', ' for intersections"},
        "columns": _STRS, "values": {**_STRS, "description": "(missing) for null, NaN or empty values"},
        "n": INT0,
        "eligible": {"type": "boolean", "description": "n >= min_group_rows: may be the worst group"},
        "metrics": _obj({k: NUM_OR_NULL for k in _METRICS}, required=["ece"], closed=False),
        "intervals": {"type": "object", "additionalProperties": _PAIR, "description": "95% intervals by metric name"},
        "noise_floor": {"type": "object", "additionalProperties": NUM_OR_NULL},
        "direction": {"$ref": "#/$defs/direction"},
    }, required=["name", "columns", "values", "n", "eligible", "metrics", "direction"])
    worst = {"oneOf": [{"type": "null"}, _obj({
        "name": STR, "columns": _STRS, "values": _STRS, "n": INT0, "ece": {"type": "number"},
        "ece_interval": {"oneOf": [{"type": "null"}, _PAIR]},
        "direction": {"enum": ["overconfident", "underconfident", "calibrated", "uncertain", "insufficient data"]},
    })]}
    multi = _obj({
        "error": {**NUM_OR_NULL, "description": "the largest headline ECE over the eligible groups"},
        "by": _STRS, "groups": INT0, "eligible_groups": INT0, "min_group_rows": INT0,
        "max_groups": {"type": "integer", "minimum": 1}, "definition": STR, "notes": _STRS,
    })
    return {"groups": {"type": "array", "items": group}, "worst_group": worst, "multicalibration": multi}
