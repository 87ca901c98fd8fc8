"""Benchmark: `calib audit --format json` on 1,000,000 x 10 logits (Parquet) against
the bare floor (pyarrow read + one fused max/argmax/logsumexp pass), whole processes,
alternated, in the same run. Target: ratio <= 3. Also `calib --help` start-up."""

from __future__ import annotations

import sys
from pathlib import Path

from common import compare, logits_parquet, run_process

HERE = Path(__file__).resolve().parent
CALIB = [sys.executable, "-m", "calibcli"]


def main() -> None:
    path = str(logits_parquet())
    compare("audit 1M x 10 logits", CALIB + ["audit", path, "--format", "json"], [sys.executable, str(HERE / "floor_read_fused.py"), path])
    walls = sorted(run_process(CALIB + ["--help"])[0] for _ in range(5))
    print(f"calib --help: median {walls[2]:.3f} s")


if __name__ == "__main__":
    main()
