"""Temperature fits from derivative sums: the per-row derivatives, their mergeable sums, and the Newton driver.

The NLL of softmax(beta z) (multilabel: sigmoid, summed over labels) is convex in
beta = 1/T. A pass over some rows adds, per parameter (a fold's model, the
all-rows model, a label), the weight and the sums of the first three derivatives
in beta at that parameter's current beta (:class:`TemperatureSums`, a partial
state: ``merge`` adds, ``finalize`` divides). :class:`TemperatureFitter` turns
the merged sums of a pass into one safeguarded Newton step per parameter
(:class:`calibcli.calibrators.newton.Newton`); the next pass evaluates at the new
betas, until every parameter has converged. Nothing here depends on how rows are
batched: the sums of a pass are the same (up to float rounding) for any split.

Scale: logits are used times a power of two ``inv_scale`` (exact), so logits
near 1e308 neither overflow nor lose digits; betas are in those scaled units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.calibrators.newton import TOL, Newton
from calibcli.predictions import Task
from calibcli.stats.base import Arrays, scalar

T_MIN, T_MAX = 1e-3, 1e3  # the search range of T (widened by the largest logit gap); a fit at an end is flagged
T_CAP = 1e308  # T never exceeds this (a finite float for the calibrator file)
CHUNK_ROWS = 8192  # rows per block in the softmax passes (keeps blocks in cache)
GAP_PRESCALE = 0.25  # logit gaps are kept times 1/4 until the scale is known, so max - min never overflows
COLUMN_LOOP_MAX = 32  # row maxima by a loop over columns (fast for few classes)


def row_max(z: np.ndarray) -> np.ndarray:
    """Maximum of each row (a loop over columns for few columns: much faster than ``max(axis=1)``).

    >>> row_max(np.array([[1.0, 3.0], [2.0, -1.0]])).tolist()
    [3.0, 2.0]
    """
    if z.shape[1] > COLUMN_LOOP_MAX or z.shape[1] == 0:
        return z.max(axis=1, initial=-np.inf)
    out = z[:, 0].copy()
    for j in range(1, z.shape[1]):
        np.maximum(out, z[:, j], out=out)
    return out


def row_min(z: np.ndarray) -> np.ndarray:
    """Minimum of each row (see :func:`row_max`)."""
    if z.shape[1] > COLUMN_LOOP_MAX or z.shape[1] == 0:
        return z.min(axis=1, initial=np.inf)
    out = z[:, 0].copy()
    for j in range(1, z.shape[1]):
        np.minimum(out, z[:, j], out=out)
    return out


def softmax_row_derivs(z: np.ndarray, labels: np.ndarray, beta_row: np.ndarray,
                       inv_scale: float = 1.0) -> np.ndarray:
    """Per row, the derivatives in beta of logsumexp(beta z) - beta z_y at the row's beta.

    ``z`` (n, K) is used times ``inv_scale`` (a power of two); any float dtype
    (blocks are converted to float64). Returns (4, n): the first derivative
    (softmax mean of d minus d_y, with d = z - max z), then the second, third and
    fourth (the variance, third central moment and fourth cumulant of d under
    softmax(beta z)).

    >>> softmax_row_derivs(np.array([[0.0, 0.0]]), np.array([0]), np.array([1.0]))[:, 0].tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    n, k = z.shape
    out = np.empty((4, n))
    if n == 0:
        return out
    from calibcli.kernels import use_compiled

    if k and use_compiled(z.size):  # one compiled pass per row (calibcli.kernels.softmax), the same sums to rounding
        from calibcli.kernels.softmax import softmax_row_derivs_into

        zf = z if z.dtype == np.float32 or z.dtype == np.float64 else z.astype(np.float64)
        softmax_row_derivs_into(zf, np.ascontiguousarray(labels, dtype=np.int64),
                                np.ascontiguousarray(beta_row, dtype=np.float64), inv_scale, out)
        return out
    ones = np.ones(k)
    chunk = min(CHUNK_ROWS, n)
    d_buf, e_buf = np.empty((chunk, k)), np.empty((chunk, k))
    flat_row = np.arange(chunk) * k
    with np.errstate(over="ignore", under="ignore"):  # beta * d -> -inf is exp -> 0, as it should be
        for s in range(0, n, chunk):
            zc = z[s:s + chunk]
            c = zc.shape[0]
            d, e = d_buf[:c], e_buf[:c]
            np.multiply(zc, inv_scale, out=d, dtype=np.float64)  # exact: a power of two (float32 widened first)
            zmax = row_max(d)
            dy = np.take(d, flat_row[:c] + labels[s:s + c]) - zmax  # the label's logit (a flat take: fast)
            d -= zmax[:, None]  # d <= 0, so exp never overflows
            np.multiply(d, beta_row[s:s + c, None], out=e)
            np.exp(e, out=e)
            s0 = e @ ones
            raw = []
            for _ in range(4):
                e *= d
                raw.append((e @ ones) / s0)
            mu, r2, r3, r4 = raw
            mu2 = mu * mu
            var = r2 - mu2
            out[0, s:s + c] = mu - dy
            out[1, s:s + c] = var
            out[2, s:s + c] = r3 - 3.0 * mu * r2 + 2.0 * mu2 * mu
            out[3, s:s + c] = r4 - 4.0 * mu * r3 + 6.0 * mu2 * r2 - 3.0 * mu2 * mu2 - 3.0 * var * var
    return out


