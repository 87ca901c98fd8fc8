"""Hypothesis strategies that turn the seeds into hostile inputs and command lines.

Layers, each optional: table mutations (cells, columns, rows, labels), a file
format and its dialect (CSV delimiter, quoting, line endings, encoding, gzip;
Parquet types; other extensions), byte mutations (flips, truncation, insertions
of non-UTF-8 bytes), then the command line (options with odd values, gate rules),
a config file and ``CALIB_*`` environment variables.

Every choice is an index or a ``sampled_from`` so that hypothesis shrinks a
failure to a small, readable reproducer (see ``Case.describe``).
"""

from __future__ import annotations

import gzip
import io
import json
import math
from functools import lru_cache

from hypothesis import strategies as st

from fuzz.case import Case, JsonEdit
from fuzz.seeds import Seed, load_seeds

# ------------------------------------------------------------------ value pools

CP1252_DASH = b"\x96"  # an en dash in cp1252: the classic "missing" marker from Excel exports

#: weird cell values: text, numbers and raw (possibly non-UTF-8) bytes
CELL_VALUES: list[object] = [
    "", None, "nan", "NaN", "NA", "null", "None", "inf", "-inf", "Infinity", "+inf", "1e308", "-1e308", "1e309",
    "5e-324", "1e-400", "0", "-0", "1", "1.0", "1.0001", "1.00009", "-0.5", "2", "100", "abc", " 0.5", "0.5 ", "0,5",
    "0x1p-3", "1_000", "True", "false", "1/2", "50%", "\u2013", "\u00e9", "\u65e5\u672c", "\U0001F600", "\x00",
    "0." + "1" * 300, "1" * 400, "'0.5'", "\"0.5\"", "0.5\n0.5", "=1+1",
    CP1252_DASH, b"\xff", b"\xe9", b"\xc3", b"\x80\x81", b"\xef\xbb\xbf", b"0.5\x00",
    float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 5e-324, 0.0, -0.0, 1.0, 0.5, 2.0, -1.0, 1e-17,
    0, 1, 2, -1, 2**63, 10**30, True, False,
]

#: label values of mixed types
LABEL_VALUES: list[object] = [
    0, 1, 2, -1, 99, 2**63, 0.0, 1.0, 1.5, float("nan"), float("inf"), -float("inf"), True, False, "0", "1", "1.0",
    "cat", "Cat", " cat", "cat ", "dog", "p_cat", "label", "", None, "nan", "\u00e9t\u00e9", "\U0001F408", CP1252_DASH,
    b"\xffcat", b"c\xe4t", "a,b", "a\"b", "a\nb", "0x1", "1e0",
]

ODD_FLOATS = [
    "0", "-0", "0.05", "0.5", "1", "-1", "nan", "NaN", "inf", "-inf", "1e308", "1e-320", "2", "abc", "", "1e999",
    "0x10", "1_0", "\u0661", " 0.1", "0.1%", "+0.1", ".5",
]
ODD_INTS = ["0", "1", "2", "3", "15", "-1", "10000", "10001", "2147483648", "18446744073709551617", "1.5", "abc", "",
            "\u0663", "1e3", " 5", "-0"]
SMALL_INTS = ["0", "1", "2", "3", "5", "10", "15", "100"]

METRICS = ["ece", "classwise_ece", "class_ece", "mce", "brier", "nll", "accuracy", "samples", "ece_increase",
           "classwise_ece_increase", "class_ece_increase", "mce_increase", "brier_increase", "nll_increase",
           "accuracy_decrease"]
BAD_METRICS = ["ECE", "Ece", "foo", "", "ece_", "ece.x", "__class__", "ece ece", "ecе", "max-ece", "1", "ece()",
               "classwise-ece"]
OPS = [">", ">=", "<", "<=", "==", "=", "!=", "=>", "<>", "", ">>", " > ", "\u2265"]
RULE_NUMBERS = ODD_FLOATS + ["0.03", "1e3", "5.", "1/2", "0.05 # c", "0.05 and 1", "-", "e", "1e", "0.1.2",
                             "9" * 400]

#: options of calib audit that set gate rules, and those that change how rules are evaluated or reported
RULE_OPTIONS = frozenset({
    "--max-ece", "--max-classwise-ece", "--max-class-ece", "--max-mce", "--max-brier", "--max-nll", "--min-accuracy",
    "--min-samples", "--fail-if", "--warn-if", "--max-ece-increase", "--max-classwise-ece-increase",
    "--max-brier-increase", "--max-nll-increase", "--max-accuracy-decrease",
})
RULE_CONTEXT = frozenset({
    "--strict", "--on", "--gate-seed", "--gate-replicates", "--baseline", "--id-col", "--format", "--json-out",
    "--md-out", "--junit-out", "-q", "--no-calibration", "--ci-summary", "--no-ci-summary", "--per-file",
})
CALIBRATORS = ["temperature", "vector", "platt", "isotonic", "histogram"]
OBJECTIVES = ["cost", "f1", "fbeta", "youden", "precision", "recall", "flag-rate", "review-band"]
TASKS = ["binary", "multiclass", "multilabel", "top_label"]
NAME_SUFFIXES = [".csv", ".csv", ".csv", ".CSV", ".tsv", ".txt", "", ".csv.gz", ".gz", ".parquet", ".pq", ".json",
                 ".jsonl", ".feather", ".arrow", ".npz", ".zip", ".xlsx"]

# ------------------------------------------------------------------ tables


