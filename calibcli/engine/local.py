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
    take = getattr(source, "take_first_pass", None)
    if take is not None:  # the source's first pass after opening may have been fed during its scan
        rows = take(consumers)
        if rows is not None:
            return rows
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
    fan = ThreadedFeed(consumers, threads, getattr(source, "compiled_kernels", None))
    rows = 0
    batches = source.batches()
    try:
        for batch in batches:
            if not fan.put(batch):
                break
            rows += batch.n_rows
    except BaseException:
        fan.abandon()
        raise
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    fan.finish()
    return rows


class ThreadedFeed:
    """Batches handed to ``threads`` replicas of ``consumers``, each fed in its own thread (see the module
    docstring): batch ``i`` (in :meth:`put` order) goes to replica ``i % threads``; :meth:`finish` merges the
    replicas into ``consumers`` in replica order, or raises the error of the earliest failed batch.

    The calling thread produces the batches (a pass over a source, or the scan of
    :mod:`calibcli.engine.streaming`); ``compiled`` is the kernels' choice of every worker
    (:func:`calibcli.kernels.scope`). ``depth``: batches waiting per thread.
    """

    def __init__(self, consumers: Sequence, threads: int, compiled: bool | None, depth: int = QUEUE_BATCHES):
        import copy
        import queue
        import threading

        self.consumers = list(consumers)
        self.threads = threads
        self._groups = [self.consumers] + [[copy.deepcopy(c) for c in consumers] for _ in range(threads - 1)]
        self._queues = [queue.Queue(maxsize=depth) for _ in range(threads)]
        self._failures: list[tuple[int, BaseException]] = []
        self._stop = threading.Event()  # a worker failed: put no more batches
        self._abort = threading.Event()  # the producer failed (or gave up): workers skip what is queued
        self._compiled = compiled
        self._count = 0
        self._workers = [threading.Thread(target=self._work, args=(t,), name=f"calib-pass-{t}", daemon=True)
                         for t in range(threads)]
        self._open = True
        for w in self._workers:
            w.start()

    def _work(self, t: int) -> None:
        with kernels.scope(self._compiled):
            while True:
                item = self._queues[t].get()
                if item is None:
                    return
                i, batch = item
                if self._abort.is_set() or (self._failures and i > min(f[0] for f in self._failures)):
                    continue  # drain: a failure of an earlier batch ends the pass (earlier batches still run)
                try:
                    for consumer in self._groups[t]:
                        consumer.update(batch)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                    self._failures.append((i, exc))
                    self._stop.set()

    def put(self, batch: Batch) -> bool:
        """Queue the next batch; False (nothing queued) once a batch has failed."""
        if self._stop.is_set():
            return False
        self._queues[self._count % self.threads].put((self._count, batch))
        self._count += 1
        return True

    def _join(self) -> None:
        if self._open:
            self._open = False
            for q in self._queues:
                q.put(None)
            for w in self._workers:
                w.join()

    def abandon(self) -> None:
        """Stop the workers, skipping queued batches; the consumers are left partly fed (discard them)."""
        self._abort.set()
        self._join()

    def finish(self) -> None:
        """Wait for the queued batches, then raise the earliest batch's error or merge the replicas into
        ``consumers`` (in replica order)."""
        self._join()
        if self._failures:
            raise min(self._failures, key=lambda f: f[0])[1]  # the error of the earliest batch, as one thread would
        for replica in self._groups[1:]:
            for consumer, other in zip(self._groups[0], replica):
                merge_into(consumer, other)
        self._groups = [self.consumers]
