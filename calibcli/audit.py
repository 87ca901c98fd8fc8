"""Measure calibration of validated predictions and assemble the audit report."""

from __future__ import annotations

import numpy as np

from calibcli.binning import QUANTILE_RULE, edge_rule
from calibcli.engine.batches import BatchSource, InMemorySource
from calibcli.loading import LoadedInput
from calibcli.measure import measure_source, measure_state, source_edges
from calibcli.predictions import Predictions, Task
from calibcli.report import AuditReport, BinningInfo, InputSummary, Measurement

CONVENTIONS = {
    "bins": "a confidence c goes to the bin with lo < c <= hi; the first bin also takes its lower edge; " + QUANTILE_RULE,
    "ece": "sum over bins of (bin count / N) * |observed - mean confidence|; top-label: confidence = max probability, outcome = argmax is correct (argmax ties go to the lowest class index)",
    "mce": "max |observed - mean confidence| over non-empty bins",
    "classwise_ece": "mean over classes of each class's one-vs-rest ECE",
    "brier": "per row the sum over classes of the squared error, averaged over rows (range 0..2)",
    "nll": "mean of -ln(max(p_true, 1e-12)); for logits p is their softmax (sigmoid for multilabel)",
    "multilabel": "ece and mce pool all (row, label) pairs with confidence = P(label present); accuracy is per (row, label) at 0.5; brier and nll sum over labels per row, averaged over rows",
    "top_label": "per-class ece and direction of a top-label file are the top-label ECE and direction of the rows predicted as that class (its 'predicted' count), not of the rows whose label is that class (its 'support')",
    "class_counts": "per class, support = rows whose true label is the class (multilabel: label present); predicted = rows predicted as the class (top-label files: pred_label; binary and multiclass: argmax, ties to the lowest index; multilabel: P >= 0.5)",
}


def measure(preds: Predictions, n_bins: int = 15, strategy: str = "uniform") -> Measurement:
    """Compute every metric and reliability curve for ``preds`` (one in-memory batch of
    :func:`calibcli.measure.measure_source`).

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> round(measure(p, n_bins=5).metrics.ece, 12)
    0.25
    """
    return measure_source(InMemorySource.from_predictions(preds, max(preds.n_samples, 1)), n_bins, strategy)


def build_audit(source: BatchSource | LoadedInput, n_bins: int = 15, strategy: str = "uniform") -> AuditReport:
    """The audit report of a source of validated batches (no calibration, thresholds or gate).

    Reads ``source`` once (twice for quantile bins: edges first). A ``LoadedInput``
    (the whole input in memory) is read as one such source.
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
    edges = source_edges(source, n_bins, strategy)
    return AuditReport(
        input=summary,
        binning=BinningInfo(n_bins, strategy, edge_rule(strategy), edges.exact, edges.rank_error),
        measurement=measure_state(source, edges).finalize(),
        conventions=dict(CONVENTIONS),
        warnings=tuple(info.warnings),
    )
