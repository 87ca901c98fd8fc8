"""Reading delimited text and JSON Lines as Arrow record batches: the text half of
:class:`calibcli.sources.files.InputFile` (a mixin: it uses ``probe``, ``open_stream``,
``_types`` and ``_table`` of the file)."""

from __future__ import annotations

import re

NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
MIN_BLOCK = 1 << 20  # smallest text block read at once (bytes)
MAX_BLOCK = 1 << 28
_CSV_TYPE_ERROR = re.compile(r"In CSV column #(\d+): .*CSV conversion error to (\w+)")


class TextFormats:
    """CSV (pyarrow.csv.open_csv, with type widening) and JSON Lines (pyarrow.json.open_json) readers."""

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
