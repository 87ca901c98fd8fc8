"""Smooth ECE, CORP, ECCE and ICI (calibcli.statistics): peers, published values, hand cases, chunk invariance."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli.statistics.corp import CorpState, corp_decomposition, corp_diagram_from_tables
from calibcli.statistics.ecce import EcceState, brownian_range_cdf, ecce
from calibcli.statistics.ici import IciState, ici
from calibcli.statistics.smooth import FineHistogram, SmoothECEState, smece, smece_at
from tests.stats_helpers import STATS_SETTINGS, batch_bounds, merge_tree

DATA = Path(__file__).parent / "data"
REAL = DATA / "real"


def _rows(seed: int, n: int, ties: bool = False, power: float = 1.5):
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    if ties:
        p = np.round(p, 2)
    y = (rng.uniform(size=n) < p ** power).astype(float)
    return p, y, rng.uniform(0.2, 3.0, size=n)


def _real_curves():
    """(name, scores, outcomes) of real files: binary positive class, top-label curves, the belt models."""
    out = []
    belt = pd.read_csv(REAL / "calibration_belt_example" / "data.csv")
    out += [(f"belt_{c}", belt[c].to_numpy(float), belt.target.to_numpy(float)) for c in ("RLR", "NN")]
    for name in ("netcal_coco_faster-rcnn-resnet-50_iou0.60", "cleanlab_imdb_cv"):
        df = pd.read_parquet(REAL / name / "data.parquet")
        out.append((name, df.p_1.to_numpy(float), (df.label.to_numpy() == 1).astype(float)))
    for name in ("hollance_markus93_densenet40_c100", "netcal_cifar10_wrn16-4"):
        df = pd.read_parquet(REAL / name / "data.parquet")
        if "confidence" in df:
            out.append((name, df.confidence.to_numpy(float), (df.pred_label == df.label).to_numpy(float)))
        else:
            probs = df[[c for c in df.columns if c.startswith("p_")]].to_numpy(float)
            out.append((name, probs.max(1), (probs.argmax(1) == df.label.to_numpy()).astype(float)))
    return out


def _fed(make, p, y, w, bounds, rnd):
    states = [make().update(p[a:b], y[a:b], None if w is None else w[a:b]) for a, b in bounds]
    return merge_tree(states, rnd)


# --- smooth ECE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,p,y", _real_curves(), ids=lambda v: v if isinstance(v, str) else "")
def test_smece_equals_relplot_on_real_files(name, p, y):
    relplot = pytest.importorskip("relplot")
    assert smece(y, p) == pytest.approx(float(relplot.smECE(p, y)), abs=1e-4)


@pytest.mark.parametrize("seed,n", [(0, 10), (1, 200), (2, 5000), (3, 30000)])
def test_smece_equals_relplot_on_random_data(seed, n):
    relplot = pytest.importorskip("relplot")
    p, y, _ = _rows(seed, n)
    assert smece(y, p) == pytest.approx(float(relplot.smECE(p, y)), abs=1e-4)
    assert smece_at(FineHistogram().update(p, y).finalize(), 0.05) == pytest.approx(
        float(relplot.smECE_sigma(p, y, 0.05)), abs=1e-4)


def test_smece_hand_cases():
    # a point mass exactly calibrated: no residual anywhere
    assert smece(np.r_[np.ones(70), np.zeros(30)], np.full(100, 0.7)) == pytest.approx(0.0, abs=1e-12)
    # always wrong at 0 and 1: the residual is 1 everywhere, so smECE = relplot's fixed point sigma = 1
    assert smece([0, 1], [1.0, 0.0]) == pytest.approx(1.0, abs=1e-3)
    assert np.isnan(smece([], []))


def test_smece_integer_weights_equal_repeated_rows():
    p, y, _ = _rows(4, 300)
    reps = np.random.default_rng(5).integers(1, 4, size=300)
    assert smece(y, p, sample_weight=reps) == pytest.approx(smece(np.repeat(y, reps), np.repeat(p, reps)), abs=1e-12)


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), weighted=st.booleans())
def test_smece_chunk_invariance(data, seed, weighted):
    p, y, w = _rows(seed, 400)
    w = w if weighted else None
    whole = SmoothECEState().update(p, y, w).finalize()
    bounds = data.draw(batch_bounds(400))
    merged = _fed(SmoothECEState, p, y, w, bounds, random.Random(seed)).finalize()
    assert merged.smece == pytest.approx(whole.smece, abs=1e-12)
    assert merged.sigma == whole.sigma and merged.rows == 400


def test_state_arrays_round_trip_without_pickle():
    p, y, w = _rows(6, 500, ties=True)
    for make in (SmoothECEState, CorpState, EcceState, IciState):
        state = make().update(p, y, w)
        buf = io.BytesIO()
        np.savez(buf, **state.to_arrays())
        with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as npz:
            back = type(state).from_arrays({k: npz[k] for k in npz.files})
        a, b = state.finalize(), back.finalize()
        for field in ("rows",):
            assert getattr(a, field) == getattr(b, field)
        first = next(f for f in ("smece", "mcb", "ecce", "ici") if hasattr(a, f))
        assert getattr(b, first) == getattr(a, first)


# --- CORP -----------------------------------------------------------------------------------------------


def test_corp_niamey_ens_reference_numbers():
    df = pd.read_csv(DATA / "niamey_2016" / "ens_obs.csv")
    r = corp_decomposition(df.obs, df.ENS)
    assert r.unc == pytest.approx(0.244211, abs=5e-7)  # published (reliabilitydiag README)
    assert r.mcb == pytest.approx(0.0660722282795862, abs=1e-12)  # model-diagnostics decompose
    assert r.dsc == pytest.approx(0.0441153290278999, abs=1e-12)
    assert r.brier == pytest.approx(np.mean((df.ENS - df.obs) ** 2), abs=1e-15)
    assert r.exact and r.rows == 92


@pytest.mark.parametrize("seed,n,ties,weighted", [(0, 50, False, False), (1, 2000, True, False), (2, 2000, True, True),
                                                  (3, 20000, False, True)])
def test_corp_equals_model_diagnostics(seed, n, ties, weighted):
    scoring = pytest.importorskip("model_diagnostics.scoring")
    p, y, w = _rows(seed, n, ties)
    w = w if weighted else None
    ref = scoring.decompose(y, p, weights=w, scoring_function=scoring.SquaredError())
    r = corp_decomposition(y, p, sample_weight=w)
    assert r.mcb == pytest.approx(ref["miscalibration"][0], abs=1e-10)
    assert r.dsc == pytest.approx(ref["discrimination"][0], abs=1e-10)
    assert r.unc == pytest.approx(ref["uncertainty"][0], abs=1e-10)
    assert r.brier == pytest.approx(ref["score"][0], abs=1e-10)


def test_corp_hand_case():
    r = corp_decomposition([0, 1, 0, 1], [0.1, 0.4, 0.6, 0.9])
    # PAV: 0, (1 + 0) / 2 twice, 1 -> S(cep) = 0.125; S(p) = 0.74 / 4; UNC = 0.25
    assert (r.mcb, r.dsc, r.unc) == pytest.approx((0.185 - 0.125, 0.25 - 0.125, 0.25), abs=1e-15)
    calibrated = corp_decomposition([0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0])
    assert (calibrated.mcb, calibrated.dsc) == pytest.approx((0.0, 0.25), abs=1e-15)


def test_corp_over_budget_is_marked_and_close():
    p, y, _ = _rows(7, 50000)
    exact = corp_decomposition(y, p)
    approx = corp_decomposition(y, p, max_distinct=100)
    assert exact.exact and not approx.exact
    assert approx.brier == pytest.approx(exact.brier, abs=1e-12)
    assert approx.unc == pytest.approx(exact.unc, abs=1e-12)
    assert approx.mcb == pytest.approx(exact.mcb, abs=2e-4)
    assert approx.mcb - approx.dsc + approx.unc == pytest.approx(approx.brier, abs=1e-12)


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), weighted=st.booleans())
def test_corp_chunk_invariance(data, seed, weighted):
    p, y, w = _rows(seed, 400, ties=True)
    w = w if weighted else None
    whole = CorpState().update(p, y, w)
    merged = _fed(CorpState, p, y, w, data.draw(batch_bounds(400)), random.Random(seed))
    a, b = whole.finalize(), merged.finalize()
    assert (b.mcb, b.dsc, b.unc) == pytest.approx((a.mcb, a.dsc, a.unc), abs=1e-12)
    da, db = whole.diagram(n_boot=20), merged.diagram(n_boot=20)
    np.testing.assert_allclose(db.lower, da.lower, atol=1e-12)
    np.testing.assert_allclose(db.cep, da.cep, atol=1e-12)


def test_corp_bands_are_consistency_bands():
    rng = np.random.default_rng(8)
    p = rng.uniform(size=3000)
    calibrated = (rng.uniform(size=3000) < p).astype(float)
    d = CorpState().update(p, calibrated).diagram()
    ok = np.isfinite(d.lower)
    assert d.pooled and d.level == 0.9 and d.n_boot == 100
    assert np.all(d.lower[ok] <= d.upper[ok]) and np.all((d.lower[ok] >= 0) & (d.upper[ok] <= 1))
    # the bands surround the diagonal (they assume calibration), at about 90% of the points or more
    inside = (d.lower[ok] <= d.x[ok]) & (d.x[ok] <= d.upper[ok])
    assert inside.mean() > 0.85
    # same table, same bands (seeded)
    again = CorpState().update(p[::-1], calibrated[::-1]).diagram()
    np.testing.assert_array_equal(again.upper, d.upper)


def test_corp_png_is_deterministic(tmp_path):
    from calibcli.render.corp_plot import corp_png_bytes, write_corp_png

    df = pd.read_csv(DATA / "niamey_2016" / "ens_obs.csv")
    state = CorpState().update(df.ENS, df.obs)
    first = corp_png_bytes(state.diagram())
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert corp_png_bytes(state.diagram()) == first
    write_corp_png(state.diagram(), tmp_path / "corp.png")
    assert (tmp_path / "corp.png").read_bytes() == first
    empty = corp_diagram_from_tables(None, FineHistogram(16).finalize(), n_boot=3)
    assert corp_png_bytes(empty)[:8] == b"\x89PNG\r\n\x1a\n"


# --- ECCE -----------------------------------------------------------------------------------------------


def _mcgrad_ecce(y, p, w=None):
    """mcgrad's ecce (metrics._calculate_cumulative_differences + np.ptp), transcribed."""
    order = np.argsort(p)
    w = np.ones_like(p) / p.size if w is None else w
    diff = (w * (y - p))[order] / w.sum()
    return np.ptp(np.concatenate([[0.0], np.cumsum(diff)]))


