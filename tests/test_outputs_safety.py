"""Output files are written safely (issue 10, items 9-12 and the job summary of 15).

- never over a file the command reads (any spelling, symlink or hard link), never two outputs on one file;
- devices, FIFOs and symlinks to them are written through, never replaced by a regular file;
- a failed or interrupted run leaves no output file (and an older output untouched);
- an output path that cannot be written exits 2 naming the option and path, before any work;
- a GITHUB_STEP_SUMMARY that cannot be appended to is a warning, never an exit 3.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from calibcli.errors import UsageError
from calibcli.outputs import OutputSet, write_atomic
from tests.cli_helpers import run
from tests.conftest import ROOT, SAMPLES

BINARY = SAMPLES / "binary.csv"
PROBS = SAMPLES / "multiclass_probs.csv"
PREVIOUS = SAMPLES / "previous_model.csv"  # the baseline of PROBS
PLOT_NAMES = ("classes.png", "confidence.png", "reliability.png")


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder holding copies of the samples, as the working directory."""
    for f in (BINARY, PROBS, PREVIOUS):
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: file bytes, symlink targets, 'dir'/'fifo' markers."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        key = str(p.relative_to(folder))
        if p.is_symlink():
            out[key] = "-> " + os.readlink(p)
        elif p.is_dir():
            out[key] = "dir"
        elif stat.S_ISFIFO(p.stat().st_mode):
            out[key] = "fifo"
        else:
            out[key] = p.read_bytes()
    return out


def fit_calibrator(folder: Path) -> Path:
    path = folder / "cal.json"
    r = run(["fit", BINARY, "-o", path, "-q"])
    assert r.exit_code == 0, r.stderr
    return path


class FifoReader:
    """Reads everything written to a FIFO in a thread (a writer's open blocks until a reader opens)."""

    def __init__(self, path: Path):
        self.path, self.data = path, b""
        os.mkfifo(path)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.path, "rb") as fh:
            self.data = fh.read()

    def finish(self) -> bytes:
        if self.thread.is_alive():  # nothing opened the FIFO for writing: release the reader
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
        self.thread.join(30)
        return self.data


# -- item 9: never over a file the command reads ---------------------------------------------------
AUDIT_READS = {
    "input": ["audit", "multiclass_probs.csv", "-q"],
    "baseline": ["audit", "multiclass_probs.csv", "--baseline", "previous_model.csv", "--max-ece-increase", "0.5", "-q"],
    "fit-on": ["audit", "multiclass_probs.csv", "--fit-on", "previous_model.csv", "-q"],
    "config": ["--config", "calib.toml", "audit", "multiclass_probs.csv", "-q"],
}
READ_FILE = {"input": "multiclass_probs.csv", "baseline": "previous_model.csv", "fit-on": "previous_model.csv",
             "config": "calib.toml"}


@pytest.mark.parametrize("read", sorted(AUDIT_READS))
@pytest.mark.parametrize("option", ["--json-out", "--md-out", "--junit-out"])
@pytest.mark.parametrize("spelling", ["plain", "dotted", "absolute", "symlink", "hardlink"])
def test_audit_never_writes_over_a_file_it_reads(work, read, option, spelling):
    (work / "calib.toml").write_text("bins = 10\n")
    name = READ_FILE[read]
    if spelling == "symlink":
        os.symlink(name, work / "alias")
        target = "alias"
    elif spelling == "hardlink":
        os.link(name, work / "alias")
        target = "alias"
    else:
        target = {"plain": name, "dotted": f"./sub/../{name}", "absolute": str(work / name)}[spelling]
        (work / "sub").mkdir()
    before = snapshot(work)
    r = run([*AUDIT_READS[read], option, target])
    assert r.exit_code == 2, r.stderr
    assert f"{option} {target} is " in r.stderr and "never overwrites its input" in r.stderr
    assert "Traceback" not in r.stderr
    assert snapshot(work) == before


def test_plots_never_write_over_a_file_it_reads(work):
    (work / "pl").mkdir()
    os.symlink("../multiclass_probs.csv", work / "pl" / "classes.png")
    before = snapshot(work)
    r = run(["audit", "multiclass_probs.csv", "--plots", "pl", "-q"])
    assert r.exit_code == 2 and "--plots pl/classes.png is one of the input files" in r.stderr
    assert snapshot(work) == before


