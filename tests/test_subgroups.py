"""Subgroups and drift: calib audit --by / --by-bins / --by-time (calibcli.subgroups)."""

from __future__ import annotations

import copy
import decimal
import json
import random

import jsonschema
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibcli.bin_edges import BinEdges
from calibcli.engine.batches import Batch
from calibcli.errors import UsageError
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.render.groups_plot import render_group_pngs
from calibcli.render.groups_terminal import groups_markdown, render_groups
from calibcli.schema import report_schema
from calibcli.subgroups import GroupedMeasure, GroupSpec, finalize_groups, group_rule_value
from calibcli.subgroups.edges import GroupEdgeState
from calibcli.subgroups.keys import is_groupable

from cli_helpers import run

N = 4000


def _frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Binary scores, calibrated except region 'south' (scores pushed away from 0.5: overconfident)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < p).astype(int)
    region = rng.choice(["north", "south", "east", "west"], n)
    scores = np.where(region == "south", np.clip(0.5 + 1.9 * (p - 0.5), 0.01, 0.99), p)
    device = rng.choice(["ios", "android"], n)
    age = rng.integers(18, 80, n)
    return pd.DataFrame({"label": y, "p_1": scores, "region": region, "device": device, "age": age})


def _audit_json(path, *args) -> dict:
    r = run(["audit", path, "--no-calibration", "--format", "json", *args])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _group_validator():
    s = report_schema()
    props = {k: s["$defs"]["report"]["properties"][k] for k in ("groups", "worst_group", "multicalibration")}
    return jsonschema.Draft202012Validator({"type": "object", "properties": props, "$defs": s["$defs"],
                                            "required": list(props)})


@pytest.fixture
def regions(tmp_path):
    path = tmp_path / "regions.csv"
    _frame().to_csv(path, index=False)
    return path


def test_the_miscalibrated_region_is_the_worst_group(regions):
    d = _audit_json(regions, "--by", "region")
    names = [g["name"] for g in d["groups"]]
    assert names == ["region=east", "region=north", "region=south", "region=west"]
    assert d["worst_group"]["name"] == "region=south"
    assert d["worst_group"]["direction"] == "overconfident"
    south = d["groups"][names.index("region=south")]
    others = [g["metrics"]["ece"] for g in d["groups"] if g["name"] != "region=south"]
    assert south["metrics"]["ece"] > 2 * max(others)
    assert d["multicalibration"]["error"] == south["metrics"]["ece"] == d["worst_group"]["ece"]
    assert sum(g["n"] for g in d["groups"]) == N
    _group_validator().validate(d)


def test_intersections(regions):
    d = _audit_json(regions, "--by", "region", "--by", "device")
    assert len(d["groups"]) == 8
    assert all(g["columns"] == ["region", "device"] for g in d["groups"])
    assert sum(g["n"] for g in d["groups"]) == N
    assert d["worst_group"]["values"][0] == "south"
    df = _frame()
    want = df.groupby(["region", "device"]).size()
    for g in d["groups"]:
        assert g["n"] == want[tuple(g["values"])]
    _group_validator().validate(d)


def test_by_bins_are_exact_order_statistics(regions):
    d = _audit_json(regions, "--by", "age", "--by-bins", "4")
    age = _frame()["age"].to_numpy()
    v, c = np.unique(age, return_counts=True)
    cum = np.cumsum(c)
    cuts = [v[np.argmax(cum * 4 >= j * age.size)] for j in (1, 2, 3)]
    bucket = np.searchsorted(cuts, age, side="left")
    assert [g["n"] for g in d["groups"]] == np.bincount(bucket).tolist()
    assert d["groups"][0]["values"] == [f"[{age.min()}, {cuts[0]}]"]
    assert d["groups"][1]["values"] == [f"({cuts[0]}, {cuts[1]}]"]
    assert d["groups"][-1]["values"] == [f"({cuts[2]}, {age.max()}]"]
    assert "exact order statistics" in " ".join(d["multicalibration"]["notes"])
    _group_validator().validate(d)


