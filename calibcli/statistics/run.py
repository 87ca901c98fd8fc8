"""The passes of the statistics: the bundle (one pass, or a caller's shared pass), then Cox's Newton passes.

Cox's fits of all curves share their passes: :class:`CoxPasses` is one consumer
holding a :class:`~calibcli.statistics.cox.CoxPass` per curve still fitting, and each
curve's Newton iteration (:func:`cox_steps`, the steps of
:func:`calibcli.statistics.cox.fit_cox` written as a generator) advances once per pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generator

import numpy as np

from calibcli.statistics.bundle import StatisticsBundle
from calibcli.statistics.cox import Z95, CoxPass, CoxResult, _citl_step, _cox_step
from calibcli.statistics.inputs import Curve
from calibcli.statistics.plan import StatisticsBudget


def cox_steps(curve: Curve = "positive", max_iter: int = 50, tol: float = 1e-10
              ) -> Generator[CoxPass, CoxPass, CoxResult]:
    """:func:`calibcli.statistics.cox.fit_cox` as a generator: yields unfed passes, receives them fed,
    returns the :class:`CoxResult` (the same steps, halving and convergence rules)."""
    theta, c = np.array([0.0, 1.0]), 0.0
    cur = (yield CoxPass(theta, c, curve)).finalize()
    passes = 1
    done1 = done2 = False
    fail1 = fail2 = False
    for _ in range(max_iter):
        d1, d2 = _cox_step(cur), _citl_step(cur)
        fail1, fail2 = fail1 or (d1 is None and not done1), fail2 or (d2 is None and not done2)
        done1 = done1 or fail1 or bool(np.max(np.abs(d1)) <= tol * (1.0 + np.max(np.abs(theta))))
        done2 = done2 or fail2 or bool(abs(d2) <= tol * (1.0 + abs(c)))
        if done1 and done2:
            break
        s1 = s2 = 1.0
        for _halving in range(60):
            t_new = theta if done1 else theta + s1 * d1
            c_new = c if done2 else c + s2 * d2
            cand = (yield CoxPass(t_new, c_new, curve)).finalize()
            passes += 1
            ok1 = done1 or cand[0] >= cur[0] - 1e-12 * abs(cur[0])
            ok2 = done2 or cand[6] >= cur[6] - 1e-12 * abs(cur[6])
            if ok1 and ok2:
                break
            s1, s2 = (s1 if ok1 else s1 / 2), (s2 if ok2 else s2 / 2)
        theta, c, cur = t_new, c_new, cand
    nan2 = (float("nan"), float("nan"))
    h = np.array([[cur[3], cur[4]], [cur[4], cur[5]]])
    ok1 = bool(done1 and not fail1 and _cox_step(cur) is not None)
    ok2 = bool(done2 and not fail2 and cur[8] < 0)
    if ok1:
        cov = np.linalg.inv(-h)
        se_a, se_b = float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))
        a, b = float(theta[0]), float(theta[1])
    else:
        a = b = se_a = se_b = float("nan")
    cc, se_c = (float(c), float(1.0 / np.sqrt(-cur[8]))) if ok2 else (float("nan"), float("nan"))

    def wald(v, se):
        return (v - Z95 * se, v + Z95 * se) if np.isfinite(v) else nan2

    return CoxResult(b, a, cc, se_b, se_a, se_c, wald(b, se_b), wald(a, se_a), wald(cc, se_c), ok1, ok2, passes)


class CoxPasses:
    """One pass consumer holding one unfed :class:`CoxPass` per curve (in place ``update``/``merge``)."""

    def __init__(self, passes: dict):
        self.passes = dict(passes)

    def update(self, batch) -> "CoxPasses":
        for p in self.passes.values():
            p.update(batch)
        return self

    def merge(self, other: "CoxPasses") -> "CoxPasses":
        if not isinstance(other, CoxPasses) or other.passes.keys() != self.passes.keys():
            raise ValueError("cannot merge Cox passes of different curves")
        for key, p in self.passes.items():
            p.merge(other.passes[key])
        return self


def fit_cox_curves(source, curves: list, max_iter: int = 50, tol: float = 1e-10) -> tuple[dict, int]:
    """Cox fits of every curve in shared passes over ``source``: ``({curve: CoxResult}, passes run)``."""
    from calibcli.engine.local import feed

    gens = {c: cox_steps(c, max_iter, tol) for c in curves}
    pending = {c: next(g) for c, g in gens.items()}
    results: dict = {}
    passes = 0
    while pending:
        consumer = CoxPasses(pending)
        feed(source, consumer)
        passes += 1
        nxt = {}
        for c, fed in consumer.passes.items():
            try:
                nxt[c] = gens[c].send(fed)
            except StopIteration as stop:
                results[c] = stop.value
        pending = nxt
    return results, passes


def measure_statistics(source, info, edges, *, seed: int = 0, first_pass: StatisticsBundle | None = None,
                       key_on_ids: bool = False, budget: StatisticsBudget = StatisticsBudget(), cox: bool = True):
    """Every statistic of every curve of ``source``: the bundle's pass, then the Cox passes.

    Parameters
    ----------
    source : BatchSource
    info : SourceInfo
        ``source.info`` (task, classes).
    edges : BinEdges
        The audit's bin edges.
    seed : int
        Bootstrap seed.
    first_pass : StatisticsBundle, optional
        A bundle the caller already fed in one of its own passes (e.g. appended to the
        calibration stage's first pass); otherwise one pass feeds a new bundle.
    key_on_ids, budget
        As :class:`StatisticsBundle`.
    cox : bool
        Run the Cox Newton passes (about 6-10 passes; all curves share them).

    Returns
    -------
    StatisticsResult
    """
    from calibcli.engine.local import feed

    bundle = first_pass
    if bundle is None:
        bundle = StatisticsBundle(info.task, info.classes, edges, seed=seed, key_on_ids=key_on_ids, budget=budget)
        feed(source, bundle)
    fits: dict[Any, CoxResult] = {}
    if cox:
        fits, _ = fit_cox_curves(source, [p.curve for p in bundle.plans])
    return bundle.finalize(fits)


def corp_png(result, path: str | Path, curve: Curve | None = None) -> bool:
    """Write ``corp.png`` (the headline's CORP diagram, or class ``curve``'s) to ``path``; False when there is none."""
    from calibcli.render.corp_plot import write_corp_png

    if curve is None:
        data, label = result.corp, result.headline.label
    else:
        data, label = result.class_corp.get(int(curve)), str(curve)
        for c in result.classes:
            if c.curve == curve:
                label = c.label
    if data is None:
        return False
    title = "CORP reliability diagram" + ("" if curve is None and result.task != "binary" else f" ({label})")
    write_corp_png(data, path, title)
    return True
