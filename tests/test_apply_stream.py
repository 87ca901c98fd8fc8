"""``calib apply`` streams: the same output as the whole-table apply for every format, task and batch size;
bad rows late in the input leave no output and are named whatever the batch size; interrupts; memory."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibcli.apply_stream import ROW_GROUP_ROWS, apply_files
from calibcli.calibrator_file import read_calibrator_file, save_calibrator
from calibcli.calibrators import fit_calibrator
from calibcli.errors import InputError
from calibcli.loading import LoadOptions, load_predictions
from calibcli.predictions import ScoreKind
from calibcli.sources.files import InputFile
from tests.cli_helpers import run

BATCHES = (1, 7, 1000, None)  # None: the default


def _frames(n: int = 300, seed: int = 3) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3)) * 2
    y = np.array([rng.choice(3, p=np.exp(r) / np.exp(r).sum()) for r in z / 2])
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    names = np.array(["cat", "dog", "owl"])
    extra = {"id": np.arange(n)[::-1], "note": np.where(np.arange(n) % 3, "x", "y")}
    pb = 1 / (1 + np.exp(-z[:, 0]))
    yb = (rng.random(n) < pb**1.4).astype(int)
    ml = (rng.random((n, 3)) < p).astype(int)
    return {
        "multiclass_logits": pd.DataFrame({**extra, "label": names[y], "logit_cat": z[:, 0], "logit_dog": z[:, 1],
                                           "logit_owl": z[:, 2]}),
        "multiclass_probs": pd.DataFrame({"label": names[y], "p_cat": p[:, 0], "note": extra["note"], "p_dog": p[:, 1],
                                          "p_owl": p[:, 2]}),
        "binary_one": pd.DataFrame({**extra, "label": yb, "p_1": pb}),
        "binary_two": pd.DataFrame({"label": yb, "p_0": 1 - pb, "p_1": pb, **extra}),
        "multilabel": pd.DataFrame({**{f"y_{c}": ml[:, j] for j, c in enumerate(names)},
                                    **{f"p_{c}": p[:, j] for j, c in enumerate(names)}, **extra}),
    }


def _write(df: pd.DataFrame, path) -> str:
    path = str(path)
    if path.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _calibrator(path: str, folder, method: str = "temperature") -> str:
    loaded = load_predictions([path])
    cal = fit_calibrator(method, loaded.predictions)
    out = os.path.join(str(folder), f"cal-{method}.json")
    save_calibrator(cal, out, columns=loaded.columns.score_cols)
    return out


def _reference(cal_path: str, inputs: list[str], out: str, **kw) -> bytes:
    """The whole-table apply (calibrate_tables + table_bytes), today's output."""
    from tests.apply_reference import calibrate_tables, table_bytes

    cf = read_calibrator_file(cal_path)
    tables = [InputFile(p).read_table() for p in inputs]
    table = calibrate_tables(cf, tables, inputs, kw.get("score_cols"), kw.get("score_kind"), kw.get("renormalize", False),
                             kw.get("replace", False))
    return table_bytes(table, out)


def _streamed(cal_path: str, inputs: list[str], out: str, batch_rows, **kw) -> bytes:
    apply_files(read_calibrator_file(cal_path), inputs, out, out, batch_rows=batch_rows, **kw)
    with open(out, "rb") as fh:
        return fh.read()


def _same_output(got: bytes, want: bytes, fmt: str, folder) -> None:
    if fmt == "parquet":
        a, b = (pq.read_table(pa.BufferReader(x)) for x in (got, want))
        assert a.schema.equals(b.schema, check_metadata=True)
        assert a.equals(b)
    elif fmt == "csv.gz":
        assert gzip.decompress(got) == gzip.decompress(want)
    else:
        assert got == want


