"""What a subgroup is: how one ``--by`` column's values become group keys, batch by batch.

Three kinds of column (decided from the column's Arrow type in each batch):

- *values* (text, booleans, integers, numbers without ``--by-bins``): one group per
  distinct value; null, NaN and empty text are the group ``(missing)``.
- *buckets* (``--by-bins N``, numeric columns): ``N`` equal-mass buckets over the
  column's quantile cut points (from a first pass, :mod:`calibcli.subgroups.edges`).
  Bucket ``j`` holds ``cut[j-1] < v <= cut[j]`` (the first also every value up to
  ``cut[0]``, the last every value above the last cut); tied values never split.
  Null, NaN and infinite values are ``(missing)``.
- *periods* (``--by-time FREQ``, timestamp and date columns): each timestamp floored to
  its period (``1D``, ``1W``, ``1M``, ``6H`` ...) with pyarrow's ``floor_temporal``
  (weeks start on Monday; multiples count from 1970-01-01). Naive timestamps are
  floored as written (no zone assumed); timezone-aware ones in their own zone's local
  time (a day is that zone's calendar day).

A key component is a str (a value), an int (a bucket index, or a period's start in
nanoseconds of local time) or None (missing); labels are made at finalize.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from calibcli.errors import InputError, UsageError

MISSING = "(missing)"
DEFAULT_MAX_GROUPS = 1_000  # distinct values per --by column, and groups per intersection
DEFAULT_MIN_GROUP_ROWS = 100
ALL = "*"  # --by-bins N / --by-time FREQ without a column name: every eligible --by column

_UNITS = {"min": "minute", "t": "minute", "h": "hour", "d": "day", "w": "week", "m": "month", "q": "quarter", "y": "year"}
_FREQ_RE = re.compile(r"^\s*(\d*)\s*(min|[tThHdDwWmMqQyY])\s*$")


@dataclass(frozen=True)
class Freq:
    """A period of ``--by-time``: ``multiple`` x ``unit`` (pyarrow ``floor_temporal`` units)."""

    multiple: int
    unit: str
    text: str

    def label(self, ns: int) -> str:
        """The period starting at ``ns`` (local wall-clock nanoseconds) in words.

        >>> Freq(1, "day", "1D").label(0), Freq(1, "month", "1M").label(0), Freq(1, "hour", "1H").label(3600 * 10**9)
        ('1970-01-01', '1970-01', '1970-01-01 01:00')
        """
        t = np.datetime64(int(ns), "ns")
        if self.unit in ("minute", "hour"):
            return str(np.datetime_as_string(t, unit="m")).replace("T", " ")
        day = str(np.datetime_as_string(t, unit="D"))
        if self.unit == "month":
            return day[:7]
        if self.unit == "year":
            return day[:4]
        if self.unit == "quarter":
            return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"
        if self.unit == "week":
            return f"week of {day}"
        return day


def parse_freq(text: str) -> Freq:
    """``1D``, ``W``, ``2W``, ``1M``, ``1Q``, ``1Y``, ``6H``, ``15min`` -> :class:`Freq` (``UsageError`` otherwise).

    >>> parse_freq("1D"), parse_freq("15min").unit
    (Freq(multiple=1, unit='day', text='1D'), 'minute')
    """
    m = _FREQ_RE.match(text or "")
    if not m or (m.group(1) and int(m.group(1)) < 1):
        raise UsageError(f"--by-time {text!r}: give a period such as 1D (day), 1W (week, from Monday), 1M (month), "
                         "1Q, 1Y, 6H (hours) or 15min; an optional number in front multiplies the unit.")
    unit = _UNITS[m.group(2).lower()] if m.group(2) != "min" else "minute"
    return Freq(int(m.group(1) or 1), unit, text.strip())


def _per_column(values: tuple[str, ...], option: str, parse) -> dict[str, object]:
    """``N`` or ``COL=N`` (repeatable) -> {column or ALL: parsed}."""
    out: dict[str, object] = {}
    for v in values:
        col, sep, rest = v.rpartition("=")
        key = col.strip() if sep else ALL
        if sep and not key:
            raise UsageError(f"{option} {v!r}: write {option} VALUE or {option} COLUMN=VALUE.")
        out[key] = parse(rest if sep else v)
    return out


def _parse_bins(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 2 <= n <= DEFAULT_MAX_GROUPS:
        raise UsageError(f"--by-bins {text!r}: give a whole number of quantile buckets from 2 to {DEFAULT_MAX_GROUPS} "
                         "(e.g. --by-bins 5, or --by-bins age=5 for one column).")
    return n


@dataclass(frozen=True)
class GroupSpec:
    """What ``--by``, ``--by-bins``, ``--by-time``, ``--min-group-rows`` and ``--max-groups`` ask for.

    ``bins`` and ``freq`` map a column name (or ``ALL``: every numeric, resp. temporal,
    ``--by`` column) to buckets, resp. a period.
    """

    columns: tuple[str, ...]
    bins: dict[str, int] = field(default_factory=dict)
    freq: dict[str, Freq] = field(default_factory=dict)
    min_group_rows: int = DEFAULT_MIN_GROUP_ROWS
    max_groups: int = DEFAULT_MAX_GROUPS

    @classmethod
    def parse(cls, by: tuple[str, ...], by_bins: tuple[str, ...] = (), by_time: tuple[str, ...] = (),
              min_group_rows: int = DEFAULT_MIN_GROUP_ROWS, max_groups: int = DEFAULT_MAX_GROUPS) -> "GroupSpec":
        """Check and normalise the options (``UsageError`` naming the option).

        >>> GroupSpec.parse(("region", "age"), ("age=4",)).bins
        {'age': 4}
        """
        blank = [c for c in by if not str(c).strip()]
        if blank:
            raise UsageError(f"--by {blank[0]!r}: the column name is empty. Give the name of a column of the input "
                             "file, e.g. --by region (repeat --by for several columns).")
        cols = tuple(dict.fromkeys(c.strip() for c in by))
        if (by_bins or by_time) and not cols:
            raise UsageError("--by-bins and --by-time say how to cut a --by column; give the column with --by COL.")
        bins = _per_column(tuple(by_bins), "--by-bins", _parse_bins)
        freq = _per_column(tuple(by_time), "--by-time", parse_freq)
        for option, d in (("--by-bins", bins), ("--by-time", freq)):
            for c in d:
                if c != ALL and c not in cols:
                    raise UsageError(f"{option} names the column '{c}', which is not a --by column "
                                     f"(--by {' --by '.join(cols)}). Add --by {c}.")
        both = [c for c in bins if c != ALL and c in freq]
        if both:
            raise UsageError(f"--by-bins and --by-time both name '{both[0]}'; a column is cut one way.")
        if max_groups < 1 or min_group_rows < 0:
            raise UsageError("--max-groups must be at least 1 and --min-group-rows at least 0.")
        return cls(cols, bins, freq, int(min_group_rows), int(max_groups))

    def bins_of(self, col: str) -> int | None:
        return self.bins.get(col, self.bins.get(ALL))

    def freq_of(self, col: str) -> Freq | None:
        return self.freq.get(col, self.freq.get(ALL))


# ------------------------------------------------------------------ column kinds


def _plain(arr):
    """A pyarrow Array (chunks combined, dictionaries decoded)."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def is_numeric(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_temporal(t) -> bool:
    import pyarrow as pa

    return pa.types.is_timestamp(t) or pa.types.is_date(t)


