"""Compiled grouped-bootstrap binned sums of :class:`calibcli.stats.bins.BinStats` (one pass over the rows).

The numpy reference (``BinStats._add_blocked``) bins every confidence with
:func:`calibcli.binning.assign_bins`, builds a flat ``(group, block, bin)`` index
and runs one ``bincount`` per sum. :func:`add_blocked` does the same in one pass:
each entry computes its bin (the same rule and the same result as ``assign_bins``)
and adds its row count and its ``w``, ``w*c``, ``w*y``, ``w*c*c``, ``w*c*y`` into a
scratch array of the block's sums, in row order (``bincount`` also adds in row order,
so the block sums are the same numbers); then the scratch is added into the
state's block sums and its sums over blocks into the totals, as the numpy code does.

The bin of a confidence ``c`` (as float64): NaN gets the bin ``assign_bins`` gives NaN
(on the equal-width path it comes from the platform's float -> int cast, bin 0 on
x86; by binary search, the last bin). With equal-width edges ``f = c * B`` gives bin
``floor(f)`` unless ``f`` is outside ``[0, B)`` or within 1e-9 of a whole number; those
(and every ``c`` with other edges) take the binary search ``searchsorted(edges, c,
side="left") - 1`` clipped to ``0 .. B-1``, which is what ``assign_bins`` does.
"""

from __future__ import annotations

import functools

import numpy as np

from calibcli.kernels import jit
from calibcli.kernels.shared import bin_of

CONF_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@functools.lru_cache(maxsize=64)
def _rule(edges_bytes: bytes) -> tuple[bool, int]:
    """(equal-width fast path, bin of NaN) of ``assign_bins`` for these edges (float64 bytes)."""
    from calibcli.binning import assign_bins, uniform_edges

    edges = np.frombuffer(edges_bytes, dtype=np.float64)
    b = edges.size - 1
    uniform = b > 1 and edges[0] == 0.0 and edges[-1] == 1.0 and np.array_equal(edges, uniform_edges(b))
    with np.errstate(invalid="ignore"):
        nan_bin = int(assign_bins(np.full(64, np.nan), edges)[0])
    return bool(uniform), nan_bin


def bin_rule(edges: np.ndarray) -> tuple[bool, int]:
    """Whether ``assign_bins`` takes its equal-width path for ``edges``, and the bin it gives NaN.

    >>> bin_rule(np.linspace(0.0, 1.0, 16))[0], bin_rule(np.array([0.0, 0.3, 1.0]))
    (True, (False, 1))
    """
    e = np.ascontiguousarray(edges, dtype=np.float64)
    return _rule(e.tobytes())


def supported(conf: np.ndarray, y: np.ndarray | None, labels: np.ndarray | None, n_bins: int) -> bool:
    """Whether :func:`add_blocked` covers these inputs and gives numpy's numbers.

    float32/float64 ``conf``; bool or numeric ``y``; integer labels; at least two bins
    (with one bin numpy sums the blocks pairwise, not in block order).
    """
    if n_bins < 2 or conf.dtype not in CONF_DTYPES:
        return False
    if y is not None and not (y.dtype.kind == "b" or y.dtype.kind in "iu" or y.dtype in CONF_DTYPES):
        return False
    return labels is None or labels.dtype.kind in "iu"


def add_blocked(conf: np.ndarray, y: np.ndarray | None, labels: np.ndarray | None, w: np.ndarray | None,
                group: np.ndarray | None, blk: np.ndarray, edges: np.ndarray, n_blocks: int,
                blocks: dict[str, np.ndarray], count: np.ndarray, sums: dict[str, np.ndarray]) -> None:
    """Add a block of rows to a ``BinStats`` state with bootstrap blocks, in place.

    Parameters
    ----------
    conf : array (n,) or (n, G), float32 or float64
        Confidences; with two dimensions column ``g`` is group ``g``.
    y : array like ``conf``, optional
        Outcomes (bool or numeric); exactly one of ``y`` and ``labels``.
    labels : int array (n,), optional
        One-vs-rest labels for 2-D ``conf`` (validated by the caller).
    w : float64 array (n,), optional
        Row weights (default 1).
    group : int array (n,), optional
        Group of each row for 1-D ``conf`` (validated by the caller; default 0).
    blk : int array (n,)
        Bootstrap block of each row in ``0 .. n_blocks - 1`` (validated by the caller).
    edges : float64 array (B + 1,)
        The state's bin edges.
    n_blocks : int
        ``M``.
    blocks, count, sums :
        The state's ``blocks`` (``(G, M, B)`` each), ``count`` ``(G, B)`` and ``sums``
        (``sum_w``, ``sum_wc``, ``sum_wy`` and with moments 2 ``sum_w2``, ``sum_wcc``, ``sum_wyy``).
    """
    uniform, nan_bin = bin_rule(edges)
    c2 = conf if conf.ndim == 2 else conf.reshape(-1, 1)
    if c2.ndim == 2 and not c2.flags.c_contiguous and c2.shape[1] > 1:
        c2 = np.ascontiguousarray(c2)  # one compiled layout for (n, G) scores
    # outcomes as float64 (what numpy sums) and integer inputs as intp: fewer compiled variants
    y2 = None if y is None else np.asarray(y, dtype=np.float64).reshape(c2.shape)
    lab = None if labels is None else labels.astype(np.intp, copy=False)
    grp = None if group is None else group.astype(np.intp, copy=False)
    second = "sum_w2" in sums
    none = np.zeros((0, 0))
    # absent inputs are passed as None: numba compiles one kernel per shape without their branches
    _blocked(c2, y2, lab, w, grp, blk.astype(np.intp, copy=False), np.ascontiguousarray(edges, dtype=np.float64),
             uniform, nan_bin, count.shape[0], n_blocks, blocks["n"], blocks["w"], blocks["wc"], blocks["wy"],
             blocks["wcc"], blocks["wcy"], count, sums["sum_w"], sums["sum_wc"], sums["sum_wy"], second,
             sums.get("sum_w2", none), sums.get("sum_wcc", none), sums.get("sum_wyy", none))


