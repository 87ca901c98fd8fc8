"""Audit hook: the statistics of issue 13 (``--statistics``) and the decision verdict (``--tolerance``).

- ``options(fn)``: ``--statistics`` (opt-in: the full set costs a pass, the Cox Newton
  passes and a finalize) and ``--tolerance`` (the verdict's calibration-error tolerance).
- ``attach(report, source, opts)``: with ``--statistics``, ``report.statistics`` measured on
  the audit's bins, seed and keying; always ``report.verdict``, built from the report's own
  numbers (call it after calibration and thresholds).
- ``verdict_inputs(report)``: the plain numbers the verdict rests on (no numerics).
- ``plan_outputs(opts, folders, out)`` / ``write_outputs(reports, opts, folders, out)``: with
  ``--plots`` and ``--statistics``, ``corp.png`` in each report's plot folder.
- ``print_verdict(console, report)``: the verdict lines, printed before the terminal report.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import click

CORP_FILE = "corp.png"


def options(fn):
    """--statistics, --tolerance."""
    from calibcli.cli.paramtypes import FiniteFloat

    @click.option("--statistics", "statistics", is_flag=True,
                  help="Also compute the full statistics of every curve (L2, debiased and smooth ECE, ECCE, ICI, "
                       "Spiegelhalter, Hosmer-Lemeshow, Cox, Brier and CORP decompositions, AUROC, average "
                       "precision) with 95% intervals, and corp.png with --plots. Costs a pass plus about ten "
                       "Cox passes.")
    @click.option("--tolerance", type=FiniteFloat(0, 1, min_open=True), default=0.02, show_default=True,
                  help="The calibration error a probability-weighted decision tolerates (the verdict's "
                       "'probabilities' line).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def _audit_bins(report, source, opts: dict):
    """The audit's bin edges, bootstrap seed and keying (as audit_groups.attach reads them)."""
    state = report.measurement.state
    edges = getattr(state, "edges", None)
    if edges is None:
        from calibcli.bin_edges import source_edges

        edges = source_edges(source, report.binning.n_bins, report.binning.strategy)
    seed = getattr(state, "seed", opts.get("seed") or 0)
    return edges, int(seed), bool(getattr(state, "key_on_ids", False))


def attach(report, source, opts: dict):
    """``report`` with ``statistics`` (only with ``--statistics``) and ``verdict`` (always)."""
    from calibcli.verdict import DEFAULT_TOLERANCE, decision_verdict

    statistics = None
    if opts.get("statistics"):
        from calibcli.statistics.run import measure_statistics

        edges, seed, key_on_ids = _audit_bins(report, source, opts)
        statistics = measure_statistics(source, source.info, edges, seed=seed, key_on_ids=key_on_ids)
    report = dataclasses.replace(report, statistics=statistics)
    tolerance = opts.get("tolerance") or DEFAULT_TOLERANCE
    verdict = decision_verdict(**verdict_inputs(report), tolerance=tolerance)
    if statistics is None:  # no AUROC measured: the ranking line says how to get one
        verdict = dataclasses.replace(verdict, items=tuple(
            _unmeasured_ranking() if line.use == "ranking" else line for line in verdict.items))
    return dataclasses.replace(report, verdict=verdict)


def _unmeasured_ranking():
    from calibcli.verdict import VerdictLine

    return VerdictLine("ranking", "warn", "not measured: AUROC and its interval need --statistics "
                                          "(calibration does not change the order)",
                       {"auroc": None, "auroc_interval": None})


def _number(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def verdict_inputs(report) -> dict:
    """The keyword arguments of :func:`calibcli.verdict.decision_verdict` read from ``report``.

    Headline ECE and its interval from the measurement; the after-ECE of the recommended
    calibrator (``calibration.best`` when a comparison named one, else ``calibration.method``,
    the one ``after`` describes); AUROC and its interval from ``report.statistics`` (None
    without ``--statistics``); the first raw-scale threshold and the calibrated one of the
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


def plan_outputs(opts: dict, folders, out) -> None:
    """Check the ``corp.png`` paths in ``out`` before any work (``folders``: audit_plots.plan_outputs's)."""
    if not opts.get("statistics"):
        return
    for folder in folders:
        out.plan("--plots", folder / CORP_FILE)


def write_outputs(reports, opts: dict, folders, out) -> str | None:
    """Stage each report's ``corp.png`` in its plot folder; the note to print, or None."""
    if not opts.get("statistics") or not folders:
        return None
    from calibcli.render.corp_plot import corp_png_bytes

    if len(folders) == 1:
        folders = list(folders) * len(reports)
    written = 0
    for report, folder in zip(reports, folders):
        st = report.statistics
        if st is None or st.corp is None:
            continue
        title = "CORP reliability diagram" + (f" ({st.headline.label})" if st.task == "binary" else "")
        out.add("--plots", folder / CORP_FILE, corp_png_bytes(st.corp, title))  # the title corp_png gives it
        written += 1
    return f"wrote {CORP_FILE} (CORP reliability diagram)" if written else None


def print_verdict(console, report) -> None:
    """Print the verdict lines (they open the terminal report)."""
    if getattr(report, "verdict", None) is None:
        return
    from calibcli.render.statistics_terminal import verdict_renderable

    console.print(verdict_renderable(report.verdict))
    console.print()