def test_fit_apply_thresholds_never_write_over_a_file_they_read(work):
    cal = fit_calibrator(work)
    (work / "calib.toml").write_text("label-col = 'label'\n")
    os.symlink("cal.json", work / "cal-link.csv")
    before = snapshot(work)
    for args, what in [
        (["apply", "cal.json", "binary.csv", "-o", "cal-link.csv"], "is the calibrator file (cal.json)"),
        (["apply", "cal.json", "binary.csv", "-o", "./binary.csv"], "is one of the input files"),
        (["--config", "calib.toml", "apply", "cal.json", "binary.csv", "-o", "calib.toml"], "is the config file"),
        (["thresholds", "binary.csv", "--calibrator", "cal.json", "-o", str(cal)], "is the --calibrator file"),
        (["--config", "calib.toml", "thresholds", "binary.csv", "-o", "./calib.toml"], "is the config file"),
        (["--config", "calib.toml", "fit", "binary.csv", "-o", "calib.toml"], "is the config file"),
        (["fit", "binary.csv", "-o", "sub/../binary.csv"], "is one of the input files"),
    ]:
        (work / "sub").mkdir(exist_ok=True)
        r = run(args)
        assert r.exit_code == 2 and what in r.stderr and "never overwrites its input" in r.stderr, (args, r.stderr)
        before["sub"] = "dir"
        assert snapshot(work) == before, args


def test_config_file_found_upward_is_protected(work):
    (work / "pyproject.toml").write_text("[tool.calib]\nbins = 10\n")
    before = (work / "pyproject.toml").read_bytes()
    r = run(["audit", "binary.csv", "--json-out", "pyproject.toml", "-q"])
    assert r.exit_code == 2 and "is the config file" in r.stderr
    assert (work / "pyproject.toml").read_bytes() == before


def test_two_outputs_on_one_file_is_a_usage_error(work):
    r = run(["audit", "binary.csv", "--json-out", "r.json", "--md-out", "./r.json", "-q"])
    assert r.exit_code == 2 and "--md-out ./r.json and --json-out r.json name the same file" in r.stderr
    os.symlink("r.md", work / "link.md")
    r = run(["audit", "binary.csv", "--md-out", "r.md", "--junit-out", "link.md", "-q", "--max-ece", "1"])
    assert r.exit_code == 2 and "name the same file" in r.stderr
    (work / "pl").mkdir()
    r = run(["audit", "binary.csv", "--plots", "pl", "--json-out", "pl/reliability.png", "-q"])
    assert r.exit_code == 2 and "name the same file" in r.stderr
    assert sorted(p.name for p in work.iterdir()) == ["binary.csv", "link.md", "multiclass_probs.csv", "pl",
                                                       "previous_model.csv"]
    assert not any((work / "pl").iterdir())


# -- item 10: devices, FIFOs and symlinks are written through ------------------------------------------
@pytest.fixture
def null_device(tmp_path) -> Path:
    """A character device like /dev/null: a private node made with mknod (as root), else /dev/null itself.

    A private node keeps a regression from replacing the machine's /dev/null (as root it
    could); without root, /dev is not writable, so /dev/null is safe to use.
    """
    node = tmp_path / "devices" / "null"
    node.parent.mkdir()
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        return node
    except (OSError, AttributeError):
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.skip("cannot make a device node")
        return Path(os.devnull)


def test_devices_stay_character_devices(work, null_device):
    dev = str(null_device)
    os.symlink(dev, work / "nul.json")
    r = run(["audit", "binary.csv", "--json-out", dev, "--md-out", "nul.json", "--junit-out", dev,
             "--max-ece", "1", "-q"])
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISCHR(os.stat(dev).st_mode)
    assert os.path.islink(work / "nul.json") and os.readlink(work / "nul.json") == dev
    r = run(["thresholds", "binary.csv", "-o", dev])
    assert r.exit_code == 0 and stat.S_ISCHR(os.stat(dev).st_mode)
    r = run(["fit", "binary.csv", "-o", dev, "-q"])
    assert r.exit_code == 0 and stat.S_ISCHR(os.stat(dev).st_mode)
    r = run(["schema", "-o", dev])
    assert r.exit_code == 0 and stat.S_ISCHR(os.stat(dev).st_mode)
    assert not [p for p in work.rglob("*") if "calib-" in p.name]
    assert not [p for p in null_device.parent.iterdir() if p.name != "null"]