@jit(helpers=(bin_of,))
def _blocked(conf, y, labels, w, group, blk, edges, uniform, nan_bin, n_groups, n_blocks, b_n, b_w, b_wc, b_wy,
             b_wcc, b_wcy, count, s_w, s_wc, s_wy, second, s_w2, s_wcc,
             s_wyy):  # pragma: no cover - compiled (the tests run it through numba and compare with numpy)
    n, k = conf.shape
    n_bins = edges.size - 1
    # scratch slots per flat (group, block, bin): n, w*c, w*c*c, w*y, w*c*y, then w, w*w, w*y*y when needed
    slots = 5
    i_w = 0
    i_w2 = 0
    i_wyy = 3  # one-vs-rest outcomes are 0/1: w*y*y = w*y
    if w is not None:
        i_w = slots
        slots += 1
        if second:
            i_w2 = slots
            slots += 1
    if y is not None:
        if second:
            i_wyy = slots
            slots += 1
    sc = np.zeros(n_groups * n_blocks * n_bins * slots)
    g_stride = n_blocks * n_bins * slots
    for i in range(n):
        base = blk[i] * n_bins
        wi = 1.0
        if w is not None:
            wi = w[i]
        lab = -1
        if labels is not None:
            lab = labels[i]
        for j in range(k):
            c = np.float64(conf[i, j])
            b = bin_of(c, edges, uniform, nan_bin, n_bins)  # the bin of c (assign_bins's rule)
            g = j
            if group is not None:
                g = group[i]
            o = g * g_stride + (base + b) * slots
            sc[o] += 1.0
            wc = c
            if w is not None:
                sc[o + i_w] += wi
                wc = wi * c
                if second:
                    sc[o + i_w2] += wi * wi
            sc[o + 1] += wc
            sc[o + 2] += wc * c
            if y is not None:
                yv = y[i, j]
                wy = yv
                if w is not None:
                    wy = wi * yv
                sc[o + 3] += wy
                sc[o + 4] += wy * c
                if second:
                    sc[o + i_wyy] += wy * yv
            if labels is not None:
                if j == lab:  # the true class of a one-vs-rest row: outcome 1
                    sc[o + 3] += wi
                    sc[o + 4] += wc
    # add the block sums, and their sums over blocks (in block order, as numpy's sum(axis=1)) to the totals;
    # a cell without rows adds only zeros, which changes nothing
    # (without weights slot i_w = i_w2 = 0 is the row count: w = w*w = 1 per row)
    tot = np.zeros((n_bins, 7))  # n, w, wc, wy, wcc, w2, wyy
    for g in range(n_groups):
        tot[:] = 0.0
        for m in range(n_blocks):
            e0 = (g * n_blocks + m) * n_bins
            for b in range(n_bins):
                o = (e0 + b) * slots
                v_n = sc[o]
                if v_n == 0.0:
                    continue
                v_w = sc[o + i_w]
                b_n[g, m, b] += v_n
                b_w[g, m, b] += v_w
                b_wc[g, m, b] += sc[o + 1]
                b_wy[g, m, b] += sc[o + 3]
                b_wcc[g, m, b] += sc[o + 2]
                b_wcy[g, m, b] += sc[o + 4]
                tot[b, 0] += v_n
                tot[b, 1] += v_w
                tot[b, 2] += sc[o + 1]
                tot[b, 3] += sc[o + 3]
                tot[b, 4] += sc[o + 2]
                tot[b, 5] += sc[o + i_w2]
                tot[b, 6] += sc[o + i_wyy]
        for b in range(n_bins):
            count[g, b] += np.int64(tot[b, 0])
            s_w[g, b] += tot[b, 1]
            s_wc[g, b] += tot[b, 2]
            s_wy[g, b] += tot[b, 3]
            if second:
                s_wcc[g, b] += tot[b, 4]
                s_w2[g, b] += tot[b, 5]
                s_wyy[g, b] += tot[b, 6]
