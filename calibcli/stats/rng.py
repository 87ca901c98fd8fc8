"""Row-keyed, counter-based randomness: the same draw for a row however rows are batched.

Every random quantity of a row is a pure function of ``(seed, stream, key)``, where
``key`` is the row's global index (``0 .. n-1`` in file order) or, with an id column,
:func:`hash_ids` of its id. Nothing depends on ``n``, on batch boundaries, on batch
order or on the partitioning, so folds, splits and bootstrap weights computed
batch by batch equal those computed on all rows at once.

The generator: ``bits = mix64(mix64(key * GAMMA + k1) ^ k2)`` with ``mix64`` the
SplitMix64 finaliser (Steele, Lea and Flood 2014), ``GAMMA`` the 64-bit golden
ratio and ``(k1, k2)`` derived from ``(seed, stream)`` by the same finaliser.
All arithmetic is on ``uint64`` and wraps around modulo 2**64 by design. A uniform
float64 in ``[0, 1)`` takes the top 53 bits: ``(bits >> 11) * 2**-53``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_TEXT_SEED = 0x243F6A8885A308D3  # pi's fraction: the starting state of the id hash

STREAM_FOLD = 1
STREAM_SPLIT = 2
STREAM_POISSON = 3 << 32  # replicate r uses stream STREAM_POISSON + r
STREAM_POISSON16 = 4 << 32  # replicates 4j .. 4j+3 of poisson1_weights16 use stream STREAM_POISSON16 + j
STREAM_GROUP_WEIGHTS = 5 << 32  # replicate r of group_poisson1_weights uses stream STREAM_GROUP_WEIGHTS + r
_GROUP_SALT = 0x6A09E667F3BCC909  # sqrt(2)'s fraction: xored into keys before the group hash


def _mix_int(z: int) -> int:
    """SplitMix64 finaliser on a Python int (for keys; exact, no numpy scalars)."""
    z &= MASK
    z = ((z ^ (z >> 30)) * _M1) & MASK
    z = ((z ^ (z >> 27)) * _M2) & MASK
    return z ^ (z >> 31)


def mix64(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """SplitMix64 finaliser of a ``uint64`` array (a bijection; wraps modulo 2**64).

    ``out`` may be ``x`` itself (in place) or a new array (default).

    >>> int(mix64(np.array([1], dtype=np.uint64))[0]) == _mix_int(1)
    True
    """
    z = np.array(x, dtype=np.uint64, copy=True) if out is None else out
    if out is not None and out is not x:
        np.copyto(z, x)
    tmp = np.empty_like(z)
    for shift, mult in ((30, _M1), (27, _M2), (31, None)):
        np.right_shift(z, np.uint64(shift), out=tmp)
        np.bitwise_xor(z, tmp, out=z)
        if mult is not None:
            np.multiply(z, np.uint64(mult), out=z)  # wraps modulo 2**64 (no warning for arrays)
    return z


def _key_view(rows) -> np.ndarray:
    """:func:`as_keys` without the copy for int64 row indices (a ``uint64`` view of them, read only by the draws)."""
    a = np.asarray(rows)
    if a.dtype == np.int64:
        if a.size and a.min() < 0:
            raise ValueError("row indices must be >= 0")
        return a.view(np.uint64)
    return as_keys(a)


def _compiled(keys: np.ndarray, rounds: int) -> bool:
    """Whether a draw on ``keys`` (``rounds`` mix64 rounds per key) runs in one compiled pass
    (:mod:`calibcli.kernels.rng`, bit-identical); the work measure is the numpy path's ``uint64`` operations."""
    from calibcli.kernels import use_compiled
    from calibcli.kernels.rng import work

    return keys.ndim == 1 and use_compiled(work(keys.shape[0], rounds))


def seed_key(seed: int) -> int:
    """The 64-bit key of a seed (added to ``key * GAMMA`` before the first mix)."""
    return _mix_int((int(seed) & MASK) + GAMMA)


def stream_key(seed: int, stream: int) -> int:
    """The 64-bit key of ``(seed, stream)`` (xored in before the second mix)."""
    return _mix_int(seed_key(seed) ^ ((int(stream) * _M2) & MASK) ^ GAMMA)


