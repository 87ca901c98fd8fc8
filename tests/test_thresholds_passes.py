"""Threshold passes follow the engine contract: every pass is ``engine.local.feed`` of ThresholdCounts
consumers (deepcopy = unfed replica, update(batch), merge(other) in place, only tables within a budget),
so an engine that splits the rows into partitions at random boundaries, feeds a deep copy per partition,
ships it (cloudpickle) and merges the replicas in any order gives the tables, optima and intervals of one pass."""

from __future__ import annotations

import copy
import json
import pickle

import cloudpickle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calibcli.engine.local as local
from calibcli.engine.batches import Batch, InMemorySource
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.thresholds import OBJECTIVES, ThresholdSpec, recommend, recommend_binary, recommend_source
from calibcli.thresholds.passes import Layout, ThresholdCounts, TransformWith
from tests.test_thresholds import brute
from tests.test_thresholds_streaming import ALL
from tests.test_thresholds_streaming import make as data

REAL_FEED = local.feed


def _pieces(batch: Batch, rng: np.random.Generator) -> list[Batch]:
    """A batch cut at random row boundaries (sizes 1 and up)."""
    n = batch.n_rows
    k = int(rng.integers(0, min(n, 4)))
    cuts = np.sort(rng.choice(np.arange(1, n), size=k, replace=False)) if k else np.array([], dtype=int)
    out = []
    for part in np.split(np.arange(n), cuts):
        sl = slice(int(part[0]), int(part[-1]) + 1)
        out.append(Batch(batch.predictions.subset(sl), batch.rows[sl], None if batch.ids is None else batch.ids[sl]))
    return out


def partitioned_engine(seed: int, log: list | None = None):
    """A stand-in for a cluster engine with ``feed``'s signature: the pass's batches cut at random rows, grouped
    into 1 to 6 partitions; per partition a deep copy of each consumer (checked unfed) is fed, shipped
    (cloudpickle round trip), then the replicas are tree-merged in a random order and fan-in and merged into
    the caller's consumers."""
    rng = np.random.default_rng(seed)

    def feed(source, *consumers):
        if log is not None:
            log.append(len(consumers))
        pieces = [p for b in source.batches() for p in _pieces(b, rng)]
        if not pieces:
            return 0
        k = int(rng.integers(0, min(len(pieces), 6)))
        cuts = np.sort(rng.choice(np.arange(1, len(pieces)), size=k, replace=False)) if k else []
        partitions = np.split(np.arange(len(pieces)), cuts)
        replicas = []
        for part in partitions:
            reps = [copy.deepcopy(c) for c in consumers]
            assert all(r.n_rows == 0 and all(t.total_rows == 0 for t in r.tables) for r in reps)
            for i in part:
                for r in reps:
                    r.update(pieces[i])
            replicas.append([cloudpickle.loads(cloudpickle.dumps(r)) for r in reps])
        order = rng.permutation(len(replicas))
        for j, c in enumerate(consumers):
            merged = local.tree_merge([replicas[i][j] for i in order], lambda a, b: a.merge(b), int(rng.integers(2, 9)))
            c.merge(merged)
        return sum(p.n_rows for p in pieces)

    return feed


def same_tables(a: ThresholdCounts, b: ThresholdCounts) -> None:
    assert a.n_rows == b.n_rows and a.want == b.want
    np.testing.assert_array_equal(a.at_bayes, b.at_bayes)
    for ta, tb in zip(a.tables, b.tables):
        sa, sb = ta.finalize(), tb.finalize()
        assert sa.shift == sb.shift
        for f in ("lo", "hi", "pos", "neg", "cmin", "cmax"):
            va, vb = getattr(sa, f), getattr(sb, f)
            assert (va is None) == (vb is None), f
            if va is not None:
                np.testing.assert_array_equal(va, vb, err_msg=f)


