"""The audit pipeline: one function from validated batches and typed settings to the audit report.

``calib audit`` (:mod:`calibcli.cli.audit`) and the Python API (:func:`calibcli.api.audit`) both
call :func:`run_audit`, so they give the same report for the same input and options. The stages,
in order (each reads the report built so far):

1. measurement and calibration (:func:`calibration_stage`): the before-measurement of every row
   is fed in the calibration's first pass (no pass of its own);
2. thresholds (:func:`thresholds_stage`), on the raw and the out-of-fold calibrated scores;
3. subgroups (:func:`groups_stage`), before the gate: rules may name groups;
4. statistics and the decision verdict (:func:`statistics_stage`; the verdict is always set);
5. the gate (:func:`gate_stage`), with its baseline;
6. how the input was read (:func:`engine_info`).

Settings are an :class:`AuditSettings` (frozen, Python names). Messages about contradictory
settings name them as the caller knows them: ``AuditSettings.spelling`` is ``'python'``
(``calibration_split``) or ``'cli'`` (``--calibration-split``). Nothing here prints.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calibcli.engine.batches import BatchSource
    from calibcli.report import AuditReport, EngineInfo
    from calibcli.subgroups.keys import GroupSpec
    from calibcli.thresholds import ThresholdSpec
    from calibcli.validation.options import LoadOptions

__all__ = ["AuditSettings", "CALIBRATORS", "run_audit", "first_pass_plan", "setting_name", "calibration_stage", "thresholds_stage",
           "groups_stage", "statistics_stage", "gate_stage", "engine_info", "verdict_inputs"]

CALIBRATORS = ("temperature", "vector", "platt", "isotonic", "histogram")
DEFAULT_TOLERANCE = 0.02  # calibcli.verdict.DEFAULT_TOLERANCE (not imported: settings stay light; a test checks)


@dataclass(frozen=True)
class AuditSettings:
    """Everything an audit is asked for besides its input (the options of ``calib audit``).

    Attributes
    ----------
    load : how ``fit_on`` and ``baseline`` are read: the audited input's ``LoadOptions`` (None: the defaults).
    n_bins, strategy : bins of every reliability curve ('uniform' or 'quantile').
    calibrate : False skips post-hoc calibration (``--no-calibration``).
    calibrators : the calibrators to fit and compare, the first reported in detail; None: temperature
        scaling, not asked for explicitly (skipped with a warning on a top-label file or too few rows).
    calibration_split, fit_on, seed, per_label : which rows fit the calibrators (a seeded fraction, another
        input given as a path or data, default 2-fold cross-fitting); the seed of folds, samples and intervals;
        one temperature per label (multilabel).
    thresholds, threshold_classes : the thresholds section (None: none) and the classes it covers.
    groups : subgroups to audit (``--by``; None: none). The group columns must be in ``load.extra_cols``.
    statistics, tolerance : the full statistics of every curve; the verdict's calibration-error tolerance.
    rules, gate_on, strict, gate_seed, gate_replicates : gate rules (``calibcli.gate.Rule``) and how they are
        evaluated ('point' or 'upper' end of a bootstrap interval).
    baseline, id_col : the previous model's predictions (paths, or data; None: none) for ``*_increase`` rules; the id
        column pairing them (it must also be ``load.id_col``).
    spelling : how messages name the settings: 'python' or 'cli'.
    """

    load: LoadOptions | None = None
    n_bins: int = 15
    strategy: str = "uniform"
    calibrate: bool = True
    calibrators: tuple[str, ...] | None = None
    calibration_split: float | None = None
    fit_on: Any = None
    seed: int = 0
    per_label: bool = False
    thresholds: ThresholdSpec | None = None
    threshold_classes: tuple[str, ...] = ()
    groups: GroupSpec | None = None
    statistics: bool = False
    tolerance: float = DEFAULT_TOLERANCE
    rules: tuple = ()
    gate_on: str = "point"
    strict: bool = False
    gate_seed: int = 0
    gate_replicates: int = 200
    baseline: Any = None
    id_col: str | None = None
    spelling: str = "python"

    def name(self, setting: str) -> str:
        """How messages name ``setting`` (a field name) for this caller."""
        return setting_name(setting, self.spelling)


def setting_name(setting: str, spelling: str) -> str:
    """How messages name ``setting`` (a Python name) for a caller of ``spelling`` 'cli' or 'python'.

    >>> setting_name("sort_by", "cli"), setting_name("sort_by", "python"), setting_name("calibrate", "cli")
    ('--sort-by', 'sort_by', '--no-calibration')
    """
    if spelling == "cli":
        return _CLI_NAMES.get(setting, "--" + setting.replace("_", "-"))
    return _PY_NAMES.get(setting, setting)


_CLI_NAMES = {"calibrate": "--no-calibration", "threshold_classes": "--threshold-class", "thresholds": "--objective",
              "rules": "--max-ece-increase"}
_PY_NAMES = {"calibrate": "calibrators=None", "thresholds": "objectives", "rules": "fail_if"}


def run_audit(source: BatchSource, settings: AuditSettings = AuditSettings()) -> AuditReport:
    """The audit report of ``source``: measurement, calibration, thresholds, subgroups, statistics, verdict, gate.

    Parameters
    ----------
    source : a ``BatchSource`` of validated batches (``calibcli.engine.streaming.open_source``,
        ``calibcli.data_input.open_data``), or validated input in memory (``LoadedInput``).
    settings : what to compute (:class:`AuditSettings`).

    Returns
    -------
    AuditReport
        The typed report; ``engine`` says how the input was read.

    Raises
    ------
    UsageError
        Settings that contradict each other or the input, named as ``settings.spelling`` says.
    InputError
        Bad input (also in ``fit_on`` or ``baseline``).
    """
    source = _as_source(source, settings)
    check_settings(settings)
    riders: list = []  # --statistics: the bundle rides the measurement's pass (no pass of its own)
    report = calibration_stage(source, settings, riders)
    report = thresholds_stage(report, source, settings)
    report = groups_stage(report, source, settings)
    report = statistics_stage(report, source, settings, fed=riders[0] if riders else None)
    report = gate_stage(report, source, settings)
    return replace(report, engine=engine_info(source))


def first_pass_plan(settings: AuditSettings, later_passes: bool = False):
    """The audit up to its first pass, for ``open_source(first_pass=...)``: the source feeds that pass during its
    scan, and :func:`run_audit` then finds it fed (:mod:`calibcli.engine.speculation`). None when the first pass
    comes after reading another input (``fit_on``).

    The plan is :func:`run_audit` itself, so the speculated consumers are built by the code that builds them.
    ``plan.only_pass``: nothing reads the source after that pass (so it need not keep the batches);
    ``later_passes``: the caller reads it again after the audit (e.g. a paired comparison's bootstrap).
    """
    if settings.fit_on is not None:
        return None

    def plan(source):
        return run_audit(source, settings)

    # no pass after the first: no calibration, thresholds, subgroups, statistics (Cox passes) or gate rules
    plan.only_pass = not (later_passes or settings.calibrate or settings.thresholds is not None
                          or settings.groups is not None or settings.statistics or settings.rules)
    return plan


def check_settings(settings: AuditSettings) -> None:
    """``UsageError`` for settings that contradict each other (what needs no data)."""
    from calibcli.errors import UsageError

    n = settings.name
    if settings.thresholds is None and settings.threshold_classes:
        if settings.spelling == "cli":
            raise UsageError("--threshold-class picks classes for the thresholds section, which needs an objective: "
                             "add --objective (e.g. --objective f1) or a target such as --min-precision.")
        raise UsageError("threshold_classes picks classes for the thresholds section, which needs an objective: "
                         "add objectives='f1' or a target such as min_precision=0.9.")
    if settings.baseline is not None and not settings.rules:
        example = "--max-ece-increase 0.01" if settings.spelling == "cli" else "fail_if='ece_increase > 0.01'"
        raise UsageError(f"{n('baseline')} is given but no rule uses it; add one such as {example}.")
    if settings.gate_on not in ("point", "upper"):
        raise UsageError(f"{n('gate_on')}={settings.gate_on!r}: choose 'point' or 'upper'.")


def _as_source(data, settings: AuditSettings):
    """A ``BatchSource`` of the audited rows (validated input in memory is read in batches of ``load.batch_rows``)."""
    if hasattr(data, "batches"):
        return data
    from calibcli.engine.batches import DEFAULT_BATCH_ROWS, InMemorySource

    return InMemorySource.from_loaded(data, getattr(settings.load, "batch_rows", None) or DEFAULT_BATCH_ROWS)


def _load(settings: AuditSettings):
    if settings.load is not None:
        return settings.load
    from calibcli.validation.options import LoadOptions

    return LoadOptions()


# --------------------------------------------------------------- calibration
def calibration_plan(source: BatchSource, settings: AuditSettings) -> tuple[str, ...] | str | None:
    """The calibrators to run (a tuple), or why not: None (skipped, nothing to say) or a warning for the report.

    Raises ``UsageError`` for settings that contradict each other or the input.
    """
    from calibcli.errors import UsageError
    from calibcli.predictions import Task

    s, n = settings, settings.name
    explicit = [n(k) for k, on in (("calibrators", s.calibrators is not None),
                                   ("calibration_split", s.calibration_split is not None),
                                   ("fit_on", s.fit_on is not None), ("per_label", s.per_label)) if on]
    if not s.calibrate:
        if explicit:
            raise UsageError(f"{n('calibrate')} skips calibration, but {', '.join(explicit)} asks for it; "
                             "drop one of them.")
        return None
    info = source.info
    if info.task is Task.TOP_LABEL:
        if explicit:
            raise UsageError(f"{', '.join(explicit)}: calibration needs full score vectors, but this is a top-label "
                             "file (confidence and pred_label only). Export p_<class> or logit_<class> columns, "
                             "or drop the option.")
        return None
    methods = ("temperature",) if s.calibrators is None else tuple(s.calibrators)
    unknown = [m for m in methods if m not in CALIBRATORS]
    if unknown or not methods:
        raise UsageError(f"{n('calibrators')}={methods!r}: unknown calibrator "
                         f"{', '.join(map(str, unknown)) or '(none given)'}; "
                         f"choose from {', '.join(CALIBRATORS)}.")
    if s.per_label and info.task is not Task.MULTILABEL:
        raise UsageError(f"{n('per_label')} fits one temperature per label and only applies to multilabel files; "
                         f"this one is {info.task.value}.")
    if s.calibration_split is not None and s.fit_on is not None:
        raise UsageError(f"{n('calibration_split')} and {n('fit_on')} both say which rows fit the calibrator; "
                         "give only one.")

    from calibcli.calibration_stage import MIN_ROWS

    if not explicit and info.n_rows < MIN_ROWS:
        return f"calibration skipped: {info.n_rows} rows are too few to fit on some and evaluate on others"
    return tuple(methods)


def calibration_stage(source: BatchSource, settings: AuditSettings, riders: list | None = None) -> AuditReport:
    """The audit report (``calibcli.audit.build_audit``) with ``calibration`` set, unless skipped.

    The before-measurement of every row is fed in the calibration's first pass over the
    audited rows instead of a pass of its own.
    """
    from calibcli.audit import audit_state, build_audit
    from calibcli.measure import source_edges

    s = settings
    plan = calibration_plan(source, s)
    edges = source_edges(source, s.n_bins, s.strategy)
    before_state = audit_state(source, edges)
    first_pass = _statistics_rider(source, s, before_state)
    if riders is not None:
        riders.extend(first_pass)
    if not isinstance(plan, tuple):
        from calibcli.engine.local import feed

        feed(source, before_state, *first_pass)
        report = build_audit(source, s.n_bins, s.strategy, edges=edges, measurement=before_state.finalize())
        return report if plan is None else replace(report, warnings=(*report.warnings, plan))
    fit_on_ctx = nullcontext(None)
    if s.fit_on is not None:
        from calibcli.data_input import is_paths, open_data

        fit_on_ctx = open_data(s.fit_on, options=_load(s), name=None if is_paths(s.fit_on) else "fit_on")
    from calibcli.calibration_stage import run_calibration

    with fit_on_ctx as fit_on:  # streamed: read in the fitting passes only
        result = run_calibration(source, plan, split=s.calibration_split, fit_on=fit_on,
                                 fit_on_files=tuple(fit_on.info.files) if fit_on is not None else (), seed=s.seed,
                                 per_label=bool(s.per_label), n_bins=s.n_bins, strategy=s.strategy,
                                 before_state=before_state, first_pass=first_pass)
    report = build_audit(source, s.n_bins, s.strategy, edges=edges, measurement=result.measured)
    return replace(report, calibration=result, warnings=(*report.warnings, *result.warnings))


# ---------------------------------------------------------------- thresholds
def thresholds_stage(report: AuditReport, source: BatchSource, settings: AuditSettings) -> AuditReport:
    """The report with ``thresholds`` set when ``settings.thresholds`` asks for them.

    With calibration in the report, each objective is optimised on the raw and on the
    out-of-fold calibrated scores of the rows the calibrator was evaluated on (not fitted on).
    """
    if settings.thresholds is None:
        return report
    from calibcli.thresholds import recommend_source

    cal = report.calibration
    pairs = cal.calibrate_batch if cal is not None and getattr(cal, "out_of_fold", None) is not None else None
    result = recommend_source(source, settings.thresholds, tuple(settings.threshold_classes) or None, pairs=pairs)
    notes = ()
    if pairs is not None and result.n_rows < source.info.n_rows:
        notes = (f"thresholds use the {result.n_rows:,} rows the calibrator was evaluated on (not fitted on), "
                 "on both scales",)
    return replace(report, thresholds=replace(result, notes=notes))


# ------------------------------------------------------ subgroups, statistics
def _audit_bins(report: AuditReport, source: BatchSource, settings: AuditSettings):
    """The audit's bin edges, bootstrap seed and keying (subgroups and statistics are measured on them)."""
    state = report.measurement.state
    edges = getattr(state, "edges", None)
    if edges is None:
        from calibcli.bin_edges import source_edges

        edges = source_edges(source, report.binning.n_bins, report.binning.strategy)
    seed = getattr(state, "seed", settings.seed or 0)
    return edges, int(seed), bool(getattr(state, "key_on_ids", False))


def groups_stage(report: AuditReport, source: BatchSource, settings: AuditSettings) -> AuditReport:
    """``report`` with ``groups`` measured on the audit's bins, seed and keying (unchanged without groups)."""
    if settings.groups is None:
        return report
    from calibcli.subgroups.run import audit_groups

    edges, seed, key_on_ids = _audit_bins(report, source, settings)
    return replace(report, groups=audit_groups(source, settings.groups, edges, seed, key_on_ids))


def _statistics_rider(source: BatchSource, settings: AuditSettings, before_state) -> tuple:
    """With ``statistics``: an unfed ``StatisticsBundle`` on the audit's bins, seed and keying, to be fed in the
    measurement's pass; else nothing."""
    if not settings.statistics:
        return ()
    from calibcli.statistics.bundle import StatisticsBundle

    info = source.info
    return (StatisticsBundle(info.task, info.classes, before_state.edges, seed=before_state.seed,
                             key_on_ids=before_state.key_on_ids),)


def statistics_stage(report: AuditReport, source: BatchSource, settings: AuditSettings,
                     fed=None) -> AuditReport:
    """``report`` with ``statistics`` (only when asked for) and ``verdict`` (always).

    The verdict is built from the report's own numbers, so this runs after calibration and thresholds.
    ``fed``: the statistics bundle already fed in the measurement's pass (then only the Cox passes run).
    """
    from calibcli.verdict import DEFAULT_TOLERANCE as VERDICT_TOLERANCE
    from calibcli.verdict import decision_verdict

    statistics = None
    if settings.statistics:
        from calibcli.statistics.run import measure_statistics

        edges, seed, key_on_ids = _audit_bins(report, source, settings)
        statistics = measure_statistics(source, source.info, edges, seed=seed, key_on_ids=key_on_ids,
                                        first_pass=fed)
    report = replace(report, statistics=statistics)
    # no AUROC measured: a neutral ranking line says how to get one (not a warning)
    verdict = decision_verdict(**verdict_inputs(report), tolerance=settings.tolerance or VERDICT_TOLERANCE,
                               ranking_measured=statistics is not None)
    return replace(report, verdict=verdict)


def _number(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def verdict_inputs(report: AuditReport) -> dict:
    """The keyword arguments of :func:`calibcli.verdict.decision_verdict` read from ``report``.

    Headline ECE and its interval from the measurement; the after-ECE of the recommended
    calibrator (``calibration.best`` when a comparison named one, else ``calibration.method``,
    the one ``after`` describes); AUROC and its interval from ``report.statistics`` (None
    without statistics); the first raw-scale threshold and the calibrated one of the
    same target and objective.
    """
    m = report.measurement
    out: dict = {"ece": m.metrics.ece, "ece_interval": m.intervals.get("ece")}
    cal = report.calibration
    if cal is not None and not cal.none_helps:
        best = cal.best
        if best is not None and best != cal.method:
            score = next((s for s in cal.comparison if s.method == best), None)
            after, after_iv = (None, None) if score is None else (score.metrics.ece, None)
        else:
            best, after, after_iv = cal.method, cal.after.metrics.ece, cal.after.intervals.get("ece")
        if _number(after) is not None:
            out.update(ece_after=after, ece_after_interval=after_iv, calibrator=best)
    st = report.statistics
    if st is not None:
        out.update(auroc=st.headline.values.get("auroc"), auroc_interval=st.headline.intervals.get("auroc"))
    th = report.thresholds
    if th is not None:
        raw = next((r for r in th.recommendations if r.scale == "raw" and _number(r.threshold) is not None), None)
        if raw is not None:
            cal_rec = next((r for r in th.recommendations if r.scale == "calibrated" and r.target == raw.target
                            and r.objective == raw.objective), None)
            many = len({r.target for r in th.recommendations}) > 1 or report.input.task != "binary"
            out.update(threshold_before=raw.threshold,
                       threshold_after=None if cal_rec is None else _number(cal_rec.threshold),
                       threshold_name=(f"{'label' if report.input.task == 'multilabel' else 'class'} "
                                       f"{raw.target!r} ({raw.objective})") if many else None)
            if cal_rec is not None and "calibrator" not in out and cal is not None:
                out["calibrator"] = cal.method  # the calibrated thresholds are the report's method's
    return out


# ---------------------------------------------------------------------- gate
def gate_stage(report: AuditReport, data, settings: AuditSettings) -> AuditReport:
    """Evaluate ``settings.rules`` (if any) and return the report with ``gate`` set.

    ``data`` is the audited input: a ``BatchSource``, or validated input in memory
    (``LoadedInput``: the baseline is then loaded in memory and paired row by row).
    """
    s = settings
    if not s.rules:
        return report
    from calibcli.gate import evaluate_gate

    source = _as_source(data, s)  # with an id column, bootstrap weights are keyed on the ids
    with _baseline(data, s) as baseline:
        result = evaluate_gate(source, report.measurement, s.rules, on=s.gate_on, strict=s.strict, seed=s.gate_seed,
                               replicates=s.gate_replicates, n_bins=s.n_bins, strategy=s.strategy,
                               baseline=baseline, groups=report.groups)  # rules on groups (--by)
    return replace(report, gate=result)


class _baseline:
    """The baseline paired with the audited input (a context: a streamed baseline is closed after the gate)."""

    def __init__(self, data, settings: AuditSettings):
        self.data, self.settings, self.source = data, settings, None

    def __enter__(self):
        s = self.settings
        if s.baseline is None:
            return None
        if hasattr(self.data, "batches"):  # a BatchSource: pair without a join, by fingerprints
            from calibcli.data_input import is_paths, open_data
            from calibcli.gate import pair_sources

            self.source = open_data(s.baseline, options=_load(s), name=None if is_paths(s.baseline) else "baseline")
            old = self.source.__enter__()
            return pair_sources(self.data, old, old.info.files, by_id=bool(s.id_col))
        return _baseline_in_memory(self.data, s)

    def __exit__(self, *exc):
        if self.source is not None:
            self.source.__exit__(*exc)
        return False


def _baseline_in_memory(loaded, settings: AuditSettings):
    from calibcli.data_input import as_paths, is_paths
    from calibcli.errors import InputError, UsageError
    from calibcli.gate import match_baseline
    from calibcli.loading import load_predictions

    if not is_paths(settings.baseline):
        raise UsageError("a baseline given as data needs the audited input as a source; give paths.")
    old = load_predictions(as_paths(settings.baseline), _load(settings))
    if settings.id_col:
        for ids, what in ((loaded.ids, "the audited predictions"), (old.ids, "the baseline")):
            if ids is not None and any(v is None for v in ids):
                raise InputError(f"the id column '{settings.id_col}' of {what} has empty values; every row needs an "
                                 "id to be paired.")
    return match_baseline(loaded.predictions, old.predictions, old.files, loaded.ids, old.ids)


# -------------------------------------------------------------------- engine
def engine_info(source) -> EngineInfo | None:
    """The report's ``engine`` object from a source's reading statistics (None for a source without them)."""
    from calibcli.report import EngineInfo

    if not hasattr(source, "engine_stats"):
        return None
    st = source.engine_stats().to_dict()
    return EngineInfo(st["name"], st["batch_rows"], st["passes"], st["rows_read"], st["cached"], st["reread"],
                      st.get("partitions"), st.get("workers"), st.get("bytes_to_client"), st.get("kernels"),
                      st.get("first_pass_in_scan"))
