"""Every calibrator ``calib fit`` writes loads and applies, on real files and at the edges:
probabilities just above 1 (within the accepted 1e-4), exact 0/1, logits near +-1e308,
scarce fitting rows. Fit, audit and apply treat the scores one way (clipped once, where
predictions are built), and nothing overflows or leaks a numpy warning.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from calibcli.calibration import MIN_FIT_ROWS, evaluate_calibration, fit_on_all_rows
from calibcli.calibrator_file import load_calibrator
from calibcli.calibrators import METHODS, fit_calibrator
from calibcli.calibrators.temperature import fit_temperature
from calibcli.errors import InputError
from calibcli.loading import load_predictions
from calibcli.predictions import Predictions, ScoreKind, Task, clip_probabilities, softmax
from tests.cli_helpers import run
from tests.conftest import real

ROWS = 1000  # a slice of each real file keeps the test fast


def _slice(name: str, tmp: str, cols: dict[str, str] | None = None) -> str:
    df = pd.read_csv(real(name, "data.csv")) if name == "calibration_belt_example" else pd.read_parquet(real(name))
    df = df.iloc[:: max(1, len(df) // ROWS)].reset_index(drop=True)  # strided: files sorted by label stay mixed
    if cols:
        df = df.rename(columns=cols)[list(cols.values())]
    path = f"{tmp}/{name}.parquet"
    df.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Real slices (IMDB with p_1 up to 1.00001, 20news with exact zeros, float32 WRN with exact ones, a binary
    detector, a one-column binary file) and built edges (just above 1, extreme logits, multilabel)."""
    tmp = str(tmp_path_factory.mktemp("edges"))
    out = {name: _slice(name, tmp) for name in ("cleanlab_imdb_cv", "cleanlab_20news_cv", "netcal_cifar10_wrn16-4",
                                                "netcal_coco_faster-rcnn-resnet-50_iou0.60")}
    out["belt_one_column"] = _slice("calibration_belt_example", tmp, {"target": "label", "NN": "p_1"})
    rng = np.random.default_rng(0)
    n = 300
    p1 = rng.uniform(0.0, 1.0, n)
    y = (rng.random(n) < p1).astype(int)
    p1[:40] = 1.00005  # within the 1e-4 tolerance above 1
    p1[40:60] = 0.0
    pd.DataFrame({"label": y, "p_0": 1.0 - np.minimum(p1, 1.0), "p_1": p1}).to_csv(f"{tmp}/above_one.csv", index=False)
    out["above_one"] = f"{tmp}/above_one.csv"
    z = np.where(rng.random((n, 1)) < 0.5, -1e308, 1e308) * np.array([[1.0]])
    yz = np.where(rng.random(n) < 0.8, z[:, 0] > 0, z[:, 0] < 0).astype(int)  # 80% agree with the sign
    pd.DataFrame({"label": yz, "logit_1": z[:, 0]}).to_csv(f"{tmp}/extreme.csv", index=False)
    out["extreme"] = f"{tmp}/extreme.csv"
    zl = rng.normal(size=(n, 2)) * 3
    yl = (rng.random((n, 2)) < 1 / (1 + np.exp(-zl / 2))).astype(int)
    pd.DataFrame({"y_a": yl[:, 0], "y_b": yl[:, 1], "logit_a": zl[:, 0], "logit_b": zl[:, 1]}).to_csv(f"{tmp}/ml.csv", index=False)
    out["multilabel"] = f"{tmp}/ml.csv"
    return out


FILES = ["cleanlab_imdb_cv", "cleanlab_20news_cv", "netcal_cifar10_wrn16-4", "netcal_coco_faster-rcnn-resnet-50_iou0.60",
         "belt_one_column", "above_one", "extreme", "multilabel"]


# vector scaling on the 20news slice takes seconds (L-BFGS runs to its iteration limit: 20 classes, few rows each)
CASES = [(n, m) for n in FILES for m in sorted(METHODS) if (n, m) != ("cleanlab_20news_cv", "vector")]


