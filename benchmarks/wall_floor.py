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

Run: .venv/bin/python benchmarks/wall_floor.py [--rows 1e7] [--rounds 7] [--base DIR] [--keep]
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


def calib(tree: Path, path: Path, out: Path, nocal: bool) -> list[str]:
    """The whole-process command of one calib run of ``tree`` (run with ``cwd=tree``)."""
    return [sys.executable, "-m", "calibcli", "--no-config", "audit", str(path), "--json-out", str(out),
            *(["--no-calibration"] if nocal else [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--base", type=Path, help="another calib checkout to time in the same rounds")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args()
    rows = parse_rows(args.rows)
    made = not data_path("logits", rows).exists()
    path = make("logits", rows)
    trees = {"": ROOT, **({"base ": args.base.resolve()} if args.base else {})}
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "calibcli")], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="wall_floor_"))
    commands = {"floor": ([sys.executable, str(HERE / "floor_stream.py"), str(path)], ROOT)}
    for kind in ("nocal", "audit"):
        for label, tree in trees.items():
            commands[label + kind] = (calib(tree, path, tmp / f"{label.strip() or 'this'}_{kind}.json", kind == "nocal"),
                                      tree)
    try:
        for argv, cwd in commands.values():  # warm-up: file cache, numba's disk cache
            run_process(argv, cwd)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for r in range(args.rounds):
            for name, (argv, cwd) in commands.items():
                walls[name].append(run_process(argv, cwd)[0])
            print(f"round {r + 1}: " + ", ".join(f"{n} {w[-1]:.2f} s" for n, w in walls.items()), flush=True)
        print(f"\n{rows:,} x 10 logits, {args.rounds} rounds; ratio = median of the per-round ratios to the floor")
        for name, w in walls.items():
            ratios = [a / b for a, b in zip(w, walls["floor"])]
            target = TARGETS.get(name)
            note = "" if target is None or name.startswith("base") else f"  (target <= {target}x)"
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
