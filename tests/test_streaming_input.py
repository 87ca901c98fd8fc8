"""Streaming input (issue 11): record batches from every format, checks per batch, a multi-pass source.

Laws: the concatenated batches equal the one-batch result exactly (scores, labels,
row keys, ids, adjustments, warnings, and the error message of a bad file) for any
batch size and for a file split into several files; every pass gives the same
batches, cached or read again; stdin can be read several times; memory is set by
the batch size, not by the file.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli.engine.batches import DEFAULT_BATCH_ROWS
from calibcli.engine.streaming import open_source
from calibcli.errors import InputError
from calibcli.loading import LoadOptions, load_predictions
from calibcli.predictions import ScoreKind
from calibcli.validation.options import DEFAULT_MEMORY_LIMIT
from cli_helpers import run
from stats_helpers import STATS_SETTINGS


# ----------------------------------------------------------------------------- helpers

def collect(paths, options=LoadOptions(), batch_rows=None, memory_limit=None, passes=1):
    """Every pass's concatenated arrays, the source info and the engine stats."""
    with open_source([str(p) for p in paths], options, batch_rows, memory_limit) as src:
        runs = [_concat(list(src.batches())) for _ in range(passes)]
        return runs, src.info, src.engine_stats()


def _concat(batches):
    out = {}
    for name, get in [("probs", lambda b: b.predictions.probs), ("labels", lambda b: b.predictions.labels),
                      ("logits", lambda b: b.predictions.logits), ("pred", lambda b: b.predictions.pred_labels),
                      ("rows", lambda b: b.rows), ("ids", lambda b: b.ids)]:
        parts = [get(b) for b in batches]
        out[name] = None if not parts or parts[0] is None else np.concatenate(parts)
    out["sizes"] = [b.n_rows for b in batches]
    return out


def assert_same(a, b, kind):
    for name in ("labels", "logits", "pred", "rows", "ids"):
        if a[name] is None or b[name] is None:
            assert a[name] is None and b[name] is None, name
        else:
            assert np.array_equal(a[name], b[name]), name
    if kind is ScoreKind.PROBS or a["probs"].shape[1] <= 3:
        assert np.array_equal(a["probs"], b["probs"])
    else:  # predictions.softmax sums a row with BLAS (gemv): the last bit may depend on the row's place in the batch
        np.testing.assert_allclose(a["probs"], b["probs"], rtol=1e-14, atol=0)


def same_info(a, b, files=True):
    fields = ("classes", "task", "score_kind", "n_rows", "score_kind_evidence", "dropped", "warnings", "adjustments", "has_ids")
    for f in fields + (("files",) if files else ()):
        assert getattr(a, f) == getattr(b, f), f


def outcome(paths, options, batch_rows, memory_limit=None):
    try:
        return collect(paths, options, batch_rows, memory_limit)
    except InputError as exc:
        return str(exc)


