"""One input file as a stream of Arrow record batches holding only the columns asked for.

Formats and how they are streamed:

- CSV and other delimited text: ``pyarrow.csv.open_csv`` with the sniffed delimiter,
  the encoding (transcoded as it reads) and decimal commas; blocks of about
  ``batch_rows`` lines. The streaming reader fixes each column's type from the first
  block; when a later block does not fit (a word in a number column), the column is
  widened (integer -> float -> text -> bytes) and the file is read again from the
  start (:class:`TypesWidened`), so the types are those a whole-file read gives.
- Parquet: ``ParquetFile.iter_batches`` (``pre_buffer=False``, so memory does not
  grow with the file).
- Arrow IPC file (Feather v2) batch by batch; Arrow IPC stream; Feather v1 is read
  whole (a legacy format without batches).
- JSON Lines: ``pyarrow.json.open_json`` (pyarrow >= 20; older pyarrow reads the
  file whole) with numbers read as float64.
- NumPy ``.npz``: the arrays are loaded whole (the format has no batches), then
  served in batches.
- gzip, bz2 and zstd: decompressed as they are read; a compressed file of a
  random-access format (Parquet, Arrow file, .npz) is first decompressed to a
  temporary file.

Text columns that pyarrow could not decode (bytes not valid in the encoding) are
decoded here; bad cells are collected over the whole file and reported together
(count and first rows) once the file has been read, whatever the batch size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator

from calibcli.errors import InputError
from calibcli.sources.messages import bad_bytes_error, bad_text, unreadable
from calibcli.sources.paths import STDIN_DISPLAY, Spill
from calibcli.sources.probe import Probe, probe
from calibcli.sources.sniffing import byte_desc, printable

NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
MIN_BLOCK = 1 << 20  # smallest text block read at once (bytes)
MAX_BLOCK = 1 << 28
MAX_BAD_SHOWN = 5
_CSV_TYPE_ERROR = re.compile(r"In CSV column #(\d+): .*CSV conversion error to (\w+)")


class TypesWidened(Exception):
    """A text column did not fit the type read from the first block; the file must be read again."""


@dataclass
class _BadText:
    count: int = 0
    shown: list = field(default_factory=list)


class InputFile:
    """One input file (for stdin: the temporary file it was spilled to).

    Parameters
    ----------
    path : str
        Where the bytes are.
    encoding : str
        Text encoding of CSV and JSON Lines (and of binary columns of Parquet or Arrow files).
    display : str, optional
        The name used in messages (default ``path``; ``'<stdin>'`` for standard input).
    """

    def __init__(self, path: str, encoding: str = "utf-8", display: str | None = None):
        self.path = path
        self.encoding = encoding
        self.display = display or path
        self._types: dict[str, object] = {}  # CSV: column -> widened pyarrow type
        self._spill: Spill | None = None
        self._table = None  # .npz and Feather v1: the whole table

    # ---------------------------------------------------------------- format
    @cached_property
    def probe(self) -> Probe:
        return probe(self.path, self.display, self.encoding, stdin=self.display == STDIN_DISPLAY)

    @property
    def format(self) -> str:
        """'csv', 'jsonl', 'parquet', 'ipc_file', 'ipc_stream', 'feather_v1' or 'npz' (read from the first bytes)."""
        return self.probe.format

    @property
    def delimiter(self) -> str:
        """The field delimiter of a delimited-text file (sniffed from its header line)."""
        return self.probe.delimiter

    def open_stream(self):
        """A fresh pyarrow input stream over the (decompressed) bytes."""
        import pyarrow as pa

        return pa.input_stream(self.path, compression=self.probe.compression)

    def _local_path(self) -> str:
        """A path to the decompressed bytes (random-access formats)."""
        if not self.probe.compression:
            return self.path
        if self._spill is None:
            try:
                with self.open_stream() as s:
                    self._spill = Spill.of_stream(s, ".decompressed")
            except OSError as exc:
                raise InputError(f"{self.display}: cannot decompress the {self.probe.compression} data "
                                 f"({printable(str(exc))}). The file may be truncated; write it again.") from None
        return self._spill.path

    def close(self) -> None:
        """Delete temporary files made for this file (its data can still be read again; they are remade)."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def estimated_rows(self) -> int:
        """The number of data rows: exact where the format stores it (Parquet, .npz, Feather v1),
        else estimated from the file size and the mean length of the first lines."""
        import os

        fmt = self.format
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(self._local_path()).metadata.num_rows)
            if fmt in ("npz", "feather_v1"):
                return int(self._whole_table().num_rows)
            size = os.path.getsize(self.path)
        except InputError:
            raise
        except Exception:
            return 0
        if fmt in ("csv", "jsonl"):
            ratio = 4 if self.probe.compression else 1  # compressed text: assume 4:1
            return int(size * ratio / max(self.probe.line_bytes, 1.0))
        return int(size / 64)  # Arrow IPC: at least 64 bytes per row for a prediction file

    # ---------------------------------------------------------------- schema
    def column_names(self) -> list[str]:
        """Names of the columns, read from the header or schema only where the format allows."""
        fmt = self.format
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                return list(pq.ParquetFile(self._local_path()).schema_arrow.names)
            if fmt == "ipc_file":
                import pyarrow as pa

                with pa.OSFile(self._local_path()) as f:
                    return list(pa.ipc.open_file(f).schema.names)
            if fmt == "ipc_stream":
                import pyarrow as pa

                with self.open_stream() as s:
                    return list(pa.ipc.open_stream(s).schema.names)
            if fmt in ("npz", "feather_v1"):
                return list(self._whole_table().column_names)
            if fmt == "jsonl":
                return list(self._json_first_schema().names)
            return self._csv_header()
        except InputError:
            raise
        except UnicodeDecodeError as exc:
            raise bad_text(self, exc) from None
        except Exception as exc:  # pyarrow raises several types for corrupt input
            raise unreadable(self, exc) from None

    # --------------------------------------------------------------- batches
    def record_batches(self, columns: list[str] | None, batch_rows: int,
                       numeric: tuple[str, ...] = ()) -> Iterator:
        """Record batches of at most ``batch_rows`` rows holding ``columns`` (all when None), in file order.

        ``numeric`` names columns read as float64 where the format leaves the choice
        (CSV, JSON Lines). Raises :class:`TypesWidened` when a CSV column had to be
        widened (call again: the file is read from the start with the wider type);
        ``InputError`` for unreadable files, bytes not valid in the encoding (after the
        last batch, naming every bad column with its count and first rows) and files
        without data rows.
        """
        import pyarrow as pa

        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
        fmt = self.format
        reader = {"parquet": self._parquet, "ipc_file": self._ipc_file, "ipc_stream": self._ipc_stream,
                  "feather_v1": self._whole, "npz": self._whole, "jsonl": self._json, "csv": self._csv}[fmt]
        bad: dict[str, _BadText] = {}
        rows = 0
        it = reader(columns, batch_rows, numeric)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                break
            except (InputError, TypesWidened):
                raise
            except UnicodeDecodeError as exc:
                raise bad_text(self, exc) from None
            except Exception as exc:
                if fmt == "csv" and self._widen(exc, columns):
                    raise TypesWidened(self.display) from None
                raise unreadable(self, exc, rows) from None
            if fmt in ("ipc_file", "ipc_stream", "feather_v1"):
                try:
                    batch.validate(full=True)  # IPC buffers are taken as they are: corrupt offsets must not reach numpy
                except (pa.ArrowInvalid, pa.ArrowException) as exc:
                    raise unreadable(self, exc) from None
            if fmt != "csv":  # pyarrow's CSV reader checks UTF-8 itself (a column with bad bytes is binary)
                batch = self._invalid_text_as_binary(batch)
            batch = self._decode_binary(batch, rows, bad)
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows) if batch.num_rows > batch_rows else batch
            rows += batch.num_rows
        if bad:
            order = columns if columns is not None else list(bad)
            col = min(bad, key=lambda c: order.index(c) if c in order else len(order))  # the first in column order
            raise bad_bytes_error(self.display, col, self.probe.encoding, bad[col].count, bad[col].shown)
        if rows == 0:
            raise InputError(
                f"{self.display}: the file has column names but no data rows. "
                "Check that the export finished writing, or drop the file from the command."
            )

    def read_table(self, columns: list[str] | None = None, batch_rows: int = 1 << 20):
        """The whole file as one table (for ``calib apply`` until it streams)."""
        import pyarrow as pa

        while True:
            try:
                batches = list(self.record_batches(columns, batch_rows))
            except TypesWidened:
                continue
            return pa.Table.from_batches(batches)

    # ---------------------------------------------------------------- readers
    def _parquet(self, columns, batch_rows, numeric):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self._local_path(), pre_buffer=False)
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns)

    def _ipc_file(self, columns, batch_rows, numeric):
        import pyarrow as pa

        with pa.OSFile(self._local_path()) as f:
            reader = pa.ipc.open_file(f)
            for i in range(reader.num_record_batches):
                b = reader.get_batch(i)
                yield b.select(columns) if columns is not None else b

    def _ipc_stream(self, columns, batch_rows, numeric):
        import pyarrow as pa

        with self.open_stream() as s:
            for b in pa.ipc.open_stream(s):
                yield b.select(columns) if columns is not None else b

    def _whole_table(self):
        if self._table is None:
            if self.format == "npz":
                self._table = self._read_npz()
            else:
                import pyarrow.feather as feather

                try:
                    self._table = feather.read_table(self._local_path(), memory_map=False)
                except Exception as exc:
                    raise unreadable(self, exc) from None
        return self._table

    def _whole(self, columns, batch_rows, numeric):
        table = self._whole_table()
        table = table.select(columns) if columns is not None else table
        yield from table.to_batches(max_chunksize=batch_rows)

    def _read_npz(self):
        import numpy as np

        try:
            with np.load(self._local_path(), allow_pickle=False) as npz:
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
        from calibcli.sources.npz import npz_to_table

        return npz_to_table(arrays, self.display, self.probe.encoding)

    # ------------------------------------------------------------------- text
    def _block_size(self, batch_rows: int) -> int:
        return int(min(MAX_BLOCK, max(MIN_BLOCK, self.probe.line_bytes * batch_rows * 1.1)))

    def _csv_options(self, columns, batch_rows: int, numeric=(), plan: bool = True):
        import pyarrow as pa
        import pyarrow.csv as pcsv

        p = self.probe
        enc = "utf8" if p.encoding == "utf-8" else p.encoding  # utf8: pyarrow reads without transcoding
        read = pcsv.ReadOptions(encoding=enc, block_size=self._block_size(batch_rows))
        parse = pcsv.ParseOptions(delimiter=p.delimiter)
        types = {c: pa.float64() for c in numeric}
        if plan:
            types.update(self._types)
        convert = pcsv.ConvertOptions(include_columns=columns, column_types=types, strings_can_be_null=True,
                                      null_values=NULL_VALUES, decimal_point=p.decimal)
        return read, parse, convert

    def _csv_header(self) -> list[str]:
        import pyarrow.csv as pcsv

        read, parse, convert = self._csv_options(None, 1, plan=False)
        read.block_size = 1 << 16
        with self.open_stream() as s:
            with pcsv.open_csv(s, read_options=read, parse_options=parse, convert_options=convert) as reader:
                return list(reader.schema.names)  # first block only

    def _csv(self, columns, batch_rows, numeric):
        import pyarrow.csv as pcsv

        read, parse, convert = self._csv_options(columns, batch_rows, numeric)
        with self.open_stream() as s:
            with pcsv.open_csv(s, read_options=read, parse_options=parse, convert_options=convert) as reader:
                yield from reader

    def _widen(self, exc: Exception, columns) -> bool:
        """Widen the CSV column a conversion error names; False when the error is not one."""
        import pyarrow as pa

        m = _CSV_TYPE_ERROR.search(str(exc))
        if not m:
            return False
        names = self._csv_header()
        i = int(m.group(1))
        if i >= len(names):
            return False
        name, was = names[i], m.group(2)
        wider = {"int8": pa.float64(), "int16": pa.float64(), "int32": pa.float64(), "int64": pa.float64(),
                 "uint8": pa.float64(), "uint16": pa.float64(), "uint32": pa.float64(), "uint64": pa.float64(),
                 "null": pa.float64(), "string": pa.binary(), "binary": None}.get(was, pa.string())
        if wider is None or self._types.get(name) == wider:
            return False
        self._types[name] = wider
        return True

    def _json_stream(self):
        import pyarrow as pa

        p = self.probe
        s = self.open_stream()
        if p.encoding != "utf-8":
            return pa.transcoding_input_stream(s, p.encoding, "utf-8")
        return s

    def _json_first_schema(self):
        import pyarrow.json as pj

        if not hasattr(pj, "open_json"):
            return self._json_whole().schema
        with self._json_stream() as s:
            with pj.open_json(s, read_options=pj.ReadOptions(block_size=MIN_BLOCK)) as reader:
                return reader.schema

    def _json_whole(self):
        import pyarrow.json as pj

        if self._table is None:
            with self._json_stream() as s:
                self._table = pj.read_json(s)
        return self._table

    def _json(self, columns, batch_rows, numeric):
        import pyarrow as pa
        import pyarrow.json as pj

        if not hasattr(pj, "open_json"):  # pyarrow < 20: read whole
            table = self._json_whole()
            table = table.select(columns) if columns is not None else table
            yield from table.to_batches(max_chunksize=batch_rows)
            return
        first = self._json_first_schema()
        fields = []
        for f in first:
            if columns is not None and f.name not in columns:
                continue
            t = f.type
            if pa.types.is_integer(t) or (f.name in numeric and (pa.types.is_null(t) or pa.types.is_floating(t))):
                t = pa.float64()  # numbers: an integer column may hold a fraction further down
            fields.append(pa.field(f.name, t))
        parse = pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")
        with self._json_stream() as s:
            with pj.open_json(s, read_options=pj.ReadOptions(block_size=self._block_size(batch_rows) * 2),
                              parse_options=parse) as reader:
                for b in reader:
                    yield b.select(columns) if columns is not None else b

    def _invalid_text_as_binary(self, batch):
        """Text columns holding bytes that are not UTF-8 (pyarrow's JSON and Parquet readers pass them
        through) become binary, to be decoded and reported by :meth:`_decode_binary`; in JSON Lines
        the error names the line instead."""
        import pyarrow as pa

        arrays = list(batch.columns)
        changed = False
        for i, col in enumerate(arrays):
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                try:
                    col.validate(full=True)
                except pa.ArrowInvalid:
                    if self.format == "jsonl":
                        raise bad_text(self, None) from None
                    arrays[i] = col.view(pa.binary() if pa.types.is_string(col.type) else pa.large_binary())
                    changed = True
        return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch

    # -------------------------------------------------------------- encoding
    def _decode_binary(self, batch, row0: int, bad: dict[str, _BadText]):
        """Binary columns (text pyarrow could not decode as UTF-8) decoded with the encoding; bad cells
        become null and are recorded in ``bad`` (rows numbered from 1 within the file)."""
        import pyarrow as pa

        enc = self.probe.encoding
        if not any(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
                   for t in batch.schema.types):
            return batch
        arrays = list(batch.columns)
        for i, fld in enumerate(batch.schema):
            t = fld.type
            if not (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)):
                continue
            col = arrays[i]
            if enc == "utf-8":
                try:
                    arrays[i] = col.cast(pa.string())
                    continue
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass
            values = []
            for r, v in enumerate(col.to_pylist()):
                if v is None:
                    values.append(None)
                    continue
                try:
                    values.append(v.decode(enc))
                except UnicodeDecodeError as exc:
                    b = bad.setdefault(fld.name, _BadText())
                    b.count += 1
                    if len(b.shown) < MAX_BAD_SHOWN:
                        b.shown.append((row0 + r + 1, byte_desc(exc)))
                    values.append(None)
            arrays[i] = pa.array(values, type=pa.string())
        return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
