"""``calib fit`` and ``calib apply``: calibrator files, column and row handling, errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibcli.calibrator_file import data_fingerprint, load_calibrator, read_calibrator_file, save_calibrator
from calibcli.calibrators import METHODS, TemperatureScaling, fit_calibrator
from calibcli.errors import ConfigError
from calibcli.loading import load_predictions
from calibcli.predictions import ScoreKind, Task, softmax
from tests.cli_helpers import run
from tests.conftest import SAMPLES, real


@pytest.fixture
def logits_file(tmp_path):
    """400 rows of 3-class logits with an id column and a text column around them."""
    rng = np.random.default_rng(7)
    z = rng.normal(size=(400, 3)) * 3
    y = np.array([rng.choice(3, p=p) for p in softmax(z / 2)])
    df = pd.DataFrame({"id": np.arange(400)[::-1], "label": np.array(["cat", "dog", "owl"])[y],
                       "logit_cat": z[:, 0], "logit_dog": z[:, 1], "note": "x", "logit_owl": z[:, 2]})
    path = tmp_path / "val.parquet"
    df.to_parquet(path)
    return path, df


@pytest.mark.parametrize("method", sorted(METHODS))
def test_fit_save_load_apply_equals_in_memory(method, logits_file, tmp_path):
    path, df = logits_file
    cal_path = tmp_path / "cal.json"
    res = run(["fit", path, "--method", method, "-o", cal_path])
    assert res.exit_code == 0, res.stderr
    preds = load_predictions([str(path)]).predictions
    in_memory = fit_calibrator(method, preds).transform(preds).probs
    out = tmp_path / "out.parquet"
    res = run(["apply", cal_path, path, "-o", out])
    assert res.exit_code == 0, res.stderr
    got = pd.read_parquet(out)
    assert list(got.columns) == list(df.columns) + ["p_cal_cat", "p_cal_dog", "p_cal_owl"]
    pd.testing.assert_frame_equal(got[df.columns], df)  # originals and row order untouched
    assert np.array_equal(got[["p_cal_cat", "p_cal_dog", "p_cal_owl"]].to_numpy(), in_memory)


def test_calibrator_file_contents(logits_file, tmp_path):
    path, _ = logits_file
    cal_path = tmp_path / "cal.json"
    assert run(["fit", path, "-o", cal_path]).exit_code == 0
    doc = json.loads(cal_path.read_text())
    assert doc["format"] == "calib-calibrator" and doc["format_version"] == 1
    assert doc["calibrator"]["method"] == "temperature" and doc["calibrator"]["input_kind"] == "logits"
    assert doc["calibrator"]["classes"] == ["cat", "dog", "owl"]
    assert doc["columns"] == ["logit_cat", "logit_dog", "logit_owl"]
    assert doc["fitted_on"]["rows"] == 400 and len(doc["fitted_on"]["sha256"]) == 64
    assert doc["fit"]["temperature_ci"][0] < doc["calibrator"]["params"]["temperature"][0] < doc["fit"]["temperature_ci"][1]
    assert doc["tool"]["name"] == "calib"
    # deterministic: fitting again writes the same bytes
    again = tmp_path / "again.json"
    assert run(["fit", path, "-o", again]).exit_code == 0
    assert again.read_bytes() == cal_path.read_bytes()


def test_fingerprint_independent_of_file_format(logits_file, tmp_path):
    path, df = logits_file
    df.to_csv(tmp_path / "val.csv", index=False)
    a = data_fingerprint(load_predictions([str(path)]).predictions, [])
    b = data_fingerprint(load_predictions([str(tmp_path / "val.csv")]).predictions, [])
    assert a["sha256"] == b["sha256"]
    c = data_fingerprint(load_predictions([str(path)]).predictions.subset(np.arange(399)), [])
    assert c["sha256"] != a["sha256"] and c["rows"] == 399


def test_apply_without_labels_and_to_csv_and_gz(logits_file, tmp_path):
    path, df = logits_file
    cal_path = tmp_path / "cal.json"
    run(["fit", path, "-o", cal_path])
    unlabelled = tmp_path / "prod.csv"
    df.drop(columns=["label"]).to_csv(unlabelled, index=False)
    for name in ("out.csv", "out.csv.gz"):
        res = run(["apply", cal_path, unlabelled, "-o", tmp_path / name])
        assert res.exit_code == 0, res.stderr
    a = pd.read_csv(tmp_path / "out.csv")
    with gzip.open(tmp_path / "out.csv.gz") as fh:
        b = pd.read_csv(fh)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [c for c in df.columns if c != "label"] + ["p_cal_cat", "p_cal_dog", "p_cal_owl"]
    assert np.allclose(a[["p_cal_cat", "p_cal_dog", "p_cal_owl"]].sum(axis=1), 1.0)


def test_apply_replace_renames_logits_to_probabilities(logits_file, tmp_path):
    path, df = logits_file
    cal_path = tmp_path / "cal.json"
    run(["fit", path, "-o", cal_path])
    res = run(["apply", cal_path, path, "--replace", "-o", tmp_path / "r.parquet"])
    assert res.exit_code == 0, res.stderr
    got = pd.read_parquet(tmp_path / "r.parquet")
    assert list(got.columns) == ["id", "label", "p_cat", "p_dog", "note", "p_owl"]
    t = load_calibrator(cal_path).temperature[0]
    expected = softmax(df[["logit_cat", "logit_dog", "logit_owl"]].to_numpy() / t)
    assert np.allclose(got[["p_cat", "p_dog", "p_owl"]].to_numpy(), expected, rtol=0, atol=1e-15)


def test_apply_several_files_stacks_in_order(logits_file, tmp_path):
    path, df = logits_file
    cal_path = tmp_path / "cal.json"
    run(["fit", path, "-o", cal_path])
    df.iloc[:150].to_csv(tmp_path / "a.csv", index=False)
    df.iloc[150:].to_csv(tmp_path / "b.csv", index=False)
    res = run(["apply", cal_path, tmp_path / "a.csv", tmp_path / "b.csv", "-o", tmp_path / "ab.csv"])
    assert res.exit_code == 0, res.stderr
    assert pd.read_csv(tmp_path / "ab.csv")["id"].tolist() == df["id"].tolist()


def test_binary_one_column_probability_file(tmp_path):
    cal_path = tmp_path / "bin.json"
    res = run(["fit", SAMPLES / "binary.csv", "--method", "platt", "-o", cal_path])
    assert res.exit_code == 0, res.stderr
    assert json.loads(cal_path.read_text())["columns"] == ["p_cat"]
    res = run(["apply", cal_path, SAMPLES / "binary.csv", "-o", tmp_path / "o.csv"])
    assert res.exit_code == 0, res.stderr
    got = pd.read_csv(tmp_path / "o.csv")
    assert list(got.columns) == ["label", "p_cat", "p_cal_cat"]
    preds = load_predictions([str(SAMPLES / "binary.csv")]).predictions
    cal = load_calibrator(cal_path)
    assert np.allclose(got["p_cal_cat"].to_numpy(), cal.transform(preds).probs[:, 1], rtol=0, atol=1e-15)


def test_fit_multilabel_per_label(tmp_path):
    res = run(["fit", SAMPLES / "multilabel.csv", "--per-label", "-o", tmp_path / "ml.json"])
    assert res.exit_code == 0, res.stderr
    cal = load_calibrator(tmp_path / "ml.json")
    assert cal.task is Task.MULTILABEL and len(cal.temperature) == 4


# -- refusals ----------------------------------------------------------------------------------
def test_apply_refuses_to_overwrite_input(logits_file, tmp_path):
    path, _ = logits_file
    cal_path = tmp_path / "cal.json"
    run(["fit", path, "-o", cal_path])
    before = path.read_bytes()
    res = run(["apply", cal_path, path, "-o", path])
    assert res.exit_code == 2 and "never overwrites its input" in res.stderr
    assert path.read_bytes() == before
    assert run(["fit", path, "-o", path]).exit_code == 2 and path.read_bytes() == before


def test_apply_says_which_columns_differ(logits_file, tmp_path):
    path, df = logits_file
    cal_path = tmp_path / "cal.json"
    run(["fit", path, "-o", cal_path])
    df.rename(columns={"logit_owl": "logit_bat"}).to_csv(tmp_path / "other.csv", index=False)
    res = run(["apply", cal_path, tmp_path / "other.csv", "-o", tmp_path / "o.csv"])
    assert res.exit_code == 2
    assert "lacks logit_owl" in res.stderr and "logit_bat" in res.stderr and "--score-cols" in res.stderr
    assert not (tmp_path / "o.csv").exists()
    # mapping the columns explicitly works
    res = run(["apply", cal_path, tmp_path / "other.csv", "--score-cols", "logit_cat,logit_dog,logit_bat", "-o", tmp_path / "o.csv"])
    assert res.exit_code == 0, res.stderr


def test_apply_twice_refuses_existing_p_cal(logits_file, tmp_path):
    path, _ = logits_file
    cal_path = tmp_path / "cal.json"
    run(["fit", path, "-o", cal_path])
    run(["apply", cal_path, path, "-o", tmp_path / "once.parquet"])
    res = run(["apply", cal_path, tmp_path / "once.parquet", "-o", tmp_path / "twice.parquet"])
    assert res.exit_code == 2 and "p_cal_cat" in res.stderr


def test_apply_vector_fitted_on_logits_to_probabilities_is_refused(logits_file, tmp_path):
    path, df = logits_file
    cal_path = tmp_path / "vec.json"
    run(["fit", path, "--method", "vector", "-o", cal_path])
    probs = softmax(df[["logit_cat", "logit_dog", "logit_owl"]].to_numpy())
    pd.DataFrame({"p_cat": probs[:, 0], "p_dog": probs[:, 1], "p_owl": probs[:, 2]}).to_csv(tmp_path / "p.csv", index=False)
    res = run(["apply", cal_path, tmp_path / "p.csv", "--score-cols", "p_*", "-o", tmp_path / "o.csv"])
    assert res.exit_code == 2 and "fitted on logits" in res.stderr


def test_apply_unknown_output_extension(logits_file, tmp_path):
    path, _ = logits_file
    run(["fit", path, "-o", tmp_path / "cal.json"])
    res = run(["apply", tmp_path / "cal.json", path, "-o", tmp_path / "out.xlsx"])
    assert res.exit_code == 2 and ".parquet" in res.stderr


@pytest.mark.parametrize("content, message", [
    (b"", "not valid JSON"),
    (b"\x80\x04pickle", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"format": "something-else", "format_version": 1}', "not a calib calibrator file"),
    (b'{"format": "calib-calibrator", "format_version": 99}', "newer"),
    (b'{"format": "calib-calibrator", "format_version": "1"}', "integer"),
    (b'{"format": "calib-calibrator", "format_version": 1, "calibrator": {"method": "temperature", "task": "multiclass", '
     b'"classes": ["cat", "dog", "owl"], "input_kind": "logits", "params": {"temperature": [0]}}}', "positive"),
    (b'{"format": "calib-calibrator", "format_version": 1, "columns": ["a"], "calibrator": {"method": "temperature", '
     b'"task": "multiclass", "classes": ["cat", "dog", "owl"], "input_kind": "logits", "params": {"temperature": [1]}}}', "'columns'"),
])
def test_malformed_calibrator_file_exits_2(content, message, logits_file, tmp_path):
    path, _ = logits_file
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    res = run(["apply", bad, path, "-o", tmp_path / "o.csv"])
    assert res.exit_code == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    with pytest.raises(ConfigError):
        read_calibrator_file(bad)


def test_missing_calibrator_file_exits_2(logits_file, tmp_path):
    path, _ = logits_file
    res = run(["apply", tmp_path / "nope.json", path, "-o", tmp_path / "o.csv"])
    assert res.exit_code == 2 and "cannot read" in res.stderr


def test_fit_top_label_file_exits_2(tmp_path):
    res = run(["fit", SAMPLES / "top_label.csv", "-o", tmp_path / "c.json"])
    assert res.exit_code == 2 and "top-label" in res.stderr


def test_fit_warns_about_saturated_probabilities(tmp_path):
    res = run(["fit", real("netcal_cifar10_wrn16-4"), "-o", tmp_path / "c.json"])
    assert res.exit_code == 0
    assert "2,469 of 10,000 rows" in res.stderr  # counted independently in test_calibrators


def test_commands_listed_with_help():
    res = run(["--help"])
    assert "fit" in res.stdout and "apply" in res.stdout
    for cmd in ("fit", "apply"):
        r = run([cmd, "--help"])
        assert r.exit_code == 0 and "Examples" in r.stdout


@settings(max_examples=25, deadline=None)
@given(t=st.floats(1e-3, 1e3, allow_nan=False), k=st.integers(2, 5),
       names=st.lists(st.text("abcxyz_é", min_size=1, max_size=5), min_size=5, max_size=5, unique=True))
def test_save_load_round_trip_property(t, k, names, tmp_path_factory):
    cal = TemperatureScaling(Task.MULTICLASS, tuple(names[:k]), ScoreKind.LOGITS, (t,))
    path = tmp_path_factory.mktemp("rt") / "c.json"
    save_calibrator(cal, path, columns=tuple(f"logit_{n}" for n in names[:k]))
    back = read_calibrator_file(path)
    assert back.calibrator == cal and back.columns == tuple(f"logit_{n}" for n in names[:k])
