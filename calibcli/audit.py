"""Measure calibration of validated predictions and assemble the audit report."""

from __future__ import annotations

import numpy as np

from calibcli.binning import QUANTILE_RULE, edge_rule
from calibcli.engine.batches import BatchSource, InMemorySource
from calibcli.loading import LoadedInput
from calibcli.measure import measure_source, source_edges
from calibcli.predictions import Predictions, Task
from calibcli.report import AuditReport, BinningInfo, InputSummary, Measurement

CONVENTIONS = {
    "bins": "a confidence c goes to the bin with lo < c <= hi; the first bin also takes its lower edge; " + QUANTILE_RULE,
    "ece": "sum over bins of (bin count / N) * |observed - mean confidence| of the headline curve: binary files, the positive class's curve (P(y=1) against the observed frequency of y=1, as scikit-learn's calibration_curve and netcal read it); multi-class and top-label files, the top-label curve (confidence = max probability, outcome = argmax is correct; argmax ties go to the lowest class index); multilabel, all (row, label) pairs pooled",
    "ece_top_label": "the top-label ECE (confidence = max probability, outcome = argmax is correct); for binary files confidence = max(p, 1 - p), so it differs from the headline ECE; equal to it for multi-class and top-label files; not defined for multilabel",
    "mce": "max |observed - mean confidence| over non-empty bins of the headline curve (the same curve as ece)",
    "classwise_ece": "mean over classes of each class's one-vs-rest ECE",
    "brier": "per row the sum over classes of the squared error, averaged over rows (range 0..2)",
    "nll": "mean of -ln(max(p_true, 1e-12)); for logits p is their softmax (sigmoid for multilabel)",
    "multilabel": "ece and mce pool all (row, label) pairs with confidence = P(label present); accuracy is per (row, label) at 0.5; brier and nll sum over labels per row, averaged over rows",
    "top_label": "per-class ece and direction of a top-label file are the top-label ECE and direction of the rows predicted as that class (its 'predicted' count), not of the rows whose label is that class (its 'support')",
    "intervals": "each interval is a 95% interval for the population value of the same quantity with the same bin edges (the value at infinite n, e.g. sum over bins of P(bin) * |E[y | bin] - E[p | bin]|), not for the plug-in estimate and not for a binning-free calibration error. Method: the basic (reverse-percentile) bootstrap (2*t - q97.5, 2*t - q2.5) from 200 replicates of a grouped Poisson bootstrap (every row goes to one of 128 groups by a hash of its row key, or of its id with --id-col; replicate r weighs group g by Poisson(1) keyed on (seed, r, g)), clipped to the metric's range. Plug-in binned errors (ECE, MCE) are biased upward and the basic interval corrects for that bias, so an interval may lie below its plug-in value (a calibrated model: the plug-in is mostly noise, see noise_floor). Per-bin intervals in the plots are Wilson 95% intervals of each bin's observed frequency",
    "noise_floor": "the ECE (MCE) a perfectly calibrated model with these scores, rows and bins would show by chance alone: per bin, with y ~ Bernoulli(p), mean(y) - mean(p) has sd sqrt(sum p(1-p)) / n_b; normal approximation: ECE floor = sqrt(2/pi) * sum_b sqrt(sum_{i in b} p_i (1 - p_i)) / N; MCE floor = E max_b |gap_b| under independent normal gaps, simulated (4,000 draws, seeded). A plug-in ECE near its noise floor is consistent with a calibrated model",
    "class_counts": "per class, support = rows whose true label is the class (multilabel: label present); predicted = rows predicted as the class (top-label files: pred_label; binary and multiclass: argmax, ties to the lowest index; multilabel: P >= 0.5)",
}


def measure(preds: Predictions, n_bins: int = 15, strategy: str = "uniform") -> Measurement:
    """Compute every metric and reliability curve for ``preds`` (one in-memory batch of
    :func:`calibcli.measure.measure_source`).

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> m = measure(p, n_bins=5).metrics  # binary: the headline is the positive class ("b")
    >>> round(m.ece, 12), round(m.ece_top_label, 12)
    (0.45, 0.25)
    """
    return measure_source(InMemorySource.from_predictions(preds, max(preds.n_samples, 1)), n_bins, strategy)


def audit_state(source: BatchSource, edges, intervals: bool = True, seed: int = 0):
    """The unfed state of the audit's measurement of every row of ``source`` (``build_audit`` feeds it in
    one pass; a caller may feed it in a pass of its own, e.g. the calibration's first pass).

    ``intervals``: with the grouped bootstrap (``DEFAULT_BLOCKS`` groups keyed on the row keys,
    or on id hashes when the source has ids; ``DEFAULT_REPLICATES`` replicates of seed ``seed``),
    so the measurement carries 95% intervals and noise floors, filled in the same pass.
    """
    from calibcli.measure import DEFAULT_BLOCKS, DEFAULT_REPLICATES, MeasureState

    info = source.info
    if not intervals:
        return MeasureState(info.task, info.classes, edges)
    return MeasureState(info.task, info.classes, edges, DEFAULT_REPLICATES, seed, bool(info.has_ids),
                        n_blocks=DEFAULT_BLOCKS)


def build_audit(source: BatchSource | LoadedInput, n_bins: int = 15, strategy: str = "uniform", *,
                edges=None, measurement: Measurement | None = None) -> AuditReport:
    """The audit report of a source of validated batches (no calibration, thresholds or gate).

    Reads ``source`` once (twice for quantile bins: edges first). A ``LoadedInput``
    (the whole input in memory) is read as one such source. With ``edges`` and
    ``measurement`` (of every row, from an :func:`audit_state` fed in another pass) it reads nothing.
    """
    if isinstance(source, LoadedInput):
        source = InMemorySource.from_loaded(source)
    info = source.info
    summary = InputSummary(
        files=info.files,
        n_samples=info.n_rows,
        n_classes=len(info.classes),
        task=info.task.value,
        score_kind=info.score_kind.value,
        score_kind_evidence=info.score_kind_evidence,
        classes=info.classes,
        dropped=dict(info.dropped),
        adjustments=tuple(info.adjustments),
    )
    if edges is None:
        edges = source_edges(source, n_bins, strategy)
    if measurement is None:
        from calibcli.engine.local import feed

        state = audit_state(source, edges)
        feed(source, state)
        measurement = state.finalize()
    return AuditReport(
        input=summary,
        binning=BinningInfo(n_bins, strategy, edge_rule(strategy), edges.exact, edges.rank_error),
        measurement=measurement,
        conventions=dict(CONVENTIONS),
        warnings=tuple(info.warnings),
    )


class _CallableModule(__import__("types").ModuleType):
    """``calibcli.audit(...)`` is the Python API's function (:func:`calibcli.api.audit`), while
    ``calibcli.audit`` stays this module: ``import calibcli.audit`` binds the module to that name."""

    def __call__(self, *args, **kwargs):
        from calibcli.api import audit

        return audit(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
