"""The audit's measurement of a binary/multiclass batch in one compiled pass per row.

:meth:`calibcli.measure.MeasureState.update` calls :func:`update_fused` first; it applies to
binary and multiclass tasks with bootstrap blocks or none (not per-row replicates), edges shared by every
class and float scores, when the source chose the compiled kernels (:mod:`calibcli.kernels`), and gives the
same sums as the numpy path (:mod:`calibcli.kernels.measure`). Logits whose probabilities were
not computed yet go through their softmax row by row, never stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from calibcli.predictions import Predictions, Task

if TYPE_CHECKING:
    from calibcli.measure import MeasureState


def fused_scores(state: "MeasureState", p: Predictions) -> tuple[np.ndarray, bool, np.ndarray] | None:
    """(scores, are they logits, 1/T of every row or of all rows) for :func:`calibcli.kernels.measure.measure_rows`.

    Logits whose probabilities were not computed yet (``LazyPredictions``, ``TemperedPredictions``),
    else the probabilities; None when the fused pass does not apply (task, bins, dtype).
    """
    from calibcli.predictions import LazyPredictions, TemperedPredictions, exact_logits

    if state.task not in (Task.BINARY, Task.MULTICLASS) or state.edges.classes is not None or state.top.n_bins < 2:
        return None
    got = None
    if isinstance(p, TemperedPredictions):
        got = p.scores_and_inverse()
    elif isinstance(p, LazyPredictions) and p._probs is None:
        z = exact_logits(p)
        got = None if z is None else (z, np.ones(1))
    if got is not None:
        z, inv = got
        logits = True
    else:
        z, inv, logits = p.probs, np.ones(1), False
    if z.ndim != 2 or z.shape[1] != state.n_classes or z.dtype not in (np.float32, np.float64):
        return None
    return np.ascontiguousarray(z), logits, inv


def _one_block(stats) -> dict[str, np.ndarray]:
    """Block sums of one block for a ``BinStats`` without blocks (those of a one-block ``BinStats`` like it): the
    kernel adds each chunk to them and to the totals; only the totals are kept."""
    from calibcli.stats.bins import BinStats

    return BinStats(stats.edges, stats.n_groups, n_blocks=1).blocks


def update_fused(state: "MeasureState", p: Predictions, blk: np.ndarray | None) -> bool:
    """Add a binary/multiclass batch with blocks ``blk`` (None: a state without bootstrap blocks) to ``state``
    in one compiled pass per row (in place); False (nothing added) when it does not apply.

    The same sums as the numpy path (:mod:`calibcli.kernels.measure`); when the batch holds logits
    their softmax is computed row by row, never stored. Without blocks every row goes to one block whose
    sums are dropped: each chunk's sums reach the totals as ``BinStats.update`` adds them.
    """
    from calibcli import kernels

    n = p.n_samples
    if n == 0 or not kernels.use_compiled(n * state.n_classes):
        return False
    got = fused_scores(state, p)
    if got is None:
        return False
    z, logits, inv = got
    from calibcli.binning import BLOCK_ROWS
    from calibcli.kernels.measure import measure_rows
    from calibcli.predictions import HUGE_EXP, SOFTMAX_BLOCK_ROWS

    top, cls = state.top, state.per_class[0]
    if blk is None:
        blk, n_blocks, top_blocks, cls_blocks = np.zeros(n, dtype=np.intp), 1, _one_block(top), _one_block(cls)
    else:
        n_blocks, top_blocks, cls_blocks = state.n_blocks, top.blocks, cls.blocks
    out = measure_rows(z, logits, inv, 0 if inv.size == 1 else 1, SOFTMAX_BLOCK_ROWS, 2.0 ** HUGE_EXP, p.labels, blk,
                       n_blocks, state.top.edges, BLOCK_ROWS, (top_blocks, top.count, top.sums),
                       (cls_blocks, cls.count, cls.sums))
    if out is None:
        return False
    counts, class_ab, block_scalars, terms = out
    state.support += counts[0]
    state.predicted += counts[1]
    state.class_a += class_ab[0]
    state.class_b += class_ab[1]
    if state.n_blocks:
        state.block_scalars += block_scalars
    state.sums.update(p.labels, *terms)
    return True
