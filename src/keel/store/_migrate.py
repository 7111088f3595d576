"""Bring a metadata database to the current schema, safely under concurrent openers."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

from keel.errors import StoreVersionError

from .migrations import HEAD

__all__ = ["current_revision", "ensure_schema"]

log = logging.getLogger("keel.store")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x6B65656C  # "keel": one advisory lock for every migration


def current_revision(conn: sa.Connection) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _read_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.DBAPIError:
            conn.rollback()
            return None


def ensure_schema(engine: sa.Engine, *, create: bool = True) -> None:
    """Apply pending migrations; a no-op costing one query when the schema is current.

    With ``create=False`` an empty database is left empty (a reading command such as
    ``keel info`` must not turn any database it is pointed at into a keel store).

    Migrating runs in one transaction that holds the database's write lock (SQLite's
    ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so processes that open a new store
    at once queue up and the later ones find the work done.

    Raises:
        StoreVersionError: the database was migrated by a newer keel.
    """
    if _read_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    with engine.connect().execution_options(keel_write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        revision = MigrationContext.configure(conn).get_current_revision()
        if revision == HEAD:
            return
        if revision is None and not create:
            from keel.errors import StoreUnavailable

            raise StoreUnavailable(
                f"No keel store in {engine.url.render_as_string(hide_password=True)}: the "
                "database holds no keel tables. Run 'keel init' to create one there, or fix "
                "KEEL_URI if it points at the wrong database. Nothing was changed."
            )
        known = {rev.revision for rev in script.walk_revisions()}
        if revision is not None and revision not in known:
            raise StoreVersionError(
                f"The store {engine.url.render_as_string(hide_password=True)} is at schema "
                f"revision {revision!r}, written by a newer keel than this one (which knows up "
                f"to {HEAD!r}). Upgrade keel: pip install -U keelml. Nothing was changed."
            )
        log.info("migrating store from %s to %s", revision or "empty", HEAD)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
