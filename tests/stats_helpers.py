"""Hypothesis helpers for the partial-state tests: random batch boundaries and merge trees."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# derandomized: the same examples every run; no deadline (CI machines are shared)
STATS_SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])


@st.composite
def batch_bounds(draw, n: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive batches covering ``0 .. n``.

    Modes: batches of 7 or 1000 rows, random cuts, or size-1 batches (over a random
    window of at most 60 rows, the rest in two batches, to keep the test fast).
    """
    mode = draw(st.sampled_from(["1", "7", "1000", "random"]))
    if mode == "random":
        cuts = sorted(draw(st.sets(st.integers(1, max(n - 1, 1)), max_size=12))) if n > 1 else []
    elif mode == "1":
        start = draw(st.integers(0, max(n - 60, 0)))
        cuts = [c for c in range(start, min(start + 61, n)) if 0 < c < n]
    else:
        cuts = list(range(int(mode), n, int(mode)))
    edges = [0, *cuts, n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:])]


def merge_tree(states: list, rnd: random.Random):
    """Merge states in a random tree: pick any two, merge in a random order, until one is left."""
    pool = list(states)
    while len(pool) > 1:
        i, j = rnd.sample(range(len(pool)), 2)
        a, b = pool[i], pool[j]
        merged = a.merge(b) if rnd.random() < 0.5 else b.merge(a)
        pool = [s for k, s in enumerate(pool) if k not in (i, j)] + [merged]
    return pool[0]


def assert_arrays_close(a: dict, b: dict, rtol: float = 1e-12) -> None:
    """Two ``to_arrays()`` dicts agree: integers and text exactly, floats to ``rtol``."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.shape == y.shape, key
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=rtol, atol=0, equal_nan=True, err_msg=key)
        else:
            assert np.array_equal(x, y), key
