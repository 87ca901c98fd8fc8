"""From record batches to validated rows, one batch at a time.

1. :class:`Decoder`: an Arrow record batch -> :class:`RawBatch`, the compact form
   (scores in the file's float dtype, labels as int32 codes of a
   :class:`~calibcli.validation.labels.KeyTable`), which is what a source caches.
2. :class:`FileScan` (pass 1, one per file, mergeable): the problems with their
   first places, score-kind evidence, label counts, what clipping and
   renormalising would change, all computed for every score kind still possible.
3. :func:`calibcli.validation.decide.decide`: classes, task and score kind exactly
   as a whole-file check decides them, the problems (an ``InputError`` unless
   ``--drop-invalid``), the adjustments and warnings -> :class:`Decisions`.
4. :func:`convert`: a raw batch -> validated ``Predictions`` of the rows kept.

Each check exists once, here and in :mod:`calibcli.validation.scores`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calibcli import kernels
from calibcli.kernels.evidence import score_evidence
from calibcli.predictions import LazyPredictions, Predictions, ScoreKind, Task, clip_probabilities, scores_to_probs
from calibcli.stats.problems import ProblemLog
from calibcli.validation.columns import ColumnSpec
from calibcli.validation.labels import KeyTable, class_table
from calibcli.validation.options import Adjustment, LoadOptions
from calibcli.validation.problems import MAX_ROWS_SHOWN
from calibcli.validation.scores import (
    ROW_SUM_TOL,
    column_to_float,
    is_float32,
    out_of_range,
    pairwise_row_sums,
    possible_kinds,
    renormalize_rows,
    row_sums_checked,
    within_tolerance,
)

ID_BYTES = 80  # bytes per cached row id (a Python str), for the memory budget
BAD, UNKNOWN = -1, -2  # label validity before the classes are known
INTERLEAVE_ROWS = 8192  # rows per block when the score columns are interleaved into a (n, K) batch


@dataclass
class RawBatch:
    """Decoded rows of one record batch, before validation.

    Attributes
    ----------
    file : position of the file in the input order.
    start : index (0-based, within the file) of the first row.
    scores : (n, m) float32 or float64; NaN where missing or not a number.
    labels : (n,) int32 label codes, or (n, K) int8 multilabel 0/1 (-1: neither).
    pred : (n,) int32 codes of the predicted labels (top-label files).
    ids : (n,) ``--id-col`` values as text (object), or None.
    nonnum : (n, m) bool, cells that were not numbers (pass 1 only; not cached).
    float32 : the score columns are stored as float32 (or float16).
    columns : the score columns as decoded (pass 1 only; not cached).
    extra : the ``LoadOptions.extra_cols`` columns as Arrow arrays (``--by``), or None.
    """

    file: int
    start: int
    scores: np.ndarray
    labels: np.ndarray | None
    pred: np.ndarray | None = None
    ids: np.ndarray | None = None
    nonnum: np.ndarray | None = None
    float32: bool = False
    columns: list | None = None
    extra: dict | None = None

    @property
    def n(self) -> int:
        return int(self.scores.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the cached form (ids estimated)."""
        total = self.scores.nbytes
        for a in (self.labels, self.pred):
            if a is not None:
                total += a.nbytes
        if self.ids is not None:
            total += self.ids.size * ID_BYTES
        for a in (self.extra or {}).values():
            total += a.nbytes
        return int(total)

    def compact(self) -> "RawBatch":
        """The form kept between passes (without the pass-1 mask)."""
        return RawBatch(self.file, self.start, self.scores, self.labels, self.pred, self.ids, None, self.float32, None, self.extra)


