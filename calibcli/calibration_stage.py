"""The audit's calibration stage: calibrators fitted and measured on disjoint rows, as a pass plan over a source.

Three schemes say which rows fit and which are evaluated, from each row's key
alone (its position in the input, or the hash of its ``--id-col`` value; see
:mod:`calibcli.calibrators.rows`):

- cross-fit (default): each row's fold is drawn from a seeded hash of its key;
  model f is fitted on the rows outside fold f and calibrates fold f, so every
  row gets an out-of-fold calibrated score;
- split: each row is drawn into the fitting split with probability F (seeded);
  the other rows are evaluated;
- fit-on: a separate validation source fits, every row of the audited source is evaluated.

The passes over the audited source (cross-fit and split):

1. pass 1 (shared with the caller's consumers): fitting facts, the row-keyed
   sample, each method's pass-1 state (:func:`calibcli.calibrators.fit_passes.fit_source`);
   quantile bins: the edges of the evaluated rows;
2. Newton passes while some model still iterates (none up to about 400,000 rows:
   the sample holds every row and the fits are exact in memory);
3. quantile bins only: the edges of each method's calibrated scores;
4. the after pass: every evaluated row calibrated by its out-of-fold model, per
   method, into a :class:`calibcli.measure.MeasureState` (and the before
   measurement when the evaluated rows are not all rows), shared with the
   caller's after-consumers (e.g. calibrated threshold tables).

``--fit-on`` reads the validation source in passes 1-2 and the audited source in 3-4.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from calibcli.calibrators import METHODS
from calibcli.calibrators.base import describe_class_mismatch
from calibcli.calibrators.fit_passes import FitRun, fit_source, method_fit
from calibcli.calibrators.fit_warnings import (LOG_SCORE_METHODS, bound_warning, is_float32, saturation_message,
                                               scarce_warnings)
from calibcli.calibrators.out_of_fold import EvaluatedOnly, OutOfFold, PairFeeder
from calibcli.calibrators.rows import FitLayout
from calibcli.calibrators.temperature import N_BOOT, temperature_interval
from calibcli.engine.batches import Batch, BatchSource
from calibcli.errors import InputError, UsageError
from calibcli.predictions import Predictions, Task
from calibcli.report import Measurement, MetricSet

DEFAULT_FOLDS = 2
DEFAULT_SEED = 0
MIN_ROWS = 10  # fewer rows cannot be split into fitting and evaluation rows
UNCALIBRATED = "uncalibrated"  # the comparison's reference row: the scores as they are


@dataclass(frozen=True)
class MethodScore:
    """Held-out metrics of one calibrator in a comparison (``method`` is
    ``"uncalibrated"`` for the scores as they are, on the same rows)."""

    method: str
    metrics: MetricSet
    best: bool


@dataclass(frozen=True)
class CalibrationResult:
    """Calibration fitted and evaluated on disjoint rows.

    Attributes
    ----------
    method : str
        The calibrator described by ``after`` (the first of ``methods``).
    methods : tuple of str
        Every calibrator compared.
    fit : dict
        How rows were split between fitting and evaluation, and the passes (JSON-ready).
    before, after : Measurement
        Metrics and curves of the evaluated rows, before and after calibration.
    temperature, temperature_ci : float and (lo, hi), or None
        T fitted for the report and its interval (None unless temperature scaling
        ran with one shared T).
    per_label_temperatures : tuple of (label, T, lo, hi), or None
        Multilabel ``per_label`` fits.
    comparison : tuple of MethodScore
        When several methods were compared: first the uncalibrated scores, then
        each method, all on the same held-out rows; else empty. ``best`` marks
        the method with the lowest NLL, only if that is below the uncalibrated NLL.
    accuracy_unchanged : bool or None
        Temperature scaling: whether the accuracy after equals the accuracy
        before on the evaluated rows (it must: T > 0 keeps every argmax and, for
        multilabel, every decision at 0.5); None for other methods.
    warnings : tuple of str
    out_of_fold : OutOfFold or None
        Calibrates any batch of the audited source: ``out_of_fold.pairs(batch,
        (method,))`` gives its evaluated rows, raw and calibrated (for other
        stages' after-pass states, e.g. calibrated threshold tables).
    """

    method: str
    methods: tuple[str, ...]
    fit: dict[str, Any]
    before: Measurement
    after: Measurement
    temperature: float | None = None
    temperature_ci: tuple[float, float] | None = None
    per_label_temperatures: tuple[tuple[str, float, float, float], ...] | None = None
    comparison: tuple[MethodScore, ...] = ()
    accuracy_unchanged: bool | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    out_of_fold: OutOfFold | None = field(default=None, repr=False, compare=False)
    memory: Any = field(default=None, repr=False, compare=False)  # the in-memory source, for the two properties below
    measured: Measurement | None = field(default=None, repr=False, compare=False)  # ``before_state`` finalized

    @property
    def best(self) -> str | None:
        """The compared method with the lowest held-out NLL, if it beats the uncalibrated
        scores (None without a comparison, or when none does)."""
        return next((s.method for s in self.comparison if s.best), None)

    @property
    def none_helps(self) -> bool | None:
        """True when no compared method lowers the held-out NLL below the uncalibrated
        scores' (None without a comparison)."""
        return None if not self.comparison else self.best is None

    def calibrate_batch(self, batch: Batch) -> tuple[Batch, Batch] | None:
        """The batch's evaluated rows, raw and calibrated out of fold by ``method`` (None when none is evaluated).

        For other stages' states fed in a pass over the audited source (e.g. calibrated threshold tables):
        works on any batch of that source, whatever its size.
        """
        got = None if self.out_of_fold is None else self.out_of_fold.pairs(batch, (self.method,))
        return None if got is None else (got[0], got[1][self.method])

    def _whole(self) -> Batch | None:
        src = self.memory
        if src is None or self.out_of_fold is None:
            return None
        return Batch(src.predictions, src.rows, src.ids)

    @property
    def calibrated(self) -> Predictions | None:
        """Out-of-fold calibrated predictions of the evaluated rows, when the audited rows are in memory.

        Kept for stages not yet streaming; a streaming stage uses ``out_of_fold.pairs`` per batch.
        """
        whole = self._whole()
        if whole is None:
            return None
        rows = self.out_of_fold.evaluated(whole)
        return self.out_of_fold.calibrate(whole, self.method, rows)

    @property
    def evaluated_rows(self) -> np.ndarray | None:
        """Positions of the evaluated rows in the in-memory audited rows (None: all rows)."""
        whole = self._whole()
        return None if whole is None else self.out_of_fold.evaluated(whole)

    def to_dict(self) -> dict[str, Any]:
        """The ``calibration`` object of the JSON report."""
        out: dict[str, Any] = {
            "method": self.method,
            "methods": list(self.methods),
            "temperature": self.temperature,
            "temperature_ci": None if self.temperature_ci is None else list(self.temperature_ci),
        }
        if self.per_label_temperatures is not None:
            out["temperatures"] = [{"label": name, "temperature": t, "ci": [lo, hi]}
                                   for name, t, lo, hi in self.per_label_temperatures]
        out["fit"] = dict(self.fit)
        out["before"] = asdict(self.before.metrics)
        out["after"] = asdict(self.after.metrics)
        out["accuracy_unchanged"] = self.accuracy_unchanged
        out["classes"] = [
            {"name": b.name, "support": b.support, "ece_before": b.ece, "ece_after": a.ece,
             "brier_before": b.brier, "brier_after": a.brier}
            for b, a in zip(self.before.classes, self.after.classes)
        ]
        out["comparison"] = [{"method": s.method, **asdict(s.metrics), "best": s.best} for s in self.comparison] or None
        out["best"] = self.best
        out["best_by"] = "lowest held-out nll, if below the uncalibrated nll" if self.comparison else None
        out["none_helps"] = self.none_helps
        out["warnings"] = list(self.warnings)
        return out


def _check(info, methods: tuple[str, ...], split: float | None, fit_on: BatchSource | None,
           fit_on_files: tuple[str, ...]) -> None:
    if info.task is Task.TOP_LABEL:
        raise InputError("calibration needs full score vectors, but this is a top-label file (confidence and pred_label "
                         "only). Export p_<class> or logit_<class> columns, or pass --no-calibration.")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UsageError(f"unknown calibrator {', '.join(unknown) or '(none given)'}; choose from {', '.join(METHODS)}.")
    if split is not None and fit_on is not None:
        raise UsageError("--calibration-split and --fit-on both say which rows fit the calibrator; give only one.")
    if split is not None and not 0.0 < split < 1.0:
        raise UsageError(f"--calibration-split {split} must be a fraction strictly between 0 and 1 (e.g. 0.5).")
    if fit_on is not None:
        fi = fit_on.info
        where = ", ".join(fit_on_files) if fit_on_files else "the fitting data"
        if fi.task is not info.task:
            raise InputError(f"--fit-on {where} is a {fi.task.value} file but the audited predictions are "
                             f"{info.task.value}. Use the same columns in both files (or --task).")
        if tuple(fi.classes) != tuple(info.classes):
            raise InputError(f"--fit-on {where}: " + describe_class_mismatch(info.classes, fi.classes)
                             .replace("the calibrator", "the audited file"))
    elif info.n_rows < MIN_ROWS:
        raise InputError(f"only {info.n_rows} rows: too few to fit a calibrator on some rows and evaluate it on others "
                         f"(at least {MIN_ROWS} needed). Pass --no-calibration, or --fit-on a validation file.")


def _check_split(facts, layout: FitLayout, n: int) -> None:
    """After pass 1: a seeded split must leave rows on both sides."""
    if layout.scheme != "split":
        return
    if facts.fit_rows == 0:
        raise InputError(f"--calibration-split {layout.fraction:g}: no row was drawn into the fitting split (each of the "
                         f"{n:,} rows is drawn with probability {layout.fraction:g}). Pass a larger fraction, or --fit-on a "
                         "validation file.")
    if facts.fit_rows == n:
        raise InputError(f"--calibration-split {layout.fraction:g}: every row was drawn into the fitting split, so no row "
                         "is left to evaluate. Pass a smaller fraction.")


def run_calibration(source: BatchSource, methods: tuple[str, ...] = ("temperature",), *, split: float | None = None,
                    fit_on: BatchSource | None = None, fit_on_files: tuple[str, ...] = (), seed: int = DEFAULT_SEED,
                    folds: int = DEFAULT_FOLDS, per_label: bool = False, n_bins: int = 15, strategy: str = "uniform",
                    before: Measurement | None = None, n_boot: int = N_BOOT, first_pass: tuple = (),
                    after_pass: tuple = (), before_state=None) -> CalibrationResult:
    """Fit calibrators and measure them on rows not used for fitting, in passes over ``source``.

    Parameters
    ----------
    source : the audited rows (full score vectors).
    methods : calibrators to compare; the first one is described in detail.
    split : fraction of rows (row-keyed, seeded) to fit on; the rest is evaluated.
    fit_on : a separate source to fit on; every row of ``source`` is evaluated.
    fit_on_files : names of the ``fit_on`` files, for the report.
    seed : seed of the folds, the split, the sample and the bootstrap of T.
    folds : number of cross-fitting folds (default scheme).
    per_label : multilabel temperature scaling with one T per label.
    n_bins, strategy : binning of the before/after measurements.
    before : the measurement of all of ``source`` when already computed (reused
        when all rows are evaluated).
    before_state : instead of ``before``, an unfed measurement state of all of ``source``
        (e.g. ``calibcli.audit.audit_state``), fed in the first pass over ``source`` (so the
        before-measurement costs no pass of its own), finalized once into the result's
        ``measured`` and reused as ``before`` when all rows are evaluated.
    n_boot : bootstrap replicates for the interval of T.
    first_pass : other consumers (``update(batch)``) fed in the first pass over ``source``.
    after_pass : consumers fed in the after pass with ``update_pair(raw, calibrated)``: the
        evaluated rows of each batch, raw and calibrated by the first method.
    """
    from calibcli.audit import audit_state
    from calibcli.engine.local import feed
    from calibcli.measure import BinEdges, EdgeState

    methods = tuple(dict.fromkeys(methods))
    info = source.info
    _check(info, methods, split, fit_on, fit_on_files)
    n = info.n_rows
    per_label = per_label and info.task is Task.MULTILABEL
    label_names = info.classes if per_label else None
    fit_src = source if fit_on is None else fit_on
    fi = fit_src.info
    if fit_on is not None:
        layout, eval_layout, n_exp = FitLayout("all"), FitLayout("all"), float(fi.n_rows)
    elif split is not None:
        layout = FitLayout("split", fraction=float(split), seed=seed)
        eval_layout, n_exp = layout, split * n
    else:
        layout = FitLayout("cross-fit", folds=folds, seed=seed)
        eval_layout, n_exp = layout, float(n)
    cross = layout.scheme == "cross-fit"
    fits = {m: method_fit(m, layout, fi, per_label=per_label, n_bins=n_bins, seed=seed,
                          with_all=(cross and m == "temperature")) for m in methods}

    all_evaluated = layout.scheme != "split"
    reuse_before = (before is not None or before_state is not None) and all_evaluated
    quantile = strategy != "uniform"
    before_edges_state = None
    if not reuse_before and quantile and fit_on is None:
        before_edges_state = EvaluatedOnly(EdgeState(info.task, len(info.classes), n_bins), eval_layout)
    mine = (*first_pass, *(() if before_state is None else (before_state,)))
    extra = (*mine, *(() if before_edges_state is None else (before_edges_state,))) if fit_on is None else ()
    run = fit_source(fit_src, layout, fits, seed=seed, n_expected=n_exp, extra_first=extra,
                     check=lambda facts: _check_split(facts, layout, n))
    passes = run.passes
    if fit_on is not None and mine:
        feed(source, *mine)
        passes += 1
    measured = None if before_state is None else before_state.finalize()
    if before is None:
        before = measured

    oof = OutOfFold(eval_layout, {m: tuple(f.calibrator(i) for i in range(layout.n_models)) for m, f in fits.items()})
    # edges of the after (and before) measurements
    if quantile:
        edge_states = {m: [EdgeState(info.task, len(info.classes), n_bins)] for m in methods}
        raw_edges = []
        if not reuse_before and before_edges_state is None:
            before_edges_state = EdgeState(info.task, len(info.classes), n_bins)
            raw_edges = [before_edges_state]
        feed(source, PairFeeder(oof, methods, edge_states, raw_edges))
        passes += 1
        after_edges = {m: s[0].finalize() for m, s in edge_states.items()}
        if isinstance(before_edges_state, EvaluatedOnly):
            before_edges_state = before_edges_state.state
        b_edges = None if reuse_before else before_edges_state.finalize()
    else:
        after_edges = {m: BinEdges.uniform(n_bins) for m in methods}
        b_edges = BinEdges.uniform(n_bins)
    # the reported calibrator's after-measurement carries the audit's grouped bootstrap (95% intervals of the
    # after-metrics, e.g. for the verdict); the other compared methods are point estimates
    after_states = {m: [audit_state(source, after_edges[m], intervals=m == methods[0])] for m in methods}
    before_state = None if reuse_before else audit_state(source, b_edges, intervals=False)
    feeder = PairFeeder(oof, methods, after_states, [] if before_state is None else [before_state], tuple(after_pass))
    feed(source, feeder)
    passes += 1
    evaluated = feeder.rows
    before_m = before if reuse_before else before_state.finalize()
    after = {m: s[0].finalize() for m, s in after_states.items()}

    scheme = _scheme(layout, run, n, evaluated, fit_on_files, folds, split, seed)
    warnings = _warnings(run, fi, methods, per_label, layout)
    temperature = temperature_ci = per_label_t = None
    if "temperature" in methods:
        tm = fits["temperature"]
        if cross:
            fold_t = [tm.temperatures(f) for f in range(layout.n_models)]
            scheme["fold_temperatures"] = [t[0] for t in fold_t] if not per_label else [list(t) for t in fold_t]
            scheme["temperature_fitted_on"] = (f"all {n:,} rows (the T that calib fit would save); the evaluation uses "
                                               "the fold fits")
        report_fit = tm.model_fit(tm.report_model())
        lo, hi, how = temperature_interval(report_fit, n_boot=n_boot, seed=seed)
        scheme["temperature_ci_method"] = how
        bw = bound_warning(report_fit, label_names)
        if bw:
            warnings.append(bw)
        if per_label:
            per_label_t = tuple((name, float(t), float(a), float(b))
                                for name, t, a, b in zip(info.classes, report_fit.temperature, lo, hi))
        else:
            temperature, temperature_ci = float(report_fit.temperature[0]), (float(lo[0]), float(hi[0]))
    scheme["passes"] = passes

    primary = methods[0]
    accuracy_unchanged = None
    if primary == "temperature":
        # dividing by T > 0 keeps every argmax (and every logit's sign); check it on the numbers
        acc_b, acc_a = before_m.metrics.accuracy, after[primary].metrics.accuracy
        accuracy_unchanged = acc_b == acc_a
        if not accuracy_unchanged:
            warnings.append(f"accuracy changed under temperature scaling ({acc_b:.6f} -> {acc_a:.6f}); this only happens "
                            "for rows whose top scores are tied or within float rounding of each other.")
    comparison: tuple[MethodScore, ...] = ()
    if len(methods) > 1:
        comparison = compare(before_m.metrics, {m: after[m].metrics for m in methods})
    from calibcli.engine.batches import InMemorySource

    return CalibrationResult(
        method=primary, methods=methods, fit=scheme, before=before_m, after=after[primary],
        temperature=temperature, temperature_ci=temperature_ci, per_label_temperatures=per_label_t,
        comparison=comparison, accuracy_unchanged=accuracy_unchanged, warnings=tuple(warnings), out_of_fold=oof,
        memory=source if isinstance(source, InMemorySource) else None, measured=measured)


def compare(before: MetricSet, after: dict[str, MetricSet]) -> tuple[MethodScore, ...]:
    """The comparison rows: the uncalibrated scores, then each method; ``best`` (lowest held-out NLL, then ECE,
    then the first listed) only if it beats the uncalibrated scores."""
    def key(ms: MetricSet) -> tuple[float, float]:
        # to 12 significant digits: methods equal in exact arithmetic (e.g. Platt and vector scaling of a
        # multilabel file) tie whatever the float rounding of their sums, and the first listed wins
        return tuple(np.inf if v is None or not np.isfinite(v) else float(f"{v:.12g}") for v in (ms.nll, ms.ece))

    methods = list(after)
    best = min(methods, key=lambda m: key(after[m]))
    if not key(after[best]) < key(before):
        best = None  # no calibrator beats the scores as they are on the held-out rows
    return (MethodScore(UNCALIBRATED, before, False), *(MethodScore(m, after[m], m == best) for m in methods))


def _scheme(layout: FitLayout, run: FitRun, n: int, evaluated: int, fit_on_files, folds, split, seed) -> dict[str, Any]:
    if layout.scheme == "all":
        fit_rows = run.facts.fit_rows
        return {"scheme": "fit-on", "files": list(fit_on_files), "fit_rows": fit_rows, "evaluated_rows": evaluated,
                "description": f"fitted on the {fit_rows:,} rows of --fit-on; evaluated on all {evaluated:,} audited rows"}
    if layout.scheme == "split":
        fit_rows = run.facts.fit_rows
        return {"scheme": "split", "fraction": split, "seed": seed, "fit_rows": fit_rows, "evaluated_rows": evaluated,
                "description": f"each row was drawn into the fitting split with probability {split:g} (a seeded hash of "
                               f"its row key): {fit_rows:,} rows fitted the calibrator; the other {evaluated:,} rows are "
                               "evaluated"}
    return {"scheme": "cross-fit", "folds": folds, "seed": seed, "fit_rows": n, "evaluated_rows": evaluated,
            "description": f"{folds}-fold cross-fitting: each row's fold is drawn from a seeded hash of its row key (its "
                           "position in the input, or its --id-col value); each fold is calibrated by a model fitted on "
                           "the other folds, so every row gets an out-of-fold calibrated score"}


def _warnings(run: FitRun, fi, methods: tuple[str, ...], per_label: bool, layout: FitLayout) -> list[str]:
    out: list[str] = []
    facts = run.facts
    if any(m in LOG_SCORE_METHODS for m in methods):
        w = saturation_message(facts.saturated, facts.fit_rows, is_float32(fi.score_kind_evidence))
        if w:
            out.append(w)
    what = "each fold's calibrator was" if layout.scheme == "cross-fit" else "the calibrator was"
    out += scarce_warnings(fi.task, fi.classes, methods, per_label, facts.rows, facts.outcome_counts(), what)
    return out


def evaluate_calibration(preds: Predictions, methods: tuple[str, ...] = ("temperature",), *, split: float | None = None,
                         fit_on: Predictions | None = None, fit_on_files: tuple[str, ...] = (),
                         seed: int = DEFAULT_SEED, folds: int = DEFAULT_FOLDS, per_label: bool = False,
                         n_bins: int = 15, strategy: str = "uniform", before: Measurement | None = None,
                         n_boot: int = N_BOOT, batch_rows: int | None = None) -> CalibrationResult:
    """:func:`run_calibration` on predictions in memory (row keys 0..n-1), in batches of ``batch_rows``.

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind, softmax
    >>> rng = np.random.default_rng(1)
    >>> z = rng.normal(size=(400, 3)) * 4
    >>> y = np.array([rng.choice(3, p=p) for p in softmax(z / 4)])
    >>> p = Predictions(softmax(z), y, ("a", "b", "c"), Task.MULTICLASS, ScoreKind.LOGITS, logits=z)
    >>> r = evaluate_calibration(p)
    >>> 3 < r.temperature < 5.5, r.after.metrics.nll < r.before.metrics.nll, r.accuracy_unchanged
    (True, True, True)
    """
    from calibcli.engine.batches import DEFAULT_BATCH_ROWS, InMemorySource

    rows = DEFAULT_BATCH_ROWS if batch_rows is None else batch_rows
    src = InMemorySource.from_predictions(preds, rows)
    fit_src = None if fit_on is None else InMemorySource.from_predictions(fit_on, rows, tuple(fit_on_files))
    return run_calibration(src, methods, split=split, fit_on=fit_src, fit_on_files=fit_on_files, seed=seed, folds=folds,
                           per_label=per_label, n_bins=n_bins, strategy=strategy, before=before, n_boot=n_boot)
