"""One compiled pass per row of the audit's measurement (binary/multiclass, grouped bootstrap).

:meth:`calibcli.measure.MeasureState._update` turns a batch into probabilities (a softmax of
the logits, kernels/softmax.py), summarises each row (kernels/rows.py), bins the top-label
confidence and every class probability into the bootstrap blocks' sums (kernels/bins.py)
and adds per-class and per-block scalars; each step passes over the whole batch.
:func:`measure_rows` does it all row by row: each row's probabilities live only in a small
local buffer, and every sum gets the same numbers as the steps above:

- probabilities: the softmax of :func:`calibcli.kernels.softmax.scaled_softmax_into` (its
  compiled ``exp``, the same per-block huge-logit rescale over ``block_rows`` rows, the row
  sums in numpy's order), or given probabilities read as they are;
- argmax (ties: the lowest index), confidence, the true class's probability and the sum
  of squares as :func:`calibcli.kernels.rows.top_rows`; Brier ``sq - 2 p_true + 1`` and
  NLL ``-log(max(p_true, 1e-12))`` (the C library's ``log``: numpy's may differ by an ulp);
- the top-label curve and the class curves (one-vs-rest, shared edges) binned as
  :func:`calibcli.binning.assign_bins` does and summed per chunk of ``chunk_rows`` rows into
  a scratch array, then added to the state's block sums and totals, as
  :func:`calibcli.kernels.bins.add_blocked` does for each chunk of ``BinStats.update``;
- each step of rows holds its probabilities column-major in an L1-sized buffer
  (:func:`calibcli.kernels.softmax.softmax_cols`), so the argmax and the sums of squares run
  across rows (vectorised), each row still taking its columns in order; then the per-row terms
  in row order, the bins of the step's confidences and probabilities (a vectorised loop,
  :func:`calibcli.kernels.shared.bins_into`), and the curves' sums in row order; so every
  cell, block and class adds its rows in row order;
- per batch, in row order: the per-class counts (support, predicted), the sums of
  ``p_ik^2`` per class and of the true class's probability per class, and the per-block
  rows, correct, Brier and NLL (``np.bincount``'s order).

The per-row (correct, Brier, NLL) are returned, for the caller's numpy sums (pairwise, as
``ScalarSums.update``).

Development note: numba's disk cache of this module's kernel does not notice a change of
kernels/softmax.py's compiled ``exp``; after editing it, delete ``calibcli/kernels/__pycache__``.
"""

from __future__ import annotations

import math

import numpy as np

from calibcli.kernels import jit
from calibcli.kernels.shared import bins_into, block_maxima
from calibcli.kernels.softmax import EXP_CHUNK, NARROW_COLUMNS, softmax_cols, sum_plan
from calibcli.kernels.bins import bin_rule

SLOTS = 5  # scratch sums per (group, block, bin): rows, c, c*c, y, c*y
NLL_CLIP = 1e-12  # calibcli.metrics.NLL_CLIP


def _flush(sc, n_groups, n_blocks, n_bins, b_n, b_w, b_wc, b_wy, b_wcc, b_wcy, count, s_w, s_wc, s_wy,
           tot):  # pragma: no cover - compiled (kernels.jit helpers)
    """Add a chunk's scratch sums (block-major: (block, group, bin, slot)) to a state's block sums, and their sums
    over blocks (in block order) to its totals; then zero the scratch."""
    for g in range(n_groups):
        tot[:] = 0.0
        for m in range(n_blocks):
            e0 = (m * n_groups + g) * n_bins  # block-major: a row's cells of every class lie together
            for b in range(n_bins):
                o = (e0 + b) * SLOTS
                v_n = sc[o]
                if v_n == 0.0:
                    continue
                b_n[g, m, b] += v_n
                b_w[g, m, b] += v_n
                b_wc[g, m, b] += sc[o + 1]
                b_wy[g, m, b] += sc[o + 3]
                b_wcc[g, m, b] += sc[o + 2]
                b_wcy[g, m, b] += sc[o + 4]
                tot[b, 0] += v_n
                tot[b, 1] += sc[o + 1]
                tot[b, 2] += sc[o + 3]
                for s in range(SLOTS):
                    sc[o + s] = 0.0
        for b in range(n_bins):
            count[g, b] += np.int64(tot[b, 0])
            s_w[g, b] += tot[b, 0]
            s_wc[g, b] += tot[b, 1]
            s_wy[g, b] += tot[b, 2]