def test_fifo_outputs_are_written_through(work):
    reader = FifoReader(work / "report.json")
    r = run(["audit", "binary.csv", "--json-out", "report.json", "-q"])
    data = reader.finish()
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISFIFO(os.stat(work / "report.json").st_mode)
    assert data.startswith(b"{") and b'"schema_version"' in data

    reader = FifoReader(work / "cal.json")
    os.symlink("cal.json", work / "cal-link.json")
    r = run(["fit", "binary.csv", "-o", "cal-link.json", "-q"])
    data = reader.finish()
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISFIFO(os.stat(work / "cal.json").st_mode) and os.path.islink(work / "cal-link.json")
    assert b'"format_version"' in data


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_dev_stdout_is_written_through_to_whatever_it_is_open_on(work):
    # /dev/stdout is a symlink to /proc/self/fd/1; a private one keeps a regression from replacing /dev/stdout
    os.symlink("/proc/self/fd/1", work / "stdout")
    args = [sys.executable, "-m", "calibcli", "audit", "binary.csv", "--json-out", "stdout", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(args, cwd=work, env=env, capture_output=True)  # a pipe
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.startswith(b"{") and b'"schema_version"' in proc.stdout
    log = work / "log.txt"
    log.write_bytes(b"earlier\n")
    with open(log, "ab") as fh:  # the shell's >>: the earlier content stays, the file stays the same file
        inode = os.fstat(fh.fileno()).st_ino
        proc = subprocess.run(args, cwd=work, env=env, stdout=fh, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stderr.decode()
    assert log.read_bytes().startswith(b"earlier\n{") and os.stat(log).st_ino == inode
    assert os.readlink(work / "stdout") == "/proc/self/fd/1"


def test_symlink_to_a_regular_file_replaces_the_target_not_the_link(work):
    (work / "reports").mkdir()
    (work / "reports" / "r.json").write_text("old")
    os.chmod(work / "reports" / "r.json", 0o640)
    os.symlink("reports/r.json", work / "latest.json")
    r = run(["audit", "binary.csv", "--json-out", "latest.json", "-q"])
    assert r.exit_code == 0, r.stderr
    assert os.path.islink(work / "latest.json") and os.readlink(work / "latest.json") == "reports/r.json"
    assert (work / "reports" / "r.json").read_text().startswith("{")
    assert stat.S_IMODE(os.stat(work / "reports" / "r.json").st_mode) == 0o640  # permissions kept
    assert sorted(p.name for p in (work / "reports").iterdir()) == ["r.json"]


def test_write_atomic_through_a_symlink_to_a_device_and_to_a_new_file(tmp_path, null_device):
    os.symlink(null_device, tmp_path / "nul")
    write_atomic(tmp_path / "nul", "x")
    assert os.path.islink(tmp_path / "nul") and stat.S_ISCHR(os.stat(null_device).st_mode)
    os.symlink("new/target.txt", tmp_path / "dangling")
    write_atomic(tmp_path / "dangling", "hello")
    assert os.path.islink(tmp_path / "dangling") and (tmp_path / "new" / "target.txt").read_text() == "hello"


# -- item 11: a failed or interrupted run leaves no output ----------------------------------------------
ALL_AUDIT_OUTPUTS = ["--json-out", "out/r.json", "--md-out", "r.md", "--junit-out", "r.xml", "--plots", "pl",
                     "--max-ece", "1"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError, OSError])
def test_audit_failing_while_plotting_leaves_no_output(work, monkeypatch, error):
    import calibcli.render.plots as plots

    (work / "r.md").write_text("an older report")
    before = snapshot(work)

    def broken(*args, **kwargs):
        raise error("boom")

    monkeypatch.setattr(plots, "render_all", broken)
    r = run(["audit", "multiclass_probs.csv", *ALL_AUDIT_OUTPUTS, "-q"])
    assert r.exit_code == {KeyboardInterrupt: 130, RuntimeError: 3, OSError: 3}[error], r.stderr
    assert snapshot(work) == before  # nothing new (no temp file, no folder) and the older report untouched


def test_audit_per_file_failing_on_the_second_file_leaves_no_output(work):
    (work / "bad.csv").write_text("label,p_cat\n1,2.5\n")
    before = snapshot(work)
    r = run(["audit", "binary.csv", "bad.csv", "--per-file", *ALL_AUDIT_OUTPUTS, "-q"])
    assert r.exit_code == 2, r.stderr
    assert snapshot(work) == before


def test_interrupted_fit_apply_thresholds_leave_no_output(work, monkeypatch):
    cal = fit_calibrator(work)
    before = snapshot(work)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    import calibcli.apply_stream
    import calibcli.calibrators.fit_all
    import calibcli.thresholds

    monkeypatch.setattr(calibcli.calibrators.fit_all, "fit_all_rows", interrupt)
    monkeypatch.setattr(calibcli.apply_stream._Writer, "write", interrupt)  # the staged output is open
    monkeypatch.setattr(calibcli.thresholds, "recommend_source", interrupt)
    for args in (["fit", "binary.csv", "-o", "new/cal2.json"], ["apply", str(cal), "binary.csv", "-o", "new/o.csv"],
                 ["thresholds", "binary.csv", "-o", "new/t.csv"]):
        r = run(args)
        assert r.exit_code == 130, (args, r.stderr)
        assert snapshot(work) == before, args


def test_a_failed_rename_restores_the_outputs_already_renamed(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("old a")
    real_replace = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    with OutputSet() as out:
        out.add("--one", tmp_path / "a.txt", "new a")
        out.add("--two", tmp_path / "sub" / "b.txt", "new b")
        monkeypatch.setattr(os, "replace", flaky)
        with pytest.raises(UsageError, match="--two .*b.txt: cannot write .No space left on device.; no output file"):
            out.commit()
        monkeypatch.setattr(os, "replace", real_replace)
    assert snapshot(tmp_path) == {"a.txt": b"old a"}  # restored, temp and backup files and the new folder gone


def test_an_interrupt_during_commit_rolls_back(tmp_path, monkeypatch):
    real_replace = os.replace
    calls = []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    with pytest.raises(KeyboardInterrupt):
        with OutputSet() as out:
            out.add("--one", tmp_path / "a.txt", "a")
            out.add("--two", tmp_path / "b.txt", "b")
            monkeypatch.setattr(os, "replace", interrupted)
            out.commit()
    monkeypatch.setattr(os, "replace", real_replace)
    assert snapshot(tmp_path) == {}


def test_outputs_stay_invisible_until_commit(tmp_path):
    with OutputSet() as out:
        out.add("--one", tmp_path / "d" / "a.txt", "a")
        assert not (tmp_path / "d" / "a.txt").exists()
        assert out.commit() == []
    assert snapshot(tmp_path) == {"d": "dir", "d/a.txt": b"a"}


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32", reason="POSIX signals")
def test_real_sigint_while_plotting_exits_130_and_leaves_no_output(work):
    """A real SIGINT from another process, sent while the PNGs are drawn (the child waits there for it)."""
    marker = work / "plotting"
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"  # a background job inherits SIGINT ignored
        "import calibcli.render.plots as plots\n"
        "def waiting(*a, **k):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    time.sleep(600)\n"
        "plots.render_all = waiting\n"
        "from calibcli.cli.main import main\n"
        "main(sys.argv[1:])\n"
    )
    before = snapshot(work)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script, "audit", "multiclass_probs.csv", *ALL_AUDIT_OUTPUTS, "-q"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not marker.exists() and proc.poll() is None:
            threading.Event().wait(0.05)
        assert proc.poll() is None, proc.communicate()[1].decode()
        staged = [p.name for p in work.rglob("*.calib-tmp")]
        assert ".r.md." in " ".join(staged) and ".r.json." in " ".join(staged)  # staged, not yet visible
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
    marker.unlink()
    assert snapshot(work) == before


# -- item 12: unwritable output paths exit 2 naming them, before any work --------------------------------
def unwritable_paths(work: Path) -> dict[str, tuple[str, str]]:
    (work / "afile").write_text("x")
    return {
        "parent is a file": ("afile/out.json", "afile is a file, not a folder"),
        "grandparent is a file": ("afile/sub/out.json", "afile is a file, not a folder"),
        "/proc": ("/proc/calib-test/out.json", "cannot create the folder /proc/calib-test"),
        "a folder": (".", "is a folder"),
    }


@pytest.mark.parametrize("case", ["parent is a file", "grandparent is a file", "/proc", "a folder"])
@pytest.mark.parametrize("command", ["audit-json", "audit-md", "audit-junit", "audit-plots", "fit", "apply",
                                     "thresholds", "schema"])
def test_unwritable_output_exits_2_before_any_work(work, monkeypatch, case, command):
    if case == "/proc" and not os.path.isdir("/proc/self"):
        pytest.skip("no /proc")
    cal = fit_calibrator(work)
    path, why = unwritable_paths(work)[case]
    if command == "apply":
        path = path.replace(".json", ".csv")
    if command == "audit-plots" and case == "a folder":
        path = "afile"  # --plots takes a folder; a file there is the error
    args, option = {
        "audit-json": (["audit", "binary.csv", "--json-out", path], "--json-out"),
        "audit-md": (["audit", "binary.csv", "--md-out", path], "--md-out"),
        "audit-junit": (["audit", "binary.csv", "--junit-out", path], "--junit-out"),
        "audit-plots": (["audit", "binary.csv", "--plots", path], "--plots"),
        "fit": (["fit", "binary.csv", "-o", path], "-o"),
        "apply": (["apply", str(cal), "binary.csv", "-o", path], "-o"),
        "thresholds": (["thresholds", "binary.csv", "-o", path], "-o"),
        "schema": (["schema", "-o", path], "-o"),
    }[command]

    def no_work(*a, **k):
        raise AssertionError("work started before the output paths were checked")

    import calibcli.loading
    import calibcli.reading

    monkeypatch.setattr(calibcli.loading, "load_predictions", no_work)
    monkeypatch.setattr(calibcli.reading.Source, "read", no_work)
    before = snapshot(work)
    r = run(args)
    assert r.exit_code == 2, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    if case == "a folder":  # click's own check (dir_okay/file_okay) answers first, naming the option
        assert f"'{option}'" in r.stderr or f"{option} {path}" in r.stderr, r.stderr
        return
    assert f"{option} {path}" in r.stderr and why in r.stderr, r.stderr
    assert snapshot(work) == before


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root may write anywhere")
def test_read_only_folder_exits_2(work):
    ro = work / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = run(["audit", "binary.csv", "--json-out", "ro/r.json", "-q"])
        assert r.exit_code == 2 and "--json-out ro/r.json: cannot write in" in r.stderr
    finally:
        ro.chmod(0o755)


def test_missing_folders_are_created_on_commit(work):
    r = run(["audit", "binary.csv", "--json-out", "a/b/r.json", "--plots", "a/p", "-q"])
    assert r.exit_code == 0, r.stderr
    assert (work / "a" / "b" / "r.json").exists() and sorted(p.name for p in (work / "a" / "p").iterdir()) == list(PLOT_NAMES)


# -- item 15: GITHUB_STEP_SUMMARY that cannot be written -------------------------------------------------
@pytest.mark.parametrize("where", ["folder", "missing folder", "input file", "an output"])
def test_unwritable_step_summary_is_a_warning(work, monkeypatch, where):
    (work / "summary-dir").mkdir()
    path = {"folder": str(work / "summary-dir"), "missing folder": str(work / "nope" / "summary.md"),
            "input file": "binary.csv", "an output": "r.json"}[where]
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", path)
    input_before = (work / "binary.csv").read_bytes()
    for limit, code in (("1", 0), ("0.0001", 1)):  # the verdict alone decides the exit code
        r = run(["audit", "binary.csv", "--max-ece", limit, "--json-out", "r.json", "-q"])
        assert r.exit_code == code, r.stderr
        assert f"warning: GITHUB_STEP_SUMMARY {path}" in r.stderr and "not" in r.stderr
    assert (work / "binary.csv").read_bytes() == input_before
    assert (work / "r.json").read_text().startswith("{")
    assert not (work / "nope").exists() and not any((work / "summary-dir").iterdir())


def test_step_summary_is_appended_only_when_the_run_succeeds(work, monkeypatch):
    import calibcli.render.plots as plots

    summary = work / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    def broken(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(plots, "render_all", broken)
        r = run(["audit", "binary.csv", "--max-ece", "1", "--plots", "pl", "-q"])
    assert r.exit_code == 130 and summary.read_text() == "earlier step\n"
    r = run(["audit", "binary.csv", "--max-ece", "1", "-q"])
    assert r.exit_code == 0 and summary.read_text().startswith("earlier step\n## ")
