"""A safeguarded Newton iteration on several scalar parameters, one derivative evaluation at a time.

The derivatives come from outside: a pass over the rows (in memory, or batch by
batch with merged sums) evaluates, for every still-active parameter, the mean
first, second and third derivatives of its loss at ``Newton.beta``;
:meth:`Newton.observe` then takes one safeguarded step. Each parameter keeps its
own bracket and converged flag, so parameters fitted in shared passes (folds,
labels) each stop at their own optimum, exactly as a fit of that parameter alone.
"""

from __future__ import annotations

import numpy as np

TOL = 1e-6  # stop when beta is known to a relative 1e-6 (the last Newton step, or its predicted error, is below it)
MAX_ITER = 100
FLAT_TOL = 1e-12  # the loss changes by less than this per e-fold of beta: flat


def quadratic_step(g, h, t3):
    """The root nearest 0 of g + h d + t3 d^2 / 2 (a Newton step corrected to second order).

    >>> float(quadratic_step(np.array(-1.0), np.array(1.0), np.array(0.0)))
    1.0
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        disc = h * h - 2.0 * t3 * g
        quad = -2.0 * g / (h + np.sqrt(np.maximum(disc, 0.0)))
        return np.where((disc > 0) & np.isfinite(quad), quad, -g / np.where(h > 0, h, np.inf))


class Newton:
    """Safeguarded Newton on each entry of ``beta``, independently, one evaluation per :meth:`observe`.

    A parameter has converged when its Newton step is at most ``tol`` times
    beta (the step is taken), or when the predicted error after a step,
    |f3 / (2 f2)| s^2, is below a tenth of that. It stops without an interior
    optimum when the loss is flat (the optimum lies at beta -> 0 or inf) or at
    an end of [b_lo, b_hi] with the loss still falling beyond it. Once stopped a
    parameter is frozen: its later derivatives are ignored.

    Attributes
    ----------
    beta : ndarray
        Where the next derivatives are wanted (the solution once ``done``).
    active : ndarray of bool
        Parameters still iterating (their derivatives are needed).
    iterations : int
        Evaluations observed.
    beta_eval : ndarray
        Per parameter, the beta of its last evaluation.
    flat, dead, at_end : ndarray of bool
        Stopped because the loss went flat unbracketed (optimum at beta -> 0 or
        inf); because loss and curvature are exactly 0 (every softmax saturated,
        or no spread: the direction is unknown); at an end of the range with
        the loss still falling beyond it.
    last_grad : ndarray
        The mean first derivative at each parameter's last evaluation (its sign
        says which way the loss falls).

    Examples
    --------
    >>> nt = Newton(np.array([1.0]), np.array([1e-3]), np.array([1e3]))
    >>> while not nt.done:  # loss (beta - 2)^2 / 2: g = beta - 2, h = 1
    ...     nt.observe(nt.beta - 2.0, np.ones(1), np.zeros(1))
    >>> nt.beta.tolist(), nt.iterations
    ([2.0], 1)
    """

    def __init__(self, beta0: np.ndarray, b_lo: np.ndarray, b_hi: np.ndarray, tol: float = TOL,
                 max_iter: int = MAX_ITER):
        self.b_lo = np.asarray(b_lo, dtype=np.float64)
        self.b_hi = np.asarray(b_hi, dtype=np.float64)
        self.beta = np.clip(np.asarray(beta0, dtype=np.float64), self.b_lo, self.b_hi)
        self.tol, self.max_iter = float(tol), int(max_iter)
        self.lo = np.zeros_like(self.beta)
        self.hi = np.full_like(self.beta, np.inf)
        self.active = np.ones(self.beta.shape, dtype=bool)
        self.flat = np.zeros(self.beta.shape, dtype=bool)
        self.dead = np.zeros(self.beta.shape, dtype=bool)
        self.at_end = np.zeros(self.beta.shape, dtype=bool)
        self.last_grad = np.zeros_like(self.beta)
        self.beta_eval = self.beta.copy()
        self.iterations = 0

    @property
    def done(self) -> bool:
        return not self.active.any() or self.iterations >= self.max_iter

    def observe(self, g: np.ndarray, h: np.ndarray, t3: np.ndarray, t4: np.ndarray | None = None) -> None:
        """One iteration from the mean derivatives at ``beta`` (entries of inactive parameters are ignored).

        With the fourth derivative ``t4`` the step is corrected to second order (the root of
        g + h s + t3 s^2 / 2 nearest 0) and its error predicted as |t4 / (6 f2)| |s|^3;
        without it, a Newton step with the error |f3 / (2 f2)| s^2.
        """
        g = np.where(self.active, g, 0.0)
        h = np.where(self.active, h, 1.0)
        t3 = np.where(self.active, t3, 0.0)
        t4 = None if t4 is None else np.where(self.active, t4, 0.0)
        self.iterations += 1
        beta, lo, hi, active, tol = self.beta, self.lo, self.hi, self.active, self.tol
        b_lo, b_hi = self.b_lo, self.b_hi
        self.beta_eval = np.where(active, beta, self.beta_eval)
        self.last_grad = np.where(active, g, self.last_grad)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = -g / h if t4 is None else quadratic_step(g, h, t3)
            newton_ok = (h > 0) & np.isfinite(step)
            # 1. converged: the Newton step is within tolerance (take it; it stays inside the range)
            small = active & newton_ok & (np.abs(step) <= tol * beta)
            beta = np.where(small, np.clip(beta + step, b_lo, b_hi), beta)
            active = active & ~small
            # 2. the loss went flat (less than FLAT_TOL per e-fold of beta) with nothing bracketed on the side
            #    it falls towards: the optimum lies at beta -> inf or 0 (a flat stretch inside a bracket goes on)
            is_flat = active & (np.abs(g) * beta < FLAT_TOL) & ((g == 0) | ((g < 0) & np.isinf(hi)) | ((g > 0) & (lo == 0)))
            self.flat |= is_flat & (g != 0)
            self.dead |= is_flat & (g == 0) & (h == 0)
            active &= ~is_flat
            if active.any():
                # 3. a safeguarded step for the others: the bracket [lo, hi] holds the optimum
                up = g > 0  # the optimum lies below beta
                hi = np.where(active & up, np.minimum(hi, beta), hi)
                lo = np.where(active & ~up, np.maximum(lo, beta), lo)
                new = beta + step
                bad = ~newton_ok | (new <= lo) | (new >= hi)
                # no usable Newton step: bisect the bracket in log space; without one end, move at least 4x towards
                # that side, or halfway (in log space) to the end of the range when that is further
                up_factor = np.maximum(4.0, np.sqrt(b_hi / beta))
                down_factor = np.maximum(4.0, np.sqrt(beta / b_lo))
                fallback = np.where(np.isinf(hi), beta * up_factor,
                                    np.where(lo == 0, beta / down_factor, np.sqrt(lo * np.where(np.isinf(hi), 1.0, hi))))
                new = np.where(bad, fallback, new)
                clipped = np.clip(new, b_lo, b_hi)
                # at an end of the range with the loss still falling beyond it: stop there
                stuck = active & (clipped == beta)
                self.at_end |= stuck & ((beta >= b_hi) | (beta <= b_lo))  # else the bracket closed on beta: converged
                active &= ~stuck
                # a Newton step of size s leaves an error of about |f3 / (2 f2)| s^2 in beta: when that is far
                # below the tolerance another pass would not move beta, so this parameter stops after this step
                if t4 is None:
                    predicted = np.abs(t3) / (2.0 * h) * step * step
                else:
                    predicted = np.abs(t4) / (6.0 * h) * np.abs(step) ** 3
                finished = active & ~bad & (clipped == new) & (predicted < 0.1 * tol * clipped)
                beta = np.where(active, clipped, beta)
                active &= ~finished
        self.beta, self.lo, self.hi, self.active = beta, lo, hi, active
