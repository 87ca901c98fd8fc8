"""StatisticsBundle (issue 13): equals the per-statistic functions on real files per curve, chunk and merge
invariance, memory independent of rows, the budget plan, DeLong's variance and the result's JSON fragments."""

from __future__ import annotations

import copy
import math
import pickle
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli.bin_edges import BinEdges
from calibcli.engine.batches import Batch, InMemorySource
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.statistics.brier import brier_decomposition
from calibcli.statistics.calibration_error import ece_debiased, ece_l2
from calibcli.statistics.corp import corp_decomposition
from calibcli.statistics.cox import cox_calibration
from calibcli.statistics.discrimination import auroc, average_precision
from calibcli.statistics.ecce import ecce
from calibcli.statistics.finalize import delong_variance
from calibcli.statistics.hosmer_lemeshow import hosmer_lemeshow, hosmer_lemeshow_p
from calibcli.statistics.ici import ici
from calibcli.statistics.inputs import curve_arrays
from calibcli.statistics.plan import StatisticsBudget, plan_curves
from calibcli.statistics.result import STATISTICS
from calibcli.statistics.run import CoxPasses, corp_png, fit_cox_curves, measure_statistics
from calibcli.statistics.smooth import smece
from calibcli.statistics.spiegelhalter import spiegelhalter_p, spiegelhalter_z
from calibcli.statistics.bundle import StatisticsBundle
from calibcli.statistics.table import ScoreTable
from conftest import real
from tests.stats_helpers import STATS_SETTINGS, assert_arrays_close, batch_bounds, merge_tree

FAST = StatisticsBudget(n_replicates=0, max_full_classes=1)


def _preds(name: str) -> Predictions:
    d = pd.read_parquet(real(name))
    cols = [c for c in d.columns if c.startswith("p_")]
    probs = np.clip(d[cols].to_numpy(dtype=np.float64), 0.0, 1.0)
    probs = probs / probs.sum(axis=1, keepdims=True)
    task = Task.BINARY if len(cols) == 2 else Task.MULTICLASS
    return Predictions(probs, d["label"].to_numpy(), tuple(str(i) for i in range(len(cols))), task, ScoreKind.PROBS)


def _multilabel() -> Predictions:
    from pathlib import Path

    d = pd.read_csv(Path(__file__).resolve().parents[1] / "sample_data" / "multilabel.csv")
    names = [c[2:] for c in d.columns if c.startswith("p_")]
    return Predictions(d[[f"p_{n}" for n in names]].to_numpy(dtype=np.float64),
                       d[[f"y_{n}" for n in names]].to_numpy(dtype=np.int64), tuple(names), Task.MULTILABEL,
                       ScoreKind.PROBS)


def _expected(y, p, edges) -> dict[str, float]:
    cox = cox_calibration(y, p)
    bd = brier_decomposition(y, p, edges=edges)
    corp = corp_decomposition(y, p)
    out = {
        "ece_l2": ece_l2(y, p, edges=edges), "ece_debiased": ece_debiased(y, p), "smece": smece(y, p),
        "ecce": ecce(y, p).ecce, "spiegelhalter_z": spiegelhalter_z(y, p), "spiegelhalter_p": spiegelhalter_p(y, p),
        "hosmer_lemeshow": hosmer_lemeshow(y, p), "hosmer_lemeshow_p": hosmer_lemeshow_p(y, p),
        "cox_slope": cox.slope, "cox_intercept": cox.intercept, "calibration_in_the_large": cox.calibration_in_the_large,
        "brier_reliability": bd.reliability, "brier_resolution": bd.resolution, "brier_uncertainty": bd.uncertainty,
        "corp_mcb": corp.mcb, "corp_dsc": corp.dsc, "corp_unc": corp.unc, "auroc": auroc(y, p),
        "average_precision": average_precision(y, p),
    }
    return out


def _check_curve(cs, preds: Predictions, edges, with_ici: bool) -> None:
    p, y = curve_arrays(preds, cs.curve)
    want = _expected(y, p, edges)
    if with_ici:
        r = ici(y, p, n_bins=4096 if cs.class_index is None else 1024)
        want.update(ici=r.ici, e50=r.e50, e90=r.e90, emax=r.emax)
    for name, value in want.items():
        got = cs.values[name]
        if value is None or not math.isfinite(value):
            assert got is None, name
            continue
        tol = 1e-6 if name.startswith("cox") or name == "calibration_in_the_large" else 1e-9
        assert got == pytest.approx(value, rel=tol, abs=1e-12), (cs.curve, name)


