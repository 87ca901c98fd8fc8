"""Run a fuzz case in-process (through ``calibcli.cli.main.main``) or as a real subprocess, and judge it.

Hard problems (the fuzz tests fail on them): an exit status other than 0, 1 or 2,
a traceback in stdout or stderr, an exception escaping ``main()``, an input file
modified, a run that does not finish. Soft findings (counted by the long run,
reported, not failed on): output files left behind by a run that exits 2, stdout
that is not JSON under ``--format json``, Python byte-string reprs (``b'...'``) in
messages, and warnings of other libraries that escape calib.

Crash classes are keyed by the exception type and the deepest ``calibcli`` frame,
found by rerunning the case with ``calib --traceback``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.case import Case, apply_json_edit

ALLOWED_EXITS = frozenset({0, 1, 2})
OUTPUT_OPTIONS = frozenset({"-o", "--output", "--json-out", "--md-out", "--junit-out", "--plots", "--html-out"})
READ_OPTIONS = frozenset({"--fit-on", "--baseline", "--calibrator", "--config"})
HARD = ("exit", "traceback", "escaped", "input_modified", "timeout", "signal", "api_exception")


class FuzzTimeout(BaseException):
    """Raised by SIGALRM inside a step; a BaseException so ``main()`` does not map it to exit 3."""


@dataclass(frozen=True)
class Problem:
    kind: str  # one of HARD, or a soft kind
    signature: str  # what identifies the class (exception type and location)
    detail: str = ""

    @property
    def hard(self) -> bool:
        return self.kind in HARD


@dataclass
class StepResult:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    steps: list[StepResult]
    problems: list[Problem]

    @property
    def exit_code(self) -> int:
        return self.steps[-1].exit_code if self.steps else -1

    @property
    def hard(self) -> list[Problem]:
        return [p for p in self.problems if p.hard]


# ------------------------------------------------------------------ URL placeholders

#: placeholders in a case's arguments, replaced when the step runs: the case folder served over HTTP
#: (with and without range requests), a loopback port nobody listens on, the case folder's absolute path
PLACEHOLDERS = ("@HTTP@", "@HTTPNR@", "@REFUSED@", "@CWD@")
_SERVERS: dict[str, object] = {}


def _servers() -> dict[str, str]:
    """Start (once per process) the loopback HTTP servers over the temporary folder; their base addresses."""
    if not _SERVERS:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for remote_servers
        from remote_servers import FileServer, free_port

        root = Path(tempfile.gettempdir()).resolve()
        for key, ranges in (("@HTTP@", True), ("@HTTPNR@", False)):
            server = FileServer(root, ranges=ranges).start()
            # a request the server cannot answer (a name too long for the file system) must not print the
            # server thread's traceback into the stderr of the in-process step that made it
            server.server.handle_error = lambda request, client_address: None
            _SERVERS[key] = server
        _SERVERS["@REFUSED@"] = f"http://127.0.0.1:{free_port()}"
    return {k: (v if isinstance(v, str) else v.base) for k, v in _SERVERS.items()}


def resolve(args: tuple[str, ...], cwd: Path) -> tuple[str, ...]:
    """``args`` with the placeholders replaced for a case whose working directory is ``cwd``."""
    if not any(p in a for a in args for p in PLACEHOLDERS):
        return args
    real = cwd.resolve()
    rel = real.relative_to(Path(tempfile.gettempdir()).resolve()).as_posix()
    bases = _servers()
    values = {"@HTTP@": f"{bases['@HTTP@']}/{rel}", "@HTTPNR@": f"{bases['@HTTPNR@']}/{rel}",
              "@REFUSED@": bases["@REFUSED@"], "@CWD@": str(real)}
    out = []
    for a in args:
        for k, v in values.items():
            a = a.replace(k, v)
        out.append(a)
    return tuple(out)


# ------------------------------------------------------------------ files


STOP_MARKER = "# calib fuzz: the upward config search ends here\n"


def materialise(case: Case, top: Path) -> Path:
    """Create the case's files under ``top/case``; return the working directory of its steps.

    ``top`` gets an empty ``calib.toml`` so the upward config search never leaves the case
    (whatever lies above the temporary folder).
    """
    (top / "calib.toml").write_text(STOP_MARKER, encoding="utf-8")
    root = top / "case"
    root.mkdir(exist_ok=True)
    for rel, data in case.files.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for link, target in case.symlinks.items():
        path = root / link
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    cwd = root / case.cwd
    cwd.mkdir(parents=True, exist_ok=True)
    return cwd


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            try:
                with open(p, "rb") as fh:
                    out[os.path.realpath(p)] = hashlib.sha256(fh.read()).hexdigest()
            except OSError:
                pass
    return out


def _roles(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> tuple[set[str], set[str]]:
    """(paths the step reads, paths it may write), resolved."""
    reads: set[str] = set()
    writes: set[str] = set()
    prev = None
    for a in args:
        if prev in OUTPUT_OPTIONS:
            writes.add(os.path.realpath(cwd / a) if a else "")
        elif a and not a.startswith("-") or prev in READ_OPTIONS:
            p = cwd / a
            try:
                if p.is_file():
                    reads.add(os.path.realpath(p))
                elif any(ch in a for ch in "*?["):
                    import glob

                    reads |= {os.path.realpath(m) for m in glob.glob(str(cwd / a))}
            except (OSError, ValueError):  # a name too long, or with a NUL byte, names no file
                pass
        prev = a
    if env.get("GITHUB_STEP_SUMMARY"):
        writes.add(os.path.realpath(cwd / env["GITHUB_STEP_SUMMARY"]))
    if env.get("CALIB_CONFIG"):
        reads.add(os.path.realpath(cwd / env["CALIB_CONFIG"]))
    for folder in (cwd, *cwd.parents):
        for name in ("calib.toml", "pyproject.toml"):
            if (folder / name).is_file():
                reads.add(os.path.realpath(folder / name))
    return reads, writes


def _is_written(path: str, writes: set[str]) -> bool:
    return any(w and (path == w or path.startswith(w.rstrip("/") + "/")) for w in writes)


def _judge_files(before: dict[str, str], after: dict[str, str], reads: set[str], writes: set[str],
                 step: StepResult) -> list[Problem]:
    problems = []
    for path, digest in before.items():
        if after.get(path) != digest:
            if path in reads or not _is_written(path, writes):
                what = "deleted" if path not in after else "modified"
                problems.append(Problem("input_modified", f"{step.args[0] if step.args else ''}: input {what} "
                                                          f"(written as an output)", f"{Path(path).name}"))
    if step.exit_code == 2 and "--keep-going" not in step.args:  # --keep-going writes the others' results
        created = sorted(set(after) - set(before))
        if created:
            problems.append(Problem("partial_output", f"{_command(step.args)}: exit 2 left output files",
                                    ", ".join(Path(p).name for p in created[:5])))
    return problems


def _command(args: tuple[str, ...]) -> str:
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--config":
            skip = True
            continue
        if not a.startswith("-"):
            return a
    return "?"


# ------------------------------------------------------------------ judging output

TRACEBACK = "Traceback (most recent call last)"
BYTES_REPR = re.compile(r"""(?<!\w)b(['"])[^'"\n]{0,40}\1""")  # \w: any letter, so 'Äb' is no bytes repr
#: Python or pyarrow internals in a message meant for users
INTERNALS = re.compile(r"object has no attribute|pyarrow\.lib\.|'NoneType'|unhashable type|<class '|\[Errno \d+\]"
                       r"|object is not (subscriptable|iterable|callable)|takes \d+ positional argument")


def _judge_output(step: StepResult) -> list[Problem]:
    problems = []
    text = step.stdout + "\n" + step.stderr
    if TRACEBACK in text:
        tail = text[text.index(TRACEBACK):].strip().splitlines()
        problems.append(Problem("traceback", f"traceback in output: {tail[-1][:120] if tail else ''}", text[-2000:]))
    if BYTES_REPR.search(step.stderr):
        m = BYTES_REPR.search(step.stderr)
        problems.append(Problem("bytes_repr", f"{_command(step.args)}: b'...' in a message", m.group(0) if m else ""))
    m = INTERNALS.search(step.stderr)
    if m and step.exit_code == 2:
        line = next((ln for ln in step.stderr.splitlines() if m.group(0) in ln), "")
        problems.append(Problem("internal_message", f"{_command(step.args)}: Python internals in a message "
                                                    f"({m.group(0)})", line[:300]))
    args = step.args
    wants_json = "json" in [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--format"]
    if wants_json and step.exit_code in (0, 1) and not {"-o", "--output"} & set(args) and step.stdout.strip():
        try:
            json.loads(step.stdout)
        except ValueError as exc:
            problems.append(Problem("stdout_not_json", f"{_command(args)} --format json: stdout is not JSON",
                                    f"{exc}: {step.stdout[:200]!r}"))
    for w in step.warnings:
        problems.append(Problem("warning_leak", f"warning: {w.split(':', 1)[0][:80]}", w[:300]))
    return problems


def _signature_from_exception(exc: BaseException) -> tuple[str, str]:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "calibcli" in f.filename.replace("\\", "/").split("/site-packages/")[-1]]
    where = ""
    if ours:
        f = ours[-1]
        rel = f.filename[f.filename.rfind("calibcli"):]
        where = f"{rel}:{f.name}"
    deepest = frames[-1] if frames else None
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:]
    sig = f"{type(exc).__name__} in {where or '?'}"
    if deepest is not None and ours and deepest is not ours[-1]:
        sig += f" (raised in {Path(deepest.filename).name}:{deepest.name})"
    return sig, detail


