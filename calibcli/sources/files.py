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
- URLs (:class:`calibcli.sources.remote.RemoteURL`): the same readers over fsspec
  file objects; text streams, random-access formats use ranged reads (a temporary
  copy only when an HTTP server does not answer range requests).

Text columns that pyarrow could not decode (bytes not valid in the encoding) are
decoded here; bad cells are collected over the whole file and reported together
(count and first rows) once the file has been read, whatever the batch size.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from typing import Iterator

from calibcli.errors import InputError
from calibcli.sources.decoding import BadText, decode_binary, invalid_text_as_binary
from calibcli.sources.messages import bad_bytes_error, bad_text, unreadable
from calibcli.sources.paths import STDIN_DISPLAY, Spill
from calibcli.sources.probe import Probe, probe
from calibcli.sources.remote import RemoteURL, open_remote, remote_error, remote_size, scheme_of, seekable
from calibcli.sources.sniffing import printable
from calibcli.sources.text import TextFormats



class TypesWidened(Exception):
    """A text column did not fit the type read from the first block; the file must be read again."""


def open_input(path: str, storage_options=(), encoding: str = "utf-8") -> "InputFile":
    """One input file or URL, ready to read in any process (nothing is opened until it is read).

    Parameters
    ----------
    path : a local path, a ``file://`` URL, a URL (s3://, gs://, az://, abfs://, http(s)://)
        or a :class:`~calibcli.sources.remote.RemoteURL` from ``expand_inputs``.
    storage_options : (key, value) pairs for the URL's filesystem (ignored for local paths
        and for a ``RemoteURL``, which carries its own).
    encoding : text encoding of CSV and JSON Lines.
    """
    return InputFile(path, encoding, storage_options=storage_options)


