"""calib thresholds -o with a failing input: no output file unless --keep-going (a failed run leaves none)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import run

GOOD = "label,p_a,p_b\na,0.8,0.2\nb,0.3,0.7\na,0.6,0.4\nb,0.1,0.9\n"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD)
    bad.write_text("label,p_a,p_b\na,0.8,nope\n")
    return good, bad


def test_a_failed_file_means_no_output_file(tmp_path):
    good, bad = _files(tmp_path)
    out = tmp_path / "t.json"
    r = run(["thresholds", str(good), str(bad), "-o", str(out)])
    assert r.exit_code == 2
    assert not out.exists()
    assert "no output written" in r.stderr and "--keep-going" in r.stderr
    assert not list(tmp_path.glob(".*tmp*"))


def test_keep_going_writes_the_others_and_still_exits_2(tmp_path):
    good, bad = _files(tmp_path)
    out = tmp_path / "t.json"
    r = run(["thresholds", str(good), str(bad), "-o", str(out), "--keep-going"])
    assert r.exit_code == 2
    doc = json.loads(out.read_text())
    assert [f["file"] for f in doc["failures"]] == [str(bad)]
    assert doc["results"] and all(x["file"] == str(good) for x in doc["results"])


def test_all_files_fine_writes_without_keep_going(tmp_path):
    good, _ = _files(tmp_path)
    out = tmp_path / "t.json"
    r = run(["thresholds", str(good), "-o", str(out)])
    assert r.exit_code == 0 and out.exists()
