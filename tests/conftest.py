"""Shared fixtures: paths to the bundled samples and the vendored real data.

``tests/data/real`` holds copies of files from the workplace's shared real data
(each folder keeps its PROVENANCE.md and license note), so CI on a fresh machine
runs the golden tests too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
REAL = ROOT / "tests" / "data" / "real"
SHARED_REAL = ROOT.parent / "shared" / "data" / "real"

# ``from tests.cli_helpers import run`` must work whatever the working directory pytest is started from
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def real(name: str, file: str = "data.parquet") -> Path:
    """Path to a real data file: the vendored copy, else the shared folder, else skip."""
    for base in (REAL, SHARED_REAL):
        path = base / name / file
        if path.exists():
            return path
    pytest.skip(f"real data not available: {name}/{file}")


#: terminal and locale variables a caller (or CI) may set; tests see none of them, except the locale, pinned
TERMINAL_VARS = ("COLUMNS", "LINES", "TERM", "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE",
                 "TTY_COMPATIBLE", "TTY_INTERACTIVE", "LANGUAGE", "LC_MESSAGES", "LC_CTYPE")
LOCALE = "C.UTF-8"
#: an empty calib.toml: the upward config search (calibcli.config.find_config_file) stops at the first one,
#: so no calib.toml or pyproject.toml above the test folders is ever read
STOP_MARKER = "calib.toml"


@pytest.fixture(autouse=True, scope="session")
def isolated_env(tmp_path_factory):
    """Every test (and every subprocess it starts) runs in a known environment:

    - no CALIB_* settings of the caller and no CI runner's GITHUB_* variables;
    - no COLUMNS, LINES, TERM, NO_COLOR, FORCE_COLOR and the like (output is not a terminal, so
      calib does not wrap; a test that wants a width sets COLUMNS itself), the locale pinned to C.UTF-8;
    - the working directory is an empty folder under pytest's base temp folder, which holds an empty
      calib.toml: the upward config search stops there, whatever lies above the checkout or /tmp.
      Tests that chdir to ``tmp_path`` are under the same folder, so they are covered too.

    Session-wide, so module fixtures are covered as well.
    """
    base = tmp_path_factory.getbasetemp()
    (base / STOP_MARKER).write_text("# stop-marker: calib's config search ends here (tests/conftest.py)\n", encoding="utf-8")
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("CALIB_", "GITHUB_")) or key in TERMINAL_VARS:
                mp.delenv(key)
        mp.setenv("LANG", LOCALE)
        mp.setenv("LC_ALL", LOCALE)
        mp.chdir(cwd)
        yield


@pytest.fixture
def samples() -> Path:
    return SAMPLES
