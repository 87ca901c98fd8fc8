"""Several audits side by side: one row per report (a file of ``--per-file``, a model of ``--models``), best first.

:func:`compare` orders the reports by one metric (``sort_by``: ascending for errors,
descending for accuracy; ties and undefined values keep the input order, undefined
last) and gives each row its difference from the best row. Where two reports audit
the same rows (the models of one file) the difference has a *paired* bootstrap
interval: the replicates are row-keyed (:mod:`calibcli.stats.rng`: a row gets the
same Poisson weight in every model's replicate ``r``), so subtracting the two
models' replicate metrics replicate by replicate gives the bootstrap distribution
of the difference on the same resampled rows.

The result is typed (frozen dataclasses with ``to_dict``); the renderers in
:mod:`calibcli.render.comparison` and :mod:`calibcli.render.html` read it and
compute nothing. No printing here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["SORT_METRICS", "Comparison", "ComparisonRow", "Difference", "bootstrap_state", "compare",
           "comparison_schema", "paired_interval"]

#: metrics a comparison can be sorted by, and whether larger is better
SORT_METRICS: dict[str, bool] = {
    "ece": False, "classwise_ece": False, "nll": False, "brier": False, "mce": False, "accuracy": True,
}
LEVEL = 0.95

Interval = tuple[float, float] | None


@dataclass(frozen=True)
class Difference:
    """One row's metric minus the best row's (``value``), with a 95% paired bootstrap
    ``interval`` when both audited the same rows (``paired``), else None."""

    metric: str
    value: float | None
    interval: Interval = None
    paired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": _num(self.value), "interval": _iv(self.interval), "paired": self.paired}


@dataclass(frozen=True)
class ComparisonRow:
    """One audited report in the comparison.

    ``report`` is its index in the input order (the JSON ``reports`` list, the
    HTML articles); ``score_columns`` the columns of a ``--models`` model (None
    for ``--per-file``); ``ece_interval`` the report's 95% ECE interval when it has
    one; ``temperature`` the fitted T when temperature scaling ran (one shared T);
    ``gate`` is the gate outcome, ``pass``/``warn``/``fail``, or None without gate rules;
    ``verdict`` the decision verdict's overall status (``ok``/``warn``/``fail``; not-measured
    uses do not count) or None without a verdict. Both are shown when both exist. ``difference`` is None only for
    rows without a value of the sort metric.
    """

    rank: int
    name: str
    report: int
    files: tuple[str, ...]
    n_samples: int
    task: str
    accuracy: float | None
    ece: float | None
    ece_interval: Interval
    classwise_ece: float | None
    nll: float | None
    brier: float | None
    mce: float | None
    temperature: float | None
    gate: str | None
    verdict: str | None
    difference: Difference | None
    score_columns: tuple[str, ...] | None = None

    def value(self, metric: str) -> float | None:
        """The row's value of ``metric`` (one of :data:`SORT_METRICS`)."""
        return getattr(self, metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "name": self.name, "report": self.report, "files": list(self.files),
            "score_columns": None if self.score_columns is None else list(self.score_columns),
            "n_samples": self.n_samples, "task": self.task,
            **{k: _num(getattr(self, k)) for k in ("accuracy", "ece")},
            "ece_interval": _iv(self.ece_interval),
            **{k: _num(getattr(self, k)) for k in ("classwise_ece", "nll", "brier", "mce", "temperature")},
            "gate": self.gate, "verdict": self.verdict,
            "difference": None if self.difference is None else self.difference.to_dict(),
        }


@dataclass(frozen=True)
class Comparison:
    """The rows, best first by ``sort_by`` (``ascending`` for errors, not for accuracy).

    ``best`` names the first row; ``paired`` says how the paired intervals were made
    (None when no two rows share their rows); ``notes``: what the table cannot show.
    """

    sort_by: str
    ascending: bool
    rows: tuple[ComparisonRow, ...]
    paired: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def best(self) -> str | None:
        return self.rows[0].name if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {"sort_by": self.sort_by, "order": "ascending" if self.ascending else "descending",
                "best": self.best, "paired": self.paired, "notes": list(self.notes),
                "rows": [r.to_dict() for r in self.rows]}


def _num(x) -> float | None:
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _iv(iv: Interval) -> list[float | None] | None:
    return None if iv is None else [_num(iv[0]), _num(iv[1])]


