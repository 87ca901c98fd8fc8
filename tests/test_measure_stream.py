"""MeasureState and EdgeState: the audit's measurement as mergeable partial states over batches.

- equal (1e-12) to a plain-numpy reference of the audit's conventions, for every task and both binnings;
- chunk invariant (hypothesis: batch sizes 1, 7, 1000 and random cuts; merged in random trees), the
  replicate axis included; merge commutative and associative; serialisable without pickle;
- quantile edges from exact tables, or from a KLL sketch beyond the budget (reported as such).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli.audit import build_audit, measure
from calibcli.binning import assign_bins, quantile_edges, uniform_edges
from calibcli.engine.batches import Batch, InMemorySource
from calibcli.measure import BinEdges, EdgeState, MeasureState, measure_source, measure_state, source_edges
from calibcli.metrics import NLL_CLIP
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.stats.rng import hash_ids
from stats_helpers import STATS_SETTINGS, assert_arrays_close, batch_bounds, merge_tree

TASKS = [Task.BINARY, Task.MULTICLASS, Task.MULTILABEL, Task.TOP_LABEL]


def make(task: Task, n: int, seed: int, k: int = 4) -> Predictions:
    """Random predictions with ties, exact bin edges, 0 and 1 among the scores."""
    rs = np.random.default_rng(seed)
    k = 2 if task is Task.BINARY else k
    names = tuple(f"c{i}" for i in range(k))
    if task is Task.MULTILABEL:
        p = rs.choice(np.r_[rs.random(40), 0.0, 1.0, np.linspace(0, 1, 16)], size=(n, k))
        return Predictions(p, (rs.random((n, k)) < p).astype(np.int64), names, task, ScoreKind.PROBS)
    if task is Task.TOP_LABEL:
        conf = rs.choice(np.r_[np.round(rs.random(30) * 0.7 + 0.3, 2), 1.0, 0.4], size=n)
        pred = rs.integers(0, k, n)
        y = np.where(rs.random(n) < conf, pred, rs.integers(0, k, n))
        return Predictions(conf[:, None], y, names, task, ScoreKind.PROBS, pred_labels=pred)
    z = np.round(rs.normal(size=(n, k)) * 2, 1)  # rounded logits: tied probabilities
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[: n // 10] = np.eye(k)[rs.integers(0, k, n // 10)]  # saturated rows
    y = (rs.random(n)[:, None] < p.cumsum(axis=1)).argmax(axis=1)
    return Predictions(p, y, names, task, ScoreKind.PROBS)


# ------------------------------------------------------------------ reference


def _curve(conf, outcome, edges):
    idx = assign_bins(conf, edges)
    b = len(edges) - 1
    return (np.bincount(idx, minlength=b), np.bincount(idx, weights=conf, minlength=b),
            np.bincount(idx, weights=outcome.astype(float), minlength=b))


def _ece(count, sc, so):
    return np.abs(so - sc).sum() / count.sum() if count.sum() else np.nan


def _mce(count, sc, so):
    ok = count > 0
    return np.max(np.abs(so[ok] / count[ok] - sc[ok] / count[ok])) if ok.any() else np.nan


def _edges(values, n_bins, strategy):
    return uniform_edges(n_bins) if strategy == "uniform" else quantile_edges(values, n_bins)


def reference(p: Predictions, n_bins: int, strategy: str) -> dict:
    """The audit's conventions (DESIGN.md) computed directly on all rows with numpy."""
    k, n = p.n_classes, p.n_samples
    if p.task is Task.MULTILABEL:
        top = _curve(p.probs.ravel(), p.labels.ravel(), _edges(p.probs.ravel(), n_bins, strategy))
        cls = [_curve(p.probs[:, j], p.labels[:, j], _edges(p.probs[:, j], n_bins, strategy)) for j in range(k)]
        eces = np.array([_ece(*c) for c in cls])
        sq = ((p.probs - p.labels) ** 2).mean(axis=0)
        pc = np.where(p.labels > 0, p.probs, 1 - p.probs)
        return {"accuracy": np.mean((p.probs >= 0.5) == (p.labels > 0)), "ece": _ece(*top), "mce": _mce(*top),
                "ece_top_label": None,
                "classwise_ece": np.nanmean(eces), "brier": sq.sum(), "nll": (-np.log(np.maximum(pc, NLL_CLIP))).mean(axis=0).sum(),
                "top": top, "eces": eces, "briers": sq, "support": p.labels.sum(axis=0),
                "predicted": (p.probs >= 0.5).sum(axis=0)}
    conf, correct = p.confidence_and_correct()
    te = _edges(conf, n_bins, strategy)
    top = _curve(conf, correct, te)
    support = np.bincount(p.labels, minlength=k)
    if p.task is Task.TOP_LABEL:
        cls = [_curve(conf[p.pred_labels == j], correct[p.pred_labels == j], te) for j in range(k)]
        return {"accuracy": correct.mean(), "ece": _ece(*top), "mce": _mce(*top), "ece_top_label": _ece(*top),
                "classwise_ece": None, "brier": None,
                "nll": None, "top": top, "eces": np.array([_ece(*c) for c in cls]), "briers": None, "support": support,
                "predicted": np.bincount(p.pred_labels, minlength=k)}
    onehot = (p.labels[:, None] == np.arange(k)).astype(float)
    cls = [_curve(p.probs[:, j], onehot[:, j], te if strategy == "uniform" else _edges(p.probs[:, j], n_bins, strategy))
           for j in range(k)]
    eces = np.array([_ece(*c) for c in cls])
    briers = ((p.probs - onehot) ** 2).mean(axis=0)
    head = cls[1] if p.task is Task.BINARY else top  # binary: the headline is the positive class's curve
    return {"accuracy": correct.mean(), "ece": _ece(*head), "mce": _mce(*head), "ece_top_label": _ece(*top),
            "classwise_ece": eces.mean(),
            "brier": briers.sum(), "nll": -np.log(np.maximum(p.probs[np.arange(n), p.labels], NLL_CLIP)).mean(),
            "top": top, "eces": eces, "briers": briers, "support": support, "predicted": np.bincount(p.probs.argmax(1), minlength=k)}


