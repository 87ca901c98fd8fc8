"""The protocol every partial state follows, and its pickle-free serialisation.

A partial state summarises some rows. An engine (a local loop, Dask, Spark's
``mapInArrow``) feeds it batches with ``update``, combines states of disjoint
rows with ``merge`` and calls ``finalize`` once at the end; division happens only
in ``finalize``.

Conventions shared by every state in :mod:`calibcli.stats`:

- ``update(...)`` adds one batch of rows **in place** and returns ``self``.
- ``merge(other)`` returns a **new** state for the union of the two sets of rows
  and leaves both inputs unchanged, so a tree of merges may reuse its leaves.
- ``finalize()`` returns a frozen result; it does not change the state.
- ``to_arrays()`` returns a flat ``dict`` of numpy arrays (never of dtype
  ``object``) and Python scalars; ``from_arrays`` inverts it. :func:`dumps`
  and :func:`loads` turn that dict into bytes with ``np.savez`` (no pickle).
"""

from __future__ import annotations

import io
from typing import Any, Protocol, runtime_checkable

import numpy as np

Arrays = dict[str, Any]
FORMAT_VERSION = 1
_KIND_KEY = "__state__"
_VERSION_KEY = "__version__"


@runtime_checkable
class PartialState(Protocol):
    """A mergeable summary of rows: ``update``, ``merge``, ``finalize``, ``to_arrays``."""

    def update(self, *args: Any, **kwargs: Any) -> "PartialState": ...

    def merge(self, other: Any) -> "PartialState": ...

    def finalize(self) -> Any: ...

    def to_arrays(self) -> Arrays: ...

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "PartialState": ...


def scalar(value: Any) -> Any:
    """A Python scalar from a Python scalar or a 0-d numpy array (as ``np.load`` returns).

    >>> scalar(np.asarray(3)), scalar(2.5), scalar(np.asarray("a"))
    (3, 2.5, 'a')
    """
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ValueError(f"expected a scalar, got an array of shape {value.shape}")
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def state_registry() -> dict[str, type]:
    """Every state class of :mod:`calibcli.stats` by name (imported lazily)."""
    from calibcli.stats.bins import BinStats
    from calibcli.stats.distinct import DistinctTable
    from calibcli.stats.kll import KLLSketch
    from calibcli.stats.problems import ProblemLog
    from calibcli.stats.sums import ScalarSums, ScoreEvidence

    return {cls.__name__: cls for cls in (BinStats, DistinctTable, KLLSketch, ProblemLog, ScalarSums, ScoreEvidence)}


def dumps(state: PartialState) -> bytes:
    """Bytes of a state: ``np.savez`` of its ``to_arrays()`` plus its class name.

    >>> from calibcli.stats.sums import ScoreEvidence
    >>> ev = ScoreEvidence().update(np.array([[0.2, 0.8]]))
    >>> loads(dumps(ev)).finalize() == ev.finalize()
    True
    """
    arrays = state.to_arrays()
    for key, value in arrays.items():
        if isinstance(value, np.ndarray) and value.dtype == object:
            raise TypeError(f"{type(state).__name__}.to_arrays()[{key!r}] has dtype object (needs pickle)")
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_KIND_KEY: np.asarray(type(state).__name__), _VERSION_KEY: np.asarray(FORMAT_VERSION)})
    return buf.getvalue()


def loads(data: bytes) -> PartialState:
    """The state that :func:`dumps` wrote (``allow_pickle=False``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    kind = str(scalar(arrays.pop(_KIND_KEY)))
    version = int(scalar(arrays.pop(_VERSION_KEY)))
    if version != FORMAT_VERSION:
        raise ValueError(f"state format version {version} is not supported (expected {FORMAT_VERSION})")
    registry = state_registry()
    if kind not in registry:
        raise ValueError(f"unknown state kind {kind!r}")
    return registry[kind].from_arrays(arrays)