@pytest.mark.parametrize("seed,n,weighted", [(0, 30, False), (1, 1000, True), (2, 20000, False)])
def test_ecce_equals_mcgrad_without_ties(seed, n, weighted):
    p, y, w = _rows(seed, n)
    w = w if weighted else None
    r = ecce(y, p, sample_weight=w)
    assert r.ecce == pytest.approx(_mcgrad_ecce(y, p, w), abs=1e-12)
    ww = np.ones(n) if w is None else w
    sd = np.sqrt(np.sum(ww * ww * p * (1 - p))) / ww.sum()
    assert r.ecce_sigma == pytest.approx(r.ecce / sd, rel=1e-12)
    assert r.ecce_p == pytest.approx(1 - brownian_range_cdf(r.ecce / sd), abs=1e-15)


def test_ecce_hand_case_and_ties():
    r = ecce([1, 0, 1, 0], [0.2, 0.4, 0.6, 0.8])
    # C = 0, .2, .1, .2, 0: range 0.2, max |C| 0.2
    assert (r.ecce, r.ecce_ks) == pytest.approx((0.2, 0.2), abs=1e-15)
    # ties enter together: order inside a run of equal scores does not matter
    a = ecce([1, 0, 0, 1], [0.5, 0.5, 0.5, 0.5])
    b = ecce([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5])
    assert a.ecce == b.ecce == 0.0
    one_sided = ecce([0, 0, 0], [0.2, 0.3, 0.5])
    assert (one_sided.ecce, one_sided.ecce_ks) == pytest.approx((1 / 3, 1 / 3), abs=1e-15)
    assert one_sided.ecce_sigma == pytest.approx((1 / 3) / (np.sqrt(0.16 + 0.21 + 0.25) / 3), rel=1e-12)


