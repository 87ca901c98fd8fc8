"""The Python API: ``calibcli.audit``, ``calibcli.fit`` and ``calibcli.thresholds``.

Data can be a pandas or polars DataFrame, a pyarrow Table, one or more paths
(anything ``calib audit`` reads), or ``y_true=``/``y_prob=`` arrays. In-memory
data goes through exactly the checks a file goes through (it is handed to the
same reader as an Arrow table), so the numbers and the error messages are the
CLI's. Options are the CLI's with Python names.

Examples
--------
>>> import numpy as np, calibcli
>>> rng = np.random.default_rng(0)
>>> p = rng.uniform(size=400)
>>> y = (rng.uniform(size=400) < p ** 1.5).astype(int)
>>> report = calibcli.audit(y_true=y, y_prob=p, calibrators=None)
>>> report.input.task, report.input.n_samples, round(report.metrics.ece, 4)
('binary', 400, 0.0319)
>>> report.to_dict()["metrics"]["ece"] == report.metrics.ece
True
>>> report.to_html().startswith("<!DOCTYPE html>")
True
>>> cal = calibcli.fit(y_true=y, y_prob=p, method="platt")
>>> cal.transform(np.array([0.2, 0.9])).shape
(2, 2)
>>> t = calibcli.thresholds(y_true=y, y_prob=p, objectives="f1", n_bootstrap=0)
>>> [(r.objective, r.scale) for r in t.recommendations]
[('f1', 'raw')]
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from calibcli.errors import InputError, UsageError
from calibcli.report import AuditReport

if TYPE_CHECKING:
    from calibcli.render.html import Provenance
    from calibcli.validation.options import LoadOptions

__all__ = ["Report", "FittedCalibrator", "audit", "fit", "thresholds", "open_data", "calibration_stage",
           "thresholds_stage", "gate_stage", "engine_info"]

CALIBRATORS = ("temperature", "vector", "platt", "isotonic", "histogram")
OBJECTIVES = ("cost", "f1", "fbeta", "youden", "precision", "recall", "flag-rate", "review-band")


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class Report(AuditReport):
    """The typed audit report (:class:`calibcli.report.AuditReport`) with its renderings.

    ``to_dict()`` is the JSON report as Python data, ``to_json()`` its text (what
    ``calib audit --format json`` prints), ``to_html()`` the self-contained HTML
    report (what ``--html-out`` writes); ``_repr_html_`` shows it in Jupyter.
    """

    provenance: Provenance | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_audit(cls, report: AuditReport, provenance: Provenance | None = None) -> "Report":
        """The same report with its renderings."""
        return cls(**{f.name: getattr(report, f.name) for f in fields(AuditReport)}, provenance=provenance)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report as plain Python data (floats unrounded, NaN as None)."""
        from calibcli.render.jsonout import clean, report_dict

        return clean(report_dict(self))

    def to_json(self) -> str:
        """The JSON report as text."""
        from calibcli.render.jsonout import render_json

        return render_json([self])

    def to_html(self, figures: bool = True, max_panels: int = 25) -> str:
        """The self-contained HTML report (inline CSS and figures, no network; deterministic)."""
        from calibcli.render.html import render_html

        return render_html([self], self.provenance, max_panels=max_panels, figures=figures)

    def _repr_html_(self) -> str:
        return self.to_html()


@dataclass(frozen=True)
class FittedCalibrator:
    """A calibrator fitted by :func:`fit`: ``transform`` scores, ``save`` the file ``calib apply`` reads.

    ``info`` holds the rows, the interval of T when fitted, in-sample metrics and warnings.
    """

    calibrator: Any
    columns: tuple[str, ...]
    info: dict[str, Any]
    fingerprint: dict[str, Any] | None = None

    @property
    def method(self) -> str:
        return str(self.info.get("method", type(self.calibrator).__name__))

    def to_dict(self) -> dict[str, Any]:
        """The calibrator file's content as Python data."""
        import json

        return json.loads(self.to_json())

    def to_json(self) -> str:
        """The calibrator file's text (JSON; never pickle)."""
        from calibcli.calibrator_file import calibrator_text

        return calibrator_text(self.calibrator, self.columns, self.fingerprint, self.info)

    def save(self, path: str | os.PathLike) -> None:
        """Write the calibrator file (atomically: a failure leaves no file behind)."""
        from calibcli.outputs import write_atomic

        write_atomic(path, self.to_json(), "save")

    def transform(self, scores) -> np.ndarray:
        """Calibrated probabilities ``(n, K)`` of ``scores``.

        ``scores``: an array ``(n, K)`` (or ``(n,)``, binary positive class) of the
        kind fitted on (probabilities or logits), or a DataFrame or Table holding
        the score columns fitted on.
        """
        from calibcli.predictions import Predictions, scores_to_probs

        cal = self.calibrator
        arr = _score_array(scores, self.columns)
        probs, logits = scores_to_probs(arr, cal.input_kind, cal.task)
        labels = np.zeros((len(arr),) + ((probs.shape[1],) if cal.task.value == "multilabel" else ()), dtype=np.int64)
        preds = Predictions(probs, labels, tuple(cal.classes), cal.task, cal.input_kind, logits)
        cal.check_compatible(preds)
        return np.asarray(cal.transform(preds).probs)


