"""Calibrators and the audit's calibration stage over a BatchSource: the same numbers for any batch size
(1, 7, random), exact in-memory fits and warm-started Newton passes, mergeable states, row-keyed rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibcli.calibration_stage import evaluate_calibration
from calibcli.calibrator_file import DataFingerprint, data_fingerprint, read_calibrator_file
from calibcli.calibrators import METHOD_NAMES, fit_calibrator
from calibcli.calibrators import isotonic as isotonic_mod
from calibcli.calibrators import rows as rows_mod
from calibcli.calibrators.fit_all import fit_on_all_rows
from calibcli.calibrators.fit_passes import FitFacts, fit_source, method_fit
from calibcli.calibrators.rows import FitLayout, RowsView
from calibcli.calibrators.temperature import fit_temperature
from calibcli.engine.batches import Batch, InMemorySource
from calibcli.predictions import Predictions, ScoreKind, Task, sigmoid, softmax
from calibcli.stats.rng import fold_of
from tests.cli_helpers import run

REL = 1e-9


def make(task: Task, n: int, k: int, seed: int = 0, t_true: float = 2.0, logits: bool = True) -> Predictions:
    """Overconfident scores (labels drawn at temperature ``t_true``)."""
    rng = np.random.default_rng(seed)
    names = tuple(f"c{j}" for j in range(k))
    z = rng.normal(size=(n, k)) * 3
    if task is Task.MULTILABEL:
        y = (rng.random((n, k)) < sigmoid(z / t_true)).astype(np.int64)
        return Predictions(sigmoid(z), y, names, task, ScoreKind.LOGITS if logits else ScoreKind.PROBS,
                           logits=z if logits else None)
    y = np.minimum((softmax(z / t_true).cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1), k - 1)
    return Predictions(softmax(z), y, names, task, ScoreKind.LOGITS if logits else ScoreKind.PROBS,
                       logits=z if logits else None)


CASES = [(Task.BINARY, 2), (Task.MULTICLASS, 4), (Task.MULTILABEL, 3)]


def close(a, b, rel: float = REL) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rel * np.maximum(1.0, np.abs(b))))


def same_dicts(a, b, rel: float = REL, where: str = "") -> None:
    """Equal nested JSON-like data, numbers to ``rel`` (relative; absolute below 1)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            same_dicts(a[key], b[key], rel, f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same_dicts(x, y, rel, f"{where}[{i}]")
    elif isinstance(a, (float, int)) and not isinstance(a, bool) and a is not None:
        assert isinstance(b, (float, int)) and (close(a, b, rel) or (np.isnan(a) and np.isnan(b))), (where, a, b)
    else:
        assert a == b, (where, a, b)


# -- every method and task: the same calibrator for any batch size -------------------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), method=st.sampled_from(METHOD_NAMES), batch=st.sampled_from([1, 7, 13, 64]),
       seed=st.integers(0, 1000), logits=st.booleans())
def test_fitted_calibrators_do_not_depend_on_batch_size(case, method, batch, seed, logits):
    task, k = case
    p = make(task, 90, k, seed, logits=logits)
    one = fit_calibrator(method, p).to_dict()["params"]
    other = fit_calibrator(method, p, batch_rows=batch).to_dict()["params"]
    same_dicts(other, one)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), batch=st.sampled_from([1, 7, 29]), seed=st.integers(0, 1000),
       scheme=st.sampled_from(["cross-fit", "split", "fit-on"]))
def test_calibration_stage_does_not_depend_on_batch_size(case, batch, seed, scheme):
    task, k = case
    p = make(task, 120, k, seed)
    methods = ("temperature", "platt", "isotonic", "histogram", "vector")
    kw = {"split": 0.5} if scheme == "split" else {"fit_on": make(task, 80, k, seed + 1)} if scheme == "fit-on" else {}
    a = evaluate_calibration(p, methods, n_boot=20, seed=seed, **kw)
    b = evaluate_calibration(p, methods, n_boot=20, seed=seed, batch_rows=batch, **kw)
    da, db = a.to_dict(), b.to_dict()
    da["fit"].pop("passes"), db["fit"].pop("passes")
    same_dicts(db, da)


def test_per_label_stage_does_not_depend_on_batch_size():
    p = make(Task.MULTILABEL, 150, 3, 5)
    a = evaluate_calibration(p, per_label=True, n_boot=20).to_dict()
    b = evaluate_calibration(p, per_label=True, n_boot=20, batch_rows=7).to_dict()
    same_dicts(b, a)
    assert len(a["temperatures"]) == 3 and len(a["fit"]["fold_temperatures"]) == 2


