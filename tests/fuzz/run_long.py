"""The long fuzz run (``make fuzz``): thousands of cases in-process, a few hundred as real subprocesses.

    .venv/bin/python tests/fuzz/run_long.py [--examples 10000] [--subprocess 300] [--api N] [--slow 8]
                                            [--seed N] [--out out/fuzz]

In-process cases mix mutated files, configs, gate rules, calibrator files, ``--by`` groups, ``--models``,
URL inputs (served on loopback) and directories of parts; ``--api`` calls of the Python API and of
``calibcli.metrics`` follow (default: half of --examples); then the subprocess cases and ``--slow`` ones
(``--engine dask`` clusters, s3:// against a closed port; seconds each).

Environment: FUZZ_EXAMPLES, FUZZ_SUBPROCESS, FUZZ_API, FUZZ_SLOW_CASES, FUZZ_SEED set the defaults (not ``CALIB_*``: calib
rejects unknown ``CALIB_*`` variables). Prints the count of each exit status and of tracebacks,
every distinct crash class (exit status other than 0/1/2, a traceback, an exception escaping
``main()``, an input file modified, a timeout) with one reproducer, and the soft findings.
Writes the same to ``OUT/report.txt`` and ``OUT/report.json`` and each crash's files to
``OUT/crashes/<n>/``. Exits 1 when a crash class was found.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, so ``fuzz`` imports as in the test suite
ROOT = HERE.parents[1]


class Tally:
    """Counts of exit codes and of problem classes, with the first example of each class."""

    def __init__(self) -> None:
        self.total = 0
        self.exits: Counter[int] = Counter()
        self.tracebacks = 0
        self.classes: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], tuple[object, object]] = {}

    def add(self, case, outcome) -> None:
        self.total += 1
        self.exits[outcome.exit_code] += 1
        if any(p.kind == "traceback" for p in outcome.problems):
            self.tracebacks += 1
        for p in outcome.problems:
            key = (p.kind, p.signature)
            self.classes[key] += 1
            self.examples.setdefault(key, (case, p))

    def hard(self):
        from fuzz.harness import HARD

        return [(k, n) for k, n in self.classes.most_common() if k[0] in HARD]

    def soft(self):
        from fuzz.harness import HARD

        return [(k, n) for k, n in self.classes.most_common() if k[0] not in HARD]


def mixed_strategy():
    from hypothesis import strategies as st

    from fuzz.strategies import cases

    return st.one_of(
        cases(), cases(), cases(), cases(),
        cases(commands=("audit",), plots="sometimes"),
        cases(focus="config"),
        cases(focus="rules"),
        cases(focus="calibrator"),
        cases(focus="deep", max_options=8), cases(focus="deep", max_options=8),
        cases(focus="groups"), cases(focus="groups"), cases(focus="models"), cases(focus="models"),
        cases(focus="urls"), cases(focus="dirs"),
    )


def slow_strategy():
    """Cases that take seconds each (a Dask cluster starts; s3:// against a closed port retries): subprocess only."""
    from hypothesis import strategies as st

    from fuzz.strategies import cases

    return st.one_of(cases(focus="dask"), cases(focus="dask"), cases(focus="urls_slow"))


def run_in_process_cases(n: int, seed: int, tally: Tally, progress_every: int = 500) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from fuzz.harness import run_in_process

    start = time.time()

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(mixed_strategy())
    def body(case):
        outcome = run_in_process(case)
        tally.add(case, outcome)
        if tally.total % progress_every == 0:
            print(f"  in-process {tally.total}/{n}  {time.time() - start:.0f} s  exits {dict(sorted(tally.exits.items()))}"
                  f"  crash classes {len(tally.hard())}", file=sys.stderr, flush=True)

    body()


def run_api_cases(n: int, seed: int, tally: Tally, progress_every: int = 1000) -> None:
    """``n`` calls of the Python API (half ``calibcli.audit/fit/thresholds``, half ``calibcli.metrics``)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from fuzz.api import api_calls, metric_calls, run_api

    start = time.time()

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(api_calls(), metric_calls()))
    def body(call):
        tally.add(call, run_api(call))
        if tally.total % progress_every == 0:
            print(f"  api {tally.total}/{n}  {time.time() - start:.0f} s  outcomes {dict(sorted(tally.exits.items()))}",
                  file=sys.stderr, flush=True)

    body()


def draw_cases(n: int, seed: int, strategy=None) -> list:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    drawn = []

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy if strategy is not None else mixed_strategy())
    def body(case):
        drawn.append(case)

    body()
    return drawn


def run_subprocess_cases(cases: list, calib: str, tally: Tally, jobs: int) -> None:
    from fuzz.harness import run_subprocess

    start = time.time()

    def one(case):
        return case, run_subprocess(case, calib)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, (case, outcome) in enumerate(pool.map(one, cases), 1):
            tally.add(case, outcome)
            if i % 50 == 0:
                print(f"  subprocess {i}/{len(cases)}  {time.time() - start:.0f} s  exits "
                      f"{dict(sorted(tally.exits.items()))}", file=sys.stderr, flush=True)


def save_case(case, folder: Path) -> None:
    """The case's files, its commands (cmd.sh) and description, so it can be rerun by hand."""
    from fuzz.harness import materialise

    folder.mkdir(parents=True, exist_ok=True)
    if not hasattr(case, "files"):  # an API call (fuzz.api.ApiCall)
        (folder / "case.txt").write_text(case.describe() + "\n", encoding="utf-8")
        return
    cwd = materialise(case, folder)
    lines = ["#!/bin/sh", "# run from this folder: sh cmd.sh", "set -x", f"cd case/{case.cwd}"]
    for k, v in sorted(case.env.items()):
        lines.append(f"export {k}={json.dumps(v)}")
    import shlex

    for step in case.steps:
        cmd = "calib " + " ".join(shlex.quote(a) for a in step)
        if case.stdin is not None:
            (folder / "stdin.bin").write_bytes(case.stdin)
            cmd += " < " + os.path.relpath(folder / "stdin.bin", cwd)
        lines.append(cmd)
    (folder / "cmd.sh").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "case.txt").write_text(case.describe(max_bytes=4000) + "\n", encoding="utf-8")
    if not case.edits:  # a starting point for tests/fuzz/regressions/ (shrink it by hand)
        from fuzz.case import to_regression

        (folder / "regression.json").write_text(json.dumps(to_regression(case), indent=1, ensure_ascii=False) + "\n",
                                                encoding="utf-8")


