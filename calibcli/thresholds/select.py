"""Exact selection: each objective's choice among the candidate thresholds of one or many curves.

A curve lists the candidates "flag the top j distinct scores" (j = 0..L-1) with
their cumulative counts of positives ``tp`` and negatives ``fp``. Selection only
needs those counts, so it works alike on the exact curve of every distinct
score, on a curve of bucket boundaries (:mod:`calibcli.thresholds.refine`) and on
bootstrap replicates (:mod:`calibcli.thresholds.intervals`).
"""

from __future__ import annotations

import math

import numpy as np

from calibcli.thresholds.spec import ThresholdSpec

TIE_EPS = 16 * np.finfo(np.float64).eps  # relative rounding tolerance for ties of float objectives

# --------------------------------------------------------------------------- objectives
# Each selector works on arrays of shape (R, L): R curves (1 for the point
# estimate, B for bootstrap replicates) of L candidates each; column j means
# "flag the top j distinct scores", so tp, fp and tp + fp never decrease along a
# row. It returns the chosen column per curve and whether the target was met.
# Ties go to the highest threshold (fewest flagged) unless stated otherwise.
# Long rows (the point estimate) are handled by vectorised passes; the many short
# rows of the bootstrap by the same passes over the stack, or a loop over rows.


def _first_max(values: np.ndarray) -> np.ndarray:
    return np.argmax(values, axis=1)


def _last_max(values: np.ndarray) -> np.ndarray:
    return values.shape[1] - 1 - np.argmax(values[:, ::-1], axis=1)


def _first_within(values: np.ndarray, best: np.ndarray, tol: np.ndarray, lower: bool) -> np.ndarray:
    """Per row, the first column within ``tol`` of the optimum at column ``best``.

    Only the columns before ``best`` are scanned.
    """
    R, L = values.shape
    tol = np.broadcast_to(tol, (R, 1))
    if R > 1:  # short rows: one pass over the stack
        v = values[np.arange(R), best][:, None]
        near = (values <= v + tol) if lower else (values >= v - tol)
        near &= np.arange(L) <= best[:, None]
        return np.argmax(near, axis=1)
    out = best.copy()
    for r in range(R):
        head = values[r, : best[r]]
        v, t = values[r, best[r]], tol[r, 0]
        near = head <= v + t if lower else head >= v - t
        if near.any():
            out[r] = int(np.argmax(near))
    return out