# -- many rows: warm start on the sample, then Newton passes (made small by shrinking the sample) -------------
@pytest.fixture
def small_sample(monkeypatch):
    """A sample of about 60 rows: files of a few hundred rows take the many-rows path (warm start + passes)."""
    monkeypatch.setattr(rows_mod, "SAMPLE_ROWS", 60)
    monkeypatch.setattr(rows_mod, "MIN_SAMPLE_ROWS", 10)


@pytest.mark.parametrize("task, k", CASES)
def test_many_rows_path_equals_exact_fit_and_any_batch_size(small_sample, task, k):
    p = make(task, 900, k, 3)
    runs = [evaluate_calibration(p, n_boot=20, batch_rows=b) for b in (1000, 7, 64)]
    assert runs[0].fit["passes"] >= 3  # pass 1, at least one Newton pass, the after pass
    for r in runs[1:]:
        da, db = runs[0].to_dict(), r.to_dict()
        same_dicts(db, da)
    # the fold temperatures are their folds' optima (Newton tolerance 1e-6 over a source), the all-rows T
    # (from the folds' sums, no pass of its own) the exact all-rows fit
    folds = fold_of(0, np.arange(p.n_samples), 2)
    z = p.logits
    y = p.labels.astype(float) if task is Task.MULTILABEL else p.labels
    for f, t in enumerate(runs[0].fit["fold_temperatures"]):
        exact = fit_temperature(z[folds != f], y[folds != f], task).temperature[0]
        assert abs(1 / t - 1 / exact) <= 1e-6 * (1 / exact)
    exact_all = fit_temperature(z, y, task).temperature[0]
    assert abs(1 / runs[0].temperature - 1 / exact_all) <= 1e-6 * (1 / exact_all)


def test_all_rows_temperature_from_the_fold_sums_is_the_exact_fit(monkeypatch):
    """Fold fits within 1% of the all-rows fit: the all-rows T needs no pass of its own (third-order expansion
    of the fold sums), and is the exact all-rows fit to 1e-9."""
    monkeypatch.setattr(rows_mod, "SAMPLE_ROWS", 5_000)  # 40,000 rows: the many-rows path
    p = make(Task.MULTICLASS, 40_000, 4, 11)
    a, b = (evaluate_calibration(p, n_boot=20, batch_rows=r) for r in (20_000, 999))
    same_dicts(b.to_dict(), a.to_dict())
    assert all(abs(1 / t - 1 / a.temperature) < 0.01 / a.temperature for t in a.fit["fold_temperatures"])
    assert a.fit["passes"] <= 4  # pass 1, one or two Newton passes of the folds, the after pass
    exact_all = fit_temperature(p.logits, p.labels, Task.MULTICLASS).temperature[0]
    assert abs(1 / a.temperature - 1 / exact_all) <= 1e-9 * (1 / exact_all)


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_many_rows_fit_of_every_method_any_batch_size(small_sample, method):
    p = make(Task.MULTICLASS, 700, 3, 8)
    exact = fit_calibrator(method, p, batch_rows=700)  # sample of ~60 rows: a warm start, then passes
    for b in (1, 50):
        same_dicts(fit_calibrator(method, p, batch_rows=b).to_dict()["params"], exact.to_dict()["params"])


def test_many_rows_platt_and_vector_reach_the_exact_optimum(small_sample, monkeypatch):
    p = make(Task.MULTICLASS, 700, 3, 8)
    streamed = {m: fit_calibrator(m, p) for m in ("platt", "vector")}
    monkeypatch.setattr(rows_mod, "SAMPLE_ROWS", 50_000)  # every row in the sample: exact in memory
    for m, cal in streamed.items():
        exact = fit_calibrator(m, p)
        same_dicts(cal.to_dict()["params"], exact.to_dict()["params"], rel=1e-6)


def test_isotonic_beyond_its_budget_is_approximate_and_says_so(small_sample, monkeypatch):
    monkeypatch.setattr(isotonic_mod, "MAX_DISTINCT", 50)
    monkeypatch.setattr(isotonic_mod, "MIN_TABLE", 50)
    p = make(Task.BINARY, 600, 2, 4, logits=False)
    src = InMemorySource.from_predictions(p, 37)
    fit = method_fit("isotonic", FitLayout(), src.info)
    run_ = fit_source(src, FitLayout(), {"isotonic": fit})
    assert run_.passes == 2 and "approximate" in fit.info()["isotonic_fit"]
    cal = fit.calibrator(0)
    assert 10 < len(cal.x[0]) < 100 and np.all(np.diff(cal.y[0]) >= 0)
    again = method_fit("isotonic", FitLayout(), src.info)
    fit_source(InMemorySource.from_predictions(p, 5), FitLayout(), {"isotonic": again})
    same_dicts(again.calibrator(0).to_dict(), cal.to_dict())
    out = fit_on_all_rows(p, "isotonic")
    assert "approximate" in out.info["isotonic_fit"]