@st.composite
def frames(draw):
    """A prediction table with optional faults, and the options to read it with."""
    n = draw(st.integers(2, 120))
    task = draw(st.sampled_from(["binary1", "multiclass", "multilabel"]))
    kind = draw(st.sampled_from(["p", "logit"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    k = 1 if task == "binary1" else 3
    classes = ["a", "b", "c"]
    z = rng.normal(size=(n, k)) * 2
    if kind == "p":
        scores = 1 / (1 + np.exp(-z)) if task != "multiclass" else np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    else:
        scores = z
    df = pd.DataFrame()
    if task == "multilabel":
        for j, c in enumerate(classes):
            df[f"y_{c}"] = rng.integers(0, 2, n)
            df[f"{kind}_{c}"] = scores[:, j]
    else:
        y = rng.integers(0, 2 if task == "binary1" else 3, n)
        y[:2] = [0, 1]  # two classes present
        string_labels = draw(st.booleans())
        df["label"] = np.array(classes)[y] if (string_labels and task == "multiclass") else y
        names = ["1"] if task == "binary1" else classes
        for j, c in enumerate(names):
            df[f"{kind}_{c}"] = scores[:, j]
    df["id"] = np.arange(n) + 1000
    score_cols = [c for c in df.columns if c.startswith(kind + "_")]
    faults = draw(st.lists(st.sampled_from(["nan", "range", "label", "clip", "sum"]), max_size=3))
    for fault in faults:
        r = int(rng.integers(2, n)) if n > 2 else 1
        col = score_cols[int(rng.integers(0, len(score_cols)))]
        if fault == "nan":
            df.loc[r, col] = np.nan
        elif fault == "range" and kind == "p":
            df.loc[r, col] = 1.5
        elif fault == "clip" and kind == "p":
            df.loc[r, col] = 1.00005 if task != "multiclass" else df.loc[r, col]
        elif fault == "sum" and kind == "p" and task == "multiclass":
            df.loc[r, col] = df.loc[r, col] + 0.2
        elif fault == "label":
            if task == "multilabel":
                df.loc[r, "y_a"] = 2
            else:
                df["label"] = df["label"].astype(str)
                df.loc[r, "label"] = "zz"
    options = LoadOptions(drop_invalid=draw(st.booleans()), renormalize=draw(st.booleans()), id_col="id")
    fmt = draw(st.sampled_from(["csv", "parquet"]))
    float32 = fmt == "parquet" and draw(st.booleans())
    if float32:
        df[score_cols] = df[score_cols].astype(np.float32)
    return df, options, fmt


def write(df, path, fmt):
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    return path


# ----------------------------------------------------------------------------- chunk invariance

@STATS_SETTINGS
@given(frames(), st.data())
def test_any_batch_size_gives_the_one_batch_result(tmp_path_factory, case, data):
    df, options, fmt = case
    path = write(df, tmp_path_factory.mktemp("c") / f"x.{fmt}", fmt)
    ref = outcome([path], options, batch_rows=len(df))
    for batch_rows in (1, 7, 1000, data.draw(st.integers(1, len(df)))):
        got = outcome([path], options, batch_rows)
        if isinstance(ref, str):
            assert got == ref  # the same message, naming the same first rows
            continue
        (a,), info_a, _ = ref
        (b,), info_b, stats = got
        assert_same(a, b, info_a.score_kind)
        same_info(info_a, info_b)
        assert max(b["sizes"]) <= batch_rows and stats.batch_rows == batch_rows


@STATS_SETTINGS
@given(frames(), st.data())
def test_a_file_split_into_several_files_gives_the_same_rows(tmp_path_factory, case, data):
    df, options, fmt = case
    folder = tmp_path_factory.mktemp("s")
    ref = outcome([write(df, folder / f"all.{fmt}", fmt)], options, batch_rows=3)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(df) - 1), max_size=4)))
    edges = [0, *cuts, len(df)]
    parts = [write(df.iloc[a:b].reset_index(drop=True), folder / f"part{i}.{fmt}", fmt)
             for i, (a, b) in enumerate(zip(edges, edges[1:]))]
    got = outcome(parts, options, batch_rows=data.draw(st.sampled_from([1, 7, 1000])))
    if isinstance(ref, str):
        assert isinstance(got, str)
        return
    if isinstance(got, str):  # a part may hold only values that a whole file does not (e.g. labels of one kind)
        pytest.skip(got)
    (a,), info_a, _ = ref
    (b,), info_b, _ = got
    assert_same(a, b, info_a.score_kind)
    same_info(info_a, info_b, files=False)


def test_error_rows_do_not_depend_on_batching(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    p = rng.uniform(0.05, 0.95, n)
    bad = [17, 18, 2500, 2501, 4998, 4999, 3000]
    p[bad] = np.nan
    labels = rng.integers(0, 2, n).astype(object)
    labels[[40, 4000]] = "zz"
    path = tmp_path / "bad.csv"
    pd.DataFrame({"label": labels, "p_1": p}).to_csv(path, index=False)
    messages = {outcome([path], LoadOptions(), b) for b in (13, 1000, 4096, 10_000)}
    assert len(messages) == 1
    (msg,) = messages
    assert "7 rows (row 18, 19, 2501, 2502, 3001 and 2 more)" in msg and "values: zz" in msg and "row 41, 4001" in msg


# ----------------------------------------------------------------------------- passes, cache, stdin

def _sample(tmp_path, n=3000, k=4, dtype="float32"):
    rng = np.random.default_rng(1)
    t = pa.table({"label": rng.integers(0, k, n), **{f"logit_{j}": rng.normal(size=n).astype(dtype) for j in range(k)},
                  "id": np.arange(n)})
    path = tmp_path / "s.parquet"
    pq.write_table(t, path, row_group_size=700)
    return path


def test_passes_are_identical_cached_or_read_again(tmp_path):
    path = _sample(tmp_path)
    options = LoadOptions(id_col="id")
    cached, info_c, stats_c = collect([path], options, 256, passes=3)
    reread, info_r, stats_r = collect([path], options, 256, memory_limit=0, passes=3)
    for r in cached[1:] + reread:
        assert_same(cached[0], r, info_c.score_kind)
    same_info(info_c, info_r)
    assert stats_c.cached and not stats_r.cached
    assert (stats_c.passes, stats_r.passes) == (4, 4)  # opening + three
    assert stats_c.rows_read == 3000 and stats_r.rows_read == 4 * 3000
    assert stats_r.to_dict()["reread"] and not stats_c.to_dict()["reread"]


def test_the_cache_holds_float32_as_float32(tmp_path):
    path = _sample(tmp_path, n=1000)
    with open_source([str(path)], LoadOptions(), 100) as src:
        assert src._cache and all(raw.scores.dtype == np.float32 and raw.labels.dtype == np.int32 for raw in src._cache)
        assert src._cache_bytes == 1000 * (4 * 4 + 4)
        assert (ScoreKind.LOGITS, 1000) == (src.info.score_kind, src.info.n_rows)


def test_stdin_is_read_on_every_pass_and_its_copy_deleted(tmp_path, monkeypatch):
    data = (tmp_path / "x.csv")
    rng = np.random.default_rng(2)
    pd.DataFrame({"label": rng.integers(0, 2, 500), "p_1": rng.uniform(size=500)}).to_csv(data, index=False)
    ref, _, _ = collect([data], LoadOptions(), 64)
    for payload in (data.read_bytes(), gzip.compress(data.read_bytes())):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload)))
        src = open_source(["-"], LoadOptions(), 64, memory_limit=0)
        spill = src._spills[0].path
        assert os.path.exists(spill)
        runs = [_concat(list(src.batches())) for _ in range(3)]
        for r in runs:
            assert_same(ref[0], r, ScoreKind.PROBS)
        assert src.engine_stats().rows_read == 4 * 500
        src.close()
        assert not os.path.exists(spill)
    # cached: the copy is deleted as soon as the source is open
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.read_bytes())))
    with open_source(["-"], LoadOptions(), 64) as src:
        assert src.engine_stats().cached and not src._spills


