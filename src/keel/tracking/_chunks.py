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
from itertools import compress, pairwise
from operator import is_not, itemgetter

from keel.errors import IntegrityError

from ._records import MetricPoint

__all__ = ["CHUNK_POINTS", "Curve", "curves", "last_point", "pack", "unpack"]

CHUNK_POINTS = 50_000
"""Most points in one chunk (a longer curve of a batch is stored as several)."""

Curve = tuple[Sequence[float], Sequence[int], Sequence[int]]
"""One metric's points: (values, steps, timestamps), sequences of equal length."""

_MIN_RUN = 8  # fewest points per run of one key, on average, to group by runs
_SWAP = sys.byteorder == "big"  # chunks are little-endian on every machine


def curves(points: Sequence[MetricPoint]) -> dict[str, Curve]:
    """The points of a batch by key, each key's in the order logged.

    Points are transposed and sliced in C where their layout allows: the same keys in the
    same order at every step (rows of a table, as ``log_metrics`` gives; one key is the
    simplest case), or runs of one key (curves, as ``log_metrics_array`` gives, or loops
    of ``log_metric`` calls); any other layout is grouped point by point.
    """
    # four passes, not zip(*points): no iterator per point for the garbage collector
    keys = [point[0] for point in points]
    values = [point[1] for point in points]
    steps = [point[2] for point in points]
    stamps = [point[3] for point in points]
    period = _period(keys)
    if period:
        return {
            keys[j]: (values[j::period], steps[j::period], stamps[j::period]) for j in range(period)
        }
    runs = _runs(keys)
    if runs:
        return {key: _joined(values, steps, stamps, spans) for key, spans in runs.items()}
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


def _joined(
    values: list[float], steps: list[int], stamps: list[int], spans: list[tuple[int, int]]
) -> Curve:
    """The points of ``spans`` (start, end) of the three columns, in order."""
    if len(spans) == 1:
        ((start, end),) = spans
        return values[start:end], steps[start:end], stamps[start:end]
    joined: Curve = ([], [], [])
    for start, end in spans:
        for column, source in zip(joined, (values, steps, stamps), strict=True):
            column += source[start:end]  # type: ignore[operator]
    return joined


def _runs(keys: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Each key's runs of consecutive points, (start, end), in order, if there are at
    most one per :data:`_MIN_RUN` points, else {}: boundaries are found in C (a key
    object that is not the one before it), then each run costs one step in Python."""
    count = len(keys)
    starts = [0, *compress(range(1, count), map(is_not, keys[1:], keys[:-1]))]
    if len(starts) * _MIN_RUN > count:
        return {}
    starts.append(count)
    runs: dict[str, list[tuple[int, int]]] = {}
    for start, end in pairwise(starts):
        key = keys[start]
        found = runs.get(key)
        if found is None:
            runs[key] = [(start, end)]
        else:
            found.append((start, end))
    return runs


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