def sigmoid_entry_derivs(z: np.ndarray, y: np.ndarray, beta: np.ndarray, inv_scale: float = 1.0) -> np.ndarray:
    """Per entry, the first four derivatives in beta of the binary cross-entropy of sigmoid(beta z) against y.

    ``beta`` broadcasts against ``z`` (one per entry, per row or per column); returns (4, *z.shape).
    """
    from scipy.special import expit

    zs = np.multiply(z, inv_scale, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        s = expit(zs * beta)
    v = s * (1.0 - s)
    zz = zs * zs
    h = v * zz
    return np.stack([(s - y) * zs, h, h * (1.0 - 2.0 * s) * zs, h * (1.0 - 6.0 * v) * zz])


class TemperatureSums:
    """Per parameter: weight (rows), and weighted sums of the first four NLL derivatives in beta.

    A partial state: ``add`` in place, ``merge`` new, ``finalize`` the means
    (division only there; a parameter without rows gets 0 derivatives).

    >>> s = TemperatureSums(2).add(np.array([0, 1, 1]), np.array([[1.0, 2.0, 4.0], [1, 1, 1], [0, 0, 0], [0, 0, 0]]))
    >>> s.finalize()[0].tolist(), s.rows.tolist()
    ([1.0, 3.0], [1, 2])
    """

    def __init__(self, n_params: int):
        self.n_params = int(n_params)
        self.rows = np.zeros(self.n_params, dtype=np.int64)
        self.weight = np.zeros(self.n_params)
        self.sums = np.zeros((4, self.n_params))

    def add(self, param: np.ndarray, terms: np.ndarray, weight: np.ndarray | None = None) -> "TemperatureSums":
        """Add row (or entry) terms (4, ...): ``param`` holds each term's parameter index (shape ``terms[0]``)."""
        p = np.asarray(param).reshape(-1)
        m = self.n_params
        w = None if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
        if isinstance(terms, np.ndarray) and terms.shape[0] == 4 and terms.size == 4 * p.size and p.dtype.kind == "i":
            from calibcli.kernels import use_compiled

            # work: rows (a row's six additions cost about what a score costs the softmax kernels; never more than
            # the scores of the same rows, so these sums do not pay numba's import before the softmax does)
            if use_compiled(p.size):
                from calibcli.kernels.grouped import param_sums

                got = param_sums(p, terms.reshape(4, -1), w, m)  # the bincounts' sums, added in the same order
                if got is not None:
                    self.rows += got[0].astype(np.int64)
                    self.weight += got[1]
                    self.sums += got[2:]
                    return self
        self.rows += np.bincount(p, minlength=m)
        self.weight += np.bincount(p, weights=w, minlength=m) if w is not None else np.bincount(p, minlength=m)
        for i in range(4):
            v = np.asarray(terms[i]).reshape(-1)
            self.sums[i] += np.bincount(p, weights=v if w is None else v * w, minlength=m)
        return self

    def merge(self, other: "TemperatureSums") -> "TemperatureSums":
        if not isinstance(other, TemperatureSums) or other.n_params != self.n_params:
            raise ValueError("cannot merge temperature sums of different parameters")
        out = TemperatureSums(self.n_params)
        out.rows, out.weight, out.sums = self.rows + other.rows, self.weight + other.weight, self.sums + other.sums
        return out

    def finalize(self) -> np.ndarray:
        """Mean first to fourth derivatives per parameter, (4, P)."""
        return self.sums / np.where(self.weight > 0, self.weight, 1.0)

    def to_arrays(self) -> Arrays:
        return {"n_params": self.n_params, "rows": self.rows.copy(), "weight": self.weight.copy(), "sums": self.sums.copy()}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "TemperatureSums":
        out = cls(scalar(arrays["n_params"]))
        out.rows = np.array(arrays["rows"], dtype=np.int64)
        out.weight = np.array(arrays["weight"], dtype=np.float64)
        out.sums = np.array(arrays["sums"], dtype=np.float64).reshape(4, out.n_params)
        return out


@dataclass(frozen=True)
class ParamLayout:
    """How rows map to temperature parameters.

    ``n_models`` fits (folds, the all-rows fit, or one); multilabel with
    ``per_label`` has one parameter per (model, label): index ``model * K + j``.
    """

    task: Task
    n_models: int = 1
    n_cols: int = 1  # K for a multilabel per-label fit, else 1

    @property
    def n_params(self) -> int:
        return self.n_models * self.n_cols


def accumulate(sums: TemperatureSums, layout: ParamLayout, z: np.ndarray, labels: np.ndarray,
               model_layers: list[np.ndarray], beta: np.ndarray, active: np.ndarray, inv_scale: float,
               weight: np.ndarray | None = None) -> TemperatureSums:
    """Add the derivative terms of some rows at the current betas to ``sums``.

    ``model_layers``: arrays (n,) of model indices (-1: the row is not in a model
    of this layer); each layer is one derivative evaluation of its rows. Rows
    whose parameter has converged (``active`` False) are skipped.
    """
    multilabel = layout.task is Task.MULTILABEL
    for model in model_layers:
        member = model >= 0
        if multilabel and layout.n_cols > 1:
            k = z.shape[1]
            param = model[:, None] * k + np.arange(k)[None, :]
            keep = member & active[np.maximum(param, 0)].any(axis=1)
        else:
            param = model
            keep = member & active[np.maximum(model, 0)]
        if not keep.any():
            continue
        if keep.all():
            zr, yr, pr, wr = z, labels, param, weight
        else:
            rows = np.flatnonzero(keep)
            zr, yr, pr, wr = z[rows], labels[rows], param[rows], None if weight is None else weight[rows]
        if not multilabel:
            sums.add(pr, softmax_row_derivs(zr, yr, beta[pr], inv_scale), wr)
        elif layout.n_cols > 1:
            sums.add(pr, sigmoid_entry_derivs(zr, yr, beta[pr], inv_scale), None if wr is None else np.repeat(wr, z.shape[1]))
        else:
            sums.add(pr, sigmoid_entry_derivs(zr, yr, beta[pr][:, None], inv_scale).sum(axis=2), wr)
    return sums


def search_range(gap_s: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The search range of T per parameter, in scaled units: [T_MIN min(1, G), T_MAX max(1, G)], capped.

    ``gap_s`` is the largest logit gap G of each parameter's rows, in scaled units.
    """
    spread = gap_s > 0
    one_s = 1.0 / scale  # T = 1 in scaled units
    with np.errstate(over="ignore"):
        t_lo_s = T_MIN * np.where(spread, np.minimum(gap_s, one_s), one_s)
        t_hi_s = np.minimum(T_MAX * np.maximum(gap_s, one_s), T_CAP / scale)
    return t_lo_s, t_hi_s


class TemperatureFitter:
    """The Newton iteration of every temperature parameter, fed one pass of sums at a time.

    Parameters
    ----------
    scale : float
        The power of two the logits are divided by (``inv_scale = 1 / scale``).
    gap_s : ndarray (P,)
        Largest logit gap of each parameter's rows, in scaled units.
    init_t : ndarray (P,) or None
        Starting T (default 1).
    tol : float
        Relative tolerance on 1/T.
    """

    def __init__(self, layout: ParamLayout, scale: float, gap_s: np.ndarray, init_t: np.ndarray | None = None,
                 tol: float = TOL):
        self.layout, self.scale = layout, float(scale)
        self.gap_s = np.asarray(gap_s, dtype=np.float64)
        self.t_lo_s, self.t_hi_s = search_range(self.gap_s, self.scale)
        b_lo, b_hi = 1.0 / self.t_hi_s, 1.0 / self.t_lo_s
        p = layout.n_params
        t_init = np.ones(p) if init_t is None else np.broadcast_to(np.asarray(init_t, dtype=np.float64), (p,))
        self.newton = Newton(self.scale / t_init, b_lo, b_hi, tol)
        self.rows = np.zeros(p, dtype=np.int64)

    @property
    def done(self) -> bool:
        return self.newton.done

    @property
    def beta(self) -> np.ndarray:
        return self.newton.beta

    @property
    def active(self) -> np.ndarray:
        return self.newton.active.copy() if not self.done else np.zeros_like(self.newton.active)

    def new_sums(self) -> TemperatureSums:
        return TemperatureSums(self.layout.n_params)

    def observe(self, sums: TemperatureSums) -> None:
        """One Newton step from the merged sums of a pass at ``beta``."""
        g, h, t3, t4 = sums.finalize()
        self.rows = np.maximum(self.rows, sums.rows)
        self.newton.observe(g, h, t3, t4)

    def outcome(self) -> dict:
        """Per parameter: T, the bound flags and ranges (fields of ``TemperatureFit``)."""
        nt, c = self.newton, self.scale
        beta = nt.beta
        b_lo, b_hi = nt.b_lo, nt.b_hi
        at_end = nt.at_end | ((beta >= b_hi) & (nt.last_grad < 0)) | ((beta <= b_lo) & (nt.last_grad > 0))
        # loss and curvature exactly 0 with logits that differ: every softmax is one-hot on its label (the
        # scores separate the classes), so the NLL is lowest as T -> 0
        separated = nt.dead & (self.gap_s > 0)
        at_bound = at_end | nt.flat | separated
        decreasing = at_bound & ((nt.last_grad < 0) | separated)
        return {"temperature": c / beta, "iterations": nt.iterations, "at_bound": at_bound, "at_range_end": at_end,
                "t_range": np.column_stack([c * self.t_lo_s, c * self.t_hi_s]), "decreasing_t": decreasing,
                "scale": c, "beta": beta.copy(), "beta_bounds": np.column_stack([b_lo, b_hi])}
