"""The statistics (issue 13) and the verdict in the JSON report: merged into the report's own objects.

Reads ``report.statistics`` (:class:`~calibcli.statistics.result.StatisticsResult`) and
``report.verdict`` (:class:`~calibcli.verdict.Verdict`); computes nothing.
"""

from __future__ import annotations

from typing import Any


def merge_statistics(out: dict[str, Any], report) -> dict[str, Any]:
    """``out`` (the report's JSON dict, changed in place and returned) with the statistics and the verdict.

    With statistics: their headline ``metrics`` and ``intervals`` join the report's (same
    names), each class's metrics join its ``classes[i]`` entry (flat, beside ``ece``) and its
    intervals ``classes[i].intervals``, ``conventions`` join the report's, and ``statistics``
    holds the scheme and per-curve details. ``verdict`` whenever the report has one.
    """
    from calibcli.render.jsonout import clean

    st = getattr(report, "statistics", None)
    if st is not None:
        frag = clean(st.to_dict())
        out["metrics"].update(frag["metrics"])
        out["intervals"].update(frag["intervals"])
        for j, c in enumerate(st.classes):  # a class curve is its class index (else: class order)
            i = c.class_index if c.class_index is not None else (c.curve if isinstance(c.curve, int) else j)
            if not 0 <= i < len(out["classes"]):
                continue
            entry = out["classes"][i]
            cls = frag["classes"][j]
            entry.update(cls["metrics"])
            entry["intervals"].update(cls["intervals"])
        out["conventions"].update(frag["conventions"])
        out["statistics"] = frag["statistics"]
    verdict = getattr(report, "verdict", None)
    if verdict is not None:
        out["verdict"] = clean(verdict.to_dict())
    return out
