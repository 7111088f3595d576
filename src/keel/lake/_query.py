"""``keel.lake.query``: one read-only SQL query over the lake, within a row and time limit."""

from __future__ import annotations

import threading
import warnings
from typing import Any

from keel.data import DatasetService
from keel.errors import InvalidInput, QueryTimeout

from ._guard import refusal, shorten
from ._views import _default_service, connect

__all__ = ["query"]


def query(
    sql: str,
    *,
    format: str = "pandas",
    service: DatasetService | None = None,
    max_rows: int | None = None,
    timeout_ms: int | None = None,
    unsafe: bool = False,
) -> Any:
    """Run one read-only SQL query over the project's lake views.

    Args:
        sql: one SELECT (or WITH, FROM, VALUES, DESCRIBE, SUMMARIZE) statement.
        format: ``"pandas"`` for a DataFrame, ``"arrow"`` for a pyarrow Table.
        service: the datasets (and project) to query; the configured ones by default.
        max_rows: most rows to return; the ``max_lake_rows`` setting by default.
        timeout_ms: how long the query may run; ``lake_query_timeout_ms`` by default.
        unsafe: run any SQL on an unrestricted connection (writes, files, ATTACH,
            extensions, several statements). Only for SQL you wrote yourself, on your
            own machine; the row and time limits still apply.

    Returns:
        The rows. When the query had more than ``max_rows``, the first ``max_rows`` come
        back, a :class:`UserWarning` says so, and the result is marked: a DataFrame's
        ``attrs["truncated"]`` is True (the Arrow schema metadata ``keel.truncated`` is
        ``b"true"``); ``attrs["max_rows"]`` (``keel.max_rows``) holds the limit.

    Raises:
        InvalidInput: the SQL is not one read-only query, reads outside the lake, or fails.
        QueryTimeout: the query ran past its time limit and was interrupted.
    """
    import duckdb

    if format not in ("pandas", "arrow"):
        raise InvalidInput(f"format must be 'pandas' or 'arrow'. Got {format!r}.")
    service = service or _default_service()
    config = service.store.config
    max_rows = _positive("max_rows", max_rows, config.max_lake_rows, "max_lake_rows")
    timeout_ms = _positive(
        "timeout_ms", timeout_ms, config.lake_query_timeout_ms, "lake_query_timeout_ms"
    )
    con = connect(sql, service, unsafe=unsafe)  # refuses what is not one read-only query
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        con.interrupt()

    timer = threading.Timer(timeout_ms / 1000, stop)
    timer.daemon = True
    timer.start()
    try:
        relation = con.sql(sql)
        if relation is None:  # unsafe SQL that returns no rows (COPY, CREATE, ...)
            import pyarrow as pa

            rows = pa.table({}) if format == "arrow" else pa.table({}).to_pandas()
        else:
            # One row past the limit tells a truncated result from one that fits exactly.
            relation = relation.limit(max_rows + 1)
            rows = relation.df() if format == "pandas" else relation.to_arrow_table()
    except duckdb.Error as exc:
        if stopped.is_set():
            raise QueryTimeout(
                f"The lake query {shorten(sql)} ran longer than {timeout_ms} ms and was "
                "interrupted (setting lake_query_timeout_ms, KEEL_LAKE_QUERY_TIMEOUT_MS). "
                "Narrow it (filter rows, fewer joins) or raise the limit."
            ) from exc
        if isinstance(exc, duckdb.PermissionException) and not unsafe:
            detail = str(exc).splitlines()[0].removeprefix("Permission Error: ")
            raise refusal(sql, f"it reaches outside the lake ({detail})") from exc
        raise InvalidInput(f"The lake query failed: {exc}") from exc
    finally:
        timer.cancel()
        timer.join()  # an interrupt already under way ends before the connection closes
        con.close()
    return _mark(rows, max_rows, sql)


def _positive(name: str, value: int | None, default: int, setting: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(
            f"{name} must be a positive integer. Got {value!r}. Leave it out to use the "
            f"{setting} setting ({default})."
        )
    return value


def _mark(rows: Any, max_rows: int, sql: str) -> Any:
    """Cut ``rows`` to ``max_rows`` and record whether anything was cut."""
    truncated = len(rows) > max_rows
    if truncated:
        warnings.warn(
            f"The lake query {shorten(sql)} returned more than {max_rows:,} rows; only the "
            f"first {max_rows:,} are returned (setting max_lake_rows, KEEL_MAX_LAKE_ROWS). "
            "Aggregate in SQL, add a LIMIT, or pass max_rows= for more.",
            UserWarning,
            stacklevel=3,
        )
    if hasattr(rows, "attrs"):  # pandas
        rows = rows.iloc[:max_rows] if truncated else rows
        rows.attrs.update(truncated=truncated, max_rows=max_rows)
        return rows
    rows = rows.slice(0, max_rows) if truncated else rows
    return rows.replace_schema_metadata(
        {
            **(rows.schema.metadata or {}),
            b"keel.truncated": b"true" if truncated else b"false",
            b"keel.max_rows": str(max_rows).encode(),
        }
    )