def paired_interval(point: float, replicates: np.ndarray, level: float = LEVEL) -> Interval:
    """The basic bootstrap interval ``(2d - q_hi, 2d - q_lo)`` of a difference ``point`` from its
    paired replicate differences (NaN replicates left out; None when none is finite).

    A model compared with itself has every replicate difference 0, so the interval is (0, 0).

    >>> paired_interval(0.0, np.zeros(50))
    (0.0, 0.0)
    >>> lo, hi = paired_interval(0.1, np.linspace(0.05, 0.15, 201)); round(lo, 4), round(hi, 4)
    (0.0525, 0.1475)
    """
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0 or point is None or not math.isfinite(point):
        return None
    a = (1.0 - level) / 2.0
    q_lo, q_hi = np.quantile(reps, [a, 1.0 - a])
    return (float(2.0 * point - q_hi), float(2.0 * point - q_lo))


def _gate(report) -> str | None:
    g = getattr(report, "gate", None)
    if g is None:
        return None
    return "fail" if not g.passed else ("warn" if g.warned else "pass")


def _verdict(report) -> str | None:
    """The status of the report's decision verdict (``ok``/``warn``/``fail``), when it has one."""
    v = getattr(report, "verdict", None)
    if v is None:
        return None
    if isinstance(v, str):
        return v
    status = getattr(v, "status", None)
    return status if isinstance(status, str) else None


def _temperature(report) -> float | None:
    cal = getattr(report, "calibration", None)
    return None if cal is None else getattr(cal, "temperature", None)


def _ece_interval(report) -> Interval:
    iv = (getattr(report.measurement, "intervals", None) or {}).get("ece")
    return None if iv is None else (float(iv[0]), float(iv[1]))


def _sort_key(value: float | None, higher_better: bool) -> tuple[int, float]:
    if value is None or not math.isfinite(value):
        return (1, 0.0)
    return (0, -value if higher_better else value)


def _replicates(state, metric: str) -> np.ndarray | None:
    if state is None:
        return None
    reps = state.replicate_metrics().get(metric)
    return None if reps is None else np.asarray(reps, dtype=np.float64)


def _same_bootstrap(states: Sequence[Any]) -> bool:
    keys = {(s.seed, s.n_replicates, getattr(s, "n_blocks", 0), s.key_on_ids) for s in states}
    return len(keys) == 1


def compare(reports: Sequence[Any], names: Sequence[str], sort_by: str = "ece", *,
            rows_of: Sequence[Any] | None = None, states: Sequence[Any] | None = None,
            score_columns: Sequence[tuple[str, ...] | None] | None = None) -> Comparison:
    """Compare audit reports side by side, best first by ``sort_by``.

    Parameters
    ----------
    reports : ``AuditReport`` objects, in input order.
    names : one display name per report (the file, or the model).
    sort_by : a key of :data:`SORT_METRICS`; errors ascending, accuracy descending; ties
        and undefined values keep the input order (undefined last).
    rows_of : per report, a key of the rows it audited (e.g. its files): reports with equal
        keys audited the same rows, so their difference gets a paired interval. Default:
        every report its own rows (no paired intervals).
    states : per report, a :class:`calibcli.measure.MeasureState` with a bootstrap (or None);
        paired intervals need the same seed, replicates and blocks in both states.
    score_columns : per report, the score columns of a ``--models`` model (or None).

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from calibcli.audit import build_audit
    >>> from calibcli.engine.batches import InMemorySource
    >>> from calibcli.predictions import Predictions, ScoreKind, Task
    >>> def rep(p):
    ...     probs = np.array([[1 - p, p], [0.5, 0.5], [0.2, 0.8]])
    ...     preds = Predictions(probs, np.array([1, 0, 1]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    ...     return build_audit(InMemorySource.from_predictions(preds, 3), 5)
    >>> c = compare([rep(0.6), rep(0.9)], ["m1", "m2"], "ece")
    >>> [r.name for r in c.rows], c.rows[0].difference.value
    (['m1', 'm2'], 0.0)
    """
    if sort_by not in SORT_METRICS:
        raise ValueError(f"sort_by must be one of {', '.join(SORT_METRICS)}, got {sort_by!r}")
    if len(names) != len(reports):
        raise ValueError("one name per report")
    n = len(reports)
    rows_of = list(range(n)) if rows_of is None else list(rows_of)
    states = [None] * n if states is None else list(states)
    score_columns = [None] * n if score_columns is None else list(score_columns)
    higher = SORT_METRICS[sort_by]
    order = sorted(range(n), key=lambda i: _sort_key(getattr(reports[i].metrics, sort_by), higher))
    best = order[0] if order else None
    best_value = None if best is None else getattr(reports[best].metrics, sort_by)
    usable = [s for s in states if s is not None]
    paired_ok = bool(usable) and _same_bootstrap(usable)
    best_reps = _replicates(states[best], sort_by) if paired_ok and best is not None else None
    any_paired = False
    rows = []
    for rank, i in enumerate(order, start=1):
        r = reports[i]
        m = r.metrics
        value = getattr(m, sort_by)
        diff = None
        if value is not None and best_value is not None and math.isfinite(value) and math.isfinite(best_value):
            d = float(value - best_value)
            interval, paired = None, False
            if best_reps is not None and rows_of[i] == rows_of[best] and states[i] is not None:
                reps = _replicates(states[i], sort_by)
                if reps is not None:
                    interval, paired = paired_interval(d, reps - best_reps), True
                    any_paired = True
            diff = Difference(sort_by, d, interval, paired)
        rows.append(ComparisonRow(
            rank=rank, name=str(names[i]), report=i, files=tuple(r.input.files), n_samples=int(r.input.n_samples),
            task=r.input.task, accuracy=m.accuracy, ece=m.ece, ece_interval=_ece_interval(r),
            classwise_ece=m.classwise_ece, nll=m.nll, brier=m.brier, mce=m.mce, temperature=_temperature(r),
            gate=_gate(r), verdict=_verdict(r), difference=diff, score_columns=score_columns[i]))
    paired = None
    notes: list[str] = []
    if any_paired:
        s = states[best]
        paired = {"method": "basic bootstrap of paired differences", "level": LEVEL, "replicates": int(s.n_replicates),
                  "blocks": int(getattr(s, "n_blocks", 0)), "seed": int(s.seed),
                  "keyed_on": "id" if s.key_on_ids else "row",
                  "description": f"{sort_by} of the row minus {sort_by} of the best row, both measured on the same "
                                 "bootstrap replicates of the shared rows (row-keyed weights)"}
    elif n > 1 and len(set(map(_hashable, rows_of))) == n:
        notes.append("The reports audit different rows, so their differences have no paired interval.")
    if best_value is None and n:
        notes.append(f"No report has a value of {sort_by}.")
    return Comparison(sort_by, not higher, tuple(rows), paired, tuple(notes))


