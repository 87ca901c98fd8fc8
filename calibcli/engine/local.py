"""The local engine: one pass over a source is a loop of ``update`` calls; merges form a tree.

``feed`` and ``run_pass`` are the only ways a pass runs: given a source that runs its
passes itself (``source.run(consumers)``: a :class:`~calibcli.engine.dask.DaskSource`)
they hand it the unfed consumers instead of looping over batches here.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, TypeVar

from calibcli.engine.batches import Batch, BatchSource

S = TypeVar("S")
FAN_IN = 8


def run_pass(source: BatchSource, new_state: Callable[[], S], update: Callable[[S, Batch], object]) -> S:
    """Feed every batch of ``source`` to one state and return it (one pass over the data).

    ``update(state, batch)`` adds a batch to ``state`` in place.

    Examples
    --------
    >>> import numpy as np
    >>> from calibcli.engine.batches import InMemorySource
    >>> from calibcli.predictions import Predictions, ScoreKind, Task
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1]),
    ...                 ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> run_pass(InMemorySource.from_predictions(p, 2), list, lambda s, b: s.append(b.n_rows))
    [2, 1]
    """
    state = new_state()
    if _remote(source):  # a source whose passes run elsewhere (Dask): the state travels, not the rows
        holder = StateConsumer(state, update)
        source.run([holder])
        return holder.state
    for batch in source.batches():
        update(state, batch)
    return state


class StateConsumer:
    """A state and its update function as a pass consumer (``update(batch)``, ``merge(other)``), for ``run_pass``.

    ``state.merge(other)`` may add in place and return the state, or return a new state.
    """

    def __init__(self, state, update: Callable[[object, Batch], object]):
        self.state = state
        self.update_fn = update

    def update(self, batch: Batch) -> "StateConsumer":
        self.update_fn(self.state, batch)
        return self

    def merge(self, other: "StateConsumer") -> "StateConsumer":
        merged = self.state.merge(other.state)
        if merged is not None:
            self.state = merged
        return self


def _remote(source) -> bool:
    """Whether ``source`` runs its passes itself (``run(consumers)``: the Dask engine)."""
    return callable(getattr(source, "run", None))


def tree_merge(states: Sequence[S] | Iterable[S], merge: Callable[[S, S], S], fan_in: int = FAN_IN) -> S:
    """Merge states level by level, ``fan_in`` at a time (the shape a cluster uses).

    >>> tree_merge([1, 2, 3, 4, 5], lambda a, b: a + b, fan_in=2)
    15
    """
    level = list(states)
    if not level:
        raise ValueError("nothing to merge")
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), fan_in):
            group = level[i:i + fan_in]
            acc = group[0]
            for other in group[1:]:
                acc = merge(acc, other)
            nxt.append(acc)
        level = nxt
    return level[0]


def merge_into(state, other):
    """Merge ``other`` into ``state`` in place and return ``state``, whether ``state.merge`` adds in place (the
    pass-consumer contract) or returns a new state (the convention of :mod:`calibcli.stats`).

    >>> class Sum:
    ...     def __init__(self, n): self.n = n
    ...     def merge(self, other): return Sum(self.n + other.n)  # returns a new state
    >>> a = Sum(1); merge_into(a, Sum(2)) is a, a.n
    (True, 3)
    """
    out = state.merge(other)
    if out is not None and out is not state:
        state.__dict__.update(out.__dict__)
    return state


def feed(source: BatchSource, *consumers) -> int:
    """One pass over ``source`` feeding every batch to each consumer's ``update(batch)``.

    Several statistics share a pass this way (e.g. the before-measurement, the
    temperature derivative sums and the threshold tables). Returns the rows fed.

    >>> import numpy as np
    >>> from calibcli.engine.batches import InMemorySource
    >>> from calibcli.predictions import Predictions, ScoreKind, Task
    >>> p = Predictions(np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1]),
    ...                 ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> class Count:
    ...     n = 0
    ...     def update(self, batch):
    ...         self.n += batch.n_rows
    >>> c = Count(); feed(InMemorySource.from_predictions(p, 2), c); c.n
    3
    3
    """
    if _remote(source):  # a source whose passes run elsewhere (Dask): replicas per partition, merged
        return source.run(list(consumers))
    rows = 0
    for batch in source.batches():
        for consumer in consumers:
            consumer.update(batch)
        rows += batch.n_rows
    return rows