# -- states: merge is associative, and equals one update over all rows ----------------------------------------
def _views(p: Predictions, layout: FitLayout, cuts: list[int]):
    keys = np.arange(p.n_samples, dtype=np.uint64)
    bounds = [0, *cuts, p.n_samples]
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = np.arange(a, b)
        yield RowsView(p.subset(idx), keys[idx], layout.fit_layers(keys[idx]))


def _arrays(state) -> dict:
    if hasattr(state, "to_arrays"):
        return state.to_arrays()
    return {k: v for k, v in vars(state).items() if isinstance(v, (np.ndarray, int, float))}


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(1, 89), min_size=2, max_size=2, unique=True).map(sorted),
       method=st.sampled_from(["temperature", "platt", "vector", "isotonic", "histogram"]))
def test_pass_states_merge_associatively(cuts, method):
    p = make(Task.MULTICLASS, 90, 3, 2)
    layout = FitLayout("cross-fit", 2, seed=3)
    info = InMemorySource.from_predictions(p).info

    def fresh():
        f = method_fit(method, layout, info, with_all=method == "temperature")
        whole = next(_views(p, layout, []))
        first = f.first_state().update(whole)
        f.start(first, whole, False)  # a warm start: the passes still iterate
        return f

    f = fresh()
    parts = [f.first_state().update(v) for v in _views(p, layout, cuts)]
    left, right = parts[0].merge(parts[1]).merge(parts[2]), parts[0].merge(parts[1].merge(parts[2]))
    whole = f.first_state().update(next(_views(p, layout, [])))
    for a in (left, right):
        for key, value in _arrays(whole).items():
            assert close(_arrays(a)[key], value), key
    state = f.pass_state()
    if state is None:
        return
    parts = [f.pass_state().update(v) for v in _views(p, layout, cuts)]
    left, right = parts[0].merge(parts[1]).merge(parts[2]), parts[0].merge(parts[1].merge(parts[2]))
    whole = f.pass_state().update(next(_views(p, layout, [])))
    for a in (left, right):
        sa, sw = getattr(a, "sums"), getattr(whole, "sums")
        if isinstance(sw, dict):
            for key in sw:
                assert close(sa[key], sw[key]), key
        elif hasattr(sw, "sums"):
            assert close(sa.sums, sw.sums) and np.array_equal(sa.rows, sw.rows)
        else:
            assert close(np.nan_to_num(sa), np.nan_to_num(sw))


def test_fit_facts_and_sample_merge():
    p = make(Task.MULTILABEL, 60, 3, 1)
    layout = FitLayout("cross-fit", 3, seed=1)
    views = list(_views(p, layout, [20, 41]))
    parts = [FitFacts(3, 3, Task.MULTILABEL).update(v) for v in views]
    whole = FitFacts(3, 3, Task.MULTILABEL).update(next(_views(p, layout, [])))
    m = parts[2].merge(parts[0]).merge(parts[1])
    assert np.array_equal(m.rows, whole.rows) and np.array_equal(m.class_counts, whole.class_counts)
    assert m.rows.sum() == 2 * 60  # each row fits two of three fold models
    s = [rows_mod.RowSample(0, 0.5).update(v.preds, v.keys) for v in views]
    merged = s[1].merge(s[2]).merge(s[0]).finalize()
    direct = rows_mod.RowSample(0, 0.5).update(p, np.arange(60, dtype=np.uint64)).finalize()
    assert np.array_equal(merged[1], direct[1]) and np.array_equal(merged[0].logits, direct[0].logits)


# -- row-keyed rows: folds, fingerprint, out-of-fold calibration ----------------------------------------------
def test_out_of_fold_calibration_of_any_batch_equals_the_whole():
    p = make(Task.MULTICLASS, 200, 3, 6)
    r = evaluate_calibration(p, ("temperature", "isotonic"), n_boot=10)
    whole = r.out_of_fold.calibrate(Batch(p, np.arange(200)), "isotonic")
    part = r.out_of_fold.calibrate(Batch(p.subset(np.arange(50, 90)), np.arange(50, 90)), "isotonic")
    assert np.array_equal(part.probs, whole.probs[50:90])
    folds = fold_of(0, np.arange(200), 2)
    for f in range(2):  # fold f is scored by the model fitted on the other fold
        cal = fit_calibrator("isotonic", p.subset(np.flatnonzero(folds != f)))
        rows = np.flatnonzero(folds == f)
        assert np.allclose(whole.probs[rows], cal.transform(p.subset(rows)).probs, atol=1e-12)
    assert np.array_equal(r.calibrated.probs, r.out_of_fold.calibrate(Batch(p, np.arange(200)), "temperature").probs)
    raw, cal = r.calibrate_batch(Batch(p.subset(np.arange(10, 30)), np.arange(10, 30)))
    assert np.array_equal(raw.rows, np.arange(10, 30)) and np.array_equal(cal.predictions.probs, r.calibrated.probs[10:30])