@pytest.mark.parametrize("name", ["cleanlab_imdb_cv", "netcal_coco_faster-rcnn-resnet-50_iou0.60"])
def test_binary_real_files_equal_the_functions(name):
    preds = _preds(name)
    edges = BinEdges.uniform(15)
    src = InMemorySource.from_predictions(preds, 4096)
    r = measure_statistics(src, src.info, edges, budget=FAST)
    assert r.headline.curve == "positive" and r.classes == ()
    assert r.headline.exact
    _check_curve(r.headline, preds, edges.top, True)


def test_multiclass_real_file_equals_the_functions_per_curve():
    preds = _preds("plambda_cifar10_vgg16")
    edges = BinEdges.uniform(15)
    src = InMemorySource.from_predictions(preds, 3000)
    r = measure_statistics(src, src.info, edges, budget=FAST)
    assert r.headline.curve == "top" and [c.curve for c in r.classes] == list(range(10))
    _check_curve(r.headline, preds, edges.top, True)
    full = [c for c in r.classes if "ici" not in c.skipped]
    assert len(full) == 1 and all(c.skipped == ("ici", "e50", "e90", "emax", "corp_bands") for c in r.classes
                                  if c not in full)
    for c in r.classes:
        _check_curve(c, preds, edges.top, c in full)


def test_multilabel_sample_equals_the_functions_per_curve():
    preds = _multilabel()
    edges = BinEdges.uniform(10)
    src = InMemorySource.from_predictions(preds, 333)
    r = measure_statistics(src, src.info, edges, budget=StatisticsBudget(n_replicates=0, max_full_classes=4))
    assert r.headline.curve == "pooled" and r.headline.rows == preds.probs.size
    _check_curve(r.headline, preds, edges.top, True)
    for c in r.classes:
        _check_curve(c, preds, edges.top, True)


def test_quantile_edges_per_class_are_used():
    preds = _preds("plambda_cifar10_vgg16")
    e = BinEdges(np.linspace(0, 1, 11), tuple(np.r_[0.0, np.sort(np.unique(preds.probs[:, k]))[[100, 5000]], 1.0]
                                               for k in range(10)))
    b = StatisticsBundle(Task.MULTICLASS, preds.classes, e, budget=FAST).update(Batch(preds, np.arange(preds.n_samples)))
    r = b.finalize()
    p, y = curve_arrays(preds, 4)
    assert r.classes[4].values["ece_l2"] == pytest.approx(ece_l2(y, p, edges=e.of_class(4)), rel=1e-12)


# ---------------------------------------------------------------- engine contract


def _random_preds(n: int, seed: int, k: int = 3) -> Predictions:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2
    z = np.round(z, 1)  # ties
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(k, p=row) for row in probs])
    return Predictions(probs, labels, tuple("abc"[:k]), Task.MULTICLASS, ScoreKind.PROBS)


SMALL = StatisticsBudget(n_replicates=20, max_full_classes=1, group_bins=256, n_groups=16)


def _values(r):
    out = {}
    for cs in (r.headline, *r.classes):
        for k, v in cs.values.items():
            out[(str(cs.curve), k)] = v
        for k, v in cs.intervals.items():
            out[(str(cs.curve), k, "iv")] = v
    return out


def _close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if x is None or y is None:
            assert x is None and y is None, key
        else:
            np.testing.assert_allclose(np.asarray(x, dtype=float), np.asarray(y, dtype=float), rtol=1e-9, atol=1e-12,
                                       err_msg=str(key))


_REF: dict = {}


