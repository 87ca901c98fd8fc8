"""The PNGs of ``calib audit --plots``: files, sizes, determinism, no global matplotlib state."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from calibcli.audit import build_audit
from calibcli.cli.audit_plots import subfolder_names
from calibcli.loading import LoadOptions, load_predictions
from calibcli.plotdata import classes_data, confidence_data, reliability_data
from calibcli.render.plots import render_all
from tests.cli_helpers import run

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
PROBS = str(SAMPLES / "multiclass_probs.csv")  # 5 classes
MULTILABEL = str(SAMPLES / "multilabel.csv")  # 4 labels
NAMES = ("reliability.png", "classes.png", "confidence.png")


def png_info(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking signature and chunk CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append(kind)
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
    assert b"tIME" not in chunks  # no timestamp
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def report_of(path: str):
    return build_audit(load_predictions([path], LoadOptions()), 15, "uniform")


@dataclasses.dataclass(frozen=True)
class FakeCalibration:
    before: object
    after: object
    method: str = "temperature"


@pytest.fixture(scope="module")
def probs_plots(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plots")
    r = run(["audit", PROBS, "--plots", out / "p", "-q"])
    assert r.exit_code == 0, r.stderr
    return out / "p"


def test_three_pngs_with_expected_sizes(probs_plots):
    assert sorted(p.name for p in probs_plots.iterdir()) == sorted(NAMES)
    sizes = {n: png_info((probs_plots / n).read_bytes()) for n in NAMES}
    assert sizes["reliability.png"] == (800, 800)  # 8 x 8 in at 100 dpi
    assert sizes["confidence.png"] == (800, 560)  # 8 x 5.6 in
    # 5 classes -> 3 columns x 2 rows of 2.45 x 3.33 in cells plus margins:
    # width 0.75 + 3 * 2.45 + 0.35 = 8.45 in, height 1.45 + 2 * 3.33 + 0.55 = 8.66 in
    assert sizes["classes.png"] == (845, 866)


def test_a_second_run_in_a_fresh_process_gives_identical_bytes(probs_plots, tmp_path):
    out = tmp_path / "again"
    proc = subprocess.run([sys.executable, "-m", "calibcli", "audit", PROBS, "--plots", str(out), "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for n in NAMES:
        assert (out / n).read_bytes() == (probs_plots / n).read_bytes(), n


def test_stderr_says_what_was_written(tmp_path):
    r = run(["audit", MULTILABEL, "--plots", tmp_path / "ml", "--format", "json", "--max-class-panels", "2"])
    assert r.exit_code == 0
    assert r.stdout.lstrip().startswith("{")  # stdout stays pure JSON
    assert "wrote 3 plots" in r.stderr and str(tmp_path / "ml") in r.stderr
    # 2 of 4 labels -> 2 columns x 1 row; width at its 7.6 in minimum, height 1.45 + 3.33 + 0.55 in
    assert png_info((tmp_path / "ml" / "classes.png").read_bytes()) == (760, 533)


def test_per_file_writes_one_folder_per_input(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    text = (SAMPLES / "multiclass_probs.csv").read_text().splitlines()
    (a / "preds.csv").write_text("\n".join(text[:301]) + "\n")
    (b / "preds.csv").write_text("\n".join([text[0]] + text[301:601]) + "\n")
    out = tmp_path / "out"
    r = run(["audit", a / "preds.csv", b / "preds.csv", "--per-file", "--plots", out, "-q", "--max-class-panels", "1"])
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a-preds", "b-preds"]
    for sub in ("a-preds", "b-preds"):
        assert sorted(p.name for p in (out / sub).iterdir()) == sorted(NAMES)
    assert (out / "a-preds" / "reliability.png").read_bytes() != (out / "b-preds" / "reliability.png").read_bytes()


def test_subfolder_names():
    assert subfolder_names(["x/p.csv.gz", "y/q.parquet", "-"]) == ["p", "q", "stdin"]
    assert subfolder_names(["r/a/data.parquet", "r/b/data.parquet"]) == ["a-data", "b-data"]
    assert subfolder_names(["r/a/data.csv", "s/a/data.csv"]) == ["a-data", "a-data-2"]


def test_plots_path_that_is_a_file_is_a_usage_error(tmp_path):
    f = tmp_path / "taken"
    f.write_text("x")
    r = run(["audit", PROBS, "--plots", f, "-q"])
    assert r.exit_code == 2
    assert "calib: error" in r.stderr or "Error" in r.stderr
    assert "Traceback" not in r.stderr
    assert f.read_text() == "x"


def test_max_class_panels_must_be_positive(tmp_path):
    r = run(["audit", PROBS, "--plots", tmp_path, "--max-class-panels", "0"])
    assert r.exit_code == 2 and not any(tmp_path.iterdir())


def test_no_plots_without_the_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(["audit", PROBS, "-q"])
    assert r.exit_code == 0 and not list(tmp_path.rglob("*.png"))


def test_overlay_and_edge_cases_render(tmp_path):
    # A calibrated stand-in (before = this model, after = another model's measurement with the same classes),
    # and a top-label file with a never-predicted class and an empty count strip.
    before = report_of(PROBS)
    other = build_audit(load_predictions([PROBS], LoadOptions()), 10, "uniform")
    cal = dataclasses.replace(before, calibration=FakeCalibration(before.measurement, other.measurement))
    plain = render_all(reliability_data(before), classes_data(before, 2), confidence_data(before))
    over = render_all(reliability_data(cal), classes_data(cal, 2), confidence_data(cal), "temperature")
    for n in NAMES:
        assert png_info(over[n]) == png_info(plain[n])
        assert over[n] != plain[n]
    top = tmp_path / "top.csv"
    top.write_text("label,pred_label,confidence\na,a,0.9\nb,a,0.8\nb,b,0.6\nc,b,0.7\n")
    rep = report_of(str(top))
    from calibcli.render.plots import classes_figure, png_bytes

    # 3 classes -> ceil(sqrt 3) = 2 columns, 2 rows: 7.6 in (minimum) x (1.45 + 2 * 3.33 + 0.55) in
    assert png_info(png_bytes(classes_figure(classes_data(rep, 25)))) == (760, 866)


GLOBAL_STATE_CHECK = """
import sys
import calibcli.cli.audit
assert "matplotlib" not in sys.modules, "importing the audit command must not import matplotlib"
import matplotlib
before = dict(dict.items(matplotlib.rcParams))  # raw values: reading 'backend' itself would import pyplot
from calibcli.audit import build_audit
from calibcli.loading import LoadOptions, load_predictions
from calibcli.plotdata import classes_data, confidence_data, reliability_data
from calibcli.render.plots import render_all
rep = build_audit(load_predictions([sys.argv[1]], LoadOptions()), 15, "uniform")
render_all(reliability_data(rep), classes_data(rep, 1), confidence_data(rep))
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
assert dict(dict.items(matplotlib.rcParams)) == before, "rcParams changed"
print("ok")
"""


def test_no_pyplot_no_rcparams_change_no_eager_import():
    proc = subprocess.run([sys.executable, "-c", GLOBAL_STATE_CHECK, MULTILABEL], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_plots_and_panel_cap_from_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CALIB_CONFIG", raising=False)
    (tmp_path / "calib.toml").write_text('plots = "from-config"\nmax-class-panels = 1\n')
    r = run(["audit", PROBS, "-q"])
    assert r.exit_code == 0, r.stderr
    # one panel -> 1 x 1 grid: 7.6 in (minimum) x (1.45 + 3.33 + 0.55) in
    assert png_info((tmp_path / "from-config" / "classes.png").read_bytes()) == (760, 533)
