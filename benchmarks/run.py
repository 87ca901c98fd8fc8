"""Run every benchmark script in this folder (make bench), except bench_memory.py:
it writes GBs of data and runs for minutes (make bench-memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    for script in sorted(HERE.glob("bench_*.py")):
        if script.name == "bench_memory.py":
            continue
        print(f"== {script.name}", flush=True)
        subprocess.run([sys.executable, str(script)], cwd=HERE, check=False)
