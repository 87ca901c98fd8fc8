"""The Python API (``calibcli.audit``, ``calibcli.fit``, ``calibcli.thresholds``): the CLI's numbers from
DataFrames, Tables, paths and arrays; the notebook display; errors as the CLI's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import calibcli
from calibcli.errors import InputError, UsageError
from tests.cli_helpers import run

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
MULTI = SAMPLE / "multiclass_probs.csv"
OPTIONS = ["--calibrators", "temperature,isotonic", "--objective", "f1", "--threshold-bootstrap", "20",
           "--fail-if", "ece > 0.05"]
KWARGS = dict(calibrators=("temperature", "isotonic"), objectives="f1", threshold_bootstrap=20, fail_if="ece > 0.05")


def _comparable(d: dict) -> dict:
    """The report without what names the input or counts how it was read."""
    d = json.loads(json.dumps(d))
    d["input"]["files"] = None
    d.pop("engine", None)
    for rule in (d.get("gate") or {}).get("rules", []):
        rule["source"] = rule["message"] = None
    return d


@pytest.fixture(scope="module")
def cli_json() -> dict:
    r = run(["audit", MULTI, *OPTIONS, "--format", "json"])
    assert r.exit_code == 1, r.stderr  # the gate fails
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def frame():
    import pandas as pd

    return pd.read_csv(MULTI)


def test_path_gives_the_cli_json(cli_json):
    report = calibcli.audit(str(MULTI), **KWARGS)
    assert _comparable(report.to_dict()) == _comparable(cli_json)
    assert report.input.files == (str(MULTI),)
    assert json.loads(report.to_json()) == report.to_dict()


def test_dataframe_and_table_give_the_cli_numbers(cli_json, frame):
    import pyarrow as pa

    for data in (frame, pa.Table.from_pandas(frame, preserve_index=False)):
        report = calibcli.audit(data, label="label", **KWARGS)
        assert _comparable(report.to_dict()) == _comparable(cli_json)
        assert report.input.files == ("DataFrame" if data is frame else "Table",)
        assert report.gate is not None and not report.gate.passed


def test_polars_dataframe(cli_json, frame):
    pl = pytest.importorskip("polars")
    report = calibcli.audit(pl.from_pandas(frame), **KWARGS)
    assert _comparable(report.to_dict()) == _comparable(cli_json)


def test_arrays_give_the_cli_numbers(frame):
    classes = [c[2:] for c in frame.columns if c.startswith("p_")]
    y_prob = frame[[f"p_{c}" for c in classes]].to_numpy()
    y_true = frame["label"].to_numpy()
    cli = json.loads(run(["audit", MULTI, "--no-calibration", "--format", "json", "--bins", "10"]).stdout)
    report = calibcli.audit(y_true=y_true, y_prob=y_prob, classes=classes, calibrators=None, n_bins=10)
    assert _comparable(report.to_dict()) == _comparable(cli)


def test_binary_one_column_arrays_match_binary_file():
    import pandas as pd

    df = pd.read_csv(SAMPLE / "binary.csv")
    cli = json.loads(run(["audit", SAMPLE / "binary.csv", "--format", "json", "--no-calibration"]).stdout)
    report = calibcli.audit(y_true=df["label"].to_numpy(), y_prob=df["p_cat"].to_numpy(), classes=["0", "cat"],
                            calibrators=None)
    assert report.metrics == calibcli.audit(SAMPLE / "binary.csv", calibrators=None).metrics
    assert report.to_dict()["metrics"] == cli["metrics"]


def test_repr_html_is_the_html_report_and_parses(frame):
    html5lib = pytest.importorskip("html5lib")
    report = calibcli.audit(frame.head(500), calibrators=None)
    html = report._repr_html_()
    assert html == report.to_html()
    html5lib.HTMLParser(strict=True).parse(html)
    assert "calibcli.audit(DataFrame" in html  # provenance names the call
    assert "<script>" in html and ".calib-report" in html and "body{" not in html.replace("body.calib-body{", "")


def test_input_errors_name_the_data_not_a_temporary_file(frame):
    with pytest.raises(InputError) as exc:
        calibcli.audit(frame.drop(columns=["label"]))
    text = str(exc.value)
    assert text.startswith("DataFrame") and "calib-api-" not in text and "label" in text
    bad = frame.copy()
    bad.loc[3, "p_cat"] = np.nan
    with pytest.raises(InputError, match="DataFrame"):
        calibcli.audit(bad)
    with pytest.raises(UsageError, match="pandas or polars DataFrame"):
        calibcli.audit({"label": [0, 1]})
    with pytest.raises(UsageError, match="calibrators"):
        calibcli.audit(frame, calibrators="temprature")
    with pytest.raises(UsageError, match="y_true"):
        calibcli.audit(y_prob=np.array([0.2, 0.4]))


def test_fit_matches_calib_fit_and_transforms(tmp_path, frame):
    out = tmp_path / "cli.json"
    assert run(["fit", MULTI, "-o", out, "-q"]).exit_code == 0
    cal = calibcli.fit(frame)
    saved = tmp_path / "api.json"
    cal.save(saved)
    a, b = json.loads(out.read_text()), json.loads(saved.read_text())
    assert a["params"] == b["params"] if "params" in a else a["calibrator"] == b["calibrator"]
    probs = cal.transform(frame)
    assert probs.shape == (len(frame), 5) and np.allclose(probs.sum(axis=1), 1.0)
    from calibcli.calibrator_file import load_calibrator

    assert load_calibrator(saved).to_dict() == cal.calibrator.to_dict()
    with pytest.raises(InputError, match="p_cat"):
        cal.transform(frame.drop(columns=["p_cat"]))


def test_thresholds_matches_cli(frame):
    cli = json.loads(run(["thresholds", MULTI, "--bootstrap", "20", "--objective", "f1", "--format", "json"]).stdout)
    t = calibcli.thresholds(frame, objectives="f1", n_bootstrap=20)
    from calibcli.render.jsonout import clean

    got = clean(t.to_dict())
    want = cli["results"][0]
    assert got["recommendations"] == want["recommendations"]


def test_thresholds_with_a_calibrator_matches_cli(frame, tmp_path):
    """calibrator= (a FittedCalibrator or its file) recommends on the calibrated scale as --calibrator does."""
    saved = tmp_path / "cal.json"
    assert run(["fit", MULTI, "-o", saved, "-q"]).exit_code == 0
    cli = json.loads(run(["thresholds", MULTI, "--bootstrap", "20", "--objective", "f1", "--calibrator", saved,
                          "--format", "json"]).stdout)
    from calibcli.render.jsonout import clean

    want = cli["results"][0]["recommendations"]
    assert {r["scale"] for r in want} == {"raw", "calibrated"}
    for calibrator in (saved, str(saved), calibcli.fit(frame)):
        t = calibcli.thresholds(frame, objectives="f1", n_bootstrap=20, calibrator=calibrator)
        assert clean(t.to_dict())["recommendations"] == want


def test_import_is_lazy():
    code = ("import sys, calibcli; assert callable(calibcli.audit); "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'matplotlib', 'scipy') if m in sys.modules))")
    lazy = subprocess.run([sys.executable, "-c", "import sys, calibcli; "
                                             "print([m for m in ('pandas', 'pyarrow', 'matplotlib') if m in sys.modules])"],
                          capture_output=True, text=True, check=True)
    assert lazy.stdout.strip() == "[]"
    used = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "matplotlib" not in used.stdout


# ---------------------------------------------- the whole pipeline: groups, statistics, verdict, baseline
@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    """The binary sample with a 'region' column (three groups), on disk and as a DataFrame."""
    import pandas as pd

    df = pd.read_csv(SAMPLE / "binary.csv")
    df["region"] = np.array(["north", "south", "east"])[np.arange(len(df)) % 3]
    path = tmp_path_factory.mktemp("regions") / "regions.csv"
    df.to_csv(path, index=False)
    return path, df


@pytest.fixture(scope="module")
def regions_cli(regions, tmp_path_factory):
    """``calib audit FILE --by region --statistics``: its JSON and its HTML."""
    html = tmp_path_factory.mktemp("html") / "report.html"
    r = run(["audit", regions[0], "--by", "region", "--statistics", "--format", "json", "--html-out", html])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout), html.read_text(encoding="utf-8")


def test_by_and_statistics_give_the_cli_json(regions, regions_cli):
    cli, _ = regions_cli
    report = calibcli.audit(regions[1], by=["region"], statistics=True)
    got = report.to_dict()
    assert _comparable(got) == _comparable(cli)
    assert got["verdict"]["lines"] and got["statistics"] and len(got["groups"]) == 3
    assert report.verdict is not None and report.statistics is not None and report.groups is not None
    ranking = next(line for line in got["verdict"]["lines"] if line["use"] == "ranking")
    assert ranking["evidence"]["auroc"] == report.statistics.headline.values["auroc"]  # measured by --statistics


def test_to_html_is_the_cli_html_with_verdict_and_groups(regions, regions_cli):
    import re

    _, cli_html = regions_cli
    html = calibcli.audit(str(regions[0]), by="region", statistics=True).to_html()

    def body(text):  # all but the provenance section (the command line differs)
        return re.sub(r'<section id="provenance".*?</section>', "", text, flags=re.S)

    assert body(html) == body(cli_html)
    assert '<section id="verdict"' in html and '<section id="groups"' in html
    assert "usable for ranking: AUROC" in html  # the verdict's ranking line, from the statistics
    groups = html[html.index('<section id="groups"'):]
    assert groups.count('<td data-v="666.0">666</td>') + groups.count('<td data-v="667.0">667</td>') == 3


def test_verdict_without_statistics_says_how_to_measure_the_ranking(frame):
    report = calibcli.audit(frame.head(600), calibrators=None)
    line = next(x for x in report.to_dict()["verdict"]["lines"] if x["use"] == "ranking")
    assert line["evidence"]["auroc"] is None and "--statistics" in line["sentence"]
    assert report.statistics is None and report.groups is None


def test_baseline_and_id_col_give_the_cli_gate(tmp_path):
    import pandas as pd

    new, old = pd.read_csv(MULTI), pd.read_csv(SAMPLE / "previous_model.csv")
    for df in (new, old):
        df.insert(0, "id", [f"x{i}" for i in range(len(df))])
    old = old.sample(frac=1, random_state=0)
    new.to_csv(tmp_path / "new.csv", index=False)
    old.to_csv(tmp_path / "old.csv", index=False)
    cli = run(["audit", tmp_path / "new.csv", "--baseline", tmp_path / "old.csv", "--id-col", "id", "--fail-if",
               "ece_increase > 0.01", "--on", "upper", "--gate-replicates", "40", "--no-calibration", "--format", "json"])
    assert cli.exit_code == 1, cli.stderr
    kwargs = dict(baseline=str(tmp_path / "old.csv"), id_col="id", fail_if="ece_increase > 0.01", gate_on="upper",
                  gate_replicates=40, calibrators=None)
    by_path = calibcli.audit(str(tmp_path / "new.csv"), **kwargs)
    assert _comparable(by_path.to_dict()) == _comparable(json.loads(cli.stdout))
    assert by_path.gate.baseline.matched_by == "id" and not by_path.gate.passed
    in_memory = calibcli.audit(new, **{**kwargs, "baseline": old}).to_dict()  # a baseline given as a DataFrame
    assert in_memory["gate"]["baseline"]["files"] == ["baseline"]
    in_memory["gate"]["baseline"]["files"] = [str(tmp_path / "old.csv")]
    assert _comparable(in_memory) == _comparable(by_path.to_dict())


def test_option_errors_name_the_python_arguments(frame):
    with pytest.raises(UsageError, match=r"^calibrators=None skips calibration, but per_label asks for it"):
        calibcli.audit(frame, calibrators=None, per_label=True)
    with pytest.raises(UsageError, match=r"^per_label fits one temperature per label"):
        calibcli.audit(frame, per_label=True)
    with pytest.raises(UsageError, match=r"^baseline is given but no rule uses it; add one such as fail_if="):
        calibcli.audit(frame, baseline=frame)
    with pytest.raises(UsageError, match=r"^threshold_classes picks classes"):
        calibcli.audit(frame, threshold_classes=["cat"])
    with pytest.raises(UsageError, match=r"^calibration_split and fit_on both say"):
        calibcli.audit(frame, calibration_split=0.5, fit_on=frame)
    with pytest.raises(UsageError, match=r"gate_on='middle'"):
        calibcli.audit(frame, fail_if="ece > 0.1", gate_on="middle")
    with pytest.raises(UsageError, match="--by-bins"):  # the subgroup options' own checks
        calibcli.audit(frame, by="label", by_bins=1)
