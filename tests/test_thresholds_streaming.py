"""Thresholds in bounded memory: count tables as mergeable partial states, exact optima beyond
the budget (refined in further passes), and the same recommendations and intervals for any batching."""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibcli.engine.batches import DEFAULT_BATCH_ROWS, InMemorySource
from calibcli.engine.local import tree_merge
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.thresholds import (
    OBJECTIVES,
    CountTable,
    ThresholdSpec,
    equivalent_threshold,
    recommend,
    recommend_binary,
    recommend_source,
)
from tests.test_thresholds import brute, problems

ALL = dict(cost_fp=1.0, cost_fn=3.0, beta=2.0, min_precision=0.8, min_recall=0.7, max_flag_rate=0.2,
           review_precision=0.85)


def scores_strategy(max_n=60):
    """Scores with heavy ties (few levels), continuous ones, or both signs and magnitudes beyond 2."""
    return st.tuples(st.integers(1, max_n), st.sampled_from(["ties", "continuous", "wide"]), st.integers(0, 2**32 - 1))


def make(n, kind, seed):
    rng = np.random.default_rng(seed)
    if kind == "ties":
        s = rng.integers(0, 6, n) / 5
    elif kind == "continuous":
        s = rng.random(n)
    else:
        s = np.round(rng.normal(0, 4, n), 1)
        s[: min(n, 2)] = [-0.0, 0.0][: min(n, 2)]
    return s, rng.random(n) < 0.4


def split(n, rng, pieces):
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(pieces, n - 1), replace=False)) if n > 1 else np.array([], int)
    return np.split(np.arange(n), cuts)


def same_segments(a, b):
    assert a.shift == b.shift
    for f in ("lo", "hi", "pos", "neg"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


# --------------------------------------------------------------------------- count tables


@settings(max_examples=150, deadline=None)
@given(scores_strategy(), st.sampled_from([2, 3, 5, 1000]), st.integers(1, 8), st.integers(2, 8), st.randoms())
def test_count_table_merge_is_associative_commutative_and_batch_free(data, budget, pieces, fan_in, rnd):
    s, y = make(*data)
    one = CountTable(budget).update(s, y).finalize()
    parts = split(s.size, np.random.default_rng(rnd.randint(0, 2**31)), pieces)
    states = [CountTable(budget).update(s[p], y[p]) for p in parts]
    rnd.shuffle(states)
    same_segments(tree_merge(states, lambda a, b: a.merge(b), fan_in).finalize(), one)
    # one table fed batch by batch (in a shuffled order) equals it too
    t = CountTable(budget)
    for p in parts:
        t.update(s[p], y[p])
    same_segments(t.finalize(), one)
    # exact within the budget, exact counts and edges always
    u = np.unique(s + 0.0)
    assert (one.shift == 0) == (u.size <= budget) and one.lo.size <= budget
    assert int(one.pos.sum()) == int(y.sum()) and int(one.neg.sum()) == int((~y).sum())
    for lo, hi, pos, neg in zip(one.lo, one.hi, one.pos, one.neg):
        inside = (s >= lo) & (s <= hi)
        assert (int(y[inside].sum()), int((~y[inside]).sum())) == (pos, neg)
        assert s[inside].min() == lo and s[inside].max() == hi
    assert np.all(one.lo[1:] > one.hi[:-1])


def test_count_table_is_bounded_while_updating_and_round_trips_without_pickle():
    rng = np.random.default_rng(0)
    t = CountTable(budget=100, companion=True)
    for _ in range(50):
        s = rng.random(64)
        t.update(s, s > 0.5, other=s ** 2)
        assert t.size <= 2 * 100 + 64
    buf = io.BytesIO()
    np.savez(buf, **t.to_arrays())
    with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as npz:
        back = CountTable.from_arrays({k: npz[k] for k in npz.files})
    a, b = t.finalize(), back.finalize()
    same_segments(a, b)
    np.testing.assert_array_equal(a.cmin, b.cmin)
    assert a.lo.size <= 100 and a.shift > 0


def test_count_table_ranges_never_span_two_ranges():
    s = np.arange(100) / 100
    t = CountTable(budget=4, ranges=(np.array([0.1, 0.5]), np.array([0.3, 0.9]))).update(s, s > 0.6).finalize()
    assert int(t.pos.sum() + t.neg.sum()) == 21 + 41
    assert not np.any((t.lo <= 0.3) & (t.hi >= 0.5))
    with pytest.raises(ValueError, match="budget // 2"):
        CountTable(budget=2, ranges=(np.array([0.1, 0.5]), np.array([0.3, 0.9])))


# --------------------------------------------------------------------------- exact beyond the budget


@settings(max_examples=150, deadline=None)
@given(problems(), st.sampled_from([2, 3, 4, 7]), st.sampled_from([1, 7, None]))
def test_every_objective_matches_brute_force_under_any_budget_and_batching(problem, budget, batch_rows):
    scores, y, spec = problem
    exact = recommend_binary(scores, y, spec)
    got = recommend_binary(scores, y, spec, batch_rows=batch_rows, max_distinct=budget)
    assert got == exact
    if y.all() or not y.any():
        return
    for r in got:
        expected, met = brute(scores, y, r.objective, spec)
        assert ((r.threshold, r.threshold_low) if r.objective == "review-band" else r.threshold) == expected, r.objective


def _rounds(s, y, spec, budget):
    preds = Predictions(np.c_[np.zeros_like(s), s], y.astype(int), ("neg", "pos"), Task.BINARY, ScoreKind.PROBS)
    return recommend(preds, spec, batch_rows=250, max_distinct=budget)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("kind", ["ties", "continuous"])
def test_budgets_forcing_one_two_and_three_refinement_rounds_give_the_exact_optimum(objective, kind):
    rng = np.random.default_rng(3)
    n = 2000
    s = np.round(rng.random(n) ** 2, 2) if kind == "ties" else rng.random(n)  # 101 or 2,000 distinct scores
    y = rng.random(n) < s
    spec = ThresholdSpec((objective,), **ALL, n_bootstrap=0)
    exact = _rounds(s, y, spec, 10**6)
    assert exact.refinement_rounds == 0 and exact.passes == 1
    seen = {}
    for budget in (1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 40, 32, 28, 24, 20, 16, 14, 12, 10, 8, 6, 5, 4):
        rep = _rounds(s, y, spec, budget)
        assert rep.recommendations == exact.recommendations, budget
        assert rep.passes == 1 + rep.refinement_rounds
        seen.setdefault(rep.refinement_rounds, budget)
        if {1, 2, 3} <= set(seen):
            break
    assert {1, 2, 3} <= set(seen), seen


@pytest.mark.parametrize("kind", ["ties", "continuous"])
def test_intervals_beyond_the_budget_equal_those_of_the_exact_curve(kind):
    """Budgets above max_groups: the buckets holding a bootstrap cut point are gathered, so the replicate
    thresholds are those of every distinct score, and so are the intervals."""
    rng = np.random.default_rng(2)
    s = np.round(rng.random(4000), 2) if kind == "ties" else rng.random(4000)
    y = rng.random(s.size) < s ** 2
    spec = ThresholdSpec(OBJECTIVES, **ALL, n_bootstrap=40, seed=1, max_groups=16)
    exact = _rounds(s, y, spec, 10**6)
    for budget in (17, 40, 90):
        rep = _rounds(s, y, spec, budget)
        assert rep.recommendations == exact.recommendations, budget
        assert rep.refinement_rounds >= 1
    assert exact.recommendations[0].bootstrap_candidates > 16


def test_heavy_ties_fit_a_budget_far_below_the_row_count():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 50, 20_000) / 49  # 50 distinct scores
    y = rng.random(s.size) < s
    spec = ThresholdSpec(OBJECTIVES, **ALL, n_bootstrap=0)
    rep = _rounds(s, y, spec, 100)
    assert rep.refinement_rounds == 0 and rep.recommendations == _rounds(s, y, spec, 10**6).recommendations