@given(st.data(), st.integers(0, 10_000))
@STATS_SETTINGS
def test_chunk_and_merge_invariance(data, seed):
    preds = _random_preds(700, 3)
    edges = BinEdges.uniform(8)
    if "whole" not in _REF:
        whole = StatisticsBundle(Task.MULTICLASS, preds.classes, edges, budget=SMALL).update(
            Batch(preds, np.arange(preds.n_samples)))
        _REF["whole"] = (whole.to_arrays(), _values(whole.finalize()))
    proto = StatisticsBundle(Task.MULTICLASS, preds.classes, edges, budget=SMALL)
    states = []
    for a, b in data.draw(batch_bounds(preds.n_samples)):
        s = copy.deepcopy(proto)  # an unfed replica
        states.append(s.update(Batch(preds.subset(slice(a, b)), np.arange(a, b))))
    rnd = random.Random(seed)
    rnd.shuffle(states)
    merged = merge_tree(states, rnd)
    arrays, values = _REF["whole"]
    assert_arrays_close(merged.to_arrays(), arrays, rtol=1e-9)
    _close(_values(merged.finalize()), values)


def test_merge_is_in_place_and_bundle_pickles():
    preds = _random_preds(300, 1)
    edges = BinEdges.uniform(5)
    a = StatisticsBundle(Task.MULTICLASS, preds.classes, edges, budget=SMALL)
    empty = copy.deepcopy(a)
    a.update(Batch(preds.subset(slice(0, 100)), np.arange(100)))
    b = copy.deepcopy(empty).update(Batch(preds.subset(slice(100, 300)), np.arange(100, 300)))
    assert a.merge(b) is a and a.rows == 300
    assert empty.rows == 0 and empty.curves[0].table.size == 0
    c = pickle.loads(pickle.dumps(a))
    _close(_values(c.finalize()), _values(a.finalize()))
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(StatisticsBundle(Task.MULTICLASS, preds.classes, BinEdges.uniform(6), budget=SMALL))


def test_cox_passes_consumer_merges_in_place():
    from calibcli.statistics.cox import CoxPass

    preds = _random_preds(200, 2)
    one = CoxPasses({"top": CoxPass(curve="top"), 0: CoxPass(curve=0)})
    two = copy.deepcopy(one)
    one.update(Batch(preds.subset(slice(0, 50)), np.arange(50)))
    two.update(Batch(preds.subset(slice(50, 200)), np.arange(50, 200)))
    whole = CoxPasses({"top": CoxPass(curve="top"), 0: CoxPass(curve=0)}).update(Batch(preds, np.arange(200)))
    assert one.merge(two) is one
    for key in ("top", 0):
        np.testing.assert_allclose(one.passes[key].sums, whole.passes[key].sums, rtol=1e-12)


def test_shared_cox_passes_equal_separate_fits():
    preds = _random_preds(500, 4)
    src = InMemorySource.from_predictions(preds, 128)
    fits, passes = fit_cox_curves(src, ["top", 0, 1, 2])
    for c in ("top", 0, 1, 2):
        p, y = curve_arrays(preds, c)
        ref = cox_calibration(y, p)
        assert fits[c].slope == pytest.approx(ref.slope, rel=1e-9)
        assert fits[c].citl_interval[0] == pytest.approx(ref.citl_interval[0], rel=1e-9)
    assert passes == max(f.passes for f in fits.values())


def test_memory_does_not_grow_with_rows():
    budget = StatisticsBudget(max_values=200_000, n_replicates=0, n_groups=8, group_bins=256)
    sizes = {}
    for n in (20_000, 80_000):
        rng = np.random.default_rng(n)
        z = rng.normal(size=(n, 4))
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        preds = Predictions(probs, rng.integers(0, 4, n), tuple("abcd"), Task.MULTICLASS, ScoreKind.PROBS)
        b = StatisticsBundle(Task.MULTICLASS, preds.classes, BinEdges.uniform(15), budget=budget)
        for a in range(0, n, 5000):
            b.update(Batch(preds.subset(slice(a, a + 5000)), np.arange(a, min(a + 5000, n))))
        arrays = b.to_arrays()
        total = sum(np.asarray(v).size for v in arrays.values())
        bound = sum(p.values for p in b.plans) + b.budget.n_groups * 5 * b.budget.group_bins + len(arrays)
        assert total <= bound <= 200_000 * 1.2, (n, total, bound)
        sizes[n] = {k: np.asarray(v).shape for k, v in arrays.items() if "table" not in k}
        r = b.finalize()
        assert not r.headline.exact and 0 < r.headline.resolution < 1e-3
    assert sizes[20_000] == sizes[80_000]


