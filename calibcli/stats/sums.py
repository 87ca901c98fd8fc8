"""Scalar partial states: metric sums (``ScalarSums``) and score-kind evidence
(``ScoreEvidence``); the problem log is in :mod:`calibcli.stats.problems`.

Per-row terms come from :func:`row_terms` (probabilities) or
:func:`row_terms_from_logits`, with the conventions of :mod:`calibcli.metrics`:
correct = argmax (lowest index on ties) equals the label; Brier = sum over classes
of the squared error; NLL = -log(max(p_label, 1e-12)), natural log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.metrics import NLL_CLIP
from calibcli.stats.base import Arrays, scalar


def row_terms(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row (correct, Brier, NLL) of probabilities ``(n, K)`` and labels ``(n,)``.

    >>> c, b, l = row_terms(np.array([[0.75, 0.25]]), np.array([0]))
    >>> bool(c[0]), float(b[0]), round(float(l[0]), 6)
    (True, 0.125, 0.287682)
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    p_true = p[np.arange(len(p)), y]
    brier = np.einsum("ij,ij->i", p, p) - 2.0 * p_true + 1.0
    return np.argmax(p, axis=1) == y, brier, -np.log(np.maximum(p_true, NLL_CLIP))


def row_terms_from_logits(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row (correct, Brier, NLL) of softmax(logits); the NLL is exact in log space, clipped at -log(1e-12).

    >>> c, b, l = row_terms_from_logits(np.array([[0.0, 0.0]]), np.array([1]))
    >>> float(b[0]), round(float(l[0]), 6)
    (0.5, 0.693147)
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    nll = np.minimum((np.log(s) + m)[:, 0] - z[np.arange(len(z)), y], -np.log(NLL_CLIP))
    _, brier, _ = row_terms(e / s, y)
    return np.argmax(z, axis=1) == y, brier, nll


@dataclass(frozen=True)
class ScalarResult:
    """Finalised scalar metrics; weighted means (NaN without weight); ``replicate_*`` have shape (R,)."""

    rows: int
    weight: float
    accuracy: float
    brier: float
    nll: float
    support: np.ndarray  # (K,) rows per true class
    class_weight: np.ndarray  # (K,) weight per true class
    replicate_accuracy: np.ndarray
    replicate_brier: np.ndarray
    replicate_nll: np.ndarray


_SCALARS = ("sum_w", "correct", "brier", "nll")


class ScalarSums:
    """Weighted sums of correct, Brier and NLL, and class supports; optional replicate axis.

    >>> y = np.array([0, 1])
    >>> correct, brier, nll = row_terms(np.array([[0.8, 0.2], [0.6, 0.4]]), y)
    >>> r = ScalarSums(2).update(y, correct, brier, nll).finalize()
    >>> r.rows, r.accuracy, r.support.tolist()
    (2, 0.5, [1, 1])
    """

    def __init__(self, n_classes: int, n_replicates: int = 0):
        if n_classes < 1 or n_replicates < 0:
            raise ValueError(f"need n_classes >= 1 and n_replicates >= 0, got {n_classes}, {n_replicates}")
        self.n_classes, self.n_replicates = int(n_classes), int(n_replicates)
        self.rows = 0
        self.sums = {k: 0.0 for k in _SCALARS}
        self.support = np.zeros(self.n_classes, dtype=np.int64)
        self.class_weight = np.zeros(self.n_classes)
        self.replicates = {k: np.zeros(self.n_replicates) for k in _SCALARS}

    def update(self, labels, correct, brier, nll, weight=None, replicate_weights=None) -> "ScalarSums":
        """Add a batch: labels (n,) in 0..K-1 and the per-row terms of :func:`row_terms`."""
        y = np.asarray(labels)
        n = y.shape[0]
        terms = {"correct": np.asarray(correct, dtype=np.float64), "brier": np.asarray(brier, dtype=np.float64),
                 "nll": np.asarray(nll, dtype=np.float64)}
        if any(t.shape != (n,) for t in terms.values()):
            raise ValueError("labels, correct, brier and nll must all have shape (n,)")
        if n and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"labels must be within 0 .. {self.n_classes - 1}")
        w = None if weight is None else np.asarray(weight, dtype=np.float64)
        self.rows += n
        self.support += np.bincount(y, minlength=self.n_classes)
        self.class_weight += np.bincount(y, weights=w, minlength=self.n_classes)
        self.sums["sum_w"] += float(n if w is None else w.sum())
        for k, t in terms.items():
            self.sums[k] += float(t.sum() if w is None else w @ t)
        if self.n_replicates:
            if replicate_weights is None or np.shape(replicate_weights) != (n, self.n_replicates):
                raise ValueError(f"replicate_weights of shape ({n}, {self.n_replicates}) are required")
            rw = np.asarray(replicate_weights, dtype=np.float64)
            if w is not None:
                rw = rw * w[:, None]
            # one pass over the weights (numpy's einsum loop: steadier than threaded BLAS GEMVs on a busy machine)
            got = np.einsum("ij,ik->jk", np.column_stack([np.ones(n), *terms.values()]), rw)
            for k, row in zip(_SCALARS, got):
                self.replicates[k] += row
        elif replicate_weights is not None:
            raise ValueError("replicate_weights given but the state has no replicates")
        return self

    def merge(self, other: "ScalarSums") -> "ScalarSums":
        """A new state for the rows of both."""
        if not isinstance(other, ScalarSums) or (self.n_classes, self.n_replicates) != (other.n_classes, other.n_replicates):
            raise ValueError("cannot merge ScalarSums with different classes or replicates")
        out = ScalarSums(self.n_classes, self.n_replicates)
        out.rows = self.rows + other.rows
        out.sums = {k: self.sums[k] + other.sums[k] for k in _SCALARS}
        out.support = self.support + other.support
        out.class_weight = self.class_weight + other.class_weight
        out.replicates = {k: self.replicates[k] + other.replicates[k] for k in _SCALARS}
        return out

    def finalize(self) -> ScalarResult:
        """Weighted means: accuracy, Brier and NLL."""
        w = self.sums["sum_w"]
        mean = (lambda k: self.sums[k] / w) if w > 0 else (lambda k: float("nan"))
        rw = self.replicates["sum_w"]
        with np.errstate(invalid="ignore", divide="ignore"):
            rmean = {k: np.where(rw > 0, self.replicates[k] / np.where(rw > 0, rw, 1.0), np.nan) for k in _SCALARS}
        return ScalarResult(self.rows, w, mean("correct"), mean("brier"), mean("nll"), self.support.copy(),
                            self.class_weight.copy(), rmean["correct"], rmean["brier"], rmean["nll"])

    def to_arrays(self) -> Arrays:
        return {"n_classes": self.n_classes, "n_replicates": self.n_replicates, "rows": self.rows,
                "support": self.support.copy(), "class_weight": self.class_weight.copy(),
                **{k: self.sums[k] for k in _SCALARS}, **{f"rep_{k}": v.copy() for k, v in self.replicates.items()}}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "ScalarSums":
        out = cls(scalar(arrays["n_classes"]), scalar(arrays["n_replicates"]))
        out.rows = int(scalar(arrays["rows"]))
        out.support = np.array(arrays["support"], dtype=np.int64)
        out.class_weight = np.array(arrays["class_weight"], dtype=np.float64)
        out.sums = {k: float(scalar(arrays[k])) for k in _SCALARS}
        out.replicates = {k: np.array(arrays[f"rep_{k}"], dtype=np.float64) for k in _SCALARS}
        return out


@dataclass(frozen=True)
class EvidenceResult:
    """What the scores look like: range of finite values, row sums, saturation, non-finite values.

    ``max_row_sum_deviation`` is max |sum of a row - 1| over rows with finite values
    (NaN without such rows); saturated rows hold a finite value <= 0 or >= 1.
    """

    rows: int
    min: float
    max: float
    max_row_sum_deviation: float
    saturated_rows: int
    nonfinite_values: int


class ScoreEvidence:
    """Mergeable evidence for the score kind (probabilities vs logits); exact under any split.

    >>> ev = ScoreEvidence().update(np.array([[0.2, 0.8], [0.0, 1.0], [np.nan, 0.5]]))
    >>> r = ev.finalize()
    >>> r.min, r.max, r.saturated_rows, r.nonfinite_values
    (0.0, 1.0, 1, 1)
    """

    def __init__(self):
        self.rows, self.saturated_rows, self.nonfinite_values = 0, 0, 0
        self.min, self.max, self.max_row_sum_deviation = float("inf"), float("-inf"), float("-inf")

    def update(self, scores) -> "ScoreEvidence":
        """Add a batch of scores ``(n, K)`` (any float dtype; row sums in float64)."""
        s = np.asarray(scores)
        if s.ndim == 1:
            s = s[:, None]
        finite = np.isfinite(s)
        row_ok = finite.all(axis=1)
        self.rows += s.shape[0]
        self.nonfinite_values += int(s.size - np.count_nonzero(finite))
        if finite.any():
            vals = s[finite] if not row_ok.all() else s
            self.min = min(self.min, float(vals.min()))
            self.max = max(self.max, float(vals.max()))
        good = s if row_ok.all() else s[row_ok]
        if good.shape[0]:
            dev = np.abs(good.sum(axis=1, dtype=np.float64) - 1.0)
            self.max_row_sum_deviation = max(self.max_row_sum_deviation, float(dev.max()))
        self.saturated_rows += int(np.count_nonzero(np.any(finite & ((s <= 0.0) | (s >= 1.0)), axis=1)))
        return self

    def merge(self, other: "ScoreEvidence") -> "ScoreEvidence":
        out = ScoreEvidence()
        out.rows, out.saturated_rows = self.rows + other.rows, self.saturated_rows + other.saturated_rows
        out.nonfinite_values = self.nonfinite_values + other.nonfinite_values
        out.min, out.max = min(self.min, other.min), max(self.max, other.max)
        out.max_row_sum_deviation = max(self.max_row_sum_deviation, other.max_row_sum_deviation)
        return out

    def finalize(self) -> EvidenceResult:
        nan = float("nan")
        has = self.min <= self.max
        dev = self.max_row_sum_deviation if self.max_row_sum_deviation >= 0 else nan
        return EvidenceResult(self.rows, self.min if has else nan, self.max if has else nan, dev,
                              self.saturated_rows, self.nonfinite_values)

    def to_arrays(self) -> Arrays:
        return {k: getattr(self, k) for k in ("rows", "saturated_rows", "nonfinite_values", "min", "max", "max_row_sum_deviation")}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "ScoreEvidence":
        out = cls()
        for k in ("rows", "saturated_rows", "nonfinite_values"):
            setattr(out, k, int(scalar(arrays[k])))
        for k in ("min", "max", "max_row_sum_deviation"):
            setattr(out, k, float(scalar(arrays[k])))
        return out
