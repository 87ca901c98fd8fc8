"""JSON Schema (draft 2020-12) of the audit report that ``calib audit --format json`` writes.

Exact for the audit's own keys, the gate and the ``--per-file`` wrapper;
``calibration`` and ``thresholds`` are described by their known keys and left
open to additions (adding a field keeps ``schema_version``).
"""

from __future__ import annotations

from typing import Any

from calibcli.report import SCHEMA_VERSION

NUM = {"type": "number"}
NUM_OR_NULL = {"type": ["number", "null"]}
STR = {"type": "string"}
INT0 = {"type": "integer", "minimum": 0}
METRIC_KEYS = ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll", "ece_top_label")
NOISE_FLOOR_KEYS = ("ece", "ece_top_label", "mce", "classwise_ece")
INTERVAL = {"oneOf": [{"type": "null"}, {"type": "array", "items": NUM, "minItems": 2, "maxItems": 2}],
            "description": "95% interval [low, high] for the population value (see conventions.intervals); null when undefined"}
RULE_METRICS = (
    "ece", "ece_top_label", "classwise_ece", "class_ece", "mce", "brier", "nll", "accuracy", "samples",
    "worst_group_ece", "group_ece", "group_ece_top_label", "group_classwise_ece", "group_mce", "group_brier",
    "group_nll", "group_accuracy",
    "ece_increase", "classwise_ece_increase", "class_ece_increase", "mce_increase", "brier_increase", "nll_increase",
    "accuracy_decrease",
)


def _obj(props: dict[str, Any], required: list[str] | None = None, closed: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "required": list(props) if required is None else required}
    if closed:
        out["additionalProperties"] = False
    return out


def _bins(outcome_key: str) -> dict[str, Any]:
    return {"type": "array", "items": _obj({
        "lower": NUM, "upper": NUM, "count": INT0, "mean_confidence": NUM_OR_NULL, outcome_key: NUM_OR_NULL,
    })}


def _metric_set(closed: bool = True) -> dict[str, Any]:
    return _obj({k: NUM_OR_NULL for k in METRIC_KEYS}, closed=closed)


