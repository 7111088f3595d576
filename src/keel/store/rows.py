"""Small SQL helpers every concept needs: dialect-aware upserts and named records."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.errors import NotFound, did_you_mean

from ._ids import new_id, now_ms

__all__ = ["dialect_insert", "insert_ignore", "insert_or_hold", "lock_row", "named_id"]


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT with ``on_conflict_do_nothing/do_update`` for the connection's database."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignore(conn: sa.Connection, table: sa.Table, rows: dict | list[dict]) -> None:
    """Insert rows, skipping any whose primary or unique key already exists."""
    if rows:
        conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(), rows)


def insert_or_hold(conn: sa.Connection, table: sa.Table, row: dict, *, key: str) -> None:
    """Insert ``row``, or hold the existing row with key ``row[key]`` until the transaction
    ends, so that a concurrent delete (keel gc) waits and then finds this transaction's
    references to it instead of removing it from under them.

    PostgreSQL: an upsert whose no-op update takes the row's lock. SQLite: an insert that
    skips an existing row (a keel write transaction already holds the database's lock).
    """
    insert = dialect_insert(conn, table)
    if conn.dialect.name == "postgresql":
        column = next(c for c in table.c if c.name != key)
        statement = insert.on_conflict_do_update(
            index_elements=[key], set_={column.name: table.c[column.name]}
        )
    else:
        statement = insert.on_conflict_do_nothing()
    conn.execute(statement, row)


def named_id(
    conn: sa.Connection,
    table: sa.Table,
    project_id: str,
    name: str,
    *,
    kind: str,
    project: str,
    create: bool,
) -> str:
    """The id of the ``kind`` named ``name`` in a project (experiments, datasets, models...).

    With ``create`` a missing one is made; without, :class:`NotFound` lists what exists.
    """
    lookup = sa.select(table.c.id).where(table.c.project_id == project_id, table.c.name == name)
    found = conn.execute(lookup).scalar()
    if found is not None:
        return found
    if not create:
        names = list(
            conn.execute(sa.select(table.c.name).where(table.c.project_id == project_id)).scalars()
        )
        raise NotFound(
            f"No {kind} named {name!r} in project {project!r}.{did_you_mean(name, names)} "
            f"{kind.capitalize()}s: {', '.join(names) or 'none yet'}."
        )
    insert_ignore(
        conn,
        table,
        {"id": new_id(), "project_id": project_id, "name": name, "created_at": now_ms()},
    )
    return conn.execute(lookup).scalar_one()


def lock_row(conn: sa.Connection, table: sa.Table, row_id: str) -> None:
    """Hold ``table``'s row ``row_id`` until the transaction ends, so that writers which
    number things under it (the next version of a dataset or a model) take turns.

    PostgreSQL takes a row lock (``SELECT ... FOR UPDATE``): a second writer waits, then
    reads the first one's committed rows. SQLite needs nothing: a keel write transaction
    already holds the database's one write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(table.c.id).where(table.c.id == row_id).with_for_update())
