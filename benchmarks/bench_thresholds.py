"""Benchmark: every threshold objective on 1,000,000 binary scores vs one numpy.argsort.

The issue's bar: all objectives (with their bootstrap intervals) take at most 2x
one ``np.argsort`` of the same scores, measured in the same run. Timings are
medians over interleaved repeats (time.perf_counter), so background load hits
both sides alike.

Run: .venv/bin/python benchmarks/bench_thresholds.py [--n 1000000] [--repeats 9]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from calibcli.thresholds import OBJECTIVES, ThresholdSpec, recommend_binary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    p = rng.random(args.n)
    y = rng.random(args.n) < p ** 1.5  # miscalibrated, so objectives land in different places
    tied = np.round(p, 3)  # 1,001 distinct scores: heavy ties
    spec = ThresholdSpec(OBJECTIVES, cost_fp=1.0, cost_fn=5.0, beta=2.0, min_precision=0.9, min_recall=0.8,
                         max_flag_rate=0.1, review_precision=0.9, n_bootstrap=200, seed=0)
    no_ci = ThresholdSpec(**{**spec.__dict__, "n_bootstrap": 0})

    cases = {
        "argsort": lambda: np.argsort(p),
        "all objectives, 200 bootstrap replicates": lambda: recommend_binary(p, y, spec),
        "all objectives, no intervals": lambda: recommend_binary(p, y, no_ci),
        "all objectives, 200 replicates, 1,001 tied scores": lambda: recommend_binary(tied, y, spec),
        "all objectives, 200 replicates, 65,536-row batches": lambda: recommend_binary(p, y, spec, batch_rows=65_536),
    }
    for f in cases.values():  # warm up
        f()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeats):
        for name, f in cases.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    base = float(np.median(times["argsort"]))
    print(f"n = {args.n:,} binary scores, {len(spec.objectives)} objectives ({', '.join(spec.objectives)}), "
          f"median of {args.repeats} interleaved repeats")
    for name, ts in times.items():
        med = float(np.median(ts))
        print(f"  {name:<52} {med * 1000:8.1f} ms   {med / base:5.2f}x argsort")
    ratio = float(np.median(times["all objectives, 200 bootstrap replicates"])) / base
    print(f"ratio (all objectives with intervals / argsort): {ratio:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