def _div(a, b, fill: float = np.nan) -> np.ndarray:
    """``a / b`` as float, ``fill`` where ``b == 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(a, b, dtype=np.float64)
    if np.ndim(out) == 0:
        return out if b != 0 else np.float64(fill)
    if not np.all(b):
        out[np.broadcast_to(b, out.shape) == 0] = fill
    return out


def _cost(tp, fp, P, N, spec: ThresholdSpec) -> np.ndarray:
    """Mean cost per item of flagging the top candidates (summed in scaled costs: no overflow)."""
    scale, c_tp, c_fp, c_fn, c_tn = spec.scaled_costs()
    total = c_tp * tp + c_fp * fp + c_fn * (P - tp) + c_tn * (N - fp)
    return total / np.maximum(P + N, 1) * scale


def _fbeta(tp, fp, P, spec: ThresholdSpec) -> np.ndarray:
    """F-beta; 0 where nothing is flagged (TP = 0 and P > 0)."""
    w, v = spec.fbeta_weights()
    return _div(tp, w * (tp + fp) + v * P, 0.0)


def _min_count(total: float, goal: float) -> int:
    """Smallest integer k with ``k / total >= goal`` as computed in float64."""
    k = max(0, math.ceil(goal * total))
    while k > 0 and (k - 1) / total >= goal:
        k -= 1
    while k / total < goal:
        k += 1
    return k


def _max_count(total: float, goal: float) -> int:
    """Largest integer k with ``k / total <= goal`` as computed in float64."""
    k = max(0, math.floor(goal * total))
    while (k + 1) / total <= goal:
        k += 1
    while k > 0 and k / total > goal:
        k -= 1
    return k


class _Rows:
    """Counts of R curves as float64 plus arrays shared by several selectors,
    computed once on demand. Every curve has at least one positive and one
    negative."""

    def __init__(self, tp: np.ndarray, fp: np.ndarray):
        self.tp = np.asarray(tp, dtype=np.float64)
        self.fp = np.asarray(fp, dtype=np.float64)
        self.P, self.N = self.tp[:, -1:], self.fp[:, -1:]
        self._flagged = self._prec = None

    @property
    def flagged(self) -> np.ndarray:
        if self._flagged is None:
            self._flagged = self.tp + self.fp
        return self._flagged

    @property
    def prec(self) -> np.ndarray:
        """Precision per candidate; -inf at j = 0 (nothing flagged)."""
        if self._prec is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                self._prec = self.tp / self.flagged
            self._prec[:, 0] = -np.inf
        return self._prec


def _select(objective: str, rows: _Rows, spec: ThresholdSpec):
    """Chosen candidate index, target met, and (review band) the lower index."""
    tp, fp, P, N = rows.tp, rows.fp, rows.P, rows.N
    R, L = tp.shape
    all_met = np.ones(R, dtype=bool)
    if objective == "cost":
        # the mean cost is a constant plus this, so its argmin is the same
        _, c_tp, c_fp, c_fn, c_tn = spec.scaled_costs()
        a, b = c_tp - c_fn, c_fp - c_tn
        varying = np.multiply(tp, a)
        varying += np.multiply(fp, b)
        # costs that are equal in exact arithmetic may differ by rounding: count them as ties
        tol = TIE_EPS * (abs(a) * P + abs(b) * N)
        return _first_within(varying, np.argmin(varying, axis=1), tol, lower=True), all_met, None
    if objective == "f1":
        # F1 = 2TP / (TP + FP + P): one division of exact integers, so ties are exact
        return _first_max(tp / (rows.flagged + P)), all_met, None
    if objective == "fbeta":
        f = _fbeta(tp, fp, P, spec)  # rounding may split exact ties
        best = np.argmax(f, axis=1)
        return _first_within(f, best, f[np.arange(R), best][:, None] * TIE_EPS, lower=False), all_met, None
    if objective == "youden":
        j = tp * N
        j -= fp * P
        return _first_max(j), all_met, None  # (TPR - FPR) * P * N, exact in integers
    if objective == "precision":
        feasible = rows.prec >= spec.min_precision
        met = feasible.any(axis=1)
        last = _last_max(feasible)  # the most recall among feasible (tp never decreases) ...
        # ... reached first at the lowest j with that tp (same recall, fewer flagged, all feasible)
        if R == 1:
            best = np.searchsorted(tp[0], tp[0, last], side="left")
        else:
            best = np.argmax(tp >= tp[np.arange(R), last][:, None], axis=1)
        if met.all():
            return best, met, None
        closest = _last_max(rows.prec)  # highest precision, then highest recall
        return np.where(met, best, closest), met, None
    if objective == "recall":
        # recall >= goal holds on a suffix of each row; there the highest precision, then the highest recall
        if R == 1:
            start = max(1, int(np.searchsorted(tp[0], _min_count(P[0, 0], spec.min_recall), side="left")))
            return start + _last_max(rows.prec[:, start:]), all_met, None
        feasible = tp / P >= spec.min_recall
        feasible[:, 0] = False
        return _last_max(np.where(feasible, rows.prec, -np.inf)), all_met, None
    if objective == "flag-rate":
        # flagged / n <= goal holds on a prefix of each row: its last candidate
        if R == 1:
            best = np.searchsorted(rows.flagged[0], [_max_count(P[0, 0] + N[0, 0], spec.max_flag_rate)], side="right") - 1
        else:
            best = _last_max(rows.flagged / (P + N) <= spec.max_flag_rate)
        met = best >= 1
        return np.where(met, best, 1), met, None
    if objective == "review-band":
        return _review_band(rows, spec.review_precision)
    raise ValueError(objective)


def _review_band(rows: _Rows, target: float):
    """Auto-flag the top j blocks, auto-clear below candidate i >= j, review between.

    Top side: precision of the flagged set >= target (or j = 0, nothing flagged).
    Bottom side: share of negatives among the cleared rows >= target (or
    i = L - 1, nothing cleared). Minimises the reviewed count F[i] - F[j]; ties
    go to the lowest j. (Bootstrap replicates can hold blocks of weight zero,
    where several j make the same decisions; which of them is reported then
    does not matter.)
    """
    R, L = rows.tp.shape
    flagged = rows.flagged
    top_ok = rows.prec >= target
    top_ok[:, 0] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        bottom_ok = (rows.N - rows.fp) / ((rows.P + rows.N) - flagged) >= target
    bottom_ok[:, -1] = True
    if R > 1:  # short rows: a pass over the whole stack
        cand = np.where(bottom_ok, np.arange(L), L - 1)
        nearest = np.minimum.accumulate(cand[:, ::-1], axis=1)[:, ::-1]  # smallest feasible i >= j
        review = np.take_along_axis(flagged, nearest, axis=1) - flagged
        review[~top_ok] = np.inf
        js = np.argmin(review, axis=1)
        is_ = nearest[np.arange(R), js]
    else:  # one long row: only the candidates that can win
        top, bottom = top_ok[0], bottom_ok[0]
        both = np.flatnonzero(top & bottom)
        if both.size:  # j = i feasible on both sides: nothing to review; the lowest such j
            js = is_ = both[:1]
        else:
            # in a run of top-feasible j the last reviews least (same nearest i, more flagged);
            # the nearest feasible i >= j starts a run of bottom-feasible candidates
            ends = top.copy()
            ends[:-1] &= ~top[1:]
            starts = bottom.copy()
            starts[1:] &= ~bottom[:-1]
            tops, bottoms = np.flatnonzero(ends), np.flatnonzero(starts)
            nearest = bottoms[np.searchsorted(bottoms, tops, side="left")]
            k = int(np.argmin(flagged[0, nearest] - flagged[0, tops]))
            js, is_ = tops[k:k + 1], nearest[k:k + 1]
    met = ~((js == 0) & (is_ == L - 1))
    return js, met, is_


def _headline(objective: str, tp, fp, P, N, spec: ThresholdSpec, flagged_low=None) -> np.ndarray:
    """The rate an objective is judged by, at the chosen candidates (1-D arrays)."""
    if objective == "cost":
        return _cost(tp, fp, P, N, spec)
    if objective == "f1":
        return _div(2 * tp, tp + fp + P)
    if objective == "fbeta":
        return _fbeta(tp, fp, P, spec)
    if objective == "youden":
        return _div(tp, P) - _div(fp, N)
    if objective in ("precision", "flag-rate"):
        return _div(tp, P)
    if objective == "recall":
        return _div(tp, tp + fp)
    if objective == "review-band":
        return _div(flagged_low - (tp + fp), P + N)  # rows between the two thresholds
    raise ValueError(objective)


def _none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
