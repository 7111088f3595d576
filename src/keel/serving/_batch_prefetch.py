"""Run an iterator in a thread of its own, a few items ahead of its consumer.

Batch scoring reads (decompresses and decodes Parquet, in Arrow, without the GIL) while the
model predicts on the batch before: on two cores the two overlap instead of taking turns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """The items of ``items``, produced in a background thread at most ``depth`` ahead.

    An exception raised by ``items`` is raised here, at the item it stopped at. Closing
    this generator early (or an error in the consumer) stops the thread and closes
    ``items`` in it, so files it holds open are closed before this returns.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            failure.append(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            if not stop.is_set():
                ready.put(_DONE)

    thread = threading.Thread(target=produce, name="keel-predict-reader", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _DONE:
            yield item  # type: ignore[misc]
        if failure:
            raise failure[0]
    finally:
        stop.set()
        while thread.is_alive():  # let a producer blocked on a full queue see the stop
            try:
                ready.get_nowait()
            except queue.Empty:
                thread.join(0.05)
