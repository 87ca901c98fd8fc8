"""Evaluating gate rules on an audit: point values or bootstrap bounds, deltas against a baseline, verdicts.

``--on point`` compares the point estimate; ``--on upper`` compares the
pessimistic end of a seeded basic-bootstrap 95% interval from the grouped
bootstrap (:mod:`calibcli.gate.bootstrap`; the audit's own replicates, so no
extra pass): the upper end for rules that fail when a metric is too large, the
lower end for rules that fail when it is too small (``accuracy < 0.9``). Bin
edges stay those of the full data.

Baseline rules (``ece_increase > 0.01``) compare with the previous model's
predictions for the same items (:mod:`calibcli.gate.baseline`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from calibcli.engine.batches import BatchSource, InMemorySource
from calibcli.errors import UsageError
from calibcli.gate.baseline import Baseline
from calibcli.gate.bootstrap import interval as boot_interval, replicate_values
from calibcli.gate.results import BaselineInfo, GateResult, RuleResult
from calibcli.gate.rules import (BASE_METRICS, DELTA_METRICS, GROUP_METRICS, ON_CHOICES, Rule, format_limit,
                                 format_value)
from calibcli.predictions import Predictions, Task
from calibcli.report import Measurement

DELTA_NAME = {m.rsplit("_", 1)[0]: m for m in DELTA_METRICS}


def point_metrics(measurement: Measurement, n_samples: int) -> dict[str, float | None]:
    """Every base metric of a measurement, ``None`` where undefined."""
    m = measurement.metrics
    eces = [c.ece for c in measurement.classes if c.ece is not None]
    return {
        "ece": m.ece, "ece_top_label": m.ece_top_label, "classwise_ece": m.classwise_ece, "class_ece": max(eces) if eces else None,
        "mce": m.mce, "brier": m.brier, "nll": m.nll, "accuracy": m.accuracy, "samples": float(n_samples),
    }


def worst_class(measurement: Measurement) -> str | None:
    """The class (or label) with the largest ECE: the one a ``class_ece`` rule is about."""
    best, name = -math.inf, None
    for c in measurement.classes:
        if c.ece is not None and math.isfinite(c.ece) and c.ece > best:
            best, name = c.ece, c.name
    return name


def _class_words(task: Task, name: str | None) -> str:
    if name is None:
        return ""
    return f" ({'label' if task is Task.MULTILABEL else 'class'} {str(name)!r})"


def _none_if_nan(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _violated(value: float, op: str, limit: float) -> bool:
    return {">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit}[op]


def _delta(metric: str, new: float | None, old: float | None) -> float | None:
    if new is None or old is None:
        return None
    return old - new if metric == "accuracy" else new - old


def evaluate_gate(
    source: BatchSource | Predictions,
    measurement: Measurement,
    rules: list[Rule] | tuple[Rule, ...],
    *,
    on: str = "point",
    strict: bool = False,
    seed: int = 0,
    replicates: int = 200,
    n_bins: int = 15,
    strategy: str = "uniform",
    baseline: Baseline | None = None,
    groups=None,
) -> GateResult:
    """Evaluate gate rules against audited predictions.

    Parameters
    ----------
    source : the audited rows (a ``BatchSource``, or ``Predictions`` in memory).
    measurement : their measurement.
    rules : the rules; an empty list passes.
    on : 'point' compares point estimates; 'upper' the pessimistic end of a
        basic-bootstrap 95% interval of ``replicates`` replicates of the grouped
        bootstrap (each row in one of 128 groups by its key: its global row index,
        or its id when the source has ids; each group weighted Poisson(1) by a draw
        keyed on ``seed``): the same seed gives the same verdict, whatever the
        batching. Formed from the measurement's grouped sums (no pass over
        ``source`` when it has them).
    strict : warn-severity rules fail too.
    n_bins, strategy : binning of the baseline measurements.
    baseline : paired baseline predictions; required by ``*_increase`` rules.
    groups : the audit's subgroups (a :class:`~calibcli.subgroups.SubgroupReport`, ``--by``); required by
        ``worst_group_ece`` (the largest ECE among groups with at least ``min_group_rows`` rows) and
        ``group_*[COL=VALUE]`` rules (one group, whatever its size). With ``on='upper'`` these compare the
        pessimistic end of the group's own 95% interval (the subgroup audit's bootstrap: the audit's seed).

    Examples
    --------
    >>> from calibcli.audit import measure
    >>> from calibcli.predictions import ScoreKind
    >>> from calibcli.gate.rules import parse_rule
    >>> p = Predictions(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> g = evaluate_gate(p, measure(p, 5), [parse_rule("accuracy < 0.9")])
    >>> g.passed, g.rules[0].value
    (False, 0.5)
    """
    if on not in ON_CHOICES:
        raise UsageError(f"--on must be one of {', '.join(ON_CHOICES)}, got {on!r}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"the gate seed must be a whole number >= 0, got {seed!r}.")
    if replicates < 10:
        raise UsageError(f"the bootstrap needs at least 10 replicates, got {replicates}.")
    if isinstance(source, Predictions):
        source = InMemorySource.from_predictions(source, max(source.n_samples, 1))
    task = source.info.task
    on_groups = [r for r in rules if r.on_groups]
    if on_groups and groups is None:
        raise UsageError(f"the rule(s) {', '.join(repr(r.text) for r in on_groups)} are on subgroups, but the audit has none: "
                         "add --by COLUMN (the groups' column; repeatable for intersections).")
    base_needed = {r.metric for r in rules if r.metric in BASE_METRICS and not r.on_groups}
    delta_needed = {r.metric.rsplit("_", 1)[0] for r in rules if r.metric in DELTA_METRICS}
    if delta_needed and baseline is None:
        names = ", ".join(sorted(r.metric for r in rules if r.metric in DELTA_METRICS))
        raise UsageError(f"the rule(s) on {names} compare with a baseline; pass --baseline OLD_PREDICTIONS (and --id-col to match rows by id).")

    point = point_metrics(measurement, source.info.n_rows)
    base_info = None
    delta_point: dict[str, float | None] = {}
    about = {"class_ece": _class_words(task, worst_class(measurement))}
    if baseline is not None:
        from calibcli.measure import measure_source

        boot = on == "upper"
        m_new = measurement if baseline.whole else measure_source(baseline.new, n_bins, strategy, intervals=boot, seed=seed,
                                                                  key_on_ids=baseline.key_on_ids)
        m_old = measure_source(baseline.old, n_bins, strategy, intervals=boot, seed=seed, key_on_ids=baseline.key_on_ids)
        pn, po = point_metrics(m_new, baseline.n_matched), point_metrics(m_old, baseline.n_matched)
        delta_point = {m: _delta(m, _none_if_nan(pn[m]), _none_if_nan(po[m])) for m in BASE_METRICS}
        base_info = BaselineInfo(baseline.files, baseline.matched_by, baseline.n_matched,
                                 {m: _none_if_nan(v) for m, v in po.items() if m != "samples"})
        new_worst, old_worst = worst_class(m_new), worst_class(m_old)
        about_delta = _class_words(task, new_worst)
        if about_delta and old_worst is not None and old_worst != new_worst:
            about_delta = about_delta[:-1] + f"; the baseline's worst: {str(old_worst)!r})"
        about["class_ece_increase"] = about_delta

    intervals: dict[str, tuple[float, float] | None] = {}
    if on == "upper" and rules:
        boot_base = base_needed - {"samples"}
        boot_delta = delta_needed - {"samples"}
        if boot_base:
            reps = replicate_values(source, measurement, boot_base, replicates, seed, source.info.has_ids)
            info = measurement.interval_info
            same = info is not None and (info.seed, info.replicates) == (seed, replicates)
            for m, v in reps.items():  # the audit's own interval when it is the same bootstrap
                own = same and m in measurement.intervals
                intervals[m] = measurement.intervals[m] if own else boot_interval(_none_if_nan(point.get(m)), v, m)
        if boot_delta:
            new = replicate_values(baseline.new, m_new, boot_delta, replicates, seed, baseline.key_on_ids)
            old = replicate_values(baseline.old, m_old, boot_delta, replicates, seed, baseline.key_on_ids)
            for m in boot_delta:  # the same key weighs the same in both: a paired bootstrap
                name = DELTA_NAME[m]
                intervals[name] = boot_interval(delta_point.get(m), old[m] - new[m] if m == "accuracy" else new[m] - old[m], name)

    results = []
    for r in rules:
        if r.on_groups:
            results.append(_judge_group(r, groups, on, strict))
            continue
        if r.metric in DELTA_METRICS:
            pt = delta_point.get(r.metric.rsplit("_", 1)[0])
        else:
            pt = _none_if_nan(point.get(r.metric))
        iv = intervals.get(r.metric) if on == "upper" else None
        if pt is None:
            value = None
        elif iv is None:
            value = pt
        else:
            value = iv[1] if r.op in (">", ">=") else iv[0]
        results.append(_judge(r, value, pt, iv, strict, about.get(r.metric, "")))
    passed = not any(x.status == "fail" for x in results)
    return GateResult(passed, on, strict, seed, replicates, tuple(results), base_info)


def _judge_group(rule: Rule, groups, on: str, strict: bool) -> RuleResult:
    """A rule on subgroups: the worst eligible group's ECE, or one named group's metric."""
    from calibcli.subgroups.result import group_not_found, group_rule_value

    if rule.group is None:  # worst_group_ece
        group = groups.worst
        point, iv = group_rule_value(groups, rule.metric)
        undefined = (f"no group has at least --min-group-rows {groups.min_group_rows} rows and a defined ECE "
                     f"({len(groups.groups)} groups of --by {' --by '.join(groups.columns)}), so the rule "
                     f"'{rule.text}' cannot pass")
    else:
        group = groups.find(rule.group)
        if group is None:
            raise UsageError(f"the gate rule '{rule.text}' ({rule.source}): {group_not_found(groups, rule.group)}")
        point, iv = group_rule_value(groups, GROUP_METRICS[rule.metric], rule.group)
        undefined = f"{rule.label} is not defined ({group.n:,} rows), so the rule '{rule.text}' cannot pass"
    iv = None if on != "upper" or iv is None or point is None else (float(iv[0]), float(iv[1]))
    value = point if iv is None else (iv[1] if rule.op in (">", ">=") else iv[0])
    about = "" if group is None else (f" (group {group.name}, {group.n:,} rows)" if rule.group is None
                                      else f" ({group.n:,} rows)")
    res = _judge(rule, value, point, iv, strict, about, undefined)
    return dataclasses.replace(res, group=None if group is None else group.name)


def _judge(rule: Rule, value: float | None, point: float | None, interval, strict: bool, about: str = "",
           undefined: str | None = None) -> RuleResult:
    """The verdict and its message; ``about`` names what the value is about (``" (class 'cat')"``)."""
    label = rule.label
    word = {">": " max", ">=": "", "<": " min", "<=": ""}[rule.op]
    if value is None:
        violated = True
        msg = undefined or f"{label} is not defined for this input, so the rule '{rule.text}' cannot pass"
    else:
        violated = _violated(value, rule.op, rule.limit)
        shown = format_value(value, rule.limit)
        if violated:
            msg = f"{label} {shown}{about} {rule.op}{word} {format_limit(rule.limit)}"
        else:
            ok = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}[rule.op]
            msg = f"{label} {shown}{about} {ok}{word} {format_limit(rule.limit)}"
        if interval is not None:
            end = "upper" if rule.op in (">", ">=") else "lower"
            msg += f" [{end} end of bootstrap 95% interval; point {format_value(point, rule.limit)}]"
    status = "pass" if not violated else ("fail" if rule.severity == "fail" or strict else "warn")
    return RuleResult(rule, value, point, interval, status, f"{msg} ({rule.source})")