@pytest.mark.parametrize("name, method", CASES)
def test_every_fitted_calibrator_loads_and_applies(files, tmp_path, name, method):
    path = files[name]
    cal_path = tmp_path / "cal.json"
    res = run(["fit", path, "--method", method, "-o", cal_path])
    assert res.exit_code == 0, res.stderr
    cal = load_calibrator(cal_path)  # every file calib fit writes must load
    out = tmp_path / "out.parquet"
    res = run(["apply", cal_path, path, "-o", out])
    assert res.exit_code == 0, res.stderr
    applied = pd.read_parquet(out).filter(like="p_cal_").to_numpy()
    # fit (loading) and apply see the same numbers: the in-memory transform of the loaded file equals apply's output
    preds = load_predictions([str(path)]).predictions
    expected = cal.transform(preds).probs
    expected = expected[:, 1:] if applied.shape[1] == 1 else expected
    assert np.array_equal(applied, expected)
    assert np.all(np.isfinite(applied)) and np.all((applied >= 0) & (applied <= 1))
    if preds.task is not Task.MULTILABEL:
        res = run(["thresholds", path, "--calibrator", cal_path, "--bootstrap", "5", "--format", "json"])
        assert res.exit_code in (0, 1), res.stderr
        json.loads(res.stdout)


def test_probabilities_within_tolerance_are_clipped_once_on_loading():
    preds = load_predictions([str(real("cleanlab_imdb_cv"))]).predictions
    raw = pd.read_parquet(real("cleanlab_imdb_cv"))["p_1"].to_numpy()
    assert raw.max() > 1.0  # the file holds 1.00001
    assert preds.probs.max() == 1.0 and preds.probs.min() >= 0.0
    assert np.array_equal(preds.probs[:, 1], np.clip(raw, 0.0, 1.0))
    # the isotonic knots then lie in [0, 1], so the saved calibrator validates
    cal = fit_calibrator("isotonic", preds)
    assert max(max(x) for x in cal.x) <= 1.0


def test_clip_probabilities_is_the_one_rule():
    a = np.array([[1.00005, -0.00003], [0.25, 0.75]])
    assert clip_probabilities(a) is a and a.tolist() == [[1.0, 0.0], [0.25, 0.75]]


# -- extreme logits: all five calibrators, no overflow, no numpy warning, no hard 0/1 --------------------
def _extreme_preds(value: float = 1e308, n_rep: int = 6) -> Predictions:
    z = np.array([[value, -value, 0.0], [-value, value, 0.0], [0.0, value, -value]] * n_rep)
    y = np.array([0, 1, 2] * n_rep)
    with np.errstate(all="raise"):
        probs = softmax(z)
    return Predictions(probs, y, ("a", "b", "c"), Task.MULTICLASS, ScoreKind.LOGITS, logits=z)


