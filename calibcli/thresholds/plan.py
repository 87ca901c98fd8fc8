"""Recommendations for every class of a prediction source, pass by pass in bounded memory.

The pass plan (:func:`recommend_source`):

1. One pass fills a :class:`~calibcli.thresholds.tables.CountTable` per binary
   problem (target x score scale; with calibrated scores each table also keeps
   the range of the other scale's scores), plus the counts at or above the
   Bayes threshold. Tables within their budget are exact: done.
2. Otherwise, while some bucket can still hold an objective's optimum
   (:func:`~calibcli.thresholds.refine.open_segments`), one more pass gathers
   the exact scores inside those buckets only.
3. Recommendations, bootstrap intervals and the thresholds on the other scale
   come from the final tables alone (no further pass).

Every pass is :func:`calibcli.engine.local.feed` of a fresh
:class:`~calibcli.thresholds.passes.ThresholdCounts` (a mergeable pass consumer),
so an engine may feed replicas per partition and merge them. The results equal
the exact search over every distinct score for any ``batch_rows``, batch order,
partitioning and budget.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from calibcli.errors import UsageError
from calibcli.predictions import Predictions, Task
from calibcli.thresholds.intervals import bootstrap, bootstrap_method, with_intervals
from calibcli.thresholds.refine import Known, cut_segments, equivalent_on_other_scale, open_segments, pick_ranges
from calibcli.thresholds.select import _cost, _headline, _none, _Rows, _select
from calibcli.thresholds.spec import HEADLINES, RULE, Recommendation, ThresholdReport, ThresholdSpec
from calibcli.thresholds.passes import (
    CalibrateEach,
    Layout,
    PairedRows,
    RawRows,
    ThresholdCounts,
    target_names,
    targets,
)
from calibcli.thresholds.tables import DEFAULT_MAX_DISTINCT

if TYPE_CHECKING:
    from calibcli.engine.batches import Batch, BatchSource

UNLIMITED = 1 << 62  # a table's budget when the rows are in memory anyway
MAX_ROUNDS = 4096  # refinement always ends far sooner; this only turns a bug into an error
Run = Callable[[ThresholdCounts], ThresholdCounts]  # one pass: feed the consumer every batch, return it


def equivalent_threshold(src: np.ndarray, dst: np.ndarray, threshold: float) -> float | None:
    """Threshold on ``dst`` that flags exactly the rows ``src >= threshold`` flags, or ``None`` (rows in memory).

    Exists when the rows flagged on ``src`` all score higher on ``dst`` than the
    rows not flagged (e.g. a monotone calibration map); checked on the data.
    :func:`recommend_source` gets the same answer from its count tables.

    >>> equivalent_threshold(np.array([0.1, 0.6, 0.9]), np.array([0.2, 0.5, 0.7]), 0.6)
    0.5
    >>> equivalent_threshold(np.array([0.1, 0.6, 0.9]), np.array([0.6, 0.5, 0.7]), 0.6) is None
    True
    """
    if not math.isfinite(threshold):
        return threshold
    flagged = src >= threshold
    if not flagged.any():
        return math.inf
    t = float(dst[flagged].min())
    if np.any(dst[~flagged] >= t):
        return None
    return t


# --------------------------------------------------------------------------- passes


def _solve(run: Run, layout: Layout, spec: ThresholdSpec, budget: int):
    """Final known curves, counts at or above the Bayes threshold, rows, passes and refinement rounds.

    ``run(consumer)`` is one pass over the rows (:func:`calibcli.engine.local.feed` or any
    engine) that returns the fed consumer; every pass is a fresh :class:`ThresholdCounts`.
    """
    first = run(ThresholdCounts(layout, budget, spec.bayes_threshold()))
    knowns = [Known.from_segments(t.finalize()) for t in first.tables]
    at_bayes, n_rows = first.at_bayes, first.n_rows
    passes = rounds = 0
    while True:
        passes += 1
        chosen = {}
        for t, known in enumerate(knowns):
            if known.exact:
                continue
            curve = known.curve()
            if curve.n_pos == 0 or curve.n_neg == 0:
                continue  # nothing is defined for this target
            rows = _Rows(curve.tp[None, :], curve.fp[None, :])
            open_ = np.zeros(known.lo.size, dtype=bool)
            centers: list[int] = []
            for o in spec.objectives:
                sel = _select(o, rows, spec)
                open_ |= open_segments(known, spec, o, sel)
                centers += [int(sel[0][0])] + ([] if sel[2] is None else [int(sel[2][0])])
            if spec.n_bootstrap > 0:  # the bootstrap's cut points too, so that they are the exact curve's
                open_ |= cut_segments(known, spec.max_groups, centers)
            if open_.any():
                chosen[t] = pick_ranges(known, open_, budget, centers)
        if not chosen:
            return knowns, at_bayes, n_rows, passes, rounds
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError("threshold refinement did not converge")
        gather = run(ThresholdCounts(layout, budget, ranges={
            t: (knowns[t].lo[m][::-1], knowns[t].hi[m][::-1]) for t, m in chosen.items()}))
        for t, table in zip(gather.want, gather.tables):
            knowns[t] = knowns[t].replaced(chosen[t], table.finalize())


def _recommend_one(known: Known, at_bayes: np.ndarray, spec: ThresholdSpec, target: str, scale: str,
                   seed_key: int) -> list[tuple[Recommendation, int, int | None]]:
    """One problem's recommendations with the chosen edge (and lower edge) of each."""
    curve = known.curve()
    P, N = curve.n_pos, curve.n_neg
    n = P + N
    bayes = spec.bayes_threshold()
    if P == 0 or N == 0:
        why = "no positive rows" if P == 0 else "no negative rows"
        return [(Recommendation(target, o, scale, math.nan, n, P, 0, None, None, None, 0.0, HEADLINES[o], None,
                                note=f"not defined: {why} for {target}"), 0, None) for o in spec.objectives]
    rows = _Rows(curve.tp[None, :], curve.fp[None, :])
    chosen = {o: _select(o, rows, spec) for o in spec.objectives}
    centers = [int(c[0]) for j, _, i in chosen.values() for c in (j, i) if c is not None]
    boot = bootstrap(curve, centers, spec, seed_key, known.exact)
    out = []
    for o in spec.objectives:
        j, met, i = chosen[o]
        j = int(j[0])
        tp, fp = int(curve.tp[j]), int(curve.fp[j])
        flagged_low = None if i is None else np.array([curve.tp[int(i[0])] + curve.fp[int(i[0])]])
        value = _headline(o, np.array([tp]), np.array([fp]), P, N, spec, flagged_low)
        rec = Recommendation(
            target=target, objective=o, scale=scale,
            threshold=float(curve.threshold_at(j)), n=n, n_positive=P, n_flagged=tp + fp,
            precision=None if tp + fp == 0 else tp / (tp + fp), recall=tp / P, fpr=fp / N,
            flagged_fraction=(tp + fp) / n, headline=HEADLINES[o], headline_value=_none(value[0]),
            expected_cost=float(_cost(tp, fp, P, N, spec)) if spec.has_costs else None,
            bayes_threshold=bayes if o == "cost" else None,
        )
        if o in ("precision", "recall", "flag-rate", "review-band"):
            goal = {"precision": spec.min_precision, "recall": spec.min_recall, "flag-rate": spec.max_flag_rate,
                    "review-band": spec.review_precision}[o]
            rec = replace(rec, met=bool(met[0]), goal=goal, note=_target_note(o, bool(met[0]), rec, goal))
        if o == "cost" and bayes is not None:
            rec = replace(rec, cost_at_bayes=float(_cost(float(at_bayes[0]), float(at_bayes[1]), P, N, spec)))
        if o == "cost" and j == 0:
            rec = replace(rec, note="flagging nothing has the lowest cost")
        low = None
        if o == "review-band":
            low = int(i[0])
            F_i = int(curve.tp[low] + curve.fp[low])
            cleared = n - F_i
            rec = replace(rec, threshold_low=float(curve.threshold_at(low)), review_fraction=(F_i - tp - fp) / n,
                          npv=None if cleared == 0 else (N - int(curve.fp[low])) / cleared)
        if boot is not None:
            rec = with_intervals(rec, o, boot, curve, spec)
        out.append((rec, j, low))
    return out


