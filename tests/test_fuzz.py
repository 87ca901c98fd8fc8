"""Fuzzed input: calib must answer every hostile file, config, environment and gate rule with
exit 0, 1 or 2 and never a traceback, and must never modify an input file.

A bounded, deterministic sample runs here (``make test``, about 40 s); ``make fuzz`` runs
``tests/fuzz/run_long.py`` (10,000 in-process cases plus a few hundred real subprocesses).
Set ``FUZZ_EXAMPLES`` to scale the examples of every test in this file (not ``CALIB_*``:
calib rejects unknown ``CALIB_*`` variables).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.api import api_calls, metric_calls
from fuzz.case import Case
from fuzz.harness import HARD, run_in_process
from fuzz.seeds import load_seeds
from fuzz.strategies import cases, to_csv

ROOT = Path(__file__).resolve().parent.parent
REGRESSIONS = Path(__file__).resolve().parent / "fuzz" / "regressions"


def _examples(default: int) -> int:
    """Examples per test: ``default`` scaled by FUZZ_EXAMPLES / 1000 when that is set."""
    scale = os.environ.get("FUZZ_EXAMPLES")
    return max(1, int(default * int(scale) / 1000)) if scale else default


def bounded(default: int):
    """Deterministic settings: derandomized, no example database, no deadline (runs vary in speed)."""
    return settings(max_examples=_examples(default), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


def known_crashes() -> tuple[str, ...]:
    """Crash signatures of regression files still marked xfail: the bounded fuzz tests let these pass
    (their regression test tracks them, strict, and flips when they are fixed; then drop the xfail)."""
    out: list[str] = []
    for path in sorted(REGRESSIONS.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        if spec.get("xfail"):
            out += spec.get("signatures", [])
    return tuple(out)


KNOWN = known_crashes()


def check(case: Case, tolerate: tuple[str, ...] = ()):
    """Run ``case`` in-process; fail on an exit status other than 0/1/2, a traceback or a modified input
    (except crashes whose signature contains one of ``tolerate``)."""
    outcome = run_in_process(case)
    hard = [p for p in outcome.problems if p.kind in HARD and not any(t in p.signature for t in tolerate)]
    if hard:
        shown = "\n".join(f"- {p.kind}: {p.signature}\n{p.detail[-1500:]}" for p in hard)
        codes = ", ".join(str(s.exit_code) for s in outcome.steps)
        pytest.fail(f"exit codes {codes}\n{shown}\nreproducer:\n{case.describe()}", pytrace=False)
    return outcome


# ------------------------------------------------------------------ the seeds are valid


@pytest.mark.parametrize("seed", load_seeds(), ids=lambda s: s.name)
def test_seed_is_a_valid_input(seed, tmp_path):
    """The fuzzer starts from inputs calib accepts, so mutations explore the edge of valid input."""
    from cli_helpers import run

    path = tmp_path / "seed.csv"
    path.write_bytes(to_csv(list(seed.columns), [list(r) for r in seed.rows]))
    result = run(["--no-config", "audit", str(path), *seed.extra_args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["input"]


# ------------------------------------------------------------------ bounded fuzz


@bounded(80)
@given(cases(commands=("audit",)))
def test_fuzz_audit_on_mutated_files(case):
    check(case, KNOWN)


@bounded(40)
@given(cases(commands=("thresholds", "fit", "apply")))
def test_fuzz_thresholds_fit_apply_on_mutated_files(case):
    check(case, KNOWN)


@bounded(35)
@given(cases(focus="config"))
def test_fuzz_config_files_and_environment(case):
    check(case, KNOWN)


@bounded(35)
@given(cases(focus="rules"))
def test_fuzz_gate_rules(case):
    check(case, KNOWN)


@bounded(40)
@given(cases(focus="deep", max_options=8))
def test_fuzz_numerics_on_parseable_files(case):
    check(case, KNOWN)


@bounded(25)
@given(cases(focus="calibrator"))
def test_fuzz_calibrator_files(case):
    check(case, KNOWN)


@bounded(2)
@given(cases(commands=("audit",), plots="always", max_options=3))
def test_fuzz_audit_with_plots(case):
    check(case, KNOWN)


@bounded(20)
@given(cases(focus="groups"))
def test_fuzz_subgroups(case):
    """--by on hostile group columns: all null, mixed time zones, unparseable timestamps, many groups."""
    check(case, KNOWN)


@bounded(20)
@given(cases(focus="models"))
def test_fuzz_model_comparison(case):
    """--models: overlapping patterns, one column against several, NaN in one model's column only."""
    check(case, KNOWN)