@pytest.mark.parametrize("task", ["multiclass_logits", "multiclass_probs", "binary_one", "binary_two", "multilabel"])
@pytest.mark.parametrize("fmt", ["parquet", "csv", "csv.gz"])
@pytest.mark.parametrize("replace", [False, True])
def test_streamed_output_equals_whole_table_output(task, fmt, replace, tmp_path):
    df = _frames()[task]
    src = _write(df, tmp_path / ("in.parquet" if fmt != "csv" else "in.csv"))
    cal = _calibrator(src, tmp_path)
    want = _reference(cal, [src], f"ref.{fmt}", replace=replace)
    outputs = []
    for b in BATCHES:
        out = str(tmp_path / f"out-{b}.{fmt}")
        got = _streamed(cal, [src], out, b, replace=replace)
        _same_output(got, want, fmt, tmp_path)
        outputs.append(got)
    # the bytes do not depend on the batch size (Parquet too: row groups of ROW_GROUP_ROWS rows)
    assert all(o == outputs[0] for o in outputs)


@pytest.mark.parametrize("method", ["vector", "platt", "isotonic", "histogram"])
def test_every_method_streams_like_the_whole_table(method, tmp_path):
    src = _write(_frames()["multiclass_logits"], tmp_path / "in.parquet")
    cal = _calibrator(src, tmp_path, method)
    want = _reference(cal, [src], "ref.parquet")
    for b in (1, 13):
        _same_output(_streamed(cal, [src], str(tmp_path / f"o{b}.parquet"), b), want, "parquet", tmp_path)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch_rows=st.integers(1, 400), fmt=st.sampled_from(["parquet", "csv"]))
def test_any_batch_size_gives_the_same_bytes(batch_rows, fmt, tmp_path_factory):
    folder = tmp_path_factory.mktemp("h")
    src = _write(_frames(n=350)["multiclass_probs"], folder / f"in.{fmt}")
    cal = _calibrator(src, folder)
    one = _streamed(cal, [src], str(folder / f"one.{fmt}"), 10**6)
    assert _streamed(cal, [src], str(folder / f"b.{fmt}"), batch_rows) == one


def test_several_files_stack_in_order_with_promoted_types(tmp_path):
    df = _frames()["multiclass_logits"]
    a, b = df.iloc[:100].copy(), df.iloc[100:].copy()
    b["id"] = b["id"] + 0.5  # integer in the first file, float in the second: promoted, as stacking tables does
    pa_ = _write(a, tmp_path / "a.parquet")
    pb_ = _write(b, tmp_path / "b.parquet")
    cal = _calibrator(_write(df, tmp_path / "all.parquet"), tmp_path)
    want = _reference(cal, [pa_, pb_], "ref.parquet")
    for bsize in (1, 7, None):
        got = _streamed(cal, [pa_, pb_], str(tmp_path / f"o{bsize}.parquet"), bsize)
        _same_output(got, want, "parquet", tmp_path)
        assert pq.read_table(pa.BufferReader(got)).column("id").type == pa.float64()


def test_csv_column_types_drifting_between_blocks(tmp_path):
    """A CSV column that looks integer in the first block and holds text (or fractions) later does not fail:
    the output starts again with the wider type, so the types are those of a whole-file read."""
    df = _frames(n=3000)["multiclass_probs"]
    df["code"] = np.arange(3000).astype(object)
    df.loc[2900, "code"] = "n/a-later"
    df["ratio"] = np.arange(3000).astype(float)
    df.loc[2950, "ratio"] = 0.5
    src = _write(df, tmp_path / "drift.csv")
    cal = _calibrator(src, tmp_path)
    for fmt in ("csv", "parquet"):
        want = _reference(cal, [src], f"ref.{fmt}")
        for b in (7, 1000):
            got = _streamed(cal, [src], str(tmp_path / f"o{b}.{fmt}"), b)
            _same_output(got, want, fmt, tmp_path)
    table = pq.read_table(tmp_path / "o7.parquet")
    assert table.column("code").type == pa.string() and table.column("ratio").type == pa.float64()