def _target_note(o: str, met: bool, rec: Recommendation, goal: float) -> str:
    if met:
        return ""
    if o == "precision":
        best = "-" if rec.precision is None else f"{rec.precision:.4g}"
        return f"target not met: no threshold reaches precision {goal:g}; closest achievable: precision {best} at this threshold"
    if o == "recall":
        return f"target not met: recall {goal:g} is not reachable"
    if o == "flag-rate":
        items = "the top-scored item" if rec.n_flagged == 1 else f"the {rec.n_flagged} items sharing the top score"
        return (f"target not met: the fewest items any threshold flags ({items}) are {rec.flagged_fraction:.4g} of all, "
                f"more than {goal:g}; closest achievable shown")
    return f"target not met: no score region reaches precision {goal:g} on either side; every item would go to review"


def _translated(rec: Recommendation, known: Known, j: int, low: int | None) -> Recommendation:
    if math.isnan(rec.threshold):
        return rec
    return replace(rec, other_scale_threshold=equivalent_on_other_scale(known, j),
                   other_scale_threshold_low=None if low is None else equivalent_on_other_scale(known, low))


def _report(run: Run, names: list[tuple[int, str]], view, calibrated: bool, spec: ThresholdSpec,
            budget: int | None, task: str) -> ThresholdReport:
    scales = ("raw", "calibrated") if calibrated else ("raw",)
    layout = Layout(tuple(k for k, _ in names), len(scales), view)
    per_table = UNLIMITED if budget is None else max(2, budget // max(1, layout.n_tables))
    knowns, at_bayes, n_rows, passes, rounds = _solve(run, layout, spec, per_table)
    recs: list[Recommendation] = []
    for idx, (k, name) in enumerate(names):
        tabs = [idx * len(scales) + s for s in range(len(scales))]
        per_scale = [_recommend_one(knowns[t], at_bayes[t], spec, name, scale, k) for t, scale in zip(tabs, scales)]
        if not calibrated:
            recs.extend(r for r, _, _ in per_scale[0])
            continue
        for (r, jr, lr), (c, jc, lc) in zip(*per_scale):
            recs.append(_translated(r, knowns[tabs[0]], jr, lr))
            recs.append(_translated(c, knowns[tabs[1]], jc, lc))
    note = ("thresholds on the raw scores" if not calibrated else
            "each objective is optimised separately on the raw and on the calibrated scores; other_scale_threshold "
            "('= raw' / '= cal' in the table) is the threshold on the other scale that makes exactly the same decisions "
            "on these rows, when a single threshold does")
    return ThresholdReport(RULE, bootstrap_method(spec), spec, n_rows, scales, note, tuple(recs), task=task,
                           passes=passes, refinement_rounds=rounds)


def _check_classes(names: list[str], classes: tuple[str, ...] | None) -> list[tuple[int, str]]:
    if classes:
        missing = [c for c in classes if c not in names]
        if missing:
            raise UsageError(f"--class {missing[0]!r} is not a class of this input; its classes are: {', '.join(names[:20])}"
                             f"{' ...' if len(names) > 20 else ''}.")
    return [(k, name) for k, name in enumerate(names) if not classes or name in classes]


def recommend_source(source: "BatchSource", spec: ThresholdSpec, classes: tuple[str, ...] | None = None,
                     calibrate: "Callable[[Batch], Predictions] | None" = None,
                     max_distinct: int | None = DEFAULT_MAX_DISTINCT,
                     pairs: "Callable[[Batch], tuple[Batch, Batch] | None] | None" = None) -> ThresholdReport:
    """Recommend thresholds for every class (or the chosen ``classes``) of a batch source.

    Parameters
    ----------
    source : BatchSource
        Validated batches (:mod:`calibcli.engine.batches`); read once, plus once
        per refinement round when a table exceeds its budget. Every pass is
        :func:`calibcli.engine.local.feed` of a :class:`~calibcli.thresholds.passes.ThresholdCounts`.
    spec : ThresholdSpec
    classes : tuple of str, optional
        Restrict to these class (label) names.
    calibrate : callable, optional
        Calibrated predictions of a batch's rows (e.g. ``lambda b: calibrator.transform(b.predictions)``);
        each objective is then also optimised on the calibrated scores, and each
        threshold translated to the other scale where one threshold there makes
        the same decisions.
    max_distinct : int or None
        Memory budget: entries over all count tables of a pass (each table gets
        an equal share, at least 2). Beyond it tables count buckets and further
        passes refine them; results are the same. None: no budget (one pass).
    pairs : callable, optional
        Instead of ``calibrate``: ``pairs(batch)`` gives the rows of the batch to
        use and the same rows calibrated, as two batches, or None to skip the
        batch (an audit's evaluated rows, calibrated out of fold).

    Returns
    -------
    ThresholdReport
        ``passes`` and ``refinement_rounds`` say how often the data was read.

    Examples
    --------
    >>> from calibcli.engine.batches import InMemorySource
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]]), np.array([0, 1, 0]),
    ...                 ("neg", "pos"), Task.BINARY, ScoreKind.PROBS)
    >>> rep = recommend_source(InMemorySource.from_predictions(p, batch_rows=1), ThresholdSpec(("f1",), n_bootstrap=0))
    >>> r = rep.recommendations[0]
    >>> r.target, r.threshold, r.precision, r.recall, rep.passes
    ('pos', 0.6, 0.5, 1.0, 1)
    """
    from calibcli.engine.local import feed

    if calibrate is not None and pairs is not None:
        raise ValueError("give calibrate or pairs, not both")
    spec = spec.validated()
    info = source.info
    names = _check_classes(target_names(info.task, info.classes), classes)
    view = RawRows() if calibrate is None and pairs is None else (
        CalibrateEach(calibrate) if pairs is None else PairedRows(pairs))

    def run(counts: ThresholdCounts) -> ThresholdCounts:
        feed(source, counts)
        return counts

    return _report(run, names, view, not isinstance(view, RawRows), spec, max_distinct, info.task.value)


def recommend(preds: Predictions, spec: ThresholdSpec, classes: tuple[str, ...] | None = None,
              calibrated: Predictions | None = None, batch_rows: int | None = None,
              max_distinct: int | None = None) -> ThresholdReport:
    """:func:`recommend_source` over predictions in memory (``calibrated``: the same rows calibrated).

    The rows being in memory already, the count tables get no budget by default (one pass).

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]]), np.array([0, 1, 0]),
    ...                 ("neg", "pos"), Task.BINARY, ScoreKind.PROBS)
    >>> r = recommend(p, ThresholdSpec(("f1",), n_bootstrap=0)).recommendations[0]
    >>> r.target, r.threshold, r.precision, r.recall
    ('pos', 0.6, 0.5, 1.0)
    """
    from calibcli.engine.batches import InMemorySource

    if calibrated is not None and calibrated.n_samples != preds.n_samples:
        raise ValueError("calibrated predictions must cover the same rows as the raw ones")
    source = InMemorySource.from_predictions(preds, batch_rows or max(1, preds.n_samples))
    calibrate = None if calibrated is None else (lambda b: calibrated.subset(b.rows))
    return recommend_source(source, spec, classes, calibrate, max_distinct)


def recommend_binary(scores: np.ndarray, positive: np.ndarray, spec: ThresholdSpec, target: str = "positive",
                     scale: str = "raw", seed_key: int = 0, batch_rows: int | None = None,
                     max_distinct: int | None = None) -> list[Recommendation]:
    """Recommendations for one binary (one-vs-rest) problem, one per objective.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Finite scores; higher means more likely positive.
    positive : ndarray of shape (n,), bool
        True where the item is positive.
    spec : ThresholdSpec
        Objectives and parameters.
    seed_key : int
        Tells problems apart in the bootstrap (a target's index).
    batch_rows, max_distinct : int, optional
        Rows per batch (default: all at once) and the count table's budget (default: none).

    Examples
    --------
    >>> s = np.array([0.1, 0.4, 0.35, 0.8])
    >>> y = np.array([False, False, True, True])
    >>> r = recommend_binary(s, y, ThresholdSpec(("f1",), n_bootstrap=0))[0]
    >>> r.threshold, r.headline_value
    (0.35, 0.8)
    """
    from calibcli.engine.batches import InMemorySource
    from calibcli.engine.local import feed
    from calibcli.predictions import ScoreKind

    spec = spec.validated()
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positive = np.asarray(positive, dtype=bool).reshape(-1)
    # one binary problem as a top-label prediction set: confidence = the score, correct = positive
    preds = Predictions(scores[:, None], positive.astype(np.int64), ("other", target), Task.TOP_LABEL,
                        ScoreKind.PROBS, pred_labels=np.ones(scores.size, dtype=np.int64))
    source = InMemorySource.from_predictions(preds, batch_rows or max(1, scores.size))

    def run(counts: ThresholdCounts) -> ThresholdCounts:
        feed(source, counts)
        return counts

    budget = UNLIMITED if max_distinct is None else max_distinct
    known, at_bayes, *_ = _solve(run, Layout((0,)), spec, budget)
    return [r for r, _, _ in _recommend_one(known[0], at_bayes[0], spec, target, scale, seed_key)]