class Decoder:
    """Arrow record batches -> :class:`RawBatch` for one column spec."""

    def __init__(self, spec: ColumnSpec, id_col: str | None, keys: KeyTable, extra_cols: tuple[str, ...] = ()):
        self.spec = spec
        self.id_col = id_col
        self.keys = keys
        self.extra_cols = tuple(extra_cols)
        self.columns = list(spec.needed) + ([id_col] if id_col and id_col not in spec.needed else [])
        self.columns += [c for c in dict.fromkeys(self.extra_cols) if c not in self.columns]
        self.numeric = tuple(spec.score_cols) + tuple(spec.label_cols)

    def decode(self, rb, file: int, start: int, display: str) -> RawBatch:
        names = rb.schema.names
        col = lambda name: rb.column(names.index(name))  # noqa: E731
        spec = self.spec
        n = rb.num_rows
        values, bads, f32 = [], [], []
        for c in spec.score_cols:
            v, bad = column_to_float(col(c), keep_float32=True)
            values.append(v)
            bads.append(bad)
            f32.append(is_float32(col(c).type))
        dtype = np.float32 if all(v.dtype == np.float32 for v in values) else np.float64
        scores = np.empty((n, len(values)), dtype=dtype)
        for s in range(0, n, INTERLEAVE_ROWS):  # a block of rows at a time: its rows stay in cache while filled
            block = scores[s:s + INTERLEAVE_ROWS]
            for j, v in enumerate(values):
                block[:, j] = v[s:s + INTERLEAVE_ROWS]
        nonnum = None
        if any(b is not None and b.any() for b in bads):
            nonnum = np.zeros((n, len(values)), dtype=bool)
            for j, b in enumerate(bads):
                if b is not None:
                    nonnum[:, j] = b
        pred = None
        if spec.task is Task.MULTILABEL:
            labels = np.empty((n, len(spec.label_cols)), dtype=np.int8)
            for j, c in enumerate(spec.label_cols):
                v, _ = column_to_float(col(c))
                labels[:, j] = np.where(v == 1.0, 1, np.where(v == 0.0, 0, -1))
        elif spec.label_col is None:  # scores only (calib apply)
            labels = None
        else:
            labels = self.keys.encode(col(spec.label_col), display, spec.label_col)
            if spec.pred_label_col:
                pred = self.keys.encode(col(spec.pred_label_col), display, spec.pred_label_col)
        ids = None
        if self.id_col:
            ids = np.array([None if v is None else str(v) for v in col(self.id_col).to_pylist()], dtype=object)
        extra = {c: col(c) for c in self.extra_cols} if self.extra_cols else None
        return RawBatch(file, start, scores, labels, pred, ids, nonnum, any(f32), values, extra)


class Context:
    """What pass 1 knows before reading a row: the spec, the options, which score kinds
    remain possible, and which label codes are valid (when the classes are fixed)."""

    def __init__(self, spec: ColumnSpec, options: LoadOptions, keys: KeyTable):
        self.spec, self.options, self.keys = spec, options, keys
        self.kinds = possible_kinds(spec.task, spec.prefix_kind, options.score_kind)
        self.row_sums = row_sums_checked(spec.task, len(spec.score_cols))
        task = spec.task
        if task is Task.MULTILABEL:
            self.validity = "none"
        elif task is Task.TOP_LABEL:
            self.validity = "fixed" if options.classes else "present"
        elif task is Task.BINARY and len(spec.score_cols) == 1:
            self.validity = "unknown"  # the classes come from the label values
        else:
            self.validity = "fixed"
        self._known = np.empty(0, dtype=np.int64)

    @property
    def fixed_classes(self) -> tuple[str, ...]:
        return tuple(self.options.classes) if self.spec.task is Task.TOP_LABEL else tuple(self.spec.classes)

    def known(self) -> np.ndarray:
        """Per label code: its class index when the classes are fixed, BAD, or UNKNOWN (or 0 for 'any present value')."""
        n = len(self.keys)
        if self._known.size < n:
            new = self.keys.keys[self._known.size:n]
            if self.validity == "fixed":
                add = class_table(new, self.fixed_classes, derived=False)
            elif self.validity == "present":
                add = np.array([BAD if k is None else 0 for k in new], dtype=np.int64)
            else:
                add = np.full(len(new), UNKNOWN, dtype=np.int64)
            self._known = np.concatenate([self._known, add])
        return self._known


def _grow(a: np.ndarray, n: int) -> np.ndarray:
    if a.size >= n:
        return a
    out = np.zeros(n, dtype=a.dtype)
    out[: a.size] = a
    return out