def _close(a, b, rel=1e-12):
    if b is None or (isinstance(b, float) and np.isnan(b)):
        assert a is None or np.isnan(a)
    else:
        assert a == pytest.approx(float(b), rel=rel, abs=1e-15)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("batch_rows", [1, 7, 5000])
def test_measurement_equals_the_reference(task, strategy, batch_rows):
    p = make(task, 800 if batch_rows == 1 else 3000, seed=1)
    ref = reference(p, 10, strategy)
    m = measure_source(InMemorySource.from_predictions(p, batch_rows), 10, strategy)
    for key in ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll", "ece_top_label"):
        _close(getattr(m.metrics, key), ref[key])
    grouped = measure_source(InMemorySource.from_predictions(p, batch_rows), 10, strategy, intervals=True)
    for key in ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll", "ece_top_label"):  # the same numbers with groups
        _close(getattr(grouped.metrics, key), ref[key], rel=1e-9)
    count, sc, so = ref["top"]
    assert np.array_equal(m.reliability.count, count)
    np.testing.assert_allclose(m.reliability.sum_conf, sc, rtol=1e-12)
    np.testing.assert_allclose(m.reliability.sum_outcome, so, rtol=1e-12)
    for j, c in enumerate(m.classes):
        assert c.name == p.classes[j] and c.support == ref["support"][j] and c.predicted == ref["predicted"][j]
        _close(c.ece, ref["eces"][j])
        _close(c.brier, None if ref["briers"] is None else ref["briers"][j])
    one = measure(p, 10, strategy).metrics  # audit.measure: the same over one in-memory batch
    for key in ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll"):
        _close(getattr(one, key), getattr(m.metrics, key))


# ------------------------------------------------------------------ chunk invariance, merge


def _state(task, p, edges, reps, a, b, key_on_ids=False, ids=None):
    s = MeasureState(task, p.classes, edges, reps, seed=5, key_on_ids=key_on_ids)
    rows = np.arange(a, b)
    return s.update(Batch(p.subset(rows), rows, None if ids is None else ids[a:b]))


def _assert_same(a: MeasureState, b: MeasureState):
    assert_arrays_close(a.to_arrays(), b.to_arrays(), rtol=1e-9)
    ma, mb = a.finalize(), b.finalize()
    for key in ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll"):
        x, y = getattr(ma.metrics, key), getattr(mb.metrics, key)
        assert (x is None and y is None) or x == pytest.approx(y, rel=1e-9, nan_ok=True), key
    ra, rb = a.replicate_metrics(), b.replicate_metrics()
    assert ra.keys() == rb.keys()
    for key in ra:
        np.testing.assert_allclose(ra[key], rb[key], rtol=1e-9, equal_nan=True, err_msg=key)


@STATS_SETTINGS
@given(data=st.data(), task=st.sampled_from(TASKS), strategy=st.sampled_from(["uniform", "quantile"]),
       seed=st.integers(0, 2 ** 16))
