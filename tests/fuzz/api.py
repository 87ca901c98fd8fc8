"""Fuzzing the Python API: ``calibcli.audit``, ``calibcli.fit``, ``calibcli.thresholds`` on DataFrames,
Tables and arrays of odd types and shapes, and the ``calibcli.metrics`` functions on NaN, empty,
1-D vs 2-D and mismatched inputs.

The rule: a call returns, or raises a :class:`calibcli.errors.CalibError` subclass, a ``ValueError``
or a ``TypeError`` with a message. Any other exception is a crash (hard); a message with Python
internals or a warning that escapes are soft findings.

A call is an :class:`ApiCall`: a recipe (readable by ``describe``) built into real arguments only
when it runs, so hypothesis shrinks it and a reproducer can be printed.
"""

from __future__ import annotations

import inspect
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from fuzz.harness import INTERNALS, FuzzTimeout, Outcome, Problem, StepResult, _alarm
from fuzz.seeds import Seed, load_seeds
from fuzz.strategies import _chance, mutated_table

ALLOWED = (ValueError, TypeError)  # plus calibcli.errors.CalibError, imported lazily


@dataclass(frozen=True)
class ApiCall:
    """``func(data recipe, **kwargs)``: ``func`` is 'audit', 'fit', 'thresholds', 'transform' or 'metrics.<name>'."""

    func: str
    seed: str
    data: str  # how the seed becomes the data: frame, table, polars, batch, arrays, or a bad value
    shape: str = "as_is"  # how arrays are reshaped or retyped
    kwargs: tuple[tuple[str, object], ...] = ()
    table_ops: tuple[str, ...] = ()
    cols_rows: tuple = field(default=(), compare=False, repr=False)

    def describe(self) -> str:
        kw = ", ".join(f"{k}={v!r}" for k, v in self.kwargs)
        ops = f"; table mutations: {'; '.join(self.table_ops)}" if self.table_ops else ""
        return f"calibcli.{self.func}(<{self.data} of seed {self.seed}, {self.shape}>{', ' + kw if kw else ''}){ops}"


# ------------------------------------------------------------------ building arguments


def _table(call: ApiCall):
    seed = next(s for s in load_seeds() if s.name == call.seed)
    if call.cols_rows:
        return seed, list(call.cols_rows[0]), [list(r) for r in call.cols_rows[1]]
    return seed, list(seed.columns), [list(r) for r in seed.rows]


def _clean(v: object) -> object:
    return v.decode("latin-1") if isinstance(v, bytes) else v


def build_data(call: ApiCall) -> dict[str, object]:
    """The data arguments: ``{"data": ...}`` or ``{"y_true": ..., "y_prob": ...}``."""
    import numpy as np

    seed, cols, rows = _table(call)
    kind = call.data
    if kind in ("frame", "table", "polars", "batch"):
        import pyarrow as pa

        from fuzz.strategies import _arrow_column

        names = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in cols]
        if kind == "frame":
            import pandas as pd

            frame = pd.DataFrame([[_clean(v) for v in r] for r in rows], columns=names)
            if call.shape == "categorical" and seed.label_col in frame:
                frame[seed.label_col] = frame[seed.label_col].astype("category")
            if call.shape == "index":
                frame = frame.set_index(frame.columns[0])
            return {"data": frame}
        arrays = [_arrow_column([r[i] for r in rows], None) for i in range(len(cols))]
        table = pa.Table.from_arrays(arrays, names=names)
        if kind == "polars":
            import polars as pl

            return {"data": pl.from_arrow(table)}
        if kind == "batch":
            return {"data": table.combine_chunks().to_batches()[0] if table.num_rows else table}
        return {"data": table}
    if kind == "arrays":
        li = seed.label_index if seed.label_index is not None else 0
        labels = [_clean(r[li]) for r in rows]
        score_idx = [i for i, c in enumerate(cols) if i != li and c in seed.score_columns]
        scores = [[r[i] for i in score_idx] for r in rows]
        y_true: object = np.asarray(labels, dtype=object if any(isinstance(v, str) for v in labels) else None)
        try:
            y_prob: object = np.asarray(scores, dtype=float)
        except (TypeError, ValueError):
            y_prob = np.asarray(scores, dtype=object)
        return _reshape(call.shape, y_true, y_prob)
    return {"data": BAD_DATA[kind]() if callable(BAD_DATA[kind]) else BAD_DATA[kind]}


