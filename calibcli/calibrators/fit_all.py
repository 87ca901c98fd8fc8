"""``calib fit``'s library function: one calibrator fitted on every row of a source, in passes.

Pass 1 feeds the fit's pass-1 states, the in-sample before-measurement and the
fingerprint of the fitting data (SHA-256 of the validated scores and labels, in
row order); Newton passes follow while a model iterates (none up to about 400,000
rows); a last pass measures the calibrated rows (in-sample after-measurement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from calibcli.calibrators.base import Calibrator
from calibcli.calibrators.fit_passes import fit_source, method_fit
from calibcli.calibrators.fit_warnings import (LOG_SCORE_METHODS, bound_warning, is_float32, saturation_message,
                                               scarce_warnings)
from calibcli.calibrators.rows import FitLayout
from calibcli.calibrators.temperature import N_BOOT, temperature_interval
from calibcli.engine.batches import Batch, BatchSource
from calibcli.errors import InputError
from calibcli.predictions import Predictions, Task


@dataclass(frozen=True)
class FitOutcome:
    """A calibrator fitted on all given rows, with facts for the file and the summary.

    ``info`` (JSON-ready) holds the rows, the interval of T when fitted, in-sample
    NLL and ECE before and after (these flatter the calibrator: the same rows
    fitted it), the passes over the data, and warnings. ``fingerprint`` is the
    ``fitted_on`` object of the calibrator file (None unless asked for).
    """

    calibrator: Calibrator
    info: dict[str, Any]
    fingerprint: dict[str, Any] | None = None


class _Calibrated:
    """Feeds each batch, calibrated, to a state (the in-sample after-measurement)."""

    def __init__(self, calibrator: Calibrator, state):
        self.calibrator, self.state = calibrator, state

    def update(self, batch: Batch) -> None:
        self.state.update(Batch(self.calibrator.transform(batch.predictions), batch.rows, batch.ids))

    def merge(self, other: "_Calibrated") -> "_Calibrated":
        """Add the rows of ``other`` (a replica fed other rows), in place."""
        from calibcli.engine.local import merge_into

        merge_into(self.state, other.state)
        return self


def fit_all_rows(source: BatchSource, method: str = "temperature", per_label: bool = False, n_bins: int = 15,
                 seed: int = 0, n_boot: int = N_BOOT, fingerprint: bool = False) -> FitOutcome:
    """Fit ``method`` on every row of ``source`` (what ``calib fit`` saves).

    Examples
    --------
    >>> import numpy as np
    >>> from calibcli.engine.batches import InMemorySource
    >>> from calibcli.predictions import ScoreKind, softmax
    >>> z = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [1.0, 0.5]])
    >>> p = Predictions(softmax(z), np.array([0, 0, 1, 1, 0]), ("a", "b"), Task.BINARY, ScoreKind.LOGITS, logits=z)
    >>> out = fit_all_rows(InMemorySource.from_predictions(p, 2))
    >>> out.info["after"]["nll"] <= out.info["before"]["nll"]
    True
    """
    from calibcli.calibrator_file import DataFingerprint
    from calibcli.engine.local import feed
    from calibcli.measure import BinEdges, MeasureState

    info = source.info
    if info.task is Task.TOP_LABEL:
        raise InputError("calib fit needs full score vectors, but this is a top-label file (confidence and pred_label "
                         "only). Export p_<class> or logit_<class> columns for every class.")
    per_label = per_label and info.task is Task.MULTILABEL
    layout = FitLayout()
    fit = method_fit(method, layout, info, per_label=per_label, n_bins=n_bins, seed=seed)
    before = MeasureState(info.task, info.classes, BinEdges.uniform(15))
    hasher = DataFingerprint(info.classes) if fingerprint else None
    run = fit_source(source, layout, {method: fit}, seed=seed,
                     extra_first=(before,) if hasher is None else (before, hasher))
    cal = fit.calibrator(0)
    after = MeasureState(info.task, info.classes, BinEdges.uniform(15))
    feed(source, _Calibrated(cal, after))
    facts = run.facts
    warnings: list[str] = []
    if method in LOG_SCORE_METHODS:
        w = saturation_message(facts.saturated, facts.fit_rows, is_float32(info.score_kind_evidence))
        if w:
            warnings.append(w)
    warnings += scarce_warnings(info.task, info.classes, (method,), per_label, facts.rows, facts.outcome_counts())
    out: dict[str, Any] = {"method": method, "rows": int(facts.fit_rows)}
    if method == "temperature":
        tf = fit.model_fit(0)
        lo, hi, how = temperature_interval(tf, n_boot=n_boot, seed=seed)
        out["temperature_ci"] = [[float(a), float(b)] for a, b in zip(lo, hi)] if per_label else [float(lo[0]), float(hi[0])]
        out["temperature_ci_method"] = how
        bw = bound_warning(tf, info.classes if per_label else None)
        if bw:
            warnings.append(bw)
    out.update(fit.info())

    def brief(state) -> dict[str, float]:
        m = state.finalize().metrics
        return {"nll": m.nll, "ece": m.ece}

    out["in_sample"] = "before/after measured on the fitting rows themselves; use calib audit for held-out numbers"
    out["before"] = brief(before)
    out["after"] = brief(after)
    out["passes"] = run.passes + 1
    out["warnings"] = warnings
    return FitOutcome(cal, out, None if hasher is None else hasher.finalize(info.files))


def fit_on_all_rows(preds: Predictions, method: str = "temperature", per_label: bool = False, n_bins: int = 15,
                    seed: int = 0, batch_rows: int | None = None) -> FitOutcome:
    """:func:`fit_all_rows` on predictions in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from calibcli.predictions import ScoreKind, softmax
    >>> z = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [1.0, 0.5]])
    >>> p = Predictions(softmax(z), np.array([0, 0, 1, 1, 0]), ("a", "b"), Task.BINARY, ScoreKind.LOGITS, logits=z)
    >>> out = fit_on_all_rows(p)
    >>> out.info["after"]["nll"] <= out.info["before"]["nll"]
    True
    """
    from calibcli.engine.batches import DEFAULT_BATCH_ROWS, InMemorySource

    return fit_all_rows(InMemorySource.from_predictions(preds, batch_rows or DEFAULT_BATCH_ROWS), method, per_label,
                        n_bins, seed)
