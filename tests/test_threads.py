"""Threaded local passes (calibcli.engine.local): batch i goes to replica i % T; the same numbers for any T,
the same bytes for the same T, errors of the earliest batch, and one thread for consumers that cannot merge."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from calibcli.cli.main import cli
from calibcli.engine.batches import InMemorySource
from calibcli.engine.local import feed, pass_threads
from calibcli.predictions import Predictions, ScoreKind, Task


def _source(n=1000, batch_rows=64, threads=3):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), n)
    src = InMemorySource.from_predictions(Predictions(p, rng.integers(0, 3, n), ("a", "b", "c"), Task.MULTICLASS,
                                                      ScoreKind.PROBS), batch_rows)
    src.threads = threads
    return src


class Rows:
    """Keeps the row keys it saw, in order (a test consumer; merges by concatenation)."""

    def __init__(self):
        self.keys = []

    def update(self, batch):
        self.keys.extend(batch.rows.tolist())

    def merge(self, other):
        self.keys = self.keys + other.keys
        return self


class NoMerge(Rows):
    merge = None


def test_every_batch_once_in_replica_order():
    c = Rows()
    assert feed(_source(threads=3), c) == 1000
    blocks = [list(range(a, min(a + 64, 1000))) for a in range(0, 1000, 64)]
    want = [k for t in range(3) for b in blocks[t::3] for k in b]  # replica t holds batches t, t+3, ... in order
    assert c.keys == want


def test_consumer_without_merge_runs_in_one_thread():
    c = NoMerge()
    assert pass_threads(_source(threads=4), (c,)) == 1
    feed(_source(threads=4), c)
    assert c.keys == list(range(1000))


class Boom(Rows):
    def update(self, batch):
        if batch.rows[0] in (64 * 5, 64 * 6):
            raise ValueError(f"bad batch at {batch.rows[0]}")
        super().update(batch)


def test_the_earliest_failure_is_raised():
    with pytest.raises(ValueError, match="bad batch at 320"):
        feed(_source(threads=2), Boom())


def _logits_file(tmp_path, n=40_000, k=5):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((n, k)).astype("float32") * 2
    y = rng.integers(0, k, n)
    path = tmp_path / "z.parquet"
    pq.write_table(pa.table({"label": y, **{f"logit_{j}": z[:, j] for j in range(k)}}), path, row_group_size=7_000)
    return path


def _floats(d, out, path=""):
    if isinstance(d, dict):
        for key, v in d.items():
            _floats(v, out, f"{path}/{key}")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            _floats(v, out, f"{path}[{i}]")
    else:
        out[path] = d
    return out


@pytest.mark.parametrize("extra", [[], ["--no-calibration"]])
def test_audit_same_numbers_for_any_threads(tmp_path, extra):
    path = _logits_file(tmp_path)
    runs = {}
    for t in ("1", "2", "3", "3"):
        res = CliRunner().invoke(cli, ["--no-config", "audit", str(path), "--format", "json", "--batch-rows", "3000",
                                       "--threads", t, *extra])
        assert res.exit_code == 0, res.output
        runs.setdefault(t, []).append(res.output)
    assert runs["3"][0] == runs["3"][1]  # the same threads: the same bytes
    one = _floats(json.loads(runs["1"][0]), {})
    for t in ("2", "3"):
        other = _floats(json.loads(runs[t][0]), {})
        assert one.keys() == other.keys()
        for key, v in one.items():
            if isinstance(v, float):
                assert other[key] == pytest.approx(v, rel=1e-9, abs=1e-12), key
            else:
                assert other[key] == v, key


def test_threads_with_dask_is_a_usage_error(samples):
    res = CliRunner().invoke(cli, ["--no-config", "audit", str(samples / "binary.csv"), "--engine", "dask", "--threads", "2"])
    assert res.exit_code == 2 and "--threads" in res.output


def test_prefetch_order_errors_and_early_exit():
    from calibcli.engine.prefetch import prefetch

    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        yield 2
        raise KeyError("third")

    got = []
    with pytest.raises(KeyError, match="third"):
        for x in prefetch(failing()):
            got.append(x)
    assert got == [1, 2]

    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()  # leaving the loop early: the reader stops and closes the underlying iterator
    assert closed == [True]
