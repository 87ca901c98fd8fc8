"""Label values as keys, the classes they give, and label -> class index.

Every distinct label value gets a small integer *code* (int32) in a
:class:`KeyTable`, in the order values are first seen; a batch's labels are kept
as codes, so classes can be decided after the first pass (one-column binary files
and top-label files take their classes from the label values) and every later pass
maps codes to class indices with one table lookup.

A key is ``("i", n)`` for an integer value (integer columns, booleans, and floats
with an integral value such as ``3.0``), ``("s", text)`` for any other value (text
stripped of surrounding blanks; ``inf``; ``0.5``) and ``None`` for a missing label.
Labels match class names by their text (``3`` and ``"3"`` both match class
``'3'``); integer values index the classes directly when the classes come from the
score columns (or ``--classes``) and their names are not all integers.
"""

from __future__ import annotations

import numpy as np

from calibcli.errors import InputError

MAX_LABELS = 100_000  # distinct label values allowed (a column with more is not a label column)
DENSE_MAX = 1 << 20  # non-negative integer labels below this are coded through a direct table


def key_text(key) -> str | None:
    """The text a key matches class names by (None for a missing label).

    >>> key_text(("i", 3)), key_text(("s", "cat")), key_text(None)
    ('3', 'cat', None)
    """
    if key is None:
        return None
    return str(key[1])


def value_key(v):
    """The key of one Python label value.

    >>> value_key(3.0), value_key(float("inf")), value_key(float("nan")), value_key(True), value_key(" cat ")
    (('i', 3), ('s', 'inf'), None, ('i', 1), ('s', 'cat'))
    """
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return ("i", int(v))
    if isinstance(v, (int, np.integer)):
        return ("i", int(v))
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        if not np.isfinite(v):
            return ("s", "inf" if v > 0 else "-inf")
        if v == int(v):
            return ("i", int(v))
        return ("s", repr(float(v)))
    if isinstance(v, (bytes, bytearray)):
        return ("s", bytes(v).decode("utf-8", errors="replace").strip())
    return ("s", str(v).strip())


class KeyTable:
    """Distinct label values and their codes (0, 1, ... as values are first seen; within a batch in sorted order).

    >>> import pyarrow as pa
    >>> t = KeyTable()
    >>> t.encode(pa.array(["dog", "cat", None, "dog"]), "f.csv", "label").tolist()
    [0, 1, 2, 0]
    >>> t.encode(pa.array([1, 0, 1]), "f.csv", "label").tolist(), [key_text(k) for k in t.keys]
    ([4, 3, 4], ['dog', 'cat', None, '0', '1'])
    """

    def __init__(self, limit: int | None = None):
        self.limit = int(MAX_LABELS if limit is None else limit)
        self.keys: list = []
        self.index: dict = {}
        self._dense = np.full(0, -1, dtype=np.int32)
        self._where = ("", "")

    def __len__(self) -> int:
        return len(self.keys)

    def code(self, key) -> int:
        c = self.index.get(key)
        if c is None:
            if len(self.keys) >= self.limit:
                source, column = self._where
                raise InputError(
                    f"{source}, column '{column}': more than {self.limit:,} distinct label values, which a label "
                    "column does not have (is it an id or a score column?). Check --label-col, or reduce the classes."
                )
            c = len(self.keys)
            self.keys.append(key)
            self.index[key] = c
        return c

    def _ints(self, v: np.ndarray) -> np.ndarray:
        if v.size == 0:
            return np.empty(0, dtype=np.int32)
        lo, hi = int(v.min()), int(v.max())
        if lo >= 0 and hi < DENSE_MAX:
            if hi >= self._dense.size:
                grown = np.full(max(hi + 1, 2 * self._dense.size), -1, dtype=np.int32)
                grown[: self._dense.size] = self._dense
                self._dense = grown
            codes = self._dense[v]
            if (codes < 0).any():
                for u in np.unique(v[codes < 0]).tolist():
                    self._dense[u] = self.code(("i", int(u)))
                codes = self._dense[v]
            return codes
        uniq, inv = np.unique(v, return_inverse=True)
        table = np.array([self.code(("i", int(u))) for u in uniq.tolist()], dtype=np.int32)
        return table[inv.reshape(-1)]

    def _keys(self, keys: list) -> np.ndarray:
        return np.array([self.code(k) for k in keys], dtype=np.int32)

    def encode(self, col, source: str = "", column: str = "") -> np.ndarray:
        """The codes (int32) of an Arrow array of labels; new values get new codes.

        Raises ``InputError`` (naming ``source`` and ``column``) beyond ``limit`` distinct values.
        """
        import pyarrow as pa

        from calibcli.validation.scores import column_to_float, plain_numpy

        self._where = (source, column)
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        t = col.type
        n = len(col)
        if pa.types.is_integer(t) or pa.types.is_boolean(t):
            filled = col.fill_null(0 if pa.types.is_integer(t) else False) if col.null_count else col
            if pa.types.is_boolean(t):
                filled = filled.cast(pa.int8())
            if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
                v = np.array([int(x) for x in filled.to_pylist()], dtype=object)
                codes = self._keys([("i", x) for x in v.tolist()])
            else:
                codes = self._ints(np.asarray(plain_numpy(filled), dtype=np.int64))
            if col.null_count:
                codes[np.asarray(col.is_null())] = self.code(None)
            return codes
        if pa.types.is_floating(t):
            v, _ = column_to_float(col)
            finite = np.isfinite(v)
            integral = finite & (np.abs(v) < 2.0 ** 62)
            integral[integral] = v[integral] == np.floor(v[integral])
            if integral.all():
                return self._ints(v.astype(np.int64))
            codes = np.empty(n, dtype=np.int32)
            codes[integral] = self._ints(v[integral].astype(np.int64))
            rest = ~integral
            uniq, inv = np.unique(v[rest], return_inverse=True)  # NaNs sort last (and may repeat)
            codes[rest] = self._keys([value_key(float(u)) for u in uniq.tolist()])[inv.reshape(-1)]
            return codes
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            enc = col.dictionary_encode()
            table = self._keys([("s", s.strip()) for s in enc.dictionary.to_pylist()])
            idx = enc.indices
            if idx.null_count:
                ii = np.asarray(plain_numpy(idx.fill_null(0)), dtype=np.int64)
                codes = table[ii] if table.size else np.zeros(n, dtype=np.int32)
                codes[np.asarray(idx.is_null())] = self.code(None)
                return codes
            return table[np.asarray(plain_numpy(idx), dtype=np.int64)]
        return self._keys([value_key(v) for v in col.to_pylist()])

    def texts(self) -> list[str]:
        """The texts of the non-missing keys seen so far (may repeat: ``3`` and ``"3"``)."""
        return [key_text(k) for k in self.keys if k is not None]


