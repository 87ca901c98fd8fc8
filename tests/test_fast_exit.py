"""The ``calib`` process ends with ``os._exit`` after a run (calibcli.cli.main._end_process), skipping the
interpreter's teardown; what the teardown must still do (flush, atexit handlers, temporary files) still happens,
and the exit codes are those of a normal exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import SAMPLES

PROBS = SAMPLES / "multiclass_probs.csv"


def _env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALIB_", "COV_CORE"))}
    env["TMPDIR"] = str(tmp_path)  # temporary files (a spilled stdin) go here, so the test can see them
    return env


def _python(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=120)


def test_end_process_flushes_runs_atexit_and_deletes_a_live_spill(tmp_path):
    r = _python("""
        import atexit, sys
        from calibcli.sources.paths import Spill
        from calibcli.cli.main import _end_process
        spill = Spill(".stdin"); spill.write(b"label\\n"); path = spill.finish()
        atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
        print(path, end="")  # still in stdout's buffer (a pipe)
        _end_process(3)
        print("not reached")
        """, tmp_path)
    assert r.returncode == 3, r.stderr
    assert r.stdout.startswith(str(tmp_path)) and "not reached" not in r.stdout
    assert "atexit ran" in r.stderr
    assert not os.path.exists(r.stdout)  # the spill's weakref.finalize ran
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("code, status", [("None", 0), ("2", 2), ("'text'", 1)])
def test_end_process_status(tmp_path, code, status):
    # None is 0; a non-int status (sys.exit("text")) is left to the interpreter (prints it, status 1)
    r = _python(f"""
        import sys
        from calibcli.cli.main import _end_process
        _end_process({code})
        sys.exit({code})
        """, tmp_path)
    assert r.returncode == status


def test_end_process_leaves_a_running_thread_to_the_interpreter(tmp_path):
    r = _python("""
        import threading
        from calibcli.cli.main import _end_process
        done = threading.Event()
        worker = threading.Thread(target=lambda: (done.wait(30), print("worker finished", flush=True)))
        worker.start()
        _end_process(0)
        print("returned", flush=True)
        done.set()
        """, tmp_path)
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["returned", "worker finished"]


def test_main_with_argv_raises_system_exit():
    from calibcli.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0


def _calib(args: list[str], tmp_path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calibcli", "--no-config", *args], input=stdin, capture_output=True,
                          env=_env(tmp_path), cwd=tmp_path, timeout=300)


def test_stdin_audit_exits_0_and_leaves_no_temporary_file(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = _calib(["audit", "-", "--format", "json"], tmp, stdin=PROBS.read_bytes())
    assert r.returncode == 0, r.stderr
    assert b'"n_samples": 3000' in r.stdout and r.stdout.rstrip().endswith(b"}")
    assert os.listdir(tmp) == []


@pytest.mark.parametrize("args, status", [
    (["--fail-if", "ece > 0.5"], 0),
    (["--fail-if", "ece >= 0"], 1),
])
def test_gate_status_of_the_process(tmp_path, args, status):
    r = _calib(["audit", "-", "-q", "--no-calibration", *args], tmp_path, stdin=PROBS.read_bytes())
    assert r.returncode == status, r.stderr
    assert not [n for n in os.listdir(tmp_path) if n.startswith("calib-")]


def test_input_error_status_of_the_process(tmp_path):
    (tmp_path / "bad.csv").write_text("label,p_a,p_b\n0,0.5,nan\n")
    r = _calib(["audit", "bad.csv"], tmp_path)
    assert r.returncode == 2 and b"Traceback" not in r.stderr and b"bad.csv" in r.stderr
