"""Reading prediction files into pyarrow tables.

Formats: CSV and other delimited text (the delimiter, one of comma, tab, semicolon
and pipe, is sniffed from the header line; a file that is not comma-separated and
writes numbers as ``0,25`` is read with decimal commas), Parquet, Arrow IPC (file and stream;
Feather v1 and v2), JSON Lines and NumPy ``.npz``; text formats may be gzip-, bz2-
or zstd-compressed; files or stdin. The format is decided from the first bytes
(magic numbers), not from the file name alone; anything else is an "unsupported
format" error naming the formats calib reads.

Text is UTF-8 unless an encoding is given (``--encoding``): CSV is transcoded by
pyarrow's reader as it reads (``ReadOptions(encoding=...)``), so the same options
serve a streaming reader (``pyarrow.csv.open_csv``). Bytes that are not valid in
the encoding are an error naming the file, the column or line and the rows.

Only this module touches file formats; everything it raises is an ``InputError``
that names the file and says what to do. Messages never show raw bytes.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass
from functools import cached_property

from calibcli.errors import InputError
from calibcli.sniffing import (
    DELIMITER_NAMES,
    ENCODING_FIX,
    SUPPORTED,
    UNSUPPORTED_MAGIC,
    byte_desc,
    compression_of,
    decimal_comma,
    enc_name,
    normalize_encoding,
    printable,
    sniff_delimiter,
)

__all__ = ["STDIN", "SUPPORTED", "InputPaths", "Source", "expand_inputs", "normalize_encoding", "sniff_delimiter"]

STDIN = "-"
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 1 << 16
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


class InputPaths(list):
    """The expanded input paths (a ``list`` of ``str``) and notes on what was merged.

    ``notes`` holds one sentence per input that named a file already given under
    another spelling (read once), for the caller to show as a warning.
    """

    notes: tuple[str, ...] = ()


def _file_key(path: str) -> tuple[int, int] | str:
    try:
        st = os.stat(path)
    except OSError:
        return os.path.abspath(path)
    return (st.st_dev, st.st_ino)


def expand_inputs(patterns: list[str] | tuple[str, ...]) -> InputPaths:
    """Expand globs, keep order, read each file once; ``-`` stands for stdin.

    A file named twice, under the same or another spelling (``x.csv ./x.csv``, a
    symlink, a hard link, a glob that also matches it: the same device and inode),
    is kept once under its first spelling; each such repeat under another spelling
    adds a sentence to ``notes``. A pattern with glob characters that matches
    nothing is an error, as is a plain path that does not exist.

    Parameters
    ----------
    patterns : file names, globs or ``-``.

    Returns
    -------
    InputPaths
        The files in order (a list of str) with ``notes``.

    Examples
    --------
    >>> expand_inputs(["-"])
    ['-']
    """
    out = InputPaths()
    notes: list[str] = list(getattr(patterns, "notes", ()))
    seen: dict[tuple[int, int] | str, str] = {}
    for pat in patterns:
        if pat == STDIN:
            matches = [STDIN]
        elif any(ch in pat for ch in "*?["):
            matches = sorted(glob.glob(pat, recursive=True))
            if not matches:
                raise InputError(f"{pat}: the pattern matches no file. Check the path and quote the pattern so the shell does not expand it.")
        else:
            if not os.path.exists(pat):
                raise InputError(f"{pat}: no such file. Check the path (the working directory is {os.getcwd()}).")
            if os.path.isdir(pat):
                raise InputError(f"{pat}: is a directory, not a prediction file. Pass the files inside it, e.g. '{os.path.join(pat, '*.parquet')}'.")
            matches = [pat]
        for m in matches:
            key = STDIN if m == STDIN else _file_key(m)
            first = seen.get(key)
            if first is None:
                seen[key] = m
                out.append(m)
            elif first != m:
                notes.append(f"{m} is the same file as {first} (same device and inode); it is read once")
    if not out:
        raise InputError(f"no input files given. Pass one or more prediction files ({SUPPORTED}), or '-' for stdin.")
    out.notes = tuple(dict.fromkeys(notes))
    return out


@dataclass(frozen=True)
class _Probe:
    format: str  # 'csv' | 'jsonl' | 'parquet' | 'ipc_file' | 'ipc_stream' | 'feather_v1' | 'npz'
    compression: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: str = "."  # ',' for semicolon/tab/pipe files whose numbers are written 0,5 (European Excel)


@dataclass
class Source:
    """One input file (or stdin), read lazily and at most once.

    ``encoding`` is the text encoding of CSV and JSON Lines input (and of binary
    columns of Parquet or Arrow files); UTF-8 by default.
    """

    name: str
    encoding: str = "utf-8"

    # ------------------------------------------------------------------ bytes
    @cached_property
    def _stdin_bytes(self) -> bytes:
        data = sys.stdin.buffer.read()
        codec = compression_of(data[:4])
        if codec:
            data = self._decompress_all(data, codec)
        return data

    def _decompress_all(self, data: bytes, codec: str) -> bytes:
        import pyarrow as pa

        try:
            return pa.input_stream(pa.BufferReader(data), compression=codec).read()
        except Exception as exc:
            raise InputError(f"{self.display}: cannot decompress the {codec} data ({printable(str(exc))}). "
                             "The file may be truncated; write it again.") from None

    def _raw_head(self) -> bytes:
        if self.name == STDIN:
            return self._stdin_bytes[:HEAD_BYTES]
        try:
            with open(self.name, "rb") as fh:
                return fh.read(HEAD_BYTES)
        except OSError as exc:
            raise InputError(f"{self.display}: cannot open the file ({exc.strerror}). Check its permissions.") from None

    def _stream(self, compression: str | None):
        """A fresh pyarrow input stream over the (decompressed) bytes."""
        import pyarrow as pa

        if self.name == STDIN:
            return pa.BufferReader(self._stdin_bytes)
        return pa.input_stream(self.name, compression=compression)

    def _random_access(self):
        """A seekable pyarrow file over the (decompressed) bytes (binary formats)."""
        import pyarrow as pa

        if self.name == STDIN:
            return pa.BufferReader(self._stdin_bytes)
        if self._probe.compression:
            return pa.BufferReader(self._all_bytes())
        return self.name

    def _all_bytes(self) -> bytes:
        if self.name == STDIN:
            return self._stdin_bytes
        try:
            with self._stream(self._probe.compression) as s:
                return s.read()
        except OSError as exc:
            raise InputError(f"{self.display}: cannot read the file ({printable(str(exc))}).") from None

    # ----------------------------------------------------------------- format
    @cached_property
    def _probe(self) -> _Probe:
        head = self._raw_head()
        if not head and self.name == STDIN:
            raise InputError("<stdin>: no data arrived on standard input. Pipe a prediction file into calib "
                             "(e.g. calib audit - < preds.csv), or pass a file name.")
        if not head:
            raise InputError(f"{self.display}: the file is empty. Write the predictions with a header row and at least one data row.")
        compression = None if self.name == STDIN else compression_of(head)
        if compression:
            try:
                with self._stream(compression) as s:
                    head = s.read(HEAD_BYTES)
            except Exception as exc:
                raise InputError(f"{self.display}: cannot decompress the {compression} data ({printable(str(exc))}). "
                                 "The file may be truncated; write it again.") from None
            if not head:
                raise InputError(f"{self.display}: the file is empty once decompressed. Write the predictions with a header row and at least one data row.")
        lower = self.name.lower()
        if head.startswith(PARQUET_MAGIC):
            return _Probe("parquet", compression)
        if head.startswith(b"ARROW1"):
            return _Probe("ipc_file", compression)
        if head.startswith(b"FEA1"):
            return _Probe("feather_v1", compression)
        if head.startswith(b"\xff\xff\xff\xff") and len(head) >= 8:
            return _Probe("ipc_stream", compression)
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            return _Probe(self._zip_kind(compression), compression)
        if head.startswith(b"\x80") and len(head) > 1 and 2 <= head[1] <= 5:
            raise self._unsupported("a Python pickle", "calib never unpickles files (unsafe); write the predictions "
                                    "with DataFrame.to_parquet or to_csv, or np.savez for arrays.")
        if len(head) > 262 and head[257:262] == b"ustar":
            raise self._unsupported("a tar archive", "Extract it and pass the files inside.")
        for magic, what, hint in UNSUPPORTED_MAGIC:
            if head.startswith(magic):
                raise self._unsupported(what, hint)
        if lower.endswith((".parquet", ".pq")):
            raise InputError(f"{self.display}: the file is named as Parquet but does not start like one (no PAR1 magic). "
                             "It may be truncated or in another format; write it again.")
        encoding = self.encoding
        if encoding == "utf-8" and head.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"  # a byte-order mark says so (Excel's "Unicode text")
        if b"\x00" in head and not encoding.startswith(("utf-16", "utf-32")):
            raise self._unsupported("binary data of an unknown kind", "")
        text = head.decode(encoding, errors="replace").lstrip("\ufeff")
        first = text.lstrip()[:1]
        if first == "[" and (lower.endswith(".json") or re.match(r"\s*\[\s*[\[{]", text)):
            raise self._unsupported(
                "a JSON array", "Write JSON Lines instead, one object per line "
                "(pandas: df.to_json(path, orient='records', lines=True)).")
        if first == "{" or lower.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
            return _Probe("jsonl", compression, encoding=encoding)
        lines = text.splitlines()
        delimiter = sniff_delimiter(lines[0] if lines else "")
        return _Probe("csv", compression, delimiter, encoding, "," if decimal_comma(lines, delimiter) else ".")

    def _zip_kind(self, compression: str | None) -> str:
        import io
        import zipfile

        data = self._all_bytes() if (self.name == STDIN or compression) else None
        try:
            with zipfile.ZipFile(io.BytesIO(data) if data is not None else self.name) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(f"{self.display}: the file starts like a zip archive but cannot be read as one "
                             f"({printable(str(exc))}). It may be truncated; write it again.") from None
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            raise self._unsupported("an Excel workbook (.xlsx)", "Save the sheet as CSV (File > Save As > CSV UTF-8), "
                                    "or with pandas: pd.read_excel(path).to_parquet('preds.parquet').")
        if self.name.lower().endswith(".npz"):
            raise self._unsupported("a zip archive that is not a NumPy .npz (it holds files other than .npy arrays)", "")
        raise self._unsupported("a zip archive", "Extract it and pass the prediction files inside (or compress a single "
                                "CSV with gzip: calib reads .csv.gz).")

    def _unsupported(self, what: str, hint: str) -> InputError:
        return InputError(f"{self.display}: unsupported format ({what}). calib reads {SUPPORTED}."
                          + (f" {hint}" if hint else ""))

    @property
    def format(self) -> str:
        """'csv', 'jsonl', 'parquet', 'ipc_file', 'ipc_stream', 'feather_v1' or 'npz' (read from the first bytes)."""
        return self._probe.format

    @property
    def delimiter(self) -> str:
        """The field delimiter of a delimited-text file (sniffed from its header line)."""
        return self._probe.delimiter

    @property
    def display(self) -> str:
        return "<stdin>" if self.name == STDIN else self.name

    # ---------------------------------------------------------------- reading
    def _csv_options(self, columns: list[str] | None = None):
        import pyarrow.csv as pcsv

        probe = self._probe
        enc = "utf8" if probe.encoding == "utf-8" else probe.encoding  # utf8: pyarrow reads without transcoding
        read = pcsv.ReadOptions(encoding=enc, block_size=1 << 20)
        parse = pcsv.ParseOptions(delimiter=probe.delimiter)
        convert = pcsv.ConvertOptions(include_columns=columns, strings_can_be_null=True, null_values=NULL_VALUES,
                                      decimal_point=probe.decimal)
        return read, parse, convert

    def _csv_header(self) -> list[str]:
        import pyarrow.csv as pcsv

        read, parse, convert = self._csv_options()
        read.block_size = 1 << 16
        if self.name == STDIN:
            stream = self._stream(None)
        else:
            stream = self._stream(self._probe.compression)
        with pcsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert) as reader:
            return list(reader.schema.names)  # first block only, stdin too

    @cached_property
    def _whole_table(self):
        """JSON Lines and .npz are read whole, once."""
        if self.format == "npz":
            return self._read_npz()
        return self._read_jsonl()

    def _read_jsonl(self):
        import pyarrow as pa
        import pyarrow.json as pj

        data = self._all_bytes()
        try:
            text = data.decode(self._probe.encoding)
        except UnicodeDecodeError as exc:
            raise self._bad_text(exc, data) from None
        table = pj.read_json(pa.BufferReader(text.lstrip("\ufeff").encode("utf-8")))
        return table

    def _read_npz(self):
        import io

        import numpy as np

        src = io.BytesIO(self._all_bytes()) if (self.name == STDIN or self._probe.compression) else self.name
        try:
            with np.load(src, allow_pickle=False) as npz:
                arrays = {}
                for key in npz.files:
                    try:
                        arrays[key] = npz[key]
                    except ValueError:
                        raise InputError(
                            f"{self.display}: the array '{key}' holds Python objects (pickled), which calib never loads. "
                            "Save plain arrays: integers or np.array(labels, dtype=str) for labels, floats for scores."
                        ) from None
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{self.display}: cannot read the file as NumPy .npz ({printable(str(exc))}). "
                             "It may be truncated; save it again with np.savez.") from None
        from calibcli.npz import npz_to_table

        return npz_to_table(arrays, self.display, self._probe.encoding)

    def _ipc_reader_table(self, columns: list[str] | None, schema_only: bool = False):
        import pyarrow as pa
        import pyarrow.feather as feather

        handle = self._random_access()
        if self.format == "ipc_stream":
            with pa.ipc.open_stream(handle if not isinstance(handle, str) else pa.memory_map(handle)) as reader:
                if schema_only:
                    return reader.schema
                table = reader.read_all()
            return table.select(columns) if columns is not None else table
        if schema_only and self.format == "ipc_file":
            src = handle if not isinstance(handle, str) else pa.memory_map(handle)
            return pa.ipc.open_file(src).schema
        table = feather.read_table(handle, columns=columns, memory_map=isinstance(handle, str))
        return table.schema if schema_only else table

    def column_names(self) -> list[str]:
        """Names of the columns, read from the header or schema only where the format allows."""
        fmt = self.format
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                return list(pq.read_schema(self._random_access()).names)
            if fmt in ("ipc_file", "ipc_stream", "feather_v1"):
                return list(self._ipc_reader_table(None, schema_only=True).names)
            if fmt in ("jsonl", "npz"):
                return list(self._whole_table.column_names)
            return self._csv_header()
        except InputError:
            raise
        except UnicodeDecodeError as exc:
            raise self._bad_text(exc, None) from None
        except Exception as exc:  # pyarrow raises several types for corrupt input
            raise self._unreadable(exc) from None

    def read(self, columns: list[str] | None = None):
        """The table, restricted to ``columns`` when given; text columns decoded and checked."""
        fmt = self.format
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                # ParquetFile reads without the dataset layer (which imports pandas)
                table = pq.ParquetFile(self._random_access()).read(columns=columns)
            elif fmt in ("ipc_file", "ipc_stream", "feather_v1"):
                table = self._ipc_reader_table(columns)
                table.validate(full=True)  # IPC buffers are taken as they are: corrupt offsets must not reach numpy
            elif fmt in ("jsonl", "npz"):
                table = self._whole_table
                table = table.select(columns) if columns is not None else table
            else:
                import pyarrow.csv as pcsv

                read, parse, convert = self._csv_options(columns)
                table = pcsv.read_csv(self._stream(self._probe.compression if self.name != STDIN else None),
                                      read_options=read, parse_options=parse, convert_options=convert)
        except InputError:
            raise
        except UnicodeDecodeError as exc:
            raise self._bad_text(exc, None) from None
        except Exception as exc:
            raise self._unreadable(exc) from None
        table = self._decode_binary_columns(table)
        if table.num_rows == 0:
            raise InputError(
                f"{self.display}: the file has column names but no data rows. "
                "Check that the export finished writing, or drop the file from the command."
            )
        return table

    # --------------------------------------------------------------- encoding
    def _decode_binary_columns(self, table):
        """Binary columns (text pyarrow could not decode as UTF-8) decoded with the
        encoding; bytes invalid in it are an error naming the column and rows."""
        import pyarrow as pa

        enc = self._probe.encoding
        for i, fld in enumerate(table.schema):
            t = fld.type
            if not (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)):
                continue
            col = table.column(i)
            if enc == "utf-8":
                try:
                    table = table.set_column(i, fld.name, col.cast(pa.string()))
                    continue
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass
            values, bad = [], []
            for r, v in enumerate(col.to_pylist()):
                if v is None:
                    values.append(None)
                    continue
                try:
                    values.append(v.decode(enc))
                except UnicodeDecodeError as exc:
                    bad.append((r, exc))
                    values.append(None)
            if bad:
                shown = ", ".join(f"row {r + 1} has byte {byte_desc(e)}" for r, e in bad[:5])
                more = f", and {len(bad) - 5} more" if len(bad) > 5 else ""
                raise InputError(
                    f"{self.display}: column '{fld.name}' is not valid {enc_name(enc)} text in {len(bad)} "
                    f"row{'s' if len(bad) != 1 else ''} ({shown}{more}; rows are numbered from 1, not counting the header). "
                    + (f"The file is read as UTF-8. {ENCODING_FIX}." if enc == "utf-8"
                       else "Pass the encoding the file was written in with --encoding (latin-1 accepts every byte).")
                )
            table = table.set_column(i, fld.name, pa.array(values, type=pa.string()))
        return table

    def _bad_text(self, exc: UnicodeDecodeError, data: bytes | None) -> InputError:
        """An error for text that is not valid in the encoding, naming the first bad line."""
        enc = self._probe.encoding
        line = self._first_bad_line(data)
        where = ""
        if line is not None:
            no, desc = line
            if self.format == "csv":
                where = " in the header line (column names)" if no == 1 else f" on line {no} (data row {no - 1})"
            else:
                where = f" on line {no} (row {no})"
        else:
            where = f" ({byte_desc(exc)})"
            desc = ""
        fix = (f"The file is read as UTF-8. {ENCODING_FIX}." if enc == "utf-8"
               else "Pass the encoding the file was written in with --encoding (latin-1 accepts every byte).")
        return InputError(f"{self.display}: the file is not valid {enc_name(enc)} text{where}{': ' + desc if desc else ''}. {fix}")

    def _first_bad_line(self, data: bytes | None) -> tuple[int, str] | None:
        enc = self._probe.encoding
        if enc.startswith(("utf-16", "utf-32")):
            return None
        try:
            data = self._all_bytes() if data is None else data
        except InputError:
            return None
        for no, raw in enumerate(data.split(b"\n"), start=1):
            try:
                raw.decode(enc)
            except UnicodeDecodeError as exc:
                return no, f"byte {byte_desc(exc)} at position {exc.start + 1}"
        return None

    def _first_ragged_line(self) -> str | None:
        """Where the first line with another number of fields than the header is (error path only)."""
        import csv
        import io

        try:
            text = self._all_bytes().decode(self._probe.encoding, errors="replace").lstrip("\ufeff")
        except InputError:
            return None
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
        try:
            header = next(reader)
            for record in reader:
                if record and len(record) != len(header):
                    return (f"line {reader.line_num} has {len(record)} field{'s' if len(record) != 1 else ''}, "
                            f"the header has {len(header)}")
        except (csv.Error, StopIteration):
            return None
        return None

    def _unreadable(self, exc: Exception) -> InputError:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = printable(msg)
        fmt = self.format
        if fmt == "parquet":
            return InputError(
                f"{self.display}: cannot read the file as Parquet ({msg}). "
                "The file may be truncated or corrupt; write it again, or check that it is really Parquet."
            )
        if fmt in ("ipc_file", "ipc_stream", "feather_v1"):
            return InputError(f"{self.display}: cannot read the file as Arrow IPC/Feather ({msg}). "
                              "The file may be truncated or corrupt; write it again.")
        if fmt == "jsonl":
            msg = re.sub(r"in row (\d+)", lambda m: f"on line {int(m.group(1)) + 1}", msg)  # pyarrow counts from 0
            return InputError(f"{self.display}: cannot read the file as JSON Lines ({msg}). "
                              "Write one JSON object per line, with the same keys on every line.")
        if "Empty CSV file" in msg:
            return InputError(f"{self.display}: the file is empty. Write the predictions with a header row and at least one data row.")
        delim = DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))
        if "Expected" in msg and "columns" in msg:
            ragged = self._first_ragged_line()
            if ragged:
                msg = ragged
        return InputError(
            f"{self.display}: cannot read the file as CSV ({msg}). It was read as {delim}-separated text (the "
            "delimiter is taken from the header line); check that every line has the same number of "
            "fields as the header, and that text containing the delimiter is quoted."
        )
