"""Honest evaluation of post-hoc calibration: numbers after calibration come from
rows that were not used to fit the calibrator.

Three schemes:

- cross-fit (default): rows are split into folds by a seeded permutation; each
  fold is calibrated by a model fitted on the other folds, so every row gets an
  out-of-fold calibrated score;
- split: a seeded fraction of the rows fits, the rest is evaluated;
- fit-on: a separate validation set fits, all rows of the audited set are evaluated.

Scarce fitting data is flagged, never silently used: a warning names the row
count when a calibrator is fitted on fewer than 50 rows (with cross-fitting, the
rows outside a fold), or when a method with parameters per class or label
(vector, Platt, isotonic, histogram, per-label temperature) has fewer than 10
fitting rows of some class present (multilabel: of the rarer outcome of a label).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from calibcli.audit import measure
from calibcli.calibrators import METHODS, Calibrator, fit_calibrator
from calibcli.calibrators.base import describe_class_mismatch, log_scores, saturation_warning, with_probs
from calibcli.calibrators.temperature import (T_CAP, TemperatureFit, TemperatureScaling, fit_temperature, fit_temperature_preds,
                                               scaled_softmax, temperature_interval)
from calibcli.errors import InputError, UsageError
from calibcli.predictions import Predictions, Task
from calibcli.report import Measurement, MetricSet

DEFAULT_FOLDS = 2
DEFAULT_SEED = 0
MIN_ROWS = 10  # fewer rows cannot be split into fitting and evaluation rows
MIN_FIT_ROWS = 50  # fewer fitting rows: warn with the count
MIN_FIT_PER_CLASS = 10  # per-class methods: warn when a class present has fewer fitting rows
PER_CLASS_METHODS = ("vector", "platt", "isotonic", "histogram")  # parameters per class (or label)
LOG_SCORE_METHODS = ("temperature", "vector", "platt")  # these take logs of probabilities
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
        The calibrator described by ``after`` and ``calibrated`` (the first of ``methods``).
    methods : tuple of str
        Every calibrator compared.
    fit : dict
        How rows were split between fitting and evaluation (JSON-ready).
    before, after : Measurement
        Metrics and curves of the evaluated rows, before and after calibration.
    calibrated : Predictions
        Out-of-fold calibrated predictions of the evaluated rows (row order of
        ``evaluated_rows``).
    evaluated_rows : ndarray or None
        Indices of the evaluated rows in the audited predictions; None means all
        rows in their original order.
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
    """

    method: str
    methods: tuple[str, ...]
    fit: dict[str, Any]
    before: Measurement
    after: Measurement
    calibrated: Predictions
    evaluated_rows: np.ndarray | None
    temperature: float | None = None
    temperature_ci: tuple[float, float] | None = None
    per_label_temperatures: tuple[tuple[str, float, float, float], ...] | None = None
    comparison: tuple[MethodScore, ...] = ()
    accuracy_unchanged: bool | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

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


def _fit_one(method: str, preds: Predictions, per_label: bool, n_bins: int, init=None) -> tuple[Calibrator, TemperatureFit | None]:
    if method == "temperature":
        f = fit_temperature_preds(preds, per_label, init)
        cal = TemperatureScaling(preds.task, preds.classes, preds.score_kind, tuple(float(t) for t in f.temperature))
        return cal, f
    return fit_calibrator(method, preds, per_label=per_label, n_bins=n_bins), None


