"""Damped Newton on several independent convex problems, driven by one evaluation pass at a time.

Each problem i has a parameter vector theta_i (Platt: (a, b) of one column; vector
scaling: (w, b) of one model). A pass evaluates, at the points :meth:`DampedNewton.points`
asks for, the mean loss, gradient and Hessian (from merged sums over any
batching). From the derivatives at the current point a Newton direction d is
solved; the next pass evaluates the candidates theta - s d for s = 1, 1/2, 1/4,
1/8 at once, and the largest s whose loss does not exceed the current loss is
taken (the derivatives there are usually known, so the next direction needs no
extra pass; an evaluation may skip the derivatives of candidates other than the
first, NaN, and a later pass evaluates them where needed); when none does, the
next pass tries the next four halvings. A
problem has converged when its Newton step is within ``tol`` (relative to
1 + |theta|, componentwise), or when 40 halvings do not lower the loss (float
noise at the optimum), or when the step taken leaves theta unchanged (the step is
below theta's float resolution), or after ``max_iter`` iterations.

"Does not exceed the current loss" allows ``LOSS_NOISE`` (relative): the rounding of
a mean loss summed over many rows. Near the optimum a Newton step of 1e-9 lowers
the loss by about 1e-18, far below that rounding; without the allowance the search
compared rounding noise, rejected the right step and halved down to a step that left
theta unchanged, whose loss is the same number, so it was "taken" and the same
direction solved again: a cycle that ran to the pass limit (Platt warm-started on a
row sample, then refined over a source).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

STEP_TOL = 1e-10
MAX_ITER = 100
MAX_HALVINGS = 40
CANDIDATES = 4  # step sizes tried per pass
LOSS_NOISE = 1e-12  # relative rounding allowed in the line search's loss comparison (see the module docstring)


def solve_2x2(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Newton directions H^-1 g for (I, 2) gradients and (I, 2, 2) Hessians; the gradient where H is singular.

    >>> solve_2x2(np.array([[1.0, 2.0]]), np.array([[[2.0, 0.0], [0.0, 4.0]]])).tolist()
    [[0.5, 0.5]]
    """
    haa, hab, hbb = h[:, 0, 0], h[:, 0, 1], h[:, 1, 1]
    ga, gb = g[:, 0], g[:, 1]
    det = haa * hbb - hab * hab
    ok = det > 1e-300
    with np.errstate(divide="ignore", invalid="ignore"):
        da = np.where(ok, (hbb * ga - hab * gb) / np.where(ok, det, 1.0), ga)
        db = np.where(ok, (haa * gb - hab * ga) / np.where(ok, det, 1.0), gb)
    return np.column_stack([da, db])


def solve_lstsq(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Minimum-norm solutions of H d = g per problem (singular Hessians: the part in their range)."""
    out = np.zeros_like(g)
    for i in range(g.shape[0]):
        hi, gi = h[i], g[i]
        if not (np.all(np.isfinite(hi)) and np.all(np.isfinite(gi))):
            out[i] = np.where(np.isfinite(gi), gi, 0.0)
            continue
        scale = float(np.max(np.abs(np.diag(hi)), initial=0.0))
        if scale <= 0.0:
            out[i] = gi
            continue
        out[i] = np.linalg.lstsq(hi, gi, rcond=1e-12)[0]
    return out


class DampedNewton:
    """See the module docstring. ``theta`` (I, D) is updated in place of each accepted step."""

    def __init__(self, theta0: np.ndarray, solve: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 tol: float = STEP_TOL, max_iter: int = MAX_ITER):
        self.theta = np.array(theta0, dtype=np.float64)
        self.solve, self.tol, self.max_iter = solve, float(tol), int(max_iter)
        n = self.theta.shape[0]
        self.active = np.ones(n, dtype=bool)
        self.loss = np.full(n, np.inf)
        self.direction = np.zeros_like(self.theta)
        self.first_step = np.ones(n)  # step size of the first candidate of the pending line search
        self.halvings = np.zeros(n, dtype=np.int64)
        self.iterations = np.zeros(n, dtype=np.int64)
        self.searching = np.zeros(n, dtype=bool)  # False: the next pass evaluates theta itself

    @property
    def done(self) -> bool:
        return not self.active.any()

    @property
    def n_points(self) -> int:
        return CANDIDATES if self.searching[self.active].any() else 1

    def steps(self) -> np.ndarray:
        """(I, J) step sizes of the points of the next pass (0: theta itself)."""
        j = self.n_points
        s = self.first_step[:, None] * 0.5 ** np.arange(j)[None, :]
        return np.where(self.searching[:, None], s, 0.0)

    def points(self) -> np.ndarray:
        """(I, J, D) parameters to evaluate in the next pass."""
        return self.theta[:, None, :] - self.steps()[:, :, None] * self.direction[:, None, :]

    def observe(self, loss: np.ndarray, grad: np.ndarray, hess: np.ndarray) -> None:
        """Mean loss (I, J), gradient (I, J, D) and Hessian (I, J, D, D) at :meth:`points`."""
        loss = np.where(np.isnan(loss), np.inf, loss)
        steps = self.steps()
        n, j = loss.shape
        moved_to = np.full(n, -1)
        for i in np.flatnonzero(self.active):
            if not self.searching[i]:
                moved_to[i] = 0
                self.loss[i] = loss[i, 0]
                continue
            ok = np.flatnonzero(loss[i] <= self.loss[i] + LOSS_NOISE * abs(self.loss[i]))
            if ok.size:
                k = int(ok[0])
                new_theta = self.theta[i] - steps[i, k] * self.direction[i]
                if np.array_equal(new_theta, self.theta[i]):  # the step is below theta's resolution: converged
                    self.active[i] = False
                    continue
                self.theta[i] = new_theta
                self.loss[i] = loss[i, k]
                self.iterations[i] += 1
                moved_to[i] = k
            else:
                self.halvings[i] += j
                self.first_step[i] *= 0.5 ** j
                if self.halvings[i] >= MAX_HALVINGS:  # no step lowers the loss: float noise at the optimum
                    self.active[i] = False
        # a candidate evaluated without derivatives (NaN gradient): evaluate them there in the next pass
        no_derivs = np.flatnonzero((moved_to >= 0) & ~np.isfinite(grad[np.arange(n), np.maximum(moved_to, 0)]).all(axis=1))
        self.searching[no_derivs] = False
        moved_to[no_derivs] = -1
        new = np.flatnonzero(moved_to >= 0)
        if new.size == 0:
            return
        k = moved_to[new]
        d = self.solve(grad[new, k], hess[new, k])
        th = self.theta[new]
        small = np.all(np.abs(d) <= self.tol * (1.0 + np.abs(th)), axis=1)
        for idx, i in enumerate(new):
            if small[idx] or self.iterations[i] >= self.max_iter or not np.all(np.isfinite(d[idx])):
                self.active[i] = False
                continue
            self.direction[i] = d[idx]
            self.first_step[i] = 1.0
            self.halvings[i] = 0
            self.searching[i] = True
