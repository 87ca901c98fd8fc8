"""Spiegelhalter's z-test of calibration (Spiegelhalter 1986), as a mergeable pair of sums.

``z = sum (y - p)(1 - 2p) / sqrt(sum (1 - 2p)**2 p (1 - p))``; under perfect
calibration z is approximately standard normal, and the p-value is two-sided,
``2 * (1 - Phi(|z|))``. Sample weights are frequency weights (they multiply the
terms of both sums). An optional replicate axis (Poisson bootstrap weights, as
:class:`calibcli.stats.bins.BinStats`) gives replicate z values in the same pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.base import Arrays, scalar
from calibcli.statistics.inputs import Curve, binary_arrays, check_curve
from calibcli.statistics.states import curve_from_arrays

CONVENTION = (
    "spiegelhalter_z: sum (y-p)(1-2p) / sqrt(sum (1-2p)^2 p(1-p)) (Spiegelhalter 1986); "
    "spiegelhalter_p: two-sided normal p-value 2(1 - Phi(|z|))"
)


@dataclass(frozen=True)
class SpiegelhalterResult:
    """z, its two-sided p-value and the replicate z values (R,); NaN when the variance sum is 0."""

    z: float
    p_value: float
    replicates: np.ndarray


def _z(num, var):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1.0)), np.nan)


class SpiegelhalterState:
    """Partial state of Spiegelhalter's z: the numerator and variance sums (and their replicates).

    Parameters
    ----------
    curve : "positive", "top", "pooled" or int
    n_replicates : int
        Bootstrap replicates R (0: none); ``update`` then needs ``replicate_weights`` of shape (n, R).

    >>> s = SpiegelhalterState().update(np.array([0.2, 0.8, 0.5]), np.array([1, 1, 0]))
    >>> r = s.finalize(); round(r.z, 6), round(r.p_value, 6)
    (1.06066, 0.288844)
    """

    def __init__(self, curve: Curve = "positive", n_replicates: int = 0):
        if n_replicates < 0:
            raise ValueError(f"n_replicates must be >= 0, got {n_replicates}")
        self.curve = check_curve(curve)
        self.n_replicates = int(n_replicates)
        self.rows = 0
        self.sums = np.zeros(2)  # numerator, variance
        self.replicates = np.zeros((2, self.n_replicates))

    def update(self, conf, outcome=None, weight=None, replicate_weights=None) -> "SpiegelhalterState":
        """Add rows: ``(conf, outcome[, weight])`` arrays, or a ``Batch`` read through ``curve``."""
        p, y, w = binary_arrays(conf, outcome, weight, self.curve)
        a = 1.0 - 2.0 * p
        terms = np.stack([(y - p) * a, a * a * p * (1.0 - p)])
        self.rows += p.size
        self.sums += terms.sum(axis=1) if w is None else terms @ w
        if self.n_replicates:
            rw = np.asarray(replicate_weights, dtype=np.float64) if replicate_weights is not None else None
            if rw is None or rw.shape != (p.size, self.n_replicates):
                raise ValueError(f"replicate_weights of shape ({p.size}, {self.n_replicates}) are required")
            self.replicates += terms @ (rw if w is None else rw * w[:, None])
        elif replicate_weights is not None:
            raise ValueError("replicate_weights given but the state has no replicates")
        return self

    def merge(self, other: "SpiegelhalterState") -> "SpiegelhalterState":
        """Add the rows of ``other`` in place; return ``self``."""
        if not isinstance(other, SpiegelhalterState) or (other.curve, other.n_replicates) != (self.curve, self.n_replicates):
            raise ValueError("cannot merge Spiegelhalter states of different curves or replicates")
        self.rows += other.rows
        self.sums = self.sums + other.sums
        self.replicates = self.replicates + other.replicates
        return self

    def finalize(self) -> SpiegelhalterResult:
        from scipy.stats import norm

        z = float(_z(self.sums[0], self.sums[1]))
        p = float(2.0 * norm.sf(abs(z))) if np.isfinite(z) else float("nan")
        return SpiegelhalterResult(z, p, _z(self.replicates[0], self.replicates[1]))

    def to_arrays(self) -> Arrays:
        return {"curve": str(self.curve), "n_replicates": self.n_replicates, "rows": self.rows,
                "sums": self.sums.copy(), "replicates": self.replicates.copy()}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "SpiegelhalterState":
        out = cls(curve_from_arrays(arrays["curve"]), scalar(arrays["n_replicates"]))
        out.rows = int(scalar(arrays["rows"]))
        out.sums = np.array(arrays["sums"], dtype=np.float64)
        out.replicates = np.array(arrays["replicates"], dtype=np.float64).reshape(2, out.n_replicates)
        return out


def spiegelhalter_z(y_true, y_prob, *, sample_weight=None) -> float:
    """Spiegelhalter's z statistic ``sum (y - p)(1 - 2p) / sqrt(sum (1 - 2p)**2 p (1 - p))``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Probabilities of the outcome, in [0, 1].
    sample_weight : array-like of shape (n,), optional
        Frequency weights.

    Returns
    -------
    float
        NaN when every p is 0, 1/2 or 1 (no variance).

    Examples
    --------
    Terms 0.8 * 0.6, -0.2 * 0.6 and 0 over sqrt(2 * 0.36 * 0.16): z = 0.75 sqrt(2).

    >>> round(spiegelhalter_z([1, 1, 0], [0.2, 0.8, 0.5]), 6)
    1.06066
    """
    return SpiegelhalterState().update(y_prob, y_true, sample_weight).finalize().z


def spiegelhalter_p(y_true, y_prob, *, sample_weight=None) -> float:
    """Two-sided p-value of Spiegelhalter's z, ``2 * (1 - Phi(|z|))``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes in {0, 1}.
    y_prob : array-like of shape (n,)
        Probabilities of the outcome, in [0, 1].
    sample_weight : array-like of shape (n,), optional
        Frequency weights.

    Returns
    -------
    float

    Examples
    --------
    >>> round(spiegelhalter_p([1, 1, 0], [0.2, 0.8, 0.5]), 6)
    0.288844
    """
    return SpiegelhalterState().update(y_prob, y_true, sample_weight).finalize().p_value