@bounded(12)
@given(cases(focus="urls"))
def test_fuzz_url_inputs(case):
    """URL inputs served on loopback: found, 404, 403, refused, file://, odd forms and storage options."""
    check(case, KNOWN)


@bounded(20)
@given(cases(focus="dirs"))
def test_fuzz_directories_of_parts(case):
    """Directories of parts: mixed formats, no data files, empty and hidden parts, outputs inside them."""
    check(case, KNOWN)


def check_api(call, tolerate: tuple[str, ...] = ()):
    """Make an API call; fail when it raises anything but a CalibError, ValueError or TypeError."""
    from fuzz.api import run_api

    outcome = run_api(call)
    hard = [p for p in outcome.problems if p.kind in HARD
            and not any(t in p.signature for t in tolerate)]
    if hard:
        shown = "\n".join(f"- {p.kind}: {p.signature}\n{p.detail[-1500:]}" for p in hard)
        pytest.fail(f"{shown}\nreproducer: {call.describe()}", pytrace=False)


@bounded(100)
@given(api_calls())
def test_fuzz_python_api(call):
    """calibcli.audit/fit/thresholds and FittedCalibrator.transform on odd DataFrames, Tables and arrays."""
    check_api(call, KNOWN)


@bounded(200)
@given(metric_calls())
def test_fuzz_metrics_functions(call):
    """calibcli.metrics functions on NaN, empty, 1-D vs 2-D and mismatched arrays, odd keyword values."""
    check_api(call, KNOWN)


def test_every_option_is_fuzzed():
    """A new option of audit, thresholds, fit or apply must get values in tests/fuzz/strategies.py."""
    import click

    from calibcli.cli.main import cli
    from fuzz.seeds import seed_named
    from fuzz.strategies import option_tables

    covered = option_tables(seed_named("multiclass"))
    ctx = click.Context(cli)
    missing = []
    for name, opts in covered.items():
        for param in cli.get_command(ctx, name).params:
            if isinstance(param, click.Option) and param.name != "help":
                if not set(param.opts + param.secondary_opts) & opts:
                    missing.append(f"calib {name} {'/'.join(param.opts)}")
    assert missing == [], "options no fuzz case ever passes (add them to tests/fuzz/strategies.py): " + ", ".join(missing)


# ------------------------------------------------------------------ regressions found by fuzzing


