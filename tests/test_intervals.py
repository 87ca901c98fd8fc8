"""Intervals on every number: the grouped Poisson bootstrap, basic intervals, noise floors, their outputs.

- the grouped state (bootstrap blocks) is chunk invariant and mergeable in any tree (engine contract),
  keyed on row keys or on id hashes (a paired baseline puts an item in the same group on both sides);
- its replicates spread like the per-row Poisson bootstrap's;
- the noise floor is the ECE of a calibrated model with these scores; a calibrated model's ECE interval
  starts at 0, a miscalibrated one's covers the population value;
- intervals reach JSON (valid against ``calib schema``), the terminal and Markdown.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli.engine.batches import Batch, InMemorySource
from calibcli.measure import DEFAULT_BLOCKS, BinEdges, MeasureState, measure_source, measure_state
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.stats.bins import BinStats
from calibcli.stats.intervals import basic_interval, noise_floor_ece, percentile_interval
from calibcli.stats.rng import group_of, hash_ids
from stats_helpers import STATS_SETTINGS, assert_arrays_close, batch_bounds, merge_tree
from test_measure_stream import TASKS, make

R = 40


def _grouped(task, p, edges, a, b, key_on_ids=False, ids=None):
    s = MeasureState(task, p.classes, edges, R, seed=3, key_on_ids=key_on_ids, n_blocks=32)
    rows = np.arange(a, b)
    return s.update(Batch(p.subset(rows), rows, None if ids is None else ids[a:b]))


def _same(a: MeasureState, b: MeasureState) -> None:
    assert_arrays_close(a.to_arrays(), b.to_arrays(), rtol=1e-9)
    ma, mb = a.finalize(), b.finalize()
    assert ma.intervals.keys() == mb.intervals.keys()
    for key, iv in ma.intervals.items():
        other = mb.intervals[key]
        assert (iv is None) == (other is None), key
        if iv is not None:
            np.testing.assert_allclose(iv, other, rtol=1e-9, atol=1e-12, err_msg=key)
    for ca, cb in zip(ma.classes, mb.classes):
        for key in ca.intervals:
            if ca.intervals[key] is not None:
                np.testing.assert_allclose(ca.intervals[key], cb.intervals[key], rtol=1e-9, atol=1e-12)
    assert ma.noise_floor.keys() == mb.noise_floor.keys()
    for key, x in ma.noise_floor.items():
        y = mb.noise_floor[key]
        assert (x is None and y is None) or x == pytest.approx(y, rel=1e-9), key


@STATS_SETTINGS
@given(data=st.data(), task=st.sampled_from(TASKS), seed=st.integers(0, 2 ** 16), by_id=st.booleans())
def test_grouped_state_is_chunk_invariant_and_mergeable_in_any_tree(data, task, seed, by_id):
    n = 1200
    p = make(task, n, seed)
    ids = np.array([f"item-{i}" for i in range(n)], dtype=object) if by_id else None
    edges = BinEdges.uniform(8)
    whole = _grouped(task, p, edges, 0, n, by_id, ids)
    parts = [_grouped(task, p, edges, a, b, by_id, ids) for a, b in data.draw(batch_bounds(n))]
    _same(merge_tree(parts, data.draw(st.randoms(use_true_random=False))), whole)


def test_an_unfed_grouped_state_deep_copies_to_an_empty_replica_and_round_trips():
    p = make(Task.MULTICLASS, 500, 1)
    s = MeasureState(Task.MULTICLASS, p.classes, BinEdges.uniform(10), R, n_blocks=16)
    replica = copy.deepcopy(s)
    fed = s.update(Batch(p, np.arange(500)))
    assert replica.block_scalars.sum() == 0 and all(v.sum() == 0 for v in replica.top.blocks.values())
    back = MeasureState.from_arrays(fed.to_arrays())
    _same(back, fed)


def test_paired_files_keyed_on_ids_put_an_item_in_the_same_group_whatever_its_row():
    """The same ids in another order give the same replicates: a paired baseline needs no join."""
    p = make(Task.MULTICLASS, 800, 4)
    ids = np.array([f"id{i}" for i in range(800)], dtype=object)
    perm = np.random.default_rng(0).permutation(800)
    edges = BinEdges.uniform(10)
    a = MeasureState(Task.MULTICLASS, p.classes, edges, R, key_on_ids=True, n_blocks=64).update(Batch(p, np.arange(800), ids))
    b = MeasureState(Task.MULTICLASS, p.classes, edges, R, key_on_ids=True, n_blocks=64).update(
        Batch(p.subset(perm), np.arange(800), ids[perm]))
    ra, rb = a.replicate_metrics(), b.replicate_metrics()
    for key in ("ece", "mce", "classwise_ece", "accuracy", "brier"):
        np.testing.assert_allclose(ra[key], rb[key], rtol=1e-9, err_msg=key)
    assert np.array_equal(group_of(hash_ids(ids), 64)[perm], group_of(hash_ids(ids[perm]), 64))


def test_grouped_replicates_spread_like_the_per_row_bootstrap():
    """Standard deviations of the replicate metrics: grouped (128 groups) vs per-row Poisson(1), 200 each."""
    rs = np.random.default_rng(7)
    n, k = 6000, 4
    z = rs.normal(0, 1.5, (n, k))
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = (rs.random(n)[:, None] < np.cumsum(np.exp(z / 1.5) / np.exp(z / 1.5).sum(axis=1, keepdims=True), axis=1)).argmax(axis=1)
    p = Predictions(probs, y, tuple("abcd"), Task.MULTICLASS, ScoreKind.PROBS)
    src = InMemorySource.from_predictions(p, 2000)
    edges = BinEdges.uniform(15)
    grouped = measure_state(src, edges, 200, 1, n_blocks=DEFAULT_BLOCKS).replicate_metrics()
    per_row = measure_state(src, edges, 200, 1).replicate_metrics()
    for key in ("ece", "classwise_ece", "accuracy", "brier", "nll"):
        ratio = np.std(grouped[key]) / np.std(per_row[key])
        assert 0.75 < ratio < 1.33, (key, ratio)


def _binary(n: int, seed: int, slope: float) -> Predictions:
    rs = np.random.default_rng(seed)
    q = rs.beta(1.2, 2.5, n)
    true = 1 / (1 + np.exp(-slope * np.log(q / (1 - q))))
    y = (rs.random(n) < true).astype(np.int64)
    return Predictions(np.column_stack([1 - q, q]), y, ("neg", "pos"), Task.BINARY, ScoreKind.PROBS)


def test_noise_floor_is_the_mean_ece_of_a_calibrated_model_with_these_scores():
    p = _binary(5000, 0, 1.0)
    m = measure_source(InMemorySource.from_predictions(p, 5000), intervals=True)
    q = p.probs[:, 1]
    rs = np.random.default_rng(1)
    sims = []
    for _ in range(300):  # outcomes redrawn from the scores: a perfectly calibrated model
        y = (rs.random(q.size) < q).astype(float)
        sims.append(float(BinStats.uniform(15).update(q, y).finalize().ece[0]))
    assert m.noise_floor["ece"] == pytest.approx(np.mean(sims), rel=0.1)
    assert m.metrics.ece < 2.5 * m.noise_floor["ece"]  # a calibrated model's plug-in ECE is mostly noise


def test_a_calibrated_models_interval_starts_at_zero_and_a_miscalibrated_one_excludes_zero():
    cal = measure_source(InMemorySource.from_predictions(_binary(4000, 3, 1.0), 4000), intervals=True)
    assert cal.metrics.ece > 0 and cal.intervals["ece"][0] == 0.0
    bad = measure_source(InMemorySource.from_predictions(_binary(4000, 3, 0.5), 4000), intervals=True)
    lo, hi = bad.intervals["ece"]
    assert 0 < lo <= hi and hi < bad.metrics.ece + 0.05
    assert bad.interval_info.replicates == 200 and bad.interval_info.groups == DEFAULT_BLOCKS


def test_basic_interval_removes_the_bias_the_percentile_interval_adds():
    """Replicates centred above a biased plug-in: the percentile interval sits above it, the basic one below."""
    reps = np.linspace(0.05, 0.07, 101)
    assert percentile_interval(reps)[0] > 0.04
    assert basic_interval(0.05, reps)[1] == pytest.approx(0.05, abs=1e-3)


def test_noise_floor_formula_on_a_hand_case():
    # one bin of 100 rows at p = 0.5: sd of the gap 0.05, E|gap| = 0.05 * sqrt(2/pi)
    assert float(noise_floor_ece(np.array([100.0]), np.array([50.0]), np.array([25.0]))) == pytest.approx(
        0.05 * np.sqrt(2 / np.pi))


@pytest.mark.parametrize("name", ["binary.csv", "multiclass_probs.csv", "multilabel.csv", "top_label.csv"])
def test_json_has_an_interval_for_every_metric_and_class_and_validates(name):
    from jsonschema import validate

    from calibcli.schema import report_schema
    from cli_helpers import run
    from conftest import SAMPLES

    res = run(["audit", SAMPLES / name, "--format", "json", "--no-calibration"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    validate(d, report_schema())
    assert set(d["intervals"]) == set(d["metrics"])
    for key, value in d["metrics"].items():
        assert (value is None) == (d["intervals"][key] is None), key
        if value is not None and key not in ("ece", "mce", "classwise_ece", "ece_top_label"):
            lo, hi = d["intervals"][key]
            assert lo <= hi
    assert d["interval_method"]["method"] == "basic bootstrap" and d["interval_method"]["seed"] == 0
    for c in d["classes"]:
        assert (c["ece"] is None) == (c["intervals"]["ece"] is None)
    if name == "binary.csv":
        assert d["metrics"]["ece"] == pytest.approx(d["classes"][1]["ece"])
        assert d["metrics"]["ece_top_label"] is not None and d["noise_floor"]["ece"] > 0


def test_terminal_and_markdown_show_intervals(tmp_path):
    from cli_helpers import run
    from conftest import SAMPLES

    res = run(["audit", SAMPLES / "binary.csv", "--no-calibration", "--md-out", tmp_path / "r.md"])
    assert res.exit_code == 0, res.output
    assert "value [95% interval]" in res.stdout and "top-label ECE" in res.stdout and "noise floor" in res.stdout
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "| metric | value | 95% interval | noise floor |" in md and "ECE (positive class)" in md


def test_upper_gate_needs_no_pass_beyond_the_audit():
    """--on upper forms its replicates from the audit's grouped sums: a source that cannot be read is never read."""
    from calibcli.gate import evaluate_gate, parse_rule

    p = make(Task.MULTICLASS, 1500, 6)
    src = InMemorySource.from_predictions(p, 500)
    m = measure_source(src, 10, intervals=True)

    class Unreadable(InMemorySource):
        def batches(self):
            raise AssertionError("read again")

    g = evaluate_gate(Unreadable(p, src.info, 500), m, [parse_rule("ece > 0.5"), parse_rule("class_ece > 0.5")],
                      on="upper", replicates=200, seed=0)
    assert g.rules[0].interval == pytest.approx(m.intervals["ece"])
    assert all(r.interval is not None for r in g.rules)


def test_quantile_bins_with_different_bin_counts_per_class_get_intervals():
    """Per-class equal-mass edges may give classes different numbers of bins (ties): replicates and floors pad them."""
    rs = np.random.default_rng(2)
    n = 600
    c = np.where(rs.random(n) < 0.5, 0.1, 0.2)  # class c: two distinct values only, so fewer bins
    a = rs.random(n) * (1 - c)
    probs = np.column_stack([a, 1 - c - a, c])
    y = rs.integers(0, 3, n)
    p = Predictions(probs, y, ("a", "b", "c"), Task.MULTICLASS, ScoreKind.PROBS)
    m = measure_source(InMemorySource.from_predictions(p, 100), 8, "quantile", intervals=True)
    assert len({cl.reliability.count.size for cl in m.classes}) > 1
    assert all(cl.intervals["ece"] is not None and cl.noise_floor is not None for cl in m.classes)
    assert m.intervals["classwise_ece"] is not None