def test_memory_is_set_by_the_batch_size(tmp_path):
    """Streaming a 2e6-row file keeps far less than its decoded size (tracemalloc sees numpy's buffers)."""
    n, k = 2_000_000, 4
    path = tmp_path / "big.parquet"
    writer = None
    rng = np.random.default_rng(3)
    for start in range(0, n, 500_000):
        t = pa.table({"label": rng.integers(0, k, 500_000), **{f"logit_{j}": rng.normal(size=500_000).astype("float32") for j in range(k)}})
        writer = writer or pq.ParquetWriter(path, t.schema)
        writer.write_table(t)
    writer.close()
    decoded = n * k * 8 * 2  # float64 probabilities and logits
    from calibcli.kernels.evidence import score_evidence

    score_evidence(np.zeros((1, k), dtype=np.float32), True, force=True)  # compile (or load) the kernel: a one-time cost
    tracemalloc.start()
    try:
        with open_source([str(path)], LoadOptions(), 65_536, memory_limit=0) as src:
            rows = sum(b.n_rows for b in src.batches())
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == n and src.engine_stats().rows_read == 2 * n
    assert peak < decoded / 8, (peak, decoded)


# ----------------------------------------------------------------------------- formats and checks

def test_csv_columns_widened_after_the_first_block_are_read_as_a_whole_file_read_would(tmp_path):
    n = 120_000  # more than one 1 MiB block
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"label": rng.integers(0, 2, n).astype(object), "p_1": rng.uniform(size=n).round(6).astype(object),
                       "note": np.ones(n, dtype=object)})
    df.loc[n - 3, "p_1"] = "abc"
    df.loc[n - 2, "label"] = "1.0"
    df.loc[n - 1, "note"] = "text"
    path = tmp_path / "w.csv"
    df.to_csv(path, index=False)
    msg = outcome([path], LoadOptions(), 1000)
    assert isinstance(msg, str) and "non-numeric scores" in msg and f"row {n - 2})" in msg
    (r,), info, _ = collect([path], LoadOptions(drop_invalid=True), 1000)
    assert info.n_rows == n - 1 and r["rows"][-1] == n - 1


def test_invalid_bytes_are_counted_over_the_whole_file(tmp_path):
    lines = [b"label,p_a,p_b"] + [b"a,0.3,0.7", b"b,0.4,0.6"] * 75_000  # 1.5 MB: more than one block
    for r in (5, 100_000, 149_999):
        lines[r] = b"b\x96,0.5,0.5"
    path = tmp_path / "u.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    msgs = {outcome([path], LoadOptions(), b) for b in (1000, 100_000, 200_000)}
    assert len(msgs) == 1
    (msg,) = msgs
    assert "column 'label' is not valid UTF-8 text in 3 rows (row 5 has byte 0x96, row 100000 has byte 0x96, row 149999" in msg


