"""The HTML report (``--html-out``; ``calibcli.render.html``): valid HTML5, self-contained, deterministic, accessible."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from tests.cli_helpers import run

html5lib = pytest.importorskip("html5lib")

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
MULTI = SAMPLE / "multiclass_probs.csv"
NS = "{http://www.w3.org/1999/xhtml}"
FULL = ["--calibrators", "temperature,isotonic", "--objective", "f1", "--threshold-bootstrap", "20", "--max-ece", "0.05"]
SECTIONS = ["verdict", "headline", "figures", "classes", "thresholds", "calibration", "gate", "conventions", "provenance"]


def _audit(tmp_path: Path, name: str, args: list[str], expect=(0, 1)) -> str:
    out = tmp_path / name
    r = run(["audit", *args, "--html-out", out, "-q"])
    assert r.exit_code in expect, r.stderr
    return out.read_text(encoding="utf-8")


def _parse(text: str):
    parser = html5lib.HTMLParser(strict=True)
    return parser.parse(text)  # strict: the first parse error raises


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> str:
    return _audit(tmp_path_factory.mktemp("html"), "full.html", [str(MULTI), *FULL])


def test_parses_without_errors_and_has_sections_in_order(full):
    doc = _parse(full)
    ids = [s.get("id") for s in doc.iter(f"{NS}section")]
    assert ids == SECTIONS
    assert doc.get("lang") == "en"


@pytest.mark.parametrize("sample,args", [("binary.csv", []), ("multilabel.csv", []), ("top_label.csv", []),
                                         ("multiclass_probs.csv", ["--no-calibration", "--bins", "7"])])
def test_every_task_parses(tmp_path, sample, args):
    text = _audit(tmp_path, "r.html", [str(SAMPLE / sample), *args])
    doc = _parse(text)
    assert len([i for i in doc.iter(f"{NS}img")]) == 3
    assert text.index("Decision verdict") < text.index('id="headline"')  # the decision verdict opens the report


def test_deterministic_bytes(tmp_path, full):
    again = _audit(tmp_path, "again.html", [str(MULTI), *FULL])
    other = tmp_path / "elsewhere"
    other.mkdir()
    third = _audit(other, "again.html", [str(MULTI), *FULL])
    assert again.replace(str(tmp_path), "X") == third.replace(str(other), "X")  # only the --html-out path differs
    strip = lambda text: re.sub(r"--html-out \S+", "", text)  # noqa: E731
    assert strip(again) == strip(full)


def test_self_contained_no_network_references(full):
    assert not re.search(r"https?://", full)
    assert "<link" not in full and "@import" not in full and "url(" not in full
    assert "Content-Security-Policy" in full and "default-src 'none'" in full
    svgs = [base64.b64decode(m) for m in re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', full)]
    assert len(svgs) == 3
    for svg in svgs:
        assert not re.search(rb'(?:xlink:)?href="(?!#)', svg)  # only references within the SVG itself
        assert b"Date" not in svg.split(b"</metadata>")[0][-400:] or b"<dc:date>" not in svg


def test_alt_text_on_every_image(full):
    doc = _parse(full)
    imgs = list(doc.iter(f"{NS}img"))
    assert imgs and all(len(i.get("alt", "").strip()) > 40 for i in imgs)
    assert all(i.get("src", "").startswith("data:image/") for i in imgs)
    assert list(doc.iter("{http://www.w3.org/2000/svg}svg")) == []  # figures are images, each with its alt text
    alt = imgs[0].get("alt")
    assert "Reliability diagram" in alt and "ECE 0.1784" in alt


def test_styles_dark_mode_print_and_palette(full):
    assert "@media (prefers-color-scheme:dark)" in full
    assert "@media print" in full and "size:A4" in full
    for colour in ("#0072B2", "#009E73", "#D55E00", "#E69F00"):  # Okabe-Ito
        assert colour in full


def test_class_table_worst_first_and_sortable(full):
    doc = _parse(full)
    section = next(s for s in doc.iter(f"{NS}section") if s.get("id") == "classes")
    table = section.find(f".//{NS}table")
    assert "sortable" in table.get("class")
    names = [r.find(f"{NS}th").text for r in table.find(f"{NS}tbody").iter(f"{NS}tr")]
    assert names == ["cat", "bird", "dog", "fish", "lizard"]  # ECE 0.1032, 0.0925, 0.0914, 0.0643, 0.0196
    cells = table.find(f"{NS}tbody").find(f"{NS}tr").findall(f"{NS}td")
    v = cells[2].get("data-v")  # the ECE column sorts by the unrounded value
    assert len(v) > 8 and float(v) == pytest.approx(0.10318052686781781, rel=1e-12)


def test_gate_verdict_and_tables(full):
    assert "<strong>Gate failed</strong>: 0 of 1 rule hold, 1 failed." in full
    assert "ECE 0.1784 &gt; max 0.05 (--max-ece)" in full
    assert "<th scope=\"row\">temperature</th>" in full and ">best<" in full  # calibrator comparison
    assert "2.1179 (95% interval [2.0327, 2.1940])" in full


def test_provenance_hash_version_and_command(full):
    from calibcli import __version__

    digest = hashlib.sha256(MULTI.read_bytes()).hexdigest()
    assert digest in full
    assert f"calib {__version__}" in full
    cmd = re.search(r"<dt>Command</dt><dd class=\"mono\">([^<]*)</dd>", full).group(1)
    assert cmd.startswith("calib audit ") and "--max-ece 0.05" in cmd and "--calibrators temperature,isotonic" in cmd
    assert "--html-out" in cmd and "--quiet" in cmd  # options as given, each under its long name

def test_per_file_one_article_each_with_contents(tmp_path):
    text = _audit(tmp_path, "pf.html", [str(SAMPLE / "binary.csv"), str(MULTI), "--per-file", "--no-calibration"])
    doc = _parse(text)
    articles = list(doc.iter(f"{NS}article"))
    assert [a.get("id") for a in articles] == ["r1", "r2"]
    assert [a.get("href") for a in doc.find(f".//{NS}nav").iter(f"{NS}a")] == ["#r1", "#r2"]
    ids = [s.get("id") for s in doc.iter(f"{NS}section")]
    assert len(ids) == len(set(ids))  # ids unique across reports


def test_output_checked_before_work(tmp_path):
    r = run(["audit", MULTI, "--html-out", MULTI])
    assert r.exit_code == 2 and "never overwrites its input" in r.stderr
    r = run(["audit", MULTI, "--html-out", tmp_path])
    assert r.exit_code == 2 and ("is a folder" in r.stderr or "is a directory" in r.stderr)
    bad = tmp_path / "bad.csv"
    bad.write_text("label,p_a,p_b\n0,0.5,nan\n")
    r = run(["audit", bad, "--html-out", tmp_path / "r.html"])
    assert r.exit_code == 2 and not (tmp_path / "r.html").exists()  # a failed run leaves no file


def test_thresholds_html(tmp_path):
    out = tmp_path / "t.html"
    r = run(["thresholds", SAMPLE / "binary.csv", MULTI, "--bootstrap", "20", "--html-out", out])
    assert r.exit_code == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    doc = _parse(text)
    assert [s.get("id") for s in doc.iter(f"{NS}section")] == ["f1", "f2", "conventions", "provenance"]
    assert hashlib.sha256((SAMPLE / "binary.csv").read_bytes()).hexdigest() in text
    assert not re.search(r"https?://", text)
    missing = tmp_path / "missing.csv"
    out2 = tmp_path / "t2.html"
    r = run(["thresholds", SAMPLE / "binary.csv", missing, "--bootstrap", "0", "--html-out", out2])
    assert r.exit_code == 2 and not out2.exists()  # a failed file means no output file
    r = run(["thresholds", SAMPLE / "binary.csv", missing, "--bootstrap", "0", "--html-out", out2, "--keep-going"])
    assert r.exit_code == 2 and "Some files failed" in out2.read_text(encoding="utf-8")


def test_intervals_and_verdict_rendered_when_present(monkeypatch):
    """Fields other issues add to the JSON (``intervals``, ``verdict``, ``groups``) are shown when present."""
    import calibcli.render.jsonout as jsonout
    from calibcli.audit import measure
    from calibcli.predictions import Predictions, ScoreKind, Task
    from calibcli.render.html import render_html

    import numpy as np

    p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1]), ("a", "b"), Task.BINARY,
                    ScoreKind.PROBS)
    from calibcli.audit import CONVENTIONS
    from calibcli.report import AuditReport, BinningInfo, InputSummary

    report = AuditReport(InputSummary(("x.csv",), 3, 2, "binary", "probs", (), ("a", "b")),
                         BinningInfo(5, "uniform", "lo < c <= hi"), measure(p, 5), dict(CONVENTIONS))
    original = jsonout.report_dict

    def with_extras(r):
        d = original(r)
        d["intervals"] = {"ece": [0.11, 0.22], "brier": {"low": 0.3, "high": 0.4}}
        d["verdict"] = {"status": "ok", "tolerance": 0.02, "lines": [
            {"use": "ranking", "status": "ok", "sentence": "usable for ranking: AUROC 0.91 [0.88, 0.93]", "evidence": {}},
            {"use": "threshold", "status": "info", "sentence": "recommended threshold 0.5", "evidence": {}}]}
        return d

    monkeypatch.setattr(jsonout, "report_dict", with_extras)
    text = render_html([report], figures=False)
    _parse(text)
    assert "[0.1100, 0.2200]" in text and "[0.3000, 0.4000]" in text and "95% interval" in text
    assert "<strong>ranking</strong>: usable for ranking: AUROC 0.91 [0.88, 0.93]" in text
    assert '<span class="badge info">INFO</span> <strong>threshold</strong>' in text and "INFO: not measured" in text
    assert text.index('id="verdict"') < text.index('id="headline"') < text.index('id="conventions"')


def test_render_escapes_names(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("label,p_<b>x</b>,p_&y\n" + "".join(f"{i % 2},{0.3 + 0.01 * (i % 7)},{0.7 - 0.01 * (i % 7)}\n"
                                                     for i in range(60)))
    text = _audit(tmp_path, "e.html", [str(f), "--no-calibration", "--label-col", "label"], expect=(0, 1))
    _parse(text)
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_command_line_in_html_never_shows_url_secrets():
    """A signed URL typed on the command line is shown redacted in the report's provenance."""
    import click

    from calibcli.cli.audit_html import command_line

    @click.command()
    @click.argument("files", nargs=-1)
    @click.option("--baseline", multiple=True)
    def cmd(files, baseline):
        return command_line()

    ctx = cmd.make_context("calib", ["https://u:pw@h/x.csv?sig=SECRET", "--baseline", "s3://b/o.parquet?token=T0K"])
    with ctx:
        text = cmd.invoke(ctx)
    assert "SECRET" not in text and "T0K" not in text and "pw" not in text
    assert "https://***@h/x.csv?sig=***" in text and "s3://b/o.parquet?token=***" in text


