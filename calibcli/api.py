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
('binary', 400, 0.1082)
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
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from calibcli.data_input import as_paths, as_table, data_name, is_paths, open_data
from calibcli.errors import InputError, UsageError
from calibcli.pipeline import CALIBRATORS
from calibcli.report import AuditReport

if TYPE_CHECKING:
    from calibcli.render.html import Provenance
    from calibcli.validation.options import LoadOptions

__all__ = ["Report", "AuditSet", "FittedCalibrator", "audit", "fit", "thresholds", "open_data"]


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
class AuditSet:
    """Several audits compared side by side: ``calibcli.audit(..., models=[...])`` or ``per_file=True``.

    Attributes
    ----------
    reports : one :class:`Report` per model or file, in the order given.
    names : each report's display name (the model, or the file).
    comparison : the :class:`calibcli.comparison.Comparison` table, best first by ``sort_by``
        (``comparison.best`` is the first row's name), with paired intervals for models of the same rows.
    by_model : whether the reports are models (their names title the HTML sections).

    ``to_dict()`` / ``to_json()`` are what ``calib audit --per-file`` (or ``--models``) ``--format json``
    prints (``{"schema_version", "tool", "reports", "comparison"}``); ``to_html()`` is what
    ``--html-out`` writes (the comparison table first, one section per report); ``_repr_html_`` shows it.
    """

    reports: tuple[Report, ...]
    names: tuple[str, ...]
    comparison: Any
    by_model: bool = False
    provenance: Provenance | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.reports)

    def __iter__(self):
        return iter(self.reports)

    def __getitem__(self, key: int | str) -> Report:
        """A report by position or by name."""
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"{key!r}: no report of that name; names: {', '.join(self.names)}")
            return self.reports[self.names.index(key)]
        return self.reports[key]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document as plain Python data (floats unrounded, NaN as None)."""
        import json

        return json.loads(self.to_json())

    def to_json(self) -> str:
        """The JSON document as text (the CLI's ``--format json`` of the same run)."""
        from calibcli.render.jsonout import render_json

        return render_json(list(self.reports), True, self.comparison)

    def to_html(self, figures: bool = True, max_panels: int = 25) -> str:
        """The self-contained HTML report: the comparison table first, then one section per report."""
        from calibcli.render.html import render_html

        return render_html(list(self.reports), self.provenance, max_panels=max_panels, figures=figures,
                           comparison=self.comparison, names=list(self.names) if self.by_model else None)

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
    table = as_table(scores)
    if table is not None:
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise InputError(f"the data has no column {', '.join(missing)}, which the calibrator was fitted on. "
                             f"Columns: {', '.join(table.column_names[:12])}.")
        return np.column_stack([np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float64)
                                for c in columns])
    raw = np.asarray(scores)
    if raw.dtype.kind not in "biufO":
        raise InputError(f"scores has dtype {raw.dtype}; give real numbers (probabilities or logits).")
    try:
        arr = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError("scores must hold real numbers (probabilities or logits).") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or not np.isfinite(arr).all():
        raise InputError(f"scores must be a finite 1-d or 2-d array, got shape {arr.shape}"
                         + ("" if np.isfinite(arr).all() else " with NaN or inf") + ".")
    return arr