def type_name(t) -> str:
    return "numbers" if is_numeric(t) else "timestamps" if is_temporal(t) else "text" if str(t) in ("string", "large_string") else str(t)


def numeric_values(arr) -> np.ndarray:
    """float64 values, NaN where null, NaN or infinite (missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _plain(arr)
    v = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    v = np.array(v, dtype=np.float64)
    v[~np.isfinite(v)] = np.nan
    return v


def period_starts(arr, freq: Freq) -> tuple[np.ndarray, np.ndarray, str]:
    """(start of each row's period in local-time nanoseconds (int64), missing mask, zone: '' when naive)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _plain(arr)
    if pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("s"))
    tz = arr.type.tz or ""
    if tz:
        arr = pc.local_timestamp(arr)  # wall-clock time of the zone, naive
    floored = pc.floor_temporal(arr, multiple=freq.multiple, unit=freq.unit, week_starts_monday=True)
    missing = np.asarray(floored.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    ns = pc.cast(pc.cast(floored, pa.timestamp("ns")), pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    return np.asarray(ns, dtype=np.int64), missing, tz


GROUPABLE = ("text, integers, booleans and dates/timestamps (one group per value; periods with --by-time FREQ) "
             "and numbers (one group per value; equal-mass buckets with --by-bins N)")


class UngroupableColumn(InputError):
    """A ``--by`` column of a type whose values cannot form groups (lists, structs, maps ...)."""


def is_groupable(t) -> bool:
    """Whether values of Arrow type ``t`` form groups exactly: scalars (text, binary, booleans, numbers,
    decimals, dates, timestamps, times, durations) and nulls; not lists, structs, maps, unions or intervals.

    >>> import pyarrow as pa
    >>> [is_groupable(t) for t in (pa.string(), pa.int64(), pa.timestamp("s"), pa.list_(pa.int64()), pa.struct([]))]
    [True, True, True, False, False]
    """
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    checks = (pa.types.is_null, pa.types.is_boolean, pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal,
              pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary,
              pa.types.is_fixed_size_binary, pa.types.is_date, pa.types.is_timestamp, pa.types.is_time,
              pa.types.is_duration, getattr(pa.types, "is_string_view", lambda _: False),
              getattr(pa.types, "is_binary_view", lambda _: False))
    return not isinstance(t, pa.ExtensionType) and any(check(t) for check in checks)


def check_groupable(col: str, t) -> None:
    """Raise :class:`UngroupableColumn` (naming the column and its type) unless :func:`is_groupable`."""
    if is_groupable(t):
        return
    import pyarrow as pa

    base = t.value_type if pa.types.is_dictionary(t) else t
    what = ("a list per row" if "list" in str(base).split("<")[0] else "a struct (several fields) per row"
            if pa.types.is_struct(base) else "a map per row" if pa.types.is_map(base) else "values of this type")
    raise UngroupableColumn(
        f"the --by column '{col}' holds {t} ({what}), which cannot form groups. --by groups rows by {GROUPABLE}. "
        f"Write the column as one of these (e.g. one field or element of it, or its text), or group by another column.")


def _value_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        if v != v:
            return None
        return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            v = "0x" + v.hex()  # distinct bytes keep distinct labels
    s = str(v)
    return s if s.strip() else None


def value_codes(arr) -> tuple[np.ndarray, list]:
    """(per-row code, the value text of each code (None: missing)) of a *values* column."""
    import pyarrow.compute as pc

    import pyarrow as pa

    arr = _plain(arr)
    enc = pc.dictionary_encode(arr, null_encoding="encode")
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    values = enc.dictionary
    if pa.types.is_time(values.type):  # datetime.time stops at microseconds; Arrow's text keeps nanoseconds
        values = pc.cast(values, pa.string())
    texts = [_value_text(v) for v in values.to_pylist()]
    return idx, texts


def bucket_of(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Bucket index of each value (``cut[j-1] < v <= cut[j]``); -1 for missing (NaN).

    >>> bucket_of(np.array([1.0, 2.0, 2.5, 9.0, np.nan]), np.array([2.0, 5.0])).tolist()
    [0, 0, 1, 2, -1]
    """
    out = np.searchsorted(cuts, values, side="left").astype(np.int64)
    out[np.isnan(values)] = -1
    return out
