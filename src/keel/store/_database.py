"""Metadata database engines, chosen by URL scheme through one registry."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from keel.config import sqlite_path
from keel.errors import ConfigError, StoreUnavailable, did_you_mean

__all__ = ["BACKENDS", "create_engine"]

log = logging.getLogger("keel.store")

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer before giving up."""


def _sqlite_engine(url: str) -> sa.Engine:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise StoreUnavailable(
            f"No keel store at {path}. Run 'keel init' to create one, "
            "or fix KEEL_URI if it has a typo."
        )
    engine = sa.create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        poolclass=sa.pool.QueuePool if path else sa.pool.StaticPool,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record) -> None:
        # Transactions are ours to begin (see _on_begin), not the driver's.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        if path is not None:
            _set_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A writer takes the write lock up front, so two writers queue on busy_timeout
        # instead of failing with "database is locked" when a read upgrades to a write.
        immediate = conn.get_execution_options().get("keel_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _set_wal(cursor: sqlite3.Cursor) -> None:
    """Switch a database file to write-ahead logging (a no-op once it is).

    The switch needs the database to itself: while another process holds a lock on a new
    store (creating its tables, say), SQLite answers "database is locked" at once instead of
    waiting on busy_timeout, so wait here, as long as a writer would.
    """
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _postgres_engine(url: str) -> sa.Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "KEEL_URI points at PostgreSQL but psycopg is not installed. "
            "Run: pip install 'keelml[postgres]'."
        ) from exc
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


BACKENDS: dict[str, Callable[[str], sa.Engine]] = {
    "sqlite": _sqlite_engine,
    "postgresql+psycopg": _postgres_engine,
    "postgresql": _postgres_engine,
    "postgres": _postgres_engine,
}
"""Metadata store backends by URL scheme. ``http(s)`` URLs go to a keel server instead."""


def create_engine(url: str) -> sa.Engine:
    """Create the SQLAlchemy engine for a metadata store URL, configured for keel."""
    scheme = url.split(":", 1)[0].lower()
    factory = BACKENDS.get(scheme)
    if factory is None:
        valid = [*BACKENDS, "http", "https"]
        raise ConfigError(
            f"Unknown metadata store scheme {scheme!r} in KEEL_URI {url!r}."
            f"{did_you_mean(scheme, valid)} Valid schemes: sqlite, postgresql+psycopg, "
            "http, https; or give a path to a keel project."
        )
    try:
        return factory(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"KEEL_URI {url!r} is not a valid database URL: {exc}.") from exc


def create_sqlite_file(path: Path) -> None:
    """Create an empty SQLite database in WAL mode at ``path`` (``keel init``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