def _reshape(shape: str, y_true, y_prob) -> dict[str, object]:
    import numpy as np

    yp = np.asarray(y_prob)
    n = yp.shape[0] if yp.ndim else 0
    if shape == "transpose":
        y_prob = yp.T
    elif shape == "ravel":
        y_prob = yp.ravel()
    elif shape == "first_col":
        y_prob = yp[:, 0] if yp.ndim == 2 else yp
    elif shape == "last_col":
        y_prob = yp[:, -1] if yp.ndim == 2 else yp
    elif shape == "3d":
        y_prob = yp[:, :, None] if yp.ndim == 2 else yp[:, None, None]
    elif shape == "0d":
        y_prob = np.float64(0.5)
    elif shape == "short":
        y_prob = yp[:-1]
    elif shape == "empty":
        y_true, y_prob = np.asarray(y_true)[:0], yp[:0]
    elif shape == "one_row":
        y_true, y_prob = np.asarray(y_true)[:1], yp[:1]
    elif shape == "nan_cell" and n:
        y_prob = yp.astype(float, copy=True)
        y_prob.flat[n // 2] = np.nan
    elif shape == "inf_cell" and n:
        y_prob = yp.astype(float, copy=True)
        y_prob.flat[0] = np.inf
    elif shape == "all_nan":
        y_prob = np.full(yp.shape, np.nan)
    elif shape == "strings":
        y_prob = yp.astype(str)
    elif shape == "object_none":
        y_prob = yp.astype(object)
        if n:
            y_prob.flat[0] = None
    elif shape == "complex":
        y_prob = yp.astype(complex)
    elif shape == "float16":
        y_prob = yp.astype(np.float16)
    elif shape == "bool":
        y_prob = yp > 0.5
    elif shape == "datetime":
        y_prob = np.zeros(yp.shape, dtype="datetime64[s]")
    elif shape == "ragged":
        y_prob = [list(r) for r in yp.tolist()]
        if y_prob:
            y_prob[0] = y_prob[0][:-1] or [0.5, 0.5]
    elif shape == "lists":
        y_true, y_prob = list(np.asarray(y_true).tolist()), yp.tolist()
    elif shape == "labels_float_nan":
        y_true = np.asarray([np.nan] + list(range(1, n)), dtype=float)
    elif shape == "labels_2d":
        y_true = np.asarray(y_true)[:, None]
    elif shape == "labels_onehot" and yp.ndim == 2:
        y_true = np.eye(yp.shape[1], dtype=int)[np.arange(n) % yp.shape[1]]
    elif shape == "labels_out_of_range":
        y_true = np.arange(n) + 100
    elif shape == "labels_negative":
        y_true = -np.ones(n, dtype=int)
    elif shape == "labels_bool":
        y_true = np.arange(n) % 2 == 0
    elif shape == "labels_strings":
        y_true = np.asarray([["cat", "dog"][i % 2] for i in range(n)])
    elif shape == "labels_none":
        y_true = None
    elif shape == "prob_none":
        y_prob = None
    elif shape == "swap":
        y_true, y_prob = y_prob, y_true
    elif shape == "series":
        import pandas as pd

        y_true = pd.Series(np.asarray(y_true))
        y_prob = pd.DataFrame(yp) if yp.ndim == 2 else pd.Series(yp)
    elif shape == "scaled":
        y_prob = yp * 100
    elif shape == "negative":
        y_prob = -yp
    return {"y_true": y_true, "y_prob": y_prob}


BAD_DATA: dict[str, object] = {
    "none": None, "int": 5, "missing_path": "missing-calib-fuzz.csv", "empty_list": [], "list_ints": [1, 2],
    "dict": {"label": [0, 1], "p_1": [0.2, 0.8]}, "ndarray": lambda: __import__("numpy").zeros((3, 2)),
    "generator": lambda: (x for x in range(3)), "bytes": b"label,p_1\n0,0.5\n", "empty_frame":
    lambda: __import__("pandas").DataFrame(), "empty_table": lambda: __import__("pyarrow").table({}),
    "nested_list": [["a.csv"]], "path_obj": lambda: Path("missing-calib-fuzz.parquet"), "str_empty": "",
    "glob_nothing": "*.calib-fuzz-nothing",
}
SHAPES = ["as_is", "as_is", "as_is", "transpose", "ravel", "first_col", "last_col", "3d", "0d", "short", "empty",
          "one_row", "nan_cell", "inf_cell", "all_nan", "strings", "object_none", "complex", "float16", "bool",
          "datetime", "ragged", "lists", "labels_float_nan", "labels_2d", "labels_onehot", "labels_out_of_range",
          "labels_negative", "labels_bool", "labels_strings", "labels_none", "prob_none", "swap", "series", "scaled",
          "negative"]

#: odd keyword values, by argument name
API_KWARGS: dict[str, list[object]] = {
    "label": ["label", "nope", "", 5, None, "p_cat", b"label"],
    "score_cols": [None, "p_*", "nope*", [], ["p_cat", "p_cat"], 5, "", ["label"]],
    "classes": [None, ["a", "b"], "a,,b", [1, 2], [], ["cat", "cat"], 3],
    "task": [None, "binary", "multiclass", "multilabel", "top_label", "nope", 1],
    "score_kind": [None, "probs", "logits", "LOGITS", 0],
    "renormalize": [True, "yes"], "drop_invalid": [True, 1],
    "encoding": ["utf-8", "zlib", "nope", None, 5],
    "batch_rows": [None, 1, 0, -1, "7", 1.5, 2**70, True],
    "memory_limit": [None, 0, -1, "1G", 2**70, 1.5],
    "n_bins": [15, 1, 0, -1, 1.5, "15", None, True, 10**9, float("nan")],
    "strategy": ["uniform", "quantile", "Quantile", None, 3],
    "calibrators": [None, "temperature", "nope", [], ["temperature", "temperature"], 5, ["platt", "isotonic"], ""],
    "calibration_split": [None, 0.5, 0, 1, -1, float("nan"), "0.5"],
    "seed": [0, -1, 1.5, "0", None, 2**70],
    "objectives": ["f1", "nope", [], ["f1", "f1"], 5, ("cost",), None],
    "threshold_bootstrap": [0, -1, 1, "10", None],
    "cost_fp": [None, 1.0, -1.0, float("nan"), "1"], "cost_fn": [None, 5.0, float("inf")],
    "beta": [None, 0, -1, 2.0], "min_precision": [None, 0.9, 0, 1.5, float("nan")],
    "fail_if": ["ece > 0.1", "ece >", 5, ["ece > 0.1", "nope < 1"], ""], "warn_if": ["mce > 0.5", None],
    "gate_on": ["point", "upper", "nope"], "gate_replicates": [10, 0, -5],
    "method": ["temperature", "vector", "platt", "isotonic", "histogram", "nope", None, 5],
    "per_label": [True], "n_bootstrap": [0, -1, 10, "x"], "target_classes": [None, ["nope"], "cat", [1]],
    "calibrator": [None, "missing-cal.json", 5, "fitted"],
    "threshold_classes": [None, ["nope"], ["cat"]],
}
FUNC_KWARGS = {
    "audit": ["label", "score_cols", "classes", "task", "score_kind", "renormalize", "drop_invalid", "encoding",
              "batch_rows", "memory_limit", "n_bins", "strategy", "calibrators", "calibration_split", "seed",
              "objectives", "threshold_bootstrap", "cost_fp", "cost_fn", "beta", "min_precision", "fail_if", "warn_if",
              "gate_on", "gate_replicates", "per_label", "threshold_classes"],
    "fit": ["method", "label", "score_cols", "classes", "task", "score_kind", "renormalize", "drop_invalid",
            "batch_rows", "per_label", "n_bins", "seed"],
    "thresholds": ["objectives", "label", "score_cols", "classes", "task", "score_kind", "n_bootstrap", "seed",
                   "target_classes", "calibrator", "cost_fp", "cost_fn", "beta", "min_precision"],
}
#: always passed, so runs stay fast (bootstraps of 200 replicates cost seconds)
FAST = {"audit": (("calibrators", None), ("threshold_bootstrap", 0)), "thresholds": (("n_bootstrap", 0),), "fit": ()}


@st.composite
def api_calls(draw) -> ApiCall:
    """A call of audit, fit, thresholds or a fitted calibrator's transform on hostile data and arguments."""
    seed: Seed = draw(st.sampled_from(load_seeds()))
    func = draw(st.sampled_from(["audit", "audit", "fit", "thresholds", "transform"]))
    data = draw(st.sampled_from(["frame", "frame", "table", "arrays", "arrays", "arrays", "polars", "batch"]
                                + (list(BAD_DATA) if draw(_chance(6)) else [])))
    shape = "as_is"
    if data == "arrays":
        shape = draw(st.sampled_from(SHAPES))
    elif data == "frame":
        shape = draw(st.sampled_from(["as_is", "as_is", "categorical", "index"]))
    cols_rows: tuple = ()
    ops: tuple[str, ...] = ()
    if draw(_chance(2)):
        cols, rows, notes = draw(mutated_table(seed, values_only=data == "arrays"))
        cols_rows, ops = (tuple(cols), tuple(tuple(r) for r in rows)), tuple(notes)
    kwargs = dict(FAST.get(func, ()))
    if func != "transform":
        for name in draw(st.lists(st.sampled_from(FUNC_KWARGS[func]), max_size=3, unique=True)):
            kwargs[name] = draw(st.sampled_from(API_KWARGS[name]))
        if func == "audit" and data != "arrays" and seed.extra_args:
            kwargs.setdefault("label", seed.label_col)
    else:
        kwargs["method"] = draw(st.sampled_from(["temperature", "platt", "isotonic", "vector", "histogram"]))
    return ApiCall(func, seed.name, data, shape, tuple(kwargs.items()), ops, cols_rows)


# ------------------------------------------------------------------ metrics functions

METRIC_SKIP = {"NLL_CLIP", "KINDS", "ReliabilityCurve"}
METRIC_KWARGS: dict[str, list[object]] = {
    "n_bins": [15, 1, 0, -1, 2.5, "10", None, 10**7, True],
    "strategy": ["uniform", "quantile", "nope", None],
    "sample_weight": ["ones", "zeros", "negative", "nan", "short", "2d", "strings", None, "huge"],
    "kind": ["auto", "top_label", "positive", "classwise", "nope", 0, 1, -1, 99],
    "average": ["sum", None, "mean", "nope"],
}


def metric_names() -> list[str]:
    """The public functions of ``calibcli.metrics``."""
    import calibcli.metrics as m

    return sorted(n for n in m.__all__ if n not in METRIC_SKIP and callable(getattr(m, n)))


@st.composite
def metric_calls(draw) -> ApiCall:
    """A ``calibcli.metrics`` function on arrays of odd shapes and values, with odd keyword values."""
    import calibcli.metrics as m

    name = draw(st.sampled_from(metric_names()))
    seed: Seed = draw(st.sampled_from([s for s in load_seeds() if s.name != "top_label" and
                                       s.name != "densenet_top_real"]))
    shape = draw(st.sampled_from(SHAPES))
    params = inspect.signature(getattr(m, name)).parameters
    kwargs: dict[str, object] = {}
    for k in draw(st.lists(st.sampled_from(sorted(METRIC_KWARGS)), max_size=3, unique=True)):
        if k in params:
            kwargs[k] = draw(st.sampled_from(METRIC_KWARGS[k]))
    cols_rows: tuple = ()
    ops: tuple[str, ...] = ()
    if draw(_chance(3)):
        cols, rows, notes = draw(mutated_table(seed, values_only=True))
        cols_rows, ops = (tuple(cols), tuple(tuple(r) for r in rows)), tuple(notes)
    data = "arrays" if not draw(_chance(10)) else draw(st.sampled_from(["none", "int", "list_ints", "bytes"]))
    return ApiCall("metrics." + name, seed.name, data, shape, tuple(kwargs.items()), ops, cols_rows)


def _weights(kind: object, n: int):
    import numpy as np

    if not isinstance(kind, str):
        return kind
    return {"ones": np.ones(n), "zeros": np.zeros(n), "negative": -np.ones(n), "nan": np.full(n, np.nan),
            "short": np.ones(max(n - 1, 0)), "2d": np.ones((n, 2)), "strings": np.asarray(["a"] * n),
            "huge": np.full(n, 1e308)}.get(kind, kind)


# ------------------------------------------------------------------ running


def invoke(call: ApiCall):
    """Build the arguments and make the call (raises what the API raises)."""
    import numpy as np

    import calibcli

    args = _built(call)
    kwargs = dict(call.kwargs)
    if call.func.startswith("metrics."):
        import calibcli.metrics as m

        fn = getattr(m, call.func.split(".", 1)[1])
        if "sample_weight" in kwargs:
            yt = args.get("y_true")
            kwargs["sample_weight"] = _weights(kwargs["sample_weight"], len(yt) if hasattr(yt, "__len__") else 1)
        if "data" in args:
            return fn(args["data"], args["data"], **kwargs)
        y_true, y_prob = args["y_true"], args["y_prob"]
        if call.func.endswith("nll_from_logits") and isinstance(y_prob, np.ndarray) and y_prob.dtype.kind == "f":
            with np.errstate(all="ignore"):
                y_prob = np.log(np.clip(y_prob, 1e-12, None))
        return fn(y_true, y_prob, **kwargs)
    if call.func == "transform":
        cal = calibcli.fit(**args, method=kwargs.get("method", "temperature"),
                           **({"label": "target"} if call.seed == "belt_real" and "data" in args else {}))
        scores = args.get("y_prob")
        if scores is None:
            scores = args["data"]
        return cal.transform(scores)
    if kwargs.get("calibrator") == "fitted":
        kwargs["calibrator"] = calibcli.fit(**build_data(ApiCall("fit", call.seed, "arrays")))
    result = getattr(calibcli, call.func)(**args, **kwargs)
    if call.func == "audit":
        result.to_dict()
        result.to_json()
    return result


class _Unbuildable(Exception):
    """The recipe makes no arguments (numpy or pandas refuse the values): the call is skipped, not judged."""


def _built(call: ApiCall) -> dict[str, object]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build_data(call)
    except Exception as exc:  # noqa: BLE001
        raise _Unbuildable(f"{type(exc).__name__}: {exc}") from None


def run_api(call: ApiCall, timeout: int = 60) -> Outcome:
    """Make the call; judge the outcome (see the module docstring)."""
    from calibcli.errors import CalibError

    problems: list[Problem] = []
    code = 0
    message = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _alarm(timeout):
                invoke(call)
        except _Unbuildable as exc:
            return Outcome([StepResult((call.func,), 0, "", f"skipped: {exc}")], [])
        except FuzzTimeout:
            code = -2
            problems.append(Problem("timeout", f"{call.func}: no result after {timeout} s"))
        except (CalibError, *ALLOWED) as exc:
            code = 2
            message = str(exc)
            kind = "calib" if isinstance(exc, CalibError) else type(exc).__name__
            if not message.strip():
                problems.append(Problem("api_empty_message", f"{call.func}: {type(exc).__name__} without a message",
                                        _where(exc)))
            m = INTERNALS.search(message)
            if m:
                problems.append(Problem("internal_message", f"{call.func}: Python internals in a message "
                                                            f"({m.group(0)}; {kind})", message[:300]))
            if not isinstance(exc, CalibError) and _foreign(exc):
                problems.append(Problem("api_foreign_error", f"{call.func}: {type(exc).__name__} raised by "
                                                             f"{_where(exc)}", message[:300]))
        except BaseException as exc:  # noqa: BLE001 - any other type is the finding
            if isinstance(exc, KeyboardInterrupt):
                raise
            code = 3
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:]
            problems.append(Problem("api_exception", f"{call.func}: {type(exc).__name__} in {_where(exc)}", detail))
    for w in caught:
        if "/tests/fuzz/" in w.filename.replace("\\", "/"):
            continue
        problems.append(Problem("warning_leak", f"{call.func}: {w.category.__name__} ({Path(w.filename).name})",
                                f"{w.message}"[:300]))
    return Outcome([StepResult((call.func,), code, "", message)], problems)


def _frames(exc: BaseException):
    return traceback.extract_tb(exc.__traceback__)


def _where(exc: BaseException) -> str:
    frames = _frames(exc)
    ours = [f for f in frames if "/calibcli/" in f.filename.replace("\\", "/")]
    if not ours:
        return "?"
    f = ours[-1]
    out = f"{f.filename[f.filename.rfind('calibcli'):]}:{f.name}"
    if frames and frames[-1] is not ours[-1]:
        out += f" (raised in {Path(frames[-1].filename).name}:{frames[-1].name})"
    return out


def _foreign(exc: BaseException) -> bool:
    """A ValueError/TypeError raised outside calibcli (numpy, pyarrow): allowed, but its message was not written
    for calib's users."""
    frames = _frames(exc)
    return bool(frames) and "/calibcli/" not in frames[-1].filename.replace("\\", "/")
