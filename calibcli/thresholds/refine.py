"""Exact optima beyond the budget: bound every objective inside buckets, refine only where the optimum can be.

A :class:`Known` curve is what is known about one binary problem after some
passes: a partition of the rows into *segments*, highest scores first, each
either one distinct score (resolved) or a bucket ``[lo, hi]`` of several, with
exact counts and exact ``lo``. Its candidates (``curve()``) are the segment
edges, a subset of the candidates of the exact curve, each with exact counts
and threshold. What is not known are the candidates *inside* a bucket: the top
part of the bucket flagged. Their counts lie in the bucket's box, ``tp`` within
``[tp_above, tp_above + pos]`` and ``fp`` within ``[fp_above, fp_above + neg]``,
and every objective is monotone in ``tp`` and in ``fp`` (or linear), so the box's
corners bound it (:func:`open_segments`). A bucket whose bound cannot reach the
best known value (ties included, with the rounding tolerance of float
objectives) cannot hold the optimum; the others are gathered exactly in the
next pass (:class:`calibcli.thresholds.tables.CountTable` over their ranges).
When no bucket is open, selecting on the known curve gives exactly what
selecting on every distinct score would (the bounds are conservative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.thresholds.intervals import cut_targets
from calibcli.thresholds.select import TIE_EPS, _fbeta, _max_count, _min_count, _Rows
from calibcli.thresholds.spec import ThresholdSpec
from calibcli.thresholds.tables import Curve, Segments, curve_from

EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class Known:
    """Segments of one problem, highest scores first (see the module docstring)."""

    lo: np.ndarray
    hi: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    cmin: np.ndarray | None
    cmax: np.ndarray | None
    shift: np.ndarray  # int64 per segment: the shift of the table it came from

    @classmethod
    def from_segments(cls, seg: Segments) -> "Known":
        rev = slice(None, None, -1)
        lo = seg.lo[rev]
        return cls(lo, lo if seg.hi is seg.lo else seg.hi[rev], seg.pos[rev], seg.neg[rev],
                   None if seg.cmin is None else seg.cmin[rev], None if seg.cmax is None else seg.cmax[rev],
                   np.full(seg.lo.size, seg.shift, dtype=np.int64))

    @property
    def resolved(self) -> np.ndarray:
        return self.lo == self.hi

    @property
    def exact(self) -> bool:
        return self.hi is self.lo or bool(np.all(self.resolved))

    def curve(self) -> Curve:
        return curve_from(self.lo, self.pos, self.neg)

    def replaced(self, which: np.ndarray, seg: Segments) -> "Known":
        """These segments (bool mask) replaced by the finer ``seg`` gathered over their ranges."""
        new = Known.from_segments(seg)
        keep = ~which
        parts = [(getattr(self, f)[keep], getattr(new, f)) for f in ("lo", "hi", "pos", "neg", "shift")]
        lo, hi, pos, neg, shift = (np.concatenate(p) for p in parts)
        cmin = cmax = None
        if self.cmin is not None:
            cmin = np.concatenate((self.cmin[keep], new.cmin))
            cmax = np.concatenate((self.cmax[keep], new.cmax))
        order = np.argsort(-lo, kind="stable")
        return Known(lo[order], hi[order], pos[order], neg[order],
                     None if cmin is None else cmin[order], None if cmax is None else cmax[order], shift[order])


def _prec_bound(t1: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Highest precision inside a box: ``t1 / (t1 + f0)``, 0 where ``t1 == 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = t1 / (t1 + f0)
    out[t1 == 0] = 0.0
    return out


def open_segments(known: Known, spec: ThresholdSpec, objective: str, chosen) -> np.ndarray:
    """Segments whose interior can hold ``objective``'s optimum (bool, one per segment).

    ``chosen`` is ``_select(objective, rows_of_known_curve, spec)``, at edge
    ``j``. A segment before ``j`` (higher scores) must be gathered when it may
    hold a value *as good* as the best known (ties go to the highest threshold);
    one after ``j`` when it may hold a *better* one, or an equal one for the
    objectives whose ties go to the lowest threshold (``recall`` and the
    closest-precision fallback). Each bound is computed with the very float
    operations of the selection, which are monotone in ``tp`` and ``fp`` (correctly
    rounded), so the corner's value bounds the values inside exactly; F-beta,
    whose ratio is not, gets a margin far below its tie tolerance.
    """
    c = known.curve()
    tp, fp = c.tp, c.fp
    P, N = tp[-1], fp[-1]
    t0, t1, f0, f1 = tp[:-1], tp[1:], fp[:-1], fp[1:]
    F = tp + fp
    j = int(chosen[0][0])
    interior = ~known.resolved
    after = np.arange(interior.size) >= j

    def at_least(bound, best, tie_before=True):  # may beat best; ties count on the side where they win
        return interior & np.where(after, bound >= best if not tie_before else bound > best,
                                   bound >= best if tie_before else bound > best)

    if objective == "cost":
        _, c_tp, c_fp, c_fn, c_tn = spec.scaled_costs()
        a, b = c_tp - c_fn, c_fp - c_tn
        varying = tp * a
        varying += fp * b
        tol = TIE_EPS * (abs(a) * P + abs(b) * N)
        low = np.where(a < 0, t1, t0) * a
        low += np.where(b < 0, f1, f0) * b
        vmin = varying.min()
        # before j: within the tie tolerance of the best; after j: strictly lower than the best
        return interior & np.where(after, low < vmin, low <= vmin + tol)
    if objective == "f1":
        return at_least(t1 / (t1 + f0 + P), (tp / (F + P)).max())
    if objective == "fbeta":
        f = _fbeta(tp, fp, P, spec)
        best = f[j]
        bound = _fbeta(t1, f0, P, spec)
        return interior & np.where(after, bound >= best * (1 - 4 * EPS), bound >= best * (1 - 2 * TIE_EPS))
    if objective == "youden":
        youden = tp * N
        youden -= fp * P
        bound = t1 * N
        bound -= f0 * P
        return at_least(bound, youden.max())
    bound = _prec_bound(t1, f0)
    rows = _Rows(tp[None, :], fp[None, :])
    if objective == "precision":
        if bool(chosen[1][0]):  # a feasible candidate inside with at least the best recall
            return (interior & (bound >= spec.min_precision)) & at_least(t1, tp[j])
        return at_least(bound, rows.prec[0].max(), tie_before=False)  # none feasible: the closest (last max)
    if objective == "recall":
        return (interior & (t1 >= _min_count(P, spec.min_recall))) & at_least(bound, rows.prec[0, j], tie_before=False)
    if objective == "flag-rate":
        k = _max_count(P + N, spec.max_flag_rate)
        last = int(np.searchsorted(F, k, side="right")) - 1  # the last edge flagging at most k
        out = np.zeros(interior.size, dtype=bool)
        if last < interior.size:  # the segment below it may flag at most k part-way (or hold the top block)
            out[last] = interior[last]
        return out
    if objective == "review-band":
        return _open_review_band(known, spec.review_precision, rows, chosen)
    raise ValueError(objective)


def _open_review_band(known: Known, target: float, rows: _Rows, chosen) -> np.ndarray:
    """Segments that may hold the upper or the lower threshold of a band reviewing at most the best known.

    Positions interleave edges and interiors: 2j is edge j, 2b + 1 the interior of
    segment b. For each position: whether it can be top-feasible (precision of
    the flagged >= target) or bottom-feasible (share of negatives among the
    cleared >= target), and its lowest and highest flagged count.
    """
    tp, fp, P, N = rows.tp[0], rows.fp[0], rows.P[0, 0], rows.N[0, 0]
    F = tp + fp
    M = tp.size - 1
    t0, t1, f0 = tp[:-1], tp[1:], fp[:-1]
    interior = ~known.resolved
    j, i = int(chosen[0][0]), int(chosen[2][0])
    best = F[i] - F[j]
    top_edge = rows.prec[0] >= target
    top_edge[0] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        bottom_edge = (N - fp) / ((P + N) - F) >= target
        npv_bound = (N - f0) / ((N - f0) + (P - t1))
    bottom_edge[-1] = True
    npv_bound[N - f0 == 0] = 0.0
    top_in = interior & (_prec_bound(t1, f0) >= target)
    bot_in = interior & (npv_bound >= target)
    size = 2 * M + 1
    can_top, can_bot = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    can_top[0::2], can_top[1::2] = top_edge, top_in
    can_bot[0::2], can_bot[1::2] = bottom_edge, bot_in
    f_low, f_high = np.empty(size), np.empty(size)
    f_low[0::2], f_high[0::2] = F, F
    f_low[1::2], f_high[1::2] = F[:-1], F[1:]
    pos = np.arange(size)
    # the next position (itself included) that can be bottom-feasible, the previous one that can be top-feasible
    nxt = np.minimum.accumulate(np.where(can_bot, pos, size)[::-1])[::-1]
    prv = np.maximum.accumulate(np.where(can_top, pos, -1))
    odd = pos[1::2]
    n_b, p_b = nxt[odd], prv[odd]
    lb_top = np.where(n_b == odd, 0.0, f_low[np.minimum(n_b, size - 1)] - F[1:])
    lb_bot = np.where(p_b == odd, 0.0, F[:-1] - f_high[np.maximum(p_b, 0)])
    return (top_in & (lb_top <= best)) | (bot_in & (lb_bot <= best))


def cut_segments(known: Known, max_groups: int, centers: list[int]) -> np.ndarray:
    """Buckets holding a bootstrap cut point's target (bool): gathered, the cut points are those of the exact curve.

    A cut point is the first candidate flagging at least its target; when the
    target falls inside a bucket, that candidate may be inside it.
    """
    c = known.curve()
    F = c.tp + c.fp
    edge = np.searchsorted(F, cut_targets(F, max_groups, centers), side="left")
    out = np.zeros(known.lo.size, dtype=bool)
    inside = edge[(edge >= 1) & (edge <= known.lo.size)] - 1  # the segment just above the first edge reaching it
    out[inside] = True
    return out & ~known.resolved


def pick_ranges(known: Known, open_: np.ndarray, budget: int, centers: list[int]) -> np.ndarray:
    """The open segments to gather in the next pass (bool mask): all, or the ``budget // 2`` nearest a center.

    Nearness is in flagged rows from the edges chosen on the known curve, so the
    segments around the current optima are refined first. (The gathered table
    holds at most ``budget`` entries whatever the rows: it coarsens like any.)
    """
    idx = np.flatnonzero(open_)
    cap = budget // 2
    if idx.size <= cap:
        return open_.copy()
    c = known.curve()
    F = c.tp + c.fp
    mid = (F[idx] + F[idx + 1]) / 2
    dist = np.min(np.abs(mid[:, None] - F[np.asarray(centers, dtype=np.int64)][None, :]), axis=1)
    out = np.zeros_like(open_)
    out[idx[np.argsort(dist, kind="stable")[:cap]]] = True
    return out


def equivalent_on_other_scale(known: Known, j: int) -> float | None:
    """Threshold on the companion scale flagging exactly the rows of edge ``j`` (``None`` when none does).

    The rows flagged are the first ``j`` segments: the threshold is the lowest
    companion score among them, valid when every row not flagged scores lower.
    """
    if known.cmin is None:
        raise ValueError("this table has no companion score")
    if j == 0:
        return float("inf")
    t = float(known.cmin[:j].min())
    if j < known.cmin.size and known.cmax[j:].max() >= t:
        return None
    return t
