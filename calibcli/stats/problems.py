"""``ProblemLog``: a count per problem and its first few places, in bounded memory.

A place is ``(file, row)``: the file's position in the input order and the row's
index within that file. Merging keeps, per problem, the earliest ``max_places``
places in ``(file, row)`` order, so the log names the same first rows however the
input was batched or partitioned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibcli.stats.base import Arrays, scalar


@dataclass(frozen=True)
class Problem:
    """One kind of problem: how many rows have it and the first places (file, row)."""

    key: str
    count: int
    places: tuple[tuple[int, int], ...]


class ProblemLog:
    """Counts per problem key and the earliest places; ``update`` in place, ``merge`` new.

    >>> log = ProblemLog(max_places=2).update("nan_score", file=0, rows=[9, 4, 7])
    >>> log = log.merge(ProblemLog(max_places=2).update("nan_score", file=0, rows=[2]))
    >>> log.finalize()
    (Problem(key='nan_score', count=4, places=((0, 2), (0, 4))),)
    """

    def __init__(self, max_places: int = 5):
        if max_places < 0:
            raise ValueError(f"max_places must be >= 0, got {max_places}")
        self.max_places = int(max_places)
        self.counts: dict[str, int] = {}
        self.places: dict[str, np.ndarray] = {}  # key -> (m, 2) int64 sorted by (file, row), m <= max_places

    def _earliest(self, places: np.ndarray) -> np.ndarray:
        order = np.lexsort((places[:, 1], places[:, 0]))
        return places[order[: self.max_places]]

    def update(self, key: str, file: int, rows, count: int | None = None) -> "ProblemLog":
        """Record rows of one file with problem ``key``.

        Parameters
        ----------
        key : str
            The problem (e.g. ``"nonfinite_score"``).
        file : int
            Position of the file in the input order.
        rows : array of int
            Row indices within the file (any order).
        count : int, optional
            Rows with the problem, when ``rows`` lists only some of them (default ``len(rows)``).
        """
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = r.size if count is None else int(count)
        if n == 0:
            return self
        if self.max_places and r.size > self.max_places:
            r = np.partition(r, self.max_places - 1)[: self.max_places]
        new = np.column_stack([np.full(r.size, int(file), dtype=np.int64), r])
        old = self.places.get(key, np.empty((0, 2), dtype=np.int64))
        self.places[key] = self._earliest(np.concatenate([old, new]))
        self.counts[key] = self.counts.get(key, 0) + n
        return self

    def merge(self, other: "ProblemLog") -> "ProblemLog":
        """A new log for the rows of both (the same ``max_places``)."""
        if not isinstance(other, ProblemLog) or other.max_places != self.max_places:
            raise ValueError("cannot merge problem logs with different max_places")
        out = ProblemLog(self.max_places)
        for key in sorted(set(self.counts) | set(other.counts)):
            out.counts[key] = self.counts.get(key, 0) + other.counts.get(key, 0)
            both = [d[key] for d in (self.places, other.places) if key in d]
            out.places[key] = self._earliest(np.concatenate(both))
        return out

    def finalize(self) -> tuple[Problem, ...]:
        """Problems ordered by their first place (then key); each with its count and places."""
        out = [Problem(k, self.counts[k], tuple((int(f), int(r)) for f, r in self.places[k])) for k in self.counts]
        big = (np.iinfo(np.int64).max, np.iinfo(np.int64).max)
        return tuple(sorted(out, key=lambda p: (p.places[0] if p.places else big, p.key)))

    def to_arrays(self) -> Arrays:
        keys = sorted(self.counts)
        place_key = np.concatenate([np.full(len(self.places[k]), i, dtype=np.int64) for i, k in enumerate(keys)] or [np.empty(0, np.int64)])
        places = np.concatenate([self.places[k] for k in keys] or [np.empty((0, 2), np.int64)])
        return {"max_places": self.max_places, "keys": np.array(keys, dtype=str), "counts": np.array([self.counts[k] for k in keys], dtype=np.int64),
                "place_key": place_key, "places": places.reshape(-1, 2)}

    @classmethod
    def from_arrays(cls, arrays: Arrays) -> "ProblemLog":
        out = cls(scalar(arrays["max_places"]))
        keys = [str(k) for k in np.asarray(arrays["keys"]).reshape(-1)]
        place_key = np.asarray(arrays["place_key"], dtype=np.int64)
        places = np.asarray(arrays["places"], dtype=np.int64).reshape(-1, 2)
        for i, k in enumerate(keys):
            out.counts[k] = int(np.asarray(arrays["counts"])[i])
            out.places[k] = places[place_key == i]
        return out
