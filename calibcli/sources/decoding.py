"""Text columns pyarrow could not decode: bytes not valid UTF-8 become binary columns, decoded
here with the file's encoding; bad cells are counted (with their first rows) for one report
after the whole file has been read."""

from __future__ import annotations

from dataclasses import dataclass, field

from calibcli.sources.sniffing import byte_desc

MAX_BAD_SHOWN = 5


@dataclass
class BadText:
    """Cells of one column that are not valid text: how many, and the first (row, byte) pairs."""

    count: int = 0
    shown: list = field(default_factory=list)


def invalid_text_as_binary(batch, on_jsonl_error=None):
    """Text columns holding bytes that are not UTF-8 (pyarrow's JSON and Parquet readers pass them
    through) as binary, to be decoded and reported by :func:`decode_binary`. ``on_jsonl_error``:
    for JSON Lines, a callable returning the exception to raise instead (it names the line)."""
    import pyarrow as pa

    arrays = list(batch.columns)
    changed = False
    for i, col in enumerate(arrays):
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            try:
                col.validate(full=True)
            except pa.ArrowInvalid:
                if on_jsonl_error is not None:
                    raise on_jsonl_error() from None
                arrays[i] = col.view(pa.binary() if pa.types.is_string(col.type) else pa.large_binary())
                changed = True
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch


def decode_binary(batch, enc: str, row0: int, bad: dict[str, BadText]):
    """Binary columns (text pyarrow could not decode as UTF-8) decoded with ``enc``; bad cells
    become null and are recorded in ``bad`` (rows numbered from 1 within the file, from ``row0``)."""
    import pyarrow as pa

    def is_bin(t) -> bool:
        return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)

    if not any(is_bin(t) for t in batch.schema.types):
        return batch
    arrays = list(batch.columns)
    for i, fld in enumerate(batch.schema):
        if not is_bin(fld.type):
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
                b = bad.setdefault(fld.name, BadText())
                b.count += 1
                if len(b.shown) < MAX_BAD_SHOWN:
                    b.shown.append((row0 + r + 1, byte_desc(exc)))
                values.append(None)
        arrays[i] = pa.array(values, type=pa.string())
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
