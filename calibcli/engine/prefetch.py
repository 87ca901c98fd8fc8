"""Read ahead: an iterator consumed in a background thread, ``depth`` items ahead of its user.

Reading a record batch (pyarrow: decompression and decoding, outside the GIL) then overlaps
the work done on the previous one. Items arrive in order; an exception of the iterator is
raised where the item would have been; leaving the loop early stops the reader.

>>> list(prefetch(iter(range(5))))
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_S = 0.1  # how often a blocked reader checks whether its user has gone


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield the items of ``items``, read by a background thread at most ``depth`` items ahead.

    Memory: at most ``depth + 1`` items are held at a time.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    gone = threading.Event()

    def put(item) -> bool:
        while not gone.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as exc:  # noqa: BLE001 - handed to the user's thread
            put((False, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None and gone.is_set():
                close()

    reader = threading.Thread(target=read, name="calib-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        gone.set()
        reader.join()
