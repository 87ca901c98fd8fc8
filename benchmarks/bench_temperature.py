"""Benchmark: fitting the temperature on 1,000,000 x 10 logits against one fused pass
over the same array (row max, argmax, logsumexp), alternated in the same run.
Target: fit <= 3x the fused pass. Also times the bootstrap interval of T and the
default 2-fold cross-fitted evaluation that `calib audit` runs, and reports peak
extra memory (tracemalloc) of the fit and of the fused pass.

Run: .venv/bin/python benchmarks/bench_temperature.py
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import logits_parquet  # noqa: E402

from calibcli.calibrators.temperature import fit_temperature, temperature_interval  # noqa: E402
from calibcli.predictions import Task  # noqa: E402

REPEATS = 7


def fused_pass(z: np.ndarray):
    """The baseline: what any audit must do once (max, argmax, logsumexp per row)."""
    m = z.max(axis=1)
    a = z.argmax(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    return m, a, lse


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    import pyarrow.parquet as pq

    path = logits_parquet()
    table = pq.read_table(path)
    y = table.column("label").to_numpy()
    z = np.column_stack([table.column(f"logit_{j}").to_numpy() for j in range(10)])
    print(f"data: {path.name}, {z.shape[0]:,} x {z.shape[1]} logits")
    fused_pass(z), fit_temperature(z, y, Task.MULTICLASS)  # warm-up
    base, fit, ratios = [], [], []
    for _ in range(REPEATS):
        tb, _ = timed(lambda: fused_pass(z))
        tf, f = timed(lambda: fit_temperature(z, y, Task.MULTICLASS))
        base.append(tb), fit.append(tf), ratios.append(tf / tb)
    print(f"fused pass (max, argmax, logsumexp): median {statistics.median(base):.3f} s")
    print(f"fit T (Newton in 1/T, {f.iterations} full passes after a strided warm start): median {statistics.median(fit):.3f} s, "
          f"T = {f.temperature[0]:.6f}")
    print(f"ratio fit / fused pass: median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); target <= 3")
    ci = [timed(lambda: temperature_interval(f))[0] for _ in range(REPEATS)]
    lo, hi, _ = temperature_interval(f)
    print(f"bootstrap interval of T [{lo[0]:.5f}, {hi[0]:.5f}]: median {statistics.median(ci):.3f} s")

    from calibcli.calibration import evaluate_calibration
    from calibcli.loading import load_predictions

    loaded = load_predictions([str(path)])
    from calibcli.audit import build_audit

    report = build_audit(loaded)
    ev = [timed(lambda: evaluate_calibration(loaded.predictions, before=report.measurement))[0] for _ in range(3)]
    print(f"audit calibration stage (2-fold cross-fit, full-data T, interval, after-measurement): "
          f"median {statistics.median(ev):.3f} s = {statistics.median(ev) / statistics.median(base):.2f} fused passes")
    print(f"peak extra memory: fused pass {peak_mib(lambda: fused_pass(z)):.0f} MiB, "
          f"fit {peak_mib(lambda: fit_temperature(z, y, Task.MULTICLASS)):.0f} MiB (the logits themselves: {z.nbytes / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