def test_budget_plan_shrinks_with_many_classes():
    small = plan_curves(Task.MULTICLASS, tuple(map(str, range(3))), BinEdges.uniform(15))
    big = plan_curves(Task.MULTICLASS, tuple(map(str, range(400))), BinEdges.uniform(15))
    assert small[0].fine_bins == 16384 and big[1].fine_bins == 1024
    assert big[1].n_groups == 1 and small[1].n_groups == 128  # no per-class bootstrap when K is large
    assert big[1].table_cells < small[1].table_cells
    assert sum(p.values for p in small) <= 4_000_000
    assert plan_curves(Task.BINARY, ("n", "y"), BinEdges.uniform(15))[0].label == "y"
    assert [p.curve for p in plan_curves(Task.TOP_LABEL, ("a", "b"), BinEdges.uniform(15))] == ["top"]


# ---------------------------------------------------------------- DeLong


def _delong_naive(y, s):
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc = psi.mean()
    return auc, v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_variance_equals_the_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    s = np.round(rng.uniform(size=300), 1 + seed)  # ties
    y = (rng.uniform(size=300) < s).astype(float)
    t = ScoreTable().update(s, y).finalize()
    auc, var = delong_variance(t)
    want_auc, want_var = _delong_naive(y, s)
    assert auc == pytest.approx(want_auc, rel=1e-12) and var == pytest.approx(want_var, rel=1e-10)


# ---------------------------------------------------------------- result


def test_result_dict_intervals_and_conventions(tmp_path):
    preds = _preds("netcal_coco_faster-rcnn-resnet-50_iou0.60")
    src = InMemorySource.from_predictions(preds, 5000)
    r = measure_statistics(src, src.info, BinEdges.uniform(15), seed=3,
                           budget=StatisticsBudget(n_replicates=40))
    d = r.to_dict()
    assert list(d["metrics"]) == list(STATISTICS) and list(d["intervals"]) == list(STATISTICS)
    for name in ("ece_l2", "ece_debiased", "smece", "ecce", "ici", "corp_mcb", "corp_dsc", "cox_slope",
                 "calibration_in_the_large", "auroc", "brier_reliability"):
        lo, hi = d["intervals"][name]
        assert lo <= hi, name
    assert d["intervals"]["spiegelhalter_z"] is None and "spiegelhalter_z" in d["conventions"]["statistics_no_interval"]
    for name in ("ece_debiased", "smece", "ecce", "ici", "corp_mcb"):
        lo, hi = d["intervals"][name]
        assert lo <= d["metrics"][name] + 0.02 and hi >= d["metrics"][name] - 0.02, name
    assert d["statistics"]["groups"] == 128 and d["statistics"]["replicates"] == 40
    import json

    json.dumps(d, allow_nan=False)
    assert corp_png(r, tmp_path / "corp.png") and (tmp_path / "corp.png").read_bytes()[:4] == b"\x89PNG"


def test_intervals_are_seeded_and_batch_invariant():
    preds = _preds("netcal_coco_faster-rcnn-resnet-50_iou0.60")
    budget = StatisticsBudget(n_replicates=30, max_full_classes=0)
    runs = []
    for rows, seed in ((5000, 1), (777, 1), (5000, 2)):
        src = InMemorySource.from_predictions(preds, rows)
        runs.append(measure_statistics(src, src.info, BinEdges.uniform(15), seed=seed, budget=budget, cox=False))
    a, b, c = (x.headline.intervals for x in runs)
    for name in ("smece", "ece_l2", "ecce"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-9)
    assert a["smece"] != c["smece"]


def test_top_label_files_have_the_top_curve_only():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, 500)
    pred = rng.integers(0, 3, 500)
    labels = np.where(rng.uniform(size=500) < conf, pred, (pred + 1) % 3)
    preds = Predictions(conf[:, None], labels, ("a", "b", "c"), Task.TOP_LABEL, ScoreKind.PROBS, pred_labels=pred)
    src = InMemorySource.from_predictions(preds, 128)
    r = measure_statistics(src, src.info, BinEdges.uniform(10), budget=FAST)
    assert r.headline.curve == "top" and r.classes == ()
    _check_curve(r.headline, preds, BinEdges.uniform(10).top, True)
