"""Row-keyed randomness: batch invariance, uniformity, Poisson(1) moments, stable id hashes."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calibcli.stats import rng
from calibcli.stats.rng import (
    MASK,
    fold_of,
    hash_ids,
    in_split,
    poisson1_weights,
    random_bits,
    uniform,
)
from stats_helpers import STATS_SETTINGS, batch_bounds


def _mix_ref(z: int) -> int:
    z &= MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _bits_ref(seed: int, stream: int, key: int) -> int:
    """The generator as the module docstring defines it, on Python ints."""
    k1 = _mix_ref((seed & MASK) + rng.GAMMA)
    k2 = _mix_ref(k1 ^ ((stream * 0x94D049BB133111EB) & MASK) ^ rng.GAMMA)
    return _mix_ref(_mix_ref(key * rng.GAMMA + k1) ^ k2)


def _text_hash_ref(text: str) -> int:
    """hash_ids of one text, written out from its definition (code points)."""
    h = _mix_ref(len(text) ^ rng._TEXT_SEED)
    for ch in text:
        h = _mix_ref(h ^ ord(ch))
    return _mix_ref(h ^ rng.GAMMA)


def test_doctests():
    assert doctest.testmod(rng).failed == 0


def test_bits_match_the_definition_and_are_pinned():
    keys = [0, 1, 2 ** 40, 2 ** 64 - 1]
    got = random_bits(0, 1, np.array(keys, dtype=np.uint64)).tolist()
    assert got == [_bits_ref(0, 1, k) for k in keys]
    # pinned: changing the generator moves every fold, split and bootstrap; do it on purpose only
    assert got[:3] == [10185635880246656284, 10199512239770636729, 16690863148567457443]
    assert fold_of(0, np.arange(10), 5).tolist() == [2, 2, 3, 0, 3, 0, 1, 0, 4, 0]
    assert poisson1_weights(3, np.arange(4), 3).tolist() == [[2, 1, 1], [0, 1, 0], [1, 0, 1], [1, 4, 0]]


def test_no_overflow_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        uniform(2 ** 70, 5, np.array([0, 2 ** 63, 2 ** 64 - 1], dtype=np.uint64))
        poisson1_weights(-1, np.arange(1000), 3)
        hash_ids(np.array([-(2 ** 63), 2 ** 63 - 1]))


@STATS_SETTINGS
@given(data=st.data(), seed=st.integers(0, 2 ** 32), offset=st.integers(0, 2 ** 40))
def test_any_batch_split_gives_the_same_draws(data, seed, offset):
    n = 1500
    rows = np.arange(offset, offset + n)
    whole = (uniform(seed, 9, rows), fold_of(seed, rows, 7), in_split(seed, rows, 0.3), poisson1_weights(seed, rows, 5))
    bounds = data.draw(batch_bounds(n))
    order = list(range(len(bounds)))
    data.draw(st.randoms(use_true_random=False)).shuffle(order)
    parts = {i: (uniform(seed, 9, rows[a:b]), fold_of(seed, rows[a:b], 7), in_split(seed, rows[a:b], 0.3),
                 poisson1_weights(seed, rows[a:b], 5)) for i, (a, b) in ((i, bounds[i]) for i in order)}
    for j, full in enumerate(whole):
        assert np.array_equal(np.concatenate([parts[i][j] for i in range(len(bounds))]), full)


def test_uniform_passes_a_chi_square_test():
    u = uniform(12345, rng.STREAM_SPLIT, np.arange(1_000_000))
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.bincount((u * 100).astype(int), minlength=100)
    chi2 = float(((counts - 10_000) ** 2 / 10_000).sum())
    assert chi2 < 99 + 6 * np.sqrt(2 * 99)  # df = 99; six standard deviations
    # the low bits are uniform too (a weak mixer fails here)
    low = np.bincount((random_bits(12345, 1, np.arange(1_000_000)) & np.uint64(63)).astype(int), minlength=64)
    assert float(((low - 1_000_000 / 64) ** 2 / (1_000_000 / 64)).sum()) < 63 + 6 * np.sqrt(2 * 63)


def test_poisson_weights_have_mean_and_variance_one():
    w = poisson1_weights(7, np.arange(200_000), 10).astype(np.float64)
    assert w.shape == (200_000, 10)
    assert abs(w.mean() - 1.0) < 0.005 and abs(w.var() - 1.0) < 0.01
    assert abs(np.mean(w == 0) - np.exp(-1)) < 0.003
    # replicates are uncorrelated with each other
    c = np.corrcoef(w.T)
    assert np.abs(c[np.triu_indices(10, 1)]).max() < 0.01


def test_seeds_and_streams_are_independent():
    rows = np.arange(500_000)
    a, b, c = uniform(0, 1, rows), uniform(1, 1, rows), uniform(0, 2, rows)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01 and abs(np.corrcoef(a, c)[0, 1]) < 0.01
    assert not np.any(a == b)
    f0, f1 = fold_of(0, rows, 5), fold_of(1, rows, 5)
    assert abs(np.mean(f0 == f1) - 0.2) < 0.005


def test_bad_arguments():
    with pytest.raises(ValueError, match="row indices must be >= 0"):
        uniform(0, 1, np.array([-1]))
    with pytest.raises(TypeError, match="row keys must be integers"):
        uniform(0, 1, np.array([0.5]))
    with pytest.raises(ValueError, match="fraction"):
        in_split(0, np.arange(3), 1.5)
    with pytest.raises(ValueError, match="k must be"):
        fold_of(0, np.arange(3), 0)


# ------------------------------------------------------------------- id hashes

def test_ids_hash_as_their_text():
    ints = np.array([0, 7, -5, 123456789, 2 ** 63 - 1, -(2 ** 63)], dtype=np.int64)
    texts = [str(int(v)) for v in ints]
    assert hash_ids(ints).tolist() == hash_ids(texts).tolist() == [_text_hash_ref(t) for t in texts]
    assert hash_ids(np.array([2 ** 64 - 1], dtype=np.uint64))[0] == _text_hash_ref(str(2 ** 64 - 1))
    assert hash_ids(ints.astype(np.int32)[:4]).tolist() == hash_ids(texts[:4]).tolist()
    assert hash_ids(["0123"])[0] != hash_ids([123])[0]  # compared as text: leading zeros matter
    # pinned values: the hash is part of the result's definition (stable across runs and platforms)
    assert hash_ids(["", "a", "id-42", "é😀"]).tolist() == [
        12848874398313456772, 4697829324635275397, 6424398388587712682, 11569989063008542756]


@STATS_SETTINGS
@given(st.lists(st.one_of(st.text(max_size=12), st.integers(-(2 ** 63), 2 ** 63 - 1)), min_size=1, max_size=30))
def test_hash_ids_matches_its_definition(values):
    values = [v for v in values if not (isinstance(v, str) and v.endswith("\0"))]  # numpy drops trailing NULs
    if not values:
        return
    got = hash_ids(np.array(values, dtype=object))
    assert got.tolist() == [_text_hash_ref(str(v)) for v in values]


def test_hash_ids_accepts_arrow_pandas_bytes_and_rejects_floats_and_missing():
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    want = hash_ids(np.array(["x", "10"])).tolist()
    assert hash_ids(pa.array(["x", "10"])).tolist() == want
    assert hash_ids(pa.chunked_array([["x"], ["10"]])).tolist() == want
    assert hash_ids(pd.Series(["x", "10"])).tolist() == want
    assert hash_ids([b"x", b"10"]).tolist() == want
    assert hash_ids(np.array(["x", 10], dtype=object)).tolist() == want
    with pytest.raises(ValueError, match="integers or text"):
        hash_ids(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="found None"):
        hash_ids(pa.array(["a", None]))
    with pytest.raises(ValueError, match="integers or text"):
        hash_ids(np.array([True]))


def test_id_keyed_draws_follow_the_id_not_the_position():
    ids = np.array(["u17", "u3", "u99", "u3"])
    keys = hash_ids(ids)
    w = poisson1_weights(0, keys, 4)
    assert np.array_equal(w[1], w[3])
    perm = [2, 0, 3, 1]
    assert np.array_equal(poisson1_weights(0, hash_ids(ids[perm]), 4), w[perm])
    assert np.array_equal(fold_of(0, keys[perm], 5), fold_of(0, keys, 5)[perm])
