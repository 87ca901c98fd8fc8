"""The passes of the statistics: the bundle (one pass, or a caller's shared pass), then Cox's Newton passes.

Cox's fits of all curves share their passes: :class:`CoxPasses` is one consumer
holding a :class:`~calibcli.statistics.cox.CoxPass` per curve still fitting, and each
curve's Newton iteration (:func:`calibcli.statistics.cox.cox_steps`, the generator
:func:`calibcli.statistics.cox.fit_cox` drives) advances once per pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calibcli.statistics.bundle import StatisticsBundle
from calibcli.statistics.cox import CoxResult, cox_steps
from calibcli.statistics.inputs import Curve
from calibcli.statistics.plan import StatisticsBudget


class CoxPasses:
    """One pass consumer holding one unfed :class:`~calibcli.statistics.cox.CoxPass` per curve (in place ``update``/``merge``)."""

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
