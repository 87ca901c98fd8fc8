"""kernels.preload / kernels.ready: numba is imported in the background while the scan checks its first batches
with the numpy evidence code (the same bits), so no number depends on when the import finishes."""

import subprocess
import sys

import numpy as np

from calibcli import kernels
from calibcli.kernels.evidence import score_evidence
from calibcli.validation.scores import pairwise_row_sums


def test_ready_follows_the_mode(monkeypatch):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    assert kernels.ready() is False
    kernels.preload()  # nothing to do in numpy mode
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    assert kernels.ready() is True  # imports numba first


def test_preload_imports_numba_in_a_thread():
    code = ("import sys, threading; from calibcli import kernels; assert not kernels.ready(); "
            "assert 'numba' not in sys.modules; kernels.preload(); kernels.preload(); "
            "ts = [t for t in threading.enumerate() if t.name == 'calib-numba-import']; assert len(ts) == 1; "
            "ts[0].join(); assert kernels.ready() and 'numba' in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert out.stdout.strip() == "ok", out.stderr


def test_small_input_does_not_preload(tmp_path):
    import pandas as pd

    path = tmp_path / "small.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"label": rng.integers(0, 2, 50), "p_1": rng.uniform(size=50)}).to_csv(path, index=False)
    code = (f"import sys; from calibcli.engine.streaming import open_source; s = open_source([{str(path)!r}]); "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert out.stdout.strip() == "False", out.stderr


def test_evidence_twins_agree_bit_for_bit():
    rng = np.random.default_rng(3)
    s = rng.dirichlet(np.ones(7), 5000).astype(np.float32)
    ok, lo, hi, dev = score_evidence(s, True, force=True)
    assert ok and lo == float(s.min()) and hi == float(s.max())
    assert dev == float(np.max(np.abs(pairwise_row_sums([s[:, j] for j in range(7)]) - 1.0)))


def test_a_small_audit_never_imports_numba():
    """Not at the start (preload) nor at the end (the JSON's engine.kernels)."""
    code = ("import sys, io, contextlib; from calibcli.cli.main import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try: main(['audit', 'sample_data/multiclass_logits.parquet', '--format', 'json'])\n"
            "    except SystemExit: pass\n"
            "print('numba' in sys.modules, '\"kernels\": \"numpy\"' in out.getvalue())")
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={"PATH": "/usr/bin"})
    assert out.stdout.strip().splitlines()[-1] == "False True", out.stderr


def test_preload_loads_a_first_kernel_before_ready():
    """ready() only once numba's set-up on its first kernel is done too (the scan's evidence then never waits)."""
    code = ("import sys; from calibcli import kernels; from calibcli.kernels import rng; kernels.preload(); "
            "import threading; [t.join() for t in threading.enumerate() if t.name == 'calib-numba-import']; "
            "import numba; print(kernels.ready(), 'numba.np.arraymath' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert out.stdout.strip() == "True True", out.stderr


def test_installed_never_imports_numba():
    code = "import sys; from calibcli import kernels; print(kernels.installed(), 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert out.stdout.strip() == "True False", out.stderr


def test_broken_numba_gives_the_numpy_numbers_every_time(tmp_path):
    """numba installed but failing to import: the first pass speculated with the compiled kernels (numba is
    found on the path) is dropped by settle(), every run alike, and the numbers are the numpy kernels'."""
    import json
    import os

    from pathlib import Path

    import pandas as pd

    fake = tmp_path / "fake" / "numba"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('numba is broken here (test)')\n")
    rng = np.random.default_rng(5)
    n, k = 20_000, 10  # one batch of 200,000 scores: the compiled kernels' size
    df = pd.DataFrame(rng.normal(size=(n, k)).astype(np.float32), columns=[f"logit_{j}" for j in range(k)])
    df.insert(0, "label", rng.integers(0, k, n))
    path = tmp_path / "logits.parquet"
    df.to_parquet(path)
    root = Path(__file__).resolve().parent.parent

    def run(name, **env):
        out = tmp_path / f"{name}.json"
        full = {name: v for name, v in os.environ.items() if name != "CALIBCLI_KERNELS"}
        full.update(env)
        got = subprocess.run([sys.executable, "-m", "calibcli", "--no-config", "audit", str(path), "--json-out", str(out)],
                             capture_output=True, text=True, cwd=root, env=full)
        assert got.returncode == 0, got.stderr
        return json.loads(out.read_text())

    numpy_run = run("numpy", CALIBCLI_KERNELS="numpy")
    broken = [run(f"broken{i}", PYTHONPATH=str(tmp_path / "fake")) for i in range(2)]
    for b in broken:
        assert b["engine"]["kernels"] == "numpy" and b["engine"]["first_pass_in_scan"] is False
        assert {**b, "engine": None} == {**numpy_run, "engine": None}
