"""Every partial state round-trips through np.savez bytes (no pickle) and follows the protocol."""

from __future__ import annotations

import doctest
import io

import numpy as np
import pytest

from calibcli.stats import base
from calibcli.stats.base import PartialState, dumps, loads, state_registry
from calibcli.stats.bins import BinStats
from calibcli.stats.distinct import DistinctTable
from calibcli.stats.kll import KLLSketch
from calibcli.stats.problems import ProblemLog
from calibcli.stats.rng import poisson1_weights
from calibcli.stats.sums import ScalarSums, ScoreEvidence, row_terms


def _states() -> dict[str, object]:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=300)
    y = rng.integers(0, 3, 300)
    w = rng.random(300)
    rw = poisson1_weights(0, np.arange(300), 4)
    onehot = y[:, None] == np.arange(3)
    return {
        "bins": BinStats.uniform(10, 3, 4, moments=2).update(p, onehot, w, replicate_weights=rw),
        "bins_empty": BinStats(np.array([0.0, 0.3, 1.0])),
        "sums": ScalarSums(3, 4).update(y, *row_terms(p, y), weight=w, replicate_weights=rw),
        "sums_empty": ScalarSums(2),
        "evidence": ScoreEvidence().update(np.where(p > 0.9, np.nan, p)),
        "evidence_empty": ScoreEvidence(),
        "problems": ProblemLog(3).update("nan", 0, [5, 1, 9, 7]).update("range é", 2, [0]),
        "problems_empty": ProblemLog(),
        "distinct": DistinctTable().update(np.round(p[:, 0], 2), y == 0, w),
        "distinct_over_budget": DistinctTable(5).update(p[:, 0], y == 0),
        "kll": KLLSketch(k=16, seed=2).update(rng.normal(size=5000)),
        "kll_empty": KLLSketch(),
    }


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if not hasattr(a, "__dataclass_fields__"):
        return a == b
    for field in a.__dataclass_fields__:
        x, y = getattr(a, field), getattr(b, field)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind == "f"):
                return False
        elif isinstance(x, float) and np.isnan(x):
            if not (isinstance(y, float) and np.isnan(y)):
                return False
        elif x != y:
            return False
    return True


def test_doctests():
    assert doctest.testmod(base).failed == 0


@pytest.mark.parametrize("name", list(_states()))
def test_every_state_round_trips_through_savez_bytes(name):
    state = _states()[name]
    assert isinstance(state, PartialState)
    data = dumps(state)
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:  # readable without pickle
        assert all(npz[key].dtype != object for key in npz.files)
    back = loads(data)
    assert type(back) is type(state)
    for key, value in state.to_arrays().items():
        assert np.array_equal(np.asarray(back.to_arrays()[key]), np.asarray(value), equal_nan=np.asarray(value).dtype.kind == "f"), key
    assert _same(back.finalize(), state.finalize())
    assert dumps(back) == data  # bytes are deterministic
    # a loaded state keeps working: it merges with the original
    assert isinstance(back.merge(state), type(state))


def test_every_state_class_is_registered():
    assert {type(s).__name__ for s in _states().values()} == set(state_registry())


def test_dumps_refuses_object_arrays_and_loads_refuses_unknown_kinds():
    class Bad:
        def to_arrays(self):
            return {"x": np.array([{}], dtype=object)}

    with pytest.raises(TypeError, match="dtype object"):
        dumps(Bad())
    buf = io.BytesIO()
    np.savez(buf, __state__=np.asarray("Nope"), __version__=np.asarray(1))
    with pytest.raises(ValueError, match="unknown state kind"):
        loads(buf.getvalue())


def test_stats_modules_import_only_numpy_and_never_print():
    import ast
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(base.__file__).parent
    for path in folder.glob("*.py"):
        calls = [n.func.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        assert "print" not in calls, path.name
    code = ("import sys, calibcli.stats.base, calibcli.stats.bins, calibcli.stats.distinct, calibcli.stats.kll, "
            "calibcli.stats.problems, calibcli.stats.rng, calibcli.stats.sums; "
            "print(sorted(m for m in ('pandas', 'scipy', 'pyarrow', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=folder.parent.parent)
    assert out.stdout.strip() == "[]"


def test_an_empty_batch_changes_nothing():
    e = np.empty(0)
    for state, update in [
        (BinStats.uniform(5, 2, 2, moments=2), lambda s: s.update(np.empty((0, 2)), labels=np.empty(0, int), weight=e, replicate_weights=np.empty((0, 2)))),
        (ScalarSums(3, 2), lambda s: s.update(np.empty(0, int), e, e, e, replicate_weights=np.empty((0, 2)))),
        (ScoreEvidence(), lambda s: s.update(np.empty((0, 3)))),
        (DistinctTable(), lambda s: s.update(e, e)),
        (KLLSketch(), lambda s: s.update(e)),
        (ProblemLog(), lambda s: s.update("x", 0, [])),
    ]:
        before = dumps(state)
        assert dumps(update(state)) == before, type(state).__name__
