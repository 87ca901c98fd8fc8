"""The calib command uses one BLAS thread (its output then does not depend on the machine's core count), unless the
environment says otherwise; Python callers keep their own setting."""

import subprocess
import sys

CHECK = ("import os, sys; from calibcli.cli.main import single_threaded_blas; single_threaded_blas(); "
         "import numpy, threadpoolctl; "
         "print([i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'])")


def _run(code, **env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin", **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_one_blas_thread_by_default():
    assert _run(CHECK) == "[1]"


def test_the_environment_wins():
    assert _run(CHECK, OPENBLAS_NUM_THREADS="2") == "[2]"


def test_too_late_once_numpy_is_loaded():
    code = "import numpy; " + CHECK
    assert _run(code, OPENBLAS_NUM_THREADS="2") == "[2]"
    assert "OPENBLAS_NUM_THREADS" not in _run("import numpy, os; from calibcli.cli.main import single_threaded_blas; "
                                               "single_threaded_blas(); print(sorted(os.environ))")


def test_the_command_sets_it(tmp_path):
    code = ("import sys, os, atexit; sys.argv = ['calib', '--version']; "
            "atexit.register(lambda: print(os.environ.get('OPENBLAS_NUM_THREADS'))); "
            "from calibcli.cli.main import main; main()")
    assert _run(code).splitlines()[-1] == "1"
