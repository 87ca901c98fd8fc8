"""Benchmark: `calib audit --format json` on 1,000,000 x 10 logits (Parquet) against
the bare floor (pyarrow read + one fused max/argmax/logsumexp pass), whole processes,
alternated, in the same run. Target: ratio <= 3. Two floors: the canonical pyarrow
read (read_table + to_numpy, which imports pandas) and a lean one that reads the
Arrow buffers directly as calib does. Also `calib --help` start-up."""

from __future__ import annotations

import sys
from pathlib import Path

from common import compare, logits_parquet, run_process

HERE = Path(__file__).resolve().parent
CALIB = [sys.executable, "-m", "calibcli"]


def main() -> None:
    path = str(logits_parquet())
    audit = CALIB + ["audit", path, "--format", "json"]
    floor = [sys.executable, str(HERE / "floor_read_fused.py"), path]
    compare("audit 1M x 10 logits vs floor (read_table + to_numpy)", audit, floor)
    compare("audit 1M x 10 logits vs lean floor (frombuffer, no pandas import)", audit, floor + ["--lean"])
    compare("audit --no-calibration vs lean floor", audit + ["--no-calibration"], floor + ["--lean"])
    walls = sorted(run_process(CALIB + ["--help"])[0] for _ in range(5))
    print(f"calib --help: median {walls[2]:.3f} s")


if __name__ == "__main__":
    main()