class InputFile(TextFormats):
    """One input file (for stdin: the temporary file it was spilled to), local or a URL.

    Parameters
    ----------
    path : str
        Where the bytes are: a local path, or a URL (a plain URL string is opened with
        ``storage_options``; a ``RemoteURL`` carries its own).
    encoding : str
        Text encoding of CSV and JSON Lines (and of binary columns of Parquet or Arrow files).
    display : str, optional
        The name used in messages (default ``path``, redacted for URLs; ``'<stdin>'`` for standard input).
    storage_options : tuple of (key, value), optional
        Options of the URL's filesystem (``--storage-option``); never shown.

    The object pickles without its temporary files (a worker process reads the file itself).
    """

    def __init__(self, path: str, encoding: str = "utf-8", display: str | None = None, storage_options=()):
        scheme = None if isinstance(path, RemoteURL) else scheme_of(path)
        if scheme == "file":
            from calibcli.sources.paths import _file_url_path

            path = _file_url_path(path)
        if isinstance(storage_options, dict):
            storage_options = tuple(storage_options.items())
        if scheme is not None and scheme != "file":
            path = RemoteURL(path, storage_options)
        self.remote: RemoteURL | None = path if isinstance(path, RemoteURL) else None
        self.path = path
        self.encoding = encoding
        self.display = display or str(path)
        self._types: dict[str, object] = {}  # CSV: column -> widened pyarrow type
        self._spill: Spill | None = None
        self._table = None  # .npz and Feather v1: the whole table
        self._estimated_rows: int | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_spill"] = None  # temporary files stay with the process that made them
        state["_table"] = None
        return state

    def scrub(self, text: str) -> str:
        """``text`` (e.g. a library's error message) with the URL redacted and its secrets masked."""
        return self.remote.scrub(text) if self.remote is not None else text

    def open_raw(self, sequential: bool = True):
        """A binary file object over the raw (possibly compressed) bytes; the caller closes it."""
        if self.remote is None:
            return open(self.path, "rb")
        return open_remote(self.remote.url, self.remote.storage_options, sequential)

    # ---------------------------------------------------------------- format
    @cached_property
    def probe(self) -> Probe:
        if self.remote is None:
            return probe(self.path, self.display, self.encoding, stdin=self.display == STDIN_DISPLAY)
        try:
            return probe(self.path, self.display, self.encoding, opener=self.open_raw)
        except InputError as exc:
            raise InputError(self.scrub(str(exc))) from None

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

        if self.remote is None:
            return pa.input_stream(self.path, compression=self.probe.compression)
        return pa.input_stream(self.open_raw(sequential=True), compression=self.probe.compression)

    @contextmanager
    def _random_access(self):
        """A local path or a seekable binary file object holding the decompressed bytes (random-access
        formats). A compressed file, or a URL whose server does not answer range requests, is first
        copied to a temporary file (kept until :meth:`close`)."""
        if self._spill is not None:
            yield self._spill.path
            return
        if not self.probe.compression:
            if self.remote is None:
                yield self.path
                return
            f = self.open_raw(sequential=False)
            if seekable(f):
                with f:
                    yield f
                return
            f.close()
        what = f"decompress the {self.probe.compression} data" if self.probe.compression else "copy the file"
        try:
            with self.open_stream() as s:
                self._spill = Spill.of_stream(s, ".decompressed" if self.probe.compression else ".download")
        except InputError:
            raise
        except OSError as exc:
            raise InputError(f"{self.display}: cannot {what} ({printable(self.scrub(str(exc)))}). "
                             "The file may be truncated; write it again.") from None
        except Exception as exc:  # noqa: BLE001 - network libraries raise their own types
            if self.remote is None:
                raise
            raise remote_error(self.remote.url, self.remote.storage_options, exc, "cannot read") from None
        yield self._spill.path

    def _local_path(self):
        """A path (local files, temporary copies) or a seekable file object (URLs) for random-access
        readers; prefer :meth:`_parquet_file`. A file object is closed when it is garbage-collected."""
        if self.remote is not None and not self.probe.compression and self._spill is None:
            f = self.open_raw(sequential=False)
            if seekable(f):
                return f
            f.close()
        with self._random_access() as src:  # a local path or a temporary copy
            return src

    def _parquet_file(self):
        """A ``pyarrow.parquet.ParquetFile`` over this file (``pre_buffer=False``: bounded memory)."""
        import pyarrow.parquet as pq

        return pq.ParquetFile(self._local_path(), pre_buffer=False)

    def _decode_binary(self, batch, row0: int, bad: dict[str, BadText]):
        """Binary columns decoded with the encoding (see :func:`calibcli.sources.decoding.decode_binary`)."""
        return decode_binary(batch, self.probe.encoding, row0, bad)

    def close(self) -> None:
        """Delete temporary files made for this file (its data can still be read again; they are remade)."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def estimated_rows(self) -> int:
        """The number of data rows: exact where the format stores it (Parquet, .npz, Feather v1),
        else estimated from the file size and the mean length of the first lines (looked up once)."""
        if self._estimated_rows is None:
            self._estimated_rows = self._estimate_rows()
        return self._estimated_rows

    def _estimate_rows(self) -> int:
        import os

        fmt = self.format
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                with self._random_access() as src:
                    return int(pq.ParquetFile(src).metadata.num_rows)
            if fmt in ("npz", "feather_v1"):
                return int(self._whole_table().num_rows)
            size = (os.path.getsize(self.path) if self.remote is None
                    else remote_size(self.remote.url, self.remote.storage_options) or 0)
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

                with self._random_access() as src:
                    return list(pq.ParquetFile(src).schema_arrow.names)
            if fmt == "ipc_file":
                import pyarrow as pa

                with self._random_access() as src, (pa.OSFile(src) if isinstance(src, str) else src) as f:
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
        bad: dict[str, BadText] = {}
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
                batch = invalid_text_as_binary(batch, (lambda: bad_text(self, None)) if fmt == "jsonl" else None)
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

        with self._random_access() as src:
            pf = pq.ParquetFile(src, pre_buffer=False)
            yield from pf.iter_batches(batch_size=batch_rows, columns=columns)

    def _ipc_file(self, columns, batch_rows, numeric):
        import pyarrow as pa

        with self._random_access() as src, (pa.OSFile(src) if isinstance(src, str) else src) as f:
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
                    with self._random_access() as src:
                        self._table = feather.read_table(src, memory_map=False)
                except InputError:
                    raise
                except Exception as exc:
                    raise unreadable(self, exc) from None
        return self._table

    def _whole(self, columns, batch_rows, numeric):
        table = self._whole_table()
        table = table.select(columns) if columns is not None else table
        yield from table.to_batches(max_chunksize=batch_rows)

    def _read_npz(self):
        from calibcli.sources.npz import read_npz

        with self._random_access() as src:
            return read_npz(src, self.display, self.probe.encoding)
