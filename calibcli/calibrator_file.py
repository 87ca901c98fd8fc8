"""Calibrator files: versioned JSON (never pickle), validated on load, and the fingerprint of the fitting data.

This module knows the calibrators and the file format only (no reading of
prediction files, no rendering): ``calib apply`` streams prediction files through
a calibrator in :mod:`calibcli.apply_stream`.

A file looks like::

    {
      "format": "calib-calibrator",
      "format_version": 1,
      "tool": {"name": "calib", "version": "0.1.0"},
      "calibrator": {"method": "temperature", "task": "multiclass", "classes": [...],
                     "input_kind": "logits", "params": {"temperature": [1.7]}},
      "columns": ["logit_cat", "logit_dog", ...],
      "fitted_on": {"files": [...], "rows": 10000, "sha256": "...", "scheme": "row-hash-sum-v2", ...},
      "fit": {...}
    }
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibcli import __version__
from calibcli.calibrators import Calibrator, calibrator_from_dict
from calibcli.errors import CalibError, ConfigError
from calibcli.predictions import Predictions, ScoreKind, Task

FORMAT = "calib-calibrator"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class CalibratorFile:
    """A loaded calibrator file: the calibrator plus what it was fitted on."""

    calibrator: Calibrator
    columns: tuple[str, ...] = ()
    fitted_on: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    tool_version: str | None = None


FINGERPRINT_SCHEME = "row-hash-sum-v2"
HASH_OF = ("SHA-256 of the scheme name, the row count, two sums modulo 2**64 of a 64-bit hash per row of (global row "
           "index, float64 validated scores (logits when the file held logits), int64 labels), and the class names; "
           "the same for any batch size or partitioning")
_LANE_SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)  # pi's fraction: the starting key of each lane
_LABEL_SALT = 0xA4093822299F31D0


def _row_hashes(rows: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A 64-bit hash per row of (row key, score bits, labels): SplitMix64 steps, vectorised over rows."""
    from calibcli.stats.rng import GAMMA, as_keys, mix64

    h = as_keys(rows).astype(np.uint64, copy=True)
    np.multiply(h, np.uint64(GAMMA), out=h)
    bits = np.ascontiguousarray(scores, dtype=np.float64).reshape(h.shape[0], -1)
    bits = np.where(bits == 0.0, 0.0, bits).view(np.uint64)  # -0.0 and 0.0 hash alike
    lab = np.ascontiguousarray(labels, dtype=np.int64).reshape(h.shape[0], -1).view(np.uint64)
    for j in range(bits.shape[1]):
        mix64(np.bitwise_xor(h, bits[:, j], out=h), out=h)
        np.add(h, np.uint64(GAMMA), out=h)
    for j in range(lab.shape[1]):
        mix64(np.bitwise_xor(h, lab[:, j] ^ np.uint64(_LABEL_SALT), out=h), out=h)
    return h


