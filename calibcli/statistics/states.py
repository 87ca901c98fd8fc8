"""Plumbing shared by the statistic states: the curve in ``to_arrays``, and two state layouts used twice.

- :func:`curve_from_arrays`: the curve a state stored as ``str(curve)``, read back.
- :class:`CurveTableState`: a :class:`~calibcli.statistics.table.ScoreTable` of one curve
  with integer parameters (the debiased ECE, Hosmer–Lemeshow, discrimination); merges in place.
- :class:`DistinctWithBuckets`: an exact distinct-score table within a budget plus fine
  equal-width buckets for beyond it (CORP, ECCE); ``merge`` returns a new state.
"""

from __future__ import annotations

from typing import Any

from calibcli.statistics.inputs import Curve, binary_arrays, check_curve
from calibcli.statistics.smooth import FineHistogram
from calibcli.statistics.table import ScoreTable
from calibcli.stats.base import Arrays, scalar
from calibcli.stats.distinct import DistinctTable


def curve_from_arrays(value: Any) -> Curve:
    """The curve stored as ``str(curve)`` by a state's ``to_arrays``: digits are a class index.

    >>> curve_from_arrays("top"), curve_from_arrays("3")
    ('top', 3)
    """
    text = str(scalar(value))
    return int(text) if text.isdigit() else text


class CurveTableState:
    """Base of the states that are one curve's :class:`ScoreTable` plus integer parameters.

    A subclass names its parameters in ``PARAMS`` (attributes, ``to_arrays`` keys and the
    ``__init__`` arguments after ``curve``, before ``max_distinct``), says what it is in
    ``WHAT`` (merge errors), sets ``PROBABILITIES = False`` when scores need not lie in
    [0, 1] and defines ``finalize``.
    """

    PARAMS: tuple[str, ...] = ()
    WHAT = "states"
    PROBABILITIES = True

    def __init__(self, curve: Curve, max_distinct: int):
        self.curve = check_curve(curve)
        self.table = ScoreTable(max_distinct)

    def _params(self) -> tuple:
        return tuple(getattr(self, name) for name in self.PARAMS)

    def update(self, conf, outcome=None, weight=None):
        """Add rows: ``(conf, outcome[, weight])`` arrays, or a ``Batch`` read through ``curve``."""
        self.table.update(*binary_arrays(conf, outcome, weight, self.curve,
                                         probabilities=self.PROBABILITIES))
        return self

    def merge(self, other):
        """Add the rows of ``other`` in place; return ``self``."""
        if not isinstance(other, type(self)) or (other.curve, *other._params()) != (self.curve, *self._params()):
            raise ValueError(f"cannot merge {self.WHAT}")
        self.table.merge(other.table)
        return self

    def to_arrays(self) -> Arrays:
        return {"curve": str(self.curve), **dict(zip(self.PARAMS, self._params())), **self.table.to_arrays()}

    @classmethod
    def from_arrays(cls, arrays: Arrays):
        params = [scalar(arrays[name]) for name in cls.PARAMS]
        out = cls(curve_from_arrays(arrays["curve"]), *params, scalar(arrays["max_distinct"]))
        out.table = ScoreTable.from_arrays(arrays)
        return out


class DistinctWithBuckets:
    """Base of the states holding a :class:`DistinctTable` (``table``) and a :class:`FineHistogram` (``hist``)."""

    def __init__(self, max_distinct: int, n_fine: int):
        self.table = DistinctTable(max_distinct)
        self.hist = FineHistogram(n_fine)

    def update(self, conf, outcome, weight=None):
        """Add a batch: scores (n,), 0/1 outcomes (n,), optional weights (n,)."""
        return self._add(*binary_arrays(conf, outcome, weight, probabilities=False))

    def _add(self, conf, outcome, weight):
        """Add validated float64 arrays (as :func:`~calibcli.statistics.inputs.binary_arrays` returns them)."""
        self.table.update(conf, outcome, weight)
        self.hist.update(conf, outcome, weight)
        return self

    def merge(self, other):
        """A new state for the rows of both; the inputs are unchanged."""
        out = type(self)(self.table.max_distinct, self.hist.n_bins)
        out.table = self.table.merge(other.table)
        out.hist = self.hist.merge(other.hist)
        return out

    def to_arrays(self) -> Arrays:
        return {**{f"table_{k}": v for k, v in self.table.to_arrays().items()},
                **{f"hist_{k}": v for k, v in self.hist.to_arrays().items()}}

    @classmethod
    def from_arrays(cls, arrays: Arrays):
        out = cls(int(scalar(arrays["table_max_distinct"])), int(scalar(arrays["hist_n_bins"])))
        out.table = DistinctTable.from_arrays({k[6:]: v for k, v in arrays.items() if k.startswith("table_")})
        out.hist = FineHistogram.from_arrays({k[5:]: v for k, v in arrays.items() if k.startswith("hist_")})
        return out