def _crossfit_temperature_2(preds: Predictions, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-fold cross-fitted temperature scaling in shared passes, without copying rows.

    Model f is fitted on the rows outside fold f (with two folds: the other fold),
    and calibrates fold f. Returns the out-of-fold probabilities and the two T.
    """
    z = log_scores(preds)
    fit = fit_temperature(z, preds.labels, preds.task, groups=1 - ids, n_groups=2)
    t_row = fit.temperature[ids]
    return scaled_softmax(z, t_row), fit.temperature


def _fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    perm = np.random.default_rng(seed).permutation(n)
    ids = np.empty(n, dtype=np.int64)
    ids[perm] = np.arange(n) % folds
    return ids


def _check_same_setup(fit_preds: Predictions, preds: Predictions, files: tuple[str, ...]) -> None:
    where = ", ".join(files) if files else "the fitting data"
    if fit_preds.task is not preds.task:
        raise InputError(f"--fit-on {where} is a {fit_preds.task.value} file but the audited predictions are "
                         f"{preds.task.value}. Use the same columns in both files (or --task).")
    if tuple(fit_preds.classes) != tuple(preds.classes):
        raise InputError(f"--fit-on {where}: " + describe_class_mismatch(preds.classes, fit_preds.classes)
                         .replace("the calibrator", "the audited file"))


def _bound_warning(fit: TemperatureFit, names: tuple[str, ...] | None) -> str | None:
    """Say where T has no interior optimum; name the search range only where T stopped at its end."""
    parts = []
    for falling_t in (True, False):
        sel = fit.at_bound & (fit.decreasing_t == falling_t)
        if not sel.any():
            continue
        idx = np.flatnonzero(sel)
        which = "" if names is None else " for " + ", ".join(names[i] for i in idx[:8]) + (" ..." if idx.size > 8 else "")
        ts = ", ".join(f"{fit.temperature[i]:.4g}" for i in idx[:8]) + (" ..." if idx.size > 8 else "")
        end = fit.at_range_end[idx]
        capped = not falling_t and bool(np.all(fit.t_range[idx, 1] >= T_CAP))
        if end.all() and capped:
            where = (f"stopped at T = {ts}, the largest T calib writes: the logits are so large that the best T lies "
                     "beyond the float range")
            parts.append(f"the fitted temperature{which} {where}. Rescale the logits (or export probabilities).")
            continue
        if end.all():
            lo, hi = fit.t_range[idx[0]]
            where = (f"stopped at the {'lower' if falling_t else 'upper'} end of its search range (T = {ts}; the range is "
                     f"[{lo:.4g}, {hi:.4g}]: 1e-3 to 1e3, widened by the largest logit gap of the fitting rows)")
        else:
            where = (f"has no optimum: the NLL keeps falling as T {'-> 0' if falling_t else 'grows'} until it no longer "
                     f"changes (the fit stopped at T = {ts})")
        reason = ("the scores separate the classes perfectly on the fitting rows, so no finite T fits them better"
                  if falling_t else "the scores look unrelated to the labels (check the class order of the score "
                  "columns and the labels)")
        parts.append(f"the fitted temperature{which} {where}: {reason}.")
    return " ".join(parts) or None


def _class_counts(preds: Predictions, rows: np.ndarray | None = None) -> np.ndarray:
    """Fitting rows per class (multilabel: of the rarer outcome of each label)."""
    lab = preds.labels if rows is None else preds.labels[rows]
    if preds.task is Task.MULTILABEL:
        pos = lab.sum(axis=0)
        return np.minimum(pos, lab.shape[0] - pos)
    return np.bincount(lab, minlength=preds.n_classes)


def scarce_fit_warnings(preds: Predictions, methods: tuple[str, ...], per_label: bool,
                        rows: list[np.ndarray | None] | None = None, what: str = "the calibrator was") -> list[str]:
    """Warnings when a calibrator is fitted on too few rows, naming the counts.

    Parameters
    ----------
    preds : the predictions the fitting rows come from.
    methods : the calibrators fitted.
    per_label : multilabel temperature with one T per label (a per-label method).
    rows : the fitting rows of each fit (masks or indices; None for all rows);
        the smallest fit is reported.
    what : the subject of the sentence ("the calibrator was", "each fold's calibrator was").

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.full((20, 2), 0.5), np.arange(20) % 2, ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> scarce_fit_warnings(p, ("temperature",), False)[0][:53]
    'the calibrator was fitted on only 20 rows (fewer than'
    """
    rows = [None] if rows is None else rows
    sizes = [preds.n_samples if r is None else int(np.count_nonzero(r) if r.dtype == bool else r.size) for r in rows]
    out = []
    n_fit = min(sizes)
    if n_fit < MIN_FIT_ROWS:
        out.append(f"{what} fitted on only {n_fit:,} rows (fewer than {MIN_FIT_ROWS}): its parameters, and the numbers "
                   "after calibration, are mostly noise. Fit on more rows (a larger --calibration-split, or --fit-on a "
                   "validation file with more rows).")
    per_class = [m for m in methods if m in PER_CLASS_METHODS or (m == "temperature" and per_label)]
    if per_class:
        counts = np.min([_class_counts(preds, r) for r in rows], axis=0)
        present = np.flatnonzero(counts > 0)
        if present.size:
            j = int(present[np.argmin(counts[present])])
            if counts[j] < MIN_FIT_PER_CLASS:
                kind = "label" if preds.task is Task.MULTILABEL else "class"
                of = " (of its rarer outcome, present or absent)" if preds.task is Task.MULTILABEL else ""
                out.append(f"{kind} '{preds.classes[j]}' has only {int(counts[j])} fitting row{'s' if counts[j] != 1 else ''}"
                           f"{of}, fewer than {MIN_FIT_PER_CLASS}; {', '.join(per_class)} fit parameters per {kind}, "
                           f"so those for '{preds.classes[j]}' are mostly noise.")
    return out


def evaluate_calibration(
    preds: Predictions,
    methods: tuple[str, ...] = ("temperature",),
    *,
    split: float | None = None,
    fit_on: Predictions | None = None,
    fit_on_files: tuple[str, ...] = (),
    seed: int = DEFAULT_SEED,
    folds: int = DEFAULT_FOLDS,
    per_label: bool = False,
    n_bins: int = 15,
    strategy: str = "uniform",
    before: Measurement | None = None,
    n_boot: int = 200,
) -> CalibrationResult:
    """Fit calibrators and measure them on rows not used for fitting.

    Parameters
    ----------
    preds : the audited predictions (full score vectors).
    methods : calibrators to compare; the first one is described in detail.
    split : fraction of rows (seeded) to fit on; the rest is evaluated.
    fit_on : separate predictions to fit on; every row of ``preds`` is evaluated.
    fit_on_files : names of the ``fit_on`` files, for the report.
    seed : seed of the fold assignment, the split and the bootstrap.
    folds : number of cross-fitting folds (default scheme).
    per_label : multilabel temperature scaling with one T per label.
    n_bins, strategy : binning of the before/after measurements.
    before : the measurement of all of ``preds`` when already computed (reused
        when all rows are evaluated).
    n_boot : bootstrap resamples for the interval of T.

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
    if preds.task is Task.TOP_LABEL:
        raise InputError("calibration needs full score vectors, but this is a top-label file (confidence and pred_label "
                         "only). Export p_<class> or logit_<class> columns, or pass --no-calibration.")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UsageError(f"unknown calibrator {', '.join(unknown) or '(none given)'}; choose from {', '.join(METHODS)}.")
    if split is not None and fit_on is not None:
        raise UsageError("--calibration-split and --fit-on both say which rows fit the calibrator; give only one.")
    if split is not None and not 0.0 < split < 1.0:
        raise UsageError(f"--calibration-split {split} must be a fraction strictly between 0 and 1 (e.g. 0.5).")
    methods = tuple(dict.fromkeys(methods))
    n = preds.n_samples
    warnings: list[str] = []
    per_label = per_label and preds.task is Task.MULTILABEL
    label_names = preds.classes if per_label else None

    if fit_on is not None:
        _check_same_setup(fit_on, preds, fit_on_files)
        fit_sets = [(fit_on, None)]
        ids = None
        evaluated_rows = None
        eval_preds = preds
        scheme = {"scheme": "fit-on", "files": list(fit_on_files), "fit_rows": fit_on.n_samples, "evaluated_rows": n,
                  "description": f"fitted on the {fit_on.n_samples:,} rows of --fit-on; evaluated on all {n:,} audited rows"}
        sat_source = fit_on
    else:
        if n < MIN_ROWS:
            raise InputError(f"only {n} rows: too few to fit a calibrator on some rows and evaluate it on others "
                             f"(at least {MIN_ROWS} needed). Pass --no-calibration, or --fit-on a validation file.")
        sat_source = preds
        ids = None
        if split is not None:
            perm = np.random.default_rng(seed).permutation(n)
            n_fit = int(min(max(round(split * n), 1), n - 1))
            fit_idx, evaluated_rows = np.sort(perm[:n_fit]), np.sort(perm[n_fit:])
            fit_sets = [(preds.subset(fit_idx), None)]
            eval_preds = preds.subset(evaluated_rows)
            scheme = {"scheme": "split", "fraction": split, "seed": seed, "fit_rows": n_fit, "evaluated_rows": n - n_fit,
                      "description": f"a seeded random {split:g} of the rows ({n_fit:,}) fitted the calibrator; the other "
                                     f"{n - n_fit:,} rows are evaluated"}
        else:
            ids = _fold_ids(n, folds, seed)
            fit_sets = [(None, ids == f) for f in range(folds)]  # fitted on the rows outside each fold
            evaluated_rows = None
            eval_preds = preds
            scheme = {"scheme": "cross-fit", "folds": folds, "seed": seed, "fit_rows": n, "evaluated_rows": n,
                      "description": f"{folds}-fold cross-fitting: a seeded permutation splits the rows into {folds} folds; "
                                     "each fold is calibrated by a model fitted on the other folds, so every row gets an "
                                     "out-of-fold calibrated score"}
    if any(m in LOG_SCORE_METHODS for m in methods):
        w = saturation_warning(sat_source)
        if w:
            warnings.append(w)
    if fit_on is not None:
        warnings += scarce_fit_warnings(fit_on, methods, per_label)
    elif split is not None:
        warnings += scarce_fit_warnings(preds, methods, per_label, [fit_idx])
    else:
        warnings += scarce_fit_warnings(preds, methods, per_label, [~rows for _, rows in fit_sets],
                                        what="each fold's calibrator was")

    if before is None or evaluated_rows is not None:
        before = measure(eval_preds, n_bins, strategy)

    results: dict[str, Predictions] = {}
    tfits: list[TemperatureFit] = []
    fold_t: list[np.ndarray] = []
    for method in methods:
        if method == "temperature" and len(fit_sets) == 2 and preds.task is not Task.MULTILABEL:
            probs, t = _crossfit_temperature_2(preds, ids)
            results[method] = with_probs(preds, probs, method)
            fold_t = list(t[:, None])
        elif len(fit_sets) == 1:
            cal, tf = _fit_one(method, fit_sets[0][0], per_label, n_bins)
            results[method] = cal.transform(eval_preds)
            if tf is not None:
                tfits.append(tf)
        else:
            probs = np.empty_like(preds.probs)
            for _, rows in fit_sets:
                cal, tf = _fit_one(method, preds.subset(~rows), per_label, n_bins)
                probs[rows] = cal.transform(preds.subset(rows)).probs
                if tf is not None:
                    fold_t.append(tf.temperature)
            results[method] = with_probs(preds, probs, method)

    temperature = temperature_ci = per_label_t = None
    if "temperature" in methods:
        if len(fit_sets) == 1:
            report_fit = tfits[0]
        else:
            ft = np.array(fold_t)
            scheme["fold_temperatures"] = ft[:, 0].tolist() if ft.shape[1] == 1 else ft.tolist()
            report_fit = fit_temperature_preds(preds, per_label, init=np.exp(np.log(ft).mean(axis=0)))
            scheme["temperature_fitted_on"] = f"all {n:,} rows (the T that calib fit would save); the evaluation uses the fold fits"
        lo, hi, how = temperature_interval(report_fit, n_boot=n_boot, seed=seed)
        scheme["temperature_ci_method"] = how
        bw = _bound_warning(report_fit, label_names)
        if bw:
            warnings.append(bw)
        if per_label:
            per_label_t = tuple((name, float(t), float(a), float(b))
                                for name, t, a, b in zip(preds.classes, report_fit.temperature, lo, hi))
        else:
            temperature, temperature_ci = float(report_fit.temperature[0]), (float(lo[0]), float(hi[0]))

    primary = methods[0]
    calibrated = results[primary]
    after = measure(calibrated, n_bins, strategy)
    accuracy_unchanged = None
    if primary == "temperature":
        # dividing by T > 0 keeps every argmax (and every logit's sign); check it on the numbers
        acc_b, acc_a = before.metrics.accuracy, after.metrics.accuracy
        accuracy_unchanged = acc_b == acc_a
        if not accuracy_unchanged:
            warnings.append(f"accuracy changed under temperature scaling ({acc_b:.6f} -> {acc_a:.6f}); this only happens "
                            "for rows whose top scores are tied or within float rounding of each other.")

    comparison: tuple[MethodScore, ...] = ()
    if len(methods) > 1:
        metric_sets = {m: (after if m == primary else measure(results[m], n_bins, strategy)).metrics for m in methods}

        def key(ms: MetricSet) -> tuple[float, float]:
            return (np.inf if ms.nll is None else ms.nll, np.inf if ms.ece is None else ms.ece)

        best = min(methods, key=lambda m: key(metric_sets[m]))
        if not key(metric_sets[best]) < key(before.metrics):
            best = None  # no calibrator beats the scores as they are on the held-out rows
        comparison = (MethodScore(UNCALIBRATED, before.metrics, False),
                      *(MethodScore(m, metric_sets[m], m == best) for m in methods))

    return CalibrationResult(
        method=primary,
        methods=methods,
        fit=scheme,
        before=before,
        after=after,
        calibrated=calibrated,
        evaluated_rows=evaluated_rows,
        temperature=temperature,
        temperature_ci=temperature_ci,
        per_label_temperatures=per_label_t,
        comparison=comparison,
        accuracy_unchanged=accuracy_unchanged,
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class FitOutcome:
    """A calibrator fitted on all given rows, with facts for the file and the summary.

    ``info`` (JSON-ready) holds the rows, the interval of T when fitted, in-sample
    NLL and ECE before and after (these flatter the calibrator: the same rows
    fitted it), and warnings.
    """

    calibrator: Calibrator
    info: dict[str, Any]


def fit_on_all_rows(preds: Predictions, method: str = "temperature", per_label: bool = False, n_bins: int = 15,
                    seed: int = DEFAULT_SEED) -> FitOutcome:
    """Fit ``method`` on every row of ``preds`` (what ``calib fit`` saves).

    Examples
    --------
    >>> from calibcli.predictions import ScoreKind, softmax
    >>> z = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [1.0, 0.5]])
    >>> p = Predictions(softmax(z), np.array([0, 0, 1, 1, 0]), ("a", "b"), Task.BINARY, ScoreKind.LOGITS, logits=z)
    >>> out = fit_on_all_rows(p)
    >>> out.info["after"]["nll"] <= out.info["before"]["nll"]
    True
    """

    if preds.task is Task.TOP_LABEL:
        raise InputError("calib fit needs full score vectors, but this is a top-label file (confidence and pred_label "
                         "only). Export p_<class> or logit_<class> columns for every class.")
    per_label = per_label and preds.task is Task.MULTILABEL
    warnings: list[str] = []
    if method in LOG_SCORE_METHODS:
        w = saturation_warning(preds)
        if w:
            warnings.append(w)
    warnings += scarce_fit_warnings(preds, (method,), per_label)
    cal, tf = _fit_one(method, preds, per_label, n_bins)
    info: dict[str, Any] = {"method": method, "rows": preds.n_samples}
    if tf is not None:
        lo, hi, how = temperature_interval(tf, seed=seed)
        if per_label:
            info["temperature_ci"] = [[float(a), float(b)] for a, b in zip(lo, hi)]
        else:
            info["temperature_ci"] = [float(lo[0]), float(hi[0])]
        info["temperature_ci_method"] = how
        bw = _bound_warning(tf, preds.classes if per_label else None)
        if bw:
            warnings.append(bw)
    after = cal.transform(preds)

    def brief(p: Predictions) -> dict[str, float]:
        metrics = measure(p).metrics
        return {"nll": metrics.nll, "ece": metrics.ece}

    info["in_sample"] = "before/after measured on the fitting rows themselves; use calib audit for held-out numbers"
    info["before"] = brief(preds)
    info["after"] = brief(after)
    info["warnings"] = warnings
    return FitOutcome(cal, info)