def _score_array(scores, columns: Sequence[str]) -> np.ndarray:
    table = _as_table(scores)
    if table is not None:
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise InputError(f"the data has no column {', '.join(missing)}, which the calibrator was fitted on. "
                             f"Columns: {', '.join(table.column_names[:12])}.")
        return np.column_stack([np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float64)
                                for c in columns])
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or not np.isfinite(arr).all():
        raise InputError(f"scores must be a finite 1-d or 2-d array, got shape {arr.shape}"
                         + ("" if np.isfinite(arr).all() else " with NaN or inf") + ".")
    return arr


# --------------------------------------------------------------------- data
def _as_table(data):
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

        return pa.Table.from_pandas(data, preserve_index=False)
    if mod == "polars" and hasattr(data, "to_arrow"):
        return data.to_arrow()
    return None


def _arrays_table(y_true, y_prob, classes: Sequence[str] | None, score_kind: str | None):
    """A table of labels and score columns (``p_<class>`` or ``logit_<class>``) from arrays."""
    import pyarrow as pa

    y_prob = np.asarray(y_prob)
    y_true = np.asarray(y_true)
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


def _load_options(label, score_cols, classes, task, score_kind, renormalize, drop_invalid, encoding, batch_rows,
                  memory_limit, id_col=None) -> "LoadOptions":
    from calibcli.predictions import ScoreKind, Task
    from calibcli.validation.options import LoadOptions

    def names(v):
        if v is None:
            return None
        return tuple(s.strip() for s in v.split(",") if s.strip()) if isinstance(v, str) else tuple(str(s) for s in v)

    def choice(v, enum, what):
        if v is None:
            return None
        try:
            return enum(v)
        except ValueError:
            raise UsageError(f"{what}={v!r}: choose from {', '.join(e.value for e in enum)}.") from None

    kwargs = dict(label_col=label, score_cols=names(score_cols), classes=names(classes), task=choice(task, Task, "task"),
                  score_kind=choice(score_kind, ScoreKind, "score_kind"), renormalize=bool(renormalize),
                  drop_invalid=bool(drop_invalid), encoding=encoding, id_col=id_col)
    if batch_rows is not None:
        kwargs["batch_rows"] = int(batch_rows)
    if memory_limit is not None:
        kwargs["memory_limit"] = int(memory_limit)
    return LoadOptions(**kwargs)


