"""Shared helpers for the benchmarks: seeded data, timing whole processes."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def logits_parquet(n: int = 1_000_000, k: int = 10, seed: int = 0) -> Path:
    """A seeded (n, k) logits file with labels, made once and reused."""
    path = DATA / f"logits_{n}x{k}_s{seed}.parquet"
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, size=(n, k))
    y = rng.integers(0, k, size=n)
    z[np.arange(n), y] += rng.gamma(2.0, 1.5, size=n)
    z *= 1.8  # overconfident
    cols = {"label": pa.array(y)}
    cols.update({f"logit_{j}": pa.array(z[:, j]) for j in range(k)})
    pq.write_table(pa.table(cols), path)
    return path


def run_process(argv: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of a whole process (in ``cwd``, default the current folder)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024.0


def compare(name: str, a: list[str], b: list[str], repeats: int = 5) -> dict:
    """Alternate A and B, report medians, the median of the pairwise ratios, peak memory."""
    run_process(a), run_process(b)  # warm-up (file cache, imports)
    ta, tb, ma, mb, ratios = [], [], [], [], []
    for _ in range(repeats):
        wa, pa_ = run_process(a)
        wb, pb = run_process(b)
        ta.append(wa); tb.append(wb); ma.append(pa_); mb.append(pb); ratios.append(wa / wb)
    out = {
        "name": name,
        "median_s": statistics.median(ta),
        "baseline_median_s": statistics.median(tb),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "peak_mib": max(ma),
        "baseline_peak_mib": max(mb),
    }
    print(f"{name}: {out['median_s']:.3f} s vs baseline {out['baseline_median_s']:.3f} s -> ratio {out['ratio_median']:.2f} "
          f"(min {out['ratio_min']:.2f}, max {out['ratio_max']:.2f}); peak memory {out['peak_mib']:.0f} MiB vs {out['baseline_peak_mib']:.0f} MiB")
    sys.stdout.flush()
    return out