def report(label: str, tally: Tally, out: Path, first_index: int) -> tuple[list[str], list[dict], int]:
    lines = [f"== {label}: {tally.total} inputs; exits "
             + ", ".join(f"{code}: {n}" for code, n in sorted(tally.exits.items()))
             + f"; tracebacks: {tally.tracebacks}"]
    records = []
    index = first_index
    hard = tally.hard()
    lines.append(f"crash classes: {len(hard)}")
    for (kind, sig), n in hard:
        case, problem = tally.examples[(kind, sig)]
        index += 1
        folder = out / "crashes" / f"{index:03d}"
        save_case(case, folder)
        lines.append(f"[{index:03d}] {n} x {kind}: {sig}   (files: {folder})")
        lines.append("    " + _describe(case, 300).replace("\n", "\n    "))
        detail = problem.detail.strip().splitlines()
        lines.append("    | " + "\n    | ".join(detail[-12:]))
        records.append({"id": index, "where": label, "kind": kind, "signature": sig, "count": n,
                        "reproducer": _describe(case, 2000), "detail": problem.detail[-3000:]})
    soft = tally.soft()
    lines.append(f"soft findings: {len(soft)} classes")
    for (kind, sig), n in soft:
        case, problem = tally.examples[(kind, sig)]
        lines.append(f"  {n} x {kind}: {sig} -- {problem.detail[:160]!r}")
        lines.append("      e.g. " + (" | ".join("calib " + " ".join(s) for s in case.steps) if hasattr(case, "steps")
                                    else case.describe())[:300])
        records.append({"where": label, "kind": kind, "signature": sig, "count": n, "detail": problem.detail[:500],
                        "reproducer": _describe(case, 600)})
    return lines, records, index