def test_by_bins_beyond_the_exact_budget_states_the_sketch_rank_error():
    spec = GroupSpec.parse(("x",), ("4",))
    x = np.random.default_rng(1).normal(size=5000)
    state = GroupEdgeState(spec, max_distinct=100)
    p = Predictions(np.tile([[0.5, 0.5]], (5000, 1)), np.zeros(5000, dtype=np.int64), ("0", "1"), Task.BINARY, ScoreKind.PROBS)
    state.update(Batch(p, np.arange(5000), None, {"x": pa.array(x)}))
    cuts = state.finalize()["x"]
    assert not cuts.exact and 0 < cuts.rank_error < 0.05
    assert "KLL" in cuts.note()
    frac = np.searchsorted(np.sort(x), cuts.cuts, side="right") / x.size
    assert np.all(np.abs(frac - np.array([0.25, 0.5, 0.75])) < 0.05)


def test_by_time_daily_drift(tmp_path):
    rng = np.random.default_rng(3)
    n = 5000
    day = rng.integers(0, 10, n)
    ts = pd.Timestamp("2024-03-01") + pd.to_timedelta(day, unit="D") + pd.to_timedelta(rng.integers(0, 86400, n), unit="s")
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < p).astype(int)
    push = 1.0 + 0.12 * day  # drifts to overconfidence day by day
    df = pd.DataFrame({"label": y, "p_1": np.clip(0.5 + push * (p - 0.5), 0.01, 0.99), "ts": ts})
    path = tmp_path / "drift.parquet"
    df.to_parquet(path)
    d = _audit_json(path, "--by", "ts", "--by-time", "1D")
    assert [g["values"][0] for g in d["groups"]] == [f"2024-03-{i:02d}" for i in range(1, 11)]
    assert [g["n"] for g in d["groups"]] == np.bincount(day).tolist()
    eces = np.array([g["metrics"]["ece"] for g in d["groups"]])
    assert np.corrcoef(np.arange(10), eces)[0, 1] > 0.8
    assert d["worst_group"]["values"][0] in ("2024-03-08", "2024-03-09", "2024-03-10")  # late days (scores saturate)
    assert "naive timestamps" in " ".join(d["multicalibration"]["notes"])
    weekly = _audit_json(path, "--by", "ts", "--by-time", "1W")
    assert [g["values"][0] for g in weekly["groups"]] == ["week of 2024-02-26", "week of 2024-03-04"]  # Mondays
    _group_validator().validate(d)


def test_by_time_tz_aware_floors_in_local_time(tmp_path):
    ts = pd.to_datetime(["2024-01-02T03:00:00Z"] * 150 + ["2024-01-02T15:00:00Z"] * 150).tz_convert("America/New_York")
    rng = np.random.default_rng(4)
    p = rng.uniform(0.1, 0.9, 300)
    df = pd.DataFrame({"label": (rng.uniform(size=300) < p).astype(int), "p_1": p, "ts": ts})
    path = tmp_path / "tz.parquet"
    df.to_parquet(path)
    d = _audit_json(path, "--by", "ts", "--by-time", "1D")
    assert [(g["values"][0], g["n"]) for g in d["groups"]] == [("2024-01-01", 150), ("2024-01-02", 150)]
    assert "timezone-aware (America/New_York)" in " ".join(d["multicalibration"]["notes"])