def test_json_lines_integer_then_fraction(tmp_path):
    rows = [{"label": i % 2, "p_1": i % 2} for i in range(50_000)] + [{"label": 1, "p_1": 0.25}]  # integers, then a fraction
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (r,), info, _ = collect([path], LoadOptions(), 4096)
    assert info.n_rows == 50_001 and r["probs"][-1, 1] == 0.25


def test_compressed_parquet_and_arrow_are_read(tmp_path):
    path = _sample(tmp_path, n=900)
    ref, _, _ = collect([path], LoadOptions(), 128)
    gz = tmp_path / "s.parquet.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    got, _, _ = collect([gz], LoadOptions(), 128, memory_limit=0, passes=2)
    for g in got:
        assert_same(ref[0], g, ScoreKind.LOGITS)


def test_too_many_distinct_labels(tmp_path, monkeypatch):
    import calibcli.validation.labels as labels

    monkeypatch.setattr(labels, "MAX_LABELS", 10)
    path = tmp_path / "l.csv"
    pd.DataFrame({"label": [f"x{i}" for i in range(30)], "p_1": 0.5}).to_csv(path, index=False)
    with pytest.raises(InputError, match="column 'label': more than 10 distinct label values"):
        load_predictions([str(path)])


def test_pairwise_row_sums_are_numpys_row_sums():
    from calibcli.validation.scores import pairwise_row_sums

    rng = np.random.default_rng(5)
    for k in [*range(1, 20), 31, 127, 128, 129, 300]:
        m = rng.standard_normal((200, k)) * 10.0 ** rng.uniform(-4, 4, size=(200, k))
        for a in (m, m.astype(np.float32)):
            assert np.array_equal(pairwise_row_sums([a[:, j] for j in range(k)]), a.sum(axis=1, dtype=np.float64)), k


# ----------------------------------------------------------------------------- CLI

def test_cli_batch_rows_and_memory_limit(tmp_path):
    from calibcli.cli.options import BATCH_ROWS_DEFAULT, MEMORY_LIMIT_DEFAULT, parse_size

    assert BATCH_ROWS_DEFAULT == DEFAULT_BATCH_ROWS and parse_size(MEMORY_LIMIT_DEFAULT) == DEFAULT_MEMORY_LIMIT
    path = _sample(tmp_path, n=400)
    base = run(["audit", path, "--no-calibration", "--format", "json"])
    assert base.exit_code == 0, base.stderr
    for extra in (["--batch-rows", "7"], ["--batch-rows", "1", "--memory-limit", "0"], ["--memory-limit", "1.5G"]):
        r = run(["audit", path, "--no-calibration", "--format", "json", *extra])
        assert r.exit_code == 0, r.stderr
        a, b = json.loads(base.stdout)["metrics"], json.loads(r.stdout)["metrics"]
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], float):
                assert b[key] == pytest.approx(a[key], rel=1e-9), key
    for bad in (["--memory-limit", "lots"], ["--batch-rows", "0"]):
        r = run(["audit", path, "--no-calibration", *bad])
        assert r.exit_code == 2 and "Traceback" not in r.stderr, r.stderr


def test_input_that_cannot_fit_is_never_cached(tmp_path, monkeypatch):
    """Pass 1 does not fill memory with batches it would drop: Parquet row counts are known in advance."""
    from calibcli.validation.scan import RawBatch

    path = _sample(tmp_path, n=3000)  # 3000 rows x (4 float32 + 1 label code) = 60,000 bytes cached
    kept = []
    original = RawBatch.compact
    monkeypatch.setattr(RawBatch, "compact", lambda self: kept.append(self.n) or original(self))
    for limit, cached in ((59_999, False), (60_000, True)):
        kept.clear()
        _, _, stats = collect([path], LoadOptions(), 500, memory_limit=limit)
        assert stats.cached is cached and (sum(kept) == 3000 if cached else not kept)


def test_json_lines_without_the_streaming_reader(tmp_path, monkeypatch):
    """pyarrow < 20 has no pyarrow.json.open_json: JSON Lines are then read whole, with the same result."""
    import pyarrow.json as pj

    path = tmp_path / "j.jsonl"
    path.write_text("".join(json.dumps({"label": i % 3, "logit_a": i * 0.1, "logit_b": -i * 0.2, "logit_c": 0.5}) + "\n"
                            for i in range(300)))
    ref, info, _ = collect([path], LoadOptions(), 64)
    monkeypatch.delattr(pj, "open_json")
    got, info_old, _ = collect([path], LoadOptions(), 64, passes=2)
    for g in got:
        assert_same(ref[0], g, ScoreKind.LOGITS)
    same_info(info, info_old)
