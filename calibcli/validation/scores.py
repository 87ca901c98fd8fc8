"""Score columns: to numbers, per-batch range and row-sum checks, and the score kind.

These functions work on one batch at a time and are the only place the checks
live: loading (``calib audit``, ``fit``, ``thresholds``) and ``calib apply`` both
use them.
"""

from __future__ import annotations

import numpy as np

from calibcli.errors import InputError
from calibcli.predictions import ScoreKind, Task

ROW_SUM_TOL = 1e-3  # |sum_k p_k - 1| allowed for probability rows
RANGE_TOL = 1e-4  # float noise allowed outside [0, 1] for probabilities (then clipped: predictions.clip_probabilities)
FLOAT32_EVIDENCE = ("score columns stored as float32 (about 7 significant digits: probabilities within 6e-8 of 1 "
                    "are stored as exactly 1)")


def fmt_beyond(x: float, limit: float) -> str:
    """``x`` with enough significant digits (at least 3) to show on which side of ``limit`` it lies.

    >>> fmt_beyond(0.0010004, 0.001), fmt_beyond(0.25, 0.001), fmt_beyond(1.00010001, 1.0001)
    ('0.0010004', '0.25', '1.00010001')
    """
    for digits in range(3, 18):
        text = f"{x:.{digits}g}"
        shown = float(text)
        if shown != limit and (shown > limit) == (x > limit):
            return text
    return repr(float(x))


def _chunks(col) -> list:
    return list(col.chunks) if hasattr(col, "chunks") else [col]