@pytest.mark.parametrize("problem, value, message", [
    ("nan", "", "missing, NaN or infinite scores in 2 rows (row 2501, 2991)"),
    ("range", "1.5", "probabilities outside [0, 1] in 2 rows (row 2501, 2991)"),
    ("text", "oops", "non-numeric scores in 2 rows (row 2501, 2991)"),
])
def test_bad_rows_late_in_the_file_leave_no_output_and_are_named(problem, value, message, tmp_path):
    df = _frames(n=3000)["multiclass_probs"]
    src_ok = _write(df, tmp_path / "ok.csv")
    cal = _calibrator(src_ok, tmp_path)
    bad = df.astype({"p_dog": object})
    bad.loc[[2500, 2990], "p_dog"] = value
    src = _write(bad, tmp_path / "bad.csv")
    before = sorted(os.listdir(tmp_path))
    messages = set()
    for b in ("1", "7", "1000", "65536"):
        r = run(["apply", cal, src, "-o", tmp_path / "out.parquet", "--batch-rows", b])
        assert r.exit_code == 2, r.stderr
        assert "bad.csv, column 'p_dog'" in r.stderr and message in r.stderr, r.stderr
        messages.add(r.stderr)
        assert sorted(os.listdir(tmp_path)) == before  # no output, no temporary file
    assert len(messages) == 1


def test_row_sums_late_in_the_second_file(tmp_path):
    df = _frames(n=2000)["multiclass_probs"]
    cal = _calibrator(_write(df, tmp_path / "all.csv"), tmp_path)
    a = _write(df.iloc[:1000], tmp_path / "a.csv")
    b2 = df.iloc[1000:].copy()
    for c, v in (("p_cat", 0.5), ("p_dog", 0.3), ("p_owl", 0.1)):  # rows summing to 0.9
        b2.iloc[[900, 950], b2.columns.get_loc(c)] = v
    b = _write(b2, tmp_path / "b.csv")
    before = sorted(os.listdir(tmp_path))
    r = run(["apply", cal, a, b, "-o", tmp_path / "out.csv", "--batch-rows", "64"])
    assert r.exit_code == 2
    assert "b.csv: probability rows not summing to 1 (tolerance 0.001) in 2 rows (row 901, 951)" in r.stderr
    assert "--renormalize" in r.stderr and sorted(os.listdir(tmp_path)) == before
    r = run(["apply", cal, a, b, "-o", tmp_path / "out.csv", "--batch-rows", "64", "--renormalize", "-q"])
    assert r.exit_code == 0, r.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 2000


def test_logit_columns_that_look_like_probabilities_are_refused_after_the_pass(tmp_path):
    df = _frames(n=500)["multiclass_probs"]
    cal = _calibrator(_write(df, tmp_path / "p.csv"), tmp_path)
    named = df.rename(columns={"p_cat": "logit_cat", "p_dog": "logit_dog", "p_owl": "logit_owl"})
    src = _write(named, tmp_path / "l.csv")
    before = sorted(os.listdir(tmp_path))
    r = run(["apply", cal, src, "--score-cols", "logit_*", "-o", tmp_path / "o.csv", "--batch-rows", "10"])
    assert r.exit_code == 2 and "look like probabilities" in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path)) == before


def test_interrupt_while_writing_leaves_no_output(tmp_path, monkeypatch):
    import calibcli.apply_stream as stream

    src = _write(_frames(n=1000)["multiclass_logits"], tmp_path / "in.parquet")
    cal = _calibrator(src, tmp_path)
    (tmp_path / "old.csv").write_text("keep me\n")
    before = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
    real = stream._Writer.write
    calls = []

    def interrupt_third(self, batch):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(stream._Writer, "write", interrupt_third)
    for out in ("old.csv", "new/o.parquet"):
        calls.clear()
        r = run(["apply", cal, src, "-o", tmp_path / out, "--batch-rows", "100"])
        assert r.exit_code == 130, r.stderr
        assert {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)} == before


def test_stdin_and_a_device(tmp_path):
    df = _frames()["binary_two"]
    src = _write(df, tmp_path / "in.csv")
    cal = _calibrator(src, tmp_path)
    with open(src, "rb") as fh:
        r = run(["apply", cal, "-", "-o", tmp_path / "o.csv", "--batch-rows", "9", "-q"], stdin=fh.read())
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "o.csv").read_bytes() == _reference(cal, [src], "o.csv")
    # a pipe named like a CSV file is written through (after the whole pass), not replaced
    import threading

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run(["apply", cal, src, "-o", fifo, "--batch-rows", "9"])
    reader.join(timeout=60)
    assert r.exit_code == 0 and "300 rows" in r.stderr, r.stderr
    assert got == [_reference(cal, [src], "o.csv")] and fifo.is_fifo()


