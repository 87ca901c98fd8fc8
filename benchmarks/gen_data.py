"""Seeded large benchmark files, written chunk by chunk in bounded memory.

Every file is a pure function of (kind, rows, classes, seed): chunk ``i`` is drawn
from ``numpy.random.default_rng([seed, i])``, so any size can be recreated
exactly and the generator never holds more than one chunk (``CHUNK`` rows).
Files go to ``benchmarks/data/`` (gitignored) and are written to a temporary
name, then renamed, so an interrupted run never leaves a file that looks
complete.

Kinds:

- ``logits``: ``label`` (int64, 0..K-1) and ``logit_0..logit_{K-1}`` (float32),
  overconfident (the true class gets a gamma bump, everything is scaled by 1.8).
  1e7 x 10 is about 0.46 GB of Parquet.
- ``binary``: ``label`` (int64, 0/1) and one score column ``p_1`` (float32),
  miscalibrated (P(y=1 | p) = p ** 1.5).

Formats: ``parquet`` (one row group per chunk), ``csv``, ``csv.gz``.

Run: .venv/bin/python benchmarks/gen_data.py logits 2e7 [--format csv] [--classes 10]
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
CHUNK = 1_000_000  # rows per generated chunk = rows per Parquet row group
FORMATS = ("parquet", "csv", "csv.gz")


def parse_rows(text: str) -> int:
    """``"2e7"``, ``"20000000"`` or ``"20_000_000"`` -> 20000000."""
    value = float(text.replace("_", ""))
    if value < 0 or value != int(value):
        raise argparse.ArgumentTypeError(f"not a whole number of rows: {text!r}")
    return int(value)


def rows_label(n: int) -> str:
    """A short name for a row count: 2000000 -> '2e6', 1500000 -> '1500000'."""
    exp = len(str(n)) - 1
    mant = n / 10**exp
    return f"{int(mant)}e{exp}" if mant == int(mant) else str(n)


def _logits_chunk(rng: np.random.Generator, n: int, k: int) -> dict[str, np.ndarray]:
    z = rng.standard_normal((n, k), dtype=np.float32)
    y = rng.integers(0, k, size=n)
    z[np.arange(n), y] += rng.gamma(2.0, 1.5, size=n).astype(np.float32)
    z *= np.float32(1.8)  # overconfident
    cols = {"label": y.astype(np.int64)}
    cols.update({f"logit_{j}": np.ascontiguousarray(z[:, j]) for j in range(k)})
    return cols


def _binary_chunk(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    p = rng.beta(0.8, 2.5, size=n).astype(np.float32)
    y = (rng.random(n, dtype=np.float32) < p ** np.float32(1.5)).astype(np.int64)
    return {"label": y, "p_1": p}


def chunks(kind: str, n: int, k: int = 10, seed: int = 0):
    """Yield the file's columns chunk by chunk (dicts of numpy arrays)."""
    for i, start in enumerate(range(0, n, CHUNK)):
        rng = np.random.default_rng([seed, i])
        size = min(CHUNK, n - start)
        yield _logits_chunk(rng, size, k) if kind == "logits" else _binary_chunk(rng, size)


def data_path(kind: str, n: int, k: int = 10, seed: int = 0, fmt: str = "parquet") -> Path:
    shape = f"{rows_label(n)}x{k}" if kind == "logits" else rows_label(n)
    return DATA / f"{kind}_{shape}_s{seed}.{fmt}"


def make(kind: str, n: int, k: int = 10, seed: int = 0, fmt: str = "parquet", quiet: bool = False) -> Path:
    """Write (or reuse) the seeded file and return its path.

    Parameters
    ----------
    kind : {"logits", "binary"}
    n : int
        Rows.
    k : int
        Classes (``logits`` only).
    seed : int
        Seed; chunk ``i`` uses ``default_rng([seed, i])``.
    fmt : {"parquet", "csv", "csv.gz"}

    Returns
    -------
    Path
        The file under ``benchmarks/data/``; an existing complete file is reused.
    """
    import pyarrow as pa

    if kind not in ("logits", "binary") or fmt not in FORMATS:
        raise ValueError(f"unknown kind/format: {kind}/{fmt}")
    path = data_path(kind, n, k, seed, fmt)
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    writer = sink = None
    try:
        for cols in chunks(kind, n, k, seed):
            batch = pa.record_batch(list(cols.values()), names=list(cols))
            if writer is None:
                if fmt == "parquet":
                    import pyarrow.parquet as pq

                    writer = pq.ParquetWriter(tmp, batch.schema)
                else:
                    import pyarrow.csv as pcsv

                    # gzip level 1: pyarrow's gzip stream compresses at the slow default level (50 s per 1e6 rows)
                    sink = pa.PythonFile(gzip.open(tmp, "wb", compresslevel=1), mode="w") if fmt == "csv.gz" else pa.OSFile(str(tmp), "wb")
                    writer = pcsv.CSVWriter(sink, batch.schema)
            if fmt == "parquet":
                writer.write_table(pa.Table.from_batches([batch]), row_group_size=CHUNK)
            else:
                writer.write_batch(batch)
        writer.close()
        if sink is not None:
            sink.close()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if not quiet:
        print(f"wrote {path.name}: {path.stat().st_size / 2**20:,.0f} MiB", file=sys.stderr, flush=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("logits", "binary"))
    parser.add_argument("rows", type=parse_rows)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=FORMATS, default="parquet")
    args = parser.parse_args()
    print(make(args.kind, args.rows, args.classes, args.seed, args.format))


if __name__ == "__main__":
    main()
