"""Issue 10, input side: one-column binary classes, the same file twice, encodings,
duplicate columns and roles, odd labels, formats, label hints, calibrated columns,
digits at tolerances, and the adjustments trace. Every bad input is exit 2 with
file, column, rows and fix, never a traceback or a byte string."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import pickle
import re
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from calibcli.calibrators.base import saturation_warning
from calibcli.errors import InputError
from calibcli.loading import FLOAT32_EVIDENCE, LoadOptions, load_predictions
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.reading import Source, expand_inputs, sniff_delimiter
from cli_helpers import run


BYTES_REPR = re.compile(r"(?<![\w])b['\"]|\\x[0-9a-f]{2}")  # b'...', b"...", \x96


def write(tmp_path, name, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


def fails(paths, *needles, options=LoadOptions()) -> str:
    with pytest.raises(InputError) as info:
        load_predictions(paths if isinstance(paths, list) else [paths], options)
    msg = str(info.value)
    for n in needles:
        assert n in msg, (n, msg)
    assert not BYTES_REPR.search(msg), msg
    return msg


def cli_fails(args, *needles, stdin=None) -> str:
    r = run(["audit", *map(str, args), "--no-calibration"], stdin=stdin)
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert not BYTES_REPR.search(r.stderr), r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)
    return r.stderr


def json_report(args, stdin=None) -> dict:
    r = run(["audit", *map(str, args), "--no-calibration", "--format", "json"], stdin=stdin)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def binary_frame():
    rng = np.random.default_rng(7)
    p1 = rng.uniform(0.02, 0.98, 120)
    y = (rng.uniform(size=120) < p1).astype(int)
    return p1, y


@pytest.fixture
def multiclass_frame():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(90, 3))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    df = pd.DataFrame({"label": np.array(["a", "b", "c"])[y], "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]})
    return df, z, y


# --- item 3: one score column names the class it scores ---------------------------

def test_p0_column_scores_label_0(tmp_path, binary_frame):
    p1, y = binary_frame
    p0_path = tmp_path / "p0.csv"
    pd.DataFrame({"label": y, "p_0": 1 - p1}).to_csv(p0_path, index=False)
    p = load_predictions([str(p0_path)]).predictions
    assert p.classes == ("1", "0")  # (other, the column's class)
    assert p.labels.tolist() == np.where(y == 0, 1, 0).tolist()
    assert np.allclose(p.probs[:, 1], 1 - p1)
    # the same numbers as the usual p_1 file
    p1_path = tmp_path / "p1.csv"
    pd.DataFrame({"label": y, "p_1": p1}).to_csv(p1_path, index=False)
    a, b = json_report([p0_path])["metrics"], json_report([p1_path])["metrics"]
    for key in ("accuracy", "brier", "nll"):
        assert a[key] == pytest.approx(b[key], rel=1e-12)


def test_logit_0_column_is_sigmoid_of_label_0(tmp_path):
    path = write(tmp_path, "a.csv", "label,logit_0\n0,2.0\n1,-1.0\n1,-3.0\n")
    p = load_predictions([path]).predictions
    assert p.classes == ("1", "0") and p.labels.tolist() == [1, 0, 0]
    assert np.allclose(p.probs[:, 1], 1 / (1 + np.exp([-2.0, 1.0, 3.0])))


@pytest.mark.parametrize(
    "text,classes,labels",
    [
        ("label,p_neg\npos,0.2\nneg,0.9\n", ("pos", "neg"), [0, 1]),  # string labels, column for the 'negative' one
        ("label,p_spam\n1,0.8\n0,0.3\n", ("not_spam", "spam"), [1, 0]),  # named class, 0/1 labels: 1 is the class
        ("label,p_1\n1,0.8\n0,0.3\n", ("0", "1"), [1, 0]),
        ("label,p_1\n1.0,0.8\n0.0,0.3\n", ("0", "1"), [1, 0]),  # float labels
        ("label,p_yes\nyes,0.8\nno,0.3\n", ("no", "yes"), [1, 0]),
    ],
)
def test_one_column_binary_classes(tmp_path, text, classes, labels):
    p = load_predictions([write(tmp_path, "a.csv", text)]).predictions
    assert (p.classes, p.labels.tolist()) == (classes, labels)


def test_one_column_binary_labels_that_fit_no_reading(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_spam\na,0.8\nb,0.3\n")
    fails(path, "a.csv", "'label'", "one score column, for class 'spam'", "labels are a, b", "p_<class>")
    cli_fails([path], "for class 'spam'")


def test_one_column_binary_stray_label_is_an_invalid_row(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_1\n1,0.8\n0,0.3\n2,0.5\n0,0.1\n")
    fails(path, "values: 2", "row 3", "--drop-invalid")
    p = load_predictions([path], LoadOptions(drop_invalid=True)).predictions
    assert p.classes == ("0", "1") and p.labels.tolist() == [1, 0, 0]


def test_p0_with_only_label_1_says_one_class(tmp_path):
    fails(write(tmp_path, "a.csv", "label,p_0\n1,0.2\n1,0.3\n"), "every row", "label '1'")


# --- item 7: the same file under two spellings is read once -------------------------

def test_same_file_twice_is_read_once(tmp_path, monkeypatch, binary_frame):
    p1, y = binary_frame
    path = tmp_path / "x.csv"
    pd.DataFrame({"label": y, "p_1": p1}).to_csv(path, index=False)
    (tmp_path / "link.csv").symlink_to(path)
    os.link(path, tmp_path / "hard.csv")
    monkeypatch.chdir(tmp_path)
    files = expand_inputs(["x.csv", "./x.csv", "link.csv", "hard.csv", "*.csv", "x.csv"])
    assert files == ["x.csv"]
    assert len(files.notes) == 3  # ./x.csv, link.csv, hard.csv (the glob repeats them; plain repeats say nothing)
    assert all("same file as x.csv" in n for n in files.notes)
    loaded = load_predictions(["x.csv", "./x.csv", "link.csv"])
    assert loaded.predictions.n_samples == len(y) and loaded.files == ("x.csv",)
    assert any("./x.csv is the same file as x.csv" in w for w in loaded.warnings)
    assert any("link.csv is the same file as x.csv" in w for w in loaded.warnings)
    report = json_report(["x.csv", "./x.csv", "link.csv"])
    assert report["input"]["n_samples"] == len(y)
    assert any("same file" in w for w in report["warnings"])


def test_min_samples_gate_cannot_pass_on_a_repeated_file(tmp_path, binary_frame):
    p1, y = binary_frame
    path = tmp_path / "x.csv"
    pd.DataFrame({"label": y, "p_1": p1}).to_csv(path, index=False)
    spelled = os.path.join(str(tmp_path), ".", "x.csv")
    loaded = load_predictions([str(path), spelled, spelled])
    assert loaded.predictions.n_samples == len(y) and len(loaded.warnings) == 1
    r = run(["audit", path, spelled, "--no-calibration", "--min-samples", len(y) + 1])
    assert r.exit_code == 1, r.stderr


# --- item 13: encodings ---------------------------------------------------------------

DASH = b"\x96"  # cp1252 en dash


def test_invalid_utf8_in_a_numeric_cell(tmp_path):
    path = write(tmp_path, "n.csv", b"label,p_a,p_b\na,0.3,0.7\nb," + DASH + b",0.5\nb,0.4,0.6\n")
    msg = cli_fails([path], "n.csv", "'p_a'", "row 2", "0x96", "--encoding cp1252", "UTF-8")
    assert "position" not in msg or "row" in msg
    # with the encoding, the dash is text: a non-numeric score, droppable row by row
    fails(path, "'p_a'", "non-numeric", "row 2", options=LoadOptions(encoding="cp1252"))
    p = load_predictions([path], LoadOptions(encoding="cp1252", drop_invalid=True)).predictions
    assert p.n_samples == 2
    r = run(["audit", path, "--no-calibration", "--encoding", "cp1252", "--drop-invalid", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["input"]["n_samples"] == 2


def test_invalid_utf8_in_a_label_cell(tmp_path):
    path = write(tmp_path, "l.csv", b"label,p_a,p_b\na,0.3,0.7\nb" + DASH + b",0.5,0.5\nb,0.4,0.6\na,0.9,0.1\n")
    cli_fails([path], "l.csv", "'label'", "row 2", "--encoding")
    msg = fails(path, "values: b\u2013", "row 2", options=LoadOptions(encoding="cp1252"))
    assert "b'" not in msg
    p = load_predictions([path], LoadOptions(encoding="cp1252", drop_invalid=True)).predictions
    assert p.n_samples == 3 and p.classes == ("a", "b")


def test_invalid_utf8_in_the_header_and_in_json_lines(tmp_path):
    path = write(tmp_path, "h.csv", b"label,p_" + DASH + b"a,p_b\na,0.3,0.7\n")
    cli_fails([path], "h.csv", "header line", "0x96", "--encoding")
    jl = write(tmp_path, "x.jsonl", b'{"label": "a", "p_a": 0.3, "p_b": 0.7}\n{"label": "b' + DASH + b'", "p_a": 0.5, "p_b": 0.5}\n')
    cli_fails([jl], "x.jsonl", "line 2", "0x96", "--encoding")


def test_latin1_and_utf16_text(tmp_path):
    text = "label,p_caf\u00e9,p_th\u00e9\ncaf\u00e9,0.7,0.3\nth\u00e9,0.2,0.8\n"
    path = write(tmp_path, "l1.csv", text.encode("latin-1"))
    p = load_predictions([path], LoadOptions(encoding="latin-1")).predictions
    assert p.classes == ("caf\u00e9", "th\u00e9") and p.labels.tolist() == [0, 1]
    u16 = write(tmp_path, "u16.tsv", text.replace(",", "\t").encode("utf-16"))  # Excel's "Unicode text"
    assert load_predictions([u16]).predictions.classes == ("caf\u00e9", "th\u00e9")
    bom = write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_predictions([bom]).predictions.classes == ("caf\u00e9", "th\u00e9")


def test_unknown_encoding_is_a_usage_error(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_1\n1,0.8\n0,0.3\n")
    cli_fails([path, "--encoding", "klingon"], "--encoding", "utf-8", "cp1252")
    fails(path, "klingon", options=LoadOptions(encoding="klingon"))


def test_byte_undefined_in_cp1252(tmp_path):
    path = write(tmp_path, "u.csv", b"label,p_a,p_b\na\x81,0.5,0.5\nb,0.4,0.6\n")
    fails(path, "u.csv", "cp1252", "line 2", "latin-1", options=LoadOptions(encoding="cp1252"))


# --- item 14: duplicate names and one column in two roles -----------------------------

@pytest.mark.parametrize(
    "header,dup",
    [("label,p_x,p_x,p_y", "p_x"), ("label,label,p_x,p_y", "label"), ("y_a,y_a,p_a", "y_a")],
)
def test_duplicate_csv_columns(tmp_path, header, dup):
    n = header.count(",") + 1
    path = write(tmp_path, "d.csv", header + "\n" + ",".join(["0"] * (n - 2) + ["0.5", "0.5"]) + "\n")
    cli_fails([path], "d.csv", f"'{dup}' (2 times)", "more than once", "Rename or remove")


def test_duplicate_parquet_columns(tmp_path):
    t = pa.table([pa.array(["a", "b"]), pa.array([0.2, 0.6]), pa.array([0.8, 0.4]), pa.array([0.1, 0.1])],
                 names=["label", "p_a", "p_b", "p_a"])
    path = tmp_path / "d.parquet"
    pq.write_table(t, path)
    cli_fails([path], "d.parquet", "'p_a' (2 times)")


def test_unused_duplicate_columns_are_fine(tmp_path):
    path = write(tmp_path, "d.csv", "label,note,note,p_a,p_b\na,x,y,0.6,0.4\nb,x,y,0.3,0.7\n")
    assert load_predictions([path]).predictions.n_samples == 2


def test_duplicate_in_a_later_pooled_file(tmp_path):
    a = write(tmp_path, "a.csv", "label,p_a,p_b\na,0.6,0.4\nb,0.3,0.7\n")
    b = write(tmp_path, "b.csv", "label,p_a,p_b,p_a\na,0.6,0.4,0.1\n")
    fails([a, b], "b.csv", "'p_a' (2 times)")


def test_one_column_in_two_roles(tmp_path):
    path = write(tmp_path, "r.csv", "label,p_cat,p_dog,id\ncat,0.6,0.4,1\ndog,0.3,0.7,2\n")
    cli_fails([path, "--label-col", "p_cat"], "'p_cat'", "score column", "label column", "--label-col")
    cli_fails([path, "--score-cols", "label,p_cat"], "'label'", "score column", "label column", "--score-cols")
    fails(path, "'p_dog'", "row id (--id-col)", options=LoadOptions(id_col="p_dog"))
    fails(path, "'label'", "row id", options=LoadOptions(id_col="label"))
    assert load_predictions([path], LoadOptions(id_col="id")).ids.tolist() == ["1", "2"]


# --- item 15: inf labels, unpaired multilabel columns --------------------------------

def test_inf_in_a_float_label_column(tmp_path):
    df = pd.DataFrame({"label": [0.0, 1.0, np.inf, 1.0, 0.0], "p_1": [0.2, 0.7, 0.5, 0.9, 0.1]})
    df.to_csv(tmp_path / "i.csv", index=False)
    df.to_parquet(tmp_path / "i.parquet")
    for name in ("i.csv", "i.parquet"):
        cli_fails([tmp_path / name], name, "'label'", "values: inf", "row 3", "--drop-invalid")
        assert load_predictions([str(tmp_path / name)], LoadOptions(drop_invalid=True)).predictions.n_samples == 4


def test_multilabel_label_without_score_column(tmp_path):
    path = write(tmp_path, "m.csv", "y_a,y_b,y_c,p_a,p_b\n1,0,1,0.8,0.3\n0,1,0,0.2,0.6\n")
    cli_fails([path], "m.csv", "y_c", "no score column", "p_c", "drop y_c")
    ok = write(tmp_path, "ok.csv", "y_a,y_b,p_a,p_b,p_c\n1,0,0.8,0.3,0.5\n0,1,0.2,0.6,0.5\n")
    # a score column without a label column is not multilabel: the label column is missing
    fails(ok, "no label column")
    sub = write(tmp_path, "sub.csv", "y_a,y_b,p_a,p_b\n1,0,0.8,0.3\n0,1,0.2,0.6\n")
    spec = load_predictions([sub], LoadOptions(score_cols=("p_a",), task=Task.MULTILABEL)).columns
    assert spec.label_cols == ("y_a",)  # y_b has its score column p_b: leaving it out is a choice, not an error


# --- formats ----------------------------------------------------------------------------

def _same(a: Predictions, b: Predictions) -> None:
    assert a.classes == b.classes and a.task is b.task and a.score_kind is b.score_kind
    assert np.array_equal(a.labels, b.labels)
    assert np.allclose(a.probs, b.probs, rtol=0, atol=1e-9)


def test_delimited_text_json_lines_and_arrow_read_alike(tmp_path, multiclass_frame):
    df, _, _ = multiclass_frame
    df.to_csv(tmp_path / "a.csv", index=False)
    ref = load_predictions([str(tmp_path / "a.csv")]).predictions
    df.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    df.to_csv(tmp_path / "a.txt", sep=";", index=False)
    df.to_csv(tmp_path / "a.psv", sep="|", index=False)
    df.to_csv(tmp_path / "tab_named.csv", sep="\t", index=False)  # the header decides, not the name
    df.to_json(tmp_path / "a.jsonl", orient="records", lines=True, double_precision=15)
    table = pa.Table.from_pandas(df, preserve_index=False)
    feather.write_feather(table, tmp_path / "a.feather")
    feather.write_feather(table, tmp_path / "a.arrow", compression="uncompressed")
    with pa.ipc.new_stream(str(tmp_path / "a.arrows"), table.schema) as w:
        w.write_table(table)
    (tmp_path / "gz_named.csv").write_bytes(gzip.compress((tmp_path / "a.csv").read_bytes()))
    (tmp_path / "a.tsv.bz2").write_bytes(bz2.compress((tmp_path / "a.tsv").read_bytes()))
    for name in ("a.tsv", "a.txt", "a.psv", "tab_named.csv", "a.jsonl", "a.feather", "a.arrow", "a.arrows",
                 "gz_named.csv", "a.tsv.bz2"):
        _same(load_predictions([str(tmp_path / name)]).predictions, ref)
    # stdin takes every format too
    for name in ("a.tsv", "a.jsonl", "a.feather", "gz_named.csv"):
        report = json_report(["-"], stdin=(tmp_path / name).read_bytes())
        assert report["input"]["n_samples"] == len(df)


def test_sniff_delimiter():
    assert sniff_delimiter("a\tb\tc") == "\t"
    assert sniff_delimiter("a;b;c") == ";"
    assert sniff_delimiter("a|b|c") == "|"
    assert sniff_delimiter('label,"p;x",p_y') == ","
    assert sniff_delimiter("label") == ","


def test_npz_logits_and_probabilities(tmp_path, multiclass_frame):
    df, z, y = multiclass_frame
    np.savez(tmp_path / "z.npz", labels=y, logits=z)
    p = load_predictions([str(tmp_path / "z.npz")]).predictions
    assert p.score_kind is ScoreKind.LOGITS and p.classes == ("0", "1", "2") and np.array_equal(p.labels, y)
    assert np.allclose(p.logits, z)
    # one-hot labels (Keras) with class names and probabilities: multiclass; --task multilabel uses the y_ columns
    probs = df[["p_a", "p_b", "p_c"]].to_numpy()
    np.savez(tmp_path / "oh.npz", y_true=np.eye(3)[y], probs=probs, classes=np.array(["a", "b", "c"]))
    q = load_predictions([str(tmp_path / "oh.npz")]).predictions
    _same(q, load_predictions([str(_csv(tmp_path, df))]).predictions)
    ml = load_predictions([str(tmp_path / "oh.npz")], LoadOptions(task=Task.MULTILABEL)).predictions
    assert ml.task is Task.MULTILABEL and ml.labels.shape == (len(y), 3)
    # binary: a 1-D score array is the positive class's
    np.savez(tmp_path / "b.npz", y=np.array([0, 1, 1, 0]), y_prob=np.array([0.2, 0.9, 0.6, 0.4]))
    b = load_predictions([str(tmp_path / "b.npz")]).predictions
    assert b.classes == ("0", "1") and np.allclose(b.probs[:, 1], [0.2, 0.9, 0.6, 0.4])
    # other 1-D arrays are columns (ids)
    np.savez(tmp_path / "ids.npz", labels=y, logits=z, ids=np.arange(len(y)) + 100)
    assert load_predictions([str(tmp_path / "ids.npz")], LoadOptions(id_col="ids")).ids[0] == "100"


def _csv(tmp_path, df):
    path = tmp_path / "ref.csv"
    df.to_csv(path, index=False)
    return path


def test_npz_problems(tmp_path):
    np.savez(tmp_path / "none.npz", a=np.zeros(3), b=np.zeros(3))
    fails(str(tmp_path / "none.npz"), "none.npz", "labels", "logits", "a (3,)", "np.savez")
    np.savez(tmp_path / "shape.npz", labels=np.zeros(3), logits=np.zeros((4, 2)))
    fails(str(tmp_path / "shape.npz"), "'logits'", "(4, 2)", "3 rows")
    np.savez(tmp_path / "obj.npz", labels=np.array(["a", None], dtype=object), logits=np.zeros((2, 2)))
    fails(str(tmp_path / "obj.npz"), "'labels'", "pickled")


def _xlsx(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")


@pytest.mark.parametrize(
    "name,make,what",
    [
        ("a.zip", lambda p: zipfile.ZipFile(p, "w").writestr("a.csv", "label,p_1\n1,0.5\n"), "a zip archive"),
        ("a.xlsx", _xlsx, "Excel workbook"),
        ("a.pkl", lambda p: p.write_bytes(pickle.dumps({"label": [1]})), "pickle"),
        ("a.npy", lambda p: np.save(p, np.zeros(3)), ".npy"),
        ("a.json", lambda p: p.write_text('[{"label": 1, "p_1": 0.5}]'), "JSON array"),
        ("a.bin", lambda p: p.write_bytes(bytes(range(256)) * 4), "binary data"),
        ("a.xz", lambda p: p.write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 40), "xz"),
    ],
)
def test_unsupported_formats(tmp_path, name, make, what):
    path = tmp_path / name
    make(path)
    cli_fails([path], name, "unsupported format", what, "calib reads CSV", "Parquet", "JSON Lines", ".npz")
    cli_fails(["-"], "<stdin>", "unsupported format", what, stdin=path.read_bytes())


def test_no_raw_bytes_in_messages(tmp_path):
    data = gzip.compress(b"label,p_1\n" + b"1,0.5\n" * 5000)
    path = write(tmp_path, "t.csv", data[: len(data) // 2])  # truncated gzip named .csv
    cli_fails([path], "t.csv", "gzip")
    ragged = write(tmp_path, "r.csv", b"label,p_a,p_b\na,0.5,0.5,\x01\x02junk\n")
    msg = cli_fails([ragged], "r.csv", "cannot read the file as CSV")
    assert "\x01" not in msg


# --- label hints, calibrated columns -------------------------------------------------

@pytest.mark.parametrize("name", ["target", "y", "class", "truth", "labels", "y_true", "Target", "LABEL", "lable"])
def test_missing_label_column_suggests(tmp_path, name):
    path = write(tmp_path, "a.csv", f"{name},p_a,p_b\na,0.5,0.5\n")
    cli_fails([path], f"Did you mean '{name}'?", f"--label-col {name}")


def test_calibrated_columns_from_apply(tmp_path):
    path = write(tmp_path, "c.csv", "label,p_a,p_b,p_cal_a,p_cal_b\na,0.9,0.1,0.7,0.3\nb,0.2,0.8,0.4,0.6\n")
    loaded = load_predictions([path])
    assert loaded.columns.score_cols == ("p_a", "p_b")
    assert any("p_cal_a" in w and "--score-cols 'p_cal_*'" in w for w in loaded.warnings)
    cal = load_predictions([path], LoadOptions(score_cols=("p_cal_*",)))
    assert cal.predictions.classes == ("a", "b") and cal.predictions.probs[0, 0] == 0.7  # never 'cal_a'
    fails(path, "raw and calibrated", "p_a and p_cal_a", options=LoadOptions(score_cols=("p_*",)))
    only = write(tmp_path, "o.csv", "label,p_cal_a,p_cal_b\na,0.7,0.3\nb,0.4,0.6\n")
    loaded = load_predictions([only])
    assert loaded.predictions.classes == ("a", "b") and any("calibrated" in w for w in loaded.warnings)


def test_calibrated_columns_after_calib_apply(tmp_path, multiclass_frame):
    df, _, _ = multiclass_frame
    src = _csv(tmp_path, df)
    assert run(["fit", src, "-o", tmp_path / "cal.json", "-q"]).exit_code == 0
    assert run(["apply", tmp_path / "cal.json", src, "-o", tmp_path / "out.csv", "-q"]).exit_code == 0
    report = json_report([tmp_path / "out.csv"])
    assert report["input"]["classes"] == ["a", "b", "c"]
    assert any("--score-cols 'p_cal_*'" in w for w in report["warnings"])
    calibrated = json_report([tmp_path / "out.csv", "--score-cols", "p_cal_*"])
    assert calibrated["input"]["classes"] == ["a", "b", "c"]
    assert calibrated["metrics"]["nll"] != report["metrics"]["nll"]


# --- messages with digits, saturation, adjustments -----------------------------------

def test_row_sum_message_shows_enough_digits(tmp_path):
    path = write(tmp_path, "s.csv", "label,p_a,p_b\na,0.5010004,0.5\nb,0.2,0.8\n")
    msg = fails(path, "tolerance 0.001; worst is off by 0.0010004")
    assert "off by 0.001)" not in msg


def test_float32_is_named_only_when_stored_as_float32(tmp_path):
    probs = np.array([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0], [0.6, 0.4]])
    labels = [0, 1, 1, 0]
    for dtype in ("float32", "float64"):
        t = pa.table({"label": labels, "p_a": pa.array(probs[:, 0].astype(dtype)), "p_b": pa.array(probs[:, 1].astype(dtype))})
        pq.write_table(t, tmp_path / f"{dtype}.parquet")
        preds = load_predictions([str(tmp_path / f"{dtype}.parquet")]).predictions
        assert (FLOAT32_EVIDENCE in preds.score_kind_evidence) == (dtype == "float32")
        warning = saturation_warning(preds)
        assert warning is not None and "2 of 4 rows" in warning
        assert ("float32" in warning) == (dtype == "float32")


def test_adjustments_record_renormalize_and_drop_invalid(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_a,p_b\na,0.6,0.6\nb,0.1,0.3\na,0.7,0.3\nzz,0.5,0.5\nb,nan,0.5\n")
    loaded = load_predictions([path], LoadOptions(renormalize=True, drop_invalid=True))
    kinds = [a.kind for a in loaded.adjustments]
    assert kinds == ["renormalized", "dropped"]
    ren, drop = loaded.adjustments
    assert ren.rows == 2 and ren.largest_change == pytest.approx(0.45)  # 0.3 -> 0.75 in row 2
    assert drop.rows == 2 and drop.largest_change is None and "'label'" in drop.detail and "'p_a'" in drop.detail
    assert sum(loaded.dropped.values()) == 2  # the old field still works
    assert not load_predictions([write(tmp_path, "ok.csv", "label,p_a,p_b\na,0.6,0.4\nb,0.3,0.7\n")]).adjustments


def test_source_format_detection(tmp_path):
    path = write(tmp_path, "x.dat", "label\tp_1\n1\t0.5\n")
    src = Source(path)
    assert (src.format, src.delimiter) == ("csv", "\t")


def test_same_file_twice_per_file_and_apply_say_so(tmp_path, multiclass_frame):
    df, _, _ = multiclass_frame
    src = _csv(tmp_path, df)
    twin = os.path.join(str(tmp_path), ".", "ref.csv")  # (pathlib would drop the ".")
    r = run(["audit", src, twin, "--per-file", "--no-calibration", "--format", "json"])
    assert r.exit_code == 0 and "same file as" in r.stderr
    assert len(json.loads(r.stdout)["reports"]) == 1
    assert run(["fit", src, "-o", tmp_path / "cal.json", "-q"]).exit_code == 0
    r = run(["apply", tmp_path / "cal.json", src, twin, "-o", tmp_path / "out.csv"])
    assert r.exit_code == 0 and "same file as" in r.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == len(df)


def test_corrupt_arrow_offsets_are_an_input_error(tmp_path):
    labels = np.array(["a", "b"])[np.arange(100) % 2]
    t = pa.table({"label": labels, "p_a": np.full(100, 0.4), "p_b": np.full(100, 0.6)})
    feather.write_feather(t, tmp_path / "ok.feather", compression="uncompressed")
    data = (tmp_path / "ok.feather").read_bytes()
    offsets = np.arange(101, dtype=np.int32).tobytes()
    assert offsets in data
    broken = np.arange(101, dtype=np.int32)
    broken[44] = 90  # offsets no longer increase
    path = write(tmp_path, "bad.feather", data.replace(offsets, broken.tobytes()))
    cli_fails([path], "bad.feather", "Arrow IPC/Feather", "truncated or corrupt")


def test_semicolon_file_with_decimal_commas(tmp_path, multiclass_frame):
    df, _, _ = multiclass_frame
    ref = load_predictions([str(_csv(tmp_path, df))]).predictions
    df.to_csv(tmp_path / "eu.csv", sep=";", decimal=",", index=False)  # Excel in many European locales
    _same(load_predictions([str(tmp_path / "eu.csv")]).predictions, ref)


def test_apply_takes_encoding(tmp_path):
    fit_path = write(tmp_path, "fit.csv", "label,p_a,p_b\na,0.7,0.3\nb,0.2,0.8\na,0.6,0.4\nb,0.45,0.55\n")
    assert run(["fit", fit_path, "-o", tmp_path / "cal.json", "-q"]).exit_code == 0
    src = write(tmp_path, "w.csv", b"label,p_a,p_b,note\na,0.7,0.3,caf\xe9\nb,0.2,0.8,x\n")
    r = run(["apply", tmp_path / "cal.json", src, "-o", tmp_path / "out.csv"])
    assert r.exit_code == 2 and "'note'" in r.stderr and "--encoding" in r.stderr and not BYTES_REPR.search(r.stderr)
    r = run(["apply", tmp_path / "cal.json", src, "-o", tmp_path / "out.csv", "--encoding", "latin-1", "-q"])
    assert r.exit_code == 0, r.stderr
    assert pd.read_csv(tmp_path / "out.csv")["note"].tolist() == ["caf\u00e9", "x"]


def test_label_col_typo_suggests_label(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_a,p_b\na,0.5,0.5\n")
    cli_fails([path, "--label-col", "target"], "no label column 'target'", "Did you mean 'label'?", "--label-col label")


def test_ragged_csv_and_bad_json_lines_name_the_line(tmp_path):
    path = write(tmp_path, "r.csv", 'label,p_a,p_b\na,0.5,0.5\nb,"0,5",0.5\nb,0.5,0.5,9\n')
    cli_fails([path], "r.csv", "line 4 has 4 fields, the header has 3")
    jl = write(tmp_path, "b.jsonl", '{"label": "a", "p_a": 0.5, "p_b": 0.5}\n{"label": "b", "p_a": 0.5, "p_b": 0.5}\nnot json\n')
    cli_fails([jl], "b.jsonl", "JSON Lines", "line 3")


def test_npz_byte_string_labels(tmp_path):
    z = np.array([[2.0, -1.0], [0.0, 3.0]])
    np.savez(tmp_path / "s.npz", labels=np.array([b"cat", b"dog"]), logits=z, classes=np.array([b"cat", b"dog"]))
    assert load_predictions([str(tmp_path / "s.npz")]).predictions.classes == ("cat", "dog")
    np.savez(tmp_path / "bad.npz", labels=np.array([b"cat", b"d\x96g"]), logits=z)
    fails(str(tmp_path / "bad.npz"), "bad.npz", "'labels'", "0x96", "--encoding")


def test_empty_stdin(tmp_path):
    cli_fails(["-"], "<stdin>", "no data arrived on standard input", stdin=b"")


def test_adjustments_record_clipping_within_tolerance(tmp_path):
    path = write(tmp_path, "c.csv", "label,p_1\n1,1.00004\n0,-0.00002\n1,0.7\n0,0.2\n")
    loaded = load_predictions([path])
    (clip,) = loaded.adjustments
    assert (clip.kind, clip.rows) == ("clipped", 2) and clip.largest_change == pytest.approx(4e-5)
    assert loaded.predictions.probs[:, 1].tolist() == [1.0, 0.0, 0.7, 0.2]


def test_an_existing_file_whose_name_looks_like_a_glob_is_read(tmp_path):
    import shutil

    from calibcli.reading import expand_inputs

    path = tmp_path / "in[1].csv"
    from pathlib import Path

    shutil.copy(Path(__file__).resolve().parent.parent / "sample_data" / "binary.csv", path)
    assert list(expand_inputs([str(path)])) == [str(path)]
