"""The streaming floor of issue 11: what any streaming audit of a logits file must do.

Read every record batch with ``pyarrow.parquet.ParquetFile.iter_batches`` (the
label and the ``logit_*`` columns) and make one fused pass per batch: row max,
argmax and logsumexp, in the file's dtype (float32 stays float32; sums are
accumulated in float64). Nothing is kept between batches, so peak memory is set
by the batch size. Run it as a whole process (interpreter start and imports
included, as for ``calib``); it prints one JSON line with the wall time, the peak
RSS and checksums (mean logsumexp, accuracy) that show every row was used.

Run: .venv/bin/python benchmarks/floor_stream.py FILE [--batch-rows 65536] [--layout classes|rows] [--pre-buffer]

The file is opened with ``pre_buffer=False``: pyarrow's default (True) makes
``iter_batches`` buffer the column chunks of all the row groups it will read, so
its memory grows with the file (``--pre-buffer`` shows it).

``--layout classes`` (default) stacks the K columns as a (K, b) array so every
reduction runs over contiguous rows; ``rows`` builds the (b, K) array that
``Predictions`` holds. Both are one pass; the faster is the floor.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def fused(z: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Row max, argmax and logsumexp over ``axis`` in one pass over ``z``; returns (argmax, logsumexp)."""
    m = z.max(axis=axis, keepdims=True)
    a = z.argmax(axis=axis)
    e = np.exp(z - m)
    lse = np.log(e.sum(axis=axis, keepdims=True)) + m
    return a, lse.reshape(-1)


def run(path: str, batch_rows: int, layout: str, pre_buffer: bool = False) -> dict:
    # pre_buffer=False: with pyarrow's default (True) iter_batches pre-buffers the column chunks of
    # every row group it will read, so RSS grows with the file (measured: +470 MiB for a 441 MiB file)
    pf = pq.ParquetFile(path, pre_buffer=pre_buffer)
    names = [n for n in pf.schema_arrow.names if n.startswith("logit_")]
    rows = correct = 0
    lse_sum = 0.0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=["label", *names]):
        y = batch.column(0).to_numpy()
        cols = [batch.column(j + 1).to_numpy() for j in range(len(names))]
        if layout == "classes":
            a, lse = fused(np.stack(cols, axis=0), axis=0)
        else:
            a, lse = fused(np.stack(cols, axis=1), axis=1)
        rows += len(y)
        correct += int(np.count_nonzero(a == y))
        lse_sum += float(lse.sum(dtype=np.float64))
    return {"rows": rows, "classes": len(names), "mean_logsumexp": lse_sum / rows, "accuracy": correct / rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--batch-rows", type=int, default=65536)
    parser.add_argument("--layout", choices=("classes", "rows"), default="classes")
    parser.add_argument("--pre-buffer", action="store_true", help="pyarrow's default pre_buffer=True (memory grows with the file)")
    args = parser.parse_args()
    out = run(args.file, args.batch_rows, args.layout, args.pre_buffer)
    out.update(batch_rows=args.batch_rows, layout=args.layout, pre_buffer=args.pre_buffer, wall_s=time.perf_counter() - T0,
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