def as_keys(rows) -> np.ndarray:
    """Row keys as ``uint64``: non-negative integer row indices or :func:`hash_ids` output.

    >>> as_keys(range(3)).tolist()
    [0, 1, 2]
    """
    a = np.asarray(rows)
    if a.dtype == np.uint64:
        return a
    if a.dtype.kind not in "iu":
        raise TypeError(f"row keys must be integers (global row indices or hash_ids output), got dtype {a.dtype}")
    if a.dtype.kind == "i" and a.size and a.min() < 0:
        raise ValueError("row indices must be >= 0")
    return a.astype(np.uint64)


def row_hash(seed: int, rows) -> np.ndarray:
    """``mix64(key * GAMMA + seed_key(seed))``: the stream-independent half of :func:`random_bits`."""
    z = as_keys(rows).astype(np.uint64, copy=True)
    np.multiply(z, np.uint64(GAMMA), out=z)
    np.add(z, np.uint64(seed_key(seed)), out=z)
    return mix64(z, out=z)


def random_bits(seed: int, stream: int, rows, base: np.ndarray | None = None) -> np.ndarray:
    """64 random bits per row key: ``mix64(row_hash(seed, rows) ^ stream_key(seed, stream))``.

    ``base`` may pass a precomputed ``row_hash(seed, rows)`` to draw many streams.
    """
    z = row_hash(seed, rows) if base is None else base.copy()
    np.bitwise_xor(z, np.uint64(stream_key(seed, stream)), out=z)
    return mix64(z, out=z)


