"""Deadlines on reads, and the database's own limits, as errors that say what to change.

The server opens its store with a read timeout so that no request holds a database
connection, a thread and memory for longer than that: PostgreSQL stops a statement with
``statement_timeout``; SQLite has no timeout, so a progress handler aborts the read's
queries once the deadline has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import sqlalchemy as sa

from keel.errors import KeelError, QueryTimeout, QueryTooComplex

__all__ = ["read_deadline", "translate_limit_error"]

_PROGRESS_STEPS = 10_000
"""SQLite virtual-machine steps between deadline checks: a few microseconds of work each."""

# SQLite's answers to a statement beyond its compile-time limits (sqlite.org/limits.html),
# and psycopg's to more bind parameters than PostgreSQL's protocol carries.
_TOO_COMPLEX = (
    "expression tree is too large",
    "too many terms in compound select",
    "too many sql variables",
    "too many from clause terms",
    "tables in a join",
    "parser stack overflow",
    "like or glob pattern too complex",
    "too many columns",
    "too many arguments on function",
    "string or blob too big",
    "number of parameters must be between",
)
_PG_QUERY_CANCELED = "57014"
_PG_PROGRAM_LIMIT = "54"  # class 54: stack depth, too many arguments or columns


@contextmanager
def _sqlite_deadline(conn: sa.Connection, timeout_ms: int) -> Iterator[None]:
    raw = conn.connection.dbapi_connection
    deadline = time.monotonic() + timeout_ms / 1000
    raw.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)  # the connection goes back to the pool clean


@contextmanager
def _postgres_deadline(conn: sa.Connection, timeout_ms: int) -> Iterator[None]:
    # LOCAL: for this transaction only; the pooled connection keeps no timeout afterwards.
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
    yield


_DEADLINES: dict[str, Callable[[sa.Connection, int], AbstractContextManager[None]]] = {
    "sqlite": _sqlite_deadline,
    "postgresql": _postgres_deadline,
}


def read_deadline(conn: sa.Connection, timeout_ms: int | None) -> AbstractContextManager[None]:
    """Within this, the connection's queries stop after ``timeout_ms`` (none for None)."""
    deadline = _DEADLINES.get(conn.dialect.name)
    if not timeout_ms or deadline is None:
        return nullcontext()
    return deadline(conn, timeout_ms)


def translate_limit_error(exc: sa.exc.DBAPIError, timeout_ms: int | None) -> KeelError | None:
    """The error for a query stopped at its deadline or refused as too complex, else None."""
    orig = exc.orig
    text = str(orig).strip()
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate == _PG_QUERY_CANCELED or (timeout_ms and text == "interrupted"):
        limit = f"this server's limit of {timeout_ms} ms" if timeout_ms else "the database's limit"
        return QueryTimeout(
            f"The query ran longer than {limit} and was stopped (setting query_timeout_ms, "
            "KEEL_QUERY_TIMEOUT_MS). Narrow it: name an experiment, use fewer or simpler "
            "conditions (a LIKE '%...' pattern reads every value) or a smaller max_results."
        )
    lowered = text.lower()
    if sqlstate.startswith(_PG_PROGRAM_LIMIT) or any(m in lowered for m in _TOO_COMPLEX):
        return QueryTooComplex(
            f"The database refused the query as too complex: {text.splitlines()[0][:200]}. "
            "Simplify it: fewer conditions or values, less nesting, or shorter values."
        )
    return None