def test_ecce_pvalue_is_uniformish_when_calibrated():
    rng = np.random.default_rng(9)
    p = rng.uniform(size=5000)
    r = ecce((rng.uniform(size=5000) < p).astype(float), p)
    assert r.ecce_p > 0.01
    q = ecce((rng.uniform(size=5000) < p ** 2).astype(float), p)
    assert q.ecce_p < 1e-6


def test_ecce_over_budget_is_a_lower_bound():
    p, y, _ = _rows(10, 20000)
    exact, approx = ecce(y, p), ecce(y, p, max_distinct=50)
    assert not approx.exact and approx.ecce <= exact.ecce + 1e-12
    assert approx.ecce == pytest.approx(exact.ecce, abs=1e-3)


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), weighted=st.booleans())
def test_ecce_chunk_invariance(data, seed, weighted):
    p, y, w = _rows(seed, 400, ties=True)
    w = w if weighted else None
    a = EcceState().update(p, y, w).finalize()
    b = _fed(EcceState, p, y, w, data.draw(batch_bounds(400)), random.Random(seed)).finalize()
    assert (b.ecce, b.ecce_ks, b.ecce_sigma) == pytest.approx((a.ecce, a.ecce_ks, a.ecce_sigma), abs=1e-12)


# --- ICI ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed,n,power", [(0, 500, 1.0), (1, 4000, 1.5), (2, 4000, 0.6)])
def test_ici_degree1_matches_statsmodels_lowess(seed, n, power):
    lowess = pytest.importorskip("statsmodels.nonparametric.smoothers_lowess").lowess
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, size=n)
    y = (rng.uniform(size=n) < p ** power).astype(float)
    gap = np.abs(p - lowess(y, p, frac=0.75, it=0, delta=0.0, return_sorted=False))
    r = ici(y, p, degree=1)
    assert r.ici == pytest.approx(gap.mean(), abs=2e-4)
    assert r.e90 == pytest.approx(np.quantile(gap, 0.9), abs=1e-3)
    assert r.emax == pytest.approx(gap.max(), abs=1e-3)