# ------------------------------------------------------------ argument types
def _strings(value, what: str, numbers: bool = False) -> tuple[str, ...]:
    """A string or a list of strings (``numbers``: also integers, as class names) as a tuple of str.

    A ``TypeError`` naming ``what`` for anything else (``fail_if=5`` is not 'an int is not iterable')."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    ok = (str, int, np.integer) if numbers else (str,)
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)) or type(value).__module__.startswith("pandas"):
        items = list(value)
        if all(isinstance(v, ok) and not isinstance(v, bool) for v in items):
            return tuple(str(v) for v in items)
    kind = "strings or integers" if numbers else "strings"
    raise TypeError(f"{what} must be a string or a list of {kind}, got {type(value).__name__} {value!r}")


def _column_name(value, what: str, optional: bool = False) -> None:
    """A ``TypeError`` unless ``value`` is a column name (a str; None too when ``optional``)."""
    if not (isinstance(value, str) or (optional and value is None)):
        raise TypeError(f"{what} must be a column name (str), got {type(value).__name__} {value!r}")


def _check_data_args(label, score_cols, classes, encoding, id_col=None) -> None:
    """Types of the column and data arguments shared by audit, fit and thresholds."""
    _column_name(label, "label")
    _column_name(id_col, "id_col", optional=True)
    _strings(score_cols, "score_cols")
    _strings(classes, "classes", numbers=True)
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a codec name (str), got {type(encoding).__name__} {encoding!r}")


# --------------------------------------------------------------------- data
def _load_options(label, score_cols, classes, task, score_kind, renormalize, drop_invalid, encoding, batch_rows,
                  memory_limit, id_col=None, extra_cols=()) -> "LoadOptions":
    from calibcli.predictions import ScoreKind, Task
    from calibcli.validation.options import LoadOptions

    def names(v, what: str, numbers: bool = False):
        if v is None:
            return None
        return tuple(s.strip() for s in v.split(",") if s.strip()) if isinstance(v, str) else _strings(v, what, numbers)

    def choice(v, enum, what):
        if v is None:
            return None
        try:
            return enum(v)
        except ValueError:
            raise UsageError(f"{what}={v!r}: choose from {', '.join(e.value for e in enum)}.") from None

    kwargs = dict(label_col=label, score_cols=names(score_cols, "score_cols"),
                  classes=names(classes, "classes", numbers=True), task=choice(task, Task, "task"),
                  score_kind=choice(score_kind, ScoreKind, "score_kind"), renormalize=bool(renormalize),
                  drop_invalid=bool(drop_invalid), encoding=encoding, id_col=id_col, extra_cols=tuple(extra_cols))
    if batch_rows is not None:
        kwargs["batch_rows"] = int(batch_rows)
    if memory_limit is not None:
        kwargs["memory_limit"] = int(memory_limit)
    return LoadOptions(**kwargs)


# ------------------------------------------------------------------ options
def _spec(objectives, n_bootstrap: int, seed: int, **targets):
    """A validated ``ThresholdSpec``: the objectives named or implied by their targets (as the CLI's flags imply them)."""
    from calibcli.thresholds import OBJECTIVES, ThresholdSpec

    named = _strings(objectives or (), "objectives")
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


def _call_text(fn: str, data, kwargs: dict) -> str:
    what = ("y_true=..., y_prob=..." if data is None else
            repr(os.fspath(data)) if isinstance(data, (str, os.PathLike)) else
            repr([os.fspath(d) for d in data]) if isinstance(data, (list, tuple)) else type(data).__name__)
    given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"calibcli.{fn}({what}{', ' + given if given else ''})"


# ----------------------------------------------------- calibrators, groups, rules
def _methods(calibrators) -> tuple[str, ...]:
    names = _strings(calibrators, "calibrators")
    names = tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [n for n in names if n not in CALIBRATORS]
    if unknown or not names:
        raise UsageError(f"calibrators={calibrators!r}: unknown calibrator {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(CALIBRATORS)}.")
    return names


def _per_column(value, what: str) -> tuple[str, ...]:
    """``by_bins`` / ``by_time`` as the CLI's words: 5 -> ('5',); {'age': 5} -> ('age=5',); '1D' -> ('1D',)."""
    if value is None:
        return ()
    if isinstance(value, dict):
        return tuple(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    raise UsageError(f"{what}={value!r}: give a value, a list of 'COL=VALUE' strings or a dict {{column: value}}.")


def _groups(by, by_bins, by_time, min_group_rows: int, max_groups: int):
    by, by_bins, by_time = _strings(by, "by"), _per_column(by_bins, "by_bins"), _per_column(by_time, "by_time")
    if not (by or by_bins or by_time):
        return None
    from calibcli.subgroups.keys import GroupSpec

    return GroupSpec.parse(by, by_bins, by_time, int(min_group_rows), int(max_groups))


def _rules(fail_if, warn_if) -> tuple:
    from calibcli.gate import parse_rule

    return (tuple(parse_rule(e, "fail", f"fail_if {e!r}") for e in _strings(fail_if, "fail_if"))
            + tuple(parse_rule(e, "warn", f"warn_if {e!r}") for e in _strings(warn_if, "warn_if")))


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
          by: Sequence[str] | str = (), by_bins=None, by_time=None, min_group_rows: int = 100,
          max_groups: int = 1000, statistics: bool = False, tolerance: float = 0.02,
          fail_if: Sequence[str] | str = (), warn_if: Sequence[str] | str = (), gate_on: str = "point",
          strict: bool = False, gate_seed: int = 0, gate_replicates: int = 200, baseline=None,
          id_col: str | None = None, models: Sequence[str] | str | None = None, per_file: bool = False,
          sort_by: str = "ece") -> Report | AuditSet:
    """Audit the calibration of predictions: what ``calib audit`` does, as a typed report.

    It runs the same pipeline as the CLI (:func:`calibcli.pipeline.run_audit`): measurement,
    calibration, thresholds, subgroups, statistics, the decision verdict and the gate.

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
    by, by_bins, by_time, min_group_rows, max_groups : subgroups (``--by`` columns; ``by_bins=5`` or
        ``{'age': 5}``; ``by_time='1W'`` or ``{'ts': '1D'}``).
    statistics, tolerance : ``--statistics`` (every statistic of every curve, with intervals) and the verdict's
        ``--tolerance``; the verdict is always in the report.
    fail_if, warn_if, gate_on, strict, gate_seed, gate_replicates : gate rules such as ``'ece > 0.05'`` and
        ``'ece_increase > 0.01'`` (``--fail-if``, ``--on``, ...).
    baseline, id_col : the previous model's predictions (a path, paths or data) for ``*_increase`` rules, and the
        id column pairing its rows (``--baseline``, ``--id-col``).
    models : several models' scores in the same data, one label column (``--models``): score-column names or
        globs, one model each (``['RLR', 'SVM']`` or ``['a_*', 'b_*']``); each is audited against the same labels.
    per_file : one audit per path (``--per-file``; ``data`` must be paths).
    sort_by : the comparison's order, best first: 'ece', 'classwise_ece', 'nll', 'brier', 'mce' or 'accuracy'.

    Returns
    -------
    Report or AuditSet
        The typed report, with ``to_dict()``, ``to_json()``, ``to_html()`` and ``_repr_html_()``; with ``models``
        or ``per_file``, an :class:`AuditSet` of reports and their comparison (the same methods, the CLI's
        ``--per-file`` / ``--models`` JSON and HTML).

    Examples
    --------
    >>> import numpy as np, pandas as pd, calibcli
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(0, 2, 300)
    >>> df = pd.DataFrame({"label": y, "good": np.clip(0.2 + 0.6 * y + rng.normal(0, .1, 300), 0, 1),
    ...                    "over": (y + rng.uniform(size=300) > 0.5).astype(float)})
    >>> s = calibcli.audit(df, models=["good", "over"], calibrators=None)
    >>> s.names, s.comparison.best, sorted(s.to_dict())
    (('good', 'over'), 'good', ['comparison', 'reports', 'schema_version', 'tool'])

    Raises
    ------
    InputError, UsageError
        Bad input or options, with the messages of the CLI.
    """
    from calibcli.pipeline import AuditSettings, first_pass_plan, run_audit
    from calibcli.render.html import Provenance, file_records

    _check_data_args(label, score_cols, classes, encoding, id_col)
    _strings(models, "models")
    groups = _groups(by, by_bins, by_time, min_group_rows, max_groups)
    opts = _load_options(label, score_cols, classes, task, score_kind, renormalize, drop_invalid, encoding,
                         batch_rows, memory_limit, id_col, groups.columns if groups is not None else ())
    spec = _spec(objectives, threshold_bootstrap, threshold_seed, cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp,
                 cost_tn=cost_tn, beta=beta, min_precision=min_precision, min_recall=min_recall,
                 max_flag_rate=max_flag_rate, review_precision=review_precision)
    settings = AuditSettings(
        load=opts, n_bins=n_bins, strategy=strategy, calibrate=calibrators is not None,
        calibrators=None if calibrators is None or calibrators == "temperature" else _methods(calibrators),
        calibration_split=calibration_split, fit_on=fit_on, seed=seed, per_label=per_label, thresholds=spec,
        threshold_classes=_strings(threshold_classes, "threshold_classes", numbers=True), groups=groups,
        statistics=bool(statistics), tolerance=tolerance,
        rules=_rules(fail_if, warn_if), gate_on=gate_on, strict=strict, gate_seed=gate_seed,
        gate_replicates=gate_replicates, baseline=baseline, id_col=id_col)
    given = {k: v for k, v in (("label", label), ("n_bins", n_bins), ("strategy", strategy), ("calibrators", calibrators),
                               ("seed", seed), ("objectives", objectives), ("by", by), ("statistics", statistics),
                               ("fail_if", fail_if), ("models", models), ("per_file", per_file), ("sort_by", sort_by))
             if v != audit.__kwdefaults__[k]}
    if models is not None or per_file:
        return _audit_set(data, y_true, y_prob, opts, settings, models, per_file, sort_by,
                          _call_text("audit", data, given))
    with open_data(data, y_true=y_true, y_prob=y_prob, options=opts, first_pass=first_pass_plan(settings)) as source:
        report = run_audit(source, settings)
        files = source.info.files
    records = file_records(files) if data is not None and is_paths(data) else ()
    return Report.from_audit(report, Provenance(records, _call_text("audit", data, given)))


def _audit_set(data, y_true, y_prob, opts, settings, models, per_file: bool, sort_by: str, call: str) -> AuditSet:
    """``audit`` with ``models`` or ``per_file``: the jobs of :mod:`calibcli.jobs`, as ``calib audit`` runs them."""
    from calibcli.jobs import plan_jobs, run_jobs
    from calibcli.render.html import Provenance, file_records

    if data is None or y_true is not None:
        raise UsageError("models= and per_file= need data (a DataFrame, a Table or paths) holding the score columns; "
                         "with y_true= and y_prob= there is one model: audit each array on its own.")
    if is_paths(data):
        from calibcli.reading import expand_inputs

        paths = expand_inputs(as_paths(data), opts.engine.storage_options)
        plan = plan_jobs(paths, opts, models=models, per_file=per_file, sort_by=sort_by)
        reports, comparison = run_jobs(plan, settings)
        records = file_records(list(paths))
    else:
        if per_file:
            raise UsageError("per_file=True audits each of several paths on its own; data is in memory "
                             f"({type(data).__name__}). Pass paths, or drop per_file.")
        table = as_table(data)
        if table is None:  # open_data's message for anything else
            with open_data(data, options=opts):
                pass
        name = data_name(data)
        plan = plan_jobs([name], opts, models=models, sort_by=sort_by,
                         columns=lambda _: (list(table.column_names), name))
        from calibcli.data_input import open_table_file, table_file

        with table_file(table) as path:  # written once, read by every model's job
            reports, comparison = run_jobs(plan, settings,
                                           open_job=lambda job: open_table_file(path, job.load_options, name))
        records = ()
    provenance = Provenance(records, call)
    return AuditSet(tuple(Report.from_audit(r, provenance) for r in reports), tuple(plan.names), comparison,
                    plan.models, provenance)


def fit(data=None, *, method: str = "temperature", label: str = "label", y_true=None, y_prob=None, score_cols=None,
        classes=None, task=None, score_kind=None, renormalize: bool = False, drop_invalid: bool = False,
        encoding: str = "utf-8", batch_rows: int | None = None, memory_limit: int | None = None,
        per_label: bool = False, n_bins: int = 15, seed: int = 0) -> FittedCalibrator:
    """Fit a calibrator on every row (what ``calib fit`` saves); data and options as :func:`audit`.

    ``method``: 'temperature', 'vector', 'platt', 'isotonic' or 'histogram'; ``n_bins``: histogram bins.
    Returns a :class:`FittedCalibrator` (``transform``, ``save``).
    """
    from calibcli.calibrators.fit_all import fit_all_rows

    _check_data_args(label, score_cols, classes, encoding)
    if not isinstance(method, str):
        raise TypeError(f"method must be a calibrator name (str), got {type(method).__name__} {method!r}")
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
    from calibcli.thresholds.passes import TransformWith

    _check_data_args(label, score_cols, classes, encoding)
    targets = _strings(target_classes, "target_classes", numbers=True)
    spec = _spec(objectives or ("f1", "youden"), n_bootstrap, seed, cost_fp=cost_fp, cost_fn=cost_fn, cost_tp=cost_tp,
                 cost_tn=cost_tn, beta=beta, min_precision=min_precision, min_recall=min_recall,
                 max_flag_rate=max_flag_rate, review_precision=review_precision)
    if isinstance(calibrator, (str, os.PathLike)):
        from calibcli.calibrator_file import load_calibrator

        calibrator = load_calibrator(calibrator)
    cal = getattr(calibrator, "calibrator", calibrator)
    calibrate = None if cal is None else TransformWith(cal)  # as calib thresholds --calibrator (picklable)
    opts = _load_options(label, score_cols, classes, task, score_kind, renormalize, drop_invalid, encoding,
                         batch_rows, memory_limit)
    with open_data(data, y_true=y_true, y_prob=y_prob, options=opts) as source:
        return recommend_source(source, spec, targets or None, calibrate)