def test_split_calibrates_only_held_out_rows_of_a_batch():
    p = make(Task.BINARY, 300, 2, 12)
    r = evaluate_calibration(p, split=0.4, n_boot=10)
    from calibcli.stats.rng import in_split

    drawn = in_split(0, np.arange(300), 0.4)
    raw, cal = r.calibrate_batch(Batch(p.subset(np.arange(100, 200)), np.arange(100, 200)))
    assert np.array_equal(raw.rows, 100 + np.flatnonzero(~drawn[100:200]))
    assert np.array_equal(r.evaluated_rows, np.flatnonzero(~drawn)) and r.fit["evaluated_rows"] == int((~drawn).sum())


def test_id_column_keys_folds_on_the_ids():
    """With an id column the folds follow the ids, not the positions: reordered rows keep their folds."""
    p = make(Task.BINARY, 100, 2, 7)
    ids = np.array([f"item{i}" for i in range(100)])
    perm = np.random.default_rng(0).permutation(100)
    from calibcli.calibration_stage import run_calibration

    def src(preds, ids_):
        s = InMemorySource.from_predictions(preds, 16)
        s.ids = ids_
        return s

    a = run_calibration(src(p, ids), n_boot=10)
    b = run_calibration(src(p.subset(perm), ids[perm]), n_boot=10)
    assert close(a.fit["fold_temperatures"], b.fit["fold_temperatures"], 1e-9)
    assert close(a.temperature_ci, b.temperature_ci, 1e-9)


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 40))
def test_fingerprint_is_the_same_for_any_batch_size(batch):
    p = make(Task.MULTICLASS, 50, 3, 2)
    fp = DataFingerprint(p.classes)
    for a in range(0, 50, batch):
        fp.update(p.subset(np.arange(a, min(50, a + batch))))
    assert fp.finalize(["x"]) == data_fingerprint(p, ["x"])


def test_cli_fit_same_calibrator_for_any_batch_rows(tmp_path):
    p = make(Task.MULTICLASS, 300, 3, 9)
    path = tmp_path / "val.csv"
    pd.DataFrame({"label": p.labels, **{f"logit_{c}": p.logits[:, j] for j, c in enumerate(p.classes)}}).to_csv(path, index=False)
    docs = {}
    for method in METHOD_NAMES:
        for b in (1, 7, 65536):
            out = tmp_path / f"{method}{b}.json"
            res = run(["fit", path, "--method", method, "-o", out, "--batch-rows", b, "-q"])
            assert res.exit_code == 0, res.stderr
            docs[method, b] = json.loads(out.read_text())
        for b in (1, 7):
            same_dicts(docs[method, b]["calibrator"], docs[method, 65536]["calibrator"])
            assert docs[method, b]["fitted_on"] == docs[method, 65536]["fitted_on"]
            assert docs[method, b]["fit"]["engine"]["batch_rows"] == b
        assert read_calibrator_file(tmp_path / f"{method}7.json").calibrator.method == method


def test_cli_audit_same_calibration_for_any_batch_rows(tmp_path):
    p = make(Task.MULTICLASS, 250, 3, 10)
    path = tmp_path / "a.csv"
    pd.DataFrame({"label": p.labels, **{f"logit_{c}": p.logits[:, j] for j, c in enumerate(p.classes)}}).to_csv(path, index=False)
    got = []
    for b in (1, 7, 65536):
        res = run(["audit", path, "--format", "json", "--calibrators", "temperature,platt,isotonic", "--batch-rows", b])
        assert res.exit_code == 0, res.stderr
        cal = json.loads(res.stdout)["calibration"]
        cal["fit"].pop("passes")
        got.append(cal)
    same_dicts(got[1], got[2])
    same_dicts(got[0], got[2])


def test_default_audit_pass_count():
    """Up to about 400,000 rows (10 classes) the fits are exact in memory: pass 1 and the after pass."""
    r = evaluate_calibration(make(Task.MULTICLASS, 500, 3, 1), n_boot=10)
    assert r.fit["passes"] == 2
