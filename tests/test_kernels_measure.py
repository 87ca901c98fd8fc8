"""The fused measurement (calibcli.kernels.measure) gives MeasureState the same sums as the unfused path."""

from __future__ import annotations

import numpy as np
import pytest

import calibcli.kernels.measure as kmeasure
import calibcli.measure as measure_module
from calibcli.engine.batches import Batch
from calibcli.measure import DEFAULT_BLOCKS, BinEdges, MeasureState
from calibcli.predictions import LazyPredictions, Predictions, ScoreKind, Task, TemperedPredictions, scaled_softmax


def _state(k: int, n_bins: int = 15, blocks: bool = True) -> MeasureState:
    task = Task.BINARY if k == 2 else Task.MULTICLASS
    if not blocks:  # a point estimate (no intervals): no bootstrap blocks
        return MeasureState(task, tuple(f"c{i}" for i in range(k)), BinEdges.uniform(n_bins))
    return MeasureState(task, tuple(f"c{i}" for i in range(k)), BinEdges.uniform(n_bins), 200, 0, n_blocks=DEFAULT_BLOCKS)


def _arrays(s: MeasureState) -> dict[str, np.ndarray]:
    out = {"support": s.support, "predicted": s.predicted, "class_a": s.class_a, "class_b": s.class_b,
           "block_scalars": s.block_scalars, "rows": np.array(s.sums.rows), "s_support": s.sums.support,
           "class_weight": s.sums.class_weight, **{f"sum_{k}": np.array(v) for k, v in s.sums.sums.items()}}
    for name, b in (("top", s.top), ("cls", s.per_class[0])):
        out[f"{name}_count"] = b.count
        out.update({f"{name}_{k}": v for k, v in b.sums.items()})
        out.update({f"{name}_block_{k}": v for k, v in b.blocks.items()})
    return out


def _preds(kind: str, z: np.ndarray, y: np.ndarray, t) -> Predictions:
    k = z.shape[1]
    task = Task.BINARY if k == 2 else Task.MULTICLASS
    classes = tuple(f"c{i}" for i in range(k))
    if kind == "lazy":
        return LazyPredictions(z, y, classes, task)
    if kind == "tempered":
        return TemperedPredictions(z, t, y, classes, task)
    return Predictions(np.array(z, dtype=np.float64), y, classes, task, ScoreKind.PROBS)


