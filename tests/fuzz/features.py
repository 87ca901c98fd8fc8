"""Fuzz cases for the newer options: subgroups (``--by``), model comparison (``--models``), URL inputs,
directories of parts, ``--html-out`` and the Dask engine.

Each strategy starts from a valid seed, adds hostile columns, files or addresses, and returns a
:class:`~fuzz.case.Case`. Arguments may hold the placeholders of ``fuzz.harness.PLACEHOLDERS``
(``@HTTP@`` the case folder over HTTP, ``@HTTPNR@`` the same without range requests, ``@REFUSED@`` a
closed loopback port, ``@CWD@`` the case folder's absolute path), replaced when the step runs.
"""

from __future__ import annotations

import io
import math

from hypothesis import strategies as st

from fuzz.case import Case
from fuzz.seeds import Seed, load_seeds
from fuzz.strategies import (CELL_VALUES, _chance, _mostly, _score_cols, byte_mutations, mutated_table, output_path,
                             prediction_file, to_csv, to_jsonl, to_parquet)

# ------------------------------------------------------------------ group columns

#: how a --by column is filled
GROUP_KINDS = ["few", "few", "all_null", "one_value", "unique", "ints", "floats", "mixed_types", "ts_mixed_zones",
               "ts_unparseable", "ts_naive", "empty_strings", "bools", "odd_cells", "some_null", "dates", "huge_ints"]
#: how a --by column is typed in Parquet (None: inferred from the values)
PARQUET_GROUP_TYPES = [None, None, "timestamp_ms", "timestamp_utc", "timestamp_kolkata", "date32", "dictionary",
                       "list", "binary", "float16", "null", "duration", "decimal"]
GOOD_FREQS = ["1D", "1W", "1M", "1Q", "1Y", "6H", "15min", "1h", "1d", "D", "1s", "1ns", "1ms", "3D", "99999999999D"]
TIME_FREQS = GOOD_FREQS + ["0D", "-1D", "1X", "", "abc", "1e3D", "1.5D"]


