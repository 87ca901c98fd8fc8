"""Row-keyed draws in one compiled pass per key: fold, uniform and bootstrap group of each row key.

:mod:`calibcli.stats.rng` computes ``mix64(mix64(key * GAMMA + k1) ^ k2)`` with numpy
as about twenty passes over the keys (each ``mix64`` is eight ``uint64`` operations,
each a pass with a temporary); these kernels make one pass, with the same ``uint64``
arithmetic (wrapping modulo 2**64), so the draws are bit-identical. ``stats.rng``
dispatches to them (see :func:`work`) and keeps the numpy code as the reference.

The SplitMix64 finaliser is one helper (:func:`mix`) the three kernels call. All constants are
passed as ``uint64`` arguments: numba would promote a mix of ``uint64`` and a Python ``int`` to float64.
"""

from __future__ import annotations

import numpy as np

from calibcli.kernels import jit


def work(n_keys: int, rounds: int) -> int:
    """The work measure given to ``use_compiled`` for a draw of ``rounds`` mix64 rounds on ``n_keys`` keys.

    ``use_compiled`` counts scores; a key is not a score, so the measure counts one
    mix64 round of one key (eight integer operations, a pass over the keys each in
    numpy) as one score (whose softmax and binning cost about as many operations):
    ``n_keys x rounds``. The draws have at most two rounds, so a batch of n rows of
    K >= 2 scores never reaches the threshold (and pays numba's import) in a draw
    before it does in the score kernels.
    """
    return int(n_keys) * int(rounds)


def _consts():
    from calibcli.stats import rng

    return (np.uint64(rng._M1), np.uint64(rng._M2), np.uint64(30), np.uint64(27), np.uint64(31),
            np.uint64(rng.GAMMA))


def mix(z, m1, m2, s30, s27, s31):  # pragma: no cover - compiled (kernels.jit helpers)
    """The SplitMix64 finaliser of one ``uint64`` (:func:`calibcli.stats.rng.mix64`)."""
    z = (z ^ (z >> s30)) * m1
    z = (z ^ (z >> s27)) * m2
    return z ^ (z >> s31)


@jit(helpers=(mix,))
def _fold_of(keys, k1, k2, k, m1, m2, s30, s27, s31, gamma, out):  # pragma: no cover - compiled
    s32 = np.uint64(32)
    for i in range(keys.shape[0]):
        z = mix(mix(keys[i] * gamma + k1, m1, m2, s30, s27, s31) ^ k2, m1, m2, s30, s27, s31)
        out[i] = np.int64(((z >> s32) * k) >> s32)


@jit(helpers=(mix,))
def _uniform(keys, k1, k2, m1, m2, s30, s27, s31, gamma, out):  # pragma: no cover - compiled
    s11 = np.uint64(11)
    for i in range(keys.shape[0]):
        z = mix(mix(keys[i] * gamma + k1, m1, m2, s30, s27, s31) ^ k2, m1, m2, s30, s27, s31)
        out[i] = np.float64(z >> s11) * 1.1102230246251565e-16  # 2**-53: exact


@jit(helpers=(mix,))
def _group_of(keys, salt, n_groups, m1, m2, s30, s27, s31, gamma, out):  # pragma: no cover - compiled
    s32 = np.uint64(32)
    for i in range(keys.shape[0]):
        z = mix((keys[i] * gamma) ^ salt, m1, m2, s30, s27, s31)
        out[i] = ((z >> s32) * n_groups) >> s32


def _draw(kernel, keys: np.ndarray, dtype, *params: int) -> np.ndarray:
    """``kernel(keys, *params, *constants, out)`` on ``uint64`` keys, the ``params`` as ``uint64``; returns ``out``."""
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    out = np.empty(keys.shape[0], dtype=dtype)
    kernel(keys, *(np.uint64(p) for p in params), *_consts(), out)
    return out


def fold_of(keys: np.ndarray, k1: int, k2: int, k: int) -> np.ndarray:
    """``((bits >> 32) * k) >> 32`` as int64, ``bits = mix64(mix64(key * GAMMA + k1) ^ k2)``, of ``uint64`` keys."""
    return _draw(_fold_of, keys, np.int64, k1, k2, k)


def uniform(keys: np.ndarray, k1: int, k2: int) -> np.ndarray:
    """``(bits >> 11) * 2**-53`` (float64), ``bits`` as in :func:`fold_of`."""
    return _draw(_uniform, keys, np.float64, k1, k2)


def group_of(keys: np.ndarray, salt: int, n_groups: int) -> np.ndarray:
    """``((mix64((key * GAMMA) ^ salt) >> 32) * n_groups) >> 32`` as intp, of ``uint64`` keys."""
    return _draw(_group_of, keys, np.intp, salt, n_groups)
