"""Recognising input: magic numbers, compression, delimiters, decimal commas, text
encodings; and messages that never show raw bytes. Pure functions over bytes and text."""

from __future__ import annotations

import codecs
import re

from calibcli.errors import InputError

DELIMITERS = (",", "\t", ";", "|")  # sniffed from the header line; ties go to the earlier one
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
SUPPORTED = (
    "CSV or other delimited text (comma, tab, semicolon or pipe; also gzip-, bz2- or zstd-compressed), "
    "Parquet, Arrow IPC/Feather, JSON Lines and NumPy .npz"
)
ENCODING_FIX = (
    "If the file was written by Excel or another Windows program, pass --encoding cp1252 "
    "(or --encoding latin-1, which accepts every byte); or save the file as UTF-8"
)

COMPRESSION_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\x28\xb5\x2f\xfd", "zstd"))
UNSUPPORTED_MAGIC = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook or other OLE document",
     "Save the sheet as CSV (File > Save As > CSV UTF-8)."),
    (b"\x93NUMPY", "a single NumPy array (.npy)",
     "Save labels and scores together with np.savez(path, labels=..., probs=...) (or logits=...)."),
    (b"\x89HDF", "HDF5", "Write the predictions as Parquet or CSV (e.g. pandas DataFrame.to_parquet)."),
    (b"SQLite format 3\x00", "an SQLite database", "Export the table as CSV or Parquet."),
    (b"ORC", "ORC", "Convert it to Parquet (pyarrow.orc.read_table(...) then pyarrow.parquet.write_table)."),
    (b"Obj\x01", "Avro", "Convert it to Parquet or CSV."),
    (b"%PDF", "a PDF document", "Pass the prediction file itself."),
    (b"\xfd7zXZ\x00", "xz-compressed data", "Decompress it first (xz -d), or compress with gzip instead."),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "Extract it and pass the files inside."),
    (b"\x04\x22\x4d\x18", "LZ4-compressed data", "Decompress it first, or compress with gzip instead."),
)


def normalize_encoding(name: str) -> str:
    """The codec name Python knows ``name`` by; an unknown encoding is an ``InputError``.

    >>> normalize_encoding("CP1252"), normalize_encoding("latin1"), normalize_encoding("UTF8")
    ('cp1252', 'iso8859-1', 'utf-8')
    """
    try:
        info = codecs.lookup(name)
    except (LookupError, TypeError, ValueError):
        info = None
    if info is None or not _decodes_text(info):
        raise InputError(
            f"--encoding {name!r} is not a text encoding Python knows (bytes-to-text codecs only; not zlib, base64, "
            "rot13, idna or punycode). Use e.g. utf-8 (the default), cp1252 or latin-1."
        ) from None
    return info.name


_PROBE_TEXT = "label,p_a\ncat,0.5\n"


def _decodes_text(info: codecs.CodecInfo) -> bool:
    """Whether a codec turns bytes into text incrementally, from any buffer, with replaced errors
    (what the CSV reader asks of it): text encodings only, not bytes-to-bytes codecs.

    >>> _decodes_text(codecs.lookup("cp1252")), _decodes_text(codecs.lookup("rot13"))
    (True, False)
    """
    if not getattr(info, "_is_text_encoding", True) or info.name in ("punycode", "idna"):
        return False  # punycode and idna encode domain names: they decode whole labels, not a stream
    try:
        data = _PROBE_TEXT.encode(info.name)
        decoder = info.incrementaldecoder(errors="replace")
        text = decoder.decode(memoryview(data), final=True)
    except Exception:  # noqa: BLE001 - any failure means the codec cannot serve as a text encoding here
        return False
    return isinstance(text, str) and text == _PROBE_TEXT


def sniff_delimiter(header: str) -> str:
    """The delimiter of a delimited-text header line: the most frequent of comma, tab,
    semicolon and pipe outside quotes (ties go to that order); comma when none occurs.

    >>> sniff_delimiter("label\\tp_a\\tp_b"), sniff_delimiter('label;"p_a,x";p_b'), sniff_delimiter("label")
    ('\\t', ';', ',')
    """
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def printable(text: str, limit: int = 160) -> str:
    """``text`` with control and undecodable characters replaced, cut to ``limit`` characters.

    >>> printable("a\\x1f\\x8bb")
    'a??b'
    """
    out = "".join(ch if ch.isprintable() and ch != "\ufffd" else "?" for ch in text.replace("\n", " ").replace("\t", " "))
    return out if len(out) <= limit else out[: limit - 3] + "..."


def byte_desc(exc: UnicodeDecodeError) -> str:
    bad = exc.object[exc.start:exc.end] if isinstance(exc.object, (bytes, bytearray)) else b""
    return " ".join(f"0x{b:02x}" for b in bad[:4]) or "an invalid byte"


_DECIMAL_COMMA = re.compile(r"-?\d+,\d+(?:[eE][-+]?\d+)?")
_DECIMAL_POINT = re.compile(r"-?\d*\.\d+(?:[eE][-+]?\d+)?")


def decimal_comma(lines: list[str], delimiter: str) -> bool:
    """Whether a file that is not comma-separated writes its numbers with a decimal comma
    (``0,25``; as Excel does in many European locales): some first-lines fields do and none
    uses a decimal point.

    >>> decimal_comma(["label;p_a", "a;0,25", "b;1"], ";"), decimal_comma(["label;p_a", "a;0.25"], ";")
    (True, False)
    """
    if delimiter == ",":
        return False
    comma = point = 0
    for line in lines[1:100]:
        for field in line.split(delimiter):
            field = field.strip().strip('"')
            if _DECIMAL_COMMA.fullmatch(field):
                comma += 1
            elif _DECIMAL_POINT.fullmatch(field):
                point += 1
    return comma > 0 and point == 0


def compression_of(head: bytes) -> str | None:
    for magic, codec in COMPRESSION_MAGIC:
        if head.startswith(magic):
            return codec
    return None


def enc_name(enc: str) -> str:
    return {"utf-8": "UTF-8", "iso8859-1": "latin-1"}.get(enc, enc)