def _regression_cases() -> list:
    params = []
    for path in sorted(REGRESSIONS.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        marks = []
        if spec.get("xfail"):
            marks.append(pytest.mark.xfail(reason=spec["xfail"], strict=True))
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def load_regression(path: Path) -> Case:
    """A regression file (see ``fuzz.case.to_regression``): ``files`` (text, or ``{"hex": ...}`` for bytes),
    ``steps``, optional ``env``, ``stdin_hex``, ``cwd``, ``symlinks``; ``xfail`` (a reason) and ``signatures``
    (substrings of the crash signatures, tolerated by the bounded fuzz tests) while not fixed;
    ``expect_exit`` (the status of every step) and ``expect_stderr`` (words of the last step's stderr)."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    files = {}
    for name, content in spec["files"].items():
        files[name] = bytes.fromhex(content["hex"]) if isinstance(content, dict) else content.encode("utf-8")
    stdin = bytes.fromhex(spec["stdin_hex"]) if "stdin_hex" in spec else None
    return Case(files=files, steps=tuple(tuple(s) for s in spec["steps"]), env=spec.get("env", {}), stdin=stdin,
                cwd=spec.get("cwd", "."), symlinks=spec.get("symlinks", {}))


@pytest.mark.parametrize("path", _regression_cases())
def test_fuzz_regression(path):
    """No crash, and where the file says so, the exit status of each step and words of the last message.

    ``python`` (instead of files and steps): lines of Python calling the API, which may raise only a
    CalibError, ValueError or TypeError. ``subprocess``: run the steps as real processes (for what happens at
    interpreter exit). ``slow``: a reason; skipped unless FUZZ_SLOW is set."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    if spec.get("slow") and not os.environ.get("FUZZ_SLOW"):
        pytest.skip(f"slow ({spec['slow']}); set FUZZ_SLOW=1 to run it")
    if "python" in spec:
        from calibcli.errors import CalibError

        code = "\n".join(spec["python"]) if isinstance(spec["python"], list) else spec["python"]
        try:
            exec(compile(code, str(path), "exec"), {})  # noqa: S102 - our own regression file
        except (CalibError, ValueError, TypeError) as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            for words in spec.get("expect_message", []):
                assert words in str(exc)
        return
    case = load_regression(path)
    if spec.get("subprocess"):
        from fuzz.harness import run_subprocess

        outcome = run_subprocess(case, str(Path(sys.executable).parent / "calib"), explain=False)
        hard = [p for p in outcome.problems if p.hard]
        assert not hard, "\n".join(f"{p.kind}: {p.signature}\n{p.detail[-1500:]}" for p in hard)
    else:
        outcome = check(case)
    if "expect_exit" in spec:
        assert [s.exit_code for s in outcome.steps] == spec["expect_exit"], outcome.steps[-1].stderr
    for words in spec.get("expect_stderr", []):
        assert words in outcome.steps[-1].stderr


# ------------------------------------------------------------------ doctest collection


def test_importing_every_module_has_no_side_effects(tmp_path):
    """``--doctest-modules`` imports every calibcli module: that must need only the required
    dependencies, print nothing, create no file and leave matplotlib's global settings alone."""
    code = """
import importlib, sys, os, io
import calibcli
out, err = io.StringIO(), io.StringIO()
sys.stdout, sys.stderr = out, err
import matplotlib
before = dict(matplotlib.rcParams)
root = os.path.dirname(calibcli.__file__)
names = sorted(
    "calibcli." + os.path.relpath(os.path.join(d, f), root)[:-3].replace(os.sep, ".").removesuffix(".__init__")
    for d, _, files in os.walk(root) for f in files if f.endswith(".py") and f != "__main__.py")
for name in names:
    importlib.import_module(name)
changed = sorted(k for k, v in matplotlib.rcParams.items() if str(before.get(k)) != str(v))
sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
optional = sorted(m for m in ("dask", "distributed", "sklearn", "fsspec", "s3fs") if m in sys.modules)
print(repr((len(names), out.getvalue(), err.getvalue(), changed, optional, sorted(os.listdir(".")))))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALIB_", "GITHUB_"))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    n, out, err, changed, optional, created = eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our repr
    assert n == len([p for p in (ROOT / "calibcli").rglob("*.py") if p.name != "__main__.py"])
    assert (out, err) == ("", ""), "importing a calibcli module printed something"
    assert changed == [], "importing a calibcli module changed matplotlib.rcParams"
    assert optional == [], f"importing calibcli modules imported optional packages {optional}"
    assert created == [], f"importing calibcli modules created files {created}"


def test_pytest_collects_the_library_doctests():
    """pyproject's pytest settings collect the docstring examples of calibcli."""
    import tomllib

    opts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in opts["addopts"]
    assert "calibcli" in opts["testpaths"]
