"""Pass 1's decisions: classes, task and score kind from the merged per-file states,
exactly as a whole-file check makes them; the problems (one ``InputError`` naming
file, column, first rows and fix, unless ``--drop-invalid``), the adjustments and
the warnings."""

from __future__ import annotations

import numpy as np

from calibcli.errors import InputError
from calibcli.predictions import ScoreKind, Task
from calibcli.validation.labels import binary_classes, class_table, key_text, sorted_texts
from calibcli.validation.options import Adjustment
from calibcli.validation.problems import DROP_FIX, FoundProblem, format_problems, places_of, union_places
from calibcli.validation.scan import Context, Decisions, FileScan, _grow
from calibcli.validation.scores import FLOAT32_EVIDENCE, RANGE_TOL, ROW_SUM_TOL, decide_score_kind, fmt_beyond


def _source_name(names) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} more)"


def decide(scans: list[FileScan], ctx: Context, names: tuple[str, ...], notes: tuple[str, ...] = ()) -> Decisions:
    """Classes, task and score kind from the merged pass-1 states; the problems (``InputError``
    unless ``--drop-invalid``), adjustments and warnings. ``names``: the files as messages name them."""
    spec, options, keys = ctx.spec, ctx.options, ctx.keys
    total = scans[0]
    for s in scans[1:]:
        total = total.merge(s)
    src = _source_name(names)
    logs = [s.log for s in scans]
    nkeys = len(keys)
    seen = np.flatnonzero(_grow(total.code_total, nkeys)).tolist()  # codes with rows (not those of an abandoned read)
    # classes
    lut = None
    if spec.task is Task.MULTILABEL:
        classes = tuple(spec.classes)
    elif spec.task is Task.TOP_LABEL:
        classes = tuple(options.classes) if options.classes else tuple(sorted_texts(key_text(keys.keys[c]) for c in seen if keys.keys[c] is not None))
        lut = class_table(keys.keys, classes, derived=not options.classes)
    elif ctx.validity == "unknown":
        texts = [key_text(keys.keys[c]) for c in seen if keys.keys[c] is not None]
        classes = binary_classes(spec.classes[0], texts, src, spec.label_col)
        lut = class_table(keys.keys, classes, derived=True, not_binary=classes[0] == f"not_{classes[1]}")
    else:
        classes = tuple(spec.classes)
        lut = class_table(keys.keys, classes, derived=False)
    # score kind
    kind, evidence = ScoreKind.PROBS, ("top-label confidence is a probability",)
    if total.ev_rows and spec.task is not Task.TOP_LABEL:
        dev = total.ev_dev if ctx.row_sums else None
        kind, evidence = decide_score_kind(total.ev_min, total.ev_max, dev, spec.task, spec.prefix_kind, options.score_kind, src,
                                           spec.score_cols, options.renormalize)
    if total.float32 and spec.task is not Task.TOP_LABEL:
        evidence = (*evidence, FLOAT32_EVIDENCE)
    # problems, in the order of the checks
    unknown_bad = [c for c in seen if ctx.validity == "unknown" and lut[c] < 0]
    problems = _problems(total, logs, ctx, classes, kind, unknown_bad)
    n = total.rows
    dropped: dict[str, int] = {}
    adjustments: list[Adjustment] = []
    if kind is ScoreKind.PROBS:
        if total.clip_rows:
            rows, change = total.clip_rows, total.clip_change
            adjustments.append(Adjustment(
                "clipped", rows, change,
                f"{rows:,} row{'s' if rows != 1 else ''} held probabilities outside [0, 1] by at most {change:.3g} "
                f"(within the tolerance {RANGE_TOL:g}); they were set to exactly 0 or 1",
            ))
        if ctx.row_sums and options.renormalize:
            n_off, change = total.renorm_off, total.renorm_change
            adjustments.append(Adjustment(
                "renormalized", n_off, change,
                f"--renormalize divided every probability row by its sum; {n_off:,} row{'s' if n_off != 1 else ''} "
                f"summed to more than {ROW_SUM_TOL:g} away from 1"
                + (f" (worst off by {fmt_beyond(total.renorm_worst, ROW_SUM_TOL)})" if n_off else "")
                + f"; the largest change of one probability is {change:.3g}",
            ))
    clean = _grow(total.clean.get(kind, np.zeros(0, np.int64)), nkeys)
    n_bad = 0
    if problems:
        if not options.drop_invalid:
            raise InputError(format_problems(problems, names))
        for p in problems:
            dropped[p.short] = p.count
        n_bad = total.bad_rows.get(kind, 0) + int(sum(clean[c] for c in unknown_bad))
        adjustments.append(Adjustment(
            "dropped", n_bad, None,
            f"--drop-invalid dropped {n_bad:,} of {n:,} rows: "
            + "; ".join(f"{p.count:,} with {p.what} in column '{p.column}'" for p in problems)
            + (" (a row can have several problems)" if n_bad < sum(p.count for p in problems) else ""),
        ))
        if n_bad >= n:
            raise InputError(f"{src}: every row is invalid, so --drop-invalid leaves nothing to audit.\n" + format_problems(problems, names))
    if spec.task is not Task.MULTILABEL:
        present = sorted({int(lut[c]) for c in np.flatnonzero(clean).tolist() if lut[c] >= 0})
        if len(present) < 2:
            name = classes[present[0]] if present else "?"
            raise InputError(
                f"{src}, column '{spec.label_col}': every row{' left after --drop-invalid' if dropped else ''} has the label '{name}', so calibration cannot be measured "
                "against the other classes. Audit a sample that contains at least two classes."
            )
    warnings: list[str] = list(notes)
    if spec.task is Task.MULTILABEL:
        pos = total.ml_pos.get(kind, np.zeros(len(classes), np.int64))
        none_pos = [c for c, s in zip(classes, pos) if s == 0]
        if none_pos:
            warnings.append(f"{len(none_pos)} label(s) never present: {', '.join(none_pos[:5])}{' ...' if len(none_pos) > 5 else ''}")
    if dropped:
        warnings.append("dropped invalid rows (--drop-invalid): " + ", ".join(f"{v} with {k}" for k, v in dropped.items()))
    return Decisions(tuple(classes), spec.task, kind, tuple(evidence), lut, bool(problems), ctx.row_sums,
                     options.renormalize, n - n_bad, dropped, tuple(adjustments), tuple(warnings))


