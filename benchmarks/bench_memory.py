"""Peak memory and wall time of every calib command at growing sizes (issue 11 targets).

Each command runs as a whole process under ``/usr/bin/time -v`` (peak RSS is its
"Maximum resident set size"); a watchdog samples the RSS of the process tree
every 0.1 s and kills the process group past ``--rss-limit-gb`` (default 12) or
``--timeout``, so a command that would eat the machine is reported as killed.

Measured (the commands take ``--extra-args`` / ``--extra-args-for``):

===============  =============================================================
floor            ``floor_stream.py LOGITS``: the streaming floor, for reference
audit            ``calib audit LOGITS --format json`` (calibration included)
audit-nocal      ``calib audit LOGITS --format json --no-calibration``
fit              ``calib fit LOGITS -o cal.json``
apply            ``calib apply SLICE_CAL.json LOGITS -o out.parquet`` (the
                 calibrator is fitted once on a separate 1e5-row file)
thresholds       ``calib thresholds BINARY --format json`` (p_1 + label)
audit-csv        ``calib audit LOGITS.csv --format json`` (``--csv-sizes``, small
                 by default: today a 2 GB CSV takes all the machine's memory)
===============  =============================================================

LOGITS is ``--sizes`` x 10 float32 logits in Parquet, BINARY is
``--binary-sizes`` binary scores (see gen_data.py; seeded, written in row
groups of 1e6). Then the timing target: ``calib audit`` and ``calib audit
--no-calibration`` against the streaming floor (floor_stream.py) on
``--timing-rows`` rows, alternated ``--repeats`` times in the same run; the
ratio is the median of the per-repeat ratios.

The report (markdown, to paste into RESULTS.md) gives per command the peak RSS
per size, RSS(largest)/RSS(smallest) against the 1.3x target and the largest
RSS against 1 GiB. Data files this run created are deleted at the end unless
``--keep``. Other processes on the machine make the wall times noisy; peak RSS
is the reliable figure.

Run:
  .venv/bin/python benchmarks/bench_memory.py                        # baseline: 2e6, 2e7; timing at 1e7
  .venv/bin/python benchmarks/bench_memory.py --sizes 2e6,2e7,1e8 --commands audit,apply
  .venv/bin/python benchmarks/bench_memory.py --extra-args='--batch-rows 65536' --extra-args-for 'audit=--memory-limit 512MB'
  .venv/bin/python benchmarks/bench_memory.py --calib-src /tmp/old_checkout   # measure another source tree
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_data import DATA, data_path, make, parse_rows, rows_label  # noqa: E402

GIB = 2**30
TARGET_RSS = 1 * GIB
TARGET_GROWTH = 1.3
TARGET_AUDIT = 2.0
TARGET_AUDIT_NOCAL = 1.2
COMMANDS = ("floor", "audit", "audit-nocal", "fit", "apply", "thresholds", "audit-csv")
SLICE_ROWS = 100_000


@dataclass
class Run:
    """One measured process."""

    command: str
    rows: int
    argv: list[str]
    wall_s: float = float("nan")
    cpu_s: float = float("nan")  # user + system CPU seconds (from /usr/bin/time): less sensitive to other load
    peak_rss: int = 0  # bytes, from /usr/bin/time (or the watchdog's samples)
    sampled_rss: int = 0  # bytes, the watchdog's highest sample of the process tree
    exit_code: int | None = None
    killed: str = ""
    stderr_tail: str = ""
    engine: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.killed


def tree_rss(pid: int) -> int:
    """RSS in bytes of ``pid`` and all its descendants (from /proc; 0 once gone)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def measure(command: str, rows: int, argv: list[str], env: dict, rss_limit: int, timeout: float) -> Run:
    """Run ``argv`` under /usr/bin/time -v with the RSS watchdog; never raises on failure."""
    run = Run(command, rows, argv)
    use_time = os.access("/usr/bin/time", os.X_OK)
    with tempfile.TemporaryDirectory(prefix="calib_bench_") as tmp:
        timefile, out, err = Path(tmp) / "time.txt", Path(tmp) / "stdout", Path(tmp) / "stderr"
        full = ["/usr/bin/time", "-v", "-o", str(timefile), *argv] if use_time else argv
        with open(out, "wb") as fo, open(err, "wb") as fe:
            t0 = time.perf_counter()
            # cwd: a scratch directory, so `python -m calibcli` imports --calib-src, not a calibcli/ in the cwd;
            # a session of its own, so the watchdog can kill the whole process group
            proc = subprocess.Popen(full, stdout=fo, stderr=fe, env=env, cwd=tmp, start_new_session=True)
            try:
                while True:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        break
                    rss = tree_rss(proc.pid)
                    run.sampled_rss = max(run.sampled_rss, rss)
                    elapsed = time.perf_counter() - t0
                    if rss > rss_limit or elapsed > timeout:
                        run.killed = (f"killed at RSS {rss / GIB:.1f} GiB > limit {rss_limit / GIB:g} GiB" if rss > rss_limit
                                      else f"killed after timeout {timeout:.0f} s")
                        os.killpg(proc.pid, signal.SIGKILL)
                        _, status, usage = os.wait4(proc.pid, 0)
                        break
                    time.sleep(0.1)
            except BaseException:  # interrupted: never leave a measured process running
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                raise
            run.wall_s = time.perf_counter() - t0
        proc.returncode = run.exit_code = os.waitstatus_to_exitcode(status)
        text = timefile.read_text() if use_time and timefile.exists() else ""
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        if m:
            run.peak_rss = int(m.group(1)) * 1024
        elif not use_time:
            run.peak_rss = usage.ru_maxrss * 1024
        cpu = [float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)]
        if len(cpu) == 2:
            run.cpu_s = sum(cpu)
        m = re.search(r"Command exited with non-zero status (\d+)", text)
        if m:
            run.exit_code = int(m.group(1))
        run.peak_rss = run.peak_rss or run.sampled_rss
        errtext = err.read_bytes().decode(errors="replace").strip()
        run.stderr_tail = "\n".join(errtext.splitlines()[-5:])
        try:  # the JSON report's engine block, when the command prints one
            run.engine = json.loads(out.read_bytes()).get("engine") or {}
        except (ValueError, AttributeError):
            pass
    return run