def test_any_batching_and_merge_tree_gives_the_one_batch_state(data, task, strategy, seed):
    n = 1500
    p = make(task, n, seed)
    edges = source_edges(InMemorySource.from_predictions(p, n), 8, strategy)
    bounds = data.draw(batch_bounds(n))
    if strategy == "quantile":  # the first pass (edges) is chunk invariant too
        edge_parts = [EdgeState(task, p.n_classes, 8).update(Batch(p.subset(np.arange(a, b)), np.arange(a, b)))
                      for a, b in bounds]
        merged_edges = merge_tree(edge_parts, data.draw(st.randoms(use_true_random=False))).finalize()
        assert np.array_equal(merged_edges.top, edges.top) and merged_edges.exact
        assert (merged_edges.classes is None) == (edges.classes is None) == (task is Task.TOP_LABEL)
        for got, want in zip(merged_edges.classes or (), edges.classes or ()):
            assert np.array_equal(got, want)
    whole = _state(task, p, edges, 6, 0, n)
    parts = [_state(task, p, edges, 6, a, b) for a, b in bounds]
    _assert_same(merge_tree(parts, data.draw(st.randoms(use_true_random=False))), whole)


@pytest.mark.parametrize("task", TASKS)
def test_updates_in_any_batching_equal_one_update(task):
    p = make(task, 2000, 3)
    edges = BinEdges.uniform(12)
    whole = _state(task, p, edges, 9, 0, 2000)
    one_state = MeasureState(task, p.classes, edges, 9, seed=5)
    for batch in InMemorySource.from_predictions(p, 7).batches():
        one_state.update(batch)
    _assert_same(one_state, whole)


def test_merge_is_commutative_associative_and_in_place():
    p = make(Task.MULTICLASS, 900, 2)
    edges = BinEdges.uniform(10)

    def parts():
        return [_state(Task.MULTICLASS, p, edges, 4, a, a + 300) for a in (0, 300, 600)]

    s, t = parts(), parts()
    other_before = s[1].to_arrays()
    ab = s[0].merge(s[1])
    assert ab is s[0]  # in place (the pass-consumer contract), returning self
    assert_arrays_close(s[1].to_arrays(), other_before, rtol=0)  # the merged-in state is left as it was
    ba = t[1].merge(t[0])
    for key, value in ab.to_arrays().items():
        assert np.array_equal(value, ba.to_arrays()[key], equal_nan=np.asarray(value).dtype.kind == "f"), key  # + commutes exactly
    u, v = parts(), parts()
    _assert_same(u[0].merge(u[1]).merge(u[2]), v[0].merge(v[1].merge(v[2])))
    _assert_same(u[0], _state(Task.MULTICLASS, p, edges, 4, 0, 900))
    with pytest.raises(ValueError, match="cannot merge"):
        s[2].merge(MeasureState(Task.MULTICLASS, p.classes, edges, 4, seed=6))


def test_merge_leaves_no_arrays_shared_with_a_copy_taken_before():
    import copy

    p = make(Task.BINARY, 400, 2)
    edges = BinEdges.uniform(8)
    a, b = _state(Task.BINARY, p, edges, 3, 0, 200), _state(Task.BINARY, p, edges, 3, 200, 400)
    snapshot = copy.copy(a)  # shares a's arrays
    held = snapshot.to_arrays()
    a.merge(b)
    assert_arrays_close(snapshot.to_arrays(), held, rtol=0)


@pytest.mark.parametrize("task", TASKS)
def test_round_trip_through_arrays_without_pickle(task):
    import io

    p = make(task, 500, 4)
    edges = source_edges(InMemorySource.from_predictions(p, 500), 6, "quantile")
    s = _state(task, p, edges, 3, 0, 500)
    arrays = s.to_arrays()
    assert all(np.asarray(v).dtype != object for v in arrays.values())
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as npz:
        back = MeasureState.from_arrays({k: npz[k] for k in npz.files})
    _assert_same(back, s)
    assert back.finalize().classes[0].name == p.classes[0]


# ------------------------------------------------------------------ replicates


def test_replicates_keyed_on_rows_do_not_depend_on_row_order():
    p = make(Task.MULTICLASS, 1200, 6)
    edges = BinEdges.uniform(10)
    perm = np.random.default_rng(0).permutation(1200)
    whole = _state(Task.MULTICLASS, p, edges, 8, 0, 1200)
    shuffled = MeasureState(Task.MULTICLASS, p.classes, edges, 8, seed=5).update(Batch(p.subset(perm), perm))
    _assert_same(shuffled, whole)