def signature_from_text(text: str) -> tuple[str, str]:
    """Crash signature from a printed ``--traceback`` traceback."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', text)
    ours = [f for f in frames if "calibcli" in f[0]]
    where = ""
    if ours:
        path, _line, func = ours[-1]
        where = f"{path[path.rfind('calibcli'):]}:{func}"
    last = [ln for ln in text.strip().splitlines() if ln and not ln.startswith(" ")]
    exc_line = last[-1] if last else ""
    exc_type = exc_line.split(":", 1)[0].strip()
    return f"{exc_type} in {where or '?'}", text[-3000:]


# ------------------------------------------------------------------ in-process


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for k in list(os.environ):
            if k.startswith(("CALIB_", "GITHUB_")):
                del os.environ[k]
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def fire(signum, frame):  # noqa: ARG001
        raise FuzzTimeout()

    use = seconds > 0 and hasattr(signal, "SIGALRM") and _main_thread()
    old = signal.signal(signal.SIGALRM, fire) if use else None
    if use:
        signal.alarm(seconds)
    try:
        yield
    finally:
        if use:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def call_main(args: list[str], stdin: bytes | None) -> tuple[int, str, str, list[str], BaseException | None]:
    """``calib ARGS`` in-process: (exit code, stdout, stderr, warnings, exception that escaped main)."""
    from calibcli.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = out, err
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""))
    escaped: BaseException | None = None
    code = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except FuzzTimeout:
            raise
        except BaseException as exc:  # noqa: BLE001 - anything escaping main() is a finding
            escaped = exc
            code = -1
        finally:
            sys.stdout, sys.stderr, sys.stdin = old
    shown = [f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})" for w in caught]
    return int(code), out.getvalue(), err.getvalue(), shown, escaped


def _run_steps_in_process(case: Case, root: Path, timeout: int, traceback_step: int | None = None):
    cwd = materialise(case, root)
    results: list[StepResult] = []
    problems: list[Problem] = []
    escaped_exc: BaseException | None = None
    old_cwd = os.getcwd()
    try:
        os.chdir(cwd)
        with _environment(case.env):
            for i, step in enumerate(case.steps):
                step = resolve(step, cwd)
                args = ("--traceback", *step) if i == traceback_step else step
                reads, writes = _roles(step, cwd, case.env)
                before = _snapshot(root)
                try:
                    with _alarm(timeout):
                        code, out, err, warns, escaped = call_main(list(args), case.stdin)
                except FuzzTimeout:
                    results.append(StepResult(step, -2, "", ""))
                    problems.append(Problem("timeout", f"{_command(step)}: no result after {timeout} s"))
                    break
                res = StepResult(step, code, out, err, warns)
                results.append(res)
                if escaped is not None:
                    escaped_exc = escaped
                    if i != traceback_step:
                        sig, detail = _signature_from_exception(escaped)
                        problems.append(Problem("escaped", f"escaped main(): {sig}", detail))
                    break
                problems += _judge_output(res)
                problems += _judge_files(before, _snapshot(root), reads, writes, res)
                if code not in ALLOWED_EXITS:
                    problems.append(Problem("exit", f"exit {code}", err[-2000:]))
                if i == 0:
                    for edit in case.edits:
                        p = cwd / edit.path
                        if p.is_file():
                            p.write_bytes(apply_json_edit(p.read_bytes(), edit))
    finally:
        os.chdir(old_cwd)
    return results, problems, escaped_exc


def run_in_process(case: Case, timeout: int = 120, explain: bool = True) -> Outcome:
    """Run every step of ``case`` through ``main()``; crashes are explained by a rerun with ``--traceback``."""
    with tempfile.TemporaryDirectory(prefix="calib-fuzz-") as tmp:
        results, problems, _ = _run_steps_in_process(case, Path(tmp), timeout)
    if explain:
        problems = [_explain_in_process(case, p, results, timeout) if p.kind == "exit" else p for p in problems]
    return Outcome(results, problems)


def _explain_in_process(case: Case, problem: Problem, results: list[StepResult], timeout: int) -> Problem:
    step_index = next((i for i, r in enumerate(results) if r.exit_code not in ALLOWED_EXITS), None)
    if step_index is None:
        return problem
    with tempfile.TemporaryDirectory(prefix="calib-fuzz-") as tmp:
        _res, _probs, exc = _run_steps_in_process(case, Path(tmp), timeout, traceback_step=step_index)
    code = results[step_index].exit_code
    if exc is None:
        first = results[step_index].stderr.strip().splitlines()
        return Problem("exit", f"exit {code}: {first[0][:100] if first else ''}", problem.detail)
    sig, detail = _signature_from_exception(exc)
    return Problem("exit", f"exit {code}: {sig}", detail)


# ------------------------------------------------------------------ subprocess


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALIB_", "GITHUB_"))}
    env.update(extra)
    return env


def run_subprocess(case: Case, calib: str, timeout: int = 300, explain: bool = True) -> Outcome:
    """Run every step of ``case`` as ``calib ARGS`` in a fresh process."""
    results: list[StepResult] = []
    problems: list[Problem] = []
    tmp = Path(tempfile.mkdtemp(prefix="calib-fuzz-sub-"))
    try:
        cwd = materialise(case, tmp)
        env = _clean_env(case.env)
        for i, step in enumerate(case.steps):
            step = resolve(step, cwd)
            reads, writes = _roles(step, cwd, case.env)
            before = _snapshot(tmp)
            try:
                proc = subprocess.run([calib, *step], cwd=cwd, env=env, input=case.stdin or b"", capture_output=True,
                                      timeout=timeout)
            except subprocess.TimeoutExpired:
                results.append(StepResult(step, -2, "", ""))
                problems.append(Problem("timeout", f"{_command(step)}: no result after {timeout} s"))
                break
            res = StepResult(step, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                             proc.stderr.decode("utf-8", "replace"))
            results.append(res)
            problems += _judge_output(res)
            problems += _judge_files(before, _snapshot(tmp), reads, writes, res)
            if proc.returncode < 0:
                problems.append(Problem("signal", f"killed by signal {-proc.returncode}", res.stderr[-2000:]))
            elif proc.returncode not in ALLOWED_EXITS:
                sig = f"exit {proc.returncode}"
                detail = res.stderr[-2000:]
                if explain:
                    sig, detail = _explain_subprocess(case, i, calib, timeout, proc.returncode)
                problems.append(Problem("exit", sig, detail))
            if i == 0:
                for edit in case.edits:
                    p = cwd / edit.path
                    if p.is_file():
                        p.write_bytes(apply_json_edit(p.read_bytes(), edit))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Outcome(results, problems)


def _explain_subprocess(case: Case, step_index: int, calib: str, timeout: int, code: int) -> tuple[str, str]:
    tmp = Path(tempfile.mkdtemp(prefix="calib-fuzz-sub-"))
    try:
        cwd = materialise(case, tmp)
        env = _clean_env(case.env)
        for i, step in enumerate(case.steps[: step_index + 1]):
            step = resolve(step, cwd)
            args = ["--traceback", *step] if i == step_index else list(step)
            proc = subprocess.run([calib, *args], cwd=cwd, env=env, input=case.stdin or b"", capture_output=True,
                                  timeout=timeout)
            if i == 0:
                for edit in case.edits:
                    p = cwd / edit.path
                    if p.is_file():
                        p.write_bytes(apply_json_edit(p.read_bytes(), edit))
        text = proc.stderr.decode("utf-8", "replace")
        sig, detail = signature_from_text(text)
        return f"exit {code}: {sig}", detail
    except subprocess.TimeoutExpired:
        return f"exit {code}", ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
