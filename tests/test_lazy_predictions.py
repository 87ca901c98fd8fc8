"""LazyPredictions (softmax on first use) and the narrow-row reductions give exactly the eager numbers."""

import numpy as np
import pytest

from calibcli import predictions as P
from calibcli.predictions import LazyPredictions, Predictions, ScoreKind, Task, row_max, row_sum, scores_to_probs


@pytest.mark.parametrize("task,k", [(Task.MULTICLASS, 4), (Task.BINARY, 2), (Task.BINARY, 1), (Task.MULTILABEL, 3)])
def test_lazy_equals_eager(task, k):
    z = np.random.default_rng(1).normal(scale=5, size=(50, k))
    probs, logits = scores_to_probs(z, ScoreKind.LOGITS, task)
    labels = np.zeros((50, max(k, 2)), int) if task is Task.MULTILABEL else np.arange(50) % 2
    classes = tuple("abcd"[: probs.shape[1]])
    eager = Predictions(probs, labels, classes, task, ScoreKind.LOGITS, logits)
    lazy = LazyPredictions(z, labels, classes, task)
    assert np.array_equal(lazy.logits, eager.logits)
    rows = np.array([3, 1, 4, 1, 5])
    sub = lazy.subset(rows)
    assert isinstance(sub, LazyPredictions) and sub._probs is None  # still lazy
    assert np.array_equal(sub.probs, eager.probs[rows])
    assert np.array_equal(lazy.probs, eager.probs)
    assert np.array_equal(lazy.subset(rows).probs, eager.probs[rows])


def test_softmax_not_computed_until_probs_used(monkeypatch):
    calls = []
    real = P.softmax
    monkeypatch.setattr(P, "softmax", lambda z: calls.append(1) or real(z))
    lazy = LazyPredictions(np.zeros((3, 3)), np.zeros(3, int), ("a", "b", "c"), Task.MULTICLASS)
    assert lazy.logits.shape == (3, 3) and not calls
    assert np.allclose(lazy.probs, 1 / 3) and len(calls) == 1
    lazy.probs
    assert len(calls) == 1  # kept


@pytest.mark.parametrize("k", [1, 2, 10, 33, 40])
def test_row_reductions_match_numpy(k):
    z = np.random.default_rng(k).normal(size=(257, k))
    assert np.array_equal(row_max(z), z.max(axis=1))
    assert np.allclose(row_sum(z), z.sum(axis=1), rtol=1e-13, atol=1e-13)
    # the same for every block of rows (batch-size invariance)
    assert np.array_equal(np.concatenate([row_sum(z[:100]), row_sum(z[100:])]), row_sum(z))


def test_scaled_softmax_unit_temperature_matches_scaled_path():
    z = np.random.default_rng(3).normal(scale=3, size=(100, 5))
    a = P.scaled_softmax(z, 1.0)
    b = P.scaled_softmax(z, np.ones(100))
    assert np.array_equal(a, b)
    assert np.allclose(a, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-12)
