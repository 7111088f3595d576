"""Whether a dataset version is recorded, asked of a SQLite metadata store without SQLAlchemy.

``keel data add`` of a path whose files all match their last version has nothing to store
and nothing to record; what it still owes the user is the certainty that the version its
pointer names exists in the metadata store. Opening the store for that costs importing
SQLAlchemy (a quarter of a second), ten times the rest of the command. For a SQLite store
at the schema this keel knows, one read-only query through the standard library answers
the same question.

Every doubt answers ``None`` ("cannot tell cheaply"), never a guess: another database, a
URL with options, a schema at another revision, a locked or damaged file. The caller then
opens the store as usual, which migrates, reports or records as it always does.
"""

from __future__ import annotations

import os
import sqlite3

from keel._quick_settings import sqlite_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from keel._quick_settings import QuickSettings
    from keel.config import Config

__all__ = ["open_current", "recorded_manifest"]

_QUERY = (
    "SELECT v.manifest_digest FROM dataset_versions AS v "
    "JOIN datasets AS d ON d.id = v.dataset_id "
    "JOIN projects AS p ON p.id = d.project_id "
    "WHERE p.name = ? AND d.name = ? AND v.version = ?"
)


def open_current(config: Config | QuickSettings) -> sqlite3.Connection | None:
    """A read-only connection to ``config``'s metadata store when it is a plain SQLite file
    at the schema this keel knows; ``None`` for every doubt (another database, a URL with
    options, another revision, a locked or damaged file). The caller closes it."""
    from keel.store.migrations import HEAD

    uri = config.uri or ""
    path = sqlite_file(uri)
    if path is None or "?" in uri or not os.path.isfile(path):
        return None
    try:
        conn = sqlite3.connect(f"{_file_uri(path)}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        revision = None
    if revision is None or revision[0] != HEAD:
        conn.close()
        return None
    return conn


def recorded_manifest(config: Config | QuickSettings, name: str, version: int) -> str | None:
    """The manifest digest of dataset version ``name:v{version}`` in ``config``'s project,
    read from its SQLite metadata store; ``None`` when it is not recorded there or when
    that cannot be told without opening the store (any database but a plain SQLite file
    at the current schema)."""
    conn = open_current(config)
    if conn is None:
        return None
    try:
        row = conn.execute(_QUERY, (config.project, name, version)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return row[0] if row is not None and isinstance(row[0], str) else None


_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/")


def _file_uri(path: str) -> str:
    """``Path(path).resolve().as_uri()`` without pathlib: a ``file:`` URI, percent-encoded."""
    raw = os.fsencode(os.path.realpath(path))
    return "file://" + "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in raw)
