"""``calibcli.audit(..., models=[...])`` and ``per_file=True``: the CLI's ``--models`` / ``--per-file`` comparison
from Python (an ``AuditSet``: reports, names, comparison; the CLI's JSON and HTML)."""

from __future__ import annotations

import json
import re

import pytest

import calibcli
from calibcli.api import AuditSet, Report
from calibcli.errors import InputError, UsageError

from conftest import ROOT, real
from tests.cli_helpers import run

MODELS = ["RLR", "SVM", "RF", "NN"]
FILES = [str(ROOT / "sample_data" / n) for n in ("binary.csv", "multiclass_probs.csv")]


def belt() -> str:
    return str(real("calibration_belt_example", "data.csv"))


def cli_json(*args) -> dict:
    r = run(["--no-config", "audit", *args, "--format", "json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _timing_free(doc: dict) -> dict:
    """The document without how the input was read (engine timings, batches)."""
    doc = json.loads(json.dumps(doc))
    for r in doc["reports"]:
        r.pop("engine", None)
    return doc


def _no_files(doc: dict) -> dict:
    """Also without the input's name (a path on the CLI, 'DataFrame' in memory)."""
    doc = _timing_free(doc)
    for r in doc["reports"]:
        r["input"]["files"] = None
    for row in doc["comparison"]["rows"]:
        row["files"] = None
    return doc


@pytest.fixture(scope="module")
def belt_cli() -> dict:
    return cli_json(belt(), "--label-col", "target", "--models", ",".join(MODELS), "--sort-by", "brier")


@pytest.fixture(scope="module")
def belt_set() -> AuditSet:
    return calibcli.audit(belt(), label="target", models=MODELS, sort_by="brier")


def test_models_on_a_path_give_the_cli_json(belt_cli, belt_set):
    assert isinstance(belt_set, AuditSet)
    assert belt_set.names == tuple(MODELS) and len(belt_set) == 4
    assert all(isinstance(r, Report) for r in belt_set.reports)
    assert _timing_free(belt_set.to_dict()) == _timing_free(belt_cli)
    assert json.loads(belt_set.to_json()) == belt_set.to_dict()
    assert belt_set.comparison.sort_by == "brier" and belt_set.comparison.paired
    assert belt_set["NN"] is belt_set.reports[3] and belt_set[0] is belt_set.reports[0]
    with pytest.raises(KeyError, match="RLR, SVM, RF, NN"):
        belt_set["XGB"]


def test_models_on_a_dataframe_give_the_cli_numbers(belt_cli):
    import pandas as pd

    s = calibcli.audit(pd.read_csv(belt()), label="target", models=MODELS, sort_by="brier")
    assert _no_files(s.to_dict()) == _no_files(belt_cli)
    assert s.reports[0].input.files == ("DataFrame",)


def test_models_of_a_dataframe_write_it_once(monkeypatch):
    """The in-memory data is written to one temporary Arrow file that every model's audit reads."""
    import pandas as pd
    import pyarrow as pa

    written = []
    new_file = pa.ipc.new_file
    monkeypatch.setattr(pa.ipc, "new_file", lambda *a, **k: written.append(1) or new_file(*a, **k))
    s = calibcli.audit(pd.read_csv(belt()), label="target", models=MODELS, calibrators=None)
    assert len(s) == len(MODELS) and len(written) == 1


def test_globs_name_one_model_each():
    import pyarrow as pa
    import pandas as pd

    d = pd.read_csv(belt())
    table = pa.Table.from_pandas(pd.DataFrame({"label": d["target"], "a_0": 1 - d["RLR"], "a_1": d["RLR"],
                                               "b_0": 1 - d["NN"], "b_1": d["NN"]}), preserve_index=False)
    s = calibcli.audit(table, models="a_*,b_*", calibrators=None, sort_by="accuracy")
    assert sorted(s.names) == ["a", "b"]
    assert {tuple(r.score_columns) for r in s.comparison.rows} == {("a_0", "a_1"), ("b_0", "b_1")}
    acc = [r.value("accuracy") for r in s.comparison.rows]
    assert acc == sorted(acc, reverse=True)


def test_per_file_paths_give_the_cli_json_and_html(tmp_path):
    html = tmp_path / "r.html"
    doc = cli_json(*FILES, "--per-file", "--no-calibration", "--html-out", str(html))
    s = calibcli.audit(FILES, per_file=True, calibrators=None)
    assert _timing_free(s.to_dict()) == _timing_free(doc)
    assert s.names == tuple(FILES) and not s.by_model
    page = s.to_html(figures=False)
    assert s._repr_html_() == s.to_html()
    # the CLI's document apart from the provenance's command line (a call here)
    cut = re.compile(r'mono">calib(?:cli\.audit\(| audit )[^<]*</dd>')
    cli_page, api_page = html.read_text(encoding="utf-8"), s.to_html()
    assert len(cut.findall(cli_page)) == len(cut.findall(api_page)) > 0
    assert cut.sub("", api_page) == cut.sub("", cli_page)
    assert page.index('id="comparison') < page.index('id="r1')


def test_models_html_has_the_comparison_first_and_model_sections(belt_set):
    page = belt_set.to_html(figures=False)
    assert page.startswith("<!DOCTYPE html>")
    assert page.index('id="comparison') < page.index('id="r1') and 'href="#r4"' in page
    for m in MODELS:
        assert f">{m}<" in page


def test_a_bad_model_pattern_raises_input_error_naming_the_columns():
    with pytest.raises(InputError) as e:
        calibcli.audit(belt(), label="target", models=["RLR", "rlr"])
    msg = str(e.value)
    for words in ("models names 'rlr'", "matches no column", "Did you mean 'RLR'", "target, RLR, SVM, RF, NN"):
        assert words in msg, msg
    assert "--models" not in msg  # Python names, not the CLI's flags
    import pandas as pd

    with pytest.raises(InputError, match="DataFrame: models names 'model_\\*'.*target, RLR, SVM, RF, NN"):
        calibcli.audit(pd.read_csv(belt()), label="target", models="model_*")


def test_usage_errors_name_the_python_arguments():
    import pandas as pd

    with pytest.raises(UsageError, match="models=\\[\\] names no score column"):
        calibcli.audit(belt(), label="target", models=[])
    with pytest.raises(UsageError, match="score_cols cannot be given too"):
        calibcli.audit(belt(), label="target", models=["RLR"], score_cols="SVM")
    with pytest.raises(UsageError, match="sort_by='auc'"):
        calibcli.audit(belt(), label="target", models=["RLR"], sort_by="auc")
    with pytest.raises(UsageError, match="per_file=True .* in memory"):
        calibcli.audit(pd.read_csv(belt()), label="target", per_file=True)
    with pytest.raises(UsageError, match="y_true= and y_prob="):
        calibcli.audit(y_true=[0, 1], y_prob=[0.2, 0.7], models=["p_1"])


def test_without_models_or_per_file_it_is_one_report():
    assert isinstance(calibcli.audit(FILES[0], calibrators=None), Report)
