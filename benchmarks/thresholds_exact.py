"""Exactness check of ``calib thresholds`` on a large binary file (issue 11): the optimum equals a brute force.

Runs ``calib --no-config thresholds FILE --format json`` with all eight objectives
(default options: streamed, count tables within their budget, refined in further
passes), then recomputes every optimum from the whole file in memory:

- the exact curve over *every* distinct score, built independently of calib
  (``numpy.unique`` + ``bincount``: no budget, no buckets), with calib's selectors
  (whose tie rules are tested against a Fraction brute force in the tests);
- for ``f1``, ``youden`` and ``cost``, also an argmax in exact integer arithmetic
  (Python ints on the few candidates within 1e-9 of the float optimum; ties go to
  the highest threshold), independent of calib's code altogether.

Prints one line per objective and exits 1 on any difference. Not a test (minutes,
about 1.5 GB of RAM at 2e7 rows).

Run: .venv/bin/python benchmarks/thresholds_exact.py benchmarks/data/binary_2e7_s0.parquet
     (make the file with: .venv/bin/python benchmarks/gen_data.py binary 2e7)
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PARAMS = {"cost_fp": 1.0, "cost_fn": 4.0, "beta": 2.0, "min_precision": 0.6, "min_recall": 0.9,
          "max_flag_rate": 0.1, "review_precision": 0.9}
OBJECTIVES = ("cost", "f1", "fbeta", "youden", "precision", "recall", "flag-rate", "review-band")


def run_calib(path: str, extra: list[str]) -> tuple[dict, float]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in PARAMS.items()]
    argv = [str(HERE.parent / ".venv" / "bin" / "calib"), "--no-config", "thresholds", path, "--format", "json",
            "--bootstrap", "0", *[f"--objective={o}" for o in OBJECTIVES], *flags, *extra]
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"calib failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout), time.perf_counter() - t0


def exact_curve(path: str):
    """Distinct scores (highest first) and cumulative positives/negatives flagged at each, from every row."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["p_1", "label"])
    s = table.column("p_1").to_numpy().astype(np.float64)
    y = table.column("label").to_numpy() == 1
    del table
    u, inv = np.unique(s, return_inverse=True)
    del s
    pos = np.bincount(inv, weights=y, minlength=u.size).astype(np.int64)
    cnt = np.bincount(inv, minlength=u.size)
    del inv
    tp = np.concatenate(([0], np.cumsum(pos[::-1])))
    fp = np.concatenate(([0], np.cumsum((cnt - pos)[::-1])))
    return u[::-1].copy(), tp, fp


def integer_argmax(score_float: np.ndarray, exact_key) -> int:
    """The first index with the highest exact value; candidates are those within 1e-9 of the float maximum."""
    best = np.nanmax(score_float)
    near = np.flatnonzero(score_float >= best - 1e-9 * max(1.0, abs(best)))
    values = [exact_key(int(j)) for j in near]
    top = max(values)
    return int(near[values.index(top)])


def main() -> None:
    path = sys.argv[1]
    extra = sys.argv[2:]
    from calibcli.thresholds import ThresholdSpec
    from calibcli.thresholds.select import _Rows, _select

    report, wall = run_calib(path, extra)
    recs = {r["objective"]: r for r in report["results"][0]["recommendations"]}
    t0 = time.perf_counter()
    u, tp, fp = exact_curve(path)
    P, N = int(tp[-1]), int(fp[-1])
    print(f"{path}: {P + N:,} rows, {u.size:,} distinct scores; calib took {wall:.1f} s, the exact curve "
          f"{time.perf_counter() - t0:.1f} s")
    spec = ThresholdSpec(OBJECTIVES, n_bootstrap=0, **PARAMS).validated()
    rows = _Rows(tp[None, :].astype(np.float64), fp[None, :].astype(np.float64))

    def thr(j: int) -> float:
        return math.inf if j == 0 else float(u[j - 1])

    independent = {
        "f1": integer_argmax(tp / (tp + fp + P), lambda j: Fraction(int(tp[j]), int(tp[j] + fp[j]) + P)),
        "youden": integer_argmax(tp / P - fp / N, lambda j: int(tp[j]) * N - int(fp[j]) * P),
        "cost": integer_argmax(-(PARAMS["cost_fp"] * fp + PARAMS["cost_fn"] * (P - tp)),
                               lambda j: -(Fraction(PARAMS["cost_fp"]) * int(fp[j]) + Fraction(PARAMS["cost_fn"]) * (P - int(tp[j])))),
    }
    bad = 0
    for o in OBJECTIVES:
        j, _, i = _select(o, rows, spec)
        want = (thr(int(j[0])), None if i is None else thr(int(i[0])))
        r = recs[o]
        got = (math.inf if r["threshold"] is None else r["threshold"],
               None if i is None else (math.inf if r["threshold_low"] is None else r["threshold_low"]))
        ok = got == want
        line = f"  {o:<12} calib {got[0]!r:<22} every distinct score {want[0]!r:<22}"
        if i is not None:
            line += f" low: calib {got[1]!r} exact {want[1]!r}"
        if o in independent:
            ind = thr(independent[o])
            ok &= ind == want[0]
            line += f" integer argmax {ind!r}"
        bad += not ok
        print(line + ("  ok" if ok else "  DIFFERENT"))
    print("all optima equal the brute force" if not bad else f"{bad} objective(s) differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