def _describe(case, max_bytes: int) -> str:
    return case.describe(max_bytes=max_bytes) if hasattr(case, "files") else case.describe()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", "10000")))
    parser.add_argument("--subprocess", type=int, default=int(os.environ.get("FUZZ_SUBPROCESS", "300")))
    parser.add_argument("--api", type=int, default=None,
                        help="Python API and calibcli.metrics calls (default: FUZZ_API, else half of --examples)")
    parser.add_argument("--slow", type=int, default=int(os.environ.get("FUZZ_SLOW_CASES", "8")),
                        help="subprocess cases of --engine dask and s3:// (seconds each)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", random.randrange(2**32))))
    parser.add_argument("--jobs", type=int, default=2, help="parallel subprocesses")
    parser.add_argument("--calib", default=str(Path(sys.executable).parent / "calib"))
    parser.add_argument("--out", default=str(ROOT / "out" / "fuzz"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for k in list(os.environ):  # the caller's settings must not leak into the cases
        if k.startswith(("CALIB_", "GITHUB_")):
            del os.environ[k]
    print(f"calib fuzz: {args.examples} in-process + {args.subprocess} subprocess cases, seed {args.seed} "
          f"(rerun: FUZZ_SEED={args.seed})", file=sys.stderr, flush=True)
    start = time.time()
    inproc = Tally()
    if args.examples:
        run_in_process_cases(args.examples, args.seed, inproc)
    t_in = time.time() - start
    api = Tally()
    n_api = args.api if args.api is not None else int(os.environ.get("FUZZ_API", args.examples // 2))
    if n_api:
        run_api_cases(n_api, args.seed + 2, api)
    t_api = time.time() - start - t_in
    sub = Tally()
    if args.subprocess:
        run_subprocess_cases(draw_cases(args.subprocess, args.seed + 1), args.calib, sub, args.jobs)
    if args.slow:
        run_subprocess_cases(draw_cases(args.slow, args.seed + 3, slow_strategy()), args.calib, sub, args.jobs)
    t_sub = time.time() - start - t_in - t_api
    lines_in, rec_in, last = report(f"in-process ({t_in:.0f} s)", inproc, out, 0)
    lines_api, rec_api, last = report(f"api ({t_api:.0f} s)", api, out, last)
    lines_sub, rec_sub, _ = report(f"subprocess ({t_sub:.0f} s)", sub, out, last)
    total_exits = inproc.exits + sub.exits
    summary = (f"TOTAL {inproc.total + sub.total} CLI inputs; exits "
               + ", ".join(f"{code}: {n}" for code, n in sorted(total_exits.items()))
               + f"; tracebacks: {inproc.tracebacks + sub.tracebacks}; crash classes: "
               + f"{len(inproc.hard())} in-process, {len(sub.hard())} subprocess; "
               + f"API calls {api.total} (0 returned, 2 allowed error, 3 other exception: "
               + ", ".join(f"{code}: {n}" for code, n in sorted(api.exits.items()))
               + f"), crash classes {len(api.hard())}; seed {args.seed}")
    text = "\n".join([*lines_in, "", *lines_api, "", *lines_sub, "", summary]) + "\n"
    (out / "report.txt").write_text(text, encoding="utf-8")
    (out / "report.json").write_text(json.dumps({
        "seed": args.seed, "in_process": {"total": inproc.total, "exits": dict(inproc.exits),
                                          "tracebacks": inproc.tracebacks},
        "subprocess": {"total": sub.total, "exits": dict(sub.exits), "tracebacks": sub.tracebacks},
        "api": {"total": api.total, "outcomes": dict(api.exits)},
        "findings": rec_in + rec_api + rec_sub}, indent=1, default=str), encoding="utf-8")
    print(text)
    return 1 if inproc.hard() or sub.hard() or api.hard() else 0


if __name__ == "__main__":
    sys.exit(main())
