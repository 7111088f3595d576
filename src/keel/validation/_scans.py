"""Passes over numeric columns, made once per validation and shared by its checks.

Several checks read the same number column: ``not_null`` asks whether a float column holds
NaN, ``in_range`` for its smallest and largest value. Each answer is a pass over the whole
column, bound by memory speed, so :class:`Scans` makes each pass once per chunk and hands
the answer to every check that asks, from any thread (the checks of a large table run in
threads). NumPy's ``min`` and ``max`` propagate NaN, so the minimum also says whether a
float chunk holds NaN, without allocating a mask. A chunk is known by where its values are
in memory, so what the pandas conversion has already learnt (each NaN-free float column's
minimum) is passed in as ``known`` and not scanned again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["Scans", "chunk_key"]


def chunk_key(what: str, chunk: pa.Array) -> tuple[Any, ...]:
    """The key of one answer (``"min"`` or ``"max"``) about one chunk's values in memory."""
    data = chunk.buffers()[1]
    return (
        what,
        str(chunk.type),
        data.address if data is not None else 0,
        chunk.offset,
        len(chunk),
    )


class Scans:
    """Minimum and maximum of number chunks without nulls, each computed once.

    ``known`` maps :func:`chunk_key` keys to answers already found elsewhere.
    """

    def __init__(self, known: Mapping[tuple[Any, ...], Any] | None = None) -> None:
        self._answers: dict[tuple[Any, ...], Any] = dict(known or {})
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._guard = threading.Lock()

    def minimum(self, chunk: pa.Array) -> Any:
        """The smallest value of a non-empty chunk without nulls; NaN if it holds NaN."""
        return self._once(chunk_key("min", chunk), lambda: _numbers(chunk).min())

    def maximum(self, chunk: pa.Array) -> Any:
        """The largest value of a non-empty chunk without nulls; NaN if it holds NaN."""
        return self._once(chunk_key("max", chunk), lambda: _numbers(chunk).max())

    def has_nan(self, column: pa.ChunkedArray) -> bool:
        """Whether a float column without nulls holds NaN."""
        if not pa.types.is_floating(column.type):
            return False
        return any(np.isnan(self.minimum(c)) for c in column.chunks if len(c))

    def _once(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key in self._answers:
            return self._answers[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # a second thread asking the same waits for the first's answer
            if key not in self._answers:
                self._answers[key] = compute()
        return self._answers[key]


def _numbers(chunk: pa.Array) -> np.ndarray:
    return chunk.to_numpy(zero_copy_only=True)
