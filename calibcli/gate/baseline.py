"""Pairing a baseline (the previous model's predictions for the same items) with the audited predictions.

A :class:`Baseline` is two sources of the same items: ``new`` (audited) and
``old`` (baseline). Rows of one item carry the same bootstrap key in both (its
position, or the hash of its id), so a paired bootstrap needs no join: the same
key draws the same Poisson(1) weight on both sides.

Two ways to pair:

- :func:`match_baseline`: predictions in memory, checked row by row (ids unique,
  labels equal; by id, the items present in both are compared).
- :func:`pair_sources`: streaming; one pass over each source builds an
  order-independent :class:`PairingFingerprint` (row count, per-class supports,
  wrapping sums of mixed hashes of the keys and of (key, label) pairs). Equal
  fingerprints mean the same multiset of (item, label) (up to a 2**-64 chance);
  different ones are explained (row counts, items, labels by class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.engine.batches import Batch, BatchSource, InMemorySource, SourceInfo
from calibcli.errors import InputError
from calibcli.predictions import Predictions
from calibcli.stats.base import Arrays, scalar
from calibcli.stats.rng import mix64


@dataclass(frozen=True)
class Baseline:
    """Baseline predictions paired with the audited ones.

    ``new`` and ``old`` hold the paired rows (the same items, in any order);
    ``key_on_ids``: their bootstrap keys are id hashes (else positions).
    ``whole``: ``new`` is every audited row (its measurement is the audit's).
    In-memory pairings also give ``new_rows[i]`` and ``old_rows[i]``, the indices
    of one item in the audited and the baseline predictions.
    """

    new: BatchSource
    old: BatchSource
    files: tuple[str, ...]
    matched_by: str  # "id" or "position"
    n_matched: int
    key_on_ids: bool = False
    whole: bool = False
    new_rows: np.ndarray | None = None
    old_rows: np.ndarray | None = None


def _where(files: tuple[str, ...]) -> str:
    return files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"


def _check_same_kind(new: SourceInfo, old: SourceInfo, where: str) -> None:
    if tuple(new.classes) != tuple(old.classes):
        raise InputError(f"baseline {where} has classes [{', '.join(old.classes[:8])}] but the audited predictions have "
                         f"[{', '.join(new.classes[:8])}]; a baseline must describe the same classes.")
    if new.task is not old.task:
        raise InputError(f"baseline {where} is a {old.task.value} file but the audited predictions are {new.task.value}.")


def _labels_as_names(p: Predictions) -> np.ndarray:
    names = np.asarray(p.classes, dtype=object)
    if p.labels.ndim == 2:
        return p.labels
    return names[p.labels]


def _info(p: Predictions, files: tuple[str, ...], has_ids: bool) -> SourceInfo:
    return SourceInfo(files, p.classes, p.task, p.score_kind, p.n_samples, p.score_kind_evidence, has_ids=has_ids)


def match_baseline(new: Predictions, old: Predictions, files: tuple[str, ...],
                   new_ids: np.ndarray | None = None, old_ids: np.ndarray | None = None) -> Baseline:
    """Pair baseline rows with audited rows in memory: by id when both have ids, else by position.

    By position the row counts must match and the labels must agree, so that a
    reordered or different file is not silently compared. By id, ids must be
    unique; the items present in both are compared and must have the same labels.
    """
    where = _where(files)
    _check_same_kind(_info(new, (), False), _info(old, (), False), where)
    if new_ids is not None and old_ids is not None:
        for ids, what in ((new_ids, "audited predictions"), (old_ids, f"baseline {where}")):
            uniq, counts = np.unique(ids.astype(str), return_counts=True)
            if (counts > 1).any():
                dup = uniq[counts > 1][:3]
                raise InputError(f"the id column of the {what} has repeated ids ({', '.join(map(str, dup))}); ids must be unique to pair rows.")
        new_s, old_s = new_ids.astype(str), old_ids.astype(str)
        common, new_rows, old_rows = np.intersect1d(new_s, old_s, assume_unique=True, return_indices=True)
        if common.size == 0:
            raise InputError(f"no id of the audited predictions appears in the baseline {where}; check --id-col and the baseline file.")
        order = np.argsort(new_rows, kind="stable")
        new_rows, old_rows = new_rows[order], old_rows[order]
        a, b = _labels_as_names(new)[new_rows], _labels_as_names(old)[old_rows]
        bad = np.flatnonzero(np.any(a != b, axis=1) if a.ndim == 2 else a != b)
        if bad.size:
            raise InputError(f"{bad.size} items have different labels in the audited predictions and the baseline {where} "
                             f"(first id: {new_s[new_rows[bad[0]]]}); a baseline must be the same items with the same labels.")
        whole = new_rows.size == new.n_samples
        new_src = InMemorySource(new.subset(new_rows), _info(new, (), True), max(new_rows.size, 1),
                                 rows=new_rows, ids=new_ids[new_rows])
        old_src = InMemorySource(old.subset(old_rows), _info(old, files, True), max(old_rows.size, 1),
                                 rows=old_rows, ids=old_ids[old_rows])
        return Baseline(new_src, old_src, files, "id", int(new_rows.size), True, whole, new_rows, old_rows)
    if new.n_samples != old.n_samples:
        raise InputError(f"baseline {where} has {old.n_samples:,} rows but the audited predictions have {new.n_samples:,}; "
                         "rows are matched by position unless --id-col names an id column present in both.")
    a, b = _labels_as_names(new), _labels_as_names(old)
    bad = np.flatnonzero(np.any(a != b, axis=1) if a.ndim == 2 else a != b)
    if bad.size:
        raise InputError(f"row {bad[0] + 1} (and {bad.size - 1} more) of the baseline {where} has a different label than the audited "
                         "predictions; rows are matched by position, so the files must list the same items in the same order. "
                         "Pass --id-col to match rows by an id column.")
    idx = np.arange(new.n_samples)
    return Baseline(InMemorySource.from_predictions(new, max(new.n_samples, 1)),
                    InMemorySource.from_predictions(old, max(old.n_samples, 1), files), files, "position",
                    new.n_samples, False, True, idx, idx)


# ---------------------------------------------------------------- streaming pairing

_LABEL_SALT = np.uint64(0xD1B54A32D192ED03)


def _label_codes(labels: np.ndarray) -> np.ndarray:
    """One 64-bit code per row's label (a class index, or a multilabel 0/1 row)."""
    y = np.asarray(labels)
    if y.ndim == 1:
        return mix64(y.astype(np.uint64) ^ _LABEL_SALT)
    salts = mix64(np.arange(1, y.shape[1] + 1, dtype=np.uint64) ^ _LABEL_SALT)
    return (y.astype(np.uint64) * salts[None, :]).sum(axis=1, dtype=np.uint64)


class PairingFingerprint:
    """Order-independent fingerprint of a source's (key, label) pairs; ``update``/``merge``/``finalize``.

    Keys are global row keys (pairing by position) or ``hash_ids`` of the ids
    (pairing by id). Sums wrap modulo 2**64, so they do not depend on batching.

    >>> from calibcli.predictions import ScoreKind, Task
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 1]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> a = PairingFingerprint(2, by_id=False).update(Batch(p, np.arange(2)))
    >>> b = PairingFingerprint(2, by_id=False).update(Batch(p.subset([1]), np.array([1]))).merge(
    ...     PairingFingerprint(2, by_id=False).update(Batch(p.subset([0]), np.array([0]))))
    >>> a.finalize() == b.finalize()
    True
    """

    def __init__(self, n_classes: int, by_id: bool):
        self.n_classes, self.by_id = int(n_classes), bool(by_id)
        self.rows = 0
        self.support = np.zeros(self.n_classes, dtype=np.int64)
        self.key_sum = np.uint64(0)
        self.pair_sum = np.uint64(0)

    def update(self, batch: Batch) -> "PairingFingerprint":
        from calibcli.measure import id_keys

        keys = id_keys(batch) if self.by_id else batch.rows.astype(np.uint64)
        labels = batch.predictions.labels
        self.rows += batch.n_rows
        self.support += labels.sum(axis=0).astype(np.int64) if labels.ndim == 2 else np.bincount(labels, minlength=self.n_classes)
        key_mix = mix64(keys)
        with np.errstate(over="ignore"):  # sums wrap modulo 2**64 by design
            self.key_sum = np.uint64(self.key_sum + key_mix.sum(dtype=np.uint64))
            self.pair_sum = np.uint64(self.pair_sum + mix64(key_mix ^ _label_codes(labels)).sum(dtype=np.uint64))
        return self

    def merge(self, other: "PairingFingerprint") -> "PairingFingerprint":
        out = PairingFingerprint(self.n_classes, self.by_id)
        out.rows = self.rows + other.rows
        out.support = self.support + other.support
        with np.errstate(over="ignore"):
            out.key_sum = np.uint64(self.key_sum + other.key_sum)
            out.pair_sum = np.uint64(self.pair_sum + other.pair_sum)
        return out

    def finalize(self) -> tuple[int, tuple[int, ...], int, int]:
        """(rows, supports, key sum, pair sum)."""
        return self.rows, tuple(int(x) for x in self.support), int(self.key_sum), int(self.pair_sum)

    def to_arrays(self) -> Arrays:
        return {"n_classes": self.n_classes, "by_id": self.by_id, "rows": self.rows, "support": self.support.copy(),
                "key_sum": np.asarray(self.key_sum, dtype=np.uint64), "pair_sum": np.asarray(self.pair_sum, dtype=np.uint64)}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "PairingFingerprint":
        out = cls(scalar(arrays["n_classes"]), bool(scalar(arrays["by_id"])))
        out.rows = int(scalar(arrays["rows"]))
        out.support = np.array(arrays["support"], dtype=np.int64)
        out.key_sum = np.uint64(np.asarray(arrays["key_sum"], dtype=np.uint64))
        out.pair_sum = np.uint64(np.asarray(arrays["pair_sum"], dtype=np.uint64))
        return out


def explain_mismatch(new: PairingFingerprint, old: PairingFingerprint, classes: tuple[str, ...], where: str) -> str | None:
    """Why two fingerprints show different items or labels, in words; None when they agree."""
    (n_rows, n_sup, n_keys, n_pairs), (o_rows, o_sup, o_keys, o_pairs) = new.finalize(), old.finalize()
    how = "by id (--id-col)" if new.by_id else "by position"
    if n_rows != o_rows:
        return (f"baseline {where} has {o_rows:,} rows but the audited predictions have {n_rows:,}; rows are matched {how}, "
                "so both must list the same items.")
    if n_keys != o_keys:
        what = "ids" if new.by_id else "items"
        return f"baseline {where} lists different {what} than the audited predictions (same row count {n_rows:,}); rows are matched {how}."
    if n_pairs != o_pairs:
        diff = [f"'{c}': {a:,} audited vs {b:,} baseline" for c, a, b in zip(classes, n_sup, o_sup) if a != b][:3]
        counts = f" (label counts differ: {'; '.join(diff)})" if diff else " (label counts per class agree, so labels were swapped between items)"
        fix = "" if new.by_id else " Pass --id-col to match rows by an id column."
        return (f"some items have different labels in the audited predictions and the baseline {where}{counts}; rows are "
                f"matched {how}, so a baseline must be the same items with the same labels.{fix}")
    return None


def pair_sources(new: BatchSource, old: BatchSource, files: tuple[str, ...], by_id: bool) -> Baseline:
    """Pair two sources without a join: one pass over each, fingerprints compared after the passes.

    Both must hold the same items (by position: in the same order; by id: in any
    order) with the same labels; ``InputError`` explains what differs.
    """
    from calibcli.engine.local import run_pass

    where = _where(files)
    _check_same_kind(new.info, old.info, where)
    k = len(new.info.classes)
    fps = [run_pass(src, lambda: PairingFingerprint(k, by_id), lambda s, b: s.update(b)) for src in (new, old)]
    problem = explain_mismatch(fps[0], fps[1], new.info.classes, where)
    if problem:
        raise InputError(problem)
    return Baseline(new, old, files, "id" if by_id else "position", fps[0].rows, by_id, True)