def _measure(kind, z, y, t, fused: bool, monkeypatch, batches=(None,), blocks: bool = True) -> MeasureState:
    """The state fed ``z`` (cut into batches at ``batches``), with the fused kernel or with it switched off."""
    calls = []
    real = kmeasure.measure_rows

    def spy(*args):
        calls.append(args[0].shape[0])
        return real(*args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kmeasure, "measure_rows", spy)
        if not fused:
            mp.setattr(measure_module, "update_fused", lambda state, p, blk: False)
        s = _state(z.shape[1], blocks=blocks)
        cuts = [0, *[c for c in batches if c is not None and c < len(y)], len(y)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            tb = t if np.ndim(t) == 0 else t[a:b]
            s.update(Batch(_preds(kind, z[a:b], y[a:b], tb), np.arange(a, b)))
    assert bool(calls) == fused and sum(calls) == (len(y) if fused else 0)
    return s


def _logits(rng, n, k, dtype, style):
    z = rng.standard_normal((n, k)) * 4
    if style == "ties":
        z = np.round(z)  # equal logits: equal probabilities, the argmax goes to the lowest index
        z[::3, :] = 1.0
    elif style == "huge" and dtype == np.float64:
        z[: n // 2] *= 1e306  # the first rescale blocks take the exact 2^-24 path
        z[::7, 0] = np.finfo(np.float64).max / 2
    elif style == "huge":
        z[: n // 2] *= 1e37  # near float32's largest: finite differences of the widened logits
    return z.astype(dtype)


def _check(a: MeasureState, b: MeasureState, exact: bool) -> None:
    x, y = _arrays(a), _arrays(b)
    for key in x:
        if exact or "count" in key or "block_n" in key or key in ("support", "predicted", "rows", "s_support"):
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)
        else:
            np.testing.assert_allclose(x[key], y[key], rtol=1e-12, atol=1e-300, err_msg=key)


@pytest.mark.parametrize("k", [2, 10, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("style", ["normal", "ties", "huge"])
@pytest.mark.parametrize("kind", ["lazy", "tempered"])
def test_fused_logits_equal_unfused_path(monkeypatch, k, dtype, style, kind):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    rng = np.random.default_rng(k * 7 + len(style))
    n = 20_000 if k < 100 else 5_000  # more than one chunk of BinStats.update and two softmax blocks
    z, y = _logits(rng, n, k, dtype, style), rng.integers(0, k, n)
    t = rng.choice([0.5, 1.0, 3.0], n) if kind == "tempered" else 1.0
    fused = _measure(kind, z, y, t, True, monkeypatch, batches=(7, 16_390))
    today = _measure(kind, z, y, t, False, monkeypatch, batches=(7, 16_390))
    _check(fused, today, exact=False)
    # the same probabilities and top labels as the stored softmax
    if style == "ties":
        assert fused.predicted.sum() == n


@pytest.mark.parametrize("n", [1, 2, 5, 300])
def test_fused_tiny_batches_and_scalar_temperature(monkeypatch, n):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    rng = np.random.default_rng(n)
    z, y = _logits(rng, n, 3, np.float32, "normal"), rng.integers(0, 3, n)
    for kind, t in (("lazy", 1.0), ("tempered", 1.7), ("tempered", rng.uniform(0.5, 2.0, n))):
        _check(_measure(kind, z, y, t, True, monkeypatch), _measure(kind, z, y, t, False, monkeypatch), exact=False)


def test_fused_probabilities_on_exact_edges_and_ties(monkeypatch):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    rng = np.random.default_rng(3)
    n, k = 18_000, 3
    edges = np.linspace(0.0, 1.0, 16)
    a = rng.choice(np.r_[edges[:9] / 2, 0.0, 1.0 / 3.0, 0.2], n)
    p = np.column_stack([a, a, 1.0 - 2.0 * a])  # ties between columns 0 and 1; many values exactly on edges
    p[::5] = [0.0, 0.0, 1.0]
    y = rng.integers(0, k, n)
    fused = _measure("probs", p, y, 1.0, True, monkeypatch, batches=(16_384,))
    today = _measure("probs", p, y, 1.0, False, monkeypatch, batches=(16_384,))
    _check(fused, today, exact=True)  # probabilities as given: every sum is added in the same order


def test_fused_equals_numpy_reference(monkeypatch):
    rng = np.random.default_rng(11)
    n, k = 17_000, 10
    z, y = _logits(rng, n, k, np.float32, "normal"), rng.integers(0, k, n)
    t = rng.uniform(0.5, 2.0, n)
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    fused = _measure("tempered", z, y, t, True, monkeypatch)
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    ref = _measure("tempered", z, y, t, False, monkeypatch)  # numpy softmax, argmax, bincounts
    _check(fused, ref, exact=False)
    a, b = fused.finalize().metrics, ref.finalize().metrics
    for f in ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll", "ece_top_label"):
        assert getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-12), f


@pytest.mark.parametrize("k", [2, 10, 40])
@pytest.mark.parametrize("kind", ["lazy", "tempered", "probs"])
def test_fused_without_blocks_equals_unfused_path(monkeypatch, k, kind):
    """A state without bootstrap blocks (a point estimate, e.g. the compared methods' after-measurements) takes the
    compiled pass too: one block whose sums are dropped, the same totals as BinStats.update's chunks."""
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    rng = np.random.default_rng(k + len(kind))
    n = 20_000
    z, y = _logits(rng, n, k, np.float32, "normal"), rng.integers(0, k, n)
    if kind == "probs":
        z = scaled_softmax(z.astype(np.float64), 1.0)
    t = rng.choice([0.5, 1.0, 3.0], n) if kind == "tempered" else 1.0
    fused = _measure(kind, z, y, t, True, monkeypatch, batches=(7, 16_390), blocks=False)
    today = _measure(kind, z, y, t, False, monkeypatch, batches=(7, 16_390), blocks=False)
    assert fused.block_scalars.shape == (0, 4) and not fused.top.blocks
    _check(fused, today, exact=kind == "probs")
    a, b = fused.finalize().metrics, today.finalize().metrics
    for f in ("accuracy", "ece", "mce", "classwise_ece", "brier", "nll"):
        assert getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-12), f


def test_fused_merge_of_split_batches(monkeypatch):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    rng = np.random.default_rng(5)
    n, k = 9_000, 4
    z, y = _logits(rng, n, k, np.float64, "normal"), rng.integers(0, k, n)
    whole = _measure("lazy", z, y, 1.0, True, monkeypatch)
    parts = _measure("lazy", z[:4000], y[:4000], 1.0, True, monkeypatch)
    rest = _state(k).update(Batch(_preds("lazy", z[4000:], y[4000:], 1.0), np.arange(4000, n)))
    merged = rest.merge(parts)
    x, w = _arrays(merged), _arrays(whole)
    for key in x:
        np.testing.assert_allclose(x[key], w[key], rtol=1e-12, err_msg=key)


def test_fused_not_used_where_it_does_not_apply(monkeypatch):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    called = []
    monkeypatch.setattr(kmeasure, "measure_rows", lambda *a: called.append(1))
    z, y = np.zeros((4, 3)), np.array([0, 1, 2, 0])
    classes = ("a", "b", "c")
    MeasureState(Task.MULTICLASS, classes, BinEdges.uniform(15), 50).update(
        Batch(_preds("lazy", z, y, 1.0), np.arange(4)))  # per-row bootstrap replicates
    MeasureState(Task.MULTICLASS, classes, BinEdges.uniform(1), n_blocks=8).update(
        Batch(_preds("lazy", z, y, 1.0), np.arange(4)))  # one bin: numpy sums blocks pairwise
    MeasureState(Task.MULTICLASS, classes, BinEdges(np.linspace(0, 1, 4), (np.linspace(0, 1, 4),) * 3),
                 n_blocks=8).update(Batch(_preds("lazy", z, y, 1.0), np.arange(4)))  # per-class edges
    assert called == []
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    MeasureState(Task.MULTICLASS, classes, BinEdges.uniform(15), n_blocks=8).update(
        Batch(_preds("lazy", z, y, 1.0), np.arange(4)))
    assert called == []


def test_fused_bad_label_falls_back_and_raises_as_before(monkeypatch):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    p = Predictions(np.full((4, 3), 1 / 3), np.array([0, 1, 5, 0]), ("a", "b", "c"), Task.MULTICLASS, ScoreKind.PROBS)
    states = []
    for fused in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            if not fused:
                mp.setattr(measure_module, "update_fused", lambda state, p, blk: False)
            s = _state(3)
            with pytest.raises(ValueError):
                s.update(Batch(p, np.arange(4)))
            states.append(_arrays(s))
    for key in states[0]:  # the kernel touched nothing: the numpy path raised at the same point
        np.testing.assert_array_equal(states[0][key], states[1][key], err_msg=key)


def test_tempered_predictions_are_the_calibrated_softmax():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((50, 4)).astype(np.float32)
    t = rng.uniform(0.5, 2.0, 50)
    p = TemperedPredictions(z, t, rng.integers(0, 4, 50), tuple("abcd"), Task.MULTICLASS, ("x",))
    zz, inv = p.scores_and_inverse()
    assert zz is z and np.array_equal(inv, 1.0 / t)
    np.testing.assert_array_equal(p.probs, scaled_softmax(z, t))
    assert p.scores_and_inverse() is None and p.logits is None and p.score_kind is ScoreKind.PROBS
    sub = p.subset(np.array([3, 1]))
    np.testing.assert_array_equal(sub.probs, scaled_softmax(z, t)[[3, 1]])
    scalar = TemperedPredictions(z, 2.0, p.labels, p.classes, p.task)
    assert scalar.scores_and_inverse()[1].tolist() == [0.5]
    np.testing.assert_array_equal(scalar.probs, scaled_softmax(z, 2.0))
    with pytest.raises(ValueError):
        TemperedPredictions(z, t, p.labels, p.classes, Task.MULTILABEL)


def test_out_of_fold_temperature_is_lazy_and_equal(monkeypatch):
    from calibcli.calibrators.base import with_probs
    from calibcli.calibrators.out_of_fold import OutOfFold

    class Cal:
        def __init__(self, t):
            self.temperature = (t,)

        def check_compatible(self, preds):
            pass

    class Layout:
        def scoring_model(self, keys):
            return np.asarray(keys) % 2

    rng = np.random.default_rng(4)
    z = rng.standard_normal((30, 3)).astype(np.float32)
    raw = LazyPredictions(z, rng.integers(0, 3, 30), tuple("abc"), Task.MULTICLASS)
    oof = OutOfFold(Layout(), {"temperature": (Cal(0.5), Cal(2.0))})
    monkeypatch.setattr("calibcli.calibrators.out_of_fold.row_keys", lambda b: b.rows)
    got = oof.calibrate(Batch(raw, np.arange(30)), "temperature")
    assert isinstance(got, TemperedPredictions)
    want = with_probs(raw, scaled_softmax(z, np.where(np.arange(30) % 2, 2.0, 0.5)), "temperature")
    np.testing.assert_array_equal(got.probs, want.probs)
    assert got.score_kind_evidence == want.score_kind_evidence and got.logits is None



def test_helpers_compile_twice_without_error():
    """Two pass threads may both run a kernel module's first compile: the second must find compiled twins,
    not numba-compile them again (a race that failed a warm-cache audit with 'jit decorator was called on
    an already jitted function')."""
    from calibcli import kernels
    from calibcli.kernels import shared

    twin = kernels.compiled_helper(shared.bins_into)
    assert kernels.compiled_helper(twin) is twin
    kmeasure._measure.bind_helpers()
    kmeasure._measure.bind_helpers()  # this module's names are now the compiled twins
    assert kmeasure.bins_into is twin
    assert kmeasure.softmax_cols is kernels.compiled_helper(kmeasure.softmax_cols)