def _add_counts(a: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    a = _grow(a, n)
    if codes.size:
        a[: n] += np.bincount(codes, minlength=n)[: n]
    return a


@dataclass
class FileScan:
    """Pass-1 state of the rows of one file (mergeable; a merged scan has file = -1).

    Everything the checks need that depends on the score kind is kept for each kind
    still possible (``clean``, ``bad_rows``, ``ml_pos``), so the decision can come last.
    """

    file: int
    m: int
    k_ml: int = 0
    rows: int = 0
    float32: bool = False
    log: ProblemLog = field(default_factory=lambda: ProblemLog(MAX_ROWS_SHOWN))
    ev_rows: int = 0  # score-kind evidence over the rows whose scores are all finite:
    ev_min: float = float("inf")  # smallest and largest score,
    ev_max: float = float("-inf")
    ev_dev: float = float("-inf")  # largest |row sum - 1| (where rows must sum to 1)
    range_lo: np.ndarray = None
    range_hi: np.ndarray = None
    worst_sum: float = float("-inf")
    clip_rows: int = 0
    clip_change: float = 0.0
    renorm_off: int = 0
    renorm_worst: float = float("-inf")
    renorm_change: float = 0.0
    code_total: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    clean: dict = field(default_factory=dict)  # kind -> per-code rows without other problems
    bad_rows: dict = field(default_factory=dict)  # kind -> rows with a problem (label codes of unknown validity aside)
    ml_pos: dict = field(default_factory=dict)  # kind -> (K,) positives among rows without problems
    bad_codes: set = field(default_factory=set)

    def __post_init__(self):
        if self.range_lo is None:
            self.range_lo = np.full(self.m, np.inf)
            self.range_hi = np.full(self.m, -np.inf)

    def _log(self, key: str, start: int, mask: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        if idx.size:
            self.log.update(key, self.file, start + idx[:MAX_ROWS_SHOWN], count=idx.size)

    def update(self, raw: RawBatch, ctx: Context) -> "FileScan":
        """Add one raw batch (rows in file order)."""
        spec, s, n = ctx.spec, raw.scores, raw.n
        self.rows += n
        self.float32 = self.float32 or raw.float32
        # the compiled one-pass evidence (None: not used); when every score is finite it is the whole check
        # (the same bits as the numpy code below: used once numba's first kernel is loaded, never waiting for it;
        # see kernels.preload)
        fast = score_evidence(s, ctx.row_sums) if spec.task is not Task.TOP_LABEL and kernels.ready() else None
        fast = fast if fast is not None and fast[0] else None
        if fast is not None:
            all_finite = True
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                all_finite = bool(np.isfinite(s.sum()))  # one reduction; NaN/inf (or overflow) falls through
        good = None
        rowbad = np.zeros(n, dtype=bool)
        if not all_finite:
            finite = np.isfinite(s)
            good = finite.all(axis=1)
            for j in range(s.shape[1]):
                if raw.nonnum is not None:
                    self._log(f"nonnum:{j}", raw.start, raw.nonnum[:, j])
            for j in range(s.shape[1]):
                m = ~finite[:, j] if raw.nonnum is None else ~finite[:, j] & ~raw.nonnum[:, j]
                self._log(f"nonfinite:{j}", raw.start, m)
            rowbad |= ~good
        if fast is not None:
            self.ev_rows += n
            self.ev_min, self.ev_max, self.ev_dev = min(self.ev_min, fast[1]), max(self.ev_max, fast[2]), max(self.ev_dev, fast[3])
        elif spec.task is not Task.TOP_LABEL:
            self._evidence(raw, good, ctx)
        codes = None
        if spec.task is Task.MULTILABEL:
            lab = raw.labels
            for j in range(lab.shape[1]):
                b = lab[:, j] < 0
                if b.any():
                    self._log(f"ml:{j}", raw.start, b)
                    rowbad |= b
        elif raw.labels is not None:
            codes = raw.labels
            known = ctx.known()
            if raw.pred is not None:
                pbad = known[raw.pred] == BAD
                if pbad.any():
                    self._log("pred", raw.start, pbad)
                    rowbad |= pbad
            lbad = known[codes] == BAD
            if lbad.any():
                self._log("label", raw.start, lbad)
                self.bad_codes |= set(np.unique(codes[lbad]).tolist())
                rowbad |= lbad
            if ctx.validity == "unknown":
                self._places_by_code(codes, raw.start)
        bad_by_kind = {ScoreKind.LOGITS: rowbad}
        if ScoreKind.PROBS in ctx.kinds:
            bad_by_kind[ScoreKind.PROBS] = rowbad | self._probability_checks(s, good, raw.start, ctx)
        nkeys = len(ctx.keys)
        if codes is not None:
            self.code_total = _add_counts(self.code_total, codes, nkeys)
            if raw.pred is not None and ctx.validity == "present":
                # a top-label file's classes are every label and every predicted label (a class may be
                # predicted without being any row's true label: support 0)
                self.code_total = _add_counts(self.code_total, raw.pred, nkeys)
        for kind in ctx.kinds:
            rb = bad_by_kind[kind]
            any_bad = bool(rb.any())
            self.bad_rows[kind] = self.bad_rows.get(kind, 0) + int(rb.sum())
            if codes is not None:
                self.clean[kind] = _add_counts(self.clean.get(kind, np.zeros(0, np.int64)), codes[~rb] if any_bad else codes, nkeys)
            elif spec.task is Task.MULTILABEL:
                lab = raw.labels[~rb] if any_bad else raw.labels
                self.ml_pos[kind] = self.ml_pos.get(kind, np.zeros(lab.shape[1], np.int64)) + (lab == 1).sum(axis=0)
        return self

    def _evidence(self, raw: RawBatch, good: np.ndarray | None, ctx: Context) -> None:
        """Range and worst row-sum deviation of the rows whose scores are all finite."""
        s = raw.scores if good is None else raw.scores[good]
        if not s.shape[0]:
            return
        self.ev_rows += s.shape[0]
        self.ev_min = min(self.ev_min, float(s.min()))
        self.ev_max = max(self.ev_max, float(s.max()))
        if ctx.row_sums:
            cols = raw.columns if (good is None and raw.columns is not None) else [s[:, j] for j in range(s.shape[1])]
            self.ev_dev = max(self.ev_dev, float(np.max(np.abs(pairwise_row_sums(cols) - 1.0))))

    def _places_by_code(self, codes: np.ndarray, start: int) -> None:
        counts = np.bincount(codes)
        for c in np.flatnonzero(counts).tolist():
            key = f"key:{c}"
            have = self.log.places.get(key)
            if have is not None and len(have) >= MAX_ROWS_SHOWN:
                self.log.update(key, self.file, [], count=int(counts[c]))
            else:
                idx = np.flatnonzero(codes == c)
                self.log.update(key, self.file, start + idx[:MAX_ROWS_SHOWN], count=idx.size)

    def _probability_checks(self, s: np.ndarray, good: np.ndarray | None, start: int, ctx: Context) -> np.ndarray:
        """Range, clipping and row-sum checks as if the scores were probabilities; the rows they make invalid."""
        w = np.array(s, dtype=np.float64)
        n = w.shape[0]
        g = np.ones(n, dtype=bool) if good is None else good
        out = out_of_range(w)
        bad = np.zeros(n, dtype=bool)
        if out.any():
            for j in np.flatnonzero(out.any(axis=0)).tolist():
                self._log(f"range:{j}", start, out[:, j])
                vals = w[out[:, j], j]
                self.range_lo[j] = min(self.range_lo[j], float(vals.min()))
                self.range_hi[j] = max(self.range_hi[j], float(vals.max()))
            bad |= out.any(axis=1)
        rows, change = within_tolerance(w, g, out)
        self.clip_rows += rows
        self.clip_change = max(self.clip_change, change)
        clip_probabilities(w)
        if ctx.row_sums:
            sums = w.sum(axis=1)
            with np.errstate(invalid="ignore"):
                off = g & (np.abs(sums - 1.0) > ROW_SUM_TOL)
            if ctx.options.renormalize:
                ok, change = renormalize_rows(w, sums, g)
                offok = off & ok
                if offok.any():
                    self.renorm_off += int(offok.sum())
                    self.renorm_worst = max(self.renorm_worst, float(np.max(np.abs(sums[offok] - 1.0))))
                self.renorm_change = max(self.renorm_change, change)
                off = g & ~ok
            if off.any():
                self._log("rowsum", start, off)
                self.worst_sum = max(self.worst_sum, float(np.max(np.abs(sums[off] - 1.0))))
                bad |= off
        return bad

    def merge(self, other: "FileScan") -> "FileScan":
        """The state of the rows of both (a new object)."""
        out = FileScan(-1, self.m, self.k_ml)
        out.rows = self.rows + other.rows
        out.float32 = self.float32 or other.float32
        out.log = self.log.merge(other.log)
        out.ev_rows = self.ev_rows + other.ev_rows
        out.ev_min, out.ev_max = min(self.ev_min, other.ev_min), max(self.ev_max, other.ev_max)
        out.ev_dev = max(self.ev_dev, other.ev_dev)
        out.range_lo = np.minimum(self.range_lo, other.range_lo)
        out.range_hi = np.maximum(self.range_hi, other.range_hi)
        out.worst_sum = max(self.worst_sum, other.worst_sum)
        out.clip_rows = self.clip_rows + other.clip_rows
        out.clip_change = max(self.clip_change, other.clip_change)
        out.renorm_off = self.renorm_off + other.renorm_off
        out.renorm_worst = max(self.renorm_worst, other.renorm_worst)
        out.renorm_change = max(self.renorm_change, other.renorm_change)
        n = max(self.code_total.size, other.code_total.size)
        out.code_total = _grow(self.code_total, n) + _grow(other.code_total, n)
        for kind in set(self.bad_rows) | set(other.bad_rows):
            out.bad_rows[kind] = self.bad_rows.get(kind, 0) + other.bad_rows.get(kind, 0)
        for kind in set(self.clean) | set(other.clean):
            a, b = self.clean.get(kind, np.zeros(0, np.int64)), other.clean.get(kind, np.zeros(0, np.int64))
            k = max(a.size, b.size)
            out.clean[kind] = _grow(a, k) + _grow(b, k)
        for kind in set(self.ml_pos) | set(other.ml_pos):
            parts = [d[kind] for d in (self.ml_pos, other.ml_pos) if kind in d]
            out.ml_pos[kind] = parts[0] + parts[1] if len(parts) == 2 else parts[0].copy()
        out.bad_codes = self.bad_codes | other.bad_codes
        return out


@dataclass(frozen=True)
class Decisions:
    """What pass 1 decided: how every later batch is converted, and what the reports say."""

    classes: tuple[str, ...]
    task: Task
    kind: ScoreKind
    evidence: tuple[str, ...]
    lut: np.ndarray | None  # label code -> class index (-1: no class)
    drop: bool  # some rows are invalid and are dropped (--drop-invalid)
    row_sums: bool
    renormalize: bool
    n_rows: int  # rows kept
    dropped: dict
    adjustments: tuple[Adjustment, ...]
    warnings: tuple[str, ...]


def convert(raw: RawBatch, d: Decisions, file_offset: int) -> tuple[Predictions, np.ndarray, np.ndarray | None, dict | None] | None:
    """Validated predictions of the rows of ``raw`` that are kept, their global row keys
    (``file_offset`` + row within the file), ids and extra columns; None when no row is kept."""
    lazy = d.kind is ScoreKind.LOGITS and d.task is not Task.TOP_LABEL  # read only below: float32 stays float32
    s = raw.scores if lazy and raw.scores.dtype in (np.float32, np.float64) else np.array(raw.scores, dtype=np.float64)
    n = s.shape[0]
    bad = None
    if d.drop:
        good = np.isfinite(s).all(axis=1)
        bad = ~good
        if d.task is Task.MULTILABEL:
            bad |= (raw.labels < 0).any(axis=1)
        else:
            bad |= d.lut[raw.labels] < 0
            if raw.pred is not None:
                bad |= d.lut[raw.pred] < 0
    else:
        good = np.ones(n, dtype=bool)
    if d.kind is ScoreKind.PROBS:
        if d.drop:
            bad |= out_of_range(s).any(axis=1)
        clip_probabilities(s)
        if d.row_sums and (d.renormalize or d.drop):
            sums = s.sum(axis=1)
            if d.renormalize:
                ok, _ = renormalize_rows(s, sums, good)
                off = good & ~ok
            else:
                with np.errstate(invalid="ignore"):
                    off = good & (np.abs(sums - 1.0) > ROW_SUM_TOL)
            if d.drop:
                bad |= off
    rows = file_offset + raw.start + np.arange(n, dtype=np.int64)
    ids, extra = raw.ids, raw.extra
    pred = None
    if raw.labels is None or (d.task is Task.MULTILABEL and raw.labels.shape[1] != len(d.classes)):
        # scores only (calib apply): placeholder labels
        labels = np.zeros((n, len(d.classes)) if d.task is Task.MULTILABEL else n, dtype=np.int64)
    elif d.task is Task.MULTILABEL:
        labels = np.maximum(raw.labels, 0).astype(np.int64)
    else:
        labels = d.lut[raw.labels]
        if raw.pred is not None:
            pred = d.lut[raw.pred]
    if bad is not None and bad.any():
        keep = ~bad
        if not keep.any():
            return None
        s, labels, rows = s[keep], labels[keep], rows[keep]
        pred = None if pred is None else pred[keep]
        ids = None if ids is None else ids[keep]
        extra = None if extra is None else {c: a.filter(keep) for c, a in extra.items()}
    if d.kind is ScoreKind.LOGITS and d.task is not Task.TOP_LABEL:  # softmax on first use of probs: passes that need only logits skip it
        preds = LazyPredictions(s, labels, d.classes, d.task, pred, d.evidence)
    else:
        probs, logits = scores_to_probs(s, d.kind, d.task)
        preds = Predictions(probs, labels, d.classes, d.task, d.kind, logits, pred, d.evidence)
    return preds, rows, ids, extra