def multiclass(n: int, seed: int, levels: int = 0) -> tuple[Predictions, Predictions]:
    """Raw and 'calibrated' (a monotone map, another scale) 3-class predictions; ``levels`` > 0 rounds (ties)."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1, 1, 1], n)
    if levels:
        p = np.round(p * levels) / levels
        p[:, 2] = 1 - p[:, 0] - p[:, 1]
    labels = rng.integers(0, 3, n)
    raw = Predictions(p, labels, ("a", "b", "c"), Task.MULTICLASS, ScoreKind.PROBS)
    cal = Predictions(np.sqrt(np.abs(p)), labels, ("a", "b", "c"), Task.MULTICLASS, ScoreKind.PROBS)
    return raw, cal


class Sqrt:
    """A picklable stand-in for a calibrator (module level): the square root of the scores."""

    def transform(self, preds: Predictions) -> Predictions:
        return Predictions(np.sqrt(np.abs(preds.probs)), preds.labels, preds.classes, preds.task, preds.score_kind)


# --------------------------------------------------------------------------- the consumer


@settings(max_examples=120, deadline=None)
@given(st.integers(1, 300), st.sampled_from(["ties", "continuous", "wide"]), st.integers(0, 2**32 - 1),
       st.sampled_from([2, 5, 64, 10_000]), st.booleans(), st.integers(0, 2**32 - 1))
def test_counts_split_into_replicas_and_merged_in_any_order_equal_one_pass(n, kind, seed, budget, ranged, engine_seed):
    s, y = data(n, kind, seed)
    p = Predictions(s[:, None], y.astype(np.int64), ("no", "yes"), Task.TOP_LABEL, ScoreKind.PROBS,
                    pred_labels=np.ones(n, dtype=np.int64))
    src = InMemorySource.from_predictions(p, batch_rows=n)
    ranges = None
    if ranged:  # a refinement pass: only inside some score ranges
        u = np.unique(s)
        m = min(budget // 2, max(1, (u.size + 1) // 3))
        lo, hi = u[0::3][:m], u[1::3][:m]
        ranges = {0: (lo, hi if hi.size == lo.size else lo)}  # [u0, u1], [u3, u4], ... (one score when u is short)
    bayes = float(np.median(s))
    one = ThresholdCounts(Layout((0,)), budget, bayes, ranges)
    REAL_FEED(src, one)
    split = ThresholdCounts(Layout((0,)), budget, bayes, ranges)
    partitioned_engine(engine_seed)(src, split)
    same_tables(split, one)
    assert one.n_rows == n


def test_a_replica_is_unfed_shares_the_view_and_survives_pickle():
    raw, _ = multiclass(200, 1)
    view_owner = Sqrt()
    from calibcli.thresholds.passes import CalibrateEach

    layout = Layout((0, 2), 2, CalibrateEach(TransformWith(view_owner)))
    fresh = ThresholdCounts(layout, 16, 0.5)
    fed = copy.deepcopy(fresh)
    REAL_FEED(InMemorySource.from_predictions(raw, 37), fed)
    replica = copy.deepcopy(fresh)
    assert replica.n_rows == 0 and replica.tables[0].total_rows == 0 and replica.at_bayes.sum() == 0
    assert replica.layout is layout and replica.layout.view.calibrate.calibrator is view_owner  # views are shared
    assert len(replica.tables) == 4 and all(t.budget == 16 and t.companion for t in replica.tables)
    shipped = pickle.loads(pickle.dumps(fed))  # plain pickle too: every part is a module-level class
    same_tables(shipped, fed)
    # merging an empty replica changes nothing; merging into an empty one gives the fed tables
    same_tables(copy.deepcopy(fed).merge(copy.deepcopy(fresh)), fed)
    same_tables(copy.deepcopy(fresh).merge(fed), fed)
    with pytest.raises(ValueError, match="different passes"):
        fed.merge(ThresholdCounts(layout, 16, 0.5, ranges={1: (np.array([0.1]), np.array([0.2]))}))


# --------------------------------------------------------------------------- whole recommendations


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 400), st.integers(0, 2**32 - 1), st.sampled_from([0, 5, 20]),
       st.sampled_from([6, 40, None]), st.integers(0, 2**32 - 1))
def test_recommendations_with_a_partitioned_engine_equal_the_exact_one_pass(n, seed, levels, budget, engine_seed):
    raw, cal = multiclass(n, seed, levels)
    spec = ThresholdSpec(OBJECTIVES, n_bootstrap=30, **ALL)
    exact = recommend(raw, spec, calibrated=cal)  # rows in memory: no budget, one pass
    source = InMemorySource.from_predictions(raw, 50)
    with pytest.MonkeyPatch.context() as m:
        log: list = []
        m.setattr(local, "feed", partitioned_engine(engine_seed, log))
        got = recommend_source(source, spec, calibrate=lambda b: cal.subset(b.rows), max_distinct=budget)
    assert got.recommendations == exact.recommendations
    assert got.n_rows == exact.n_rows == n
    assert len(log) == got.passes  # every pass went through feed
    if budget == 6 and levels == 0:
        assert got.refinement_rounds >= 1  # the budget forced refinement passes


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_refined_optimum_under_a_partitioned_engine_is_the_brute_force_one(objective, monkeypatch):
    s, y = data(1500, "continuous", 7)
    spec = ThresholdSpec((objective,), n_bootstrap=0, **ALL)
    want = brute(s, y, objective, spec)[0]
    log: list = []
    monkeypatch.setattr(local, "feed", partitioned_engine(11, log))
    r = recommend_binary(s, y, spec, max_distinct=8, batch_rows=97)[0]
    assert ((r.threshold, r.threshold_low) if objective == "review-band" else r.threshold) == want
    assert len(log) >= 2  # refined beyond the budget of 8 entries, pass by pass through feed


def test_audit_thresholds_go_through_feed_and_give_the_same_section_under_a_partitioned_engine(capsys, monkeypatch):
    from calibcli.cli.main import main
    from tests.conftest import SAMPLES

    argv = ["audit", str(SAMPLES / "multiclass_probs.csv"), "--format", "json", "--calibration-split", "0.5",
            "--objective", "f1", "--min-precision", "0.6", "--threshold-bootstrap", "20", "--batch-rows", "9"]
    sections = []
    for engine in (None, partitioned_engine(3), partitioned_engine(4)):
        log: list = []
        monkeypatch.setattr(local, "feed", REAL_FEED if engine is None else _logging(engine, log))
        with pytest.raises(SystemExit) as exc:
            main(argv)
        out, err = capsys.readouterr()
        assert exc.value.code in (0, 1), err
        sections.append(json.loads(out)["thresholds"])
        if engine is not None:
            assert log, "the thresholds section made no pass through engine.local.feed"
    assert sections[0] == sections[1] == sections[2]
    assert sections[0]["scales"] == ["raw", "calibrated"]


def _logging(engine, log):
    def feed(source, *consumers):
        if all(isinstance(c, ThresholdCounts) for c in consumers):
            log.append(1)
            return engine(source, *consumers)
        return REAL_FEED(source, *consumers)  # other stages' consumers: the local loop

    return feed