# --------------------------------------------------------------------------- any batching


@st.composite
def prediction_sets(draw):
    n = draw(st.integers(2, 50))
    task = draw(st.sampled_from([Task.BINARY, Task.MULTICLASS, Task.MULTILABEL]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.sampled_from([4, 20, None]))
    k = 2 if task is Task.BINARY else 3
    raw = rng.random((n, k)) if levels is None else rng.integers(0, levels + 1, (n, k)) / levels
    if task is Task.MULTILABEL:
        probs, labels = raw, (rng.random((n, k)) < raw).astype(int)
        cal = probs ** 2 if draw(st.booleans()) else np.clip(probs + rng.normal(0, 0.1, probs.shape), 0, 1)
    else:
        probs = raw + 1e-3
        probs /= probs.sum(axis=1, keepdims=True)
        labels = rng.integers(0, k, n)
        cal = probs ** 3 if draw(st.booleans()) else rng.dirichlet(np.ones(k), n)
        cal /= cal.sum(axis=1, keepdims=True)
    classes = tuple("abc"[:k])
    preds = Predictions(probs, labels, classes, task, ScoreKind.PROBS)
    return preds, Predictions(cal, labels, classes, task, ScoreKind.PROBS)


class Reversed(InMemorySource):
    """The same batches, last first (as a cluster may deliver them)."""

    def batches(self):
        yield from reversed(list(super().batches()))


@settings(max_examples=30, deadline=None)
@given(prediction_sets(), st.sampled_from([1, 7]) | st.integers(1, 100), st.sampled_from([10**6, 48]),
       st.booleans())
def test_recommendations_and_intervals_are_the_same_for_any_batching(pc, batch_rows, budget, with_calibrated):
    preds, cal = pc
    spec = ThresholdSpec(OBJECTIVES, **ALL, n_bootstrap=20, seed=4, max_groups=6)
    calibrate = (lambda b: cal.subset(b.rows)) if with_calibrated else None
    one = recommend_source(InMemorySource.from_predictions(preds, preds.n_samples), spec, calibrate=calibrate,
                           max_distinct=budget)
    for cls in (InMemorySource, Reversed):
        src = cls.from_predictions(preds, batch_rows)
        assert recommend_source(src, spec, calibrate=calibrate, max_distinct=budget) == one
    # and equal to all rows at once with no budget (every table's share, >= 8, exceeds max_groups = 6:
    # the bootstrap's cut points are gathered exactly too); only the count of passes differs
    whole = recommend(preds, spec, calibrated=cal if with_calibrated else None)
    assert replace(one, passes=1, refinement_rounds=0) == whole
    if with_calibrated:  # the other scale's threshold from the tables equals the one checked on the rows
        from calibcli.thresholds import targets

        scales = {"raw": targets(preds), "calibrated": targets(cal)}
        names = [t[0] for t in scales["raw"]]
        for r in one.recommendations:
            if math.isnan(r.threshold):
                continue
            k = names.index(r.target)
            src, dst = scales[r.scale][k][1], scales["calibrated" if r.scale == "raw" else "raw"][k][1]
            assert r.other_scale_threshold == equivalent_threshold(src, dst, r.threshold)
            if r.threshold_low is not None:
                assert r.other_scale_threshold_low == equivalent_threshold(src, dst, r.threshold_low)


def test_intervals_are_those_of_the_previous_release():
    """The replicates are drawn from the merged counts exactly as the in-memory version drew them from its
    sorted blocks, so no interval moved (values recorded with the previous calibcli/thresholds.py)."""
    rng = np.random.default_rng(5)
    p = np.round(rng.random(3000), 3)
    y = rng.random(3000) < p
    spec = ThresholdSpec(OBJECTIVES, cost_fp=1.0, cost_fn=2.0, beta=2.0, min_precision=0.8, min_recall=0.8,
                         max_flag_rate=0.2, review_precision=0.8, n_bootstrap=50, seed=3, max_groups=64)
    golden = {
        "cost": (0.308, (0.304, 0.364), (0.30959545302574387, 0.34357449620085895)),
        "f1": (0.364, (0.308, 0.45), (0.755120213713268, 0.7832943925233645)),
        "fbeta": (0.128, (0.128, 0.195), (0.850642334013687, 0.873087308730873)),
        "youden": (0.488, (0.473, 0.596), (0.4876612482713279, 0.5317612931239408)),
        "precision": (0.577, (0.538, 0.629), (0.5886990801576872, 0.6992084432717678)),
        "recall": (0.446, (0.425, 0.461), (0.6980369515011547, 0.7429245283018868)),
        "flag-rate": (0.799, (0.789, 0.814), (0.34144778987828317, 0.37083888149134486)),
        "review-band": (0.577, (0.538, 0.629), (0.15903225806451612, 0.25784087157477714)),
    }
    for batch_rows in (None, 1000, 7):
        for r in recommend_binary(p, y, spec, batch_rows=batch_rows):
            assert (r.threshold, r.threshold_ci, r.headline_ci) == golden[r.objective], r.objective
            if r.objective == "review-band":
                assert r.threshold_low_ci == (0.323, 0.43)


# --------------------------------------------------------------------------- CLI


def test_cli_batch_rows_changes_nothing(capsys):
    from calibcli.cli.main import main
    from calibcli.cli.options import BATCH_ROWS_DEFAULT
    from tests.conftest import SAMPLES

    assert BATCH_ROWS_DEFAULT == DEFAULT_BATCH_ROWS
    outs = []
    for extra in ([], ["--batch-rows", "7"], ["--batch-rows", "64"]):
        with pytest.raises(SystemExit) as exc:
            main(["thresholds", str(SAMPLES / "multiclass_probs.csv"), "--format", "json", "--objective", "f1",
                  "--min-precision", "0.7", "--review-precision", "0.8", "--bootstrap", "30", *extra])
        out, err = capsys.readouterr()
        assert exc.value.code == 0, err
        outs.append(json.loads(out)["results"])
    assert outs[1] == outs[0] and outs[2] == outs[0]
    with pytest.raises(SystemExit) as exc:
        main(["thresholds", str(SAMPLES / "binary.csv"), "--batch-rows", "0"])
    assert exc.value.code == 2


def test_audit_thresholds_on_the_evaluated_rows_are_the_same_for_any_batch_size(capsys):
    from calibcli.cli.main import main
    from tests.conftest import SAMPLES

    results = []
    for rows in ("7", "100", "65536"):
        with pytest.raises(SystemExit) as exc:
            main(["audit", str(SAMPLES / "multiclass_probs.csv"), "--format", "json", "--calibration-split", "0.5",
                  "--objective", "f1", "--min-precision", "0.6", "--threshold-bootstrap", "20", "--batch-rows", rows])
        out, err = capsys.readouterr()
        assert exc.value.code in (0, 1), err
        results.append(json.loads(out)["thresholds"])
    assert results[0] == results[1] == results[2]
    thr = results[0]
    assert thr["scales"] == ["raw", "calibrated"] and thr["n_rows"] < json.loads(out)["input"]["n_samples"]
    assert f"{thr['n_rows']:,} rows the calibrator was evaluated on" in thr["notes"][0]
    assert all(r["n"] == thr["n_rows"] for r in thr["recommendations"])