def uniform(seed: int, stream: int, rows) -> np.ndarray:
    """Uniform float64 in ``[0, 1)`` (53 random bits) per row key.

    >>> u = uniform(0, STREAM_SPLIT, np.arange(5))
    >>> bool(((u >= 0) & (u < 1)).all()), np.array_equal(u[2:], uniform(0, STREAM_SPLIT, [2, 3, 4]))
    (True, True)
    """
    keys = _key_view(rows)
    if _compiled(keys, 2):
        from calibcli.kernels import rng as kernel

        return kernel.uniform(keys, seed_key(seed), stream_key(seed, stream))
    bits = random_bits(seed, stream, keys)
    return (bits >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def fold_of(seed: int, rows, k: int) -> np.ndarray:
    """Fold index in ``0 .. k-1`` of each row (independent draws, so fold sizes vary).

    Computed as ``((bits >> 32) * k) >> 32`` in exact integer arithmetic.

    >>> f = fold_of(7, np.arange(10_000), 5)
    >>> sorted(set(f.tolist())), int(np.bincount(f).min()) > 1900
    ([0, 1, 2, 3, 4], True)
    """
    if not 1 <= k < 2 ** 32:
        raise ValueError(f"k must be between 1 and 2**32 - 1, got {k}")
    keys = _key_view(rows)
    if _compiled(keys, 2):
        from calibcli.kernels import rng as kernel

        return kernel.fold_of(keys, seed_key(seed), stream_key(seed, STREAM_FOLD), k)
    bits = random_bits(seed, STREAM_FOLD, keys)
    return (((bits >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)).astype(np.int64)


def in_split(seed: int, rows, fraction: float) -> np.ndarray:
    """True for the rows drawn into a split of expected size ``fraction`` (``u < fraction``).

    >>> m = in_split(0, np.arange(100_000), 0.25)
    >>> bool(abs(m.mean() - 0.25) < 0.01)
    True
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    return uniform(seed, STREAM_SPLIT, rows) < fraction


def _poisson1_cdf() -> np.ndarray:
    """P(X <= k) of Poisson(1) for k = 0, 1, ... until the tail is below 2**-60; last entry 1."""
    terms, k = [math.exp(-1.0)], 0
    while 1.0 - math.fsum(terms) > 2.0 ** -60 and k < 30:
        k += 1
        terms.append(terms[-1] / k)
    cdf = np.cumsum(terms)
    cdf[-1] = 1.0
    return cdf


POISSON1_CDF = _poisson1_cdf()
# Thresholds on 32-bit uniforms: X = #{k : bits32 >= floor(2**32 * P(X <= k))}, so each
# probability is exact to within 2**-32 (values of probability below that are never drawn).
_POISSON1_THRESHOLDS = np.minimum(np.floor(POISSON1_CDF[:-1] * 2.0 ** 32), 2.0 ** 32 - 1).astype(np.uint32)


def poisson1_weights(seed: int, rows, n_replicates: int, dtype=np.uint8) -> np.ndarray:
    """Poisson(1) bootstrap weights, shape ``(n, n_replicates)``, dtype ``uint8`` (or ``dtype``).

    Replicates ``2j`` and ``2j + 1`` of a row take the high and low 32 bits of its
    :func:`random_bits` on stream ``STREAM_POISSON + j``; each 32-bit uniform ``v``
    becomes the smallest ``x`` with ``v < floor(2**32 * P(X <= x))`` (the inverse CDF
    of Poisson(1), with probabilities exact to within 2**-32).

    >>> w = poisson1_weights(1, np.arange(200_000), 2)
    >>> w.shape, bool(abs(w.mean() - 1) < 0.01), bool(abs(w.var() - 1) < 0.02)
    ((200000, 2), True, True)
    """
    if n_replicates < 0:
        raise ValueError(f"n_replicates must be >= 0, got {n_replicates}")
    base = row_hash(seed, rows)
    out = np.empty((base.shape[0], n_replicates), dtype=dtype)
    for j in range((n_replicates + 1) // 2):
        bits = random_bits(seed, STREAM_POISSON + j, None, base=base)
        for half, r in ((bits >> np.uint64(32), 2 * j), (bits, 2 * j + 1)):
            if r < n_replicates:
                out[:, r] = _poisson1_of_uint32(half.astype(np.uint32))
    return out


def _poisson1_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per top-16-bit bucket of a 32-bit uniform: its Poisson(1) value, and whether a threshold splits it."""
    starts = np.arange(1 << 16, dtype=np.uint64) << np.uint64(16)
    t = _POISSON1_THRESHOLDS.astype(np.uint64)
    value = np.searchsorted(t, starts, side="right").astype(np.uint8)
    split = np.zeros(1 << 16, dtype=bool)
    inside = (t & np.uint64(0xFFFF)) != 0  # a threshold strictly inside its bucket changes the value there
    split[(t[inside] >> np.uint64(16)).astype(np.intp)] = True
    return value, split


_P1_VALUE, _P1_SPLIT = _poisson1_tables()


def _poisson1_of_uint32(v: np.ndarray) -> np.ndarray:
    """``searchsorted(_POISSON1_THRESHOLDS, v, 'right')`` by a 65536-entry table; exact search only in split buckets."""
    top = (v >> np.uint32(16)).astype(np.intp)
    out = _P1_VALUE[top]
    hard = _P1_SPLIT[top]
    if hard.any():
        out[hard] = np.searchsorted(_POISSON1_THRESHOLDS, v[hard], side="right")
    return out


# 16-bit uniforms: u becomes the smallest x with (u + 1/2) / 2**16 < P(X <= x) (the inverse CDF at the middle of
# u's interval), so every probability is within 2**-16 of Poisson(1)'s and the largest weight is 8
_P16_TABLE = np.searchsorted(POISSON1_CDF, (np.arange(1 << 16) + 0.5) / 2.0 ** 16, side="right")
_P16_BLOCK = 1024  # rows per block: the (rows, streams) hashes stay in cache


def poisson1_weights16(seed: int, rows, n_replicates: int, dtype=np.float64) -> np.ndarray:
    """Poisson(1) bootstrap weights from 16-bit uniforms, four replicates per 64-bit draw: the fast bootstrap.

    Replicates ``4j .. 4j + 3`` of a row take the four 16-bit quarters (lowest
    first) of its :func:`random_bits` on stream ``STREAM_POISSON16 + j``; each
    quarter ``u`` becomes the smallest ``x`` with ``(u + 1/2) / 2**16 < P(X <= x)``
    (the inverse CDF of Poisson(1) at the middle of ``u``'s interval: each
    probability within 2**-16 of Poisson(1)'s; weights at most 8). Shape ``(n, n_replicates)``, dtype ``dtype`` (float64: ready for sums).

    >>> w = poisson1_weights16(1, np.arange(200_000), 3)
    >>> w.shape, bool(abs(w.mean() - 1) < 0.01), bool(abs(w.var() - 1) < 0.02)
    ((200000, 3), True, True)
    >>> bool((poisson1_weights16(1, np.arange(5, 9), 3) == w[5:9]).all())
    True
    """
    if n_replicates < 0:
        raise ValueError(f"n_replicates must be >= 0, got {n_replicates}")
    base = row_hash(seed, rows)
    n, n_draws = base.shape[0], (n_replicates + 3) // 4
    keys = np.array([stream_key(seed, STREAM_POISSON16 + j) for j in range(n_draws)], dtype=np.uint64)
    table = _P16_TABLE.astype(np.uint8)  # a uint8 gather, then one cast: faster than gathering float64
    out = np.empty((n, n_replicates), dtype=dtype)
    shifts = np.arange(4, dtype=np.uint64) * np.uint64(16)
    for a in range(0, n, _P16_BLOCK):
        z = np.bitwise_xor(base[a:a + _P16_BLOCK, None], keys[None, :])
        mix64(z, out=z)
        if np.little_endian:
            quarters = z.view(np.uint16)
        else:
            quarters = ((z[:, :, None] >> shifts) & np.uint64(0xFFFF)).astype(np.uint16)
        out[a:a + _P16_BLOCK] = np.take(table, quarters.reshape(z.shape[0], 4 * n_draws)[:, :n_replicates])
    return out


# ---------------------------------------------------------------- id hashing

def _hash_codepoints(codes: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Hash of texts given as zero-padded code points ``(n, L)`` and lengths ``(n,)``."""
    h = mix64(length.astype(np.uint64) ^ np.uint64(_TEXT_SEED))
    for j in range(codes.shape[1]):
        active = length > j
        if not active.any():
            break
        step = mix64(h ^ codes[:, j].astype(np.uint64))
        h = np.where(active, step, h)
    return mix64(h ^ np.uint64(GAMMA))


def _int_codepoints(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Code points of the decimal text of integers (``-`` sign, no leading zeros)."""
    if v.dtype.kind == "u":
        neg = np.zeros(v.shape, dtype=bool)
        mag = v.astype(np.uint64)
    else:
        v = v.astype(np.int64)
        neg = v < 0
        with np.errstate(over="ignore"):
            mag = np.where(neg, ~v.view(np.uint64) + np.uint64(1), v.view(np.uint64))
    pow10 = np.array([10 ** i for i in range(20)], dtype=np.uint64)
    ndig = 1 + (mag[:, None] >= pow10[None, 1:]).sum(axis=1)
    length = ndig + neg
    codes = np.zeros((v.shape[0], int(length.max(initial=1))), dtype=np.uint32)
    codes[neg, 0] = ord("-")
    for j in range(codes.shape[1]):
        p = ndig - 1 - (j - neg)  # decimal position of the digit at text position j
        ok = (p >= 0) & (j >= neg)
        digit = (mag // pow10[np.clip(p, 0, 19)]) % np.uint64(10)
        codes[:, j] = np.where(ok, digit.astype(np.uint32) + ord("0"), codes[:, j])
    return codes, length


def _text_array(values: np.ndarray) -> np.ndarray:
    """A ``<U`` array from text, bytes (UTF-8) or an object array of str/int."""
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    out = []
    for x in values:
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
            out.append(str(int(x)))
        else:
            raise ValueError(f"id values must be integers or text; found {x!r} of type {type(x).__name__}")
    return np.array(out, dtype=str)


def hash_ids(values) -> np.ndarray:
    """A stable 64-bit hash of each id, compared as its text: ``123`` and ``"123"`` agree.

    Ids are integers or text. Integers hash as their decimal text (``-`` for
    negatives, no leading zeros), text as its sequence of Unicode code points; so
    ``"0123"`` differs from ``123``. The result is the same on every run and
    platform (explicit little-endian code points, ``uint64`` arithmetic). Floats,
    booleans and missing values are rejected (cast ids to int or str first).

    >>> a, b = hash_ids(np.array([123, -5])), hash_ids(["123", "-5"])
    >>> bool((a == b).all()), a.dtype.name
    (True, 'uint64')
    """
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        try:  # a pyarrow Array; pandas and ChunkedArray take no zero_copy_only
            values = values.to_numpy(zero_copy_only=False)
        except TypeError:
            values = values.to_numpy()
    a = np.asarray(values)
    if a.ndim != 1:
        a = a.reshape(-1)
    if a.dtype.kind in "iu":
        return _hash_codepoints(*_int_codepoints(a))
    if a.dtype.kind in "OS":
        a = _text_array(a)
    if a.dtype.kind != "U":
        raise ValueError(f"id values must be integers or text, got dtype {a.dtype} (cast the id column to int or str)")
    a = np.ascontiguousarray(a, dtype=f"<U{max(a.dtype.itemsize // 4, 1)}")
    codes = a.view("<u4").reshape(a.shape[0], -1)
    length = np.char.str_len(a).astype(np.int64)
    return _hash_codepoints(codes, length)



# ---------------------------------------------------------------- grouped bootstrap

def group_of(rows, n_groups: int) -> np.ndarray:
    """Bootstrap group ``0 .. n_groups-1`` of each row key (seed-independent), ``intp``.

    ``((mix64((key * GAMMA) ^ salt) >> 32) * n_groups) >> 32``: a fixed random
    partition of the keys (row indices or :func:`hash_ids` output), so a paired
    baseline keyed on the same ids puts the same item in the same group. The seed
    enters only through the groups' weights (:func:`group_poisson1_weights`).

    >>> g = group_of(np.arange(100_000), 128)
    >>> int(g.min()), int(g.max()), bool(np.bincount(g).min() > 600)
    (0, 127, True)
    >>> bool((group_of(np.arange(5, 9), 128) == g[5:9]).all())
    True
    """
    if not 1 <= n_groups < 2 ** 32:
        raise ValueError(f"n_groups must be between 1 and 2**32 - 1, got {n_groups}")
    keys = _key_view(rows)
    if _compiled(keys, 1):
        from calibcli.kernels import rng as kernel

        return kernel.group_of(keys, _GROUP_SALT, n_groups)
    z = keys.astype(np.uint64, copy=True)
    np.multiply(z, np.uint64(GAMMA), out=z)
    np.bitwise_xor(z, np.uint64(_GROUP_SALT), out=z)
    mix64(z, out=z)
    np.right_shift(z, np.uint64(32), out=z)
    np.multiply(z, np.uint64(n_groups), out=z)
    np.right_shift(z, np.uint64(32), out=z)
    return z.astype(np.intp)


def group_poisson1_weights(seed: int, n_replicates: int, n_groups: int) -> np.ndarray:
    """Poisson(1) weight of every group in every replicate, shape ``(n_replicates, n_groups)`` (float64).

    Weight ``(r, g)`` is the Poisson(1) inverse CDF (as :func:`poisson1_weights`) of
    the high 32 bits of ``random_bits(seed, STREAM_GROUP_WEIGHTS + r, g)``: a pure
    function of ``(seed, r, g)``.

    >>> w = group_poisson1_weights(3, 2000, 128)
    >>> w.shape, bool(abs(w.mean() - 1) < 0.02), bool(abs(w.var() - 1) < 0.05)
    ((2000, 128), True, True)
    >>> bool((group_poisson1_weights(3, 5, 128) == w[:5]).all())
    True
    """
    if n_replicates < 0 or n_groups < 1:
        raise ValueError(f"need n_replicates >= 0 and n_groups >= 1, got {n_replicates}, {n_groups}")
    return _group_poisson1_weights(int(seed), int(n_replicates), int(n_groups)).copy()


@functools.lru_cache(maxsize=4)
def _group_poisson1_weights(seed: int, n_replicates: int, n_groups: int) -> np.ndarray:
    """:func:`group_poisson1_weights`, computed once per ``(seed, R, M)``: every subgroup's finalize asks for the same
    table (callers get a copy; the cached array is read-only)."""
    base = row_hash(seed, np.arange(n_groups, dtype=np.uint64))
    out = np.empty((n_replicates, n_groups))
    for r in range(n_replicates):
        bits = random_bits(seed, STREAM_GROUP_WEIGHTS + r, None, base=base)
        out[r] = _poisson1_of_uint32((bits >> np.uint64(32)).astype(np.uint32))
    out.flags.writeable = False
    return out
