"""What an input file holds, decided from its first bytes (magic numbers), not its name alone.

Anything calib does not read is an "unsupported format" error naming the formats it reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from calibcli.errors import InputError
from calibcli.sources.sniffing import (
    SUPPORTED,
    UNSUPPORTED_MAGIC,
    compression_of,
    decimal_comma,
    printable,
    sniff_delimiter,
)

PARQUET_MAGIC = b"PAR1"
HEAD_BYTES = 1 << 16
#: formats that need random access (a compressed file of these is decompressed to a temporary file)
RANDOM_ACCESS = ("parquet", "ipc_file", "feather_v1", "npz")


@dataclass(frozen=True)
class Probe:
    """The format of one file and how to read it.

    ``format``: 'csv' | 'jsonl' | 'parquet' | 'ipc_file' | 'ipc_stream' | 'feather_v1' | 'npz'.
    ``decimal`` is ',' for semicolon/tab/pipe files whose numbers are written 0,5 (European Excel).
    ``head`` holds the first (decompressed) bytes; ``line_bytes`` their mean line length.
    """

    format: str
    compression: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    line_bytes: float = 100.0


def unsupported(display: str, what: str, hint: str) -> InputError:
    return InputError(f"{display}: unsupported format ({what}). calib reads {SUPPORTED}." + (f" {hint}" if hint else ""))


def _read_head(path: str, display: str, compression: str | None, opener=None) -> bytes:
    import pyarrow as pa

    try:
        if compression is None:
            with (opener() if opener is not None else open(path, "rb")) as fh:
                return fh.read(HEAD_BYTES)
        with pa.input_stream(opener() if opener is not None else path, compression=compression) as s:
            return s.read(HEAD_BYTES)
    except InputError:
        raise
    except OSError as exc:
        if opener is not None:
            raise _remote_failure(display, exc) from None
        if compression is None:
            raise InputError(f"{display}: cannot open the file ({exc.strerror or exc}). Check its permissions.") from None
        raise InputError(f"{display}: cannot decompress the {compression} data ({printable(str(exc))}). "
                         "The file may be truncated; write it again.") from None
    except Exception as exc:
        if opener is not None and compression is None:
            raise _remote_failure(display, exc) from None
        raise InputError(f"{display}: cannot decompress the {compression} data ({printable(str(exc))}). "
                         "The file may be truncated; write it again.") from None


def _remote_failure(display: str, exc: BaseException) -> InputError:
    """A read of a URL failed: the reason, without the URL's secrets (``display`` is redacted)."""
    from calibcli.sources.remote import remote_error

    return remote_error(getattr(display, "url", display), getattr(display, "storage_options", ()), exc, "cannot read")


def probe(path: str, display: str, encoding: str = "utf-8", stdin: bool = False, opener=None) -> Probe:
    """The format of the file at ``path`` (``display`` names it in messages; ``stdin``: it holds standard input;
    ``opener``: a callable returning a binary file object over the bytes, for URLs)."""
    head = _read_head(path, display, None, opener)
    if not head and stdin:
        raise InputError("<stdin>: no data arrived on standard input. Pipe a prediction file into calib "
                         "(e.g. calib audit - < preds.csv), or pass a file name.")
    if not head:
        raise InputError(f"{display}: the file is empty. Write the predictions with a header row and at least one data row.")
    compression = compression_of(head)
    if compression:
        head = _read_head(path, display, compression, opener)
        if not head:
            raise InputError(f"{display}: the file is empty once decompressed. Write the predictions with a header row and at least one data row.")
    lower = display.lower()
    if head.startswith(PARQUET_MAGIC):
        return Probe("parquet", compression)
    if head.startswith(b"ARROW1"):
        return Probe("ipc_file", compression)
    if head.startswith(b"FEA1"):
        return Probe("feather_v1", compression)
    if head.startswith(b"\xff\xff\xff\xff") and len(head) >= 8:
        return Probe("ipc_stream", compression)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Probe(zip_kind(path, display, compression, opener), compression)
    if head.startswith(b"\x80") and len(head) > 1 and 2 <= head[1] <= 5:
        raise unsupported(display, "a Python pickle", "calib never unpickles files (unsafe); write the predictions "
                          "with DataFrame.to_parquet or to_csv, or np.savez for arrays.")
    if len(head) > 262 and head[257:262] == b"ustar":
        raise unsupported(display, "a tar archive", "Extract it and pass the files inside.")
    for magic, what, hint in UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            raise unsupported(display, what, hint)
    if lower.endswith((".parquet", ".pq")):
        raise InputError(f"{display}: the file is named as Parquet but does not start like one (no PAR1 magic). "
                         "It may be truncated or in another format; write it again.")
    if encoding == "utf-8" and head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # a byte-order mark says so (Excel's "Unicode text")
    if b"\x00" in head and not encoding.startswith(("utf-16", "utf-32")):
        raise unsupported(display, "binary data of an unknown kind", "")
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    first = text.lstrip()[:1]
    lines = text.splitlines()
    line_bytes = len(head) / max(1, head.count(b"\n"))
    if first == "[" and (lower.endswith(".json") or re.match(r"\s*\[\s*[\[{]", text)):
        raise unsupported(display, "a JSON array", "Write JSON Lines instead, one object per line "
                          "(pandas: df.to_json(path, orient='records', lines=True)).")
    if first == "{" or lower.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        return Probe("jsonl", compression, encoding=encoding, line_bytes=line_bytes)
    delimiter = sniff_delimiter(lines[0] if lines else "")
    return Probe("csv", compression, delimiter, encoding, "," if decimal_comma(lines, delimiter) else ".", line_bytes)


def zip_kind(path: str, display: str, compression: str | None, opener=None) -> str:
    """'npz' for a NumPy .npz archive; any other zip archive is an unsupported-format error."""
    import io
    import zipfile

    try:
        if compression:
            import pyarrow as pa

            with pa.input_stream(opener() if opener is not None else path, compression=compression) as s:
                src = io.BytesIO(s.read())
        else:
            src = opener() if opener is not None else path
        with zipfile.ZipFile(src) as zf:
            names = zf.namelist()
        if opener is not None and not compression:
            src.close()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{display}: the file starts like a zip archive but cannot be read as one "
                         f"({printable(str(exc))}). It may be truncated; write it again.") from None
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        raise unsupported(display, "an Excel workbook (.xlsx)", "Save the sheet as CSV (File > Save As > CSV UTF-8), "
                          "or with pandas: pd.read_excel(path).to_parquet('preds.parquet').")
    if display.lower().endswith(".npz"):
        raise unsupported(display, "a zip archive that is not a NumPy .npz (it holds files other than .npy arrays)", "")
    raise unsupported(display, "a zip archive", "Extract it and pass the prediction files inside (or compress a single "
                      "CSV with gzip: calib reads .csv.gz).")
