"""Measure calibration of validated predictions and assemble the audit report."""

from __future__ import annotations

import numpy as np

from calibcli import metrics as m
from calibcli.binning import EDGE_RULE, BinStats, assign_bins, make_edges
from calibcli.direction import describe_direction
from calibcli.loading import LoadedInput
from calibcli.predictions import Predictions, Task
from calibcli.report import AuditReport, BinningInfo, ClassReport, InputSummary, Measurement, MetricSet

CONVENTIONS = {
    "bins": "a confidence c goes to the bin with lo < c <= hi; the first bin also takes its lower edge",
    "ece": "sum over bins of (bin count / N) * |observed - mean confidence|; top-label: confidence = max probability, outcome = argmax is correct (argmax ties go to the lowest class index)",
    "mce": "max |observed - mean confidence| over non-empty bins",
    "classwise_ece": "mean over classes of each class's one-vs-rest ECE",
    "brier": "per row the sum over classes of the squared error, averaged over rows (range 0..2)",
    "nll": "mean of -ln(max(p_true, 1e-12)); for logits p is their softmax (sigmoid for multilabel)",
    "multilabel": "ece and mce pool all (row, label) pairs with confidence = P(label present); accuracy is per (row, label) at 0.5; brier and nll sum over labels per row, averaged over rows",
    "top_label": "per-class ece and direction of a top-label file are the top-label ECE and direction of the rows predicted as that class (its 'predicted' count), not of the rows whose label is that class (its 'support')",
    "class_counts": "per class, support = rows whose true label is the class (multilabel: label present); predicted = rows predicted as the class (top-label files: pred_label; binary and multiclass: argmax, ties to the lowest index; multilabel: P >= 0.5)",
}


def _per_column_stats(probs: np.ndarray, outcomes: np.ndarray, n_bins: int, strategy: str) -> list[BinStats]:
    if strategy == "uniform":
        s = BinStats.per_column(probs, outcomes, make_edges(probs[:0, 0], n_bins, "uniform"))
        return [BinStats(s.edges, s.count[k], s.sum_conf[k], s.sum_outcome[k]) for k in range(probs.shape[1])]
    return [BinStats.from_arrays(probs[:, k], outcomes[:, k], make_edges(probs[:, k], n_bins, strategy)) for k in range(probs.shape[1])]


def _grouped_stats(conf: np.ndarray, outcome: np.ndarray, group: np.ndarray, k: int, edges: np.ndarray) -> list[BinStats]:
    """One curve per group (e.g. per predicted class), in one vectorised pass."""
    b = len(edges) - 1
    idx = group * b + assign_bins(conf, edges)
    count = np.bincount(idx, minlength=k * b).astype(np.float64).reshape(k, b)
    sum_conf = np.bincount(idx, weights=conf, minlength=k * b).reshape(k, b)
    sum_out = np.bincount(idx, weights=outcome.astype(np.float64), minlength=k * b).reshape(k, b)
    return [BinStats(edges, count[c], sum_conf[c], sum_out[c]) for c in range(k)]


def _class_reports(names, supports, predicted, stats: list[BinStats], briers, top_label: bool = False) -> tuple[ClassReport, ...]:
    out = []
    for k, name in enumerate(names):
        s = stats[k]
        ece = s.ece() if s.count.sum() > 0 else None
        scope = f"rows predicted as '{name}'" if top_label else None
        out.append(ClassReport(name, int(supports[k]), int(predicted[k]), None if ece is None or np.isnan(ece) else float(ece),
                               None if briers is None else float(briers[k]), describe_direction(s, scope), s))
    return tuple(out)


def measure(preds: Predictions, n_bins: int = 15, strategy: str = "uniform") -> Measurement:
    """Compute every metric and reliability curve for ``preds``.

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> round(measure(p, n_bins=5).metrics.ece, 12)
    0.25
    """
    k = preds.n_classes
    if preds.task is Task.MULTILABEL:
        y = preds.labels
        p = preds.probs
        flat_p, flat_y = p.ravel(), y.ravel()
        top = BinStats.from_arrays(flat_p, flat_y, make_edges(flat_p, n_bins, strategy))
        per = _per_column_stats(p, y, n_bins, strategy)
        eces = np.array([s.ece() for s in per])
        briers = m.binary_brier_per_column(y, p)
        metrics = MetricSet(
            accuracy=float(np.mean((p >= 0.5) == (y > 0))),
            ece=top.ece(),
            mce=top.mce(),
            classwise_ece=float(np.nanmean(eces)),
            brier=float(np.sum(briers)),
            nll=float(np.sum(m.binary_nll_per_column(y, p))),
        )
        predicted = np.count_nonzero(p >= 0.5, axis=0)
        return Measurement(metrics, top, _class_reports(preds.classes, y.sum(axis=0), predicted, per, briers))

    conf, correct = preds.confidence_and_correct()
    top = BinStats.from_arrays(conf, correct, make_edges(conf, n_bins, strategy))
    supports = np.bincount(preds.labels, minlength=k)
    if preds.task is Task.TOP_LABEL:
        per = _grouped_stats(conf, correct, preds.pred_labels, k, top.edges)
        metrics = MetricSet(float(np.mean(correct)), top.ece(), top.mce(), None, None, None)
        predicted = np.bincount(preds.pred_labels, minlength=k)
        return Measurement(metrics, top, _class_reports(preds.classes, supports, predicted, per, None, top_label=True))

    n = preds.n_samples
    p = preds.probs
    if strategy == "uniform":
        s = BinStats.one_vs_rest(p, preds.labels, top.edges)
        per = [BinStats(s.edges, s.count[c], s.sum_conf[c], s.sum_outcome[c]) for c in range(k)]
    else:
        onehot = preds.labels[:, None] == np.arange(k)[None, :]
        per = _per_column_stats(p, onehot, n_bins, strategy)
    eces = np.array([s.ece() for s in per])
    # per-class Brier: mean_i (p_ik - [y_i = k])^2 = (sum_i p_ik^2 - 2 sum_{i: y_i = k} p_ik + support_k) / n
    p_true = p[np.arange(n), preds.labels]
    briers = (np.einsum("ij,ij->j", p, p) - 2.0 * np.bincount(preds.labels, weights=p_true, minlength=k) + supports) / n
    metrics = MetricSet(
        accuracy=float(np.mean(correct)),
        ece=top.ece(),
        mce=top.mce(),
        classwise_ece=float(np.mean(eces)),
        brier=float(np.sum(briers)),
        nll=float(np.mean(-np.log(np.maximum(p_true, m.NLL_CLIP)))),
    )
    predicted = np.bincount(np.argmax(p, axis=1), minlength=k)
    return Measurement(metrics, top, _class_reports(preds.classes, supports, predicted, per, briers))


def build_audit(loaded: LoadedInput, n_bins: int = 15, strategy: str = "uniform") -> AuditReport:
    """The audit report of loaded predictions (no calibration, thresholds or gate)."""
    p = loaded.predictions
    summary = InputSummary(
        files=loaded.files,
        n_samples=p.n_samples,
        n_classes=p.n_classes,
        task=p.task.value,
        score_kind=p.score_kind.value,
        score_kind_evidence=p.score_kind_evidence,
        classes=p.classes,
        dropped=dict(loaded.dropped),
        adjustments=tuple(loaded.adjustments),
    )
    return AuditReport(
        input=summary,
        binning=BinningInfo(n_bins, strategy, EDGE_RULE),
        measurement=measure(p, n_bins, strategy),
        conventions=dict(CONVENTIONS),
        warnings=loaded.warnings,
    )
