"""Platt scaling refined over a source (row sample below every row) converges in a few passes.

Regression: warm-started on the row sample, the damped Newton passes reached a point whose
Newton step (about 1e-9) lowered the loss by less than the rounding of its sum; the line
search then halved down to a step that left the parameters unchanged, "took" it (same
loss) and solved the same direction again, until the 200-pass limit.
"""

from __future__ import annotations

import numpy as np
import pytest

import calibcli.calibrators.fit_passes as fp
from calibcli.calibration_stage import run_calibration
from calibcli.calibrators.damped_newton import DampedNewton, solve_2x2
from calibcli.engine.batches import InMemorySource
from calibcli.predictions import Predictions, Task

from prediction_helpers import logit_preds as _preds


def _platt(monkeypatch, p: Predictions, rate: float, split, batch_rows: int):
    monkeypatch.setattr(fp, "sample_rate", lambda n, k: rate)
    r = run_calibration(InMemorySource.from_predictions(p, batch_rows), ("platt",), split=split, n_bins=10, n_boot=20)
    return r.to_dict()["fit"]["passes"], [c.params() for c in r.out_of_fold.calibrators["platt"]]


@pytest.mark.parametrize("task", [Task.BINARY, Task.MULTICLASS, Task.MULTILABEL])
@pytest.mark.parametrize("split", [None, 0.5])
@pytest.mark.parametrize("batch_rows", [10_000, 64])
def test_sampled_platt_converges_in_few_passes_to_the_exact_fit(monkeypatch, task, split, batch_rows):
    p = _preds(task)
    exact_passes, exact = _platt(monkeypatch, p, 1.0, split, batch_rows)
    passes, got = _platt(monkeypatch, p, 0.3, split, batch_rows)
    assert exact_passes == 2  # pass 1 and the after-pass: the sample held every row
    assert passes <= 10  # pass 1, a handful of Newton passes, the after-pass (was 201: the pass limit)
    for a, b in zip(exact, got, strict=True):
        for key in ("a", "b"):
            np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-8)


def test_a_step_below_the_resolution_of_theta_ends_the_search():
    nt = DampedNewton(np.array([[0.3, -0.4]]), solve_2x2)
    g, h = np.array([[[2e-9, -2e-9]]]), np.array([[[[1.0, 0.0], [0.0, 1.0]]]])
    nt.observe(np.array([[0.5]]), g, h)  # theta itself: a direction of 2e-9
    for _ in range(20):  # every candidate's loss a rounding above theta's, until the step vanishes
        if nt.done:
            break
        pts = nt.points()
        same = np.all(pts == nt.theta[:, None, :], axis=2)
        nt.observe(np.where(same, 0.5, 0.5 + 1e-10), np.repeat(g, pts.shape[1], 1), np.repeat(h, pts.shape[1], 1))
    assert nt.done and nt.iterations[0] == 0
    np.testing.assert_array_equal(nt.theta, [[0.3, -0.4]])


def test_a_loss_within_rounding_takes_the_full_newton_step():
    nt = DampedNewton(np.array([[0.3, -0.4]]), solve_2x2)
    g, h = np.array([[[2e-9, -2e-9]]]), np.array([[[[1.0, 0.0], [0.0, 1.0]]]])
    nt.observe(np.array([[0.5]]), g, h)
    loss = np.full((1, 4), 0.5 + 2e-16)  # a rounding above: the full step is taken
    zero = np.zeros((1, 4, 2))
    nt.observe(loss, zero, np.repeat(h, 4, 1))
    np.testing.assert_allclose(nt.theta, [[0.3 - 2e-9, -0.4 + 2e-9]], rtol=0, atol=1e-17)
    assert nt.done  # the next direction is zero
