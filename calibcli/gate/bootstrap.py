"""The ``--on upper`` bootstrap: percentile intervals from the replicate axis of a measurement.

Each row weighs Poisson(1) in every replicate, drawn from its key (global row
index, or the hash of its id) and the seed (:func:`calibcli.stats.rng.poisson1_weights16`),
so the replicates depend neither on batching nor on row order, and a baseline
keyed the same way is resampled in pairs without a join. Bin edges stay those of
the measurement being resampled.
"""

from __future__ import annotations

import numpy as np

from calibcli.engine.batches import BatchSource
from calibcli.measure import BinEdges, measure_state
from calibcli.predictions import Task
from calibcli.report import Measurement

CLASS_METRICS = frozenset({"classwise_ece", "class_ece"})


def edges_of(measurement: Measurement, task: Task) -> BinEdges:
    """The bin edges behind a measurement (classes share the top edges when all are equal)."""
    top = measurement.reliability.edges
    classes = tuple(c.reliability.edges for c in measurement.classes)
    if task is Task.TOP_LABEL or all(np.array_equal(e, top) for e in classes):
        return BinEdges(top)
    return BinEdges(top, classes)


def replicate_values(source: BatchSource, measurement: Measurement, need: set[str], replicates: int, seed: int,
                     key_on_ids: bool) -> dict[str, np.ndarray]:
    """Each needed metric in every replicate, shape (replicates,) (NaN where undefined), in one pass over ``source``."""
    edges = edges_of(measurement, source.info.task)
    state = measure_state(source, edges, replicates, seed, key_on_ids, replicate_classes=bool(need & CLASS_METRICS))
    got = state.replicate_metrics()
    return {m: got.get(m, np.full(replicates, np.nan)) for m in need}


def interval(values: np.ndarray) -> tuple[float, float] | None:
    """The percentile 95% interval of the finite replicate values (None without any)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    lo, hi = np.quantile(v, [0.025, 0.975])
    return float(lo), float(hi)
