"""Metric points on their way into the store: checked once, inserted in bulk, and the
latest value of each metric kept up to date.

Points a :class:`~keel.tracking.Run` has checked arrive as :class:`CheckedPoints` and are
not checked again; points from anywhere else (a request, a caller of the service) are
checked per batch. On SQLite a large batch is inserted as the points are, with no row
built per point, and the latest values are derived from the rows just written in SQL;
PostgreSQL takes the rows through ``COPY``.
"""

from __future__ import annotations

import re
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

_METRIC_COLUMNS = "run_id, key, step, timestamp, value"
_NUMBER = (float, int)
_RUN_ID = re.compile(r"[0-9a-f]{32}")
"""An id as keel makes them: safe to write into a statement's text as a literal."""
_SQL_LATEST_FROM = 256
"""Points in a batch from which SQLite derives the latest values itself."""


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
    to the point with the highest (step, timestamp), in ``conn``'s write transaction."""
    if not points:
        return
    if (
        conn.dialect.name == "sqlite"
        and len(points) >= _SQL_LATEST_FROM
        and _RUN_ID.fullmatch(run_id)
    ):
        _write_points_sqlite(conn, run_id, points)
        return
    rows = [(run_id, k, s, ts, None if v != v else v) for k, v, s, ts in points]  # NaN: NULL
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        sql = f"COPY run_metrics ({_METRIC_COLUMNS}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    else:
        _statements.run(conn, "insert_metric", rows)
    _statements.run(conn, "upsert_latest", _latest_rows(rows))


def _write_points_sqlite(conn: sa.Connection, run_id: str, points: Sequence[MetricPoint]) -> None:
    """The points as they are (SQLite stores a NaN as NULL), the run id a literal of the
    statement (it is keel's hex, checked); then the latest values from the new rows, which
    are those past the highest rowid before the insert (the write lock is held)."""
    raw = conn.connection.driver_connection
    with _statements.translated(conn):
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            (before,) = cursor.execute("SELECT coalesce(max(rowid), 0) FROM run_metrics").fetchone()
            cursor.executemany(
                "INSERT INTO run_metrics (run_id, key, value, step, timestamp) "
                f"VALUES ('{run_id}', ?, ?, ?, ?)",
                points,
            )
            cursor.execute(_LATEST_SINCE, (before,))
        finally:
            cursor.close()


_LATEST_SINCE = (
    "INSERT INTO run_latest_metrics (run_id, key, step, timestamp, value) "
    "SELECT run_id, key, step, timestamp, value FROM run_metrics WHERE rowid > ? "
    "ORDER BY rowid "
    "ON CONFLICT (run_id, key) DO UPDATE SET "
    "step = excluded.step, timestamp = excluded.timestamp, value = excluded.value "
    "WHERE excluded.step > run_latest_metrics.step OR (excluded.step = "
    "run_latest_metrics.step AND excluded.timestamp >= run_latest_metrics.timestamp)"
)


def _latest_rows(rows: Iterable[tuple]) -> list[tuple]:
    """Per key, the row with the highest (step, timestamp) in a batch (the last of equals)."""
    best: dict[str, tuple] = {}
    for row in rows:
        current = best.get(row[1])
        if current is None or (row[2], row[3]) >= (current[2], current[3]):
            best[row[1]] = row
    return list(best.values())


def latest_values(points: Iterable[MetricPoint]) -> dict[str, float]:
    """Per key, the value of the point with the highest (step, timestamp)."""
    return {row[1]: row[4] for row in _latest_rows((None, k, s, ts, v) for k, v, s, ts in points)}
