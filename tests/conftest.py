"""Shared fixtures: paths to the bundled samples and the vendored real data.

``tests/data/real`` holds copies of files from the workplace's shared real data
(each folder keeps its PROVENANCE.md and license note), so CI on a fresh machine
runs the golden tests too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
REAL = ROOT / "tests" / "data" / "real"
SHARED_REAL = ROOT.parent / "shared" / "data" / "real"


def real(name: str, file: str = "data.parquet") -> Path:
    """Path to a real data file: the vendored copy, else the shared folder, else skip."""
    for base in (REAL, SHARED_REAL):
        path = base / name / file
        if path.exists():
            return path
    pytest.skip(f"real data not available: {name}/{file}")


@pytest.fixture(autouse=True, scope="session")
def isolated_env():
    """No test (nor a subprocess it starts) sees the caller's CALIB_* settings or a
    CI runner's GITHUB_* variables; session-wide so module fixtures are covered too."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("CALIB_", "GITHUB_")):
                mp.delenv(key)
        yield


@pytest.fixture
def samples() -> Path:
    return SAMPLES