def sorted_texts(texts) -> list[str]:
    """Distinct label texts, integers first in numeric order, then the others in text order.

    >>> sorted_texts(["10", "2", "b", "a", "2"])
    ['2', '10', 'a', 'b']
    """
    return sorted(set(texts), key=lambda s: (0, int(s), s) if s.lstrip("-").isdigit() else (1, 0, s))


def binary_classes(positive: str, texts, source: str, label_col: str) -> tuple[str, ...]:
    """Class names (negative, positive) for a binary file with one score column.

    The column's suffix names the class its score is for (``p_0`` scores label 0, as
    ``predict_proba[:, 0]`` gives); the other label value is the other class. A
    column named for a class that is no label value (``p_spam`` with labels 0/1)
    scores label 1, and label 0 is ``not_<class>``. Labels beyond these two are
    reported row by row later (they are invalid rows).

    >>> binary_classes("0", ["0", "1"], "f.csv", "label"), binary_classes("spam", ["0", "1"], "f.csv", "label")
    (('1', '0'), ('not_spam', 'spam'))
    """
    keys = set(texts)
    complement = {"1": "0", "0": "1"}.get(positive)
    if positive in keys:
        others = sorted_texts(keys - {positive})
        if len(others) == 1:
            return (others[0], positive)
        if not others:
            return (complement or f"not_{positive}", positive)
        if complement in others:
            return (complement, positive)
    elif complement is not None:
        return (complement, positive)
    elif keys & {"0", "1"}:
        return (f"not_{positive}", positive)
    else:
        others = sorted(keys)
    raise InputError(
        f"{source}, column '{label_col}': the file has one score column, for class '{positive}' (the column name says "
        f"so), so it is binary: '{positive}' against one other class. But the labels are "
        f"{', '.join(sorted(keys)[:6])}{' ...' if len(keys) > 6 else ''}. "
        "Name the score column for the class it scores (p_<class>), give one score column per class, "
        "or check --label-col."
    )


def class_of(key, classes: tuple[str, ...], index_ints: bool, lookup: dict[str, int], not_binary: bool = False) -> int:
    """The class index of one key, -1 when it is no class.

    ``index_ints``: integer keys index ``classes`` directly (their names are not all
    integers); ``not_binary``: the classes are ``('not_<c>', '<c>')`` and labels 0/1 also say which.
    """
    if key is None:
        return -1
    text = key_text(key)
    if not_binary:
        out = -1
        if text == "0":
            out = 0
        if text == "1":
            out = 1
        if text == classes[1]:
            out = 1
        if text == classes[0]:
            out = 0
        return out
    if index_ints and key[0] == "i":
        return key[1] if 0 <= key[1] < len(classes) else -1
    return lookup.get(text, -1)


def class_table(keys: list, classes: tuple[str, ...], derived: bool, not_binary: bool = False) -> np.ndarray:
    """Class index (int64, -1 for no class) of each code of a :class:`KeyTable`.

    ``derived``: the classes were taken from the label values (labels match them by text only).

    >>> class_table([("i", 1), ("s", "dog"), ("i", 7), None], ("cat", "dog"), derived=False).tolist()
    [1, 1, -1, -1]
    """
    index_ints = not derived and not all(c.lstrip("-").isdigit() for c in classes)
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([class_of(k, classes, index_ints, lookup, not_binary) for k in keys], dtype=np.int64)