def _group_values(kind: str, n: int) -> list[object]:
    if kind == "few":
        return [["a", "b", "c"][i % 3] for i in range(n)]
    if kind == "all_null":
        return [None] * n
    if kind == "one_value":
        return ["only"] * n
    if kind == "unique":
        return [f"id{i}" for i in range(n)]
    if kind == "ints":
        return [i % 7 for i in range(n)]
    if kind == "huge_ints":
        return [[2**62, -(2**62), 0][i % 3] for i in range(n)]
    if kind == "floats":
        return [[0.5, float("nan"), 1e308, -0.0, float("inf"), 3.25][i % 6] for i in range(n)]
    if kind == "mixed_types":
        return [[1, "one", 2.5, None, True][i % 5] for i in range(n)]
    if kind == "ts_mixed_zones":
        return [["2024-01-01T00:00:00Z", "2024-01-01T23:30:00+02:00", "2024-03-31T01:30:00", "2024-01-02 05:00:00-11:00",
                 "2024-10-27T02:30:00+01:00"][i % 5] for i in range(n)]
    if kind == "ts_unparseable":
        return [["2024-01-01T00:00:00", "notatime", "2024-02-30T00:00:00", "", "9999-99-99", "2024-01-01T25:00:00"][i % 6]
                for i in range(n)]
    if kind == "ts_naive":
        return [f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00" for i in range(n)]
    if kind == "dates":
        return [f"20{i % 100:02d}-0{1 + i % 9}-15" for i in range(n)]
    if kind == "empty_strings":
        return ["" for _ in range(n)]
    if kind == "bools":
        return [i % 2 == 0 for i in range(n)]
    if kind == "some_null":
        return [None if i % 4 == 0 else ["x", "y"][i % 2] for i in range(n)]
    return [CELL_VALUES[i % len(CELL_VALUES)] for i in range(n)]  # odd_cells


def _typed_parquet(cols: list[str], rows: list[list[object]], typed: dict[str, str]) -> bytes:
    """Parquet with the columns of ``typed`` cast to an explicit Arrow type (falls back to inferred)."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from fuzz.strategies import _arrow_column

    arrays = []
    for i, name in enumerate(cols):
        values = [r[i] for r in rows]
        kind = typed.get(name)
        arr = None
        try:
            base = dt.datetime(2024, 3, 30, 22, 0)
            if kind in ("timestamp_ms", "timestamp_utc", "timestamp_kolkata"):
                tz = {"timestamp_ms": None, "timestamp_utc": "UTC", "timestamp_kolkata": "Asia/Kolkata"}[kind]
                arr = pa.array([None if v is None else base + dt.timedelta(hours=5 * j) for j, v in enumerate(values)],
                               pa.timestamp("ms", tz=tz))
            elif kind == "date32":
                arr = pa.array([None if v is None else dt.date(2024, 1 + j % 12, 1) for j, v in enumerate(values)],
                               pa.date32())
            elif kind == "dictionary":
                arr = pa.array([None if v is None else str(v) for v in values], pa.string()).dictionary_encode()
            elif kind == "list":
                arr = pa.array([None if v is None else [j, j] for j, v in enumerate(values)], pa.list_(pa.int64()))
            elif kind == "binary":
                arr = pa.array([None if v is None else str(v).encode() + b"\xff" for v in values], pa.binary())
            elif kind == "null":
                arr = pa.nulls(len(values))
            elif kind == "duration":
                arr = pa.array([j * 1000 for j in range(len(values))], pa.duration("ms"))
            elif kind == "decimal":
                import decimal

                arr = pa.array([decimal.Decimal(j) / 3 for j in range(len(values))], pa.decimal128(20, 6))
            elif kind == "float16":
                arr = _arrow_column(values, "float16")
        except Exception:  # noqa: BLE001 - a type that does not apply: inferred instead
            arr = None
        arrays.append(arr if arr is not None else _arrow_column(values, None))
    table = pa.Table.from_arrays(arrays, names=[str(c) for c in cols])
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _write(draw, cols: list[str], rows: list[list[object]], typed: dict[str, str] | None = None,
           allow_bytes: bool = True) -> tuple[str, bytes, list[str]]:
    """(suffix, bytes, notes): CSV or Parquet (with the given column types), sometimes JSON Lines or damaged."""
    fmt = draw(st.sampled_from(["csv", "csv", "parquet", "parquet", "jsonl"]))
    notes = []
    if fmt == "parquet":
        try:
            data, suffix = _typed_parquet(cols, rows, typed or {}), ".parquet"
            if typed:
                notes.append(f"parquet types {typed}")
        except Exception as exc:  # noqa: BLE001
            data, suffix = to_csv(cols, rows), ".csv"
            notes.append(f"(parquet failed: {type(exc).__name__}; CSV)")
    elif fmt == "jsonl":
        data, suffix = to_jsonl(cols, rows), ".jsonl"
    else:
        data, suffix = to_csv(cols, rows), ".csv"
    if allow_bytes and draw(_chance(8)):
        data, more = draw(byte_mutations(data))
        notes += more
    return suffix, data, notes


def _files_base(seed: Seed) -> dict[str, bytes]:
    return {"seed.csv": to_csv(list(seed.columns), [list(r) for r in seed.rows]), "adir/": b""}


def _opt_values(draw, table: dict[str, st.SearchStrategy], names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        value = draw(table[name])
        out += [name] if value is None else [name, value]
    return out


def _seeds() -> st.SearchStrategy[Seed]:
    return st.sampled_from(load_seeds())


# ------------------------------------------------------------------ subgroups


@st.composite
def group_cases(draw) -> Case:
    """``calib audit --by`` on one or two hostile group columns, with --by-bins/--by-time/--max-groups."""
    seed = draw(_seeds())
    cols, rows, notes = draw(mutated_table(seed, values_only=True)) if draw(_chance(3)) else (
        list(seed.columns), [list(r) for r in seed.rows], [])
    n = len(rows)
    names = draw(st.lists(st.sampled_from(["g", "g2", "when", "region"]), min_size=1, max_size=2, unique=True))
    typed: dict[str, str] = {}
    for name in names:
        kind = draw(st.sampled_from(GROUP_KINDS))
        values = _group_values(kind, n)
        if draw(_chance(4)):  # shuffle the values' order relative to the rows
            k = draw(st.integers(1, 7))
            values = values[k:] + values[:k]
        cols.append(name)
        for row, v in zip(rows, values):
            row.append(v)
        notes.append(f"--by column {name!r}: {kind}")
        t = draw(st.sampled_from(PARQUET_GROUP_TYPES))
        if t:
            typed[name] = t
    if draw(_chance(6)):  # every row twice: the same groups, twice the rows
        rows = rows + [list(r) for r in rows]
        notes.append("rows twice")
    suffix, data, more = _write(draw, cols, rows, typed)
    notes += more
    inp = "inp" + suffix
    files = {inp: data, **_files_base(seed)}
    by_pool = _mostly(st.sampled_from(names), st.sampled_from(["nope", "", seed.label_col, _pick_score(seed), "g,g2",
                                                              "G"]), n=8)
    args = ["audit", inp, *seed.extra_args]
    for name in draw(st.lists(by_pool, min_size=1, max_size=3)):
        args += ["--by", name]
    table = group_options(names)
    args += _opt_values(draw, table, draw(st.lists(st.sampled_from(sorted(table)), max_size=5, unique=True)))
    if draw(_chance(3)):
        args.append("--no-calibration")
    if draw(_chance(4)):  # the same groups in a second file, pooled or per file
        files["inp2" + suffix] = data
        args.insert(2, "inp2" + suffix)
        notes.append("two files")
    notes.append(f"seed {seed.name}")
    return Case(files=files, steps=(tuple(args),), notes=tuple(notes))


def _pick_score(seed: Seed) -> str:
    return seed.score_columns[0] if seed.score_columns else "p_x"


def group_options(names: list[str]) -> dict[str, st.SearchStrategy]:
    """Values for the options that go with --by."""
    col = _mostly(st.sampled_from(names), st.sampled_from(["nope", ""]))
    bins = _mostly(st.sampled_from(["1", "2", "5", "10", "100000"]), st.sampled_from(["0", "-1", "abc", "", "1.5"]))
    freqs = _mostly(st.sampled_from(GOOD_FREQS), st.sampled_from(TIME_FREQS))
    return {
        "--by-bins": st.one_of(bins, st.builds(lambda c, k: f"{c}={k}", col, bins)),
        "--by-time": st.one_of(freqs, st.builds(lambda c, f: f"{c}={f}", col, freqs)),
        "--min-group-rows": _mostly(st.sampled_from(["0", "1", "5", "100"]), st.sampled_from(["-1", "abc", "1e9"])),
        "--max-groups": _mostly(st.sampled_from(["1", "2", "3", "1000"]),
                                st.sampled_from(["0", "-1", "abc", "99999999999999999999"])),
        "--format": st.sampled_from(["table", "json"]),
        "--json-out": st.sampled_from(["out.json", "adir", "inp.csv"]),
        "--md-out": st.sampled_from(["out.md", "adir/out.md"]),
        "--html-out": st.sampled_from(["out.html", "adir", "missing_dir/out.html", "seed.csv"]),
        "--statistics": st.none(),
        "--per-file": st.none(),
        "--max-ece": st.sampled_from(["0.05", "0", "1"]),
        "--on": st.sampled_from(["point", "upper"]),
        "--binning": st.sampled_from(["uniform", "quantile"]),
        "--bins": st.sampled_from(["1", "2", "15"]),
        "--drop-invalid": st.none(),
        "--batch-rows": st.sampled_from(["1", "3", "7"]),
        "--objective": st.sampled_from(["f1", "cost"]),
        "--models": st.sampled_from(["p_*", "*"]),
        "--calibrators": st.sampled_from(["temperature", "isotonic,platt"]),
    }


# ------------------------------------------------------------------ model comparison


#: overlapping patterns, one column against several, the same model twice: all plausible commands
GOOD_MODEL_PATTERNS = ["a_*,b_*", "a_*,b_*", "a_*,b_*,c_*", "b_*,a_*", "a_*,a_p_*", "{first},b_*", "{first},{second}",
                       "a_*,a_*", "a_*", "*,a_*"]
MODEL_PATTERNS = ["a_*,b_*", "a_*,b_*,c_*", "a_*", "a_*,a_*", "a_*,a_p_*", "*,a_*", "a_*,,b_*", "", ",", "zz*,a_*",
                  "label,a_*", "A_*,B_*", "a_*;b_*", "a_*, b_*", "a_?_*,b_*", "[,a_*", "b_*,a_*", "p_*,a_*",
                  "{first},b_*", "{first},{second}", "{first},a_*", "{first}", "{first},{first}", "{first},{label}"]


@st.composite
def model_cases(draw) -> Case:
    """``calib audit --models`` on a file with two or three models' score columns (prefixes a_, b_, c_)."""
    seed = draw(_seeds().filter(lambda s: s.score_columns and s.name != "top_label"))
    cols = list(seed.columns)
    rows = [list(r) for r in seed.rows]
    score_idx = [i for i, c in enumerate(cols) if c in seed.score_columns]
    n_models = draw(st.sampled_from([2, 2, 3]))
    new_cols, notes = [], [f"seed {seed.name}", f"{n_models} models"]
    for m in range(n_models):
        prefix = "abc"[m] + "_"
        shift = draw(st.integers(0, len(rows) - 1)) if m else 0  # another model: scores of other rows
        for i in score_idx:
            new_cols.append(prefix + cols[i])
            for r, row in enumerate(rows):
                row.append(rows[(r + shift) % len(rows)][i])
    keep_original = draw(st.booleans())
    if not keep_original:
        cols_out = [c for i, c in enumerate(cols) if i not in score_idx]
        rows = [[v for i, v in enumerate(row) if i not in score_idx] for row in rows]
        cols = cols_out
    cols = cols + new_cols
    # damage one model's columns only
    damage = draw(st.sampled_from(["none", "none", "nan", "nan_all", "out_of_range", "text", "drop_one", "logits",
                                   "identical", "inf"]))
    b_cols = [i for i, c in enumerate(cols) if c.startswith("b_")]
    if damage != "none" and b_cols and rows:
        c = b_cols[draw(st.integers(0, len(b_cols) - 1))]
        r = draw(st.integers(0, len(rows) - 1))
        if damage == "nan":
            rows[r][c] = float("nan")
        elif damage == "inf":
            rows[r][c] = float("inf")
        elif damage == "nan_all":
            for row in rows:
                row[c] = None
        elif damage == "out_of_range":
            rows[r][c] = 1.5
        elif damage == "text":
            rows[r][c] = "abc"
        elif damage == "drop_one":  # model b has one column fewer than model a
            del cols[c]
            for row in rows:
                del row[c]
        elif damage == "logits":
            for row in rows:
                for i in b_cols:
                    if i < len(row) and isinstance(row[i], float) and 0 < row[i] < 1:
                        row[i] = math.log(row[i] / (1 - row[i]))
        elif damage == "identical":
            for row in rows:
                for i in b_cols:
                    if i < len(row) and isinstance(row[i], float):
                        row[i] = 0.5
        notes.append(f"model b: {damage} (column {cols[c] if c < len(cols) else c!r}, row {r})")
    suffix, data, more = _write(draw, cols, rows)
    notes += more
    inp = "inp" + suffix
    files = {inp: data, **_files_base(seed)}
    a_cols = [c for c in cols if c.startswith("a_")]
    b_names = [c for c in cols if c.startswith("b_")]
    pattern = draw(_mostly(st.sampled_from(GOOD_MODEL_PATTERNS), st.sampled_from(MODEL_PATTERNS), n=3))
    pattern = pattern.format(first=a_cols[0] if a_cols else "x", second=b_names[0] if b_names else "y",
                             label=seed.label_col)
    args = ["audit", inp, *seed.extra_args[:2], "--models", pattern]  # the label option, never --score-cols
    table = model_options(cols, inp)
    names = draw(st.lists(st.sampled_from(sorted(table)), max_size=4, unique=True))
    if not draw(_chance(4)):
        names = [n for n in names if n not in ("--score-cols", "--task", "--score-kind")]
    args += _opt_values(draw, table, names)
    if draw(_chance(3)):
        args.append("--no-calibration")
    if draw(_chance(5)):
        files["inp2" + suffix] = data
        args.insert(2, "inp2" + suffix)
        notes.append("two files")
    return Case(files=files, steps=(tuple(args),), notes=tuple(notes))


def model_options(cols: list[str], inp: str) -> dict[str, st.SearchStrategy]:
    return {
        "--sort-by": _mostly(st.sampled_from(["ece", "classwise_ece", "nll", "brier", "mce", "accuracy"]),
                             st.sampled_from(["auroc", "ECE"])),
        "--per-file": st.none(),
        "--format": st.sampled_from(["table", "json"]),
        "--json-out": _mostly(st.just("out.json"), st.just("adir")),
        "--html-out": _mostly(st.just("out.html"), st.sampled_from(["adir", inp, "/proc/out.html"])),
        "--md-out": st.sampled_from(["out.md"]),
        "--junit-out": st.sampled_from(["out.xml"]),
        "--statistics": st.none(),
        "--drop-invalid": st.none(),
        "--score-cols": st.sampled_from(["a_*", "p_*"]),
        "--by": st.sampled_from(["label", "nope"] + cols[:2]),
        "--fit-on": st.sampled_from([inp, "seed.csv"]),
        "--baseline": st.sampled_from([inp, "seed.csv"]),
        "--calibrators": st.sampled_from(["temperature", "platt,isotonic", "vector"]),
        "--max-ece": st.sampled_from(["0.05", "0.5"]),
        "--fail-if": st.sampled_from(["ece > 0.05", "nll > 1", "ece_increase > 0"]),
        "--on": st.sampled_from(["upper"]),
        "--objective": st.sampled_from(["f1"]),
        "--task": st.sampled_from(["binary", "multiclass", "multilabel"]),
        "--score-kind": st.sampled_from(["probs", "logits"]),
        "--batch-rows": st.sampled_from(["1", "5"]),
        "--tolerance": st.sampled_from(["0.02", "1", "0", "nan"]),
    }


# ------------------------------------------------------------------ URLs

URL_FORMS = ["@HTTP@/{inp}", "@HTTP@/{inp}", "@HTTPNR@/{inp}", "@HTTP@/missing.csv", "@HTTP@/forbidden/{inp}",
             "@REFUSED@/{inp}", "file://@CWD@/{inp}", "file://@CWD@/missing.csv", "file://@CWD@/adir",
             "file://@CWD@/parts", "@HTTP@/parts/", "@HTTP@/*.csv", "@HTTP@/{inp}?x=1&token=abc#frag",
             "@HTTP@/adir", "http://user:pw@127.0.0.1:9/{inp}", "http://[::1", "http://", "https://127.0.0.1:9/x.csv",
             "ftp://127.0.0.1/{inp}", "s3://", "s3:///x.csv", "file://", "file:///", "HTTP://127.0.0.1:9/x.csv",
             "@HTTP@/{inp}/../seed.csv", "@HTTP@/" + "x" * 300 + ".csv", "@HTTP@/caf%C3%A9.csv", "@HTTP@/%ZZ.csv"]
STORAGE_OPTIONS = ["anon=true", "anon=maybe", "=x", "k", "headers={}", "client_kwargs=1", "block_size=-1", "key=",
                   "a=b=c", "endpoint_url=@REFUSED@", "timeout=0.001", "\u00e9=1", "anon=", "headers={\"A\": \"b\"}",
                   "skip_instance_cache=true", "simple_links=1"]


@st.composite
def url_cases(draw, slow: bool = False) -> Case:
    """Inputs given as URLs: served, missing (404), forbidden (403), refused, file://, odd forms.

    ``slow``: also s3:// against a closed port (botocore retries for about 15 s).
    """
    seed = draw(_seeds())
    suffix, data, _cols, notes = draw(prediction_file(seed, clean=draw(st.sampled_from([True, True, "values",
                                                                                         False]))))
    inp = "inp" + suffix
    files = {inp: data, **_files_base(seed), "parts/a.csv": to_csv(list(seed.columns), [list(r) for r in seed.rows])}
    forms = URL_FORMS + (["s3://calib-fuzz/{inp}", "s3://calib-fuzz/*.csv"] if slow else [])
    urls = [f.format(inp=inp) for f in draw(st.lists(st.sampled_from(forms), min_size=1, max_size=2))]
    if draw(_chance(4)):
        urls.append(draw(st.sampled_from(["seed.csv", inp])))
    command = draw(st.sampled_from(["audit", "audit", "thresholds", "fit", "apply"]))
    opts: list[str] = []
    for so in draw(st.lists(st.sampled_from(STORAGE_OPTIONS), max_size=2)):
        if "s3://" in " ".join(urls) or "endpoint_url" not in so:
            opts += ["--storage-option", so]
    steps: list[tuple[str, ...]] = []
    base = list(seed.extra_args)
    if command == "audit":
        more = draw(st.lists(st.sampled_from(["--format json", "--per-file", "--no-calibration", "--html-out out.html",
                                              "--fit-on @HTTP@/seed.csv", "--baseline @HTTP@/seed.csv",
                                              "--fit-on @HTTP@/missing.csv", "--json-out out.json", "--statistics",
                                              "--batch-rows 7", "--memory-limit 0"]), max_size=3, unique=True))
        steps.append(("audit", *urls, *base, *opts, *[w for m in more for w in m.split(" ")]))
    elif command == "thresholds":
        steps.append(("thresholds", *urls, *base, *opts, "--bootstrap", "0",
                      *draw(st.sampled_from([[], ["-o", "out.csv"], ["--format", "json"], ["--html-out", "t.html"],
                                             ["--calibrator", "@HTTP@/cal.json"]]))))
    elif command == "fit":
        steps.append(("fit", *urls, *base, *opts, "-o", draw(st.sampled_from(["cal.json", "@HTTP@/cal.json"])), "-q"))
    else:
        steps.append(("fit", "seed.csv", *base, "-o", "cal.json", "-q"))
        out = draw(st.sampled_from(["out.csv", "out.parquet", "@HTTP@/out.csv", "file://@CWD@/out.csv"]))
        steps.append(("apply", draw(st.sampled_from(["cal.json", "@HTTP@/cal.json"])), *urls, *opts, "-o", out))
    notes.append(f"seed {seed.name}")
    return Case(files=files, steps=tuple(steps), notes=tuple(notes))


# ------------------------------------------------------------------ directories of parts

PART_KINDS = ["csv", "csv", "parquet", "parquet", "jsonl", "empty", "header_only", "readme", "hidden", "success",
              "other_columns", "subdir_csv", "gz_named", "bad_bytes", "unknown_ext", "crc", "symlink"]


@st.composite
def dir_cases(draw) -> Case:
    """A directory of parts as the input: mixed formats, no data files, empty parts, hidden files, subfolders."""
    seed = draw(_seeds())
    cols, rows = list(seed.columns), [list(r) for r in seed.rows]
    files: dict[str, bytes] = {**_files_base(seed), "parts/": b""}
    symlinks: dict[str, str] = {}
    kinds = draw(st.lists(st.sampled_from(PART_KINDS), min_size=0, max_size=3))
    if not draw(_chance(6)):  # mostly at least one good part first
        kinds = [draw(st.sampled_from(["csv", "parquet"]))] + kinds
    half = max(1, len(rows) // 2)
    notes = [f"seed {seed.name}", f"parts: {kinds}"]
    for j, kind in enumerate(kinds):
        chunk = rows[:half] if j % 2 == 0 else rows[half:]
        name = f"parts/part-{j:03d}"
        if kind == "csv":
            files[name + ".csv"] = to_csv(cols, chunk)
        elif kind == "parquet":
            files[name + ".parquet"] = to_parquet(cols, chunk, {})
        elif kind == "jsonl":
            files[name + ".jsonl"] = to_jsonl(cols, chunk)
        elif kind == "empty":
            files[name + draw(st.sampled_from([".csv", ".parquet"]))] = b""
        elif kind == "header_only":
            files[name + ".csv"] = to_csv(cols, [])
        elif kind == "readme":
            files["parts/README.txt"] = b"not data\n"
        elif kind == "hidden":
            files[f"parts/.part-{j}.csv"] = to_csv(cols, chunk)
        elif kind == "success":
            files["parts/_SUCCESS"] = b""
        elif kind == "crc":
            files[f"parts/.part-{j}.parquet.crc"] = b"\x00\x01"
        elif kind == "other_columns":
            files[name + ".csv"] = to_csv([c + "_x" for c in cols], chunk)
        elif kind == "subdir_csv":
            files[f"parts/sub/part-{j}.csv"] = to_csv(cols, chunk)
        elif kind == "gz_named":  # named .gz, not gzip
            files[name + ".csv.gz"] = to_csv(cols, chunk)
        elif kind == "bad_bytes":
            files[name + ".csv"], more = draw(byte_mutations(to_csv(cols, chunk)))
            notes += more
        elif kind == "unknown_ext":
            files[name + ".xlsx"] = to_csv(cols, chunk)
        elif kind == "symlink":
            symlinks[f"parts/link-{j}.csv"] = "../seed.csv"
    inp = draw(_mostly(st.sampled_from(["parts", "parts/", "./parts"]),
                       st.sampled_from(["parts/*", "parts/*.csv", "parts/**", "adir", "parts/sub"])))
    inputs = [inp] + draw(st.sampled_from([[], [], [], ["seed.csv"], ["parts"], ["adir"]]))
    command = draw(st.sampled_from(["audit", "audit", "thresholds", "fit", "apply"]))
    base = list(seed.extra_args)
    if command == "audit":
        more = draw(st.lists(st.sampled_from(["--per-file", "--format json", "--no-calibration", "--html-out out.html",
                                              "--html-out parts", "--json-out parts/report.json", "--batch-rows 3",
                                              "--fit-on parts", "--baseline parts", "--statistics", "--by label"]),
                             max_size=3, unique=True))
        steps = [("audit", *inputs, *base, *[w for m in more for w in m.split(" ")])]
    elif command == "thresholds":
        steps = [("thresholds", *inputs, *base, "--bootstrap", "0",
                  *draw(st.sampled_from([[], ["-o", "out.csv"], ["-o", "out.csv", "--keep-going"],
                                         ["--html-out", "parts"]])))]
    elif command == "fit":
        steps = [("fit", *inputs, *base, "-o", draw(st.sampled_from(["cal.json", "parts/cal.json", "parts"])), "-q")]
    else:
        out = draw(st.sampled_from(["out.csv", "out.parquet", "parts/out.csv", "parts", "outdir"]))
        steps = [("fit", "seed.csv", *base, "-o", "cal.json", "-q"), ("apply", "cal.json", *inputs, "-o", out)]
    return Case(files=files, steps=tuple(steps), symlinks=symlinks, notes=tuple(notes))


# ------------------------------------------------------------------ the Dask engine (slow to start)


@st.composite
def dask_cases(draw) -> Case:
    """A (possibly damaged) file through ``--engine dask --workers 1``; every command."""
    seed = draw(_seeds())
    suffix, data, _cols, notes = draw(prediction_file(seed, clean=draw(st.sampled_from([True, "values", False]))))
    inp = "inp" + suffix
    files = {inp: data, **_files_base(seed), "parts/a.csv": to_csv(list(seed.columns), [list(r) for r in seed.rows]),
             "parts/b.parquet": to_parquet(list(seed.columns), [list(r) for r in seed.rows], {})}
    engine = ["--engine", "dask", *draw(st.sampled_from([["--workers", "1"], ["--workers", "1"], ["--workers", "2"],
                                                         ["--scheduler", "@REFUSED@"], ["--workers", "0"]]))]
    inputs = draw(st.sampled_from([[inp], [inp, "seed.csv"], ["parts"], ["@HTTP@/" + inp]]))
    command = draw(st.sampled_from(["audit", "audit", "thresholds", "fit", "apply"]))
    base = list(seed.extra_args)
    if command == "audit":
        more = draw(st.lists(st.sampled_from(["--per-file", "--format json", "--no-calibration", "--by label",
                                              "--batch-rows 7", "--memory-limit 0", "--html-out out.html"]),
                             max_size=3, unique=True))
        steps = [("audit", *inputs, *base, *engine, *[w for m in more for w in m.split(" ")])]
    elif command == "thresholds":
        steps = [("thresholds", *inputs, *base, *engine, "--bootstrap", "0")]
    elif command == "fit":
        steps = [("fit", *inputs, *base, *engine, "-o", "cal.json", "-q")]
    else:
        steps = [("fit", "seed.csv", *base, "-o", "cal.json", "-q"),
                 ("apply", "cal.json", *inputs, *engine, "-o", draw(st.sampled_from(["out", "out.csv", "adir"])))]
    notes.append(f"seed {seed.name}")
    return Case(files=files, steps=tuple(steps), notes=tuple(notes))


def feature_cases(focus: str) -> st.SearchStrategy[Case]:
    """The strategy of one feature focus: groups, models, urls, urls_slow, dirs, dask."""
    load_seeds()
    from fuzz.strategies import config_keys

    config_keys()
    return {"groups": group_cases(), "models": model_cases(), "urls": url_cases(), "urls_slow": url_cases(slow=True),
            "dirs": dir_cases(), "dask": dask_cases()}[focus]


__all__ = ["feature_cases", "group_cases", "model_cases", "url_cases", "dir_cases", "dask_cases", "output_path",
           "_score_cols"]
