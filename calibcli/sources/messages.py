"""Messages for files that cannot be read: they name the file, the line and the fix, never raw bytes.

The helpers that find the first bad line read the file again, line by line (only
on the error path, in bounded memory).
"""

from __future__ import annotations

import re
from typing import Iterator

from calibcli.errors import InputError
from calibcli.sources.sniffing import DELIMITER_NAMES, ENCODING_FIX, byte_desc, enc_name, printable

LINE_CHUNK = 1 << 20


def iter_lines(stream) -> Iterator[bytes]:
    """Lines (without the newline) of a binary stream with a ``read(n)`` method, in bounded memory."""
    rest = b""
    while True:
        chunk = stream.read(LINE_CHUNK)
        if not chunk:
            break
        parts = (rest + bytes(chunk)).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def encoding_fix(enc: str) -> str:
    return (f"The file is read as UTF-8. {ENCODING_FIX}." if enc == "utf-8"
            else "Pass the encoding the file was written in with --encoding (latin-1 accepts every byte).")


def first_bad_line(file) -> tuple[int, str] | None:
    """(line number, what) of the first line that is not valid text in the file's encoding."""
    enc = file.probe.encoding
    if enc.startswith(("utf-16", "utf-32")):
        return None
    try:
        with file.open_stream() as s:
            for no, raw in enumerate(iter_lines(s), start=1):
                try:
                    raw.decode(enc)
                except UnicodeDecodeError as exc:
                    return no, f"byte {byte_desc(exc)} at position {exc.start + 1}"
    except Exception:
        return None
    return None


def bad_text(file, exc: UnicodeDecodeError | None) -> InputError:
    """An error for text that is not valid in the encoding, naming the first bad line."""
    enc = file.probe.encoding
    line = first_bad_line(file)
    desc = ""
    if line is not None:
        no, desc = line
        if file.probe.format == "csv":
            where = " in the header line (column names)" if no == 1 else f" on line {no} (data row {no - 1})"
        else:
            where = f" on line {no} (row {no})"
    else:
        where = f" ({byte_desc(exc)})" if exc is not None else ""
    return InputError(f"{file.display}: the file is not valid {enc_name(enc)} text{where}{': ' + desc if desc else ''}. {encoding_fix(enc)}")


def first_ragged_line(file) -> str | None:
    """Where the first line with another number of fields than the header is (error path only)."""
    import csv

    enc = file.probe.encoding
    try:
        with file.open_stream() as s:
            lines = (raw.decode(enc, errors="replace") + "\n" for raw in iter_lines(s))
            reader = csv.reader(lines, delimiter=file.probe.delimiter)
            header = next(reader)
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            for record in reader:
                if record and len(record) != len(header):
                    return (f"line {reader.line_num} has {len(record)} field{'s' if len(record) != 1 else ''}, "
                            f"the header has {len(header)}")
    except Exception:
        return None
    return None


def first_bad_json_line(file) -> int | None:
    """The number of the first line that is not a JSON object (error path only)."""
    import json

    enc = file.probe.encoding
    try:
        with file.open_stream() as s:
            for no, raw in enumerate(iter_lines(s), start=1):
                text = raw.decode(enc, errors="replace").lstrip("\ufeff").strip()
                if not text:
                    continue
                try:
                    obj = json.loads(text)
                except ValueError:
                    return no
                if not isinstance(obj, dict):
                    return no
    except Exception:
        return None
    return None


def unreadable(file, exc: Exception, rows_before: int = 0) -> InputError:
    """The error for a file pyarrow cannot parse (``rows_before``: JSON rows read before the failing block)."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    msg = printable(file.scrub(msg) if hasattr(file, "scrub") else msg)
    fmt = file.probe.format
    display = file.display
    if fmt == "parquet":
        return InputError(
            f"{display}: cannot read the file as Parquet ({msg}). "
            "The file may be truncated or corrupt; write it again, or check that it is really Parquet."
        )
    if fmt in ("ipc_file", "ipc_stream", "feather_v1"):
        return InputError(f"{display}: cannot read the file as Arrow IPC/Feather ({msg}). "
                          "The file may be truncated or corrupt; write it again.")
    if fmt == "npz":
        return InputError(f"{display}: cannot read the file as NumPy .npz ({msg}). It may be truncated; save it again with np.savez.")
    if fmt == "jsonl":
        if re.search(r"in row \d+", msg):
            line = first_bad_json_line(file)
            if line is not None:
                msg = re.sub(r"in row \d+", f"on line {line}", msg)
            else:  # the streaming reader counts rows from 0 within the failing block
                msg = re.sub(r"in row (\d+)", lambda m: f"on line {rows_before + int(m.group(1)) + 1}", msg)
        return InputError(f"{display}: cannot read the file as JSON Lines ({msg}). "
                          "Write one JSON object per line, with the same keys on every line.")
    if "Empty CSV file" in msg:
        return InputError(f"{display}: the file is empty. Write the predictions with a header row and at least one data row.")
    delim = DELIMITER_NAMES.get(file.probe.delimiter, repr(file.probe.delimiter))
    if "Expected" in msg and "columns" in msg:
        ragged = first_ragged_line(file)
        if ragged:
            msg = ragged
    return InputError(
        f"{display}: cannot read the file as CSV ({msg}). It was read as {delim}-separated text (the "
        "delimiter is taken from the header line); check that every line has the same number of "
        "fields as the header, and that text containing the delimiter is quoted."
    )


def bad_bytes_error(display: str, column: str, enc: str, count: int, shown: list[tuple[int, str]]) -> InputError:
    """Text cells of one column that are not valid in the encoding (``shown``: first (1-based row, byte) pairs)."""
    listed = ", ".join(f"row {r} has byte {b}" for r, b in shown)
    more = f", and {count - len(shown)} more" if count > len(shown) else ""
    return InputError(
        f"{display}: column '{column}' is not valid {enc_name(enc)} text in {count} "
        f"row{'s' if count != 1 else ''} ({listed}{more}; rows are numbered from 1, not counting the header). "
        + (f"The file is read as UTF-8. {ENCODING_FIX}." if enc == "utf-8"
           else "Pass the encoding the file was written in with --encoding (latin-1 accepts every byte).")
    )
