"""The JSON report (``schema_version`` 1): floats unrounded, NaN and inf as null."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import Any

import numpy as np

from calibcli import __version__
from calibcli.report import SCHEMA_VERSION, AuditReport, Reliability
from calibcli.schema import NOISE_FLOOR_KEYS  # the keys the schema declares


def clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, dataclasses to dicts."""
    if hasattr(value, "to_dict"):
        return clean(value.to_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return clean(asdict(value))
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def bins_dict(stats: Reliability, outcome_key: str) -> list[dict[str, Any]]:
    """Every bin, empty ones with count 0 and null means."""
    mc, obs = stats.mean_conf, stats.observed
    return [
        {
            "lower": float(stats.edges[i]),
            "upper": float(stats.edges[i + 1]),
            "count": int(stats.count[i]),
            "mean_confidence": clean(mc[i]),
            outcome_key: clean(obs[i]),
        }
        for i in range(len(stats.count))
    ]


def _interval(iv) -> list | None:
    return None if iv is None else [clean(iv[0]), clean(iv[1])]


def intervals_dict(measurement) -> dict[str, list | None]:
    """``{metric: [low, high] or None}`` with the same names as ``metrics``."""
    return {k: _interval(measurement.intervals.get(k)) for k in asdict(measurement.metrics)}


def report_dict(report: AuditReport) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    inp = report.input
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "calib", "version": __version__},
        "input": {
            "files": list(inp.files),
            "n_samples": inp.n_samples,
            "n_classes": inp.n_classes,
            "task": inp.task,
            "score_kind": inp.score_kind,
            "score_kind_evidence": list(inp.score_kind_evidence),
            "classes": list(inp.classes),
            "dropped_rows": dict(inp.dropped),
            "adjustments": [
                {"kind": a.kind, "rows": int(a.rows), "largest_change": clean(a.largest_change), "detail": a.detail}
                for a in inp.adjustments
            ],
        },
        "binning": {
            "n_bins": report.binning.n_bins,
            "strategy": report.binning.strategy,
            "edge_rule": report.binning.edge_rule,
            "edges_exact": bool(report.binning.edges_exact),
            "edges_rank_error": clean(report.binning.edges_rank_error),
        },
        "conventions": dict(report.conventions),
        "metrics": clean(asdict(report.metrics)),
        "intervals": intervals_dict(report.measurement),
        "noise_floor": {k: clean(report.measurement.noise_floor.get(k)) for k in NOISE_FLOOR_KEYS},
        "interval_method": clean(report.measurement.interval_info),
        "reliability": bins_dict(report.measurement.reliability, "accuracy"),
        "classes": [
            {
                "name": c.name,
                "support": c.support,
                "predicted": c.predicted,
                "ece": clean(c.ece),
                "brier": clean(c.brier),
                "intervals": {k: _interval(c.intervals.get(k)) for k in ("ece", "brier")},
                "noise_floor": clean(c.noise_floor),
                "direction": clean(asdict(c.direction)),
                "reliability": bins_dict(c.reliability, "observed_frequency"),
            }
            for c in report.measurement.classes
        ],
        "warnings": list(report.warnings),
    }
    if report.engine is not None:
        out["engine"] = {k: v for k, v in asdict(report.engine).items() if v is not None}  # Dask-only fields when set
    for key in ("calibration", "thresholds", "gate"):
        value = getattr(report, key)
        if value is not None:
            out[key] = clean(value)
    if getattr(report, "groups", None) is not None:  # calib audit --by: groups, worst_group, multicalibration
        out.update(clean(report.groups.to_dict()))
    from calibcli.render.statistics_json import merge_statistics

    return merge_statistics(out, report)  # --statistics: merged into metrics, intervals, classes; the verdict


def dumps(data: Any) -> str:
    """Serialise with NaN forbidden (they must already be None)."""
    return json.dumps(clean(data), indent=2, allow_nan=False) + "\n"


def render_json(reports: list[AuditReport], per_file: bool = False, comparison=None) -> str:
    """One report as an object; ``--per-file`` (and ``--models``) as ``{"schema_version", "reports": [...]}``,
    with ``comparison`` (:class:`calibcli.comparison.Comparison`) when given."""
    if per_file:
        doc = {"schema_version": SCHEMA_VERSION, "tool": {"name": "calib", "version": __version__},
               "reports": [report_dict(r) for r in reports]}
        if comparison is not None:
            doc["comparison"] = comparison.to_dict()
        return dumps(doc)
    return dumps(report_dict(reports[0]))