def test_statistics_and_groups_report(tmp_path):
    """--statistics --by: verdict first, headline with intervals and noise floors, CORP figure, statistics table,
    subgroup table (worst group named) with its figure; Markdown gets the subgroup section."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 2000
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < p).astype(int)
    region = rng.choice(["north", "south"], n)
    scores = np.where(region == "south", np.clip(0.5 + 1.9 * (p - 0.5), 0.01, 0.99), p)
    data = tmp_path / "regions.csv"
    pd.DataFrame({"label": y, "p_1": scores, "region": region}).to_csv(data, index=False)
    md = tmp_path / "r.md"
    text = _audit(tmp_path, "r.html", [str(data), "--statistics", "--by", "region", "--no-calibration",
                                       "--fail-if", "worst_group_ece > 0.05", "--md-out", str(md)], expect=(1,))
    doc = _parse(text)
    ids = [s.get("id") for s in doc.iter(f"{NS}section")]
    assert ids.index("verdict") == 0
    assert ids.index("headline") < ids.index("figures") < ids.index("classes") < ids.index("statistics") \
        < ids.index("gate") < ids.index("groups") < ids.index("conventions")
    assert "Noise floor" in text and "95% interval" in text
    assert "<strong>ranking</strong>: usable for ranking: AUROC" in text  # measured: no "not measured" line
    assert 'id="fig-corp"' in text and 'id="fig-groups"' in text and "CORP MCB" in text
    assert "Spiegelhalter z" in text
    assert "<strong>Worst group: region=south</strong>" in text and "region=south (worst)" in text
    assert "worst_group_ece &gt; 0.0500 (group region=south)" in text
    assert len([i for i in doc.iter(f"{NS}img")]) == 5  # reliability, classes, confidence, CORP, groups
    m = md.read_text(encoding="utf-8")
    assert "### Subgroups" in m and "worst: region=south" in m
    assert "worst group's ECE (region=south)" in m
