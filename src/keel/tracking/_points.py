"""Metric points on their way into the store: checked once, inserted in bulk, and the
latest value of each metric kept up to date.

Points a :class:`~keel.tracking.Run` has checked arrive as :class:`CheckedPoints` and are
not checked again; points from anywhere else (a request, a caller of the service) are
checked per batch. A batch is regrouped by metric into curves, each stored as one chunk
row under its metric's integer series id (see :mod:`keel.tracking._chunks`); the latest
value of each metric comes from its curve and one upsert per key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput

from . import _chunks, _statements
from ._records import CheckedPoints, MetricPoint
from ._validate import (
    INT64_MAX,
    INT64_MIN,
    check_key,
    check_step,
    check_timestamp,
    metric_value,
)

__all__ = ["checked_points", "history", "latest_values", "write_points"]

_NUMBER = (float, int)
_BY_STEP = itemgetter(2, 3)


def checked_points(metrics: Sequence[MetricPoint]) -> Sequence[MetricPoint]:
    """``metrics`` as (key, float value, int step, int timestamp); malformed points raise
    :class:`InvalidInput`. Points a run checked are returned as they are.

    The same checks as one point at a time (:func:`check_key`, :func:`check_step`,
    :func:`check_timestamp`), done per batch: each distinct key once, steps and
    timestamps by their range.
    """
    if type(metrics) is CheckedPoints or not metrics:
        return metrics
    try:
        points = [
            (key, float(value), int(step), int(ts))
            for key, value, step, ts in metrics
            if type(key) is str and type(value) in _NUMBER and type(step) is int
        ]
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"Metric points must be (key, value, step, timestamp): {exc}.") from exc
    if len(points) != len(metrics):
        for point in metrics:  # find and name the first bad point
            key, value, step, _ = point
            check_key("metric", key)
            metric_value(key, value)
            check_step(key, step)
    if not points:
        return points
    for key in {point[0] for point in points}:
        check_key("metric", key)
    steps = [point[2] for point in points]
    if min(steps) < 0 or max(steps) > INT64_MAX:
        bad = next(point for point in points if not 0 <= point[2] <= INT64_MAX)
        check_step(bad[0], bad[2])
    stamps = [point[3] for point in points]
    if min(stamps) < INT64_MIN or max(stamps) > INT64_MAX:
        bad = next(point for point in points if not INT64_MIN <= point[3] <= INT64_MAX)
        check_timestamp(bad[0], bad[3])
    return points


def write_points(conn: sa.Connection, run_id: str, points: Sequence[MetricPoint]) -> None:
    """Insert checked points of one run and raise the run's latest value of each metric
    to the point with the highest (step, timestamp), in ``conn``'s write transaction.

    The points are regrouped by metric into curves (:func:`keel.tracking._chunks.curves`)
    and each curve is stored as one chunk row (migration 0014), under its metric's integer
    series id: the id of the metric's row in ``run_latest_metrics``, which the latest
    values make first if new (migration 0013).
    ``run_metrics`` has no foreign key (migration 0012: checking it per point bound bulk
    logging), so the caller must have verified the run in the same transaction: created
    it, or updated its row and checked that one row changed (which on PostgreSQL also
    locks the row until the commit, so a purge of the run waits for these points and then
    deletes them).
    """
    if not points:
        return
    by_key = _chunks.curves(points)
    latest = []
    for key, curve in by_key.items():
        i = _chunks.last_point(curve)
        value = curve[0][i]
        latest.append((run_id, key, curve[1][i], curve[2][i], None if value != value else value))
    _statements.run(conn, "upsert_latest", latest)
    series = dict(
        _statements.rows(conn, "series_of", (run_id, _statements.id_list(conn, list(by_key))))
    )
    rows = [(series[key], *chunk) for key, curve in by_key.items() for chunk in _chunks.pack(curve)]
    _statements.run(conn, "insert_chunk", rows)


def _latest_points(points: Iterable[MetricPoint]) -> list[MetricPoint]:
    """Per key, the point with the highest (step, timestamp) in a batch (the last of
    equals): one pass in Python, far cheaper than an upsert per point in SQL."""
    best: dict[str, MetricPoint] = {}
    get = best.get
    for point in points:
        current = get(point[0])
        if (
            current is None
            or point[2] > current[2]
            or (point[2] == current[2] and point[3] >= current[3])
        ):
            best[point[0]] = point
    return list(best.values())


def latest_values(points: Iterable[MetricPoint]) -> dict[str, float]:
    """Per key, the value of the point with the highest (step, timestamp)."""
    return {key: value for key, value, _, _ in _latest_points(points)}


def history(key: str, chunks: Iterable[Sequence[Any]]) -> list[MetricPoint]:
    """The points of metric ``key`` from its chunks (rows of ``run_metrics``: count,
    steps, timestamps, values; in the order written), ordered by (step, timestamp), the
    order logged among equals."""
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    for count, step_data, stamp_data, value_data in chunks:
        v, s, ts = _chunks.unpack(count, step_data, stamp_data, value_data)
        values += v
        steps += s
        stamps += ts
    points = list(zip(repeat(key), values, steps, stamps, strict=False))
    points.sort(key=_BY_STEP)
    return points
