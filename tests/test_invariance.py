"""The same numbers whatever the container: CSV/Parquet, float32/float64, row order, relabelling."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from calibcli.audit import measure
from calibcli.loading import load_predictions
from conftest import real


def _metrics(path, **kw):
    return dataclasses.asdict(measure(load_predictions([str(path)]).predictions, **kw).metrics)


def _close(a: dict, b: dict, tol=1e-12):
    for k in a:
        if a[k] is None:
            assert b[k] is None, k
        else:
            assert b[k] == pytest.approx(a[k], abs=tol), k


@pytest.fixture(scope="module")
def frame():
    df = pd.read_parquet(real("plambda_cifar10_vgg16")).iloc[:3000]
    cols = [c for c in df.columns if c.startswith("p_")]
    df[cols] = df[cols].astype("float64")  # float32 values held exactly, so CSV round-trips
    return df


def test_csv_parquet_float32_float64_agree(frame, tmp_path):
    f32 = frame.copy()
    f64 = frame.copy()
    cols = [c for c in frame.columns if c.startswith("p_")]
    f32[cols] = f32[cols].astype("float32")
    f64[cols] = f64[cols].astype("float32").astype("float64")
    f32.to_parquet(tmp_path / "a32.parquet")
    f64.to_parquet(tmp_path / "a64.parquet")
    f64.to_csv(tmp_path / "a.csv", index=False)
    f64.to_csv(tmp_path / "a.csv.gz", index=False)
    base = _metrics(tmp_path / "a32.parquet")
    for other in ("a64.parquet", "a.csv", "a.csv.gz"):
        _close(base, _metrics(tmp_path / other))


def test_row_order_does_not_matter(frame, tmp_path):
    frame.to_parquet(tmp_path / "a.parquet")
    frame.sample(frac=1.0, random_state=3).to_parquet(tmp_path / "b.parquet")
    for strategy in ("uniform", "quantile"):
        _close(_metrics(tmp_path / "a.parquet", strategy=strategy), _metrics(tmp_path / "b.parquet", strategy=strategy))


def test_relabelling_classes_does_not_matter(frame, tmp_path):
    perm = np.random.default_rng(0).permutation(10)
    renamed = pd.DataFrame({"label": [f"c{perm[v]}" for v in frame["label"]]})
    for j in range(10):
        renamed[f"p_c{perm[j]}"] = frame[f"p_{j}"]
    renamed = renamed[["label"] + [f"p_c{j}" for j in range(10)]]  # different column order too
    frame.to_parquet(tmp_path / "a.parquet")
    renamed.to_parquet(tmp_path / "b.parquet")
    _close(_metrics(tmp_path / "a.parquet"), _metrics(tmp_path / "b.parquet"))


def test_pooled_files_equal_concatenation(frame, tmp_path):
    frame.iloc[:1000].to_csv(tmp_path / "part1.csv", index=False)
    frame.iloc[1000:].to_parquet(tmp_path / "part2.parquet")
    frame.to_parquet(tmp_path / "all.parquet")
    pooled = dataclasses.asdict(measure(load_predictions([str(tmp_path / "part1.csv"), str(tmp_path / "part2.parquet")]).predictions).metrics)
    _close(_metrics(tmp_path / "all.parquet"), pooled)


def test_logits_and_their_softmax_agree(tmp_path):
    rng = np.random.default_rng(2)
    z = rng.normal(0, 3, (2000, 4))
    y = rng.integers(0, 4, 2000)
    p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    pd.DataFrame({"label": y, **{f"logit_{k}": z[:, k] for k in range(4)}}).to_parquet(tmp_path / "z.parquet")
    pd.DataFrame({"label": y, **{f"p_{k}": p[:, k] for k in range(4)}}).to_parquet(tmp_path / "p.parquet")
    _close(_metrics(tmp_path / "z.parquet"), _metrics(tmp_path / "p.parquet"), tol=1e-10)


def test_binary_one_or_two_columns_agree(tmp_path):
    df = pd.read_parquet(real("netcal_coco_faster-rcnn-resnet-50_iou0.60"))
    df.to_parquet(tmp_path / "two.parquet")
    df[["label", "p_1"]].to_parquet(tmp_path / "one.parquet")
    _close(_metrics(tmp_path / "two.parquet"), _metrics(tmp_path / "one.parquet"), tol=1e-9)