def measure_rows(z: np.ndarray, logits: bool, inv: np.ndarray, inv_step: int, block_rows: int, huge: float,
                 labels: np.ndarray, blk: np.ndarray, n_blocks: int, edges: np.ndarray, chunk_rows: int,
                 top: tuple, per_class: tuple) -> tuple | None:
    """Add a batch's rows to the arrays of a ``MeasureState`` (binary/multiclass, shared edges, blocks).

    Parameters
    ----------
    z : array (n, K), float32 or float64, C-contiguous
        Logits (``logits`` True: row ``i`` is ``softmax(z_i * inv[i * inv_step])`` as
        ``scaled_softmax`` computes it) or probabilities (float64, used as they are).
    inv, inv_step : float64 array and 0 or 1
        1/T of every row (``inv_step`` 1) or of all rows (``inv[0]``, ``inv_step`` 0).
    block_rows, huge :
        The softmax's rescale blocks and threshold (``SOFTMAX_BLOCK_ROWS``, ``2.0 ** HUGE_EXP``).
    labels, blk : int arrays (n,)
        Class and bootstrap block of every row.
    n_blocks : int
        ``M``.
    edges : float64 array (B + 1,), B >= 2
        The bin edges of the top curve and of every class curve.
    chunk_rows : int
        Rows per chunk of ``BinStats.update`` (``BLOCK_ROWS``).
    top, per_class : tuple
        ``(blocks, count, sums)`` of the top-label ``BinStats`` (one group) and of the class
        ``BinStats`` (K groups); updated in place.

    Returns
    -------
    tuple or None
        ``(counts (2, K) int64: support and predicted, class_ab (2, K): sums of p_ik^2 and of
        p_true per true class, block_scalars (M, 4): rows, correct, Brier, NLL per block,
        terms (3, n): correct, Brier, NLL per row)``, to be added by the caller; None (and
        nothing touched) when a label or block is out of range.
    """
    n, k = z.shape
    n_bins = edges.size - 1
    uniform, nan_bin = bin_rule(edges)
    rows = max(1, min(n, EXP_CHUNK // k))
    plan = sum_plan(k, NARROW_COLUMNS)
    f = np.empty(rows * k)
    counts = np.zeros((2, k), dtype=np.int64)
    class_ab = np.zeros((2, k))
    scalars = np.zeros((n_blocks, 4))
    terms = np.empty((3, n))
    (tb, tc, ts), (cb, cc, cs) = top, per_class
    ok = _measure(z, logits, inv, inv_step, block_rows, huge, plan, labels.astype(np.intp, copy=False),
                  blk.astype(np.intp, copy=False), np.ascontiguousarray(edges, dtype=np.float64), uniform, nan_bin,
                  n_blocks, chunk_rows,
                  tb["n"], tb["w"], tb["wc"], tb["wy"], tb["wcc"], tb["wcy"], tc, ts["sum_w"], ts["sum_wc"], ts["sum_wy"],
                  cb["n"], cb["w"], cb["wc"], cb["wy"], cb["wcc"], cb["wcy"], cc, cs["sum_w"], cs["sum_wc"], cs["sum_wy"],
                  counts, class_ab, scalars, terms, np.empty(rows * k), np.empty(rows * k), f, f.view(np.int64),
                  np.empty(min(block_rows, n)), np.empty(max(1, plan.shape[0])),
                  np.zeros(n_blocks * n_bins * SLOTS), np.zeros(k * n_blocks * n_bins * SLOTS), np.zeros((n_bins, 3)),
                  np.empty(rows), np.empty(rows, dtype=np.intp), np.empty(rows * k, dtype=np.intp),
                  np.empty(rows, dtype=np.intp), np.empty(rows), np.empty(rows * k))
    return (counts, class_ab, scalars, terms) if ok else None


@jit(helpers=(block_maxima, softmax_cols, bins_into, _flush))
def _measure(z, logits, inv, inv_step, block_rows, huge, plan, labels, blk, edges, uniform, nan_bin, n_blocks,
             chunk_rows, t_n, t_w, t_wc, t_wy, t_wcc, t_wcy, t_count, t_sw, t_swc, t_swy,
             c_n, c_w, c_wc, c_wy, c_wcc, c_wcy, c_count, c_sw, c_swc, c_swy,
             counts, class_ab, scalars, terms, pb, xb, f, fi, zmax, stack, sc_top, sc_cls,
             tot, conf, conf_bin, prob_bin, best, sq, eb):  # pragma: no cover - compiled (tests compare it with numpy)
    n, k = z.shape
    n_bins = edges.size - 1
    for i in range(n):
        if labels[i] < 0 or labels[i] >= k or blk[i] < 0 or blk[i] >= n_blocks:
            return False
    rows = pb.shape[0] // k
    for s in range(0, n, block_rows):
        e = min(s + block_rows, n)
        big = False
        if logits:  # row maxima and the block's choice of the huge-logit rescale (as _scaled_softmax)
            nan, hi, lo = block_maxima(z, s, e, zmax)
            big = (not nan) and (hi > huge or -lo > huge)
        a = s
        while a < e:
            b = min(a + rows, e, (a // chunk_rows + 1) * chunk_rows)  # never across a chunk of BinStats.update
            w = b - a  # the step's probabilities are column-major: row i, class j at pb[j * w + i]
            if logits:
                # (sq is its scratch for the row sums here; it is reset below)
                softmax_cols(z, a, b, s, inv, inv_step, zmax, big, plan, xb, eb, pb, f, fi, stack, sq)
            else:
                for j in range(k):
                    for i in range(w):
                        pb[j * w + i] = z[a + i, j]
            # argmax (ties: the lowest index), confidence and sum of squares of every row, across rows
            for i in range(w):
                conf[i] = pb[i]
                best[i] = 0
                sq[i] = 0.0
            for j in range(k):
                for i in range(w):
                    v = pb[j * w + i]
                    sq[i] += v * v
                    up = v > conf[i]  # strict: ties keep the lowest index (np.argmax); selects, not a branch
                    best[i] = j if up else best[i]
                    conf[i] = v if up else conf[i]
            for i in range(w):  # the per-row terms, in row order
                r = a + i
                lab = labels[r]
                mb = blk[r]
                pt = pb[lab * w + i]
                counts[0, lab] += 1
                counts[1, best[i]] += 1
                class_ab[1, lab] += pt
                cor = 1.0 if best[i] == lab else 0.0
                brier = sq[i] - 2.0 * pt + 1.0
                nll = -math.log(pt if not pt < NLL_CLIP else NLL_CLIP)
                terms[0, r] = cor
                terms[1, r] = brier
                terms[2, r] = nll
                scalars[mb, 0] += 1.0
                scalars[mb, 1] += cor
                scalars[mb, 2] += brier
                scalars[mb, 3] += nll
            # the bins of the step's confidences and probabilities, in loops the compiler vectorises
            bins_into(conf, w, edges, uniform, nan_bin, n_bins, conf_bin)
            bins_into(pb, w * k, edges, uniform, nan_bin, n_bins, prob_bin)
            for i in range(w):  # the curves' sums and the per-class sums of squares, in row order
                r = a + i
                lab = labels[r]
                mb = blk[r]
                # the top-label curve: confidence mx, outcome correct
                mx = conf[i]
                cor = terms[0, r]
                ot = (mb * n_bins + conf_bin[i]) * SLOTS
                sc_top[ot] += 1.0
                sc_top[ot + 1] += mx
                sc_top[ot + 2] += mx * mx
                sc_top[ot + 3] += cor
                sc_top[ot + 4] += cor * mx
                # the class curves: one-vs-rest, outcome 1 for the true class
                base = mb * k
                for j in range(k):
                    c = pb[j * w + i]
                    class_ab[0, j] += c * c
                    oc = ((base + j) * n_bins + prob_bin[j * w + i]) * SLOTS
                    sc_cls[oc] += 1.0
                    sc_cls[oc + 1] += c
                    sc_cls[oc + 2] += c * c
                # outcome 1 for the true class (after the loop: a branch on j == lab inside it mispredicts once a row)
                c = pb[lab * w + i]
                oc = ((base + lab) * n_bins + prob_bin[lab * w + i]) * SLOTS
                sc_cls[oc + 3] += 1.0
                sc_cls[oc + 4] += c
            a = b
            if a % chunk_rows == 0 or a == n:
                _flush(sc_top, 1, n_blocks, n_bins, t_n, t_w, t_wc, t_wy, t_wcc, t_wcy, t_count, t_sw, t_swc, t_swy,
                       tot)
                _flush(sc_cls, k, n_blocks, n_bins, c_n, c_w, c_wc, c_wy, c_wcc, c_wcy, c_count, c_sw, c_swc, c_swy,
                       tot)
    return True