def test_ici_hand_cases():
    x = np.linspace(0.05, 0.95, 19)
    # outcomes equal to the scores: every local polynomial reproduces the diagonal
    for degree in (1, 2):
        r = ici(x, x, degree=degree)
        assert max(r.ici, r.e50, r.e90, r.emax) == pytest.approx(0.0, abs=1e-12)
    # a constant shift of 0.1 is reproduced exactly by a local linear fit
    shifted = ici(x + 0.05, x - 0.05, degree=1)
    assert (shifted.ici, shifted.e50, shifted.emax) == pytest.approx((0.1, 0.1, 0.1), abs=1e-12)
    assert np.isnan(ici([], []).ici)


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 16), weighted=st.booleans())
def test_ici_chunk_invariance(data, seed, weighted):
    p, y, w = _rows(seed, 400)
    w = w if weighted else None
    a = IciState().update(p, y, w).finalize()
    b = _fed(IciState, p, y, w, data.draw(batch_bounds(400)), random.Random(seed)).finalize()
    assert (b.ici, b.e50, b.e90, b.emax) == pytest.approx((a.ici, a.e50, a.e90, a.emax), abs=1e-10)


def test_merge_refuses_mismatched_states():
    with pytest.raises(ValueError):
        FineHistogram(8).merge(FineHistogram(16))
    with pytest.raises(ValueError):
        IciState(degree=1).merge(IciState(degree=2))


def test_modules_import_no_heavy_dependency():
    import subprocess
    import sys

    code = ("import sys, calibcli.statistics.smooth, calibcli.statistics.corp, calibcli.statistics.ecce, "
            "calibcli.statistics.ici, calibcli.render.corp_plot; "
            "print(sorted(m for m in ('pandas', 'scipy', 'pyarrow', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"


def test_scores_outside_the_unit_interval_stay_in_the_end_buckets():
    h = FineHistogram(4).update(np.array([-0.3, 1.0 + 1e-15]), np.array([0, 1])).finalize()
    assert h.sum_w.tolist() == [1.0, 0.0, 0.0, 1.0]