@contextmanager
def open_data(data=None, *, y_true=None, y_prob=None, options: "LoadOptions | None" = None,
              name: str | None = None) -> Iterator[Any]:
    """A validated, multi-pass ``BatchSource`` over ``data`` (what every API function reads).

    Parameters
    ----------
    data : pandas or polars DataFrame, pyarrow Table or RecordBatch, a path, or a list of paths or globs.
    y_true, y_prob : arrays instead of ``data`` (labels; scores ``(n,)`` binary or ``(n, K)``).
    options : column and interpretation settings (``LoadOptions``).
    name : how messages and the report name in-memory data (default: 'DataFrame', 'Table' or 'arrays').

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
    elif isinstance(data, (str, os.PathLike)) or (isinstance(data, (list, tuple)) and data
                                                  and all(isinstance(d, (str, os.PathLike)) for d in data)):
        paths = [os.fspath(d) for d in (data if isinstance(data, (list, tuple)) else [data])]
        with open_source(paths, options) as source:
            yield source
        return
    else:
        table = _as_table(data)
        if table is None:
            raise UsageError(f"data must be a pandas or polars DataFrame, a pyarrow Table, a path or a list of paths; "
                             f"got {type(data).__name__}. For arrays, use y_true= and y_prob=.")
        name = name or ("Table" if type(data).__module__.startswith("pyarrow") else "DataFrame")
    yield from _table_source(table, options, name)


def _plain(table):
    """Dictionary (categorical) columns as their values: the reader takes plain columns."""
    import pyarrow as pa

    cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.table(cols, names=table.column_names)


def _table_source(table, options, name: str):
    import pyarrow as pa

    from calibcli.engine.streaming import open_source

    with tempfile.TemporaryDirectory(prefix="calib-api-") as folder:
        path = os.path.join(folder, "data.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, _plain(table).schema) as writer:
            writer.write_table(_plain(table))
        try:
            source = open_source([path], options)
        except InputError as exc:
            raise type(exc)(str(exc).replace(path, name)) from None
        with source:
            info = source.info
            source.info = replace(info, files=(name,), warnings=tuple(w.replace(path, name) for w in info.warnings))
            yield source


# ------------------------------------------------------------------- stages
def engine_info(source):
    """The report's ``engine`` object from a source's reading statistics (None for a source without them)."""
    from calibcli.report import EngineInfo

    if not hasattr(source, "engine_stats"):
        return None
    st = source.engine_stats().to_dict()
    return EngineInfo(st["name"], st["batch_rows"], st["passes"], st["rows_read"], st["cached"], st["reread"])


def _methods(calibrators) -> tuple[str, ...]:
    names = (calibrators,) if isinstance(calibrators, str) else tuple(calibrators)
    names = tuple(dict.fromkeys(str(n).strip().lower() for n in names if str(n).strip()))
    unknown = [n for n in names if n not in CALIBRATORS]
    if unknown or not names:
        raise UsageError(f"calibrators={calibrators!r}: unknown calibrator {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(CALIBRATORS)}.")
    return names


def calibration_stage(report: AuditReport, source, methods: Sequence[str] = ("temperature",), *, explicit: bool = False,
                      split: float | None = None, fit_on=None, seed: int = 0, per_label: bool = False,
                      n_bins: int = 15, strategy: str = "uniform") -> AuditReport:
    """The report with ``calibration`` set (the logic of ``calib audit``'s calibration stage).

    Top-label files and inputs of too few rows are left uncalibrated (a warning
    in the report) unless calibration was asked for ``explicit``-ly, which is then
    an error saying why.
    """
    from calibcli.calibration_stage import MIN_ROWS, run_calibration
    from calibcli.predictions import Task

    info = source.info
    if info.task is Task.TOP_LABEL:
        if explicit:
            raise UsageError("calibration needs full score vectors, but this is a top-label file (confidence and "
                             "pred_label only). Export p_<class> or logit_<class> columns, or do not ask for calibration.")
        return report
    if per_label and info.task is not Task.MULTILABEL:
        raise UsageError(f"per_label fits one temperature per label and only applies to multilabel data; this is {info.task.value}.")
    if split is not None and fit_on is not None:
        raise UsageError("calibration_split and fit_on both say which rows fit the calibrator; give only one.")
    if not explicit and info.n_rows < MIN_ROWS:
        return replace(report, warnings=(*report.warnings,
                                         f"calibration skipped: {info.n_rows} rows are too few to fit on some and evaluate on others"))
    result = run_calibration(source, tuple(methods), split=split, fit_on=fit_on,
                             fit_on_files=tuple(fit_on.info.files) if fit_on is not None else (), seed=seed,
                             per_label=per_label, n_bins=n_bins, strategy=strategy, before=report.measurement)
    return replace(report, calibration=result, warnings=(*report.warnings, *result.warnings))


def _spec(objectives, n_bootstrap: int, seed: int, **targets):
    """A validated ``ThresholdSpec``: the objectives named or implied by their targets (as the CLI's flags imply them)."""
    from calibcli.thresholds import ThresholdSpec

    named = (objectives,) if isinstance(objectives, str) else tuple(objectives or ())
    bad = [o for o in named if o not in OBJECTIVES]
    if bad:
        raise UsageError(f"objectives: unknown {', '.join(map(str, bad))}; choose from {', '.join(OBJECTIVES)}.")
    implied = {"cost": any(targets.get(k) is not None for k in ("cost_fp", "cost_fn", "cost_tp", "cost_tn")),
               "fbeta": targets.get("beta") is not None, "precision": targets.get("min_precision") is not None,
               "recall": targets.get("min_recall") is not None, "flag-rate": targets.get("max_flag_rate") is not None,
               "review-band": targets.get("review_precision") is not None}
    chosen = tuple(o for o in OBJECTIVES if o in named or implied.get(o))
    if not chosen:
        return None
    return ThresholdSpec(objectives=chosen, cost_fp=targets.get("cost_fp"), cost_fn=targets.get("cost_fn"),
                         cost_tp=targets.get("cost_tp") or 0.0, cost_tn=targets.get("cost_tn") or 0.0,
                         beta=targets.get("beta"), min_precision=targets.get("min_precision"),
                         min_recall=targets.get("min_recall"), max_flag_rate=targets.get("max_flag_rate"),
                         review_precision=targets.get("review_precision"), n_bootstrap=n_bootstrap, seed=seed).validated()


def thresholds_stage(report: AuditReport, source, spec, classes: Sequence[str] | None = None) -> AuditReport:
    """The report with ``thresholds`` set: with calibration in the report, optimised on the raw and on the
    out-of-fold calibrated scores of the rows the calibrator was evaluated on (the logic of ``calib audit``)."""
    import inspect

    from calibcli.thresholds import recommend_source

    cal = report.calibration
    classes = tuple(classes) if classes else None
    calibrate = pair = None
    if cal is not None and getattr(cal, "out_of_fold", None) is not None:
        pair = cal.calibrate_batch
    if pair is not None and "pairs" in inspect.signature(recommend_source).parameters:
        result = recommend_source(source, spec, classes, pairs=pair)
    elif pair is not None:
        evaluated = _Evaluated(source, pair)
        source, calibrate = evaluated, evaluated.calibrate
        result = recommend_source(source, spec, classes, calibrate)
    else:
        result = recommend_source(source, spec, classes)
    notes = ()
    if pair is not None and result.n_rows < report.input.n_samples:
        notes = (f"thresholds use the {result.n_rows:,} rows the calibrator was evaluated on (not fitted on), on both scales",)
    return replace(report, thresholds=replace(result, notes=notes))


class _Evaluated:
    """The evaluated rows of each batch of ``source`` and their out-of-fold calibrated scores (``calibrate(batch)``),
    for a ``recommend_source`` without ``pairs``."""

    def __init__(self, source, pair):
        self.info, self._source, self._pair, self._last = source.info, source, pair, None

    def batches(self):
        for batch in self._source.batches():
            both = self._pair(batch)
            if both is None:
                continue
            self._last = both
            yield both[0]

    def calibrate(self, batch):
        raw, calibrated = self._last
        if batch is not raw:
            raise RuntimeError("calibrate() is for the batch just yielded")
        return calibrated.predictions


def gate_stage(report: AuditReport, source, fail_if: Sequence[str] = (), warn_if: Sequence[str] = (), *,
               on: str = "point", strict: bool = False, seed: int = 0, replicates: int = 200, n_bins: int = 15,
               strategy: str = "uniform") -> AuditReport:
    """The report with ``gate`` set from rules written as the CLI's ``--fail-if`` (e.g. ``'ece > 0.05'``)."""
    from calibcli.gate import evaluate_gate, parse_rule

    fail_if = (fail_if,) if isinstance(fail_if, str) else tuple(fail_if)
    warn_if = (warn_if,) if isinstance(warn_if, str) else tuple(warn_if)
    rules = [parse_rule(e, "fail", f"fail_if {e!r}") for e in fail_if]
    rules += [parse_rule(e, "warn", f"warn_if {e!r}") for e in warn_if]
    if not rules:
        return report
    if on not in ("point", "upper"):
        raise UsageError(f"gate_on={on!r}: choose 'point' or 'upper'.")
    result = evaluate_gate(source, report.measurement, rules, on=on, strict=strict, seed=seed, replicates=replicates,
                           n_bins=n_bins, strategy=strategy)
    return replace(report, gate=result)


def _call_text(fn: str, data, kwargs: dict) -> str:
    what = ("y_true=..., y_prob=..." if data is None else
            repr(os.fspath(data)) if isinstance(data, (str, os.PathLike)) else
            repr([os.fspath(d) for d in data]) if isinstance(data, (list, tuple)) else type(data).__name__)
    given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"calibcli.{fn}({what}{', ' + given if given else ''})"


# ---------------------------------------------------------------------- API
def audit(data=None, *, label: str = "label", y_true=None, y_prob=None, score_cols=None, classes=None, task=None,
          score_kind=None, renormalize: bool = False, drop_invalid: bool = False, encoding: str = "utf-8",
          batch_rows: int | None = None, memory_limit: int | None = None, n_bins: int = 15, strategy: str = "uniform",
          calibrators: Sequence[str] | str | None = "temperature", calibration_split: float | None = None,
          fit_on=None, seed: int = 0, per_label: bool = False, objectives: Sequence[str] | str = (),
          threshold_classes: Sequence[str] | None = None, threshold_bootstrap: int = 200, threshold_seed: int = 0,
          cost_fp: float | None = None, cost_fn: float | None = None, cost_tp: float | None = None,
          cost_tn: float | None = None, beta: float | None = None, min_precision: float | None = None,
          min_recall: float | None = None, max_flag_rate: float | None = None, review_precision: float | None = None,
          fail_if: Sequence[str] | str = (), warn_if: Sequence[str] | str = (), gate_on: str = "point",
          strict: bool = False, gate_seed: int = 0, gate_replicates: int = 200) -> Report:
    """Audit the calibration of predictions: what ``calib audit`` does, as a typed report.

    Parameters
    ----------
    data : pandas or polars DataFrame, pyarrow Table, a path or a list of paths (any format calib reads).
    label : the label column (``--label-col``).
    y_true, y_prob : arrays instead of ``data``: labels ``(n,)`` (``(n, K)`` 0/1 for multilabel) and scores
        ``(n,)`` (binary, positive class) or ``(n, K)``.
    score_cols, classes, task, score_kind, renormalize, drop_invalid, encoding, batch_rows, memory_limit :
        as ``--score-cols`` (names or globs), ``--classes``, ``--task``, ``--score-kind`` ('probs' or 'logits'), ...
    n_bins, strategy : ``--bins`` and ``--binning`` ('uniform' or 'quantile').
    calibrators : calibrators to fit and compare ('temperature', 'vector', 'platt', 'isotonic', 'histogram');
        None skips calibration (``--no-calibration``).
    calibration_split, fit_on, seed, per_label : as ``--calibration-split``, ``--fit-on`` (data or path), ``--seed``,
        ``--per-label``.
    objectives, threshold_classes, threshold_bootstrap, threshold_seed, cost_*, beta, min_precision, min_recall,
    max_flag_rate, review_precision : the thresholds section (computed when an objective is named or implied).
    fail_if, warn_if, gate_on, strict, gate_seed, gate_replicates : gate rules such as ``'ece > 0.05'``.

    Returns
    -------
    Report
        The typed report, with ``to_dict()``, ``to_json()``, ``to_html()`` and ``_repr_html_()``.

    Raises
    ------
    InputError, UsageError
        Bad input or options, with the messages of the CLI.
    """
    from calibcli.audit import build_audit
    from calibcli.render.html import Provenance, file_records

    opts = _load_options(label, score_cols, classes, task, score_kind, renormalize, drop_invalid, encoding,
                         batch_rows, memory_limit)
    spec = _spec(objectives, threshold_bootstrap, threshold_seed, cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp,
                 cost_tn=cost_tn, beta=beta, min_precision=min_precision, min_recall=min_recall,
                 max_flag_rate=max_flag_rate, review_precision=review_precision)
    if spec is None and threshold_classes:
        raise UsageError("threshold_classes picks classes for the thresholds section, which needs an objective: "
                         "add objectives='f1' or a target such as min_precision=0.9.")
    explicit = (calibrators is not None and calibrators != "temperature") or any(
        (calibration_split is not None, fit_on is not None, per_label))
    if calibrators is None and explicit:
        raise UsageError("calibrators=None skips calibration, but calibration_split, fit_on or per_label asks for it; "
                         "drop one of them.")
    with open_data(data, y_true=y_true, y_prob=y_prob, options=opts) as source:
        report = build_audit(source, n_bins, strategy)
        if calibrators is not None:
            methods = _methods(calibrators)
            if fit_on is not None:
                with open_data(fit_on, options=opts, name="fit_on") as fit_source:
                    report = calibration_stage(report, source, methods, explicit=explicit, split=calibration_split,
                                               fit_on=fit_source, seed=seed, per_label=per_label, n_bins=n_bins,
                                               strategy=strategy)
            else:
                report = calibration_stage(report, source, methods, explicit=explicit, split=calibration_split,
                                           seed=seed, per_label=per_label, n_bins=n_bins, strategy=strategy)
        if spec is not None:
            report = thresholds_stage(report, source, spec, threshold_classes)
        report = gate_stage(report, source, fail_if, warn_if, on=gate_on, strict=strict, seed=gate_seed,
                            replicates=gate_replicates, n_bins=n_bins, strategy=strategy)
        report = replace(report, engine=engine_info(source))
        files = source.info.files
    on_disk = isinstance(data, (str, os.PathLike, list, tuple)) and data is not None
    records = file_records(files) if on_disk else ()
    given = {k: v for k, v in (("label", label), ("n_bins", n_bins), ("strategy", strategy), ("calibrators", calibrators),
                               ("seed", seed), ("objectives", objectives), ("fail_if", fail_if))
             if v != audit.__kwdefaults__[k]}
    return Report.from_audit(report, Provenance(records, _call_text("audit", data, given)))


def fit(data=None, *, method: str = "temperature", label: str = "label", y_true=None, y_prob=None, score_cols=None,
        classes=None, task=None, score_kind=None, renormalize: bool = False, drop_invalid: bool = False,
        encoding: str = "utf-8", batch_rows: int | None = None, memory_limit: int | None = None,
        per_label: bool = False, n_bins: int = 15, seed: int = 0) -> FittedCalibrator:
    """Fit a calibrator on every row (what ``calib fit`` saves); data and options as :func:`audit`.

    ``method``: 'temperature', 'vector', 'platt', 'isotonic' or 'histogram'; ``n_bins``: histogram bins.
    Returns a :class:`FittedCalibrator` (``transform``, ``save``).
    """
    from calibcli.calibrators.fit_all import fit_all_rows

    _methods(method)
    opts = _load_options(label, score_cols, classes, task, score_kind, renormalize, drop_invalid, encoding,
                         batch_rows, memory_limit)
    with open_data(data, y_true=y_true, y_prob=y_prob, options=opts) as source:
        outcome = fit_all_rows(source, method, per_label, n_bins, seed, fingerprint=True)
        columns = tuple(source.info.columns.score_cols)
        info = {**outcome.info, "engine": source.engine_stats().to_dict()}
    return FittedCalibrator(outcome.calibrator, columns, info, outcome.fingerprint)


def thresholds(data=None, *, objectives: Sequence[str] | str = ("f1", "youden"), label: str = "label", y_true=None,
               y_prob=None, score_cols=None, classes=None, task=None, score_kind=None, renormalize: bool = False,
               drop_invalid: bool = False, encoding: str = "utf-8", batch_rows: int | None = None,
               memory_limit: int | None = None, target_classes: Sequence[str] | None = None, calibrator=None,
               n_bootstrap: int = 200, seed: int = 0, cost_fp: float | None = None, cost_fn: float | None = None,
               cost_tp: float | None = None, cost_tn: float | None = None, beta: float | None = None,
               min_precision: float | None = None, min_recall: float | None = None,
               max_flag_rate: float | None = None, review_precision: float | None = None):
    """Recommend decision thresholds (what ``calib thresholds`` does for one input); data and options as :func:`audit`.

    ``target_classes``: only these classes (``--class``); ``calibrator``: a :class:`FittedCalibrator`, a calibrator
    or a calibrator file path, to recommend on the calibrated scores too. Returns a ``ThresholdReport``
    (``recommendations``, ``to_dict()``).
    """
    from calibcli.thresholds import recommend_source

    spec = _spec(objectives or ("f1", "youden"), n_bootstrap, seed, cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp,
                 cost_tn=cost_tn, beta=beta, min_precision=min_precision, min_recall=min_recall,
                 max_flag_rate=max_flag_rate, review_precision=review_precision)
    if isinstance(calibrator, (str, os.PathLike)):
        from calibcli.calibrator_file import load_calibrator

        calibrator = load_calibrator(calibrator)
    cal = getattr(calibrator, "calibrator", calibrator)
    calibrate = None if cal is None else (lambda batch: cal.transform(batch.predictions))
    opts = _load_options(label, score_cols, classes, task, score_kind, renormalize, drop_invalid, encoding,
                         batch_rows, memory_limit)
    with open_data(data, y_true=y_true, y_prob=y_prob, options=opts) as source:
        return recommend_source(source, spec, tuple(target_classes) if target_classes else None, calibrate)
