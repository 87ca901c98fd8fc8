"""Synthetic predictions with logits for the calibration-stage tests."""

from __future__ import annotations

import numpy as np

from calibcli.predictions import Predictions, ScoreKind, Task, softmax


def logit_preds(task: Task, n: int = 900, k: int = 3, seed: int = 0) -> Predictions:
    """``n`` rows of ``task`` (binary: 2 classes, else ``k``), logits spread 3x (multilabel 2.5x) wider than
    the labels were drawn from: overconfident, so every calibrator has something to fit."""
    rng = np.random.default_rng(seed)
    if task is Task.MULTILABEL:
        z = rng.normal(size=(n, k)) * 2.5
        y = (rng.random((n, k)) < 1.0 / (1.0 + np.exp(-z / 2.5))).astype(np.int64)
        return Predictions(1.0 / (1.0 + np.exp(-z)), y, tuple(f"l{j}" for j in range(k)), task, ScoreKind.LOGITS, logits=z)
    k = 2 if task is Task.BINARY else k
    z = rng.normal(size=(n, k)) * 3.0
    y = np.array([rng.choice(k, p=p) for p in softmax(z / 3.0)])
    return Predictions(softmax(z), y, tuple(f"c{j}" for j in range(k)), task, ScoreKind.LOGITS, logits=z)
