"""Terminal output: width policy (no wrapping when not a terminal), tables at 80 and 120 columns,
and a hermetic test environment."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from calibcli.cli.consoles import RULE_WIDTH, UNBOUNDED, console_width, out_console
from tests.cli_helpers import run

from conftest import SAMPLES

LONG_DIR = "a_folder_whose_name_is_long_enough_to_wrap_any_eighty_column_terminal"
LONG_CLASS = "a_class_name_longer_than_the_table_column_that_holds_it"


def _long_named_file(tmp_path: Path) -> Path:
    folder = tmp_path / LONG_DIR
    folder.mkdir()
    path = folder / "predictions_of_the_release_candidate_model_on_the_holdout_set.csv"
    rows = ["label,p_" + LONG_CLASS + ",p_other"]
    for i in range(200):
        p = 0.2 + 0.6 * (i % 10) / 9
        rows.append(f"{LONG_CLASS if i % 3 else 'other'},{p:.4f},{1 - p:.4f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ width policy


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_width_policy():
    assert console_width(io.StringIO(), {}) == UNBOUNDED  # a pipe or file: no wrapping
    assert console_width(io.StringIO(), {"COLUMNS": "100"}) == 100  # unless COLUMNS says otherwise
    assert console_width(_Tty(), {}) is None  # a terminal: rich asks it
    assert console_width(_Tty(), {"COLUMNS": "120"}) == 120
    assert console_width(io.StringIO(), {"COLUMNS": "0"}) == UNBOUNDED  # nonsense is ignored
    assert console_width(io.StringIO(), {"COLUMNS": "abc"}) == UNBOUNDED


def test_not_a_terminal_never_breaks_file_or_class_names(tmp_path):
    path = _long_named_file(tmp_path)
    res = run(["audit", path, "--no-calibration"])
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any(str(path) in line for line in lines), "the file name is printed whole, on one line"
    assert any(LONG_CLASS in line for line in lines), "the class name is printed whole"
    assert "binning: 15 equal-width bins, lo < c <= hi; the first bin also takes c = its lower edge" in lines


def test_rules_stay_80_wide_when_unbounded(tmp_path):
    res = run(["audit", SAMPLES / "binary.csv", SAMPLES / "top_label.csv", "--per-file", "--no-calibration"])
    assert res.exit_code == 0, res.stderr
    rules = [line for line in res.stdout.splitlines() if line and set(line) == {"─"}]
    assert rules and all(len(r) == RULE_WIDTH for r in rules)


def test_columns_is_honoured_when_not_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    res = run(["audit", SAMPLES / "multiclass_probs.csv", "--no-calibration"])
    assert res.exit_code == 0
    assert max(len(line.rstrip()) for line in res.stdout.splitlines()) <= 60


@pytest.mark.parametrize("width", [80, 120])
def test_tables_fit_a_terminal(monkeypatch, width):
    """At 80 and 120 columns every line fits and no word of the class table is cut."""
    console = out_console()
    from rich.console import Console

    from calibcli.audit import build_audit
    from calibcli.loading import LoadOptions, load_predictions
    from calibcli.render.terminal import render_audit

    for name in ("multiclass_probs.csv", "top_label.csv", "multilabel.csv", "binary.csv"):
        report = build_audit(load_predictions([str(SAMPLES / name)], LoadOptions()))
        buf = io.StringIO()
        console = Console(file=buf, width=width, force_terminal=True, color_system=None, highlight=False)
        console.print(render_audit(report))
        lines = buf.getvalue().splitlines()
        assert max(len(line) for line in lines) <= width, name
        header = next(line for line in lines if line.startswith(("class ", "label ")))
        assert re.search(r"\bsupport\b.*\bpredicted\b.*\bECE\b", header), (name, header)
        assert "overconfident" in buf.getvalue() or "calibrated" in buf.getvalue() or "uncertain" in buf.getvalue()


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a pseudo-terminal")
@pytest.mark.parametrize("width", [80, 120])
def test_a_real_terminal_wraps_at_its_width(tmp_path, width):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    cmd = f"stty cols {width} rows 40; {sys.executable} -m calibcli --no-config audit {SAMPLES / 'multiclass_probs.csv'} --no-calibration"
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, env={**env, "NO_COLOR": "1"},
                          cwd=tmp_path, timeout=120)
    out = proc.stdout.decode("utf-8", "replace").replace("\r", "")
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert proc.returncode == 0, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= width
    assert any(line.startswith("class ") for line in lines)


# ------------------------------------------------------------------ hermetic environment


def test_the_test_environment_is_pinned():
    for key in ("COLUMNS", "LINES", "TERM", "NO_COLOR", "FORCE_COLOR"):
        assert key not in os.environ, key
    assert os.environ["LC_ALL"] == "C.UTF-8"
    cwd = Path.cwd()
    assert not (cwd / "pyproject.toml").exists()
    from calibcli.config import find_config_file

    found = find_config_file()
    assert found is not None and found.read_text(encoding="utf-8").startswith("# stop-marker"), found
