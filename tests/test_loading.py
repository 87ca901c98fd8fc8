"""Input detection and validation: every bad input is exit 2 with file, column, rows and fix."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from calibcli.errors import InputError
from calibcli.loading import LoadOptions, load_predictions
from calibcli.predictions import ScoreKind, Task
from cli_helpers import run
from conftest import SAMPLES


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def fails(path, *needles, options=LoadOptions()):
    with pytest.raises(InputError) as info:
        load_predictions([path], options)
    msg = str(info.value)
    for n in needles:
        assert n in msg, (n, msg)
    return msg


# --- detection -----------------------------------------------------------------

@pytest.mark.parametrize(
    "name,task,kind,k",
    [
        ("multiclass_probs.csv", Task.MULTICLASS, ScoreKind.PROBS, 5),
        ("multiclass_logits.parquet", Task.MULTICLASS, ScoreKind.LOGITS, 5),
        ("binary.csv", Task.BINARY, ScoreKind.PROBS, 2),
        ("multilabel.csv", Task.MULTILABEL, ScoreKind.PROBS, 4),
        ("top_label.csv", Task.TOP_LABEL, ScoreKind.PROBS, 5),
        ("cifar10_vgg16_real.csv", Task.MULTICLASS, ScoreKind.PROBS, 10),
    ],
)
def test_samples_are_detected(name, task, kind, k):
    p = load_predictions([str(SAMPLES / name)]).predictions
    assert (p.task, p.score_kind, p.n_classes) == (task, kind, k)
    assert p.score_kind_evidence


def test_string_labels_map_to_suffixes(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_cat,p_dog\ndog,0.2,0.8\ncat,0.9,0.1\n")
    p = load_predictions([path]).predictions
    assert p.classes == ("cat", "dog") and p.labels.tolist() == [1, 0]


def test_integer_labels_index_named_classes(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_cat,p_dog,p_cow\n1,0.2,0.7,0.1\n0,0.9,0.05,0.05\n")
    assert load_predictions([path]).predictions.labels.tolist() == [1, 0]


def test_numeric_suffixes_match_label_values_not_positions(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_3,p_7\n7,0.2,0.8\n3,0.9,0.1\n")
    p = load_predictions([path]).predictions
    assert p.classes == ("3", "7") and p.labels.tolist() == [1, 0]


def test_classes_option_fixes_order(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_cat,p_dog\ndog,0.2,0.8\ncat,0.9,0.1\n")
    p = load_predictions([path], LoadOptions(classes=("dog", "cat"))).predictions
    assert p.classes == ("dog", "cat") and p.labels.tolist() == [0, 1]
    assert p.probs[0].tolist() == [0.8, 0.2]


def test_binary_single_column_with_string_labels(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_spam\nspam,0.8\nham,0.3\nham,0.1\n")
    p = load_predictions([path]).predictions
    assert p.classes == ("ham", "spam") and p.labels.tolist() == [1, 0, 0]
    assert np.allclose(p.probs[:, 1], [0.8, 0.3, 0.1])


def test_binary_single_logit_column_is_sigmoid(tmp_path):
    path = write(tmp_path, "a.csv", "label,logit_1\n1,2.0\n0,-1.0\n")
    p = load_predictions([path]).predictions
    assert np.allclose(p.probs[:, 1], 1 / (1 + np.exp([-2.0, 1.0])))


def test_multilabel_logits(tmp_path):
    path = write(tmp_path, "a.csv", "y_a,logit_a,y_b,logit_b\n1,3.0,0,-2.0\n0,-1.0,1,0.5\n")
    p = load_predictions([path]).predictions
    assert p.task is Task.MULTILABEL and p.score_kind is ScoreKind.LOGITS
    assert np.allclose(p.probs, 1 / (1 + np.exp(-np.array([[3.0, -2.0], [-1.0, 0.5]]))))


def test_score_cols_glob_and_explicit_names(tmp_path):
    path = write(tmp_path, "a.csv", "label,score_a,score_b,other\na,1.5,-1.0,9\nb,0.1,0.9,9\n")
    p = load_predictions([path], LoadOptions(score_cols=("score_*",))).predictions
    assert p.classes == ("a", "b")
    assert p.score_kind is ScoreKind.LOGITS  # values outside [0, 1]


def test_renormalize(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_a,p_b\na,0.6,0.6\nb,0.1,0.3\n")
    fails(path, "not summing to 1", "--renormalize", "row 1")
    p = load_predictions([path], LoadOptions(renormalize=True)).predictions
    assert np.allclose(p.probs, [[0.5, 0.5], [0.25, 0.75]])


def test_stdin_and_gzip(tmp_path):
    data = (SAMPLES / "binary.csv").read_bytes()
    r1 = run(["audit", "-", "--format", "json"], stdin=data)
    r2 = run(["audit", "-", "--format", "json"], stdin=gzip.compress(data))
    r3 = run(["audit", str(SAMPLES / "binary.csv"), "--format", "json"])
    assert r1.exit_code == r2.exit_code == r3.exit_code == 0
    import json

    m = [json.loads(r.stdout)["metrics"] for r in (r1, r2, r3)]
    assert m[0] == m[1] == m[2]


def test_prefix_groups_conflict(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_a,p_b,logit_a,logit_b\na,0.5,0.5,0,0\n")
    fails(path, "several prefixes", "--score-cols")


def test_calibrated_columns_are_not_picked_by_default(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_a,p_b,p_cal_a,p_cal_b\na,0.6,0.4,0.5,0.5\nb,0.3,0.7,0.5,0.5\n")
    p = load_predictions([path]).predictions
    assert p.classes == ("a", "b") and p.probs[0, 0] == 0.6


# --- bad input -------------------------------------------------------------------

def test_every_problem_is_collected(tmp_path):
    path = write(tmp_path, "bad.csv", "label,p_a,p_b,p_c\na,0.5,0.5,0\nb,nan,0.5,0.1\na,0.2,0.8,0\nc,0.3,0.3,0.3\nd,0.1,0.1,0.8\n")
    msg = fails(path, "3 problems", "bad.csv", "'p_a'", "NaN", "row 2", "'label'", "values: d", "row 5", "off by 0.1", "row 4")
    assert msg.count("Fix:") == 3


def test_drop_invalid_drops_and_reports(tmp_path):
    path = write(tmp_path, "bad.csv", "label,p_a,p_b\na,0.5,0.5\nb,nan,0.5\na,0.2,0.8\nb,0.3,0.7\nzz,0.1,0.9\n")
    loaded = load_predictions([path], LoadOptions(drop_invalid=True))
    assert loaded.predictions.n_samples == 3
    assert sum(loaded.dropped.values()) == 2
    assert any("dropped" in w for w in loaded.warnings)


def test_rows_are_numbered_per_file_when_pooled(tmp_path):
    a = write(tmp_path, "a.csv", "label,p_a,p_b\na,0.5,0.5\nb,0.3,0.7\n")
    b = write(tmp_path, "b.csv", "label,p_a,p_b\na,0.5,0.5\nb,inf,0.7\n")
    with pytest.raises(InputError) as info:
        load_predictions([a, b])
    assert "b.csv: 1 row (row 2)" in str(info.value) and "a.csv:" not in str(info.value)


@pytest.mark.parametrize(
    "name,text,needles",
    [
        ("empty.csv", "", ["empty.csv", "empty"]),
        ("header.csv", "label,p_a,p_b\n", ["header.csv", "no data rows"]),
        ("nolabel.csv", "lable,p_a,p_b\na,0.5,0.5\n", ["no label column 'label'", "Did you mean 'lable'", "--label-col"]),
        ("noscore.csv", "label,x,y\na,0.5,0.5\n", ["no score columns", "--score-cols"]),
        ("nonnum.csv", "label,p_a,p_b\na,0.5,0.5\nb,abc,0.5\n", ["'p_a'", "non-numeric", "row 2"]),
        ("range.csv", "label,p_a,p_b\na,1.5,-0.5\nb,0.2,0.8\n", ["outside [0, 1]", "row 1", "--score-kind logits"]),
        ("oneclass.csv", "label,p_a,p_b\na,0.5,0.5\na,0.2,0.8\n", ["every row", "'a'", "two classes"]),
        ("logitprobs.csv", "label,logit_a,logit_b\na,0.2,0.8\nb,0.5,0.5\n", ["look like probabilities", "--score-kind"]),
        ("ambiguous.csv", "label,s_a,s_b,s_c\na,0.2,0.3,0.1\nb,0.5,0.1,0.1\n", ["cannot tell", "--score-kind"]),
        ("mlbad.csv", "y_a,p_a,y_b,p_b\n2,0.5,0,0.5\n1,0.5,1,0.5\n", ["'y_a'", "0 and 1", "row 1"]),
        ("ragged.csv", "label,p_a,p_b\na,0.5,0.5,9\n", ["ragged.csv", "cannot read the file as CSV"]),
    ],
)
def test_bad_input_messages(tmp_path, name, text, needles):
    path = write(tmp_path, name, text)
    opts = LoadOptions(score_cols=("s_*",)) if name == "ambiguous.csv" else LoadOptions()
    fails(path, *needles, options=opts)
    r = run(["audit", path] + (["--score-cols", "s_*"] if name == "ambiguous.csv" else []))
    assert r.exit_code == 2
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_truncated_parquet(tmp_path):
    data = (SAMPLES / "multiclass_logits.parquet").read_bytes()
    path = tmp_path / "t.parquet"
    path.write_bytes(data[: len(data) // 2])
    fails(str(path), "t.parquet", "Parquet", "truncated or corrupt")


def test_missing_file_and_unmatched_glob(tmp_path):
    r = run(["audit", str(tmp_path / "nope.csv")])
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = run(["audit", str(tmp_path / "*.parquet")])
    assert r.exit_code == 2 and "matches no file" in r.stderr


def test_pooled_files_with_different_columns(tmp_path):
    a = write(tmp_path, "a.csv", "label,p_a,p_b\na,0.5,0.5\nb,0.3,0.7\n")
    b = write(tmp_path, "b.csv", "label,p_a,p_c\na,0.5,0.5\n")
    with pytest.raises(InputError, match="b.csv: missing column p_b"):
        load_predictions([a, b])


def test_classes_option_mismatch(tmp_path):
    path = write(tmp_path, "a.csv", "label,p_a,p_b\na,0.5,0.5\nb,0.3,0.7\n")
    fails(path, "--classes does not match", "no column for c", options=LoadOptions(classes=("a", "c")))


def test_input_file_is_never_modified(tmp_path):
    path = tmp_path / "a.csv"
    pd.DataFrame({"label": [0, 1, 1], "p_1": [0.2, 0.7, 0.9]}).to_csv(path, index=False)
    before = path.read_bytes()
    r = run(["audit", str(path), "--json-out", str(path)])
    assert r.exit_code == 2 and "never overwrites" in r.stderr
    assert path.read_bytes() == before