class DataFingerprint:
    """The fingerprint of the fitting data: ``update`` per batch, ``merge``, ``finalize`` (a pass consumer).

    Every row gets a 64-bit hash of its global row key, its float64 validated
    scores (logits when the file held logits) and its int64 labels; the state is
    the row count and two sums of those hashes modulo 2**64 (the second of the
    hashes re-mixed with another key), so it is the same for any batch size, any
    partitioning and any merge order, and holds three integers whatever the rows.
    ``finalize`` hashes them with the class names (SHA-256, 64 hex digits). It does
    not depend on the file format; moving a row to another position changes it.

    Files written by calib before this scheme hold a ``sha256`` of two row-order
    streams and no ``scheme``; they load the same way (the fingerprint is
    informational: nothing compares it).

    >>> from calibcli.engine.batches import Batch
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([1, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> one = DataFingerprint(p.classes).update(Batch(p, np.arange(2)))
    >>> two = DataFingerprint(p.classes).update(Batch(p.subset([1]), np.array([1])))
    >>> two.merge(DataFingerprint(p.classes).update(Batch(p.subset([0]), np.array([0])))).finalize([]) == one.finalize([])
    True
    """

    def __init__(self, classes: tuple[str, ...]):
        self.classes = tuple(classes)
        self.sums = [0, 0]
        self.rows = 0

    def update(self, batch) -> "DataFingerprint":
        """Add a ``Batch`` (rows keyed by ``batch.rows``) or ``Predictions`` (the next rows, in order)."""
        from calibcli.stats.rng import mix64

        preds = getattr(batch, "predictions", batch)
        n = preds.n_samples
        keys = getattr(batch, "rows", None)
        if keys is None or batch is preds:
            keys = np.arange(self.rows, self.rows + n, dtype=np.int64)
        scores = preds.logits if preds.logits is not None else preds.probs
        h = _row_hashes(keys, scores, preds.labels)
        first = int(h.sum(dtype=np.uint64)) if n else 0
        mix64(np.bitwise_xor(h, np.uint64(_LANE_SEEDS[1]), out=h), out=h)
        second = int(h.sum(dtype=np.uint64)) if n else 0
        mask = (1 << 64) - 1
        self.sums = [(self.sums[0] + first) & mask, (self.sums[1] + second) & mask]
        self.rows += n
        return self

    def merge(self, other: "DataFingerprint") -> "DataFingerprint":
        """Add the rows of ``other`` (a replica fed other rows), in place."""
        if other.classes != self.classes:
            raise ValueError("fingerprints of different class sets cannot merge")
        mask = (1 << 64) - 1
        self.sums = [(a + b) & mask for a, b in zip(self.sums, other.sums)]
        self.rows += other.rows
        return self

    def finalize(self, files: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """The ``fitted_on`` object of a calibrator file: files, rows, ``sha256``, ``scheme`` and what it hashes."""
        h = hashlib.sha256()
        h.update(FINGERPRINT_SCHEME.encode("ascii"))
        h.update(int(self.rows).to_bytes(8, "little"))
        for s in self.sums:
            h.update(int(s).to_bytes(8, "little"))
        h.update("\x1f".join(self.classes).encode("utf-8"))
        return {"files": [str(f) for f in files], "rows": self.rows, "sha256": h.hexdigest(),
                "scheme": FINGERPRINT_SCHEME, "hash_of": HASH_OF}


def data_fingerprint(preds: Predictions, files: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Rows, files and a SHA-256 of the validated scores and labels (:class:`DataFingerprint` of rows 0..n-1).

    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.5, 0.5]]), np.array([0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> data_fingerprint(p, ["x.csv"])["rows"]
    1
    """
    return DataFingerprint(preds.classes).update(preds).finalize(files)


def calibrator_document(cal: Calibrator, columns: tuple[str, ...] = (), fitted_on: dict | None = None,
                        fit: dict | None = None) -> dict[str, Any]:
    """The JSON document of a calibrator file."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": {"name": "calib", "version": __version__},
        "calibrator": cal.to_dict(),
        "columns": list(columns),
        "fitted_on": dict(fitted_on or {}),
        "fit": dict(fit or {}),
    }


def save_calibrator(cal: Calibrator, path: str | os.PathLike, columns: tuple[str, ...] = (),
                    fitted_on: dict | None = None, fit: dict | None = None) -> None:
    """Write ``cal`` as a versioned JSON calibrator file, atomically.

    Parameters
    ----------
    cal : the fitted calibrator.
    path : output file.
    columns : the score columns it was fitted on (checked by ``calib apply``).
    fitted_on : ``data_fingerprint`` of the fitting data.
    fit : extra facts about the fit (interval of T, in-sample metrics).
    """
    from calibcli.outputs import write_atomic

    write_atomic(path, calibrator_text(cal, columns, fitted_on, fit))


def _json_ready(value: Any) -> Any:
    """Plain JSON data: numpy scalars and arrays to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if np.isfinite(f) else None
    return value


def calibrator_text(cal: Calibrator, columns: tuple[str, ...] = (), fitted_on: dict | None = None,
                    fit: dict | None = None) -> str:
    """The text of a calibrator file (what ``save_calibrator`` writes; ``calib fit`` stages it)."""
    doc = _json_ready(calibrator_document(cal, columns, fitted_on, fit))
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def parse_calibrator_document(doc: Any) -> CalibratorFile:
    """Validate a parsed calibrator document; ``ConfigError`` says what is wrong."""
    if not isinstance(doc, dict):
        raise ConfigError("the file must hold a JSON object")
    if doc.get("format") != FORMAT:
        raise ConfigError(f"'format' is {doc.get('format')!r}, expected {FORMAT!r}: this is not a calib calibrator file")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ConfigError("'format_version' must be an integer")
    if version > FORMAT_VERSION:
        raise ConfigError(f"'format_version' {version} is newer than this calib understands ({FORMAT_VERSION}); upgrade calib")
    if version < 1:
        raise ConfigError(f"'format_version' {version} is not valid")
    cal = calibrator_from_dict(doc.get("calibrator"))
    columns = doc.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ConfigError("'columns' must be a list of column names")
    n_expected = (1, 2) if cal.task is Task.BINARY else (len(cal.classes),)
    if columns and len(columns) not in n_expected:
        raise ConfigError(f"'columns' lists {len(columns)} columns but the calibrator has {len(cal.classes)} classes")
    fitted_on = doc.get("fitted_on", {})
    fit = doc.get("fit", {})
    if not isinstance(fitted_on, dict) or not isinstance(fit, dict):
        raise ConfigError("'fitted_on' and 'fit' must be JSON objects")
    tool = doc.get("tool", {})
    return CalibratorFile(cal, tuple(columns), fitted_on, fit, tool.get("version") if isinstance(tool, dict) else None)


def read_calibrator_file(path: str | os.PathLike) -> CalibratorFile:
    """Read and validate a calibrator file; malformed files raise ``ConfigError`` (exit 2)."""
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes is too large for a calibrator file. Check the path.")
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the calibrator file ({exc.strerror}). Check the path; write one with calib fit.") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}). Calibrator files are written by calib fit; write it again.") from None
    try:
        return parse_calibrator_document(doc)
    except ConfigError as exc:
        raise ConfigError(f"{path}: invalid calibrator file: {exc}. Write it again with calib fit.") from None


def load_calibrator(path: str | os.PathLike) -> Calibrator:
    """The calibrator saved in ``path`` (validated).

    Examples
    --------
    >>> import tempfile, os
    >>> from calibcli.calibrators import TemperatureScaling
    >>> cal = TemperatureScaling(Task.BINARY, ("a", "b"), ScoreKind.PROBS, (1.5,))
    >>> path = os.path.join(tempfile.mkdtemp(), "cal.json")
    >>> save_calibrator(cal, path)
    >>> load_calibrator(path) == cal
    True
    """
    return read_calibrator_file(path).calibrator


__all__ = ["CalibratorFile", "FORMAT", "FORMAT_VERSION", "FINGERPRINT_SCHEME", "DataFingerprint", "data_fingerprint", "calibrator_document",
           "calibrator_text", "save_calibrator", "parse_calibrator_document", "read_calibrator_file", "load_calibrator",
           "CalibError"]
