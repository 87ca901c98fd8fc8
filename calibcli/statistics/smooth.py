"""Smooth ECE (Błasiok & Nakkiran 2023) from a fine mergeable histogram, as relplot 1.0.3 computes it.

relplot's ``smECE(f, y)`` already discretises: for a bandwidth ``sigma`` it spreads
every row's residual ``r = f - y`` (and a unit mass) linearly over the two nearest
points of a grid of ``M = max(2000, round(20 / sigma)) // 2 + 1`` points on [0, 1]
(``smooth_round_to_grid``), convolves the grid with a Gaussian reflected at 0 and 1,
interpolates to ``max(200, round(10 / sigma))`` evaluation points and returns
``sum |r_s| * d / sum d`` with ``r_s = R / (D + 1e-4)`` and ``d = D + 1e-4``. The
bandwidth is chosen by relplot's search: ``sigma = 1`` if ``smECE_sigma(1) > 1``, else
10 steps of bisection on [0, 1] for the fixed point ``sigma = smECE_sigma(sigma)``,
returning the side where ``sigma >= smECE_sigma(sigma)`` (stopping below 0.001).

A row's two grid weights are linear in the row's score, so the grid masses of all
rows of one fine bucket follow from the bucket's sums of ``w``, ``w f``, ``w y``,
``w f**2`` and ``w f y`` (:class:`FineHistogram`): exact (to rounding) whenever the
bucket lies inside one grid interval. A bucket that straddles a grid point is spread
with the weights of the interval holding its mean score; this keeps the bucket's mass
and first moment on the grid and moves only its second moment, an error far below
1e-5 with the default 2**12 buckets (tested against relplot on real files).

Sample weights act as row counts (an integer weight equals repeating the row), also
in relplot's absolute ``1e-4`` density floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.base import Arrays, scalar

DEFAULT_FINE_BINS = 1 << 12  # 4096 buckets x 5 sums x 8 bytes = 160 KiB per curve
_SUMS = ("sum_w", "sum_wp", "sum_wy", "sum_wpp", "sum_wpy")
_DENSITY_FLOOR = 1e-4  # relplot BaseKernelMixin.smooth(eps=0.0001)
_MESH_POINTS = 200  # relplot config.smECE_mesh_pts
_SEARCH_EPS = 0.001  # relplot smECE(eps=0.001)
_SEARCH_STEPS = 10  # relplot search_param(refine=10)


@dataclass(frozen=True)
class FineHistogramResult:
    """Per fine bucket (equal width on [0, 1]): weighted sums of 1, p, y, p**2 and p*y.

    ``rows`` counts every row; ``sum_w`` etc. have one entry per bucket.
    """

    edges: np.ndarray
    sum_w: np.ndarray
    sum_wp: np.ndarray
    sum_wy: np.ndarray
    sum_wpp: np.ndarray
    sum_wpy: np.ndarray
    rows: int

    @property
    def total_weight(self) -> float:
        return float(self.sum_w.sum())

    def mean_scores(self) -> np.ndarray:
        """Weighted mean score per bucket (the bucket's centre when it has no weight)."""
        centre = 0.5 * (self.edges[:-1] + self.edges[1:])
        has = self.sum_w > 0
        return np.where(has, self.sum_wp / np.where(has, self.sum_w, 1.0), centre)

    def coarsen(self, factor: int) -> "FineHistogramResult":
        """Buckets merged ``factor`` at a time (``factor`` must divide the bucket count)."""
        b = self.sum_w.size
        if factor < 1 or b % factor:
            raise ValueError(f"factor {factor} does not divide {b} buckets")
        fold = [getattr(self, name).reshape(-1, factor).sum(axis=1) for name in _SUMS]
        return FineHistogramResult(self.edges[::factor].copy(), *fold, self.rows)


class FineHistogram:
    """Mergeable histogram of (score, outcome) on ``n_bins`` equal-width buckets of [0, 1].

    A score ``p`` goes to bucket ``min(floor(p * n_bins), n_bins - 1)`` (so 1.0 joins the
    last bucket). Each bucket keeps the weighted sums of 1, p, y, p**2 and p*y; its size
    is fixed by ``n_bins``, never by the number of rows.

    >>> h = FineHistogram(4).update(np.array([0.1, 0.2, 0.9]), np.array([0, 1, 1]))
    >>> r = h.finalize()
    >>> r.sum_w.tolist(), r.sum_wy.tolist(), r.rows
    ([2.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0], 3)
    """

    def __init__(self, n_bins: int = DEFAULT_FINE_BINS):
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        self.n_bins = int(n_bins)
        self.rows = 0
        self.sums = np.zeros((len(_SUMS), self.n_bins))

    def update(self, conf, outcome, weight=None) -> "FineHistogram":
        """Add a batch: scores (n,) in [0, 1], outcomes (n,) in [0, 1], optional weights (n,)."""
        p, y, w = _as_rows(conf, outcome, weight)
        self.rows += p.size
        if p.size == 0:
            return self
        idx = np.clip((p * self.n_bins).astype(np.int64), 0, self.n_bins - 1)
        wp, wy = w * p, w * y
        for i, values in enumerate((w, wp, wy, wp * p, wp * y)):
            self.sums[i] += np.bincount(idx, weights=values, minlength=self.n_bins)
        return self

    def merge(self, other: "FineHistogram") -> "FineHistogram":
        """A new histogram of the rows of both (same bucket count); the inputs are unchanged."""
        if not isinstance(other, FineHistogram) or other.n_bins != self.n_bins:
            raise ValueError("cannot merge fine histograms with different bucket counts")
        out = FineHistogram(self.n_bins)
        out.rows = self.rows + other.rows
        out.sums = self.sums + other.sums
        return out

    def finalize(self) -> FineHistogramResult:
        edges = np.linspace(0.0, 1.0, self.n_bins + 1)
        return FineHistogramResult(edges, *(row.copy() for row in self.sums), self.rows)

    def to_arrays(self) -> Arrays:
        return {"n_bins": self.n_bins, "rows": self.rows, "sums": self.sums.copy()}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "FineHistogram":
        out = cls(int(scalar(arrays["n_bins"])))
        out.rows = int(scalar(arrays["rows"]))
        out.sums = np.array(arrays["sums"], dtype=np.float64).reshape(len(_SUMS), out.n_bins)
        return out


def _as_rows(conf, outcome, weight) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat float64 scores, outcomes and weights of one batch (checked by ``inputs.binary_arrays``)."""
    from calibcli.statistics.inputs import binary_arrays

    p, y, w = binary_arrays(conf, outcome, weight, probabilities=False)
    return p, y, np.ones_like(p) if w is None else w


# --- relplot's smooth ECE on grid masses ------------------------------------------------------------


def _grid_masses(hist: FineHistogramResult, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear-interpolation masses of the residual p - y and of the weight on a grid of m points."""
    has = hist.sum_w > 0
    s_w, s_wp = hist.sum_w[has], hist.sum_wp[has]
    s_r = s_wp - hist.sum_wy[has]  # sum w (p - y)
    s_rp = hist.sum_wpp[has] - hist.sum_wpy[has]  # sum w (p - y) p
    g = m - 1
    k = np.clip(np.floor(s_wp / s_w * g), 0, m - 2).astype(np.int64)
    residual, density = np.zeros(m), np.zeros(m)
    for out, s0, s1 in ((residual, s_r, s_rp), (density, s_w, s_wp)):
        out += np.bincount(k, weights=(1.0 + k) * s0 - g * s1, minlength=m)
        out += np.bincount(k + 1, weights=g * s1 - k * s0, minlength=m)
    return residual, density


def _reflected_smooth(values: np.ndarray, sigma: float, x_eval: np.ndarray) -> np.ndarray:
    """relplot's ReflectedGaussianKernel: reflect at both ends, convolve, interpolate to x_eval."""
    m = values.size
    t = np.linspace(0.0, 1.0, m)
    kernel = np.exp(-(t - 0.5) * (t - 0.5) / (2.0 * sigma * sigma)) / (np.sqrt(2.0 * np.pi) * sigma)
    extended = np.concatenate([values[::-1][:-1], values, values[::-1][1:]])
    smoothed = np.convolve(extended, kernel, "valid")[m // 2: m // 2 + m]
    inds = (x_eval * (m - 1)).astype(np.int64).clip(0, m - 2)
    frac = (x_eval - inds / (m - 1)) * (m - 1)
    return smoothed[inds] * (1.0 - frac) + smoothed[inds + 1] * frac


def smece_at(hist: FineHistogramResult, sigma: float) -> float:
    """Smooth ECE at a fixed bandwidth ``sigma`` (relplot's ``smECE_sigma``) from a fine histogram.

    >>> h = FineHistogram().update(np.full(100, 0.7), np.r_[np.ones(70), np.zeros(30)]).finalize()
    >>> round(smece_at(h, 0.05), 12)
    0.0
    """
    if hist.total_weight <= 0:
        return float("nan")
    m = max(2000, round(20 / sigma)) // 2 + 1
    residual, density = _grid_masses(hist, m)
    x_eval = np.linspace(0.0, 1.0, max(round(10 / sigma), _MESH_POINTS))
    r = _reflected_smooth(residual, sigma, x_eval)
    d = _reflected_smooth(density, sigma, x_eval) + _DENSITY_FLOOR
    return float(np.sum(np.abs(r / d) * d) / np.sum(d))


def smece_bandwidth(hist: FineHistogramResult) -> float:
    """relplot's bandwidth search (``search_param`` with ``check_smooth_ece``)."""
    def ok(alpha: float) -> bool:
        return alpha < _SEARCH_EPS or alpha < smece_at(hist, alpha)

    if ok(1.0):
        return 1.0
    start, end = 1.0, 0.0
    for _ in range(_SEARCH_STEPS):
        mid = (start + end) / 2
        if ok(mid):
            end = mid
        else:
            start = mid
    return start


@dataclass(frozen=True)
class SmoothECEResult:
    """Smooth ECE, its bandwidth, and the rows and weight it summarises (NaN without weight)."""

    smece: float
    sigma: float
    rows: int
    weight: float


def smece_from_histogram(hist: FineHistogramResult) -> SmoothECEResult:
    """Smooth ECE with relplot's automatic bandwidth from a finalised :class:`FineHistogram`."""
    if hist.total_weight <= 0:
        return SmoothECEResult(float("nan"), float("nan"), hist.rows, hist.total_weight)
    sigma = smece_bandwidth(hist)
    return SmoothECEResult(smece_at(hist, sigma), sigma, hist.rows, hist.total_weight)


class SmoothECEState:
    """Partial state of the smooth ECE: one :class:`FineHistogram` (``update``, ``merge``, ``finalize``).

    >>> s = SmoothECEState().update(np.array([0.2, 0.8]), np.array([0, 1]))
    >>> s.merge(SmoothECEState().update(np.array([0.5]), np.array([1]))).finalize().rows
    3
    """

    def __init__(self, n_bins: int = DEFAULT_FINE_BINS):
        self.hist = FineHistogram(n_bins)

    def update(self, conf, outcome, weight=None) -> "SmoothECEState":
        self.hist.update(conf, outcome, weight)
        return self

    def merge(self, other: "SmoothECEState") -> "SmoothECEState":
        out = SmoothECEState(self.hist.n_bins)
        out.hist = self.hist.merge(other.hist)
        return out

    def finalize(self) -> SmoothECEResult:
        return smece_from_histogram(self.hist.finalize())

    def to_arrays(self) -> Arrays:
        return self.hist.to_arrays()

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "SmoothECEState":
        out = cls(int(scalar(arrays["n_bins"])))
        out.hist = FineHistogram.from_arrays(arrays)
        return out


def smece(y_true, y_prob, *, sample_weight=None, n_bins: int = DEFAULT_FINE_BINS) -> float:
    """Smooth ECE of binary outcomes against probabilities (Błasiok & Nakkiran 2023).

    Equals relplot 1.0.3's ``relplot.smECE(y_prob, y_true)`` to about 1e-6 (relplot's
    own grid discretisation, reproduced from a fine histogram; see the module notes).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes, 0/1 (or bool).
    y_prob : array-like of shape (n,)
        Predicted probabilities of the outcome, in [0, 1].
    sample_weight : array-like of shape (n,), optional
        Row weights; they act as row counts.
    n_bins : int, default 4096
        Fine buckets of the histogram the estimate is computed from.

    Returns
    -------
    float
        The smooth ECE (NaN for no rows).

    Examples
    --------
    >>> round(smece([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]), 4)
    0.1596
    """
    return SmoothECEState(n_bins).update(y_prob, y_true, sample_weight).finalize().smece