def test_replicates_keyed_on_ids_give_the_same_item_the_same_weight():
    """Two files listing the same items in different orders: with ids, the replicates agree (paired, no join)."""
    p = make(Task.BINARY, 1000, 7)
    ids = np.array([f"item-{i}" for i in range(1000)])
    perm = np.random.default_rng(1).permutation(1000)
    edges = BinEdges.uniform(10)
    a = MeasureState(Task.BINARY, p.classes, edges, 8, seed=2, key_on_ids=True).update(Batch(p, np.arange(1000), ids))
    b = MeasureState(Task.BINARY, p.classes, edges, 8, seed=2, key_on_ids=True).update(
        Batch(p.subset(perm), np.arange(1000), ids[perm]))
    _assert_same(a, b)
    by_rows = MeasureState(Task.BINARY, p.classes, edges, 8, seed=2).update(Batch(p.subset(perm), np.arange(1000)))
    assert not np.allclose(by_rows.replicate_metrics()["ece"], a.replicate_metrics()["ece"])
    assert hash_ids(ids).dtype == np.uint64
    with pytest.raises(ValueError, match="ids"):
        MeasureState(Task.BINARY, p.classes, edges, 2, key_on_ids=True).update(Batch(p, np.arange(1000)))


def test_class_replicates_are_optional():
    p = make(Task.MULTICLASS, 600, 8)
    s = MeasureState(Task.MULTICLASS, p.classes, BinEdges.uniform(10), 5, replicate_classes=False)
    got = s.update(Batch(p, np.arange(600))).replicate_metrics()
    assert set(got) == {"ece", "mce", "accuracy", "brier", "nll", "ece_top_label"}
    full = _state(Task.MULTICLASS, p, BinEdges.uniform(10), 5, 0, 600).replicate_metrics()
    assert {"classwise_ece", "class_ece"} <= set(full)


# ------------------------------------------------------------------ quantile edges: exact or sketched


def test_edges_beyond_the_budget_come_from_a_sketch_and_say_so():
    p = make(Task.MULTICLASS, 4000, 9)
    src = InMemorySource.from_predictions(p, 500)
    exact = source_edges(src, 10, "quantile")
    sketched = source_edges(src, 10, "quantile", max_distinct=50)
    assert exact.exact and exact.rank_error is None
    assert not sketched.exact and 0 < sketched.rank_error < 0.02
    conf, _ = p.confidence_and_correct()
    # every sketched edge is a j/B quantile to within the stated rank error: F(e-) - err <= j/B <= F(e) + err
    err, targets = sketched.rank_error, np.arange(1, 10) / 10
    for e in sketched.top[1:-1]:
        below, upto = np.mean(conf < e), np.mean(conf <= e)
        assert np.any((below - err <= targets) & (targets <= upto + err)), e
    m = measure_state(src, sketched).finalize()
    assert np.array_equal(m.reliability.edges, sketched.top)


def test_audit_report_says_whether_edges_were_exact():
    p = make(Task.BINARY, 300, 10)
    report = build_audit(InMemorySource.from_predictions(p, 64), 10, "quantile")
    assert report.binning.edges_exact and report.binning.edges_rank_error is None
    assert report.input.n_samples == 300
    assert report.measurement.metrics.ece == pytest.approx(measure(p, 10, "quantile").metrics.ece, rel=1e-12)


def test_empty_state_finalizes_to_undefined_metrics():
    m = MeasureState(Task.MULTICLASS, ("a", "b", "c"), BinEdges.uniform(5)).finalize()
    assert np.isnan(m.metrics.ece) and np.isnan(m.metrics.accuracy)
    assert all(c.ece is None and c.support == 0 for c in m.classes)


def test_random_merge_tree_of_single_row_states():
    p = make(Task.TOP_LABEL, 60, 11)
    edges = BinEdges.uniform(6)
    parts = [_state(Task.TOP_LABEL, p, edges, 3, i, i + 1) for i in range(60)]
    _assert_same(merge_tree(parts, random.Random(0)), _state(Task.TOP_LABEL, p, edges, 3, 0, 60))


def test_a_missing_id_is_an_input_error_naming_the_row():
    from calibcli.errors import InputError
    from calibcli.gate import PairingFingerprint

    p = make(Task.BINARY, 5, 12)
    ids = np.array(["a", "b", None, "d", "e"], dtype=object)
    batch = Batch(p, np.arange(10, 15), ids)
    with pytest.raises(InputError, match="first at data row 13"):
        MeasureState(Task.BINARY, p.classes, BinEdges.uniform(4), 2, key_on_ids=True).update(batch)
    with pytest.raises(InputError, match="empty value"):
        PairingFingerprint(2, by_id=True).update(batch)
