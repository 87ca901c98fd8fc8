"""From files to validated ``Predictions``: read, check every row, convert.

All problems are collected before failing, each naming the file, the column, the
first offending rows (1-based data rows, header not counted) and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from calibcli.columns import ColumnSpec, check_duplicates, check_roles, resolve_columns
from calibcli.errors import InputError
from calibcli.predictions import Predictions, ScoreKind, Task, clip_probabilities, scores_to_probs
from calibcli.reading import Source, expand_inputs, normalize_encoding

ROW_SUM_TOL = 1e-3  # |sum_k p_k - 1| allowed for probability rows
RANGE_TOL = 1e-4  # float noise allowed outside [0, 1] for probabilities (then clipped: predictions.clip_probabilities)
MAX_ROWS_SHOWN = 5
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


@dataclass(frozen=True)
class LoadOptions:
    """How to interpret the input columns (mirrors the CLI's input options)."""

    label_col: str = "label"
    score_cols: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    task: Task | None = None
    score_kind: ScoreKind | None = None
    renormalize: bool = False
    drop_invalid: bool = False
    id_col: str | None = None  # optional row-id column, kept as ``LoadedInput.ids`` (gate baselines)
    encoding: str = "utf-8"  # text encoding of CSV / JSON Lines input (--encoding)


@dataclass(frozen=True)
class Adjustment:
    """One change calib made to the input rows before auditing them (shown in every report).

    Attributes
    ----------
    kind : ``'renormalized'`` (--renormalize divided rows by their sum), ``'dropped'``
        (--drop-invalid removed rows; one entry, its detail names each problem) or ``'clipped'``
        (probabilities within tolerance outside [0, 1] moved onto the range).
    rows : number of rows affected.
    largest_change : the largest absolute change of one probability (renormalized,
        clipped); None where it does not apply (dropped rows).
    detail : what was done and why, in words (e.g. the problem that made rows invalid
        and the column).
    """

    kind: str  # 'renormalized' | 'dropped' | 'clipped'
    rows: int
    largest_change: float | None
    detail: str


@dataclass(frozen=True)
class LoadedInput:
    """Validated predictions plus what was done to get them."""

    predictions: Predictions
    files: tuple[str, ...]
    columns: ColumnSpec
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    ids: np.ndarray | None = None  # row ids as text when ``LoadOptions.id_col`` is set
    adjustments: tuple[Adjustment, ...] = ()  # renormalized / dropped / clipped rows, in the order applied


@dataclass
class _Problem:
    column: str
    what: str
    mask: np.ndarray
    fix: str


class _Origins:
    """Maps pooled row indices back to (file, 1-based row)."""

    def __init__(self, names: list[str], sizes: list[int]):
        self.names = names
        self.starts = np.concatenate(([0], np.cumsum(sizes)))

    def describe(self, mask: np.ndarray) -> str:
        rows = np.flatnonzero(mask)
        parts = []
        for i, name in enumerate(self.names):
            lo, hi = self.starts[i], self.starts[i + 1]
            r = rows[(rows >= lo) & (rows < hi)]
            if r.size:
                shown = ", ".join(str(int(x - lo + 1)) for x in r[:MAX_ROWS_SHOWN])
                more = f" and {r.size - MAX_ROWS_SHOWN} more" if r.size > MAX_ROWS_SHOWN else ""
                parts.append(f"{name}: {r.size} row{'s' if r.size != 1 else ''} (row {shown}{more})")
        return "; ".join(parts)


def _plain_numpy(col) -> np.ndarray | None:
    """A null-free fixed-width numeric column as numpy straight from its buffers.

    (``to_numpy`` on pyarrow arrays goes through pyarrow's pandas shim, which
    imports pandas: 0.3 s of start-up we do not need.) None when not applicable.
    """
    import pyarrow as pa

    t = col.type
    if col.null_count or not (pa.types.is_floating(t) or pa.types.is_integer(t)) or pa.types.is_float16(t):
        return None
    dtype = np.dtype(t.to_pandas_dtype())
    parts = [np.frombuffer(ch.buffers()[1], dtype=dtype, count=len(ch), offset=ch.offset * dtype.itemsize) for ch in col.chunks]
    if not parts:
        return np.empty(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def column_to_float(col) -> tuple[np.ndarray, np.ndarray | None]:
    """An Arrow column as float64 (nulls as NaN), plus a mask of non-numeric entries (None when numeric)."""
    import pyarrow as pa

    plain = _plain_numpy(col)
    if plain is not None:
        return plain.astype(np.float64, copy=False), None
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_boolean(col.type) or pa.types.is_null(col.type):
        arr = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        if col.null_count:
            arr = np.where(np.asarray(col.is_null()), np.nan, arr)
        return np.asarray(arr, dtype=np.float64), None
    import pandas as pd

    raw = pd.Series(col.to_pylist(), dtype=object)
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(num) & raw.notna().to_numpy() & ~raw.astype(str).str.strip().str.lower().isin(["nan", "inf", "-inf"]).to_numpy()
    return num, bad


def _labels_to_numpy(col) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_integer(col.type) and col.null_count == 0:
        return _plain_numpy(col)
    if pa.types.is_floating(col.type) and col.null_count == 0:
        arr = col.to_numpy()
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return arr.astype(object)
    if pa.types.is_boolean(col.type) and col.null_count == 0:
        return col.to_numpy(zero_copy_only=False).astype(np.int64)
    return np.array(col.to_pylist(), dtype=object)


def _label_key(v) -> str | None:
    """The text a raw label matches class names by (None for a missing label).

    >>> _label_key(3.0), _label_key(float("inf")), _label_key(float("nan")), _label_key(True), _label_key(" cat ")
    ('3', 'inf', None, '1', 'cat')
    """
    if v is None:
        return None
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        if not np.isfinite(v):
            return "inf" if v > 0 else "-inf"
        if v == int(v):
            return str(int(v))
        return repr(float(v))
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", errors="replace").strip()
    return str(v).strip()


def map_labels(raw: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Class index of each raw label, -1 where it is not a known class.

    Labels match class names by their text (``3`` matches ``'3'``); integer labels
    index the classes directly when the names are not themselves integers.

    >>> map_labels(np.array([1, 0, 7]), ("cat", "dog")).tolist()
    [1, 0, -1]
    >>> map_labels(np.array(["dog", "cow"], dtype=object), ("cat", "dog")).tolist()
    [1, -1]
    """
    k = len(classes)
    if raw.dtype.kind in "iu":
        if all(c.lstrip("-").isdigit() for c in classes):
            uniq, inv = np.unique(raw, return_inverse=True)
            lookup = {c: i for i, c in enumerate(classes)}
            table = np.array([lookup.get(str(int(u)), -1) for u in uniq], dtype=np.int64)
            return table[inv]
        out = raw.astype(np.int64)
        return np.where((out >= 0) & (out < k), out, -1)
    uniq, inv = np.unique(np.array([_label_key(v) or "\0" for v in raw], dtype=object), return_inverse=True)
    lookup = {c: i for i, c in enumerate(classes)}
    table = np.array([lookup.get(u, -1) for u in uniq], dtype=np.int64)
    return table[inv]


def _sorted_label_keys(*arrays: np.ndarray) -> list[str]:
    """Distinct label texts of several arrays; integers in numeric order first."""
    keys: set[str] = set()
    for a in arrays:
        vals = np.unique(a) if a.dtype.kind in "iu" else set(a.tolist())
        keys |= {k for k in (_label_key(v) for v in vals) if k is not None}
    return sorted(keys, key=lambda s: (0, int(s), s) if s.lstrip("-").isdigit() else (1, 0, s))


def _binary_classes(positive: str, raw: np.ndarray, source: str, label_col: str) -> tuple[str, ...]:
    """Class names (negative, positive) for a binary file with one score column.

    The column's suffix names the class its score is for (``p_0`` scores label 0, as
    ``predict_proba[:, 0]`` gives); the other label value is the other class. A
    column named for a class that is no label value (``p_spam`` with labels 0/1)
    scores label 1, and label 0 is ``not_<class>``. Labels beyond these two are
    reported row by row later (they are invalid rows).

    >>> _binary_classes("0", np.array([0, 1, 1]), "f.csv", "label"), _binary_classes("spam", np.array([0, 1]), "f.csv", "label")
    (('1', '0'), ('not_spam', 'spam'))
    """
    keys = set(_sorted_label_keys(raw))
    complement = {"1": "0", "0": "1"}.get(positive)
    if positive in keys:
        others = _sorted_label_keys(np.array(sorted(keys - {positive}), dtype=object))
        if len(others) == 1:
            return (others[0], positive)
        if not others:
            return (complement or f"not_{positive}", positive)
        if complement in others:
            return (complement, positive)
    elif complement is not None:
        return (complement, positive)
    elif keys & {"0", "1"}:
        return (f"not_{positive}", positive)
    else:
        others = sorted(keys)
    raise InputError(
        f"{source}, column '{label_col}': the file has one score column, for class '{positive}' (the column name says "
        f"so), so it is binary: '{positive}' against one other class. But the labels are "
        f"{', '.join(sorted(keys)[:6])}{' ...' if len(keys) > 6 else ''}. "
        "Name the score column for the class it scores (p_<class>), give one score column per class, "
        "or check --label-col."
    )


def _binary_labels(raw: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    if classes[0] == f"not_{classes[1]}":
        keys = np.array([_label_key(v) for v in raw], dtype=object) if raw.dtype.kind not in "iu" else raw.astype(str)
        out = np.full(len(raw), -1, dtype=np.int64)
        out[keys == "0"] = 0
        out[keys == "1"] = 1
        out[keys == classes[1]] = 1
        out[keys == classes[0]] = 0
        return out
    return map_labels(raw, classes)


def detect_score_kind(
    scores: np.ndarray,
    task: Task,
    prefix_kind: ScoreKind | None,
    forced: ScoreKind | None,
    source: str,
    columns: tuple[str, ...],
    renormalize: bool = False,
) -> tuple[ScoreKind, tuple[str, ...]]:
    """Decide probabilities vs logits from evidence; contradictions are errors.

    Returns the kind and the evidence in words. ``scores`` must be finite.
    """
    lo, hi = float(np.min(scores)), float(np.max(scores))
    in_range = lo >= -RANGE_TOL and hi <= 1 + RANGE_TOL
    evidence = []
    if prefix_kind is not None:
        evidence.append(f"column prefix says {prefix_kind.value}")
    evidence.append(
        f"all values within [0, 1] (min {lo:.4g}, max {hi:.4g}; tolerance {RANGE_TOL:g})" if in_range else f"values outside [0, 1] (min {lo:.4g}, max {hi:.4g})"
    )
    sums_to_one = None
    dev = None
    if task is Task.MULTICLASS or (task is Task.BINARY and scores.shape[1] == 2):
        dev = float(np.max(np.abs(scores.sum(axis=1) - 1.0)))
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


def load_predictions(inputs: list[str] | tuple[str, ...], options: LoadOptions = LoadOptions()) -> LoadedInput:
    """Read, validate and convert prediction files into one pooled ``Predictions``.

    Parameters
    ----------
    inputs : file names or globs; ``-`` reads stdin.
    options : column and interpretation settings.

    Raises
    ------
    InputError
        With every problem found, each naming file, column, rows and fix.
    """
    files = expand_inputs(inputs if isinstance(inputs, list) else list(inputs))
    encoding = normalize_encoding(options.encoding)
    sources = [Source(f, encoding) for f in files]
    first_names = sources[0].column_names()
    spec = resolve_columns(first_names, sources[0].display, options.label_col, options.score_cols, options.classes, options.task)
    check_roles(spec, sources[0].display, options.id_col)
    tables = []
    float32 = False
    for src in sources:
        names = first_names if src is sources[0] else src.column_names()
        if src is not sources[0]:
            check_duplicates(names, options.label_col, options.score_cols, src.display)
        if options.id_col and names.count(options.id_col) > 1:
            raise InputError(f"{src.display}: the column name '{options.id_col}' (given by --id-col) appears "
                             f"{names.count(options.id_col)} times in the header. Rename or remove the repeated column.")
        missing = [c for c in spec.needed if c not in names]
        if missing:
            raise InputError(
                f"{src.display}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing[:6])}, which "
                f"{sources[0].display} has. Pooled files need the same columns; audit it separately or use --per-file."
            )
        if options.id_col and options.id_col not in names:
            raise InputError(f"{src.display}: no column '{options.id_col}' (given by --id-col). Columns: {', '.join(names[:12])}.")
        extra = [options.id_col] if options.id_col and options.id_col not in spec.needed else []
        table = src.read(list(spec.needed) + extra)
        float32 = float32 or any(_is_float32(table.schema.field(c).type) for c in spec.score_cols)
        tables.append(table)
    origins = _Origins([s.display for s in sources], [t.num_rows for t in tables])
    loaded = _validate(tables, spec, options, origins, tuple(s.display for s in sources), float32)
    notes = (*files.notes, *spec.notes)
    if notes:
        loaded = replace(loaded, warnings=(*notes, *loaded.warnings))
    return loaded


def _is_float32(t) -> bool:
    import pyarrow as pa

    return pa.types.is_float32(t) or pa.types.is_float16(t)


def _concat(tables, name):
    import pyarrow as pa

    chunks = [t.column(name) for t in tables]
    types = {c.type for c in chunks}
    if len(types) > 1:
        if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
            chunks = [c.cast(pa.float64()) for c in chunks]
        else:
            chunks = [c.cast(pa.string()) for c in chunks]
    return pa.chunked_array([ch for c in chunks for ch in c.chunks], type=chunks[0].type)


def _validate(tables, spec: ColumnSpec, options: LoadOptions, origins: _Origins, files: tuple[str, ...],
              float32: bool = False) -> LoadedInput:
    problems: list[_Problem] = []
    n = sum(t.num_rows for t in tables)
    ids = None
    if options.id_col:
        ids = np.array([None if v is None else str(v) for v in _concat(tables, options.id_col).to_pylist()], dtype=object)
    src = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"
    drop_fix = "pass --drop-invalid to drop them"

    scores = np.empty((n, len(spec.score_cols)), dtype=np.float64)
    for j, col in enumerate(spec.score_cols):
        vals, bad = column_to_float(_concat(tables, col))
        scores[:, j] = vals
        if bad is not None and bad.any():
            problems.append(_Problem(col, "non-numeric scores", bad, f"write plain numbers in this column, or {drop_fix}"))
    with np.errstate(over="ignore", invalid="ignore"):  # logits near 1e308 may overflow the sum: checked in full below
        all_finite = bool(np.isfinite(scores.sum()))
    if all_finite:  # one reduction; NaN/inf (or overflow) falls through to the full check
        nonfinite_rows = np.zeros(n, dtype=bool)
    else:
        finite = np.isfinite(scores)
        nonfinite_rows = ~finite.all(axis=1)
        for j, col in enumerate(spec.score_cols):
            m = ~finite[:, j]
            already = [p for p in problems if p.column == col]
            if already:
                m = m & ~already[0].mask
            if m.any():
                problems.append(_Problem(col, "missing, NaN or infinite scores", m, f"fix the model export, or {drop_fix}"))

    # labels
    pred_labels = None
    if spec.task is Task.MULTILABEL:
        labels = np.empty((n, len(spec.label_cols)), dtype=np.int64)
        for j, col in enumerate(spec.label_cols):
            vals, bad = column_to_float(_concat(tables, col))
            ok = np.isin(vals, (0.0, 1.0))
            if not ok.all():
                problems.append(_Problem(col, "labels other than 0 and 1", ~ok, f"use 1 where the label is present and 0 where not, or {drop_fix}"))
            labels[:, j] = np.where(ok, vals, 0).astype(np.int64)
        label_bad = np.zeros(n, dtype=bool)
        classes = spec.classes
    else:
        raw = _labels_to_numpy(_concat(tables, spec.label_col))
        if spec.task is Task.TOP_LABEL:
            raw_pred = _labels_to_numpy(_concat(tables, spec.pred_label_col))
            keys = _sorted_label_keys(raw, raw_pred)
            classes = tuple(options.classes) if options.classes else tuple(keys)
            labels = map_labels(raw, classes)
            pred_labels = map_labels(raw_pred, classes)
            pbad = pred_labels < 0
            if pbad.any():
                problems.append(_Problem(spec.pred_label_col, "predicted labels not among the classes", pbad, f"check --classes, or {drop_fix}"))
        elif spec.task is Task.BINARY and len(spec.score_cols) == 1:
            classes = _binary_classes(spec.classes[0], raw, src, spec.label_col)
            labels = _binary_labels(raw, classes)
        else:
            classes = spec.classes
            labels = map_labels(raw, classes)
        label_bad = labels < 0
        if label_bad.any():
            unknown = sorted({_label_key(v) or "(missing)" for v in raw[label_bad][:1000]})[:5]
            problems.append(
                _Problem(
                    spec.label_col,
                    f"labels not among the classes [{', '.join(classes[:10])}{' ...' if len(classes) > 10 else ''}] "
                    f"(values: {', '.join(unknown)})",
                    label_bad,
                    f"check --label-col and the score column names (or --classes), or {drop_fix}",
                )
            )

    # score kind and ranges on the finite rows
    adjustments: list[Adjustment] = []
    good = ~nonfinite_rows
    kind, evidence = ScoreKind.PROBS, ("top-label confidence is a probability",)
    if good.any() and spec.task is not Task.TOP_LABEL:
        finite_scores = scores if not nonfinite_rows.any() else scores[good]
        kind, evidence = detect_score_kind(finite_scores, spec.task, spec.prefix_kind, options.score_kind, src, spec.score_cols, options.renormalize)
    if kind is ScoreKind.PROBS:
        out = (scores < -RANGE_TOL) | (scores > 1 + RANGE_TOL)
        for j, col in enumerate(spec.score_cols):
            if out[:, j].any():
                vals = scores[out[:, j], j]
                lo, hi = float(vals.min()), float(vals.max())
                problems.append(_Problem(
                    col, f"probabilities outside [0, 1] (min {fmt_beyond(lo, -RANGE_TOL) if lo < 0 else f'{lo:.4g}'}, "
                         f"max {fmt_beyond(hi, 1 + RANGE_TOL) if hi > 1 else f'{hi:.4g}'})", out[:, j],
                    f"if the column holds logits, rename it logit_<class> or pass --score-kind logits; otherwise fix the export, or {drop_fix}"))
        with np.errstate(invalid="ignore"):
            within = good[:, None] & ~out & ((scores < 0.0) | (scores > 1.0))
        if within.any():
            change = float(np.max(np.maximum(-scores[within], scores[within] - 1.0)))
            rows = int(within.any(axis=1).sum())
            adjustments.append(Adjustment(
                "clipped", rows, change,
                f"{rows:,} row{'s' if rows != 1 else ''} held probabilities outside [0, 1] by at most {change:.3g} "
                f"(within the tolerance {RANGE_TOL:g}); they were set to exactly 0 or 1",
            ))
        clip_probabilities(scores)  # within the tolerance: exactly 0 or 1 from here on (fit, audit and apply alike)
        if spec.task is Task.MULTICLASS or (spec.task is Task.BINARY and scores.shape[1] == 2):
            sums = scores.sum(axis=1)
            off = good & (np.abs(sums - 1.0) > ROW_SUM_TOL)
            if options.renormalize:
                ok = good & (sums > 0)
                before = scores[ok]
                scores[ok] = before / sums[ok, None]
                change = float(np.max(np.abs(scores[ok] - before))) if ok.any() else 0.0
                n_off = int((off & ok).sum())
                adjustments.append(Adjustment(
                    "renormalized", n_off, change,
                    f"--renormalize divided every probability row by its sum; {n_off:,} row{'s' if n_off != 1 else ''} "
                    f"summed to more than {ROW_SUM_TOL:g} away from 1"
                    + (f" (worst off by {fmt_beyond(float(np.max(np.abs(sums[off & ok] - 1.0))), ROW_SUM_TOL)})" if n_off else "")
                    + f"; the largest change of one probability is {change:.3g}",
                ))
                off = good & ~ok
            if off.any():
                worst = float(np.max(np.abs(sums[off] - 1.0)))
                problems.append(
                    _Problem(
                        ", ".join(spec.score_cols[:3]) + (" ..." if len(spec.score_cols) > 3 else ""),
                        f"probability rows not summing to 1 (tolerance {ROW_SUM_TOL:g}; worst is off by {fmt_beyond(worst, ROW_SUM_TOL)})",
                        off,
                        f"pass --renormalize to divide each row by its sum, or --score-kind logits if these are logits, or {drop_fix}",
                    )
                )

    dropped: dict[str, int] = {}
    if problems:
        if not options.drop_invalid:
            raise InputError(_format_problems(problems, origins))
        bad_rows = np.zeros(n, dtype=bool)
        for p in problems:
            dropped[p.what.split(" (")[0]] = int(p.mask.sum())
            bad_rows |= p.mask
        n_bad = int(bad_rows.sum())
        adjustments.append(Adjustment(
            "dropped", n_bad, None,
            f"--drop-invalid dropped {n_bad:,} of {n:,} rows: "
            + "; ".join(f"{int(p.mask.sum()):,} with {p.what} in column '{p.column}'" for p in problems)
            + (" (a row can have several problems)" if n_bad < sum(int(p.mask.sum()) for p in problems) else ""),
        ))
        keep = ~bad_rows
        if not keep.any():
            raise InputError(f"{src}: every row is invalid, so --drop-invalid leaves nothing to audit.\n" + _format_problems(problems, origins))
        scores, labels = scores[keep], labels[keep]
        if pred_labels is not None:
            pred_labels = pred_labels[keep]
        if ids is not None:
            ids = ids[keep]

    if spec.task is not Task.MULTILABEL:
        present = np.unique(labels)
        if present.size < 2:
            name = classes[int(present[0])] if present.size else "?"
            raise InputError(
                f"{src}, column '{spec.label_col}': every row{' left after --drop-invalid' if dropped else ''} has the label '{name}', so calibration cannot be measured "
                "against the other classes. Audit a sample that contains at least two classes."
            )

    probs, logits = scores_to_probs(scores, kind, spec.task)

    warnings: list[str] = []
    if spec.task is Task.MULTILABEL:
        none_pos = [c for c, s in zip(classes, labels.sum(axis=0)) if s == 0]
        if none_pos:
            warnings.append(f"{len(none_pos)} label(s) never present: {', '.join(none_pos[:5])}{' ...' if len(none_pos) > 5 else ''}")
    if dropped:
        warnings.append("dropped invalid rows (--drop-invalid): " + ", ".join(f"{v} with {k}" for k, v in dropped.items()))

    preds = Predictions(
        probs=probs,
        labels=labels,
        classes=tuple(classes),
        task=spec.task,
        score_kind=kind,
        logits=logits,
        pred_labels=pred_labels,
        score_kind_evidence=(*evidence, FLOAT32_EVIDENCE) if float32 and spec.task is not Task.TOP_LABEL else tuple(evidence),
    )
    return LoadedInput(preds, files, spec, dropped, tuple(warnings), ids, tuple(adjustments))


def _format_problems(problems: list[_Problem], origins: _Origins) -> str:
    head = f"invalid input ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"
    lines = [head]
    for p in problems:
        lines.append(f"- column '{p.column}': {p.what} in {origins.describe(p.mask)}. Fix: {p.fix}.")
    lines.append("Rows are numbered from 1, not counting the header.")
    return "\n".join(lines)