def fmt_mib(b: int) -> str:
    return f"{b / 2**20:,.0f}" if b else "-"


def describe(run: Run) -> str:
    status = "ok" if run.ok else (run.killed or f"exit {run.exit_code}")
    extra = f" engine={json.dumps(run.engine, sort_keys=True)}" if run.engine else ""
    return (f"  {run.command:<12} {rows_label(run.rows):>5} rows: peak RSS {fmt_mib(run.peak_rss):>7} MiB "
            f"(sampled {fmt_mib(run.sampled_rss)}), {run.wall_s:7.1f} s wall, {run.cpu_s:7.1f} s CPU, {status}{extra}")


def machine() -> str:
    mem = "?"
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    import numpy
    import pyarrow

    return (f"{os.cpu_count()} cores, {mem} RAM, {platform.system()} {platform.machine()}, Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, pyarrow {pyarrow.__version__}")


def git_commit(src: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(src), "log", "-1", "--format=%h (%cs) %s"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no", "--", "calibcli"],
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip()[:72] + (" (+ uncommitted changes in calibcli/)" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return f"{src} (not a git checkout)"


def main() -> None:  # noqa: C901 - a linear script
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    sizes = lambda s: [parse_rows(x) for x in s.split(",") if x.strip()]  # noqa: E731
    ap.add_argument("--sizes", type=sizes, default=sizes("2e6,2e7"), help="rows of the logits files (default 2e6,2e7)")
    ap.add_argument("--binary-sizes", type=sizes, default=sizes("2e6,2e7"), help="rows of the binary files (default 2e6,2e7)")
    ap.add_argument("--csv-sizes", type=sizes, default=sizes("2e5,2e6"),
                    help="rows of the CSV logits files (default 2e5,2e6; larger CSVs can take all the memory today)")
    ap.add_argument("--csv-format", choices=("csv", "csv.gz"), default="csv")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--commands", default=",".join(COMMANDS), help=f"comma-separated from {', '.join(COMMANDS)}")
    ap.add_argument("--timing-rows", type=parse_rows, default=parse_rows("1e7"),
                    help="rows for the wall-time comparison with the streaming floor (default 1e7; 0 skips it)")
    ap.add_argument("--repeats", type=int, default=3, help="alternated repeats of the timing comparison (default 3)")
    ap.add_argument("--floor-args", default="", help="extra arguments of floor_stream.py, e.g. '--batch-rows 262144'")
    ap.add_argument("--extra-args", default="", help="appended to every calib command, e.g. --extra-args='--batch-rows 65536' (write = before a single --flag)")
    ap.add_argument("--extra-args-for", action="append", default=[], metavar="CMD=ARGS",
                    help="appended to one command (repeatable), e.g. 'audit=--memory-limit 512MB'")
    ap.add_argument("--rss-limit-gb", type=float, default=12.0, help="kill a command whose RSS passes this (default 12)")
    ap.add_argument("--timeout", type=float, default=900.0, help="kill a command running longer (seconds, default 900)")
    ap.add_argument("--calib-src", type=Path, default=HERE.parent,
                    help="source tree whose calibcli is measured (put first on PYTHONPATH; default: this checkout)")
    ap.add_argument("--label", help="how to name the measured source in the report (default: its git commit)")
    ap.add_argument("--keep", action="store_true", help="keep the data files (default: delete those this run created)")
    ap.add_argument("--json-out", type=Path, help="also write every measurement as JSON")
    args = ap.parse_args()

    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    unknown = sorted(set(commands) - set(COMMANDS))
    if unknown:
        ap.error(f"unknown command(s) {', '.join(unknown)}; choose from {', '.join(COMMANDS)}")
    per_cmd: dict[str, list[str]] = {}
    for item in args.extra_args_for:
        name, sep, rest = item.partition("=")
        if not sep or name not in COMMANDS:
            ap.error(f"--extra-args-for wants CMD=ARGS with CMD one of {', '.join(COMMANDS)}: {item!r}")
        per_cmd.setdefault(name, []).extend(shlex.split(rest))
    extra = shlex.split(args.extra_args)
    src = args.calib_src.resolve()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "PYTHONHASHSEED": "0"}
    for var in ("COLUMNS", "NO_COLOR", "FORCE_COLOR"):
        env.pop(var, None)
    for var in [v for v in env if v.startswith("CALIB_")]:
        env.pop(var)
    calib = [sys.executable, "-m", "calibcli", "--no-config"]
    check = subprocess.run([*calib[:1], "-c", "import calibcli; print(calibcli.__file__)"], env=env, capture_output=True, text=True,
                           cwd=tempfile.gettempdir())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # kill: clean up the data files and the measured process
    rss_limit = int(args.rss_limit_gb * GIB)
    created: list[Path] = []
    existed = {p for p in DATA.glob("*")} if DATA.exists() else set()

    def data(kind: str, n: int, fmt: str = "parquet", seed: int = 0) -> Path:
        path = data_path(kind, n, args.classes, seed, fmt)
        if not path.exists():
            t0 = time.perf_counter()
            make(kind, n, args.classes, seed, fmt, quiet=True)
            print(f"  (generated {path.name}: {path.stat().st_size / 2**20:,.0f} MiB in {time.perf_counter() - t0:.0f} s)", flush=True)
        if path not in existed and path not in created:
            created.append(path)
        return path

    def cal(name: str, *rest: str) -> list[str]:
        return [*calib, *rest, *extra, *per_cmd.get(name, [])]

    started = dt.datetime.now()
    print(f"# calib memory benchmark, {started:%Y-%m-%d %H:%M}")
    source = args.label or git_commit(src)
    print(f"- calibcli: {check.stdout.strip() or check.stderr.strip()}; source {source}")
    print(f"- machine: {machine()}; load average at start {os.getloadavg()[0]:.1f}")
    print(f"- extra args: {shlex.join(extra) or '-'}; per command: {per_cmd or '-'}; watchdog {args.rss_limit_gb:g} GiB / {args.timeout:.0f} s")
    print(flush=True)

    runs: list[Run] = []
    by_cmd: dict[str, dict[int, Run]] = {}  # command -> rows -> run (the memory runs)
    out_files: list[Path] = []
    try:
        slice_cal = None
        if "apply" in commands:
            slice_file = data("logits", SLICE_ROWS, seed=1)
            slice_cal = DATA / "bench_slice_calibrator.json"
            r = measure("fit-slice", SLICE_ROWS, cal("fit", "fit", str(slice_file), "-o", str(slice_cal)), env, rss_limit, args.timeout)
            out_files.append(slice_cal)
            if not r.ok:
                print(f"fitting the calibrator for apply failed: {describe(r)}\n{r.stderr_tail}")
                commands.remove("apply")
        plan: list[tuple[str, int, str, str]] = []  # (command, rows, kind, format)
        for n in args.sizes:
            plan += [(c, n, "logits", "parquet") for c in ("floor", "audit", "audit-nocal", "fit", "apply") if c in commands]
        if "thresholds" in commands:
            plan += [("thresholds", n, "binary", "parquet") for n in args.binary_sizes]
        if "audit-csv" in commands:
            plan += [("audit-csv", n, "logits", args.csv_format) for n in args.csv_sizes]
        print("## peak memory per command\n", flush=True)
        for command, n, kind, fmt in plan:
            path = data(kind, n, fmt)
            if command == "floor":
                argv = [sys.executable, str(HERE / "floor_stream.py"), str(path), *shlex.split(args.floor_args)]
            elif command in ("audit", "audit-csv"):
                argv = cal(command, "audit", str(path), "--format", "json")
            elif command == "audit-nocal":
                argv = cal(command, "audit", str(path), "--format", "json", "--no-calibration")
            elif command == "fit":
                out = DATA / f"bench_fit_{rows_label(n)}.json"
                out_files.append(out)
                argv = cal(command, "fit", str(path), "-o", str(out))
            elif command == "apply":
                out = DATA / f"bench_applied_{rows_label(n)}.parquet"
                out_files.append(out)
                argv = cal(command, "apply", str(slice_cal), str(path), "-o", str(out))
            else:
                argv = cal(command, "thresholds", str(path), "--format", "json")
            run = measure(command, n, argv, env, rss_limit, args.timeout)
            runs.append(run)
            by_cmd.setdefault(command, {})[n] = run
            print(describe(run), flush=True)
            if not run.ok and run.stderr_tail:
                print("    " + run.stderr_tail.replace("\n", "\n    "), flush=True)
            for f in out_files:
                if f != slice_cal:
                    f.unlink(missing_ok=True)

        timing: dict[str, list[float]] = {}
        cputime: dict[str, list[float]] = {}
        if args.timing_rows:
            path = str(data("logits", args.timing_rows))
            print(f"\n## wall time at {rows_label(args.timing_rows)} x {args.classes} (alternated, {args.repeats} repeats)\n", flush=True)
            floor = [sys.executable, str(HERE / "floor_stream.py"), path, *shlex.split(args.floor_args)]
            trio = {"floor": floor,
                    "audit": cal("audit", "audit", path, "--format", "json"),
                    "audit-nocal": cal("audit-nocal", "audit", path, "--format", "json", "--no-calibration")}
            for rep in range(args.repeats + 1):  # the first round warms the page cache and is not counted
                for name, argv in trio.items():
                    r = measure(name, args.timing_rows, argv, env, rss_limit, args.timeout)
                    if rep == 0:
                        continue
                    runs.append(r)
                    print(describe(r) + f"  [repeat {rep}]", flush=True)
                    timing.setdefault(name, []).append(r.wall_s if r.ok else float("nan"))
                    cputime.setdefault(name, []).append(r.cpu_s if r.ok else float("nan"))
    finally:
        for f in out_files:
            f.unlink(missing_ok=True)
        if not args.keep:
            for p in created:
                p.unlink(missing_ok=True)
            if DATA.exists() and not any(DATA.iterdir()):
                DATA.rmdir()

    # ---- summary ----
    print("\n## summary\n")
    targeted = {"audit", "apply", "thresholds"}
    print("| command | rows | peak RSS MiB | wall s | CPU s |")
    print("|---|---|---|---|---|")
    for cmd, rs in by_cmd.items():
        for n, r in sorted(rs.items()):
            status = "" if r.ok else f" ({r.killed or f'exit {r.exit_code}'})"
            print(f"| {cmd} | {rows_label(n)} | {fmt_mib(r.peak_rss)}{status} | {r.wall_s:.1f} | {r.cpu_s:.1f} |")
    print("\n| command | sizes | RSS ratio (target <= 1.3x) | largest RSS (target <= 1024 MiB) |")
    print("|---|---|---|---|")
    summary: dict = {"ratios": {}, "timing": {}}
    for cmd, rs in by_cmd.items():
        ns = sorted(rs)
        if len(ns) < 2:
            continue
        lo, hi = rs[ns[0]], rs[ns[-1]]
        ratio = hi.peak_rss / lo.peak_rss if lo.peak_rss else float("nan")
        mark = " (target)" if cmd in targeted else ""
        ok_ratio = "ok" if ratio <= TARGET_GROWTH and hi.ok else "MISSED"
        ok_abs = "ok" if hi.peak_rss <= TARGET_RSS and hi.ok else "MISSED"
        print(f"| {cmd}{mark} | {rows_label(ns[-1])} / {rows_label(ns[0])} | {ratio:.2f}x {ok_ratio} | {fmt_mib(hi.peak_rss)} {ok_abs} |")
        summary["ratios"][cmd] = {"ratio": ratio, "largest_rss_mib": hi.peak_rss / 2**20}
    if timing:
        med = {k: statistics.median(v) for k, v in timing.items()}
        cmed = {k: statistics.median(v) for k, v in cputime.items()}
        print(f"\n| at {rows_label(args.timing_rows)} x {args.classes} | median wall s | wall ratio to floor (median of pairs) "
              f"| target | median CPU s | CPU ratio |")
        print("|---|---|---|---|---|---|")
        print(f"| streaming floor | {med['floor']:.2f} | 1 | | {cmed['floor']:.2f} | 1 |")
        for name, target in (("audit", TARGET_AUDIT), ("audit-nocal", TARGET_AUDIT_NOCAL)):
            pairs = [a / f for a, f in zip(timing[name], timing["floor"])]
            ratio = statistics.median(pairs)
            cpu_ratio = statistics.median([a / f for a, f in zip(cputime[name], cputime["floor"])])
            verdict = "ok" if ratio <= target else "MISSED"
            print(f"| {name} | {med[name]:.2f} | {ratio:.2f}x (min {min(pairs):.2f}, max {max(pairs):.2f}) | <= {target}x {verdict} "
                  f"| {cmed[name]:.2f} | {cpu_ratio:.2f}x |")
            summary["timing"][name] = {"median_s": med[name], "ratio": ratio, "median_cpu_s": cmed[name], "cpu_ratio": cpu_ratio}
        summary["timing"]["floor"] = {"median_s": med["floor"], "median_cpu_s": cmed["floor"]}
    elapsed = (dt.datetime.now() - started).total_seconds()
    print(f"\nload average at end {os.getloadavg()[0]:.1f}; benchmark took {elapsed / 60:.1f} min; "
          f"data files {'kept in ' + str(DATA) if args.keep else 'deleted'}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"started": started.isoformat(), "source": source, "machine": machine(),
                                             "extra_args": extra, "per_command_args": per_cmd, "summary": summary,
                                             "runs": [r.__dict__ for r in runs]}, indent=2, default=str))


if __name__ == "__main__":
    main()
