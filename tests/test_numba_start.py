"""numba's start in the calib process: kernels.skip_blas_probe (set by the calib command) lets numba load
without importing scipy.linalg; Python callers keep numba's default; the numbers are the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from cli_helpers import run
from conftest import SAMPLES

pytest.importorskip("numba")

LOGITS = SAMPLES / "multiclass_logits.parquet"

_PROBE = """
    import sys
    import numpy as np
    import calibcli.kernels as k
    from calibcli.kernels.evidence import score_evidence
    if {skip}:
        k.skip_blas_probe()
    assert k.available()
    print(score_evidence(np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32), True, force=True))
    import numba.np.arraymath
    print("scipy.linalg" in sys.modules, numba.np.arraymath._HAVE_BLAS)
    import scipy.linalg  # still importable
    print(scipy.linalg.cython_blas is not None)
    """


def _probe(skip: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALIB")}
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(_PROBE.format(skip=skip))], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_skip_blas_probe_loads_numba_without_scipy_linalg():
    assert _probe(True) == ["(True, 0.25, 0.75, 0.0)", "False False", "True"]


def test_python_callers_keep_numbas_default():
    assert _probe(False) == ["(True, 0.25, 0.75, 0.0)", "True True", "True"]


def test_hidden_module_is_hidden_from_its_thread_only():
    from calibcli.kernels import _Hidden

    hidden = _Hidden(("some.module",))
    with pytest.raises(ModuleNotFoundError):
        hidden.find_spec("some.module")
    assert hidden.find_spec("other.module") is None
    seen = []
    t = threading.Thread(target=lambda: seen.append(hidden.find_spec("some.module")))
    t.start()
    t.join()
    assert seen == [None]


def test_calib_process_gives_the_numbers_of_an_in_process_run(monkeypatch, tmp_path):
    # the process (entry point: skip_blas_probe, os._exit) and an in-process run, compiled kernels in both
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    for key in [k for k in os.environ if k.startswith("CALIB_")]:
        monkeypatch.delenv(key)
    args = ["audit", str(LOGITS), "--format", "json"]
    r = subprocess.run([sys.executable, "-m", "calibcli", "--no-config", *args], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    inproc = run(["--no-config", *args])
    assert inproc.exit_code == 0, inproc.stderr
    assert r.stdout == inproc.stdout
    assert json.loads(r.stdout)["engine"]


def test_no_kernel_uses_what_the_blas_probe_decides():
    # skip_blas_probe is safe only while no compiled code calls np.correlate / np.convolve (numba picks BLAS or a
    # plain loop for them from that probe, so the calib command and Python callers could differ in the last bits)
    import pathlib

    import calibcli.kernels

    folder = pathlib.Path(calibcli.kernels.__file__).parent
    for path in folder.glob("*.py"):
        text = path.read_text()
        assert "correlate(" not in text and "convolve(" not in text, path.name