def _hashable(x):
    return tuple(x) if isinstance(x, list) else x


def bootstrap_state(source, report, seed: int = 0, n_replicates: int | None = None):
    """A :class:`calibcli.measure.MeasureState` with a row-keyed bootstrap of ``report``'s rows, for paired
    intervals: the report's own state when it carries one, else one more pass over ``source`` on the
    report's bin edges (the grouped bootstrap)."""
    state = getattr(report.measurement, "state", None)
    if state is not None and getattr(state, "n_replicates", 0) > 0:
        return state
    from calibcli import measure as m
    from calibcli.gate.bootstrap import edges_of

    edges = edges_of(report.measurement, source.info.task)
    return m.measure_state(source, edges, int(n_replicates or m.DEFAULT_REPLICATES), seed, n_blocks=m.DEFAULT_BLOCKS)


def comparison_schema() -> dict[str, Any]:
    """JSON Schema of the ``comparison`` object (draft 2020-12).

    >>> sorted(comparison_schema()["properties"])
    ['best', 'notes', 'order', 'paired', 'rows', 'sort_by']
    """
    num = {"type": ["number", "null"]}
    interval = {"oneOf": [{"type": "null"}, {"type": "array", "items": num, "minItems": 2, "maxItems": 2}]}
    diff = {"oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": False,
                                         "required": ["metric", "value", "interval", "paired"],
                                         "properties": {"metric": {"enum": list(SORT_METRICS)}, "value": num,
                                                        "interval": interval, "paired": {"type": "boolean"}}}]}
    row_props = {
        "rank": {"type": "integer", "minimum": 1}, "name": {"type": "string"},
        "report": {"type": "integer", "minimum": 0, "description": "index of this row's report in `reports`"},
        "files": {"type": "array", "items": {"type": "string"}},
        "score_columns": {"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}}]},
        "n_samples": {"type": "integer", "minimum": 0}, "task": {"type": "string"},
        "accuracy": num, "ece": num, "ece_interval": interval, "classwise_ece": num, "nll": num, "brier": num,
        "mce": num, "temperature": num,
        "gate": {"enum": ["pass", "warn", "fail", None], "description": "the gate outcome; null without rules"},
        "verdict": {"type": ["string", "null"], "description": "the decision verdict's status: ok, warn or fail"},
        "difference": diff,
    }
    return {
        "type": "object", "additionalProperties": False,
        "description": "the reports side by side, best first by sort_by; difference: row minus best row",
        "required": ["sort_by", "order", "best", "paired", "notes", "rows"],
        "properties": {
            "sort_by": {"enum": list(SORT_METRICS)}, "order": {"enum": ["ascending", "descending"]},
            "best": {"type": ["string", "null"]},
            "paired": {"oneOf": [{"type": "null"}, {"type": "object"}]},
            "notes": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                "required": list(row_props), "properties": row_props}},
        },
    }
