"""The read-ahead thread of batch scoring: order, errors, and stopping early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from keel.serving._batch_prefetch import prefetched


def test_items_come_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def items() -> Iterator[int]:
        for i in range(100):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetched(items(), depth=3)) == list(range(100))
    assert threads == {"keel-predict-reader"}


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad part")

    reader = prefetched(items())
    assert [next(reader), next(reader)] == [1, 2]
    with pytest.raises(ValueError, match="bad part"):
        next(reader)


def test_stopping_early_closes_the_source_and_ends_the_thread() -> None:
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            yield from range(1_000_000)
        finally:
            closed.set()

    before = threading.active_count()
    reader = prefetched(items(), depth=2)
    assert [next(reader) for _ in range(5)] == [0, 1, 2, 3, 4]
    reader.close()
    assert closed.is_set()
    assert threading.active_count() == before