def _problems(total: FileScan, logs, ctx: Context, classes, kind: ScoreKind, unknown_bad: list[int]) -> list[FoundProblem]:
    spec = ctx.spec
    cols = spec.score_cols
    out: list[FoundProblem] = []

    def add(key: str, column: str, what: str, fix: str) -> None:
        where = places_of(logs, key)
        if where:
            out.append(FoundProblem(column, what, fix, where))

    for j, c in enumerate(cols):
        add(f"nonnum:{j}", c, "non-numeric scores", f"write plain numbers in this column, or {DROP_FIX}")
    for j, c in enumerate(cols):
        add(f"nonfinite:{j}", c, "missing, NaN or infinite scores", f"fix the model export, or {DROP_FIX}")
    if spec.task is Task.MULTILABEL:
        for j, c in enumerate(spec.label_cols):
            add(f"ml:{j}", c, "labels other than 0 and 1", f"use 1 where the label is present and 0 where not, or {DROP_FIX}")
    else:
        if spec.pred_label_col:
            add("pred", spec.pred_label_col, "predicted labels not among the classes", f"check --classes, or {DROP_FIX}")
        keys = ["label"] + [f"key:{c}" for c in unknown_bad]
        where = union_places(logs, keys)
        if where:
            bad = sorted(total.bad_codes | set(unknown_bad))
            unknown = sorted({key_text(ctx.keys.keys[c]) or "(missing)" for c in bad})[:5]
            out.append(FoundProblem(
                spec.label_col,
                f"labels not among the classes [{', '.join(classes[:10])}{' ...' if len(classes) > 10 else ''}] "
                f"(values: {', '.join(unknown)})",
                f"check --label-col and the score column names (or --classes), or {DROP_FIX}", where))
    if kind is ScoreKind.PROBS:
        for j, c in enumerate(cols):
            lo, hi = float(total.range_lo[j]), float(total.range_hi[j])
            add(f"range:{j}", c,
                f"probabilities outside [0, 1] (min {fmt_beyond(lo, -RANGE_TOL) if lo < 0 else f'{lo:.4g}'}, "
                f"max {fmt_beyond(hi, 1 + RANGE_TOL) if hi > 1 else f'{hi:.4g}'})",
                f"if the column holds logits, rename it logit_<class> or pass --score-kind logits; otherwise fix the export, or {DROP_FIX}")
        if ctx.row_sums:
            add("rowsum", ", ".join(cols[:3]) + (" ..." if len(cols) > 3 else ""),
                f"probability rows not summing to 1 (tolerance {ROW_SUM_TOL:g}; worst is off by {fmt_beyond(total.worst_sum, ROW_SUM_TOL)})",
                f"pass --renormalize to divide each row by its sum, or --score-kind logits if these are logits, or {DROP_FIX}")
    return out
