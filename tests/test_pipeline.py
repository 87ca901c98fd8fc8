"""calibcli.pipeline: the one audit pipeline behind ``calib audit`` and ``calibcli.audit``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from calibcli.errors import UsageError
from calibcli.pipeline import AuditSettings, run_audit
from tests.cli_helpers import run

ROOT = Path(__file__).resolve().parent.parent
MULTI = ROOT / "sample_data" / "multiclass_probs.csv"
TOP = ROOT / "sample_data" / "top_label.csv"


def _comparable(d: dict) -> dict:
    d = json.loads(json.dumps(d))
    d.pop("engine", None)
    return d


def test_run_audit_on_a_source_gives_the_cli_json():
    from calibcli.engine.streaming import open_source
    from calibcli.render.jsonout import clean, report_dict
    from calibcli.validation.options import LoadOptions

    cli = run(["audit", MULTI, "--format", "json", "--objective", "f1", "--threshold-bootstrap", "10"])
    assert cli.exit_code == 0, cli.stderr
    from calibcli.thresholds import ThresholdSpec

    spec = ThresholdSpec(objectives=("f1",), n_bootstrap=10, seed=0).validated()
    with open_source([str(MULTI)], LoadOptions()) as source:
        report = run_audit(source, AuditSettings(thresholds=spec))
    got = clean(report_dict(report))
    assert _comparable(got) == _comparable(json.loads(cli.stdout))
    assert got["verdict"] and got["calibration"] and got["thresholds"] and report.engine.rows_read > 0


def test_settings_are_frozen_and_name_options_for_their_caller():
    s = AuditSettings()
    with pytest.raises(AttributeError):
        s.n_bins = 10  # type: ignore[misc]
    assert (s.name("calibration_split"), s.name("calibrate")) == ("calibration_split", "calibrators=None")
    cli = AuditSettings(spelling="cli")
    assert (cli.name("calibration_split"), cli.name("calibrate"), cli.name("per_label")) == (
        "--calibration-split", "--no-calibration", "--per-label")


def test_default_tolerance_is_the_verdicts():
    from calibcli.pipeline import DEFAULT_TOLERANCE
    from calibcli.verdict import DEFAULT_TOLERANCE as VERDICT

    assert DEFAULT_TOLERANCE == VERDICT


@pytest.mark.parametrize("spelling, flag", [("cli", "--calibration-split"), ("python", "calibration_split")])
def test_top_label_calibration_error_names_the_setting(spelling, flag):
    from calibcli.engine.streaming import open_source
    from calibcli.validation.options import LoadOptions

    with open_source([str(TOP)], LoadOptions()) as source:
        with pytest.raises(UsageError, match=f"^{flag}: calibration needs full score vectors"):
            run_audit(source, AuditSettings(calibration_split=0.5, spelling=spelling))
        report = run_audit(source, AuditSettings())  # not asked for: skipped, still a verdict
    assert report.calibration is None and report.verdict is not None


def test_cli_top_label_message_is_unchanged():
    r = run(["audit", TOP, "--calibration-split", "0.5"])
    assert r.exit_code == 2
    assert "--calibration-split: calibration needs full score vectors, but this is a top-label file" in r.stderr


def test_library_modules_do_not_print_or_use_click():
    for name in ("pipeline.py", "api.py", "data_input.py"):
        tree = ast.parse((ROOT / "calibcli" / name).read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not imported & {"click", "rich"}, name
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "print" not in calls, name


def test_api_audit_loads_no_click_or_rich():
    code = ("import sys, calibcli, numpy as np; p = np.linspace(0.01, 0.99, 300); y = (p > 0.5).astype(int); "
            "calibcli.audit(y_true=y, y_prob=p, statistics=True, by=None).to_json(); "
            "print(sorted(m for m in ('click', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_help_does_not_import_the_pipeline():
    code = ("import sys; from calibcli.cli.main import main\n"
            "try:\n    main(['audit', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('calibcli.pipeline', 'calibcli.api', 'pandas', 'pyarrow') if m in sys.modules), "
            "file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stderr.strip() == "[]"
