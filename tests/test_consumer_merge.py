"""The pass-consumer contract of the calibration stage and the calibrators (RULES: engine contract).

Every consumer given to ``engine.local.feed`` by the calibration stage, the fitting passes and
``fit_all`` (``fit_passes._Consumer`` with ``FitFacts``, ``RowSample`` and each method's pass states,
``PairFeeder``, ``EvaluatedOnly``, ``fit_all._Calibrated``, ``EdgeState``) is run here the way the
Dask engine runs a pass: a deep copy of each consumer per partition, the partitions fed batches
split at random boundaries, the replicas merged in a random order, and the result merged into the
consumers the caller holds. The fitted calibrators and every number must come out as in one plain
pass (1e-12 relative; counts exactly).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import calibcli.engine.local as local
from calibcli.calibration_stage import run_calibration
from calibcli.calibrators.fit_all import fit_all_rows
from calibcli.engine.batches import InMemorySource
from calibcli.predictions import Task

from prediction_helpers import logit_preds as _preds

METHODS = ("temperature", "vector", "platt", "isotonic", "histogram")


def _split_feed(seed: int, parts: int = 4):
    """A ``feed`` that runs each pass as the Dask engine does (replicas per partition, merged)."""
    rng = np.random.default_rng(seed)

    def feed(source, *consumers):
        batches = list(source.batches())
        owner = rng.integers(0, parts, size=len(batches))
        replicas = [[copy.deepcopy(c) for c in consumers] for _ in range(parts)]  # unfed copies
        rows = 0
        for b, p in zip(batches, owner):
            for c in replicas[p]:
                c.update(b)
            rows += b.n_rows
        order = rng.permutation(parts)
        acc = replicas[order[0]]
        for p in order[1:]:
            for a, o in zip(acc, replicas[p]):
                _merge(a, o)
        for c, a in zip(consumers, acc):
            _merge(c, a)
        return rows

    return feed


def _merge(a, b) -> None:
    """``a.merge(b)`` in place: the consumers of the calibration stage must return ``a``; the states
    (``MeasureState``, ``EdgeState``: the new-state convention of calibcli.stats) are adapted."""
    from calibcli.engine.local import merge_into

    if type(a).__module__.startswith("calibcli.calibrators"):
        assert a.merge(b) is a, f"{type(a).__name__}.merge must work in place and return self"
    else:
        merge_into(a, b)


def _close(a, b, path="") -> None:
    """Every number in ``a`` equals ``b``: integers exactly, floats to 1e-12 relative."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, bool) or a is None or isinstance(a, str):
        assert a == b, (path, a, b)
    elif isinstance(a, (int, np.integer)):
        assert a == b, (path, a, b)
    elif isinstance(a, (float, np.floating)):
        if math.isnan(a):
            assert math.isnan(b), path
        else:
            assert b == pytest.approx(a, rel=1e-12, abs=1e-15), (path, a, b)
    else:
        raise AssertionError(f"{path}: unexpected {type(a)}")


def _numbers(result) -> dict:
    d = result.to_dict()
    return {"calibration": d, "models": {m: [c.params() for c in cals] for m, cals in result.out_of_fold.calibrators.items()}}


def _sampled(monkeypatch) -> None:
    """Force the row sample below every row, so the Newton and bucket passes run over the source."""
    import calibcli.calibrators.fit_passes as fp
    import calibcli.calibrators.isotonic as iso

    monkeypatch.setattr(fp, "sample_rate", lambda n, k: 0.3)
    monkeypatch.setattr(iso, "MAX_DISTINCT", 300)