def test_group_budget_is_exit_2_naming_the_column(tmp_path):
    df = _frame(600)
    df["user"] = [f"u{i}" for i in range(600)]
    path = tmp_path / "users.csv"
    df.to_csv(path, index=False)
    r = run(["audit", path, "--no-calibration", "--by", "user", "--max-groups", "50"])
    assert r.exit_code == 2
    assert "--by user: more than 50 distinct values" in r.stderr and "--by-bins" in r.stderr
    assert "Traceback" not in r.stderr
    r = run(["audit", path, "--no-calibration", "--by", "age", "--max-groups", "30"])
    assert r.exit_code == 2 and "--by-bins 10 (or --by-bins age=10)" in r.stderr
    r = run(["audit", path, "--no-calibration", "--by", "region", "--by", "age", "--by-bins", "age=10", "--max-groups", "30"])
    assert r.exit_code == 2 and "more than 30 groups in the intersection" in r.stderr


def test_missing_values_form_their_own_group(tmp_path):
    df = _frame(1000)
    df.loc[:49, "region"] = None
    df["score"] = np.where(np.arange(1000) < 30, np.nan, df["age"].astype(float))
    path = tmp_path / "missing.csv"
    df.to_csv(path, index=False)
    d = _audit_json(path, "--by", "region")
    assert d["groups"][-1]["values"] == ["(missing)"] and d["groups"][-1]["n"] == 50
    assert not d["groups"][-1]["eligible"]  # 50 < --min-group-rows 100: never the worst group
    d = _audit_json(path, "--by", "score", "--by-bins", "3")
    assert d["groups"][-1]["values"] == ["(missing)"] and d["groups"][-1]["n"] == 30
    assert sum(g["n"] for g in d["groups"]) == 1000


def test_dropped_rows_keep_their_group_values(tmp_path):
    df = _frame(1000)
    bad = df.index[df["region"] == "south"][:7]
    df.loc[bad, "p_1"] = np.nan
    path = tmp_path / "drop.csv"
    df.to_csv(path, index=False)
    d = _audit_json(path, "--by", "region", "--drop-invalid", "--batch-rows", "64")
    want = df.dropna(subset=["p_1"]).groupby("region").size()
    assert {g["values"][0]: g["n"] for g in d["groups"]} == want.to_dict()


def test_input_and_usage_errors(regions):
    r = run(["audit", regions, "--by", "regoin"])
    assert r.exit_code == 2
    assert "regions.csv: no column 'regoin' (given by --by). Did you mean 'region'?" in r.stderr
    assert "Columns: label, p_1, region, device, age." in r.stderr
    r = run(["audit", regions, "--no-calibration", "--by", "region", "--by-bins", "region=3"])
    assert r.exit_code == 2 and "'region' holds text, not numbers" in r.stderr
    r = run(["audit", regions, "--no-calibration", "--by", "region", "--by-time", "region=1D"])
    assert r.exit_code == 2 and "'region' holds text, not timestamps" in r.stderr
    for bad in (["--by-time", "1X", "--by", "region"], ["--by-bins", "1", "--by", "age"], ["--by-bins", "x=3", "--by", "age"]):
        r = run(["audit", regions, *bad])
        assert r.exit_code == 2, bad
        assert "Traceback" not in r.stderr


def test_an_empty_by_column_name_is_a_usage_error(regions):
    for name in ("", "  "):
        r = run(["audit", regions, "--by", name])
        assert r.exit_code == 2, r.stderr
        assert f"--by {name!r}: the column name is empty" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(UsageError, match="column name is empty"):
        GroupSpec.parse(("region", ""))


def _typed_frame(n: int = 400) -> dict:
    df = _frame(n)
    odd = np.arange(n) % 2
    return {"label": pa.array(df["label"]), "p_1": pa.array(df["p_1"]),
            "lst": pa.array([[int(i)] for i in odd]), "st": pa.array([{"a": int(i)} for i in odd]),
            "mp": pa.array([[("a", int(i))] for i in odd], pa.map_(pa.string(), pa.int64())),
            "iv": pa.array([pa.MonthDayNano([0, 0, int(i)]) for i in odd], pa.month_day_nano_interval()),
            "dur": pa.array(odd, pa.duration("ns")), "tm": pa.array(odd, pa.time64("ns")),
            "dec": pa.array([decimal.Decimal("1.50") if i else decimal.Decimal("2.25") for i in odd]),
            "bn": pa.array([b"x" if i else b"y" for i in odd])}


