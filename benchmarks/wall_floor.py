"""Issue 11's wall-time targets as the issue states them: ``calib audit`` (default, and ``--no-calibration``)
on 1e7 x 10 float32 logits against the streaming floor (``floor_stream.py``), timed in the same rounds.

Each round runs the floor, then each calib command, as whole processes (``python -m calibcli --no-config
audit FILE --json-out ...``); the figure is the median over rounds of each command's wall time divided by
the floor's in the same round (a shared machine drifts between rounds; a ratio within a round does not).
``--base DIR`` also times another checkout of calib (e.g. ``git worktree add /tmp/base <commit>``) in the
same rounds, and says whether its JSON is byte-identical to this tree's.

The file is made by ``gen_data.py`` (seeded) unless it exists, and deleted at the end when this script made
it (``--keep`` keeps it). Both trees are byte-compiled first: with ``PYTHONDONTWRITEBYTECODE`` set, every run
would compile stale modules again, which an installed calib never does.

``--one-core`` runs calib and a second floor on one processor (``--threads 1`` for calib): their wall time
is then their CPU time, so the ratios give each command's cost against the floor's, free of how well it
spreads over cores. The bound printed beside each is half calib's one-processor time over the floor's own
(unpinned) time in the same round: what calib would take on two processors that never wait (a serial part
makes it more), so it says whether a target is within reach of the work calib does at all.

Run: .venv/bin/python benchmarks/wall_floor.py [--rows 1e7] [--rounds 7] [--base DIR] [--one-core] [--keep]
Not part of ``make bench`` (it writes 0.46 GB and runs for minutes).
"""

from __future__ import annotations

import argparse
import filecmp
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import run_process  # noqa: E402
from gen_data import data_path, make, parse_rows  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS = {"nocal": 1.2, "audit": 2.0}  # issue 11: --no-calibration <= 1.2x, default audit <= 2.0x the floor


PIN = "import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); os.execv(sys.argv[1], sys.argv[1:])"


def calib(tree: Path, path: Path, out: Path, nocal: bool, one_core: bool = False) -> list[str]:
    """The whole-process command of one calib run of ``tree`` (run with ``cwd=tree``)."""
    return [sys.executable, "-m", "calibcli", "--no-config", "audit", str(path), "--json-out", str(out),
            *(["--no-calibration"] if nocal else []), *(["--threads", "1"] if one_core else [])]


def pinned(argv: list[str]) -> list[str]:
    """``argv`` run on one processor (the lowest this process may use; Linux)."""
    return [sys.executable, "-c", PIN, *argv]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--base", type=Path, help="another calib checkout to time in the same rounds")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--one-core", action="store_true", help="every command on one processor: the CPU cost")
    args = parser.parse_args()
    rows = parse_rows(args.rows)
    made = not data_path("logits", rows).exists()
    path = make("logits", rows)
    trees = {"": ROOT, **({"base ": args.base.resolve()} if args.base else {})}
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "calibcli")], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="wall_floor_"))
    pin = pinned if args.one_core else list
    floor = [sys.executable, str(HERE / "floor_stream.py"), str(path)]
    commands = {"floor": (floor, ROOT), **({"floor 1cpu": (pinned(floor), ROOT)} if args.one_core else {})}
    for kind in ("nocal", "audit"):
        for label, tree in trees.items():
            out = tmp / f"{label.strip() or 'this'}_{kind}.json"
            commands[label + kind] = (pin(calib(tree, path, out, kind == "nocal", args.one_core)), tree)
    try:
        for argv, cwd in commands.values():  # warm-up: file cache, numba's disk cache
            run_process(argv, cwd)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for r in range(args.rounds):
            for name, (argv, cwd) in commands.items():
                walls[name].append(run_process(argv, cwd)[0])
            print(f"round {r + 1}: " + ", ".join(f"{n} {w[-1]:.2f} s" for n, w in walls.items()), flush=True)
        ref = "floor 1cpu" if args.one_core else "floor"
        where = "calib on one processor (--threads 1), against the floor on one" if args.one_core else "all processors"
        print(f"\n{rows:,} x 10 logits, {args.rounds} rounds, {where}; ratio = median of the per-round ratios "
              "to the floor")
        for name, w in walls.items():
            ratios = [a / b for a, b in zip(w, walls[ref])]
            target = TARGETS.get(name)
            note = "" if target is None or name.startswith("base") else f"  (target <= {target}x)"
            if args.one_core and target is not None and not name.startswith("base"):
                best = statistics.median([a / 2 / b for a, b in zip(w, walls["floor"])])
                note = f"  (on two processors at best {best:.2f}x the unpinned floor; target <= {target}x)"
            print(f"  {name:11s} median {statistics.median(w):.2f} s   ratio {statistics.median(ratios):.2f}x "
                  f"({min(ratios):.2f}-{max(ratios):.2f}){note}")
        if args.base:
            for kind in ("nocal", "audit"):
                same = filecmp.cmp(tmp / f"this_{kind}.json", tmp / f"base_{kind}.json", shallow=False)
                print(f"  {kind}: JSON {'byte-identical to' if same else 'differs from'} the base tree's")
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
        if made and not args.keep:
            path.unlink()


if __name__ == "__main__":
    main()
