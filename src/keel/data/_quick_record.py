"""The next version of a file dataset, recorded in a SQLite store without SQLAlchemy.

``keel data add`` after a few files changed has little to do: hash those files, store
them and a new manifest, and record one version. Opening the metadata store for that last
step costs importing SQLAlchemy (about a quarter of a second), more than the rest of the
command; so does a first add. For a plain SQLite store at the schema this keel knows,
whose project exists, one ``BEGIN IMMEDIATE`` transaction through the standard library
records the same rows (the dataset's too, on its first version) as
``DatasetService._record`` would (``tests/data/test_quick_record.py`` compares them
column by column).

Every doubt answers ``None`` ("not recorded here"), never a guess, and leaves the database
as it was: another database, a URL with options, a schema at another revision, a project
not yet made, a model with the same name, a locked or damaged file. The caller
then opens the store as usual, which migrates, creates, reports and records as it always
does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from keel.config import Config, sqlite_path

__all__ = ["QuickVersion", "record_files_version", "recordable"]

_BUSY_TIMEOUT_S = 30.0  # as long as a writer through the store waits for the lock


@dataclass(frozen=True)
class QuickVersion:
    """The version ``add`` ends up pointing at: ``name:v{version}``, new or found."""

    dataset: str
    version: int
    created: bool

    @property
    def ref(self) -> str:
        return f"{self.dataset}:v{self.version}"


def record_files_version(
    config: Config,
    name: str,
    manifest_digest: str,
    manifest_size: int,
    objects: Iterable[tuple[str, int]],
    size: int,
    source: dict[str, str],
    reuse: Iterable[int] = (),
) -> QuickVersion | None:
    """Record ``manifest_digest`` as the next version of file dataset ``name`` (made
    with its first version).

    If one of the version numbers in ``reuse``, or else the latest version, already has
    this manifest, that version is returned and nothing is written. Otherwise the stored
    ``objects`` (``(digest, size)``) and the manifest are recorded, and the version is
    numbered past every version ever made (deleted ones included), all in one
    transaction.

    Returns:
        The version, or None when this cannot be done here (see the module's docstring);
        the database is then unchanged.
    """
    from keel.store.migrations import HEAD

    uri = config.uri or ""
    path = sqlite_path(uri)
    if path is None or "?" in uri or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # the store's own setting
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = _record(
                conn,
                HEAD,
                config.project,
                name,
                manifest_digest,
                manifest_size,
                list(objects),
                size,
                source,
                list(reuse),
            )
            if found is None or not found.created:
                conn.execute("ROLLBACK")
            else:
                conn.execute("COMMIT")
            return found
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _record(
    conn: sqlite3.Connection,
    head: str,
    project: str,
    name: str,
    manifest_digest: str,
    manifest_size: int,
    objects: list[tuple[str, int]],
    size: int,
    source: dict[str, str],
    reuse: list[int],
) -> QuickVersion | None:
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    if revision is None or revision[0] != head:
        return None
    row = conn.execute("SELECT id FROM projects WHERE name = ?", (project,)).fetchone()
    if row is None:
        return None
    project_id = row[0]
    clash = conn.execute(
        "SELECT 1 FROM models WHERE project_id = ? AND name = ?", (project_id, name)
    ).fetchone()
    if clash is not None:
        return None  # the store's path says which name clashes, and how to fix it

    from keel.store import new_id, now_ms

    lookup = "SELECT id FROM datasets WHERE project_id = ? AND name = ?"
    row = conn.execute(lookup, (project_id, name)).fetchone()
    if row is None:  # the first version: the dataset is made in the same transaction
        conn.execute(
            "INSERT INTO datasets (id, project_id, name, description, created_at) "
            "VALUES (?, ?, ?, NULL, ?)",
            (new_id(), project_id, name, now_ms()),
        )
        row = conn.execute(lookup, (project_id, name)).fetchone()
    dataset_id = row[0]
    versions = dict(
        conn.execute(
            "SELECT version, manifest_digest FROM dataset_versions WHERE dataset_id = ?",
            (dataset_id,),
        ).fetchall()
    )
    latest = max(versions, default=0)
    for number in [*reuse, latest]:  # the order DatasetService would resolve them in
        if versions.get(number) == manifest_digest:
            return QuickVersion(name, number, created=False)
    number = 1 + max(latest, _highest_deleted(conn, dataset_id))
    created = now_ms()
    # in key order: SQLite then appends to its primary-key index rather than splitting
    # pages all over it (about half the time for 100,000 objects)
    rows = [(d, s, None, created) for d, s in sorted(objects)]
    rows.append((manifest_digest, manifest_size, "application/json", created))
    conn.executemany("INSERT OR IGNORE INTO objects VALUES (?, ?, ?, ?)", rows)
    conn.execute(
        "INSERT INTO dataset_versions (id, dataset_id, version, manifest_digest, kind, "
        "row_count, size, schema, profile_digest, source, description, created_at) "
        "VALUES (?, ?, ?, ?, 'files', NULL, ?, 'null', NULL, ?, NULL, ?)",
        (new_id(), dataset_id, number, manifest_digest, size, json.dumps(source), now_ms()),
    )
    return QuickVersion(name, number, created=True)


def _highest_deleted(conn: sqlite3.Connection, dataset_id: str) -> int:
    """The highest version number ever deleted from the dataset (numbers are never reused),
    read from the audit events as :func:`keel.store.deletion.highest_deleted` reads them."""
    numbers = []
    for (details,) in conn.execute(
        "SELECT details FROM audit_events WHERE object_kind = 'dataset' AND object_id = ? "
        "AND action = 'delete_version'",
        (dataset_id,),
    ):
        try:
            data = json.loads(details) if isinstance(details, str) else None
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("version"), int):
            numbers.append(data["version"])
    return max(numbers, default=0)


def recordable(config: Config, name: str) -> bool:
    """Whether :func:`record_files_version` can record a version of dataset ``name``, told
    by one read: a plain SQLite store at this schema, with the project, and no model of
    that name (so a clash is reported, by the store's path, before any file is stored)."""
    from keel.data._quick_lookup import open_current

    conn = open_current(config)
    if conn is None:
        return False
    try:
        clash = conn.execute(
            "SELECT p.id, m.id FROM projects AS p "
            "LEFT JOIN models AS m ON m.project_id = p.id AND m.name = ? WHERE p.name = ?",
            (name, config.project),
        ).fetchone()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return clash is not None and clash[1] is None
