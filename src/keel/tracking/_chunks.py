"""Metric points as chunks of curves: the shape in which ``run_metrics`` stores them.

A chunk is the points of one series (one run's metric) written in one batch, in the order
logged, as three packed arrays of equal length: steps (int64), timestamps (int64,
milliseconds) and values (float64; NaN and infinities kept as they are), each
little-endian whatever the machine. One row per chunk instead of a row and an index entry
per point is what lets bulk logging go at the speed of packing arrays (migration 0014).

The functions here are pure: :func:`curves` regroups a batch of points by key,
:func:`last_point` finds a curve's latest point, :func:`pack` and :func:`unpack` convert a
curve to and from a chunk's columns.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from operator import itemgetter

from keel.errors import IntegrityError

from ._records import MetricPoint

__all__ = ["CHUNK_POINTS", "Curve", "curves", "last_point", "pack", "unpack"]

CHUNK_POINTS = 50_000
"""Most points in one chunk (a longer curve of a batch is stored as several)."""

Curve = tuple[Sequence[float], Sequence[int], Sequence[int]]
"""One metric's points: (values, steps, timestamps), sequences of equal length."""

_MAX_BLOCKS = 16  # most runs of one key tried before another layout
_SWAP = sys.byteorder == "big"  # chunks are little-endian on every machine


def curves(points: Sequence[MetricPoint]) -> dict[str, Curve]:
    """The points of a batch by key, each key's in the order logged.

    Points are transposed and sliced in C where their layout allows: whole curves one
    after another (as ``log_metrics_array`` gives), or the same keys in the same order at
    every step (rows of a table, as ``log_metrics`` gives); any other layout is grouped
    point by point.
    """
    # four passes, not zip(*points): no iterator per point for the garbage collector
    keys = [point[0] for point in points]
    values = [point[1] for point in points]
    steps = [point[2] for point in points]
    stamps = [point[3] for point in points]
    blocks = _blocks(keys)
    if blocks:
        return {
            key: (values[start:end], steps[start:end], stamps[start:end])
            for key, start, end in blocks
        }
    period = _period(keys)
    if period:
        return {
            keys[j]: (values[j::period], steps[j::period], stamps[j::period]) for j in range(period)
        }
    where: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        found = where.get(key)
        if found is None:
            where[key] = [index]
        else:
            found.append(index)
    grouped: dict[str, Curve] = {}
    for key, indexes in where.items():
        if len(indexes) == 1:
            i = indexes[0]
            grouped[key] = ((values[i],), (steps[i],), (stamps[i],))
        else:
            take = itemgetter(*indexes)
            grouped[key] = (take(values), take(steps), take(stamps))
    return grouped


def _blocks(keys: list[str]) -> list[tuple[str, int, int]]:
    """(key, start, end) of each run of one key if every key's points are contiguous and
    there are at most :data:`_MAX_BLOCKS` of them, else []: a few passes over ``keys`` in C
    per block."""
    blocks: list[tuple[str, int, int]] = []
    start, count = 0, len(keys)
    while start < count:
        if len(blocks) == _MAX_BLOCKS:
            return []
        key = keys[start]
        end = start + keys.count(key)
        if end > count or keys[start:end].count(key) != end - start:
            return []
        blocks.append((key, start, end))
        start = end
    return blocks


def _period(keys: list[str]) -> int:
    """``p`` if ``keys`` repeats its first ``p`` distinct keys in the same order (the last
    repeat may be cut short), else 0."""
    try:
        period = keys.index(keys[0], 1)
    except ValueError:
        return 0
    head = keys[:period]
    if len(set(head)) != period:
        return 0
    whole, rest = divmod(len(keys), period)
    return period if head * whole + head[:rest] == keys else 0


def last_point(curve: Curve) -> int:
    """The index of a curve's latest point: the highest (step, timestamp), the last logged
    of equals (as the latest value of a metric has always been chosen)."""
    _, steps, stamps = curve
    top = max(steps)
    if steps.count(top) == 1:
        return steps.index(top)
    return max((i for i, step in enumerate(steps) if step == top), key=lambda i: (stamps[i], i))


def pack(curve: Curve) -> list[tuple[int, bytes, bytes, bytes]]:
    """A curve as chunks of at most :data:`CHUNK_POINTS` points: (count, steps,
    timestamps, values), the three packed as the ``run_metrics`` columns hold them."""
    values, steps, stamps = curve
    chunks = []
    for start in range(0, len(values), CHUNK_POINTS):
        end = start + CHUNK_POINTS
        columns = (
            array("q", steps[start:end]),
            array("q", stamps[start:end]),
            array("d", values[start:end]),
        )
        if _SWAP:
            for column in columns:
                column.byteswap()
        chunks.append((len(columns[0]), *(column.tobytes() for column in columns)))
    return chunks


def unpack(count: int, steps: bytes, stamps: bytes, values: bytes) -> Curve:
    """The (values, steps, timestamps) of a chunk, as lists.

    Raises:
        IntegrityError: the three columns do not hold ``count`` points each.
    """
    for raw in (values, steps, stamps):
        if len(raw) != 8 * count:
            raise IntegrityError(
                f"A chunk of metric points says it holds {count} points but one of its "
                f"columns has {len(raw)} bytes: the store is damaged."
            )
    columns = (array("d", values), array("q", steps), array("q", stamps))
    if _SWAP:
        for column in columns:
            column.byteswap()
    return columns[0].tolist(), columns[1].tolist(), columns[2].tolist()
