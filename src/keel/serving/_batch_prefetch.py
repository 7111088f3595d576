"""Run an iterator in a thread of its own, a few items ahead of its consumer.

Batch scoring reads (decompresses and decodes Parquet, in Arrow, without the GIL) while the
model predicts on the batch before: on two cores the two overlap instead of taking turns.
The thread starts when :func:`prefetched` is called, not at the first item, so the reading
(and the input's hashing) can begin while the model is still loading.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

__all__ = ["Prefetched", "prefetched"]

T = TypeVar("T")
_DONE = object()


class Prefetched(Iterator[T], Generic[T]):
    """The items of an iterable, produced in a background thread at most ``depth`` ahead.

    An exception raised by the iterable is raised here, at the item it stopped at.
    :meth:`close` (also on leaving a ``with`` block) stops the thread and closes the
    iterable in it, so files it holds open are closed before it returns.
    """

    def __init__(self, items: Iterable[T], depth: int = 2) -> None:
        self._ready: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._failure: list[BaseException] = []
        self._done = False
        self._thread = threading.Thread(
            target=self._produce, args=(items,), name="keel-predict-reader", daemon=True
        )
        self._thread.start()

    def _produce(self, items: Iterable[T]) -> None:
        source = iter(items)
        try:
            for item in source:
                while not self._stop.is_set():
                    try:
                        self._ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            self._failure.append(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            if not self._stop.is_set():
                self._ready.put(_DONE)

    def __iter__(self) -> Prefetched[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        try:
            item = self._ready.get()
        except BaseException:
            self.close()
            raise
        if item is _DONE:
            self.close()
            if self._failure:
                raise self._failure.pop()
            raise StopIteration
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the thread (closing the iterable in it) and wait for it to end."""
        self._done = True
        self._stop.set()
        while self._thread.is_alive():  # let a producer blocked on a full queue see the stop
            try:
                self._ready.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)

    def __enter__(self) -> Prefetched[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefetched(items: Iterable[T], depth: int = 2) -> Prefetched[T]:
    """The items of ``items``, produced in a background thread (started now) at most
    ``depth`` ahead (see :class:`Prefetched`)."""
    return Prefetched(items, depth)