def test_staged_path_is_committed_or_removed(tmp_path):
    from calibcli.outputs import OutputSet

    target = tmp_path / "sub" / "o.bin"
    with OutputSet() as out:
        tmp = out.staged_path("-o", target)
        with open(tmp, "wb") as fh:
            fh.write(b"abc")
        assert not target.exists()
        out.commit()
    assert target.read_bytes() == b"abc" and os.listdir(tmp_path / "sub") == ["o.bin"]
    with pytest.raises(RuntimeError):
        with OutputSet() as out:
            tmp = out.staged_path("-o", tmp_path / "sub" / "p.bin")
            with open(tmp, "wb") as fh:
                fh.write(b"x")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path / "sub") == ["o.bin"]
    with OutputSet() as out:  # a device: the staged bytes are written through at the commit
        tmp = out.staged_path("-o", os.devnull)
        assert os.path.dirname(tmp) != os.path.dirname(os.devnull)
        with open(tmp, "wb") as fh:
            fh.write(b"x")
        out.commit()
    assert not os.path.exists(tmp)


def test_row_groups_are_fixed_in_size(tmp_path):
    n = ROW_GROUP_ROWS + 5
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, 2)).astype(np.float32)
    t = pa.table({"logit_a": z[:, 0], "logit_b": z[:, 1]})
    pq.write_table(t, tmp_path / "in.parquet", row_group_size=50_000)
    from calibcli.calibrators import TemperatureScaling
    from calibcli.predictions import Task

    cal = str(tmp_path / "cal.json")
    save_calibrator(TemperatureScaling(Task.BINARY, ("a", "b"), ScoreKind.LOGITS, (1.5,)), cal, columns=("logit_a", "logit_b"))
    res = apply_files(read_calibrator_file(cal), [str(tmp_path / "in.parquet")], "o.parquet", str(tmp_path / "o.parquet"),
                      batch_rows=30_001)
    md = pq.ParquetFile(tmp_path / "o.parquet").metadata
    assert res.rows == n and [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [ROW_GROUP_ROWS, 5]


_MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    from calibcli.calibrator_file import read_calibrator_file
    import numpy, pandas, pyarrow.parquet, scipy  # what either way imports, in the baseline
    cal, src, out, mode = sys.argv[1:5]
    cf = read_calibrator_file(cal)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if mode == "stream":
        from calibcli.apply_stream import apply_files
        apply_files(cf, [src], out, out, batch_rows=65536)
    else:
        from tests.apply_reference import calibrate_tables, table_bytes
        from calibcli.sources.files import InputFile
        table = calibrate_tables(cf, [InputFile(src).read_table()], [src])
        open(out, "wb").write(table_bytes(table, out))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
""")


def test_streaming_peak_memory_far_below_the_whole_table(tmp_path):
    """2e6 x 10 float32 logits (80 MB of scores): the streamed apply's peak RSS above the interpreter's (imports
    done) stays far below the whole-table apply's (measured here: about 150 MB vs 800 MB)."""
    from calibcli.calibrators import TemperatureScaling
    from calibcli.predictions import Task

    n, k = 2_000_000, 10
    classes = tuple(str(j) for j in range(k))
    with pq.ParquetWriter(tmp_path / "big.parquet", pa.schema([(f"logit_{c}", pa.float32()) for c in classes])) as w:
        for i in range(4):
            z = np.random.default_rng(i).standard_normal((n // 4, k), dtype=np.float32)
            w.write_table(pa.table({f"logit_{c}": z[:, j] for j, c in enumerate(classes)}))
    cal = str(tmp_path / "cal.json")
    save_calibrator(TemperatureScaling(Task.MULTICLASS, classes, ScoreKind.LOGITS, (1.7,)), cal,
                    columns=tuple(f"logit_{c}" for c in classes))
    peaks = {}
    for mode in ("stream", "whole"):
        out = str(tmp_path / f"{mode}.parquet")
        r = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, cal, str(tmp_path / "big.parquet"), out, mode],
                           capture_output=True, text=True, check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
        peaks[mode] = int(r.stdout.split()[-1])  # KiB above the baseline (Linux)
        os.unlink(out) if mode == "whole" else None
    assert pq.ParquetFile(tmp_path / "stream.parquet").metadata.num_rows == n
    assert peaks["stream"] * 3 < peaks["whole"], peaks