@pytest.mark.parametrize("value", [1e300, 1e308, 1.7e308])
def test_extreme_logits_fit_and_apply_without_warnings(value):
    preds = _extreme_preds(value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any numpy RuntimeWarning fails
        for method in METHODS:
            cal = fit_on_all_rows(preds, method).calibrator
            probs = cal.transform(preds).probs
            assert np.all(np.isfinite(probs)), method
            assert np.allclose(probs.sum(axis=1), 1.0), method
        evaluate_calibration(preds, tuple(METHODS), n_boot=10)


def test_extreme_logits_temperature_is_the_optimum_not_the_range_end():
    """Rows 1 and 2 right with gap G = 1e300, row 3 wrong by 2G: NLL = 3 log(1 + e^-x + e^-2x) + 2x with
    x = G / T, minimised at x* = 0.52244: T = 1.914e300 (the old fit said T = 0.001, 'perfect separation')."""
    preds = _extreme_preds(1e300)
    fit = fit_temperature(preds.logits, preds.labels, Task.MULTICLASS)
    from scipy.optimize import minimize_scalar

    x = np.exp(minimize_scalar(lambda lx: 3 * np.log1p(np.exp(-np.exp(lx)) + np.exp(-2 * np.exp(lx))) + 2 * np.exp(lx),
                               bounds=(-10, 5), method="bounded", options={"xatol": 1e-12}).x)
    assert fit.temperature[0] == pytest.approx(1e300 / x, rel=1e-6)
    assert not fit.at_bound[0]
    out = fit_on_all_rows(preds)
    assert not any("separate" in w or "range" in w for w in out.info["warnings"])
    p = out.calibrator.transform(preds).probs
    assert 0.01 < p.max() < 0.99  # not hard 0/1


def test_extreme_logits_cli_fit_and_apply_exit_0(files, tmp_path):
    cal = tmp_path / "cal.json"
    for method in METHODS:
        res = run(["fit", files["extreme"], "--method", method, "-o", cal])
        assert res.exit_code == 0 and "RuntimeWarning" not in res.stderr, res.stderr
        res = run(["apply", cal, files["extreme"], "-o", tmp_path / "o.csv"])
        assert res.exit_code == 0 and "RuntimeWarning" not in res.stderr, res.stderr
        p = pd.read_csv(tmp_path / "o.csv")["p_cal_1"].to_numpy()
        if method in ("temperature", "vector", "platt"):
            assert 0.0 < p.min() and p.max() < 1.0, method  # the 80% agreement shows, not hard 0/1


def test_separated_scores_do_not_mention_a_range_edge_that_was_not_hit():
    z = np.array([[-30.0], [40.0], [25.0], [-50.0], [35.0], [-20.0]]) * np.array([[1.0]])
    zz = np.column_stack([np.zeros(6), z[:, 0]])
    preds = Predictions(softmax(zz), np.array([0, 1, 1, 0, 1, 0]), ("0", "1"), Task.BINARY, ScoreKind.LOGITS, logits=zz)
    w = [x for x in fit_on_all_rows(preds).info["warnings"] if "temperature" in x]
    assert len(w) == 1 and "separate the classes perfectly" in w[0]
    assert "range" not in w[0] and "edge" not in w[0]


def test_range_end_is_named_when_hit():
    """Every label at its row's argmax, gaps from 1 down to 1e-3: the NLL still falls at T = 1e-3 (the lower end)."""
    zz = np.column_stack([np.zeros(4), np.array([-1.0, 1e-3, 1.0, -0.5])])
    preds = Predictions(softmax(zz), np.array([0, 1, 1, 0]), ("0", "1"), Task.BINARY, ScoreKind.LOGITS, logits=zz)
    fit = fit_temperature(zz, preds.labels, Task.BINARY)
    assert fit.at_range_end[0] and fit.at_bound[0] and fit.decreasing_t[0]
    w = [x for x in fit_on_all_rows(preds).info["warnings"] if "temperature" in x]
    assert "lower end of its search range" in w[0]


# -- scarce fitting rows -------------------------------------------------------------------------------
def _digits_like(n: int = 499, k: int = 10, seed: int = 0) -> Predictions:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 3
    y = np.array([rng.choice(k, p=p) for p in softmax(z / 2)])
    return Predictions(softmax(z), y, tuple("abcdefghij"[:k]), Task.MULTICLASS, ScoreKind.LOGITS, logits=z)


def _split_rows(n: int = 499, fraction: float = 0.01, seed: int = 0) -> int:
    """Rows drawn into a seeded split: a row-keyed draw per row (keys 0..n-1), so about fraction * n."""
    from calibcli.stats.rng import in_split

    return int(in_split(seed, np.arange(n), fraction).sum())


def test_tiny_calibration_split_warns_with_the_row_count():
    r = evaluate_calibration(_digits_like(), split=0.01, n_boot=10)
    n_fit = _split_rows()
    assert 0 < n_fit < 20 and r.fit["fit_rows"] == n_fit and r.fit["evaluated_rows"] == 499 - n_fit
    assert any(f"fitted on only {n_fit} rows (fewer than {MIN_FIT_ROWS})" in w for w in r.warnings), r.warnings


def test_split_without_fitting_or_evaluated_rows_is_an_input_error():
    p = _digits_like(40)
    with pytest.raises(InputError, match="no row was drawn into the fitting split"):
        evaluate_calibration(p, split=1e-6, n_boot=10)
    with pytest.raises(InputError, match="every row was drawn into the fitting split"):
        evaluate_calibration(p, split=1 - 1e-9, n_boot=10)


def test_enough_rows_no_scarcity_warning():
    r = evaluate_calibration(_digits_like(2000), n_boot=10)
    assert not any("only" in w for w in r.warnings), r.warnings


def test_per_class_methods_warn_about_a_rare_class():
    p = _digits_like(400)
    labels = p.labels.copy()
    labels[labels == 3] = 4
    labels[:3] = 3  # class 'd' on 3 rows
    p = Predictions(p.probs, labels, p.classes, p.task, p.score_kind, logits=p.logits)
    r = evaluate_calibration(p, ("temperature", "isotonic"), n_boot=10)
    assert any("class 'd' has only" in w and "isotonic" in w for w in r.warnings), r.warnings
    assert not any("class 'd'" in w for w in evaluate_calibration(p, n_boot=10).warnings)  # one shared T: fine


def test_cli_split_warning_reaches_the_user():
    res = run(["audit", "-", "--calibration-split", "0.01", "--format", "json"],
              stdin=pd.DataFrame({"label": _digits_like().labels, **{f"logit_{c}": _digits_like().logits[:, j]
                                  for j, c in enumerate("abcdefghij")}}).to_csv(index=False).encode())
    assert res.exit_code == 0, res.stderr
    warns = json.loads(res.stdout)["calibration"]["warnings"]
    assert any(f"only {_split_rows()} rows" in w for w in warns)