def _chance(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws. Hypothesis favours the first of ``sampled_from``, so the
    common case comes first (``integers(0, n - 1) == 0`` would fire far more often than 1/n)."""
    return st.sampled_from([False] * (n - 1) + [True])


def _mutable(seed: Seed) -> tuple[list[str], list[list[object]]]:
    return list(seed.columns), [list(r) for r in seed.rows]


def _pick(items, index: int):
    return items[index % len(items)] if items else None


def _text(name: object) -> str:
    """A column name as text (a renamed column may hold raw bytes)."""
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def _label_cols(cols: list, seed: Seed) -> list[int]:
    idx = [i for i, c in enumerate(map(_text, cols)) if c == seed.label_col or c.startswith("y_") or c == "pred_label"]
    return idx or list(range(len(cols)))


def _score_cols(cols: list[str], seed: Seed) -> list[int]:
    idx = [i for i in range(len(cols)) if i not in _label_cols(cols, seed)]
    return idx or list(range(len(cols)))


def _renamed(name: object, how: int, cols: list, classes: tuple[str, ...]) -> object:
    name = _text(name)
    variants: list[object] = [
        name.upper(), name + " ", " " + name, name.replace("_", "-"), name.replace("p_", "logit_", 1),
        name.replace("p_", "prob_", 1), name.replace("logit_", "p_", 1), "p_" + name, "", "p_", "logit_", "y_", "label",
        "Label", "target", "y", "class", "truth", "confidence", "pred_label", _pick(cols, how + 1), name + "\u00e9",
        name.encode() + b"\xe9", "p_\U0001F408", "p_a,b", 'p_"q"', "p_" + "x" * 300, name + ".1", "p_cat.1", "id",
        "p_" + (classes[0] if classes else "x"),
    ]
    return _pick(variants, how)


@st.composite
def mutated_table(draw, seed: Seed, values_only: bool = False) -> tuple[list[str], list[list[object]], list[str]]:
    """The seed's table after up to four mutations, with a note per mutation.

    ``values_only``: change values and rows, never the columns (the file still parses).
    """
    cols, rows = _mutable(seed)
    notes: list[str] = []
    n_ops = draw(st.integers(0, 4))
    for _ in range(n_ops):
        op = draw(st.sampled_from([
            "cell", "cell", "cell", "label_cell", "label_cell", "column_value", "rename", "duplicate", "drop_column",
            "add_column", "swap_columns", "truncate_rows", "duplicate_rows", "scale", "labels_same", "labels_mixed",
            "to_logits", "identical_scores",
        ] if not values_only else [
            "scale", "cell", "label_cell", "truncate_rows", "duplicate_rows", "labels_same", "labels_mixed",
            "to_logits", "identical_scores",
        ]))
        if not rows and op not in ("rename", "duplicate", "drop_column", "add_column", "swap_columns"):
            continue
        if values_only and op in ("cell", "label_cell") and draw(st.booleans()):
            op = "number" if op == "cell" else "label_swap"
        if op == "number":  # a numeric value in a score cell, no text
            c = _pick(_score_cols(cols, seed), draw(st.integers(0, 50)))
            r = draw(st.integers(0, 10_000)) % len(rows)
            rows[r][c] = v = draw(st.sampled_from([0.0, 1.0, 1e-300, 1 - 1e-16, 0.5, 1e308, -1e308, 1.0001, -1e-9]))
            notes.append(f"row {r} {cols[c]!r} = {v!r}")
            continue
        if op == "label_swap":  # another valid label
            c = _pick(_label_cols(cols, seed), 0)
            r = draw(st.integers(0, 10_000)) % len(rows)
            rows[r][c] = v = rows[draw(st.integers(0, 10_000)) % len(rows)][c]
            notes.append(f"row {r} {cols[c]!r} = {v!r}")
            continue
        if op == "cell":
            r, c = draw(st.integers(0, 10_000)), draw(st.integers(0, 50))
            v = draw(st.sampled_from(CELL_VALUES))
            c = _pick(_score_cols(cols, seed), c) if draw(st.booleans()) else c % len(cols)
            rows[r % len(rows)][c] = v
            notes.append(f"row {r % len(rows)} {cols[c]!r} = {v!r}")
        elif op == "label_cell":
            r = draw(st.integers(0, 10_000))
            c = _pick(_label_cols(cols, seed), draw(st.integers(0, 10)))
            v = draw(st.sampled_from(LABEL_VALUES))
            rows[r % len(rows)][c] = v
            notes.append(f"row {r % len(rows)} {cols[c]!r} = {v!r}")
        elif op == "column_value":
            c = draw(st.integers(0, 50)) % len(cols)
            v = draw(st.sampled_from(CELL_VALUES))
            for row in rows:
                row[c] = v
            notes.append(f"column {cols[c]!r} all {v!r}")
        elif op == "rename":
            c = draw(st.integers(0, 50)) % len(cols)
            new = _renamed(cols[c], draw(st.integers(0, 100)), cols, seed.class_names)
            notes.append(f"rename {cols[c]!r} -> {new!r}")
            cols[c] = new  # type: ignore[call-overload]
        elif op == "duplicate":
            c = draw(st.integers(0, 50)) % len(cols)
            same = draw(st.booleans())
            cols.append(cols[c])
            for i, row in enumerate(rows):
                row.append(row[c] if same else _pick([r[c] for r in rows], i + 1))
            notes.append(f"duplicate column {cols[c]!r}{'' if same else ' (other values)'}")
        elif op == "drop_column" and len(cols) > 1:
            c = draw(st.integers(0, 50)) % len(cols)
            notes.append(f"drop column {cols[c]!r}")
            del cols[c]
            for row in rows:
                del row[c]
        elif op == "add_column":
            name = draw(st.sampled_from(["id", "text", "p_extra", "logit_extra", "y_extra", "label", "weight", ""]))
            kind = draw(st.sampled_from(["index", "text", "const"]))
            cols.append(name)
            for i, row in enumerate(rows):
                row.append(i if kind == "index" else ("a,b\u00e9" if kind == "text" else 0.5))
            notes.append(f"add column {name!r} ({kind})")
        elif op == "swap_columns" and len(cols) > 1:
            a, b = draw(st.integers(0, 50)) % len(cols), draw(st.integers(0, 50)) % len(cols)
            cols[a], cols[b] = cols[b], cols[a]
            notes.append(f"swap header {cols[a]!r} <-> {cols[b]!r}")
        elif op == "truncate_rows":
            k = draw(st.sampled_from([0, 1, 2, 3, 5, 10]))
            rows = rows[:k]
            notes.append(f"keep {k} rows")
        elif op == "duplicate_rows":
            rows = rows + [list(r) for r in rows]
            notes.append("rows twice")
        elif op == "scale":
            c = _pick(_score_cols(cols, seed), draw(st.integers(0, 50)))
            how = draw(st.sampled_from(["x100", "neg", "+1", "x1e300", "x1e-300", "sq"]))
            for row in rows:
                v = row[c]
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    row[c] = {"x100": v * 100, "neg": -v, "+1": v + 1, "x1e300": v * 1e300, "x1e-300": v * 1e-300,
                              "sq": v * v}[how]
            notes.append(f"scale {cols[c]!r} {how}")
        elif op == "labels_same":
            c = _pick(_label_cols(cols, seed), 0)
            v = rows[0][c]
            for row in rows:
                row[c] = v
            notes.append(f"every {cols[c]!r} = {v!r}")
        elif op == "labels_mixed":
            c = _pick(_label_cols(cols, seed), 0)
            for i, row in enumerate(rows):
                v = row[c]
                t = _text(v)  # never the repr of bytes (b'...'): that would put "b'" into the file itself
                row[c] = [v, t, float(v) if isinstance(v, int) else v, f" {t}"][i % 4]
            notes.append(f"{cols[c]!r} mixed types")
        elif op == "to_logits":
            for c in _score_cols(cols, seed):
                for row in rows:
                    v = row[c]
                    if isinstance(v, float) and 0 < v < 1:
                        row[c] = math.log(v / (1 - v))
            notes.append("scores to log-odds")
        elif op == "identical_scores":
            for c in _score_cols(cols, seed):
                for row in rows:
                    if isinstance(row[c], float):
                        row[c] = 0.5
            notes.append("identical scores")
    return cols, rows, notes


# ------------------------------------------------------------------ serialisation


def _cell_text(v: object) -> str | bytes:
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v
    if isinstance(v, float):
        return repr(v)
    return str(v)


def to_csv(cols: list[object], rows: list[list[object]], delimiter: str = ",", quote_all: bool = False,
           newline: str = "\n", encoding: str = "utf-8", header: str = "yes") -> bytes:
    """CSV bytes; cells that are bytes are written raw (so non-UTF-8 bytes reach the file)."""

    def cell(v: object) -> bytes:
        t = _cell_text(v)
        if isinstance(t, bytes):
            return t
        if quote_all or any(ch in t for ch in (delimiter, '"', "\n", "\r")):
            t = '"' + t.replace('"', '""') + '"'
        return t.encode(encoding, errors="replace")

    def line(values) -> bytes:
        return delimiter.encode(encoding, errors="replace").join(cell(v) for v in values) + newline.encode(encoding)

    out = io.BytesIO()
    if encoding in ("utf-8-sig",):
        out.write(b"\xef\xbb\xbf")
        encoding = "utf-8"
    if encoding == "utf-16":  # BOM, then little-endian
        out.write(b"\xff\xfe")
        encoding = "utf-16-le"
    if header in ("yes", "twice"):
        out.write(line(cols))
    if header == "twice":
        out.write(line(cols))
    for r in rows:
        out.write(line(r))
    return out.getvalue()


def _arrow_column(values: list[object], force: str | None):
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        arr = pa.nulls(len(values))
    elif kinds == {bool}:
        arr = pa.array(values, pa.bool_())
    elif kinds <= {int} and all(-(2**63) <= v < 2**63 for v in values if v is not None):  # type: ignore[operator]
        arr = pa.array(values, pa.int64())
    elif kinds <= {int, float} and all(isinstance(v, float) or abs(v) < 2**63  # type: ignore[arg-type]
                                       for v in values if v is not None):
        arr = pa.array([None if v is None else float(v) for v in values], pa.float64())  # type: ignore[arg-type]
    elif bytes in kinds:
        arr = pa.array([None if v is None else (v if isinstance(v, bytes) else str(v).encode()) for v in values],
                       pa.binary())
    else:
        arr = pa.array([None if v is None else str(v) for v in values], pa.string())
    if force:
        target = {"float32": pa.float32(), "float16": pa.float16(), "string": pa.string(),
                  "large_string": pa.large_string(),
                  "int32": pa.int32(), "int8": pa.int8(), "uint64": pa.uint64(), "bool": pa.bool_(),
                  "decimal": pa.decimal128(38, 18), "timestamp": pa.timestamp("ms"),
                  "dictionary": pa.dictionary(pa.int32(), pa.string())}[force]
        try:
            if force == "dictionary":
                arr = arr.cast(pa.string()).dictionary_encode()
            elif force == "float16":
                import numpy as np

                with np.errstate(over="ignore"):
                    arr = pa.array(np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float16))
            else:
                arr = arr.cast(target, safe=False)
        except Exception:  # noqa: BLE001 - a cast that does not apply leaves the column as it was
            pass
    return arr


def to_parquet(cols: list[object], rows: list[list[object]], forced: dict[int, str], compression: str = "snappy",
               row_group_size: int | None = None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [_arrow_column([r[i] for r in rows], forced.get(i)) for i in range(len(cols))]
    names = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in cols]
    table = pa.Table.from_arrays(arrays, names=names)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=compression, row_group_size=row_group_size)
    return buf.getvalue()


def to_arrow_ipc(cols: list[object], rows: list[list[object]], feather: bool) -> bytes:
    import pyarrow as pa

    arrays = [_arrow_column([r[i] for r in rows], None) for i in range(len(cols))]
    names = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in cols]
    table = pa.Table.from_arrays(arrays, names=names)
    buf = io.BytesIO()
    if feather:
        import pyarrow.feather as pf

        pf.write_feather(table, buf)
    else:
        with pa.ipc.new_stream(buf, table.schema) as w:
            w.write_table(table)
    return buf.getvalue()


def to_jsonl(cols: list[object], rows: list[list[object]]) -> bytes:
    def val(v):
        if isinstance(v, bytes):
            return v.decode("latin-1")
        return v

    lines = [json.dumps({_text(c): val(v) for c, v in zip(cols, r)}, allow_nan=True) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def to_npz(cols: list[object], rows: list[list[object]], seed: Seed, keys: tuple[str, str]) -> bytes:
    import numpy as np

    li = _label_cols(cols, seed)[0]
    labels = [v.decode("latin-1") if isinstance(v, bytes) else v for v in (r[li] for r in rows)]
    scores = []
    for r in rows:
        row = []
        for i, v in enumerate(r):
            if i == li:
                continue
            try:
                row.append(float(v))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                row.append(float("nan"))
        scores.append(row)
    try:
        lab = np.asarray(labels)
    except Exception:  # noqa: BLE001
        lab = np.asarray([str(v) for v in labels])
    if lab.dtype == object:
        lab = lab.astype(str)
    buf = io.BytesIO()
    np.savez(buf, **{keys[0]: lab, keys[1]: np.asarray(scores, dtype=float)})
    return buf.getvalue()


@st.composite
def byte_mutations(draw, data: bytes) -> tuple[bytes, list[str]]:
    """Up to three byte-level edits: flip, truncate, insert, delete, NUL."""
    notes = []
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate_line"]))
        pos = draw(st.integers(0, 2**16)) % len(data)
        if op == "flip":
            x = draw(st.sampled_from([0x01, 0x20, 0x80, 0xFF, 0x10]))
            data = data[:pos] + bytes([data[pos] ^ x]) + data[pos + 1:]
            notes.append(f"byte {pos} ^= {x:#x}")
        elif op == "truncate":
            data = data[:pos]
            notes.append(f"truncate at {pos}")
        elif op == "insert":
            ins = draw(st.sampled_from([b"\xff", CP1252_DASH, b"\xe9", b"\x00", b"\xc3\x28", b"\xef\xbb\xbf", b"\r",
                                        b"\n", b",", b'"', b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
            data = data[:pos] + ins + data[pos:]
            notes.append(f"insert {ins!r} at {pos}")
        elif op == "delete":
            k = draw(st.integers(1, 64))
            data = data[:pos] + data[pos + k:]
            notes.append(f"delete {k} bytes at {pos}")
        elif op == "duplicate_line":
            end = data.find(b"\n", pos)
            start = data.rfind(b"\n", 0, pos) + 1
            if end > 0:
                data = data[:end + 1] + data[start:end + 1] + data[end + 1:]
                notes.append(f"duplicate line at {pos}")
    return data, notes


@st.composite
def prediction_file(draw, seed: Seed, allow_bytes: bool = True,
                    clean: bool | str = False) -> tuple[str, bytes, list[str], list[str]]:
    """(suffix, bytes, column names, notes): a mutated table written in a (possibly wrong) format.

    ``clean``: the seed's table as it is, as plain CSV or Parquet; ``"values"``: with values changed only.
    """
    if clean:
        cols, rows = _mutable(seed)
        if clean == "values":
            cols, rows, notes = draw(mutated_table(seed, values_only=True))
            if draw(st.booleans()):
                return ".csv", to_csv(cols, rows), cols, notes
            return ".parquet", to_parquet(cols, rows, {}), cols, notes + ["parquet"]
        if draw(st.booleans()):
            return ".csv", to_csv(cols, rows), cols, []
        return ".parquet", to_parquet(cols, rows, {}), cols, ["parquet"]
    cols, rows, notes = draw(mutated_table(seed))
    fmt = draw(st.sampled_from(["csv"] * 6 + ["parquet"] * 3 + ["other"]))
    suffix = ".csv"
    if fmt == "csv":
        delimiter = draw(st.sampled_from([","] * 6 + [";", "\t", "|", " "]))
        encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1"]))
        newline = draw(st.sampled_from(["\n"] * 4 + ["\r\n", "\r"]))
        header = draw(st.sampled_from(["yes"] * 8 + ["no", "twice"]))
        quote_all = draw(_chance(6))
        data = to_csv(cols, rows, delimiter, quote_all, newline, encoding, header)
        if (delimiter, encoding, newline, header, quote_all) != (",", "utf-8", "\n", "yes", False):
            notes.append(f"csv delimiter={delimiter!r} encoding={encoding} newline={newline!r} header={header} "
                         f"quote_all={quote_all}")
        suffix = {"\t": ".tsv"}.get(delimiter, ".csv") if draw(st.booleans()) else ".csv"
        if draw(_chance(10)):
            data = gzip.compress(data, mtime=0)
            suffix += ".gz"
            notes.append("gzip")
    elif fmt == "parquet":
        forced = {}
        for _ in range(draw(st.integers(0, 2))):
            c = draw(st.integers(0, 50)) % max(len(cols), 1)
            forced[c] = draw(st.sampled_from(["float32", "float16", "string", "large_string", "int32", "int8", "uint64",
                                              "bool", "decimal", "timestamp", "dictionary"]))
        compression = draw(st.sampled_from(["snappy", "none", "zstd", "gzip"]))
        rgs = draw(st.sampled_from([None, None, 1, 7]))
        try:
            data = to_parquet(cols, rows, forced, compression, rgs)
        except Exception as exc:  # noqa: BLE001 - pyarrow cannot write this table: fall back to CSV
            data = to_csv(cols, rows)
            notes.append(f"(parquet write failed: {type(exc).__name__}; CSV instead)")
        else:
            suffix = ".parquet"
            if forced:
                notes.append("parquet types " + ", ".join(f"{cols[c]!r}:{t}" for c, t in forced.items() if c < len(cols)))
            if compression != "snappy" or rgs:
                notes.append(f"parquet compression={compression} row_group_size={rgs}")
    else:
        kind = draw(st.sampled_from(["jsonl", "feather", "arrow", "npz"]))
        try:
            if kind == "jsonl":
                data = to_jsonl(cols, rows)
            elif kind in ("feather", "arrow"):
                data = to_arrow_ipc(cols, rows, kind == "feather")
            else:
                keys = draw(st.sampled_from([("labels", "probs"), ("labels", "logits"), ("y_true", "y_prob"),
                                             ("label", "scores"), ("a", "b")]))
                data = to_npz(cols, rows, seed, keys)
                notes.append(f"npz keys {keys}")
            suffix = "." + kind
        except Exception as exc:  # noqa: BLE001
            data = to_csv(cols, rows)
            notes.append(f"({kind} write failed: {type(exc).__name__}; CSV instead)")
        notes.append(f"format {kind}")
    if draw(_chance(10)):
        suffix = draw(st.sampled_from(NAME_SUFFIXES))
        notes.append(f"named {suffix!r}")
    if allow_bytes and draw(_chance(4)):
        data, more = draw(byte_mutations(data))
        notes += more
    return suffix, data, [_text(c) for c in cols], notes


# ------------------------------------------------------------------ command lines


def gate_rule() -> st.SearchStrategy[str]:
    """--fail-if / --warn-if expressions: valid ones, near misses and garbage."""
    ws = st.sampled_from(["", " ", "  ", "\t", "\n", "\u00a0"])
    structured = st.builds(lambda a, m, b, o, c, n, d: f"{a}{m}{b}{o}{c}{n}{d}",
                           ws, st.sampled_from(METRICS * 2 + BAD_METRICS), ws, st.sampled_from(OPS), ws,
                           st.sampled_from(RULE_NUMBERS), ws)
    garbage = st.text(max_size=30)
    code = st.sampled_from(["__import__('os').system('true')", "ece > 0.1 or 1", "ece > 0.1; rm -rf /", "(ece) > 0.1",
                            "ece > 0.1 > 0.2", "0.1 < ece", "ece>", ">0.1", "ece 0.1", "ece > ece", "ece > 0.1\nmce > 1",
                            "ece > 1e-400", "samples > 1.5", "samples >= 99999999999999999999"])
    return st.one_of(structured, structured, garbage, code)


GOOD_FLOATS = ["0.05", "0.1", "0.5", "0.9", "1", "0", "0.01", "0.3"]
GOOD_INTS = ["0", "1", "2", "5", "10", "15", "7"]


def _values(odd: list[str], good: list[str] | None = None) -> st.SearchStrategy[str]:
    """Mostly plausible values (so runs get past option parsing), sometimes odd ones."""
    if good is None:
        good = GOOD_INTS if odd is ODD_INTS else GOOD_FLOATS
    return _mostly(st.sampled_from(good), st.sampled_from(odd))


def _pick_values(odd: bool):
    return _values if odd else _good


def _good(odd: list[str], good: list[str] | None = None) -> st.SearchStrategy[str]:
    """Only the plausible values (``focus="deep"``)."""
    return st.sampled_from(good if good is not None else (GOOD_INTS if odd is ODD_INTS else GOOD_FLOATS))


def _mostly(usual: st.SearchStrategy, rare: st.SearchStrategy, n: int = 6) -> st.SearchStrategy:
    """``usual`` about n - 1 times in n, else ``rare``."""
    return st.one_of(*([usual] * (n - 1)), rare)


@st.composite
def output_path(draw, inputs: list[str], suffix: str) -> str:
    return draw(_mostly(st.sampled_from([f"out{suffix}", f"caf\u00e9{suffix}", f"adir/out{suffix}"]), st.sampled_from(
        [f"missing_dir/out{suffix}", f"deep/er/out{suffix}", "adir", "adir/", "", f"{inputs[0]}/out{suffix}",
         "/proc/calib-fuzz" + suffix, inputs[0], "./" + inputs[0], "alias.out", "seed.csv"])))


def input_options(cols: list[str], seed: Seed, odd: bool = True) -> dict[str, st.SearchStrategy]:
    names = cols or ["label"]
    classes = list(seed.class_names) or ["a", "b"]
    return {
        "--label-col": st.sampled_from(names + ["label", "nope", "", "p_cat", "LABEL"]),
        "--score-cols": st.one_of(
            st.sampled_from(["p_*", "logit_*", "*", "", ",", "label", "p_cat,p_cat", "[", "p_?", "**", "nope*"]),
            st.lists(st.sampled_from(names), min_size=1, max_size=4).map(",".join)),
        "--classes": st.one_of(
            st.lists(st.sampled_from(classes + ["x", "", " ", "cat"]), min_size=0, max_size=6).map(",".join),
            st.permutations(classes).map(",".join)),
        "--task": st.sampled_from(TASKS),
        "--score-kind": st.sampled_from(["probs", "logits"]),
        "--renormalize": st.none(),
        "--drop-invalid": st.none(),
        **streaming_options(odd),
    }


def streaming_options(odd: bool = True) -> dict[str, st.SearchStrategy]:
    """How input is decoded and batched (any batch size must give the same answer)."""
    v = _pick_values(odd)
    return {
        "--encoding": v(["utf-16", "utf-32", "ascii", "nope", "", "base64", "rot13", "hex", "idna", "utf_8", "UTF8",
                         "punycode", "mbcs", "zlib"], ["utf-8", "cp1252", "latin-1", "utf-8-sig"]),
        "--batch-rows": v(["0", "-1", "abc", "1e3", ""], ["1", "2", "3", "7", "65536"]),
        "--memory-limit": v(["abc", "-1", "1e3", "1.5G", "1T", "", "0x10", "512 M", "999999999999G"],
                            ["0", "1", "1K", "512M", "2G", "100"]),
        **engine_options(),
    }


STORAGE_OPTION_VALUES = ["anon=true", "anon=false", "=x", "k", "a=b=c", "key=", "headers={}", "block_size=-1",
                         "\u00e9=1", "anon=maybe"]


def engine_options() -> dict[str, st.SearchStrategy]:
    """--engine, --scheduler, --workers, --storage-option, --threads on local files. The engine stays local here
    (a Dask cluster takes seconds to start: ``fuzz.features.dask_cases`` covers it), so --scheduler and
    --workers meet the check that they need --engine dask."""
    return {
        "--engine": _mostly(st.just("local"), st.sampled_from(["DASK", "spark", ""])),
        "--scheduler": st.sampled_from(["tcp://127.0.0.1:1", "nonsense", "", "inp.csv"]),
        "--workers": st.sampled_from(["1", "2", "0", "-1", "abc"]),
        "--storage-option": st.sampled_from(STORAGE_OPTION_VALUES),
        "--threads": st.sampled_from(["1", "2", "3", "0", "-2", "abc"]),
    }


def audit_options(cols: list[str], seed: Seed, inputs: list[str], extra_files: list[str],
                  odd: bool = True) -> dict[str, st.SearchStrategy]:
    v = _pick_values(odd)
    classes = list(seed.class_names) or ["a"]
    opts = dict(input_options(cols, seed, odd))
    opts.update({
        "--bins": v(ODD_INTS),
        "--binning": st.sampled_from(["uniform", "quantile", "quantile", "Quantile"]),
        "--per-file": st.none(),
        "--format": st.sampled_from(["table", "json", "json", "xml"]),
        "--json-out": output_path(inputs, ".json"),
        "--md-out": output_path(inputs, ".md"),
        "--junit-out": output_path(inputs, ".xml"),
        "--max-classes": v(ODD_INTS),
        "-q": st.none(),
        "--no-calibration": st.none(),
        "--calibrators": st.one_of(st.lists(st.sampled_from(CALIBRATORS), min_size=1, max_size=5).map(",".join),
                                   st.sampled_from(["", ",", "foo", "temperature,", "TEMPERATURE", "all"])),
        "--calibration-split": v(["0.01", "0.99", "0", "1", "nan", "-0.5", "abc", "1e-300"],
                                 ["0.5", "0.3", "0.1"]),
        "--fit-on": st.sampled_from(inputs + extra_files + ["missing.csv"]),
        "--seed": v(ODD_INTS),
        "--per-label": st.none(),
        "--objective": st.sampled_from(OBJECTIVES + ["F1", "none"]),
        "--cost-fp": v(ODD_FLOATS), "--cost-fn": v(ODD_FLOATS),
        "--cost-tp": v(ODD_FLOATS), "--cost-tn": v(ODD_FLOATS),
        "--beta": v(ODD_FLOATS), "--min-precision": v(ODD_FLOATS), "--min-recall": v(ODD_FLOATS),
        "--max-flag-rate": v(ODD_FLOATS), "--review-precision": v(ODD_FLOATS),
        "--threshold-class": st.sampled_from(classes + ["nope", "", "0", "1"]),
        "--threshold-bootstrap": v(["1", "2", "-1", "abc"], ["0", "10"]),
        "--threshold-seed": v(ODD_INTS),
        "--max-ece": v(ODD_FLOATS), "--max-classwise-ece": v(ODD_FLOATS),
        "--max-class-ece": v(ODD_FLOATS), "--max-mce": v(ODD_FLOATS), "--max-brier": v(ODD_FLOATS),
        "--max-nll": v(ODD_FLOATS), "--min-accuracy": v(ODD_FLOATS), "--min-samples": v(ODD_INTS),
        "--fail-if": gate_rule(), "--warn-if": gate_rule(),
        "--strict": st.none(),
        "--on": st.sampled_from(["point", "upper", "upper", "lower"]),
        "--gate-seed": v(ODD_INTS),
        "--gate-replicates": v(["9", "0", "abc"], ["10", "11", "20"]),
        "--baseline": st.sampled_from(inputs + extra_files + ["missing.csv", "*.csv", "*.nothing"]),
        "--id-col": st.sampled_from(cols + ["id", "nope", ""]),
        "--max-ece-increase": v(ODD_FLOATS), "--max-classwise-ece-increase": v(ODD_FLOATS),
        "--max-brier-increase": v(ODD_FLOATS), "--max-nll-increase": v(ODD_FLOATS),
        "--max-accuracy-decrease": v(ODD_FLOATS),
        "--ci-summary": st.none(), "--no-ci-summary": st.none(),
        "--max-class-panels": v(["0", "-1"], ["1", "2", "25"]),
        "--html-out": output_path(inputs, ".html"),
        "--by": st.sampled_from(cols + ["nope", "", "label"]),
        "--by-bins": v(["0", "-1", "abc", "", "nope=2", "label=x"], ["1", "2", "5", "label=3"]),
        "--by-time": v(["", "abc", "0D", "1X", "label=1D"], ["1D", "1W", "1M", "6H"]),
        "--min-group-rows": v(ODD_INTS),
        "--max-groups": v(ODD_INTS),
        "--models": st.sampled_from(["p_*", "*", "", ",", "p_*,p_*", "logit_*,p_*", "nope*", ",".join(cols[1:3])]),
        "--sort-by": st.sampled_from(["ece", "classwise_ece", "nll", "brier", "mce", "accuracy", "ECE", ""]),
    })
    if _has_option("audit", "--statistics"):
        opts["--statistics"] = st.none()
    if _has_option("audit", "--tolerance"):
        opts["--tolerance"] = v(ODD_FLOATS + ["1.0001"], ["0.02", "0.05", "0.5", "1"])
    return opts


@lru_cache(maxsize=None)
def _has_option(command: str, name: str) -> bool:
    """Whether ``calib COMMAND`` has option ``name`` now (options being wired are fuzzed once they exist)."""
    import click

    from calibcli.cli.main import cli

    cmd = cli.get_command(click.Context(cli), command)
    return any(name in p.opts for p in getattr(cmd, "params", ()))


def thresholds_options(cols: list[str], seed: Seed, inputs: list[str], extra_files: list[str],
                       odd: bool = True) -> dict[str, st.SearchStrategy]:
    v = _pick_values(odd)
    classes = list(seed.class_names) or ["a"]
    opts = dict(input_options(cols, seed, odd))
    opts.update({
        "--objective": st.sampled_from(OBJECTIVES + ["F1"]),
        "--cost-fp": v(ODD_FLOATS), "--cost-fn": v(ODD_FLOATS),
        "--cost-tp": v(ODD_FLOATS), "--cost-tn": v(ODD_FLOATS),
        "--beta": v(ODD_FLOATS), "--min-precision": v(ODD_FLOATS), "--min-recall": v(ODD_FLOATS),
        "--max-flag-rate": v(ODD_FLOATS), "--review-precision": v(ODD_FLOATS),
        "--class": st.sampled_from(classes + ["nope", "", "0", "1"]),
        "--bootstrap": v(["1", "2", "-1", "abc"], ["0", "10", "20"]),
        "--seed": v(ODD_INTS),
        "--format": st.sampled_from(["table", "csv", "json", "xml"]),
        "-o": output_path(inputs, ".csv"),
        "--calibrator": st.sampled_from(["cal.json"] + inputs + ["missing.json"]),
        "--keep-going": st.none(),
        "--html-out": output_path(inputs, ".html"),
    })
    return opts


def fit_options(cols: list[str], seed: Seed, inputs: list[str], odd: bool = True) -> dict[str, st.SearchStrategy]:
    v = _pick_values(odd)
    opts = dict(input_options(cols, seed, odd))
    opts.update({
        "--method": st.sampled_from(CALIBRATORS + ["Temperature", "beta"]),
        "--per-label": st.none(),
        "--histogram-bins": v(ODD_INTS),
        "--seed": v(ODD_INTS),
        "-q": st.none(),
    })
    return opts


def apply_options(cols: list[str], seed: Seed, odd: bool = True) -> dict[str, st.SearchStrategy]:
    stream = streaming_options(odd)
    return {
        "--encoding": stream["--encoding"],
        "--batch-rows": stream["--batch-rows"],
        "--replace": st.none(),
        "--score-cols": input_options(cols, seed)["--score-cols"],
        "--score-kind": st.sampled_from(["probs", "logits"]),
        "--renormalize": st.none(),
        "-q": st.none(),
        **engine_options(),
    }


#: options the case builder sets itself (outputs of fit and apply, plot folders)
SET_BY_CASES = {"audit": {"--plots"}, "thresholds": set(), "fit": {"-o", "--output"}, "apply": {"-o", "--output"}}


def option_tables(seed: Seed) -> dict[str, set[str]]:
    """The options each command's fuzzing draws from (for the test that every option is fuzzed)."""
    cols = list(seed.columns)
    tables = {"audit": audit_options(cols, seed, ["inp.csv"], ["seed.csv"]),
              "thresholds": thresholds_options(cols, seed, ["inp.csv"], ["seed.csv"]),
              "fit": fit_options(cols, seed, ["inp.csv"]), "apply": apply_options(cols, seed)}
    return {name: set(table) | SET_BY_CASES[name] for name, table in tables.items()}


@st.composite
def options(draw, table: dict[str, st.SearchStrategy], max_options: int) -> list[str]:
    names = draw(st.lists(st.sampled_from(sorted(table)), max_size=max_options, unique=True))
    out: list[str] = []
    for name in names:
        value = draw(table[name])
        out.append(name)
        if value is not None:
            out.append(value)
    # repeatable options occasionally twice
    if "--fail-if" in names and draw(st.booleans()):
        out += ["--fail-if", draw(gate_rule())]
    return out


# ------------------------------------------------------------------ config and environment


@lru_cache(maxsize=None)
def config_keys() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(plain keys, gate keys) that the commands accept, read from the CLI itself."""
    import click

    from calibcli.cli.main import cli
    from calibcli.config import GATE_KEYS, all_commands, valid_keys_of

    ctx = click.Context(cli)
    keys = valid_keys_of(all_commands(cli, ctx))
    return tuple(sorted(keys - GATE_KEYS)), tuple(sorted(keys & GATE_KEYS))


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return str(v)  # raw TOML (dates)


class RawToml(str):
    """A TOML literal written as is (dates, broken syntax)."""


TOML_VALUES = [
    0, 1, 2, 15, -1, 10_000, 2**63 - 1, 10.5, 0.05, -0.05, 0.0, float("nan"), float("inf"), True, False, "", "15",
    "0.05", "abc", "quantile", "upper", "json", "temperature", "ece > 0.1", "out/report.json", "inp.csv", "nope.csv",
    ["ece > 0.1"], ["ece > 0.1", "mce >"], [], [1, 2], [["x"]], {"a": 1}, RawToml("1979-05-27T07:32:00Z"),
    RawToml("07:32:00"), "\u00e9", "\U0001F600", "a\nb",
]


@st.composite
def config_file(draw) -> tuple[str, bytes, list[str]]:
    """(file name, bytes, notes): a pyproject.toml or calib.toml with odd keys and values."""
    plain, gate = config_keys()
    kind = draw(st.sampled_from(["pyproject.toml", "calib.toml"]))
    top: list[tuple[str, object]] = []
    rules: list[tuple[str, object]] = []
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.sampled_from(["top", "gate", "gate"]))
        pool = list(plain if where == "top" else gate) + ["bin", "max_ece", "maxece", "gate-seed", "tool", "gates", "max-ece"]
        key = draw(st.sampled_from(pool))
        value = draw(st.sampled_from(TOML_VALUES))
        (top if where == "top" else rules).append((key, value))
    prefix = "tool.calib" if kind == "pyproject.toml" else ""
    lines = []
    if kind == "pyproject.toml":
        lines += ["[project]", 'name = "x"', "", f"[{prefix}]"]
    lines += [f"{k} = {_toml_value(v) if not isinstance(v, RawToml) else v}" for k, v in top]
    gate_table = draw(st.sampled_from(["gate", "gate", "gates", "Gate"]))
    if rules:
        lines.append(f"[{prefix + '.' if prefix else ''}{gate_table}]")
        lines += [f"{k} = {_toml_value(v) if not isinstance(v, RawToml) else v}" for k, v in rules]
    data = ("\n".join(lines) + "\n").encode()
    notes = [f"{kind}: {top + rules} (gate table [{gate_table}])"]
    if draw(_chance(5)):
        data, more = draw(byte_mutations(data))
        notes += ["config " + m for m in more]
    if draw(_chance(10)):
        data = data.decode("utf-8", "replace").encode("utf-16")
        notes.append("config utf-16")
    return kind, data, notes


@st.composite
def environment(draw, files: list[str]) -> dict[str, str]:
    plain, gate = config_keys()
    env: dict[str, str] = {}
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["key", "key", "unknown", "github", "columns", "config"]))
        if kind == "key":
            key = draw(st.sampled_from(list(plain) + list(gate)))
            name = "CALIB_" + key.upper().replace("-", "_")
            env[name] = draw(st.sampled_from(ODD_FLOATS + ODD_INTS + ["true", "false", "quantile", "upper", "json",
                                                                     "ece > 0.1\nmce > 0.5", "ece >", "\u00e9"]
                                             + files))
        elif kind == "unknown":
            env[draw(st.sampled_from(["CALIB_MAX_ECEE", "CALIB_", "CALIB_GATE", "CALIB_X", "CALIB_BINS_"]))] = "1"
        elif kind == "github":
            env["GITHUB_ACTIONS"] = draw(st.sampled_from(["true", "true", "1", "false"]))
            env["GITHUB_STEP_SUMMARY"] = draw(st.sampled_from(["summary.md", "summary.md", "adir", "missing/summary.md",
                                                                "", files[0] if files else "x"]))
        elif kind == "columns":
            env[draw(st.sampled_from(["COLUMNS", "LINES"]))] = draw(st.sampled_from(["0", "1", "-5", "abc", "10",
                                                                                      "100000", ""]))
            if draw(st.booleans()):
                env[draw(st.sampled_from(["NO_COLOR", "TERM", "FORCE_COLOR"]))] = draw(st.sampled_from(["1", "dumb", ""]))
        else:
            env["CALIB_CONFIG"] = draw(st.sampled_from(["calib.toml", "missing.toml", "adir", files[0] if files else "",
                                                         ""]))
    return env


# ------------------------------------------------------------------ calibrator files

CALIBRATOR_VALUES = [None, 0, -1, 1e308, float("nan"), "x", [], {}, [1, 2], True, "multiclass", "logits", 2, [[1]],
                     {"a": 1}, "", 10**30, [None], -0.0, "temperature", ["a", "a"]]
RAW_CALIBRATORS = [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"format": "calib-calibrator"}', b"\x80" * 10,
                   b'{"format": "calib-calibrator", "format_version": 1, "calibrator": []}', b"NaN", b'"x"', b"1e999"]


@st.composite
def calibrator_edits(draw, min_size: int = 0) -> list[JsonEdit]:
    """Edits of a calibrator file (``cal.json``): a value replaced or deleted, or the whole file replaced."""
    edits = []
    for _ in range(draw(st.integers(min_size, max(min_size, 2)))):
        action = draw(st.sampled_from(["set", "set", "delete", "raw"]))
        value = draw(st.sampled_from(RAW_CALIBRATORS if action == "raw" else CALIBRATOR_VALUES))
        edits.append(JsonEdit("cal.json", draw(st.integers(0, 500)), action, value))
    return edits


# ------------------------------------------------------------------ whole cases


def seeds() -> st.SearchStrategy[Seed]:
    return st.sampled_from(load_seeds())


def cases(commands: tuple[str, ...] = ("audit", "audit", "audit", "thresholds", "fit", "apply"),
          plots: str = "never", allow_config: bool = True, max_options: int = 6,
          focus: str = "files") -> st.SearchStrategy[Case]:
    """One fuzz case: a mutated file (sometimes two, or stdin), a command line, maybe a config and environment.

    ``plots``: whether ``calib audit`` gets ``--plots`` (``never``, ``sometimes``, ``always``; plots are slow).
    ``focus``: ``files`` (mutated inputs; sometimes a config or variables), ``config`` (a valid file with
    always a config file or ``CALIB_*`` variables), ``rules`` (a valid file, ``calib audit`` with gate rules),
    ``calibrator`` (``calib apply`` or ``thresholds --calibrator`` with a damaged calibrator file),
    ``deep`` (values changed but the file still parses, so runs reach the numerics; more options).

    Feature focuses (``fuzz.features``): ``groups`` (``--by`` on hostile group columns), ``models``
    (``--models``), ``urls`` (URL inputs; ``urls_slow`` adds s3:// against a closed port), ``dirs``
    (directories of parts), ``dask`` (``--engine dask``: seconds per case).

    Imports the CLI and reads the seeds now, not while hypothesis draws (imports may touch ``random``).
    """
    config_keys()
    load_seeds()
    if focus in ("groups", "models", "urls", "urls_slow", "dirs", "dask"):
        from fuzz.features import feature_cases

        return feature_cases(focus)
    return _cases(commands, plots, allow_config, max_options, focus)


@st.composite
def _cases(draw, commands: tuple[str, ...] = ("audit", "audit", "audit", "thresholds", "fit", "apply"),
          plots: str = "never", allow_config: bool = True, max_options: int = 6, focus: str = "files") -> Case:
    seed = draw(seeds())
    clean: bool | str = focus != "files" and not draw(_chance(4))
    odd = focus != "deep"  # deep: plausible option values only, so runs get past option checks
    if focus == "deep":
        clean = "values"
        allow_config = False
    suffix, data, cols, notes = draw(prediction_file(seed, clean=clean))
    stem = draw(_mostly(st.just("inp"), st.sampled_from(["in[1]", "in p", "\u00efnp", "in*p", "in\np", ".inp", "in?p",
                                                             "in'p", "in,p", "in%p", "in\\p"]), n=12))
    inp = stem + suffix
    files: dict[str, bytes] = {inp: data, "adir/": b""}
    valid = to_csv(list(seed.columns), [list(r) for r in seed.rows])
    files["seed.csv"] = valid
    extra = ["seed.csv"]
    if seed.name == "multiclass":
        from fuzz.seeds import seed_named

        prev = seed_named("previous")
        files["previous.csv"] = to_csv(list(prev.columns), [list(r) for r in prev.rows])
        extra.append("previous.csv")
    inputs = [inp]
    stdin = None
    symlinks: dict[str, str] = {"alias.out": inp}  # an output path that is an input under another name
    how = draw(st.sampled_from(["file"] * 8 + ["stdin", "two", "same_twice", "symlink", "two_mutated"]))
    if how == "stdin":
        inputs = ["-"]
        stdin = data
    elif how == "two":
        inputs = [inp, draw(st.sampled_from(extra))]
    elif how == "same_twice":
        inputs = [inp, "./" + inp]
    elif how == "two_mutated":  # pooled with another mutated file, of the same seed or another
        other = draw(st.sampled_from([seed, *load_seeds()]))
        suffix2, data2, _cols2, notes2 = draw(prediction_file(other))
        files["inp2" + suffix2] = data2
        inputs = [inp, "inp2" + suffix2]
        notes += [f"second file (seed {other.name}): " + "; ".join(notes2)]
    elif how == "symlink":
        symlinks["link" + suffix] = inp
        inputs = [inp, "link" + suffix]
    command = draw(st.sampled_from(commands))
    if focus == "config" and draw(_chance(4)):
        command = "config"
    if focus == "calibrator":
        command = draw(st.sampled_from(["apply", "thresholds"]))
    steps: list[tuple[str, ...]] = []
    edits: list[JsonEdit] = []
    base = [] if draw(_chance(4)) else list(seed.extra_args)
    env: dict[str, str] = {}
    pre: list[str] = []
    cwd = "."
    if focus == "rules":
        table = audit_options(cols, seed, inputs, extra, odd)
        rules = draw(st.lists(st.sampled_from(sorted(k for k in table if k in RULE_OPTIONS)), min_size=1, max_size=4))
        args = ["audit", *inputs, *seed.extra_args]
        for name in rules:
            value = draw(table[name])
            args += [name] if value is None else [name, value]
        args += draw(options({k: v for k, v in table.items() if k in RULE_CONTEXT}, 4))
        steps.append(tuple(args))
    elif command == "audit":
        table = audit_options(cols, seed, inputs, extra, odd)
        plot_dirs = st.sampled_from(["plots", "plots", "adir", inputs[0], "/proc/calib-fuzz-plots"])
        if plots == "sometimes":
            table["--plots"] = plot_dirs
        args = ["audit", *inputs, *base, *draw(options(table, max_options))]
        if plots == "always":
            args += ["--plots", draw(plot_dirs)]
        steps.append(tuple(args))
    elif command == "thresholds":
        table = thresholds_options(cols, seed, inputs, extra, odd)
        args = ["thresholds", *inputs, *base, *draw(options(table, max_options))]
        if focus == "calibrator" and "--calibrator" not in args:
            args += ["--calibrator", "cal.json"]
        if "--calibrator" in args:
            method = draw(st.sampled_from(CALIBRATORS))
            steps.append(("fit", "seed.csv", *seed.extra_args, "--method", method, "-o", "cal.json", "-q"))
            edits += draw(calibrator_edits(1 if focus == "calibrator" else 0))
        steps.append(tuple(args))
    elif command == "config":
        args = ["config", *draw(st.lists(st.sampled_from(["--format", "--set-only", "fit", "apply", "thresholds",
                                                           "audit", "schema", "nope"]), max_size=3, unique=True))]
        if "--format" in args:
            args.insert(args.index("--format") + 1, draw(st.sampled_from(["json", "table", "yaml"])))
        steps.append(tuple(args))
    elif command == "fit":
        out = draw(_mostly(st.just("cal.json"), st.sampled_from(["adir", inputs[0], "missing_dir/cal.json",
                                                                   "/proc/cal.json", "cal.csv", "", "alias.out"])))
        table = fit_options(cols, seed, inputs, odd)
        steps.append(("fit", *inputs, *base, "-o", out, *draw(options(table, max_options))))
    else:  # apply: fit on the valid seed, maybe damage the calibrator, apply to the mutated file
        method = draw(st.sampled_from(CALIBRATORS))
        fit_on = draw(st.sampled_from(["seed.csv", inp]))
        steps.append(("fit", fit_on, *seed.extra_args, "--method", method, "-o", "cal.json", "-q"))
        edits += draw(calibrator_edits(1 if focus == "calibrator" else 0))
        out = draw(_mostly(st.sampled_from(["out.csv", "out.parquet", "out.csv.gz", "out.pq"]),
                           st.sampled_from(["out.txt", "out", "adir", inputs[0], "cal.json", "missing_dir/out.csv",
                                            "/proc/out.csv", "./" + inputs[0], "OUT.CSV", "out.tsv", "out.jsonl",
                                            "alias.out", "seed.csv"])))
        steps.append(("apply", "cal.json", *inputs, "-o", out, *draw(options(apply_options(cols, seed, odd), 3))))
    config_first = focus == "config" and draw(st.booleans())
    if allow_config and (config_first or draw(_chance(5))):
        name, cdata, cnotes = draw(config_file())
        notes += cnotes
        where = draw(st.sampled_from(["cwd", "parent", "flag", "env"]))
        if where == "cwd":
            files[name] = cdata
        elif where == "parent":
            files[name] = cdata
            cwd = "sub"
            files = {("sub/" + k if k != name else k): v for k, v in files.items()}
            symlinks = {"sub/" + k: v for k, v in symlinks.items()}
        elif where == "flag":
            files["conf/" + name] = cdata
            pre = ["--config", "conf/" + name]
        else:
            files["conf/" + name] = cdata
            env["CALIB_CONFIG"] = "conf/" + name
    elif draw(_chance(4)):
        pre = ["--no-config"]
    if allow_config and ((focus == "config" and not config_first) or draw(_chance(5))):
        env.update(draw(environment([inp])))
    if pre:
        steps = [tuple(pre) + s for s in steps]
    notes.append(f"seed {seed.name}")
    return Case(files=files, steps=tuple(steps), env=env, stdin=stdin, cwd=cwd, symlinks=symlinks, edits=tuple(edits),
                notes=tuple(notes))
