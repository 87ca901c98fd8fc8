"""In-memory data and paths as a validated, multi-pass ``BatchSource`` (``open_data``).

The Python API (:mod:`calibcli.api`) and the audit pipeline (:mod:`calibcli.pipeline`, for
``fit_on`` and ``baseline`` given as data) read through it: a pandas or polars DataFrame, a
pyarrow Table or RecordBatch, arrays, a path or a list of paths. In-memory data is handed to
the same reader, with the same checks and messages, as an input file.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from calibcli.errors import InputError, UsageError

if TYPE_CHECKING:
    from calibcli.validation.options import LoadOptions

__all__ = ["open_data", "as_table", "is_paths", "as_paths", "data_name"]


def as_table(data):
    """A pyarrow Table of a pandas or polars DataFrame or a pyarrow Table/RecordBatch; None for anything else."""
    mod = type(data).__module__.split(".")[0]
    if mod == "pyarrow":
        import pyarrow as pa

        if isinstance(data, pa.RecordBatch):
            return pa.Table.from_batches([data])
        if isinstance(data, pa.Table):
            return data
    if mod == "pandas" and hasattr(data, "columns"):
        import pyarrow as pa

        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (OverflowError, pa.ArrowNotImplementedError) as exc:
            raise InputError(f"DataFrame column {_unconvertible(data)!r} cannot be read as one Arrow column ({exc}). "
                             "Give the column one type: numbers within 64 bits, or strings (.astype(str)).") from None
    if mod == "polars" and hasattr(data, "to_arrow"):
        return data.to_arrow()
    return None


def _unconvertible(df) -> str:
    """The name of the first column of the DataFrame ``df`` that pyarrow cannot convert ('?' if none alone fails)."""
    import pyarrow as pa

    for name in df.columns:
        try:
            pa.Array.from_pandas(df[name])
        except (OverflowError, pa.ArrowException, ValueError, TypeError):
            return str(name)
    return "?"


def _real_array(values, name: str) -> np.ndarray:
    """``values`` as an array of real numbers (or labels), or an ``InputError`` naming ``name`` and its dtype."""
    arr = np.asarray(values)
    if arr.dtype.kind in "cV" or (name == "y_prob" and arr.dtype.kind in "mM"):
        what = "real-valued scores" if name == "y_prob" else "labels (integers or strings)"
        raise InputError(f"{name} has dtype {arr.dtype}; it must hold {what}"
                         + (" (complex scores: pass their real part or modulus explicitly)." if arr.dtype.kind == "c"
                            else "."))
    return arr


def _arrays_table(y_true, y_prob, classes: Sequence[str] | None, score_kind: str | None):
    """A table of labels and score columns (``p_<class>`` or ``logit_<class>``) from arrays."""
    import pyarrow as pa

    y_prob = _real_array(y_prob, "y_prob")
    y_true = _real_array(y_true, "y_true")
    if y_true.ndim == 2 and y_true.shape[1] == 1 and not (y_prob.ndim == 2 and y_prob.shape[1] == 1):
        y_true = y_true[:, 0]  # a column vector of labels (as scikit-learn's column_or_1d reads it)
    if y_true.ndim == 2 and (y_prob.ndim != 2 or y_true.shape[1] != y_prob.shape[1]):
        raise UsageError(f"y_true has shape {y_true.shape} and y_prob {y_prob.shape}: a 2-d y_true is multilabel "
                         "(one 0/1 column per column of y_prob); give labels of shape (n,) otherwise.")
    if y_true.ndim not in (1, 2):
        raise UsageError(f"y_true has shape {y_true.shape}; give labels of shape (n,) (or (n, K) 0/1 for multilabel).")
    if y_prob.ndim not in (1, 2) or y_prob.shape[0] != y_true.shape[0]:
        raise UsageError(f"y_prob has shape {y_prob.shape} and y_true {y_true.shape}; give one row of scores per label "
                         "(y_prob of shape (n,) for a binary positive class, or (n, K)).")
    prefix = "logit_" if score_kind == "logits" else "p_"
    if y_prob.ndim == 1:
        names = [str(classes[-1])] if classes else ["1"]
        cols = {f"{prefix}{names[0]}": y_prob}
    else:
        names = [str(c) for c in classes] if classes else [str(k) for k in range(y_prob.shape[1])]
        if len(names) != y_prob.shape[1]:
            raise UsageError(f"classes names {len(names)} classes but y_prob has {y_prob.shape[1]} columns.")
        cols = {f"{prefix}{n}": y_prob[:, k] for k, n in enumerate(names)}
    if y_true.ndim == 2:  # multilabel: one 0/1 column per label
        data = {f"y_{n}": y_true[:, k] for k, n in enumerate(names)}
        return pa.table({**data, **cols}), None
    label = y_true if y_true.dtype.kind in "iub" else y_true.astype(str)
    return pa.table({"label": label, **cols}), "label"


def data_name(data) -> str:
    """How messages and reports name in-memory ``data``: 'Table' (pyarrow) or 'DataFrame'."""
    return "Table" if type(data).__module__.startswith("pyarrow") else "DataFrame"


def is_paths(data) -> bool:
    """Whether ``data`` is a path or a non-empty list of paths (rather than in-memory data)."""
    return isinstance(data, (str, os.PathLike)) or (isinstance(data, (list, tuple)) and bool(data)
                                                    and all(isinstance(d, (str, os.PathLike)) for d in data))


def as_paths(data) -> list[str]:
    """The paths of ``data``, a path or a list of paths (see :func:`is_paths`), as a list of str."""
    return [os.fspath(d) for d in (data if isinstance(data, (list, tuple)) else [data])]


@contextmanager
def open_data(data=None, *, y_true=None, y_prob=None, options: "LoadOptions | None" = None,
              name: str | None = None, first_pass=None) -> Iterator[Any]:
    """A validated, multi-pass ``BatchSource`` over ``data`` (what every API function reads).

    Parameters
    ----------
    data : pandas or polars DataFrame, pyarrow Table or RecordBatch, a path, or a list of paths or globs.
    y_true, y_prob : arrays instead of ``data`` (labels; scores ``(n,)`` binary or ``(n, K)``).
    options : column and interpretation settings (``LoadOptions``).
    name : how messages and the report name in-memory data (default: 'DataFrame', 'Table' or 'arrays').
    first_pass : the caller's code up to its first pass, fed while the input is checked
        (``open_source(first_pass=...)``, e.g. :func:`calibcli.pipeline.first_pass_plan`).

    In-memory data is written once to a temporary Arrow file and read by the same
    reader and checks as any input file; messages name it ``name``, never the
    temporary file, which is deleted on exit.
    """
    from calibcli.engine.streaming import open_source
    from calibcli.validation.options import LoadOptions

    options = options or LoadOptions()
    if (y_true is None) != (y_prob is None):
        raise UsageError("give both y_true and y_prob, or neither (and data).")
    if y_true is not None and data is not None:
        raise UsageError("give either data or y_true/y_prob, not both.")
    if y_true is not None:
        table, label = _arrays_table(y_true, y_prob, options.classes, options.score_kind and options.score_kind.value)
        one_column = np.ndim(y_prob) == 1  # the column's name gives the positive class; the reader names the other
        options = replace(options, label_col=label or options.label_col,
                          classes=None if one_column else options.classes)
        name = name or "arrays"
    elif is_paths(data):
        with open_source(as_paths(data), options, first_pass=first_pass) as source:
            yield source
        return
    else:
        table = as_table(data)
        if table is None:
            raise UsageError(f"data must be a pandas or polars DataFrame, a pyarrow Table, a path or a list of paths; "
                             f"got {type(data).__name__}. For arrays, use y_true= and y_prob=.")
        name = name or data_name(data)
    yield from _table_source(table, options, name, first_pass)


def _plain(table):
    """Dictionary (categorical) columns as their values: the reader takes plain columns."""
    import pyarrow as pa

    cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.table(cols, names=table.column_names)


def _table_source(table, options, name: str, first_pass=None):
    with table_file(table) as path, open_table_file(path, options, name, first_pass) as source:
        yield source


@contextmanager
def table_file(table) -> Iterator[str]:
    """The path of ``table`` written once to a temporary Arrow file (deleted on exit), for :func:`open_table_file`."""
    import pyarrow as pa

    with tempfile.TemporaryDirectory(prefix="calib-api-") as folder:
        path = os.path.join(folder, "data.arrow")
        plain = _plain(table)
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, plain.schema) as writer:
            writer.write_table(plain)
        yield path


@contextmanager
def open_table_file(path: str, options: "LoadOptions", name: str, first_pass=None) -> Iterator[Any]:
    """A validated ``BatchSource`` over the :func:`table_file` ``path``; messages and the report name it ``name``.

    One file serves several sources (e.g. one per model of ``calibcli.audit(df, models=[...])``).
    """
    from calibcli.engine.streaming import open_source

    try:
        source = open_source([path], options, first_pass=first_pass)
    except InputError as exc:
        raise type(exc)(str(exc).replace(path, name)) from None
    with source:
        info = source.info
        source.info = replace(info, files=(name,), warnings=tuple(w.replace(path, name) for w in info.warnings))
        yield source
