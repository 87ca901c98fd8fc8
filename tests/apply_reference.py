"""The previous whole-table `calib apply` (kept as the tests' reference for the streaming apply): validation of raw
score columns (as loading validates them; which columns are picked by the library's ``score_columns``), the calibrated columns, and
the output encoding."""

from __future__ import annotations

import numpy as np

from calibcli.apply_stream import score_columns
from calibcli.calibrator_file import CalibratorFile
from calibcli.errors import InputError, UsageError
from calibcli.predictions import Predictions, ScoreKind, Task


def _first_rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(int(r) + 1) for r in rows[:5])
    return f"{rows.size} row{'s' if rows.size != 1 else ''} (row {shown}{' and more' if rows.size > 5 else ''})"


def predictions_for_apply(cf: CalibratorFile, scores: np.ndarray, cols: list[str], source: str,
                          score_kind: ScoreKind | None = None, renormalize: bool = False) -> Predictions:
    """Validated ``Predictions`` (without labels) of raw score columns, for ``transform``."""
    from calibcli.columns import prefix_kind
    from calibcli.loading import RANGE_TOL, ROW_SUM_TOL, detect_score_kind
    from calibcli.predictions import clip_probabilities, scores_to_probs

    cal = cf.calibrator
    bad = ~np.isfinite(scores)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        raise InputError(f"{source}, column '{cols[j]}': missing, NaN or infinite scores in {_first_rows(bad[:, j])}. "
                         "calib apply keeps every row, so fix the export (or filter those rows) first.")
    by_prefix = prefix_kind(cols)
    if by_prefix is None and score_kind is None:
        score_kind = cal.input_kind
    kind, evidence = detect_score_kind(scores, cal.task, by_prefix, score_kind, source, tuple(cols), renormalize)
    n = scores.shape[0]
    if kind is ScoreKind.PROBS:
        out = (scores < -RANGE_TOL) | (scores > 1 + RANGE_TOL)
        if out.any():
            j = int(np.flatnonzero(out.any(axis=0))[0])
            raise InputError(f"{source}, column '{cols[j]}': probabilities outside [0, 1] in {_first_rows(out[:, j])}. "
                             "If these are logits pass --score-kind logits.")
        scores = clip_probabilities(scores.copy())  # the loader's treatment, so fit and apply see the same numbers
        if cal.task is Task.MULTICLASS or (cal.task is Task.BINARY and scores.shape[1] == 2):
            sums = scores.sum(axis=1)
            if renormalize:
                scores = scores / np.where(sums > 0, sums, 1.0)[:, None]
            else:
                off = np.abs(sums - 1.0) > ROW_SUM_TOL
                if off.any():
                    raise InputError(f"{source}: probability rows not summing to 1 (tolerance {ROW_SUM_TOL:g}) in "
                                     f"{_first_rows(off)}. Pass --renormalize to divide each row by its sum.")
    probs, logits = scores_to_probs(scores, kind, cal.task)
    labels = np.zeros((n, len(cal.classes)), dtype=np.int64) if cal.task is Task.MULTILABEL else np.zeros(n, dtype=np.int64)
    return Predictions(probs, labels, cal.classes, cal.task, kind, logits, None, tuple(evidence))


def calibrate_tables(cf: CalibratorFile, tables: list, sources: list[str], score_cols: tuple[str, ...] | None = None,
                     score_kind: ScoreKind | None = None, renormalize: bool = False, replace: bool = False):
    """The input rows with calibrated probabilities added (or replacing the scores).

    All original columns and the row order are kept; several tables are stacked
    in order. New columns are ``p_cal_<class>`` (``replace``: the score columns
    themselves take the calibrated probabilities, ``logit_<c>`` renamed ``p_<c>``).

    Returns
    -------
    pyarrow.Table
    """
    import pyarrow as pa

    from calibcli.columns import CALIBRATED_PREFIX, strip_prefix
    from calibcli.loading import column_to_float

    names = tables[0].column_names
    for t, src in zip(tables[1:], sources[1:]):
        if t.column_names != names:
            raise InputError(f"{src}: its columns differ from {sources[0]} ({', '.join(t.column_names[:8])} vs "
                             f"{', '.join(names[:8])}); calib apply stacks files with the same columns. Apply them one at a time.")
    try:
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"cannot stack {', '.join(sources)}: {exc}. Apply them one at a time.") from None
    src = sources[0] if len(sources) == 1 else f"{sources[0]} (+{len(sources) - 1} more)"
    cols = score_columns(cf, names, src, score_cols)
    scores = np.empty((table.num_rows, len(cols)))
    for j, c in enumerate(cols):
        vals, bad = column_to_float(table.column(c))
        if bad is not None and bad.any():
            raise InputError(f"{src}, column '{c}': non-numeric scores in {_first_rows(bad)}. Write plain numbers.")
        scores[:, j] = vals
    preds = predictions_for_apply(cf, scores, cols, src, score_kind, renormalize)
    out = cf.calibrator.transform(preds).probs
    cal = cf.calibrator
    # which calibrated column goes with each score column
    class_idx = [1] if (cal.task is Task.BINARY and len(cols) == 1) else list(range(len(cols)))
    if replace:
        for j, c in enumerate(cols):
            base, kind = strip_prefix(c)
            new_name = f"p_{base}" if kind is ScoreKind.LOGITS else c
            if new_name != c and new_name in names:
                raise InputError(f"{src}: --replace would rename '{c}' to '{new_name}', which already exists. "
                                 "Drop --replace to add p_cal_ columns instead.")
            pos = table.column_names.index(c)
            table = table.set_column(pos, new_name, pa.array(out[:, class_idx[j]]))
        return table
    new = [f"{CALIBRATED_PREFIX}{cal.classes[k]}" for k in class_idx]
    clash = [c for c in new if c in names]
    if clash:
        raise InputError(f"{src}: already has column{'s' if len(clash) > 1 else ''} {', '.join(clash[:5])} (from an earlier "
                         "calib apply?). Drop them first, or pass --replace to overwrite the score columns instead.")
    for name, k in zip(new, class_idx):
        table = table.append_column(name, pa.array(out[:, k]))
    return table


def table_bytes(table, path: str) -> bytes:
    """``table`` encoded for ``path``'s extension: .parquet/.pq, .csv or .csv.gz."""
    import io

    lower = str(path).lower()
    buf = io.BytesIO()
    if lower.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        pq.write_table(table, buf)
        return buf.getvalue()
    if lower.endswith((".csv", ".csv.gz")):
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, buf)
        data = buf.getvalue()
        if lower.endswith(".gz"):
            import gzip

            data = gzip.compress(data, mtime=0)
        return data
    raise UsageError(f"-o {path}: unknown output format; end the name with .parquet, .pq, .csv or .csv.gz.")


__all__ = ["predictions_for_apply", "calibrate_tables", "table_bytes"]