def plain_numpy(col) -> np.ndarray | None:
    """A null-free fixed-width numeric column (Array or ChunkedArray) as numpy straight from its buffers.

    (``to_numpy`` on pyarrow arrays goes through pyarrow's pandas shim, which
    imports pandas: 0.3 s of start-up we do not need.) None when not applicable.
    """
    import pyarrow as pa

    t = col.type
    if col.null_count or not (pa.types.is_floating(t) or pa.types.is_integer(t)) or pa.types.is_float16(t):
        return None
    dtype = np.dtype(t.to_pandas_dtype())
    parts = [np.frombuffer(ch.buffers()[1], dtype=dtype, count=len(ch), offset=ch.offset * dtype.itemsize) for ch in _chunks(col)]
    if not parts:
        return np.empty(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def is_float32(t) -> bool:
    """Whether an Arrow type is stored with float32 (or less) precision."""
    import pyarrow as pa

    return pa.types.is_float32(t) or pa.types.is_float16(t)


def column_to_float(col, keep_float32: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """An Arrow column as float64 (nulls as NaN), plus a mask of non-numeric entries (None when numeric).

    ``keep_float32``: a float32 (or float16) column stays float32 (exactly the stored values).
    """
    import pyarrow as pa

    t = col.type
    if keep_float32 and is_float32(t):
        if pa.types.is_float16(t) or col.null_count:
            arr = col.cast(pa.float32())
            vals = plain_numpy(arr.fill_null(pa.scalar(float("nan"), pa.float32())) if col.null_count else arr)
            return np.asarray(vals, dtype=np.float32), None
        return plain_numpy(col), None
    plain = plain_numpy(col)
    if plain is not None:
        return plain.astype(np.float64, copy=False), None
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_null(t):
        arr = col.cast(pa.float64())
        vals = plain_numpy(arr.fill_null(float("nan")) if arr.null_count else arr)
        if vals is None:  # a null-typed column
            return np.full(len(col), np.nan), None
        return np.array(vals, dtype=np.float64), None
    import pandas as pd

    raw = pd.Series(col.to_pylist(), dtype=object)
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(num) & raw.notna().to_numpy() & ~raw.astype(str).str.strip().str.lower().isin(["nan", "inf", "-inf"]).to_numpy()
    return num, bad


PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE


def pairwise_row_sums(columns: list[np.ndarray]) -> np.ndarray:
    """Row sums (float64) of a matrix given as its columns, bit for bit what numpy's
    ``matrix.sum(axis=1)`` gives for a C-contiguous float64 matrix.

    numpy sums each contiguous row pairwise (eight partial sums in blocks of up to
    128 values); doing the same additions column-wise over whole vectors is several
    times faster for few columns and touches memory contiguously.

    >>> m = np.random.default_rng(0).standard_normal((5, 11))
    >>> bool(np.array_equal(pairwise_row_sums([m[:, j] for j in range(11)]), m.sum(axis=1)))
    True
    """
    n = len(columns)
    if n < 8:
        res = np.zeros(len(columns[0]), dtype=np.float64)
        for c in columns:
            res += c
        return res
    if n <= PAIRWISE_BLOCK:
        r = [np.array(columns[j], dtype=np.float64) for j in range(8)]
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += columns[i + j]
            i += 8
        r[0] += r[1]
        r[2] += r[3]
        r[0] += r[2]
        r[4] += r[5]
        r[6] += r[7]
        r[4] += r[6]
        r[0] += r[4]
        for c in columns[i:]:
            r[0] += c
        return r[0]
    half = n // 2
    half -= half % 8
    return pairwise_row_sums(columns[:half]) + pairwise_row_sums(columns[half:])


def row_sums_checked(task: Task, n_cols: int) -> bool:
    """Whether probability rows must sum to 1 (multiclass, and binary with two columns)."""
    return task is Task.MULTICLASS or (task is Task.BINARY and n_cols == 2)


def out_of_range(scores: np.ndarray) -> np.ndarray:
    """Where probabilities lie beyond the tolerance outside [0, 1] (NaN is not; +-inf is)."""
    with np.errstate(invalid="ignore"):
        return (scores < -RANGE_TOL) | (scores > 1 + RANGE_TOL)


def within_tolerance(scores: np.ndarray, good: np.ndarray, out: np.ndarray) -> tuple[int, float]:
    """Rows of finite probabilities outside [0, 1] but within the tolerance (to be clipped), and the largest change."""
    with np.errstate(invalid="ignore"):
        within = good[:, None] & ~out & ((scores < 0.0) | (scores > 1.0))
    if not within.any():
        return 0, 0.0
    change = float(np.max(np.maximum(-scores[within], scores[within] - 1.0)))
    return int(within.any(axis=1).sum()), change


def renormalize_rows(scores: np.ndarray, sums: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, float]:
    """Divide the finite rows with a positive sum by their sum, in place; returns those rows and the largest change."""
    ok = good & (sums > 0)
    before = scores[ok]
    after = before / sums[ok, None]
    scores[ok] = after
    change = float(np.max(np.abs(after - before))) if after.size else 0.0
    return ok, change


def detect_score_kind(
    scores: np.ndarray,
    task: Task,
    prefix_kind: ScoreKind | None,
    forced: ScoreKind | None,
    source: str,
    columns: tuple[str, ...],
    renormalize: bool = False,
) -> tuple[ScoreKind, tuple[str, ...]]:
    """Decide probabilities vs logits from the finite ``scores`` of all rows (see :func:`decide_score_kind`)."""
    dev = None
    if row_sums_checked(task, scores.shape[1]):
        dev = float(np.max(np.abs(scores.sum(axis=1) - 1.0)))
    return decide_score_kind(float(np.min(scores)), float(np.max(scores)), dev, task, prefix_kind, forced, source,
                             columns, renormalize)


def decide_score_kind(
    lo: float,
    hi: float,
    dev: float | None,
    task: Task,
    prefix_kind: ScoreKind | None,
    forced: ScoreKind | None,
    source: str,
    columns: tuple[str, ...],
    renormalize: bool = False,
) -> tuple[ScoreKind, tuple[str, ...]]:
    """Decide probabilities vs logits from evidence; contradictions are errors.

    Parameters
    ----------
    lo, hi : smallest and largest score over the rows whose scores are all finite.
    dev : largest |row sum - 1| over those rows (None where rows need not sum to 1).

    Returns the kind and the evidence in words.
    """
    in_range = lo >= -RANGE_TOL and hi <= 1 + RANGE_TOL
    evidence = []
    if prefix_kind is not None:
        evidence.append(f"column prefix says {prefix_kind.value}")
    evidence.append(
        f"all values within [0, 1] (min {lo:.4g}, max {hi:.4g}; tolerance {RANGE_TOL:g})" if in_range else f"values outside [0, 1] (min {lo:.4g}, max {hi:.4g})"
    )
    sums_to_one = None
    if dev is not None:
        sums_to_one = dev <= ROW_SUM_TOL
        evidence.append(f"rows sum to 1 (max deviation {dev:.2g})" if sums_to_one
                        else f"rows do not sum to 1 (max deviation {fmt_beyond(dev, ROW_SUM_TOL)})")
    cols = ", ".join(columns[:3]) + (" ..." if len(columns) > 3 else "")
    if forced is not None:
        return forced, (f"set by --score-kind {forced.value}", *evidence)
    if prefix_kind is ScoreKind.PROBS:
        return ScoreKind.PROBS, tuple(evidence)  # out-of-range rows are reported by the range check
    if prefix_kind is ScoreKind.LOGITS:
        if in_range and (sums_to_one is None or sums_to_one):
            raise InputError(
                f"{source}: columns {cols} are named as logits but every value is within [0, 1]"
                f"{' and every row sums to 1' if sums_to_one else ''}; they look like probabilities. "
                "Rename them p_<class>, or pass --score-kind logits to read them as logits anyway "
                "(or --score-kind probs)."
            )
        return ScoreKind.LOGITS, tuple(evidence)
    if not in_range:
        return ScoreKind.LOGITS, tuple(evidence)
    if sums_to_one is False and not renormalize:
        raise InputError(
            f"{source}: cannot tell whether columns {cols} hold probabilities or logits: every value is within [0, 1] "
            f"but rows do not sum to 1 (max deviation {fmt_beyond(dev, ROW_SUM_TOL)}). Pass --score-kind probs or --score-kind logits."
        )
    return ScoreKind.PROBS, tuple(evidence)


def possible_kinds(task: Task, prefix: ScoreKind | None, forced: ScoreKind | None) -> tuple[ScoreKind, ...]:
    """The score kinds the evidence may still decide between (before reading any row)."""
    if task is Task.TOP_LABEL:
        return (ScoreKind.PROBS,)
    if forced is not None:
        return (forced,)
    if prefix is not None:
        return (prefix,)
    return (ScoreKind.PROBS, ScoreKind.LOGITS)
