"""Reading prediction files (CSV, CSV.gz, Parquet, stdin) into pyarrow tables.

Only this module touches file formats; everything it raises is an ``InputError``
that names the file and says what to do.
"""

from __future__ import annotations

import glob
import gzip
import os
import sys
from dataclasses import dataclass
from functools import cached_property

from calibcli.errors import InputError

STDIN = "-"
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"


def expand_inputs(patterns: list[str] | tuple[str, ...]) -> list[str]:
    """Expand globs, keep order, drop duplicates; ``-`` stands for stdin.

    A pattern with glob characters that matches nothing is an error, as is a
    plain path that does not exist.
    """
    out: list[str] = []
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
            if m not in out:
                out.append(m)
    if not out:
        raise InputError("no input files given. Pass one or more CSV or Parquet files, or '-' for stdin.")
    return out


def _detect_format(name: str, head: bytes) -> str:
    lower = name.lower()
    if lower.endswith((".parquet", ".pq")) or head.startswith(PARQUET_MAGIC):
        return "parquet"
    return "csv"


@dataclass
class Source:
    """One input file (or stdin), read lazily and at most once."""

    name: str

    @cached_property
    def _stdin_bytes(self) -> bytes:
        data = sys.stdin.buffer.read()
        if data.startswith(GZIP_MAGIC):
            data = gzip.decompress(data)
        return data

    @cached_property
    def format(self) -> str:
        if self.name == STDIN:
            return _detect_format("", self._stdin_bytes[:4])
        try:
            with open(self.name, "rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            raise InputError(f"{self.name}: cannot open the file ({exc.strerror}). Check its permissions.") from None
        if not head:
            raise InputError(f"{self.name}: the file is empty. Write the predictions with a header row and at least one data row.")
        return _detect_format(self.name, head)

    @property
    def display(self) -> str:
        return "<stdin>" if self.name == STDIN else self.name

    def _handle(self):
        if self.name == STDIN:
            if not self._stdin_bytes:
                raise InputError("<stdin>: no data arrived on standard input. Pipe a CSV or Parquet file into calib, or pass a file name.")
            import pyarrow as pa

            return pa.BufferReader(self._stdin_bytes)
        return self.name

    def column_names(self) -> list[str]:
        """Names of the columns, read from the header or Parquet schema only."""
        fmt = self.format
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                return list(pq.read_schema(self._handle()).names)
            return self._csv_header()
        except InputError:
            raise
        except Exception as exc:  # pyarrow raises several types for corrupt input
            raise self._unreadable(exc) from None

    def _csv_header(self) -> list[str]:
        import pyarrow.csv as pcsv

        opts = pcsv.ReadOptions(block_size=1 << 16)
        with pcsv.open_csv(self._handle(), read_options=opts) as reader:  # first block only, stdin too
            return list(reader.schema.names)

    def _read_csv(self, columns: list[str] | None):
        import pyarrow.csv as pcsv

        convert = pcsv.ConvertOptions(
            include_columns=columns,
            strings_can_be_null=True,
            null_values=["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"],
        )
        return pcsv.read_csv(self._handle(), convert_options=convert)

    def read(self, columns: list[str] | None = None):
        """The table, restricted to ``columns`` when given."""
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                # ParquetFile reads without the dataset layer (which imports pandas)
                table = pq.ParquetFile(self._handle()).read(columns=columns)
            else:
                table = self._read_csv(columns)
        except InputError:
            raise
        except Exception as exc:
            raise self._unreadable(exc) from None
        if table.num_rows == 0:
            raise InputError(
                f"{self.display}: the file has column names but no data rows. "
                "Check that the export finished writing, or drop the file from the command."
            )
        return table

    def _unreadable(self, exc: Exception) -> InputError:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.format == "parquet":
            return InputError(
                f"{self.display}: cannot read the file as Parquet ({msg}). "
                "The file may be truncated or corrupt; write it again, or check that it is really Parquet."
            )
        if "Empty CSV file" in msg:
            return InputError(f"{self.display}: the file is empty. Write the predictions with a header row and at least one data row.")
        return InputError(
            f"{self.display}: cannot read the file as CSV ({msg}). "
            "Check that it is comma-separated with one header row and the same number of fields on every line."
        )

