"""Reports CI reads: Markdown (golden files), JUnit XML, GitHub annotations and job summary, JSON Schema."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from calibcli.cli.main import main
from calibcli.render.github import annotation, escape_data, escape_property
from calibcli.render.markdown import md_escape
from calibcli.schema import report_schema

from conftest import ROOT, SAMPLES

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"  # regenerate: UPDATE_GOLDEN=1 pytest tests/test_reports.py


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    # CALIB_* and GITHUB_* are cleared for every test by conftest.isolated_env
    monkeypatch.chdir(ROOT)  # relative sample paths make the reports reproducible


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["--no-config", *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


# ------------------------------------------------------------------ Markdown


GOLDEN_CASES = {
    "binary_fail": (["sample_data/binary.csv", "--max-ece", "0.05", "--min-accuracy", "0.7", "--warn-if", "mce > 0.1"], 1),
    "multilabel_pass": (["sample_data/multilabel.csv", "--max-ece", "0.5", "--fail-if", "class_ece >= 0.4"], 0),
    "top_label_no_rules": (["sample_data/top_label.csv"], 0),
    "per_file": (["sample_data/binary.csv", "sample_data/cifar10_vgg16_real.csv", "--per-file", "--max-ece", "0.05"], 1),
    "upper_baseline": (["sample_data/multiclass_probs.csv", "--baseline", "sample_data/previous_model.csv",
                        "--max-ece-increase", "0.01", "--max-classwise-ece", "0.1", "--on", "upper", "--gate-replicates", "50"], 1),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_markdown_golden(capsys, tmp_path, name):
    args, code = GOLDEN_CASES[name]
    md = tmp_path / "report.md"
    got_code, _, err = run(capsys, "audit", *args, "-q", "--no-calibration", "--md-out", md)
    assert got_code == code, err
    text = md.read_text(encoding="utf-8")
    golden = GOLDEN / f"{name}.md"
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_markdown_verdict_first_and_structure(capsys, tmp_path):
    md = tmp_path / "r.md"
    run(capsys, "audit", SAMPLES / "binary.csv", "-q", "--md-out", md, "--max-ece", "0.05")
    lines = md.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("## ❌ calib gate failed: 1 of 1 rule")
    assert "| status | metric | value | required | severity | source |" in lines
    assert "<details><summary>Per class (2), worst ECE first</summary>" in lines and "</details>" in lines
    # every table row has as many cells as its header
    header = lines.index("| status | metric | value | required | severity | source |")
    assert lines[header + 2].count(" | ") == lines[header].count(" | ")


def test_markdown_calibration_section(capsys, tmp_path):
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    code, _, err = run(capsys, "audit", "sample_data/multiclass_logits.parquet", "-q", "--md-out", md, "--json-out", js)
    assert code == 0, err
    cal = json.loads(js.read_text()).get("calibration")
    if cal is None:
        pytest.skip("calib audit attaches no calibration")
    text = md.read_text()
    assert "### Calibration" in text
    row = next(line for line in text.splitlines() if line.startswith("| ECE |") and line.count("|") == 4)
    assert row == f"| ECE | {cal['before']['ece']:.5f} | {cal['after']['ece']:.5f} |"
    code, _, _ = run(capsys, "audit", "sample_data/multiclass_logits.parquet", "-q", "--no-calibration", "--md-out", md)
    assert "### Calibration" not in md.read_text()


def test_md_escape():
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("<script>") == "\\<script\\>"
    assert md_escape("x\ny") == "x y"
    assert md_escape("__init__ & *x*") == "\\_\\_init\\_\\_ &amp; \\*x\\*"


def test_markdown_escapes_hostile_class_names(capsys, tmp_path):
    f = tmp_path / "odd.csv"
    f.write_text("label,p_a|b,p_<img>\na|b,0.8,0.2\n<img>,0.3,0.7\na|b,0.6,0.4\n")
    md = tmp_path / "r.md"
    code, _, err = run(capsys, "audit", f, "-q", "--md-out", md)
    assert code == 0, err
    text = md.read_text()
    assert "| a\\|b |" in text and "\\<img\\>" in text and "<img>" not in text


# ------------------------------------------------------------------ JUnit


def test_junit_structure(capsys, tmp_path):
    x = tmp_path / "junit.xml"
    code, _, _ = run(capsys, "audit", SAMPLES / "binary.csv", "-q", "--junit-out", x,
                     "--max-ece", "0.05", "--max-nll", "5", "--warn-if", "mce > 0.01", "--fail-if", "accuracy < 0.99")
    assert code == 1
    root = ET.parse(x).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == ("4", "2", "1", "0")
    (suite,) = root.findall("testsuite")
    assert suite.get("name").endswith("binary.csv") and suite.get("tests") == "4"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["ece > 0.05 (--max-ece)", "nll > 5 (--max-nll)",
                                              "accuracy < 0.99 (--fail-if 'accuracy < 0.99')", "mce > 0.01 (--warn-if 'mce > 0.01')"]
    assert all(c.get("classname") == "calib.gate" for c in cases)
    assert cases[0].find("failure") is not None and "ECE" in cases[0].find("failure").get("message")
    assert cases[1].find("failure") is None and cases[1].find("skipped") is None
    assert cases[2].find("failure") is not None
    assert cases[3].find("skipped").get("message").startswith("warning: MCE")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["n_samples"] == "2000" and float(props["ece"]) > 0.05


def test_junit_strict_turns_warnings_into_failures(capsys, tmp_path):
    x = tmp_path / "junit.xml"
    code, _, _ = run(capsys, "audit", SAMPLES / "binary.csv", "-q", "--junit-out", x, "--warn-if", "mce > 0.01", "--strict")
    assert code == 1
    case = ET.parse(x).getroot().find("testsuite/testcase")
    assert case.find("failure") is not None and case.find("skipped") is None


def test_junit_per_file_and_without_rules(capsys, tmp_path):
    x = tmp_path / "junit.xml"
    run(capsys, "audit", SAMPLES / "binary.csv", SAMPLES / "top_label.csv", "--per-file", "-q", "--junit-out", x)
    root = ET.parse(x).getroot()
    assert len(root.findall("testsuite")) == 2 and root.get("failures") == "0" and root.get("tests") == "2"


# ------------------------------------------------------------------ GitHub Actions


@pytest.mark.parametrize("raw, data, prop", [
    ("plain", "plain", "plain"),
    ("100%", "100%25", "100%25"),
    ("a\nb\r\nc", "a%0Ab%0D%0Ac", "a%0Ab%0D%0Ac"),
    ("k: v, w", "k: v, w", "k%3A v%2C w"),
    ("%0A", "%250A", "%250A"),  # an already-escaped-looking text is escaped again, not passed through
    ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
])
def test_annotation_escaping(raw, data, prop):
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_annotation_line_cannot_be_split_or_injected():
    line = annotation("error", "bad\n::warning::injected", "t: a,b", "dir/pyproject.toml", 12)
    assert "\n" not in line
    assert line == "::error file=dir/pyproject.toml,line=12,title=t%3A a%2Cb::bad%0A::warning::injected"


def test_github_summary_and_annotations(capsys, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    cfg = tmp_path / "calib.toml"
    cfg.write_text("[gate]\nmax-ece = 0.05\nwarn-if = ['mce > 0.1']\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(cfg), "audit", "sample_data/binary.csv", "--format", "json"])
    out, err = capsys.readouterr()
    assert exc.value.code == 1
    json.loads(out)  # annotations never pollute stdout
    text = summary.read_text()
    assert text.startswith("earlier step\n## ❌ calib gate failed")  # appended, not overwritten
    errors = [line for line in err.splitlines() if line.startswith("::error ")]
    warnings = [line for line in err.splitlines() if line.startswith("::warning ")]
    assert len(errors) == 1 and len(warnings) == 1
    assert f"file={escape_property(os.path.relpath(cfg))},line=2," in errors[0]
    assert "title=calib gate%3A ece > 0.05::" in errors[0] and "ECE 0." in errors[0]
    # --no-ci-summary: no summary, annotations still printed
    summary.write_text("")
    with pytest.raises(SystemExit):
        main(["--config", str(cfg), "audit", "sample_data/binary.csv", "-q", "--no-ci-summary"])
    _, err = capsys.readouterr()
    assert summary.read_text() == "" and "::error " in err


def test_no_annotations_outside_github(capsys):
    code, _, err = run(capsys, "audit", SAMPLES / "binary.csv", "-q", "--max-ece", "0.05")
    assert code == 1 and "::error" not in err


# ------------------------------------------------------------------ JSON Schema


def test_schema_command_prints_a_valid_schema(capsys, tmp_path):
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == json.loads(json.dumps(report_schema()))
    code, _, _ = run(capsys, "schema", "-o", tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text()) == schema


def _validator():
    return jsonschema.Draft202012Validator(report_schema())


JSON_CASES = [
    ["sample_data/multiclass_probs.csv"],
    ["sample_data/multiclass_logits.parquet", "--binning", "quantile"],
    ["sample_data/binary.csv", "--max-ece", "0.05", "--warn-if", "mce > 0.1"],
    ["sample_data/multilabel.csv", "--max-classwise-ece", "0.1", "--on", "upper", "--gate-replicates", "20"],
    ["sample_data/top_label.csv", "--max-brier", "0.1"],  # undefined metric: value null
    ["sample_data/multiclass_probs.csv", "--baseline", "sample_data/multiclass_logits.parquet", "--max-ece-increase", "0.01"],
    ["sample_data/binary.csv", "sample_data/top_label.csv", "--per-file", "--min-samples", "10"],
    ["sample_data/multiclass_logits.parquet", "--calibrators", "temperature,platt,isotonic", "--calibration-split", "0.5"],
    ["sample_data/multilabel.csv", "--per-label", "--max-ece", "0.1"],
    ["sample_data/binary.csv", "--no-calibration"],
]


@pytest.mark.parametrize("args", JSON_CASES, ids=lambda a: " ".join(a)[:60])
def test_every_json_the_tool_writes_validates(capsys, tmp_path, args):
    out_file = tmp_path / "r.json"
    code, out, err = run(capsys, "audit", *args, "--format", "json", "--json-out", out_file)
    assert code in (0, 1), err
    v = _validator()
    for doc in (json.loads(out), json.loads(out_file.read_text())):
        errors = sorted(v.iter_errors(doc), key=str)
        assert not errors, errors[0]


def test_thresholds_json_validates_when_audit_has_thresholds(capsys):
    from click.testing import CliRunner

    from calibcli.cli.main import cli

    if "--objective" not in CliRunner().invoke(cli, ["--no-config", "audit", "--help"]).output:
        pytest.skip("calib audit has no thresholds section yet")
    for args in (["sample_data/binary.csv", "--objective", "f1"],
                 ["sample_data/multiclass_probs.csv", "--cost-fp", "1", "--cost-fn", "5", "--min-precision", "0.99"],
                 ["sample_data/multilabel.csv", "--objective", "youden", "--max-ece", "0.5"]):
        code, out, err = run(capsys, "audit", *args, "--format", "json", "--threshold-bootstrap", "20")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["thresholds"]["recommendations"]
        errors = list(_validator().iter_errors(doc))
        assert not errors, errors[0]
    bad = {**doc, "thresholds": {**doc["thresholds"], "recommendations": [{"target": "x"}]}}
    assert not _validator().is_valid(bad)


def test_thresholds_command_json_validates(capsys, tmp_path):
    from calibcli.cli.main import LazyGroup

    if "thresholds" not in LazyGroup.commands_by_module:
        pytest.skip("no calib thresholds command yet")
    bad = tmp_path / "bad.csv"
    bad.write_text("label,p_a,p_b\n0,0.5,0.7\n")
    code, out, err = run(capsys, "thresholds", "sample_data/binary.csv", "sample_data/multilabel.csv", bad,
                         "--objective", "f1", "--format", "json", "--bootstrap", "20")
    doc = json.loads(out)
    assert len(doc["results"]) == 2 and len(doc["failures"]) == 1
    errors = list(_validator().iter_errors(doc))
    assert not errors, errors[0]
    assert not _validator().is_valid({**doc, "results": [{"file": "x"}]})


def test_schema_is_not_vacuous(capsys):
    _, out, _ = run(capsys, "audit", "sample_data/binary.csv", "--format", "json", "--max-ece", "0.5")
    doc = json.loads(out)
    v = _validator()
    assert v.is_valid(doc)
    for broken in (
        {k: x for k, x in doc.items() if k != "metrics"},
        {**doc, "surprise": 1},
        {**doc, "metrics": {**doc["metrics"], "ece": "0.1"}},
        {**doc, "gate": {**doc["gate"], "passed": "yes"}},
        {**doc, "gate": {**doc["gate"], "rules": [{**doc["gate"]["rules"][0], "status": "maybe"}]}},
        {**doc, "schema_version": 99},
        {**doc, "calibration": {**doc["calibration"], "after": {**doc["calibration"]["after"], "ece": "low"}}},
        {**doc, "calibration": {k: x for k, x in doc["calibration"].items() if k != "before"}},
    ):
        assert not v.is_valid(broken)
