"""Bootstrap intervals and noise floors from replicate values and binned sums (pure functions, no state).

- :func:`basic_interval`: the basic (reverse-percentile) bootstrap interval
  ``(2*t - q_hi, 2*t - q_lo)`` of a point estimate ``t`` from its replicate
  values, clipped to the metric's range. Plug-in binned errors (ECE, MCE) are
  biased upward, and their bootstrap replicates are biased upward again by about
  as much; the basic interval subtracts that bias, so it covers the population
  value where the percentile interval ``(q_lo, q_hi)`` (centred on the biased
  plug-in, plus the bias again) does not (see ``benchmarks/coverage_sim.py``).
  For a calibrated model the population value is 0, on the edge of the range,
  where no bias correction is exact: the lower end is set to 0 whenever the plug-in
  value is within what noise alone gives a perfectly calibrated model 95% of the time
  (:func:`null_quantile_ece`, :func:`null_quantile_mce`), which makes the interval
  cover 0 in at least about 95% of data sets from a calibrated model.
- :func:`percentile_interval`: ``(q_lo, q_hi)``, kept for comparison.
- :func:`noise_floor_ece` / :func:`noise_floor_mce`: the ECE (MCE) that a perfectly
  calibrated model with the same scores, rows and bins would show by chance
  alone: in each bin ``mean(y) - mean(p)`` with ``y ~ Bernoulli(p)`` has mean 0
  and variance ``sum p(1-p) / n_b**2``; with a normal approximation
  ``E|gap_b| = sqrt(2/pi) * sqrt(sum p(1-p)) / n_b``, so the ECE's floor is
  ``sqrt(2/pi) * sum_b sqrt(sum_{i in b} p_i (1 - p_i)) / N``. The MCE's floor,
  ``E max_b |gap_b|`` under the same normal model, is a seeded simulation over
  the bins (independent normal gaps).
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
MCE_FLOOR_DRAWS = 4000


def _quantiles(values: np.ndarray, level: float) -> tuple[float, float] | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(v, [a, 1.0 - a])
    return float(lo), float(hi)


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """``(q_lo, q_hi)`` of the finite replicate values (None with fewer than two).

    >>> [round(x, 9) for x in percentile_interval(np.arange(101.0))]
    [2.5, 97.5]
    """
    return _quantiles(values, level)


def basic_interval(point: float | None, values: np.ndarray, lo: float = 0.0, hi: float = math.inf,
                   level: float = LEVEL) -> tuple[float, float] | None:
    """The basic bootstrap interval ``(2*point - q_hi, 2*point - q_lo)``, clipped to ``[lo, hi]``.

    None when the point is undefined or fewer than two replicates are finite.

    >>> [round(x, 9) for x in basic_interval(0.5, np.arange(101.0) / 100)]
    [0.025, 0.975]
    >>> basic_interval(0.01, np.array([0.02, 0.03, 0.025]))  # a biased plug-in: the interval sits below it
    (0.0, 0.0)
    """
    if point is None or not math.isfinite(point):
        return None
    q = _quantiles(values, level)
    if q is None:
        return None
    a, b = 2.0 * point - q[1], 2.0 * point - q[0]
    return float(min(max(a, lo), hi)), float(min(max(b, lo), hi))


def zero_floor(interval: tuple[float, float] | None, point: float | None,
               null_q95: float | None) -> tuple[float, float] | None:
    """``interval`` with its lower end at 0 when ``point <= null_q95`` (consistent with a calibrated model).

    >>> zero_floor((0.01, 0.03), 0.02, 0.025), zero_floor((0.01, 0.03), 0.02, 0.015)
    ((0.0, 0.03), (0.01, 0.03))
    """
    if interval is None or point is None or null_q95 is None or not math.isfinite(null_q95) or point > null_q95:
        return interval
    return 0.0, interval[1]


def null_quantile_ece(n: np.ndarray, sum_c: np.ndarray, sum_cc: np.ndarray, q: float = 0.95, seed: int = 0) -> np.ndarray:
    """The ``q`` quantile of the ECE of a perfectly calibrated model with these bins, over the last axis.

    Per bin the gap is ``sd_b * Z_b`` (normal approximation, :func:`bin_noise_sd`); the
    quantile is simulated with one seeded ``(4000, B)`` normal matrix shared by the curves
    (one matrix product). NaN for a curve without rows.
    """
    sd = np.nan_to_num(bin_noise_sd(n, sum_c, sum_cc))
    total = n.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = sd * n / np.where(total > 0, total, 1.0)  # (..., B): weight of the bin times its sd
    z = np.abs(np.random.default_rng(seed).standard_normal((MCE_FLOOR_DRAWS, scale.shape[-1])))
    sims = z @ scale.reshape(-1, scale.shape[-1]).T  # (draws, curves)
    out = np.quantile(sims, q, axis=0).reshape(scale.shape[:-1])
    return np.where(total[..., 0] > 0, out, np.nan)


def null_quantile_mean_ece(n: np.ndarray, sum_c: np.ndarray, sum_cc: np.ndarray, q: float = 0.95) -> float:
    """The ``q`` quantile of the mean over curves (rows of the arrays) of their ECEs under perfect calibration.

    A mean of many half-normal terms: normal approximation with its exact mean and variance
    (curves independent).
    """
    from statistics import NormalDist

    sd = np.nan_to_num(bin_noise_sd(n, sum_c, sum_cc))
    total = n.sum(axis=-1, keepdims=True)
    ok = total[:, 0] > 0
    if not ok.any():
        return math.nan
    scale = (sd * n / np.where(total > 0, total, 1.0))[ok]
    k = scale.shape[0]
    mean = SQRT_2_OVER_PI * scale.sum() / k
    var = (1.0 - 2.0 / math.pi) * (scale ** 2).sum() / k ** 2
    return float(mean + NormalDist().inv_cdf(q) * math.sqrt(var))


def null_quantile_mce(n: np.ndarray, sum_c: np.ndarray, sum_cc: np.ndarray, q: float = 0.95) -> float:
    """The ``q`` quantile of the MCE of a perfectly calibrated model with these bins (one curve), exact under
    the normal approximation: ``P(max_b |sd_b Z_b| <= t) = prod_b (2 Phi(t / sd_b) - 1)``, solved by bisection."""
    from statistics import NormalDist

    sd = bin_noise_sd(n, sum_c, sum_cc)
    sd = sd[np.isfinite(sd) & (sd > 0)]
    if sd.size == 0:
        return 0.0 if np.any(n > 0) else math.nan
    cdf = NormalDist().cdf
    lo, hi = 0.0, float(sd.max()) * 10.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if math.prod(2.0 * cdf(mid / s) - 1.0 for s in sd) < q:
            lo = mid
        else:
            hi = mid
    return hi


def bin_noise_sd(n: np.ndarray, sum_c: np.ndarray, sum_cc: np.ndarray) -> np.ndarray:
    """Per bin the standard deviation of ``mean(y) - mean(c)`` under ``y ~ Bernoulli(c)``; NaN for empty bins."""
    var = np.maximum(sum_c - sum_cc, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.sqrt(var) / np.where(n > 0, n, 1.0), np.nan)


def noise_floor_ece(n: np.ndarray, sum_c: np.ndarray, sum_cc: np.ndarray) -> np.ndarray:
    """Expected ECE of a perfectly calibrated model with these bins (normal approximation), over the last axis.

    ``n``, ``sum_c``, ``sum_cc``: per bin the rows and the sums of ``c`` and ``c**2``.
    NaN for a curve without rows.

    >>> round(float(noise_floor_ece(np.array([100.0]), np.array([50.0]), np.array([25.0]))), 6)  # 0.8 * 0.5 / 10
    0.039894
    """
    total = n.sum(axis=-1)
    s = np.sqrt(np.maximum(sum_c - sum_cc, 0.0)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, SQRT_2_OVER_PI * s / np.where(total > 0, total, 1.0), np.nan)


def noise_floor_mce(n: np.ndarray, sum_c: np.ndarray, sum_cc: np.ndarray, seed: int = 0) -> float:
    """Expected MCE of a perfectly calibrated model with these bins (one curve): ``E max_b |sd_b Z_b|``, simulated.

    >>> noise_floor_mce(np.array([4.0, 0.0]), np.array([2.0, 0.0]), np.array([2.0, 0.0]))  # c = 1: no noise
    0.0
    """
    sd = bin_noise_sd(n, sum_c, sum_cc)
    sd = sd[np.isfinite(sd)]
    if sd.size == 0:
        return math.nan
    z = np.random.default_rng(seed).standard_normal((MCE_FLOOR_DRAWS, sd.size))
    return float(np.abs(z * sd[None, :]).max(axis=1).mean())