def test_nested_by_columns_are_refused_naming_file_column_and_type(tmp_path):
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    cols = _typed_frame()
    pq.write_table(pa.table({k: cols[k] for k in ("label", "p_1", "lst", "st", "mp")}), tmp_path / "p.parquet")
    feather.write_feather(pa.table(cols), tmp_path / "p.arrow")
    for path, col, typ in (("p.parquet", "lst", "list<element: int64>"), ("p.parquet", "st", "struct<a: int64>"),
                           ("p.parquet", "mp", "map<string, int64"), ("p.arrow", "iv", "month_day_nano_interval")):
        r = run(["audit", tmp_path / path, "--no-calibration", "--by", col])
        assert r.exit_code == 2, (col, r.stderr)
        assert f"{path}: the --by column '{col}' holds {typ}" in r.stderr, r.stderr
        assert "cannot form groups" in r.stderr and "--by-time" in r.stderr and "--by-bins" in r.stderr
        assert "Traceback" not in r.stderr


def test_scalar_by_columns_of_other_types_group_exactly(tmp_path):
    import pyarrow.feather as feather

    feather.write_feather(pa.table(_typed_frame()), tmp_path / "p.arrow")
    want = {"dur": {"0 days 00:00:00", "0 days 00:00:00.000000001"}, "tm": {"00:00:00.000000000", "00:00:00.000000001"},
            "dec": {"1.50", "2.25"}, "bn": {"x", "y"}}
    for col, labels in want.items():
        d = _audit_json(tmp_path / "p.arrow", "--by", col)
        assert {g["values"][0] for g in d["groups"]} == labels, col
        assert [g["n"] for g in d["groups"]] == [200, 200], col


def test_is_groupable():
    assert all(is_groupable(t) for t in (pa.string(), pa.large_string(), pa.binary(), pa.bool_(), pa.int8(), pa.float16(),
                                         pa.decimal128(5, 2), pa.date32(), pa.timestamp("ns", "UTC"), pa.time32("s"),
                                         pa.duration("s"), pa.null(), pa.dictionary(pa.int32(), pa.string())))
    assert not any(is_groupable(t) for t in (pa.list_(pa.int64()), pa.large_list(pa.string()), pa.list_(pa.int8(), 2),
                                             pa.struct([("a", pa.int64())]), pa.map_(pa.string(), pa.int64()),
                                             pa.month_day_nano_interval(), pa.dictionary(pa.int32(), pa.list_(pa.int8()))))


