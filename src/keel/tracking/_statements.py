"""The SQL of tracking's hot paths (run creation, run end, metric batches), written once
per dialect and sent straight to the driver.

Building a statement through SQLAlchemy Core (constructs, coercions, a cache key, a cache
lookup) costs more than SQLite takes to run it; these paths run per run and per batch, so
their text is fixed here, and :func:`run` hands it to a cursor of the connection's driver
as it is (within the connection's transaction): the driver (``sqlite3``, psycopg) keeps its
own prepared-statement cache keyed by this text.
The statements use ``?`` placeholders, which become ``%s`` for psycopg.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa

__all__ = ["first", "id_list", "rows", "run", "translated"]

_SQL: dict[str, str] = {
    "experiment": "SELECT id, deleted_at FROM experiments WHERE project_id = ? AND name = ?",
    "insert_run": (
        "INSERT INTO runs (id, experiment_id, parent_id, name, status, created_at, "
        "started_at, ended_at, error, heartbeat_at, code, environment) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "insert_param": "INSERT INTO run_params (run_id, key, value) VALUES (?, ?, ?)",
    "insert_tag": "INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)",
    # one chunk of a curve (see keel.tracking._chunks)
    "insert_chunk": (
        "INSERT INTO run_metrics (series_id, points, steps, timestamps, metric_values) "
        "VALUES (?, ?, ?, ?, ?)"
    ),
    # the series ids (run_latest_metrics.id) of some metrics of one run, the names as one
    # parameter (see :func:`id_list`)
    "series_of": (
        "SELECT key, id FROM run_latest_metrics "
        "WHERE run_id = ? AND key IN (SELECT value FROM json_each(?))"
    ),
    "upsert_latest": (
        "INSERT INTO run_latest_metrics (run_id, key, step, timestamp, value) "
        "VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET "
        "step = excluded.step, timestamp = excluded.timestamp, value = excluded.value "
        "WHERE excluded.step > run_latest_metrics.step OR (excluded.step = "
        "run_latest_metrics.step AND excluded.timestamp >= run_latest_metrics.timestamp)"
    ),
    # updates of one run by id; each also has an "_in_project" form, below
    "end": "UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?",
    "beat": (
        "UPDATE runs SET heartbeat_at = CASE WHEN status = 'RUNNING' THEN ? "
        "ELSE heartbeat_at END WHERE id = ?"
    ),
}

for _name in ("end", "beat"):  # for a run not known to be in the service's project
    _SQL[_name + "_in_project"] = (
        _SQL[_name] + " AND experiment_id IN (SELECT id FROM experiments WHERE project_id = ?)"
    )

_POSTGRES = {name: sql.replace("?", "%s") for name, sql in _SQL.items()}
_POSTGRES["insert_run"] = (  # the JSON columns take text cast to json
    "INSERT INTO runs (id, experiment_id, parent_id, name, status, created_at, "
    "started_at, ended_at, error, heartbeat_at, code, environment) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::json, %s::json)"
)
# the params, tags and latest metrics of listed runs (a search's page): the ids as one
# parameter, a JSON array on SQLite and an array on PostgreSQL (see :func:`id_list`), so no
# statement is rebuilt for each number of ids
for _table in ("run_params", "run_tags", "run_latest_metrics"):
    _SQL[f"{_table}_of"] = (
        f"SELECT run_id, key, value FROM {_table} WHERE run_id IN (SELECT value FROM json_each(?))"
    )
    _POSTGRES[f"{_table}_of"] = f"SELECT run_id, key, value FROM {_table} WHERE run_id = ANY(%s)"
_POSTGRES["series_of"] = (
    "SELECT key, id FROM run_latest_metrics WHERE run_id = %s AND key = ANY(%s)"
)
_BY_DIALECT = {"sqlite": _SQL, "postgresql": _POSTGRES}


def id_list(conn: sa.Connection, ids: list[str]) -> Any:
    """``ids`` as the one parameter of the ``*_of`` statements on ``conn``'s dialect."""
    return ids if conn.dialect.name == "postgresql" else orjson.dumps(ids).decode()


def run(conn: sa.Connection, name: str, params: Sequence[Any] | list[Sequence[Any]]) -> int:
    """Execute statement ``name`` in ``conn``'s transaction with one row of ``params`` (a
    tuple) or many (a list of tuples, one ``executemany``); the number of rows changed."""
    with _cursor(conn, name, params) as cursor:
        return cursor.rowcount


def rows(conn: sa.Connection, name: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row that query ``name`` answers."""
    with _cursor(conn, name, params) as cursor:
        return cursor.fetchall()


def first(conn: sa.Connection, name: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row that query ``name`` answers, or None."""
    with _cursor(conn, name, params) as cursor:
        return cursor.fetchone()


@contextmanager
def translated(conn: sa.Connection) -> Iterator[None]:
    """Raise a driver error inside as SQLAlchemy's (the store's error handling expects it)."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error) from exc


@contextmanager
def _cursor(conn: sa.Connection, name: str, params: Any) -> Iterator[Any]:
    """A driver cursor that has run the statement (on the connection, in its transaction);
    a driver error is raised as SQLAlchemy's, as the store's error handling expects."""
    dbapi = conn.dialect.loaded_dbapi
    sql = _BY_DIALECT[conn.dialect.name][name]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        try:
            if isinstance(params, list):
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
        yield cursor
    finally:
        cursor.close()