@pytest.mark.parametrize("task", [Task.MULTICLASS, Task.BINARY, Task.MULTILABEL])
@pytest.mark.parametrize("scheme", ["cross-fit", "split"])
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("passes", ["exact", "sampled"])
def test_calibration_stage_split_and_merged_passes(monkeypatch, task, scheme, strategy, passes):
    p = _preds(task)
    split = 0.5 if scheme == "split" else None
    methods = METHODS
    if passes == "sampled":  # the logistic fits (Platt, multilabel vector) included: they converge (tests/test_speed_platt.py)
        _sampled(monkeypatch)

    def run(batch_rows):
        from calibcli.audit import audit_state
        from calibcli.measure import source_edges

        src = InMemorySource.from_predictions(p, batch_rows)
        before = audit_state(src, source_edges(src, 10, strategy))
        r = run_calibration(src, methods, split=split, n_bins=10, strategy=strategy, n_boot=20, before_state=before)
        out = _numbers(r)
        out["calibration"]["fit"].pop("passes")  # the last Newton step may land within tolerance one pass apart
        if task is Task.MULTILABEL:
            # multilabel accuracy is a float sum of per-row fractions in calibcli.measure (not of integer
            # counts), so before == after compares last bits that follow the summation order
            out["calibration"].pop("accuracy_unchanged")
            out["calibration"]["warnings"] = [w for w in out["calibration"]["warnings"] if "accuracy changed" not in w]
        return out, r.measured.metrics

    one, one_before = run(10_000)
    for seed, rows in ((1, 7), (2, 64)):
        with monkeypatch.context() as m:
            m.setattr(local, "feed", _split_feed(seed))
            got, got_before = run(rows)
        _close(one, got)
        _close(vars(one_before), vars(got_before))


@pytest.mark.parametrize("method", METHODS)
def test_fit_all_rows_split_and_merged_passes(monkeypatch, method):
    _sampled(monkeypatch)
    p = _preds(Task.MULTICLASS, n=700, seed=3)
    one = fit_all_rows(InMemorySource.from_predictions(p, 10_000), method, n_boot=20)
    with monkeypatch.context() as m:
        m.setattr(local, "feed", _split_feed(5, parts=3))
        got = fit_all_rows(InMemorySource.from_predictions(p, 13), method, n_boot=20)
    _close(one.calibrator.params(), got.calibrator.params())
    _close({k: v for k, v in one.info.items() if k != "passes"}, {k: v for k, v in got.info.items() if k != "passes"})


def test_merge_into_adapts_a_merge_that_returns_a_new_state():
    from calibcli.engine.local import merge_into
    from calibcli.stats.sums import ScalarSums

    a = ScalarSums(2).update(np.array([0, 1]), np.array([1.0, 0.0]), np.array([0.1, 0.2]), np.array([0.3, 0.4]))
    b = ScalarSums(2).update(np.array([1]), np.array([1.0]), np.array([0.5]), np.array([0.6]))
    want = a.merge(b).to_arrays()
    assert merge_into(a, b) is a
    got = a.to_arrays()
    assert all(np.array_equal(np.asarray(got[k]), np.asarray(v)) for k, v in want.items())


def test_states_round_trip_through_arrays():
    from calibcli.calibrators.fit_passes import FitFacts
    from calibcli.calibrators.temperature import ScaleGaps
    from calibcli.calibrators.temperature_passes import ParamLayout
    from calibcli.calibrators.vector import _ScaleState, VectorPass
    from calibcli.stats.base import dumps, loads  # noqa: F401  (the arrays are what dumps stores)

    f = FitFacts(2, 3, Task.MULTICLASS)
    f.rows[:] = [4, 5]
    f.class_counts[1] = [1, 2, 2]
    f.fit_rows, f.saturated = 9, 1
    g = FitFacts.from_arrays(f.to_arrays())
    assert g.to_arrays().keys() == f.to_arrays().keys()
    assert all(np.array_equal(np.asarray(g.to_arrays()[k]), np.asarray(v)) for k, v in f.to_arrays().items())
    s = ScaleGaps(ParamLayout(Task.MULTICLASS, 2, 1))
    s.update(np.array([[1.0, -3.0], [2.0, 0.5]], dtype=np.float32), [np.array([0, 1])])
    t = ScaleGaps.from_arrays(s.to_arrays(), s.layout)
    assert t.absmax == s.absmax and np.array_equal(t.gap, s.gap) and t.layout == s.layout
    v = _ScaleState.from_arrays(_ScaleState(3).to_arrays())
    assert v.absmax.shape == (3,)
    vp = VectorPass(np.zeros((2, 1, 4)), np.ones(2), np.array([True, False]))
    back = VectorPass.from_arrays(vp.to_arrays())
    assert back.sums is None and np.array_equal(back.points, vp.points)
