"""``StatisticsBundle``: every statistic of issue 13 for every curve of an audit, as ONE pass consumer.

Per curve (:mod:`calibcli.statistics.plan`) the bundle keeps the primitives the
statistic states are made of, fed once per batch and shared between statistics:

- a :class:`~calibcli.statistics.table.ScoreTable` (debiased ECE, Hosmer–Lemeshow,
  AUROC/average precision, DeLong's variance; CORP and ECCE while it is exact);
- a :class:`~calibcli.statistics.smooth.FineHistogram` (smooth ECE and ICI on 4096
  buckets, CORP and ECCE beyond the table's budget);
- per bootstrap group and audit bin the sums of 1, p, y, p^2, p y, y^2 (ece_l2 and
  Murphy's Brier decomposition, with their bootstrap) and per group Spiegelhalter's sums;
- for the headline curve only: per bootstrap group a ``group_bins``-bucket histogram
  (the bootstrap of the histogram- and table-based errors).

Groups are :func:`calibcli.stats.rng.group_of` of the rows' global keys (or id
hashes), replicate ``r`` weighs group ``g`` by Poisson(1) keyed on ``(seed, r, g)``
(:func:`calibcli.stats.rng.group_poisson1_weights`), drawn at finalize: the same
scheme and groups as the audit's grouped bootstrap, so the numbers do not depend on
batching or partitioning. Cox's fits need Newton passes at fixed parameters:
:mod:`calibcli.statistics.run` runs them and hands the fits to :meth:`StatisticsBundle.finalize`.

Engine contract: unfed when built (``copy.deepcopy`` is an empty replica), ``update``
and ``merge`` in place (``merge`` returns ``self``), only partial statistics (sizes set
by the plan, never by the rows), picklable; division only in ``finalize``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from calibcli.engine.batches import Batch
from calibcli.predictions import Task
from calibcli.statistics.inputs import curve_arrays
from calibcli.statistics.plan import BIN_SUMS, HIST_SUMS, MAX_FINE_BINS, CurvePlan, StatisticsBudget, plan_curves
from calibcli.statistics.smooth import FineHistogram
from calibcli.statistics.table import ScoreTable
from calibcli.stats import rng
from calibcli.stats.base import Arrays

SMOOTH_BINS = 1 << 12  # smooth ECE and ICI run on 4096 buckets (the helpers' default)


class CurveSums:
    """The partial sums of one curve (see the module docstring)."""

    def __init__(self, plan: CurvePlan, group_bins: int = 0):
        self.plan = plan
        b = plan.edges.size - 1
        self.table = ScoreTable(plan.table_cells)
        self.hist = FineHistogram(plan.fine_bins)
        self.bins = np.zeros((plan.n_groups, BIN_SUMS, b))
        self.spiegel = np.zeros((plan.n_groups, 2))
        self.group_bins = int(group_bins)
        self.group_hist = np.zeros((plan.n_groups if group_bins else 0, HIST_SUMS, self.group_bins))

    def update(self, p: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        from calibcli.binning import assign_bins

        self.table.update(p, y)
        self.hist.update(p, y)
        g_n, _, b = self.bins.shape
        g = groups if g_n > 1 else np.zeros(p.size, dtype=np.intp)
        cell = g * b + assign_bins(p, self.plan.edges)
        pp, py = p * p, p * y
        for j, v in enumerate((None, p, y, pp, py, y * y)):
            self.bins[:, j, :] += np.bincount(cell, weights=v, minlength=g_n * b).reshape(g_n, b)
        a = 1.0 - 2.0 * p
        self.spiegel[:, 0] += np.bincount(g, weights=(y - p) * a, minlength=g_n)
        self.spiegel[:, 1] += np.bincount(g, weights=a * a * p * (1.0 - p), minlength=g_n)
        if self.group_bins:
            m = self.group_bins
            cell = g * m + np.clip((p * m).astype(np.int64), 0, m - 1)
            for j, v in enumerate((None, p, y, pp, py)):
                self.group_hist[:, j, :] += np.bincount(cell, weights=v, minlength=g_n * m).reshape(g_n, m)

    def merge(self, other: "CurveSums") -> None:
        self.table.merge(other.table)
        self.hist = self.hist.merge(other.hist)
        self.bins += other.bins
        self.spiegel += other.spiegel
        self.group_hist += other.group_hist

    def to_arrays(self, prefix: str) -> Arrays:
        out = {f"{prefix}table_{k}": v for k, v in self.table.to_arrays().items()}
        out.update({f"{prefix}hist_{k}": v for k, v in self.hist.to_arrays().items()})
        out.update({f"{prefix}bins": self.bins.copy(), f"{prefix}spiegel": self.spiegel.copy(),
                    f"{prefix}group_hist": self.group_hist.copy()})
        return out


class StatisticsBundle:
    """One pass consumer holding every statistic state of every curve of an audit.

    Parameters
    ----------
    task : Task
    classes : tuple of str
        Class (label) names in column order.
    edges : BinEdges
        The audit's bin edges (ece_l2 and the Brier decomposition use them).
    seed : int
        Seed of the bootstrap (replicates are drawn at finalize).
    key_on_ids : bool
        Key the bootstrap groups on ``hash_ids`` of the id column instead of global row keys.
    budget : StatisticsBudget
        Memory and cost limits (:mod:`calibcli.statistics.plan`).

    Examples
    --------
    >>> from calibcli.bin_edges import BinEdges
    >>> from calibcli.predictions import Predictions, ScoreKind
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]), np.array([0, 1, 0]), ("a", "b"),
    ...                 Task.BINARY, ScoreKind.PROBS)
    >>> b = StatisticsBundle(Task.BINARY, p.classes, BinEdges.uniform(5)).update(Batch(p, np.arange(3)))
    >>> r = b.finalize(); r.headline.curve, r.headline.values["auroc"]
    ('positive', 1.0)
    """

    def __init__(self, task: Task, classes: tuple[str, ...], edges, *, seed: int = 0, key_on_ids: bool = False,
                 budget: StatisticsBudget = StatisticsBudget()):
        self.task = Task(task)
        self.classes = tuple(str(c) for c in classes)
        self.seed = int(seed)
        self.key_on_ids = bool(key_on_ids)
        self.budget = budget
        self.plans = plan_curves(self.task, self.classes, edges, budget)
        self.curves = [CurveSums(p, budget.group_bins if p.headline else 0) for p in self.plans]
        self.rows = 0

    def update(self, batch: Batch) -> "StatisticsBundle":
        """Add one batch (in place)."""
        if self.key_on_ids:
            from calibcli.measure import id_keys

            keys = id_keys(batch)
        else:
            keys = batch.rows
        groups = rng.group_of(keys, self.budget.n_groups)
        preds = batch.predictions
        self.rows += batch.n_rows
        for plan, state in zip(self.plans, self.curves):
            conf, outcome = curve_arrays(preds, plan.curve)
            p = np.asarray(conf, dtype=np.float64) + 0.0
            y = np.asarray(outcome, dtype=np.float64)
            g = np.repeat(groups, preds.n_classes) if plan.curve == "pooled" else groups
            state.update(p, y, g)
        return self

    def merge(self, other: "StatisticsBundle") -> "StatisticsBundle":
        """Add the rows of ``other`` (a replica fed with other rows) in place; return ``self``."""
        same = isinstance(other, StatisticsBundle) and (other.task, other.classes, other.seed, other.budget) == \
            (self.task, self.classes, self.seed, self.budget) and len(other.plans) == len(self.plans) and \
            all(np.array_equal(a.edges, b.edges) for a, b in zip(self.plans, other.plans))
        if not same:
            raise ValueError("cannot merge statistics bundles of different tasks, classes, edges, seeds or budgets")
        for mine, theirs in zip(self.curves, other.curves):
            mine.merge(theirs)
        self.rows += other.rows
        return self

    def to_arrays(self) -> Arrays:
        """Every partial array (sizes set by the plan; for tests and serialisation)."""
        out: Arrays = {"rows": self.rows}
        for i, state in enumerate(self.curves):
            out.update(state.to_arrays(f"c{i}_"))
        return out

    def finalize(self, cox: Mapping[Any, Any] | None = None):
        """The :class:`~calibcli.statistics.result.StatisticsResult` (``cox``: CoxResult by curve, when fitted)."""
        from calibcli.statistics.finalize import finalize_bundle

        return finalize_bundle(self, dict(cox or {}))


assert MAX_FINE_BINS % SMOOTH_BINS == 0
