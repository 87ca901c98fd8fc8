"""The local engine: one pass over a source is a loop of ``update`` calls; merges form a tree.

``feed`` and ``run_pass`` are the only ways a pass runs: given a source that runs its
passes itself (``source.run(consumers)``: a :class:`~calibcli.engine.dask.DaskSource`)
they hand it the unfed consumers instead of looping over batches here.

Threads: a source with ``threads = T > 1`` (``--threads``, default :data:`DEFAULT_THREADS`)
has each pass fed to ``T`` replicas of the consumers, batch ``i`` to replica ``i % T``,
each in its own thread, while the calling thread reads (or converts) the batches; the
replicas are then merged into the consumers in replica order. The assignment does not
depend on timing, so the same input and options give the same bytes; any ``T`` gives the
same numbers as one thread to rounding (the partitioning law). The hot loops release the
GIL (numpy, and the compiled kernels of :mod:`calibcli.kernels`), so two threads use two
cores. A pass with a consumer that cannot merge (``merge`` missing) runs in one thread.

Kernels: a source's ``compiled_kernels`` (True, False or None) is the choice of compiled
kernels for its batches (:func:`calibcli.kernels.scope`), set in every thread of a pass.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, TypeVar

from calibcli import kernels
from calibcli.engine.batches import Batch, BatchSource

S = TypeVar("S")
FAN_IN = 8
DEFAULT_THREADS = 2  # threads of a local pass (fixed, not the core count: the output does not depend on the machine's cores)
QUEUE_BATCHES = 2  # batches waiting per thread (memory: at most threads x (2 + 1) batches in flight)


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
    threads = pass_threads(source, consumers)
    if threads > 1:
        return _feed_threads(source, consumers, threads)
    rows = 0
    with kernels.scope(getattr(source, "compiled_kernels", None)):
        for batch in source.batches():
            for consumer in consumers:
                consumer.update(batch)
            rows += batch.n_rows
    return rows


def pass_threads(source, consumers) -> int:
    """Threads of a local pass: the source's ``threads`` (1 when it has none), or 1 when a consumer cannot merge."""
    n = int(getattr(source, "threads", 1) or 1)
    if n <= 1 or not consumers or not all(callable(getattr(c, "merge", None)) for c in consumers):
        return 1
    return n


def _feed_threads(source: BatchSource, consumers: tuple, threads: int) -> int:
    """``feed`` with ``threads`` replicas of the consumers (see the module docstring)."""
    import copy
    import queue
    import threading

    groups = [list(consumers)] + [[copy.deepcopy(c) for c in consumers] for _ in range(threads - 1)]  # unfed replicas
    queues = [queue.Queue(maxsize=QUEUE_BATCHES) for _ in range(threads)]
    failures: list[tuple[int, BaseException]] = []
    stop = threading.Event()  # a worker failed: read no more batches
    abort = threading.Event()  # reading failed (or was interrupted): workers skip what is queued

    chosen = getattr(source, "compiled_kernels", None)

    def work(t: int) -> None:
        with kernels.scope(chosen):
            _work(t)

    def _work(t: int) -> None:
        while True:
            item = queues[t].get()
            if item is None:
                return
            i, batch = item
            if abort.is_set() or (failures and i > min(f[0] for f in failures)):
                continue  # drain: a failure of an earlier batch ends the pass (earlier batches still run)
            try:
                for consumer in groups[t]:
                    consumer.update(batch)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                failures.append((i, exc))
                stop.set()

    workers = [threading.Thread(target=work, args=(t,), name=f"calib-pass-{t}", daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    rows = 0
    batches = source.batches()
    try:
        for i, batch in enumerate(batches):
            if stop.is_set():
                break
            queues[i % threads].put((i, batch))
            rows += batch.n_rows
    except BaseException:
        abort.set()
        raise
    finally:
        for q in queues:
            q.put(None)
        for w in workers:
            w.join()
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    if failures:
        raise min(failures, key=lambda f: f[0])[1]  # the error of the earliest batch, as one thread would raise
    for replica in groups[1:]:
        for consumer, other in zip(groups[0], replica):
            merge_into(consumer, other)
    return rows
