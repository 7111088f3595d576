"""Metric points on their way into the store: checked once, inserted in bulk, and the
latest value of each metric kept up to date.

Points a :class:`~keel.tracking.Run` has checked arrive as :class:`CheckedPoints` and are
not checked again; points from anywhere else (a request, a caller of the service) are
checked per batch. Each point is stored under its metric's integer series id; SQLite
takes a batch in one ``executemany``, PostgreSQL through ``COPY``. The latest value of
each metric comes from one pass over the batch in Python and one upsert per key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from keel.errors import InvalidInput

from . import _statements
from ._records import CheckedPoints, MetricPoint
from ._validate import (
    INT64_MAX,
    INT64_MIN,
    check_key,
    check_step,
    check_timestamp,
    metric_value,
)

__all__ = ["checked_points", "latest_values", "write_points"]

_METRIC_COLUMNS = "series_id, value, step, timestamp"
_NUMBER = (float, int)


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

    The latest values go first: each metric's row in ``run_latest_metrics`` is made if new,
    and its integer id is what the points carry as ``series_id`` (migration 0013).
    ``run_metrics`` has no foreign key (migration 0012: checking it per point bound bulk
    logging), so the caller must have verified the run in the same transaction: created
    it, or updated its row and checked that one row changed (which on PostgreSQL also
    locks the row until the commit, so a purge of the run waits for these points and then
    deletes them).
    """
    if not points:
        return
    latest = _latest_points(points)
    _statements.run(
        conn,
        "upsert_latest",
        [(run_id, k, s, ts, None if v != v else v) for k, v, s, ts in latest],
    )
    keys = [point[0] for point in latest]
    series = dict(_statements.rows(conn, "series_of", (run_id, _statements.id_list(conn, keys))))
    if len(keys) == 1:  # one metric (a curve): its id once, not looked up per point
        sid = series[keys[0]]
        rows = [(sid, v, s, ts) for _, v, s, ts in points]
    else:
        rows = [(series[k], v, s, ts) for k, v, s, ts in points]
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        sql = f"COPY run_metrics ({_METRIC_COLUMNS}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for sid, v, s, ts in rows:
                copy.write_row((sid, None if v != v else v, s, ts))  # NaN: NULL
    else:  # SQLite stores a NaN as NULL
        _statements.run(conn, "insert_metric", rows)


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
