"""The ``--on upper`` bootstrap: 95% intervals from the grouped bootstrap of a measurement.

Every row belongs to one of ``DEFAULT_BLOCKS`` bootstrap groups (a hash of its key:
the global row index, or the hash of its id) and replicate ``r`` weighs group ``g``
by Poisson(1) keyed on ``(seed, r, g)`` (:mod:`calibcli.stats.rng`), so the
replicates depend neither on batching nor on row order, and a baseline keyed the
same way is resampled in pairs without a join. The audit's measurement keeps its
sums per group, so the replicates of any seed come from it without another pass;
only a measurement without groups (or keyed otherwise) is measured again. Bin edges
stay those of the measurement being resampled.

Intervals are basic bootstrap intervals ``(2t - q97.5, 2t - q2.5)``, clipped to the
metric's range: the plug-in binned errors are biased upward, and the basic interval
removes that bias where the percentile interval adds it again (coverage:
``benchmarks/coverage_sim.py``).
"""

from __future__ import annotations

import math

import numpy as np

from calibcli.engine.batches import BatchSource
from calibcli.measure import DEFAULT_BLOCKS, BinEdges, MeasureState, measure_state
from calibcli.predictions import Task
from calibcli.report import Measurement
from calibcli.stats.intervals import basic_interval

CLASS_METRICS = frozenset({"classwise_ece", "class_ece"})
UNBOUNDED = frozenset({"brier", "nll"})


def edges_of(measurement: Measurement, task: Task) -> BinEdges:
    """The bin edges behind a measurement (classes share the top edges when all are equal)."""
    top = measurement.reliability.edges
    classes = tuple(c.reliability.edges for c in measurement.classes)
    if task is Task.TOP_LABEL or all(np.array_equal(e, top) for e in classes):
        return BinEdges(top)
    return BinEdges(top, classes)


def grouped_state(source: BatchSource, measurement: Measurement, replicates: int, seed: int,
                  key_on_ids: bool) -> MeasureState:
    """The measurement's own grouped state when it is keyed as asked; else one pass over ``source``."""
    state = measurement.state
    if isinstance(state, MeasureState) and state.n_blocks and state.key_on_ids == bool(key_on_ids):
        return state
    edges = edges_of(measurement, source.info.task)
    return measure_state(source, edges, replicates, seed, key_on_ids, n_blocks=DEFAULT_BLOCKS)


def replicate_values(source: BatchSource, measurement: Measurement, need: set[str], replicates: int, seed: int,
                     key_on_ids: bool) -> dict[str, np.ndarray]:
    """Each needed metric in every replicate, shape (replicates,) (NaN where undefined).

    From the measurement's grouped state when it has one keyed the same way (no pass), else one pass over ``source``.
    """
    got = grouped_state(source, measurement, replicates, seed, key_on_ids).replicate_metrics(seed, replicates)
    return {m: got.get(m, np.full(replicates, np.nan)) for m in need}


def interval(point: float | None, values: np.ndarray, metric: str = "ece") -> tuple[float, float] | None:
    """The basic bootstrap 95% interval of ``point`` from its replicate values, clipped to the metric's range.

    Deltas (``*_increase``) may be negative; Brier and NLL are unbounded above.
    """
    if point is None or not math.isfinite(point):
        return None
    if metric.endswith(("_increase", "_decrease")):
        return basic_interval(point, values, -math.inf, math.inf)
    return basic_interval(point, values, 0.0, math.inf if metric in UNBOUNDED else 1.0)