def test_terminal_markdown_plots_and_gate_values(regions, tmp_path):
    r = run(["audit", regions, "--no-calibration", "--by", "region", "--plots", tmp_path / "plots"])
    assert r.exit_code == 0, r.stderr
    assert "worst: region=south" in r.stdout
    assert (tmp_path / "plots" / "groups.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "plots" / "drift.png").exists()
    rep = _report(regions, ("region",))
    md = groups_markdown(rep)
    assert "| **region=south** (worst) |" in md and rep.definition in md
    a, b = render_group_pngs(rep, 0.03), render_group_pngs(rep, 0.03)
    assert a == b and set(a) == {"groups.png"}
    assert group_rule_value(rep, "worst_group_ece")[0] == rep.worst.ece == rep.multicalibration_error
    assert group_rule_value(rep, "ece", "region=north")[0] == rep.find("north").ece
    assert group_rule_value(rep, "ece", "region=nowhere") == (None, None)
    from rich.console import Console

    console = Console(width=80, record=True, color_system=None)
    console.print(render_groups(rep, limit=2))
    text = console.export_text()
    assert "2 more groups" in text and max(len(line) for line in text.splitlines()) <= 80


# ------------------------------------------------------------------ merge and chunk invariance


def _batches(df: pd.DataFrame, cuts: list[int]):
    probs = np.column_stack([1 - df["p_1"], df["p_1"]])
    p = Predictions(probs, df["label"].to_numpy(np.int64), ("0", "1"), Task.BINARY, ScoreKind.PROBS)
    bounds = [0, *sorted(set(cuts)), len(df)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            extra = {c: pa.array(df[c].to_numpy()[a:b]) for c in ("region", "device", "age")}
            yield Batch(p.subset(np.arange(a, b)), np.arange(a, b, dtype=np.int64), None, extra)


def _report(path_or_df, by, bins=(), cuts=(), min_group_rows=100):
    df = path_or_df if isinstance(path_or_df, pd.DataFrame) else pd.read_csv(path_or_df)
    spec = GroupSpec.parse(by, bins, min_group_rows=min_group_rows)
    edge_state = GroupEdgeState(spec)
    for b in _batches(df, list(cuts)):
        edge_state.update(b)
    state = GroupedMeasure(spec, Task.BINARY, ("0", "1"), BinEdges.uniform(15), edge_state.finalize(), seed=0, n_blocks=16)
    for b in _batches(df, list(cuts)):
        state.update(b)
    return finalize_groups(state)


def _numbers(d: dict) -> dict:
    return json.loads(json.dumps(d))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 599), max_size=8), st.integers(0, 10_000))
def test_same_numbers_for_any_batch_split_and_merge_order(cuts, seed):
    df = _frame(600, seed=5)
    by, bins = ("region", "age"), ("age=3",)
    want = _report(df, by, bins, min_group_rows=20).to_dict()
    spec = GroupSpec.parse(by, bins, min_group_rows=20)
    edge_state = GroupEdgeState(spec)
    for b in _batches(df, cuts):  # the edges pass, split into replicas too
        edge_state.merge(copy.deepcopy(GroupEdgeState(spec)).update(b))
    empty = GroupedMeasure(spec, Task.BINARY, ("0", "1"), BinEdges.uniform(15), edge_state.finalize(), seed=0, n_blocks=16)
    replicas = []
    for b in _batches(df, cuts):
        replicas.append(copy.deepcopy(empty).update(b))
    random.Random(seed).shuffle(replicas)
    acc = copy.deepcopy(empty)
    for r in replicas:
        acc = acc.merge(r)
    got = finalize_groups(acc).to_dict()
    np.testing.assert_equal([g["name"] for g in got["groups"]], [g["name"] for g in want["groups"]])
    for g, w in zip(got["groups"], want["groups"]):
        assert g["n"] == w["n"]
        for k, v in w["metrics"].items():
            assert g["metrics"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
        for k, v in w.get("intervals", {}).items():
            assert g["intervals"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert got["worst_group"]["name"] == want["worst_group"]["name"]


def test_group_weights_are_computed_once_and_callers_get_their_own_copy(monkeypatch):
    from calibcli.stats import rng

    fresh = rng._group_poisson1_weights.__wrapped__
    rng._group_poisson1_weights.cache_clear()
    a = rng.group_poisson1_weights(7, 50, 32)
    b = rng.group_poisson1_weights(7, 50, 32)
    np.testing.assert_array_equal(a, fresh(7, 50, 32))
    a[:] = -1  # a caller's copy: writing to it changes nobody else's
    np.testing.assert_array_equal(b, rng.group_poisson1_weights(7, 50, 32))
    assert rng._group_poisson1_weights.cache_info().misses == 1
    df = _frame(600, seed=3)
    want = _report(df, ("region",), min_group_rows=20).to_dict()
    monkeypatch.setattr(rng, "_group_poisson1_weights", fresh)  # uncached: the same numbers
    assert _numbers(_report(df, ("region",), min_group_rows=20).to_dict()) == _numbers(want)
