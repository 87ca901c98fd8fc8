"""Warnings about a fit, from counts only: scarce fitting rows, saturated probabilities, T without an optimum.

Scarce fitting data is flagged, never silently used: a warning names the row
count when a calibrator is fitted on fewer than 50 rows (with cross-fitting, the
rows outside a fold), or when a method with parameters per class or label
(vector, Platt, isotonic, histogram, per-label temperature) has fewer than 10
fitting rows of some class present (multilabel: of the rarer outcome of a label).
"""

from __future__ import annotations

import numpy as np

from calibcli.calibrators.base import saturation_message  # noqa: F401  (re-exported)
from calibcli.calibrators.temperature import T_CAP, TemperatureFit
from calibcli.predictions import Task

MIN_FIT_ROWS = 50  # fewer fitting rows: warn with the count
MIN_FIT_PER_CLASS = 10  # per-class methods: warn when a class present has fewer fitting rows
PER_CLASS_METHODS = ("vector", "platt", "isotonic", "histogram")  # parameters per class (or label)
LOG_SCORE_METHODS = ("temperature", "vector", "platt")  # these take logs of probabilities
FLOAT32_MARK = "float32"  # loading's evidence line for float32 score columns contains this


def is_float32(evidence: tuple[str, ...]) -> bool:
    """Whether the score-kind evidence says the score columns were stored as float32."""
    return any(FLOAT32_MARK in e for e in evidence)


def scarce_warnings(task: Task, classes: tuple[str, ...], methods: tuple[str, ...], per_label: bool,
                    rows: np.ndarray, counts: np.ndarray, what: str = "the calibrator was") -> list[str]:
    """Warnings when a calibrator is fitted on too few rows, naming the counts.

    Parameters
    ----------
    task, classes : of the fitting data.
    methods : the calibrators fitted.
    per_label : multilabel temperature with one T per label (a per-label method).
    rows : (F,) the fitting rows of each fit; the smallest fit is reported.
    counts : (F, K) per fit and class the fitting rows of the class (multilabel: of the rarer outcome).
    what : the subject of the sentence ("the calibrator was", "each fold's calibrator was").

    Examples
    --------
    >>> scarce_warnings(Task.BINARY, ("a", "b"), ("temperature",), False, np.array([20]), np.array([[10, 10]]))[0][:53]
    'the calibrator was fitted on only 20 rows (fewer than'
    """
    out = []
    n_fit = int(np.min(rows)) if np.size(rows) else 0
    if n_fit < MIN_FIT_ROWS:
        out.append(f"{what} fitted on only {n_fit:,} rows (fewer than {MIN_FIT_ROWS}): its parameters, and the numbers "
                   "after calibration, are mostly noise. Fit on more rows (a larger --calibration-split, or --fit-on a "
                   "validation file with more rows).")
    per_class = [m for m in methods if m in PER_CLASS_METHODS or (m == "temperature" and per_label)]
    if per_class and np.size(counts):
        low = np.min(np.atleast_2d(counts), axis=0)
        present = np.flatnonzero(np.max(np.atleast_2d(counts), axis=0) > 0)  # in some fit (a fold may have none)
        if present.size:
            j = int(present[np.argmin(low[present])])
            if low[j] < MIN_FIT_PER_CLASS:
                kind = "label" if task is Task.MULTILABEL else "class"
                of = " (of its rarer outcome, present or absent)" if task is Task.MULTILABEL else ""
                out.append(f"{kind} '{classes[j]}' has only {int(low[j])} fitting row{'s' if low[j] != 1 else ''}"
                           f"{of}, fewer than {MIN_FIT_PER_CLASS}; {', '.join(per_class)} fit parameters per {kind}, "
                           f"so those for '{classes[j]}' are mostly noise.")
    return out


def bound_warning(fit: TemperatureFit, names: tuple[str, ...] | None) -> str | None:
    """Say where T has no interior optimum; name the search range only where T stopped at its end."""
    parts = []
    for falling_t in (True, False):
        sel = fit.at_bound & (fit.decreasing_t == falling_t)
        if not sel.any():
            continue
        idx = np.flatnonzero(sel)
        which = "" if names is None else " for " + ", ".join(names[i] for i in idx[:8]) + (" ..." if idx.size > 8 else "")
        ts = ", ".join(f"{fit.temperature[i]:.4g}" for i in idx[:8]) + (" ..." if idx.size > 8 else "")
        end = fit.at_range_end[idx]
        capped = not falling_t and bool(np.all(fit.t_range[idx, 1] >= T_CAP))
        if end.all() and capped:
            where = (f"stopped at T = {ts}, the largest T calib writes: the logits are so large that the best T lies "
                     "beyond the float range")
            parts.append(f"the fitted temperature{which} {where}. Rescale the logits (or export probabilities).")
            continue
        if end.all():
            lo, hi = fit.t_range[idx[0]]
            where = (f"stopped at the {'lower' if falling_t else 'upper'} end of its search range (T = {ts}; the range is "
                     f"[{lo:.4g}, {hi:.4g}]: 1e-3 to 1e3, widened by the largest logit gap of the fitting rows)")
        else:
            where = (f"has no optimum: the NLL keeps falling as T {'-> 0' if falling_t else 'grows'} until it no longer "
                     f"changes (the fit stopped at T = {ts})")
        reason = ("the scores separate the classes perfectly on the fitting rows, so no finite T fits them better"
                  if falling_t else "the scores look unrelated to the labels (check the class order of the score "
                  "columns and the labels)")
        parts.append(f"the fitted temperature{which} {where}: {reason}.")
    return " ".join(parts) or None
