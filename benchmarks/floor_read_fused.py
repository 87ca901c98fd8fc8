"""The bare floor for the audit benchmark: read the logit columns with pyarrow into
numpy and make one fused pass (max, argmax, logsumexp). Run as a whole process.

``--lean`` reads the columns straight from the Arrow buffers (np.frombuffer), as
calib does, instead of ``to_numpy`` (which imports pandas through pyarrow's shim).
"""

from __future__ import annotations

import sys

import numpy as np
import pyarrow.parquet as pq


def column(table, name: str, lean: bool) -> np.ndarray:
    col = table.column(name)
    if not lean:
        return col.to_numpy()
    ch = col.combine_chunks()
    return np.frombuffer(ch.buffers()[1], dtype=np.dtype(ch.type.to_pandas_dtype()), count=len(ch), offset=ch.offset * ch.type.bit_width // 8)


def main(path: str, lean: bool) -> None:
    table = pq.read_table(path) if not lean else pq.ParquetFile(path).read()
    names = [c for c in table.column_names if c.startswith("logit_")]
    z = np.column_stack([column(table, c, lean) for c in names])
    y = column(table, "label", lean)
    m = z.max(axis=1)
    am = z.argmax(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    print(float(lse.mean()), float((am == y).mean()))


if __name__ == "__main__":
    main(sys.argv[1], "--lean" in sys.argv[2:])
