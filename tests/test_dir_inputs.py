"""A directory given as input: only files named as data are read; the rest are skipped with a note."""

from __future__ import annotations

import gzip
import json

import pytest

from calibcli.errors import InputError
from calibcli.sources.paths import expand_inputs, is_data_name

from cli_helpers import run

CSV = "label,p_a,p_b\na,0.8,0.2\nb,0.3,0.7\na,0.6,0.4\nb,0.1,0.9\n"


@pytest.fixture
def parts(tmp_path):
    d = tmp_path / "parts"
    (d / "sub").mkdir(parents=True)
    (d / "part-00000.csv").write_text(CSV)
    (d / "sub" / "part-00001.csv.gz").write_bytes(gzip.compress(CSV.encode()))
    (d / "0.part").write_text(CSV)  # Dask's to_csv names
    (d / "README.txt").write_text("Predictions of model 7, exported on Monday.\n")
    (d / "schema.json").write_text("{}\n")
    (d / "_SUCCESS").write_bytes(b"")
    return d


def test_directory_reads_data_names_and_notes_the_rest(parts):
    got = expand_inputs([str(parts)])
    assert [p.rsplit("/", 1)[-1] for p in got] == ["0.part", "part-00000.csv", "part-00001.csv.gz"]
    assert len(got.notes) == 1
    assert "skipped 2 files not named as data (README.txt, schema.json)" in got.notes[0]
    r = run(["audit", parts, "--no-calibration", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["input"]["n_samples"] == 12 and len(d["input"]["files"]) == 3
    assert any("README.txt" in w for w in d["warnings"]) and "no score columns" not in r.stderr


def test_a_directory_with_no_data_names_is_exit_2_naming_what_it_held(tmp_path):
    (tmp_path / "README.txt").write_text("hello\n")
    (tmp_path / "notes.md").write_text("# notes\n")
    with pytest.raises(InputError, match=r"only files not named as data \(README.txt, notes.md\)"):
        expand_inputs([str(tmp_path)])
    r = run(["audit", tmp_path])
    assert r.exit_code == 2
    assert f"{tmp_path}: the directory holds no data files, only files not named as data (README.txt, notes.md)" in r.stderr
    assert "Traceback" not in r.stderr


def test_files_named_directly_are_read_whatever_their_name(tmp_path):
    (tmp_path / "preds.txt").write_text(CSV)
    r = run(["audit", tmp_path / "preds.txt", "--no-calibration"])
    assert r.exit_code == 0, r.stderr
    r = run(["audit", str(tmp_path / "*.txt"), "--no-calibration"])
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("name, data", [
    ("part-00000", True), ("part-r-00001", True), ("3.part", True), ("a.CSV", True), ("a.tsv.bz2", True),
    ("x.snappy.parquet", True), ("x.feather", True), ("x.arrow", True), ("x.jsonl.zst", True), ("x.npz", True),
    ("README.txt", False), ("README", False), ("LICENSE", False), ("notes.md", False), ("schema.json", False),
    ("x.gz", False), ("x.csv.tmp", False),
])
def test_is_data_name(name, data):
    assert is_data_name(name) is data
