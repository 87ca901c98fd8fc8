"""The calibrator file's fingerprint of the fitting data (DataFingerprint): a mergeable pass consumer.

Any split of the rows into batches and partitions, merged in any order, gives the same
fingerprint; the rows' contents and positions are what it fingerprints; files written
before the scheme changed (a sha256 of row-order streams, no ``scheme``) still load.
"""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from calibcli.calibrator_file import (FINGERPRINT_SCHEME, DataFingerprint, data_fingerprint, read_calibrator_file)
from calibcli.engine.batches import Batch
from calibcli.predictions import Predictions, ScoreKind, Task, softmax


def _preds(n: int, k: int = 3, seed: int = 0, multilabel: bool = False) -> Predictions:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    classes = tuple(f"c{j}" for j in range(k))
    if multilabel:
        labels = rng.integers(0, 2, size=(n, k))
        return Predictions(1 / (1 + np.exp(-z)), labels, classes, Task.MULTILABEL, ScoreKind.PROBS)
    return Predictions(softmax(z), rng.integers(0, k, n), classes, Task.MULTICLASS, ScoreKind.LOGITS, logits=z)


def _whole(p: Predictions, rows=None) -> dict:
    rows = np.arange(p.n_samples) if rows is None else rows
    return DataFingerprint(p.classes).update(Batch(p, rows)).finalize(["f"])


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 79), max_size=12), order_seed=st.integers(0, 2**31), multilabel=st.booleans())
def test_any_split_and_merge_order_gives_the_same_fingerprint(cuts, order_seed, multilabel):
    p = _preds(80, multilabel=multilabel)
    expected = _whole(p)
    bounds = [0, *sorted(set(cuts)), 80]
    template = DataFingerprint(p.classes)
    replicas = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        r = copy.deepcopy(template)  # an unfed replica, as the Dask engine makes one per partition
        r.update(Batch(p.subset(np.arange(a, b)), np.arange(a, b)))
        replicas.append(pickle.loads(pickle.dumps(r)))
    order = np.random.default_rng(order_seed).permutation(len(replicas))
    acc = copy.deepcopy(template)
    for i in order:
        assert acc.merge(replicas[i]) is acc
    assert acc.finalize(["f"]) == expected
    assert data_fingerprint(p, ["f"]) == expected  # rows of Predictions are keyed 0..n-1


def test_the_fingerprint_sees_contents_and_positions():
    p = _preds(50)
    base = _whole(p)["sha256"]
    assert len(base) == 64 and _whole(p)["scheme"] == FINGERPRINT_SCHEME
    z = p.logits.copy()
    z[17, 1] = np.nextafter(z[17, 1], np.inf)  # one ulp in one score
    changed = Predictions(softmax(z), p.labels, p.classes, p.task, p.score_kind, logits=z)
    assert _whole(changed)["sha256"] != base
    labels = p.labels.copy()
    labels[3] = (labels[3] + 1) % 3
    assert _whole(Predictions(p.probs, labels, p.classes, p.task, p.score_kind, logits=p.logits))["sha256"] != base
    swapped = np.arange(50)
    swapped[[4, 9]] = swapped[[9, 4]]
    assert _whole(p.subset(swapped))["sha256"] != base  # two rows trade places
    assert _whole(p.subset(swapped), swapped)["sha256"] == base  # the same rows at the same keys
    other_classes = Predictions(p.probs, p.labels, ("a", "b", "c"), p.task, p.score_kind, logits=p.logits)
    assert _whole(other_classes)["sha256"] != base
    assert _whole(p.subset(np.arange(49)))["rows"] == 49


def test_zero_and_negative_zero_hash_alike():
    z = np.array([[0.0, 1.0], [2.0, 0.0]])
    p = Predictions(softmax(z), np.array([0, 1]), ("a", "b"), Task.BINARY, ScoreKind.LOGITS, logits=z)
    q = Predictions(softmax(-(-z)), p.labels, p.classes, p.task, p.score_kind, logits=np.array([[-0.0, 1.0], [2.0, -0.0]]))
    assert _whole(p) == _whole(q)


def test_a_calibrator_file_of_the_earlier_scheme_still_loads(tmp_path):
    doc = {"format": "calib-calibrator", "format_version": 1, "tool": {"name": "calib", "version": "0.1.0"},
           "calibrator": {"method": "temperature", "task": "multiclass", "classes": ["a", "b", "c"],
                          "input_kind": "logits", "params": {"temperature": [1.5]}},
           "columns": ["logit_a", "logit_b", "logit_c"],
           "fitted_on": {"files": ["val.csv"], "rows": 10, "sha256": "ab" * 32,
                         "hash_of": "SHA-256 of the SHA-256 of the float64 validated scores ... in row order"},
           "fit": {}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    loaded = read_calibrator_file(path)
    assert loaded.fitted_on["sha256"] == "ab" * 32 and "scheme" not in loaded.fitted_on
    assert loaded.calibrator.method == "temperature"
