"""ICI, E50, E90 and Emax (Austin & Steyerberg, Stat Med 2019) from a fine mergeable histogram.

Austin & Steyerberg smooth the outcomes against the predicted probabilities with R's
``loess`` (defaults: span 0.75, degree 2, tricube weights, no robustness iterations) and
summarise ``|p - f(p)|`` over the distribution of ``p``: ICI is its mean, E50 and E90
its median and 90th percentile, Emax its maximum.

calib's smoother, computed from the 4096-bucket :class:`FineHistogram` so it streams:
**loess on the bucket means** -- every non-empty bucket is one point at its weighted mean
score with its weight and weighted outcome sum; at each such point a weighted local
polynomial (degree 2 by default, or 1) with tricube kernel weights is fitted over the
nearest buckets holding a fraction ``span`` (0.75) of the total weight (the radius is
the distance to the farthest bucket needed, as loess's q-th nearest neighbour). The
curve is evaluated at the bucket means, and ICI, E50, E90 and Emax are weighted over
buckets (E50/E90: the smallest value whose cumulative weight reaches 50% / 90%). Up
to the bucketing (1/4096 in score) this is a direct loess of the rows; R's loess
additionally interpolates its fit over a kd-tree (``surface = "interpolate"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.statistics.smooth import DEFAULT_FINE_BINS, FineHistogram, FineHistogramResult
from calibcli.stats.base import Arrays, scalar

DEFAULT_SPAN = 0.75  # R loess
DEFAULT_DEGREE = 2  # R loess
_CHUNK = 256  # evaluation points per block of the (points x points) kernel matrix


@dataclass(frozen=True)
class IciResult:
    """ICI, E50, E90, Emax (NaN without weight) with the smoothed curve at the bucket means."""

    ici: float
    e50: float
    e90: float
    emax: float
    x: np.ndarray  # bucket means (ascending)
    fitted: np.ndarray  # smoothed observed frequency at x
    weight: np.ndarray  # weight per point
    rows: int


def _radii(x: np.ndarray, w: np.ndarray, span: float) -> np.ndarray:
    """Per point, the smallest radius whose window [x - h, x + h] holds a ``span`` share of the weight."""
    cw = np.concatenate([[0.0], np.cumsum(w)])
    target = min(span, 1.0) * cw[-1]
    far = np.maximum(x - x[0], x[-1] - x)
    lo, hi = np.zeros_like(x), far.copy()

    def held(h):
        return cw[np.searchsorted(x, x + h, side="right")] - cw[np.searchsorted(x, x - h, side="left")]

    for _ in range(64):
        mid = 0.5 * (lo + hi)
        enough = held(mid) >= target * (1 - 1e-12)
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    h = hi
    if span > 1:  # loess: beyond the data, widen the radius by span ** (1 / dimension)
        h = far * span
    return h


def loess_on_points(x: np.ndarray, w: np.ndarray, wy: np.ndarray, span: float = DEFAULT_SPAN,
                    degree: int = DEFAULT_DEGREE) -> np.ndarray:
    """Weighted local polynomial fit at each ``x`` of points (x, weight w, weighted outcome sum wy).

    >>> x = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    >>> np.round(loess_on_points(x, np.ones(5), x.copy(), span=1.0, degree=1), 12).tolist()
    [0.1, 0.3, 0.5, 0.7, 0.9]
    """
    if degree not in (1, 2):
        raise ValueError(f"degree must be 1 or 2, got {degree}")
    m = x.size
    if m == 0:
        return np.empty(0)
    h = _radii(x, w, span)
    fitted = np.empty(m)
    p = degree + 1
    for start in range(0, m, _CHUNK):
        sl = slice(start, min(start + _CHUNK, m))
        hh = np.where(h[sl] > 0, h[sl], 1.0)[:, None]  # a zero radius keeps only the point itself
        d = x[None, :] - x[sl, None]
        d /= hh  # offsets in units of the radius: same intercept, better conditioned
        u = np.abs(d)
        u *= u * u
        np.subtract(1.0, u, out=u)
        np.maximum(u, 0.0, out=u)
        k = u * u
        k *= u  # tricube (1 - |d|**3)**3 inside the radius, 0 outside
        zero = h[sl] <= 0
        if zero.any():
            k[zero] = (d[zero] == 0).astype(np.float64)
        s = np.empty((k.shape[0], 2 * degree + 1))
        t = np.empty((k.shape[0], p))
        kd = k
        for j in range(2 * degree + 1):  # s_j = sum K w d**j, t_j = sum K wy d**j
            s[:, j] = kd @ w
            if j < p:
                t[:, j] = kd @ wy
            if j < 2 * degree:
                kd = kd * d
        a = np.stack([s[:, i:i + p] for i in range(p)], axis=1)  # Hankel (c, p, p)
        fitted[sl] = (np.linalg.pinv(a) @ t[:, :, None])[:, 0, 0]
    return fitted


def _weighted_quantile(values: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cw = np.cumsum(w[order])
    return float(values[order][np.searchsorted(cw, q * cw[-1] * (1 - 1e-12), side="left")])


def ici_from_histogram(hist: FineHistogramResult, span: float = DEFAULT_SPAN, degree: int = DEFAULT_DEGREE
                       ) -> IciResult:
    """ICI, E50, E90, Emax from a finalised :class:`FineHistogram` (see the module notes)."""
    keep = hist.sum_w > 0
    x, w, wy = hist.mean_scores()[keep], hist.sum_w[keep], hist.sum_wy[keep]
    if x.size == 0:
        nan = float("nan")
        return IciResult(nan, nan, nan, nan, x, x.copy(), w, hist.rows)
    fitted = loess_on_points(x, w, wy, span, degree)
    gap = np.abs(x - fitted)
    return IciResult(float(np.sum(w * gap) / w.sum()), _weighted_quantile(gap, w, 0.5),
                     _weighted_quantile(gap, w, 0.9), float(gap.max()), x, fitted, w, hist.rows)


class IciState:
    """Partial state of ICI/E50/E90/Emax: one :class:`FineHistogram`.

    >>> s = IciState().update(np.array([0.2, 0.5, 0.8]), np.array([0, 1, 1]))
    >>> s.merge(IciState().update(np.array([0.3]), np.array([0]))).finalize().rows
    4
    """

    def __init__(self, n_bins: int = DEFAULT_FINE_BINS, span: float = DEFAULT_SPAN, degree: int = DEFAULT_DEGREE):
        if not span > 0:
            raise ValueError(f"span must be > 0, got {span}")
        if degree not in (1, 2):
            raise ValueError(f"degree must be 1 or 2, got {degree}")
        self.hist = FineHistogram(n_bins)
        self.span = float(span)
        self.degree = int(degree)

    def update(self, conf, outcome, weight=None) -> "IciState":
        self.hist.update(conf, outcome, weight)
        return self

    def merge(self, other: "IciState") -> "IciState":
        if (other.span, other.degree) != (self.span, self.degree):
            raise ValueError("cannot merge ICI states with different span or degree")
        out = IciState(self.hist.n_bins, self.span, self.degree)
        out.hist = self.hist.merge(other.hist)
        return out

    def finalize(self) -> IciResult:
        return ici_from_histogram(self.hist.finalize(), self.span, self.degree)

    def to_arrays(self) -> Arrays:
        return {**self.hist.to_arrays(), "span": self.span, "degree": self.degree}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "IciState":
        out = cls(int(scalar(arrays["n_bins"])), float(scalar(arrays["span"])), int(scalar(arrays["degree"])))
        out.hist = FineHistogram.from_arrays(arrays)
        return out


def ici(y_true, y_prob, *, sample_weight=None, span: float = DEFAULT_SPAN, degree: int = DEFAULT_DEGREE,
        n_bins: int = DEFAULT_FINE_BINS) -> IciResult:
    """Integrated calibration index and E50/E90/Emax (Austin & Steyerberg 2019), loess on fine buckets.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes, 0/1 (or bool).
    y_prob : array-like of shape (n,)
        Predicted probabilities of the outcome, in [0, 1].
    sample_weight : array-like of shape (n,), optional
        Row weights.
    span : float, default 0.75
        Share of the weight in each local fit (R loess's ``span``).
    degree : {1, 2}, default 2
        Degree of the local polynomials (R loess's ``degree``).
    n_bins : int, default 4096
        Fine buckets the smoother runs on.

    Returns
    -------
    IciResult
        ``ici``, ``e50``, ``e90``, ``emax`` and the smoothed curve.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=2000)
    >>> r = ici((rng.uniform(size=2000) < p).astype(int), p)
    >>> r.ici < 0.03, r.e50 <= r.e90 <= r.emax
    (True, True)
    """
    return IciState(n_bins, span, degree).update(y_prob, y_true, sample_weight).finalize()