def report_schema() -> dict[str, Any]:
    """The schema of one report, of the ``--per-file`` form ``{"schema_version", "tool", "reports": [...]}``,
    and of ``calib thresholds --format json``.

    Examples
    --------
    >>> s = report_schema()
    >>> s["$defs"]["report"]["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    True
    """
    from calibcli.comparison import comparison_schema
    from calibcli.statistics.schema import interval_properties, metric_properties, statistics_properties
    from calibcli.subgroups.schema import group_properties

    tool = _obj({"name": {"const": "calib"}, "version": STR})
    direction = _obj({
        "verdict": {"enum": ["overconfident", "underconfident", "calibrated", "uncertain", "insufficient data"]},
        "says": NUM_OR_NULL, "observed": NUM_OR_NULL, "count": INT0, "text": STR,
    })
    rule = _obj({
        "metric": {"enum": list(RULE_METRICS)},
        "op": {"enum": [">", ">=", "<", "<="]},
        "limit": NUM,
        "value": NUM_OR_NULL,
        "severity": {"enum": ["fail", "warn"]},
        "status": {"enum": ["pass", "fail", "warn"]},
        "source": STR,
        "file": {"type": ["string", "null"]},
        "line": {"type": ["integer", "null"]},
        "point": NUM_OR_NULL,
        "interval": {"oneOf": [{"type": "null"}, {"type": "array", "items": NUM, "minItems": 2, "maxItems": 2}]},
        "message": STR,
        "group": {"type": ["string", "null"], "description": "the subgroup a rule on groups is about (region=south)"},
        "selector": {"type": ["string", "null"], "description": "a group_* rule's selector, as written in brackets"},
    }, required=["metric", "op", "limit", "value", "severity", "status", "source", "file", "line", "point",
                 "interval", "message"])
    baseline = {"oneOf": [{"type": "null"}, _obj({
        "files": {"type": "array", "items": STR},
        "matched_by": {"enum": ["id", "position"]},
        "n_matched": INT0,
        "metrics": _obj({**{k: NUM_OR_NULL for k in METRIC_KEYS}, "class_ece": NUM_OR_NULL}),
    })]}
    gate = _obj({
        "passed": {"type": "boolean"},
        "on": {"enum": ["point", "upper"]},
        "strict": {"type": "boolean"},
        "seed": {"type": "integer"},
        "replicates": INT0,
        "rules": {"type": "array", "items": {"$ref": "#/$defs/gate_rule"}},
        "baseline": baseline,
    })
    # Other stages: known keys are typed, the rest left open.
    interval = {"oneOf": [{"type": "null"}, {"type": "array", "items": NUM, "minItems": 2, "maxItems": 2}]}
    # A threshold interval may end at "flag nothing" (threshold inf, written as null like the threshold itself):
    # [x, null] or [null, null]; never [null, x].
    threshold_interval = {"oneOf": [{"type": "null"}, {
        "type": "array", "items": NUM_OR_NULL, "minItems": 2, "maxItems": 2,
        "anyOf": [{"prefixItems": [NUM]}, {"items": {"type": "null"}}],
        "description": "bootstrap interval (low, high) of a threshold; a null end is inf: flag nothing"}]}
    methods = {"enum": ["temperature", "vector", "platt", "isotonic", "histogram"]}
    calibration = {
        "type": "object",
        "required": ["method", "before", "after"],
        "properties": {
            "method": methods,
            "methods": {"type": "array", "items": methods},
            "temperature": NUM_OR_NULL,
            "temperature_ci": interval,
            "temperatures": {"type": "array", "items": _obj({"label": STR, "temperature": NUM_OR_NULL, "ci": interval}, closed=False)},
            "fit": {"type": "object", "properties": {"scheme": STR, "seed": {"type": ["integer", "null"]}}},
            "before": _metric_set(),
            "after": _metric_set(),
            "accuracy_unchanged": {"type": ["boolean", "null"]},
            "classes": {"type": "array", "items": _obj({
                "name": STR, "support": INT0, "ece_before": NUM_OR_NULL, "ece_after": NUM_OR_NULL,
                "brier_before": NUM_OR_NULL, "brier_after": NUM_OR_NULL}, closed=False)},
            "comparison": {"oneOf": [{"type": "null"}, {"type": "array", "items": {
                "type": "object", "required": ["method", "best"],
                "properties": {"method": {"enum": [*methods["enum"], "uncalibrated"]}, "best": {"type": "boolean"},
                               **{k: NUM_OR_NULL for k in METRIC_KEYS}}}}]},
            "best": {"type": ["string", "null"]},
            "best_by": {"type": ["string", "null"]},
            "none_helps": {"type": ["boolean", "null"]},
            "warnings": {"type": "array", "items": STR},
        },
    }
    thresholds = {
        "type": "object",
        "properties": {
            "rule": STR,
            "method": STR,
            "parameters": {"type": "object"},
            "n_rows": INT0,
            "scales": {"type": "array", "items": STR},
            "scale_note": STR,
            "notes": {"type": "array", "items": STR},
            "recommendations": {"type": "array", "items": {
                "type": "object",
                "required": ["target", "objective", "scale", "threshold"],
                "properties": {
                    "target": STR,
                    "objective": STR,
                    "scale": {"enum": ["raw", "calibrated"]},
                    "threshold": NUM_OR_NULL,
                    "n": INT0, "n_positive": INT0, "n_flagged": INT0,
                    **{k: NUM_OR_NULL for k in ("precision", "recall", "fpr", "flagged_fraction", "headline_value",
                                                "expected_cost", "goal", "met_rate", "bayes_threshold", "cost_at_bayes",
                                                "threshold_low", "review_fraction", "npv", "other_scale_threshold",
                                                "other_scale_threshold_low", "bayes_gap")},
                    "threshold_ci": threshold_interval, "headline_ci": interval, "threshold_low_ci": threshold_interval,
                    "headline": {"type": ["string", "null"]},
                    "met": {"type": ["boolean", "null"]},
                    "note": {"type": ["string", "null"]},
                },
            }},
        },
    }
    report = _obj(
        {
            "schema_version": {"const": SCHEMA_VERSION},
            "tool": {"$ref": "#/$defs/tool"},
            "input": _obj({
                "files": {"type": "array", "items": STR, "minItems": 1},
                "n_samples": INT0,
                "n_classes": INT0,
                "task": {"enum": ["binary", "multiclass", "multilabel", "top_label"]},
                "score_kind": {"enum": ["probs", "logits"]},
                "score_kind_evidence": {"type": "array", "items": STR},
                "classes": {"type": "array", "items": STR},
                "dropped_rows": {"type": "object", "additionalProperties": INT0},
                "adjustments": {"type": "array", "description": "what calib changed in the rows before measuring, in order",
                                "items": _obj({
                                    "kind": {"enum": ["renormalized", "dropped", "clipped"]},
                                    "rows": INT0,
                                    "largest_change": {"type": ["number", "null"], "minimum": 0},
                                    "detail": STR,
                                })},
            }),
            "binning": _obj({"n_bins": {"type": "integer", "minimum": 1}, "strategy": {"enum": ["uniform", "quantile"]}, "edge_rule": STR,
                             "edges_exact": {"type": "boolean", "description": "false when equal-mass edges came from a quantile sketch"},
                             "edges_rank_error": {"type": ["number", "null"], "minimum": 0,
                                                  "description": "the sketch's normalized rank error (null when exact)"}},
                            required=["n_bins", "strategy", "edge_rule"]),
            "engine": _obj({"name": {"enum": ["local", "dask"]}, "batch_rows": {"type": "integer", "minimum": 1},
                            "passes": INT0, "rows_read": INT0, "cached": {"type": "boolean"}, "reread": {"type": "boolean"},
                            "kernels": {"enum": ["numba", "numpy"], "description": "compiled per-row kernels for batches of at least 131,072 scores (numba), or numpy only"},
                            "first_pass_in_scan": {"type": "boolean", "description": "the first pass (measurement, calibration's pass 1) was fed while pass 1 checked the input, so it read nothing of its own"},
                            "partitions": INT0, "workers": INT0, "bytes_to_client": {**INT0, "description": "bytes of partial states gathered by the client (dask)"}},
                           required=["name", "batch_rows", "passes", "rows_read", "cached", "reread"]),
            "conventions": {"type": "object", "additionalProperties": STR},
            "metrics": _obj({**{k: NUM_OR_NULL for k in METRIC_KEYS}, **metric_properties()}, list(METRIC_KEYS)),
            "intervals": _obj({**{k: INTERVAL for k in METRIC_KEYS}, **interval_properties()}, list(METRIC_KEYS)),
            "noise_floor": _obj({k: NUM_OR_NULL for k in NOISE_FLOOR_KEYS}),
            "interval_method": {"oneOf": [{"type": "null"}, _obj({
                "method": STR, "level": NUM, "replicates": INT0, "groups": INT0, "seed": INT0,
                "keyed_on": {"enum": ["row", "id"]}})]},
            "reliability": _bins("accuracy"),
            "classes": {"type": "array", "items": _obj({
                "name": STR,
                "support": {**INT0, "description": "rows whose true label is the class (multilabel: label present)"},
                "predicted": {**INT0, "description": "rows predicted as the class (top-label: pred_label; argmax; "
                                                     "multilabel: P >= 0.5); a top-label file's ece and direction are over these rows"},
                "ece": NUM_OR_NULL, "brier": NUM_OR_NULL,
                "intervals": _obj({"ece": INTERVAL, "brier": INTERVAL, **interval_properties()}, ["ece", "brier"]),
                "noise_floor": NUM_OR_NULL,
                "direction": {"$ref": "#/$defs/direction"}, "reliability": _bins("observed_frequency"),
                **metric_properties(),  # calib audit --statistics: per class, flat
            }, ["name", "support", "predicted", "ece", "brier", "intervals", "noise_floor", "direction", "reliability"])},
            "warnings": {"type": "array", "items": STR},
            "calibration": {"$ref": "#/$defs/calibration"},
            "thresholds": {"$ref": "#/$defs/thresholds"},
            "gate": {"$ref": "#/$defs/gate"},
            **group_properties(),  # calib audit --by (calibcli.subgroups.schema)
            **statistics_properties(),  # calib audit --statistics; verdict (calibcli.statistics.schema)
        },
        required=["schema_version", "tool", "input", "binning", "conventions", "metrics", "intervals", "noise_floor", "interval_method", "reliability", "classes", "warnings"],
    )
    per_file = _obj({
        "schema_version": {"const": SCHEMA_VERSION},
        "tool": {"$ref": "#/$defs/tool"},
        "reports": {"type": "array", "items": {"$ref": "#/$defs/report"}, "minItems": 1},
        "comparison": comparison_schema(),  # --per-file / --models (calibcli.comparison)
    }, required=["schema_version", "tool", "reports"])
    thresholds_command = _obj({
        "schema_version": {"const": SCHEMA_VERSION},
        "tool": {"$ref": "#/$defs/tool"},
        "rule": STR,
        "method": STR,
        "results": {"type": "array", "items": {"allOf": [{"$ref": "#/$defs/thresholds"},
                                                         {"type": "object", "required": ["file", "recommendations"],
                                                          "properties": {"file": STR}}]}},
        "failures": {"type": "array", "items": _obj({"file": STR, "error": STR})},
    })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://calib.invalid/schema/report-v{SCHEMA_VERSION}.json",
        "title": "calib audit report",
        "description": "What `calib audit --format json` writes: one report, or with --per-file an object holding `reports`; "
                       "also what `calib thresholds --format json` writes (`results` per file). "
                       "NaN and infinity are written as null; floats are not rounded.",
        "oneOf": [{"$ref": "#/$defs/report"}, {"$ref": "#/$defs/per_file"}, {"$ref": "#/$defs/thresholds_command"}],
        "$defs": {
            "tool": tool, "direction": direction, "gate_rule": rule, "gate": gate,
            "calibration": calibration, "thresholds": thresholds, "report": report, "per_file": per_file,
            "thresholds_command": thresholds_command,
        },
    }
