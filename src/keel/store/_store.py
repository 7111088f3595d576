"""The Store: one project's metadata database and object store, opened together."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from keel.config import DATABASE_FILE, OBJECTS_DIR, PROJECT_DIR, Config, sqlite_path
from keel.errors import (
    AlreadyExists,
    ConfigError,
    Conflict,
    InvalidInput,
    NotFound,
    StoreUnavailable,
)

from . import schema
from ._database import create_engine, create_sqlite_file
from ._ids import new_id, now_ms
from ._limits import read_deadline, translate_limit_error
from ._migrate import ensure_schema
from .objects import ObjectStore, Source, open_object_store
from .rows import insert_ignore, insert_or_hold

__all__ = [
    "DEFAULT_PROJECT",
    "PROJECT_NAME_RULE",
    "Store",
    "check_project_name",
    "init_project",
]

log = logging.getLogger("keel.store")

PROJECT_NAME_RULE = "1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
_PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MAX_CACHED_PROJECTS = 1024

DEFAULT_PROJECT = "default"
"""The one project made on first write; every other project is created explicitly
(``keel init``, ``keel projects create``, ``Client.create_project``), so a typo in a project
name is an error instead of a new, empty project."""


def check_project_name(name: object) -> str:
    """A project name: 1 to 100 of ``[A-Za-z0-9._-]``, starting with a letter or digit."""
    if not isinstance(name, str) or not _PROJECT_NAME.fullmatch(name):
        shown = f"{name[:60]!r} ({len(name)} characters)" if isinstance(name, str) else repr(name)
        raise InvalidInput(
            f"The project name {shown} is not valid: use {PROJECT_NAME_RULE}, e.g. 'credit-risk'."
        )
    return name


class Store:
    """A keel store: the metadata database plus the object store it refers to.

    Open it with :meth:`Store.open`; migrations are applied on opening. Use
    :meth:`read` and :meth:`write` for transactions.

    Example::

        >>> from keel.store import Store, init_project
        >>> import tempfile
        >>> store = init_project(tempfile.mkdtemp())
        >>> digest = store.put_object(b"some bytes")
        >>> store.objects.read_bytes(digest)
        b'some bytes'
    """

    def __init__(
        self,
        engine: sa.Engine,
        objects: ObjectStore,
        config: Config,
        *,
        read_timeout_ms: int | None = None,
    ) -> None:
        self.engine = engine
        self.objects = objects
        self.config = config
        self.read_timeout_ms = read_timeout_ms
        self._project_ids: dict[str, str] = {}

    @classmethod
    def open(
        cls,
        config: Config | None = None,
        *,
        read_timeout_ms: int | None = None,
        create: bool = True,
    ) -> Store:
        """Open the store a configuration points at (the current one by default).

        Args:
            config: the configuration; the current one by default.
            create: make keel's tables in an empty database (False: refuse it with
                :class:`~keel.errors.StoreUnavailable`, changing nothing).
            read_timeout_ms: stop each read transaction's queries after this long with
                :class:`~keel.errors.QueryTimeout` (the server sets it; none by default).
        """
        from keel import config as config_module

        config = config or config_module.current()
        if config.is_remote:
            raise ConfigError(
                f"KEEL_URI {config.uri} is a keel server; the local Store cannot open it. "
                "Use the SDK, which talks to the server over HTTP."
            )
        engine = create_engine(config.uri)
        try:
            with _translate_errors(config.uri):
                ensure_schema(engine, create=create)
        except BaseException:
            engine.dispose()
            raise
        objects = open_object_store(config.objects, fsync=config.fsync, link=config.objects_link)
        return cls(engine, objects, config, read_timeout_ms=read_timeout_ms)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        url = self.engine.url.render_as_string(hide_password=True)
        return f"Store(uri={url!r}, objects={self.objects.url!r})"

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction, stopped after ``read_timeout_ms`` if the store has one."""
        timeout = self.read_timeout_ms
        with (
            _translate_errors(self.config.uri, timeout),
            self.engine.connect() as conn,
            conn.begin(),
            read_deadline(conn, timeout),
        ):
            yield conn

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction: committed on success, rolled back on any exception.

        On SQLite it takes the write lock up front, so concurrent writers queue
        instead of failing.
        """
        with (
            _translate_errors(self.config.uri),
            self.engine.connect().execution_options(keel_write=True) as conn,
            conn.begin(),
        ):
            yield conn

    def put_object(
        self,
        source: Source,
        *,
        conn: sa.Connection | None = None,
        media_type: str | None = None,
    ) -> str:
        """Store bytes in the object store and record the object in the metadata.

        The object is written first and recorded second, so a record never points at
        missing bytes; an object written by a crashed process is at worst unreferenced.
        """
        digest = self.objects.put(source)
        self.record_object(digest, conn=conn, media_type=media_type)
        return digest

    def record_object(
        self, digest: str, *, conn: sa.Connection | None = None, media_type: str | None = None
    ) -> None:
        """Record in the metadata an object already in the object store (idempotent)."""
        row = {
            "digest": digest,
            "size": self.objects.size(digest),
            "media_type": media_type,
            "created_at": now_ms(),
        }
        if conn is None:
            with self.write() as own:
                insert_or_hold(own, schema.objects, row, key="digest")
        else:  # held until the caller's references to it are in (keel gc waits)
            insert_or_hold(conn, schema.objects, row, key="digest")

    def project_id(self, name: str | None = None) -> str:
        """The id of a project by name (the configured one by default), for a write.

        The project ``default`` is made on first use; any other must exist.

        Raises:
            NotFound: no project has this name (the message lists those that do, with a
                suggestion for a likely typo, and says how to create one).
        """
        name = check_project_name(name or self.config.project)
        found = self.find_project_id(name)
        if found is None:
            if name != DEFAULT_PROJECT:
                raise self.unknown_project(name)
            found = self._insert_project(name)
        return found

    def read_project_id(self, name: str | None = None) -> str | None:
        """The id of a project by name, for a read: None for a ``default`` project no one
        has written to yet (it reads as empty); never writes.

        Raises:
            NotFound: any other unknown project (with the names that exist).
        """
        name = check_project_name(name or self.config.project)
        found = self.find_project_id(name)
        if found is None and name != DEFAULT_PROJECT:
            raise self.unknown_project(name)
        return found

    def find_project_id(self, name: str | None = None) -> str | None:
        """The id of an existing project by name, or None; never writes."""
        name = check_project_name(name or self.config.project)
        if name in self._project_ids:
            return self._project_ids[name]
        table = schema.projects
        with self.read() as conn:
            found = conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar()
        if found is not None:
            self._remember(name, found)
        return found

    def create_project(self, name: str, *, actor: str | None = None) -> str:
        """Create a project; its id. An audit event names ``actor`` (this user by default).

        Raises:
            InvalidInput: the name breaks the naming rule.
            AlreadyExists: a project has this name.
        """
        name = check_project_name(name)
        if self.find_project_id(name) is not None:
            raise AlreadyExists(f"A project named {name!r} exists already; use it as it is.")
        return self._insert_project(name, actor=actor)

    def projects(self) -> list[dict[str, object]]:
        """Every project, by name: name, id, created_at."""
        table = schema.projects
        with self.read() as conn:
            rows = conn.execute(
                sa.select(table.c.name, table.c.id, table.c.created_at).order_by(table.c.name)
            ).all()
        return [{"name": n, "id": i, "created_at": c} for n, i, c in rows]

    def unknown_project(self, name: str) -> NotFound:
        """The error for a project name no project has: the names that exist, a suggestion."""
        import difflib

        names = [str(p["name"]) for p in self.projects()]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "") or "none yet"
        return NotFound(
            f"No project named {name!r}. Projects: {listed}.{hint} Create one with "
            f"'keel projects create {name}' (an admin call on a server)."
        )

    def _insert_project(self, name: str, *, actor: str | None = None) -> str:
        from .actors import Actor
        from .audit import record_event

        table = schema.projects
        made = new_id()
        with self.write() as conn:
            insert_ignore(conn, table, {"id": made, "name": name, "created_at": now_ms()})
            found = conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar_one()
            if found == made:  # this call made it (not a concurrent one)
                who = actor or Actor.local().name
                record_event(
                    conn,
                    project_id=found,
                    actor=who,
                    action="project.create",
                    object_kind="project",
                    object_id=found,
                    details={"name": name},
                )
        self._remember(name, found)
        return found

    def _remember(self, name: str, project_id: str) -> None:
        # Only existing projects are cached, and at most a bounded number of them.
        if len(self._project_ids) >= _MAX_CACHED_PROJECTS:
            self._project_ids.clear()
        self._project_ids[name] = project_id

    def counts(self) -> dict[str, int]:
        """Number of rows in each metadata table, by table name."""
        with self.read() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in sorted(schema.metadata.tables.items())
            }


_ENDED_BY_A_CONCURRENT_WRITE = {"40P01", "40001"}  # PostgreSQL: deadlock, serialization failure


@contextmanager
def _translate_errors(uri: str, timeout_ms: int | None = None) -> Iterator[None]:
    try:
        yield
    except sa.exc.DataError as exc:
        # A value the database cannot hold that no check caught first: the caller's
        # mistake (422), not the server's, and the transaction is rolled back.
        # (A DataError past a limit, such as too many parameters, is refused below.)
        refused = translate_limit_error(exc, timeout_ms)
        if refused is not None:
            raise refused from exc
        reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else "invalid value"
        raise InvalidInput(
            f"The database refused a value: {reason}. Nothing was written; "
            "shorten or correct the value and try again."
        ) from exc
    except sa.exc.DBAPIError as exc:
        # A query past its deadline or beyond the database's limits is the request's doing,
        # not an unreachable database.
        refused = translate_limit_error(exc, timeout_ms)
        if refused is not None:
            raise refused from exc
        if getattr(exc.orig, "sqlstate", None) in _ENDED_BY_A_CONCURRENT_WRITE:
            raise Conflict(
                "The database ended this write to settle a conflict with another one running "
                f"at the same time ({str(exc.orig).strip().splitlines()[0][:120]}); nothing of "
                "it was written. Run it again."
            ) from exc
        if isinstance(exc, sa.exc.OperationalError):
            where = sa.engine.make_url(uri).render_as_string(hide_password=True)
            raise StoreUnavailable(
                f"Cannot use the metadata store {where}: {exc.orig}. "
                "Check that the database is reachable and readable, and that KEEL_URI is right."
            ) from exc
        if isinstance(exc, sa.exc.DatabaseError) and "not a database" in str(exc.orig):
            where = sqlite_path(uri) or uri
            raise StoreUnavailable(
                f"{where} is not a keel store: the file is not a SQLite database. "
                "Point KEEL_URI at the right file, or move it away and run 'keel init'."
            ) from exc
        raise


def init_project(folder: str | Path, config: Config | None = None) -> Store:
    """Create a keel project in ``folder`` (a ``.keel/`` with a database and objects).

    With a ``config`` whose store is elsewhere (KEEL_URI, KEEL_OBJECTS), that store is
    initialised instead of a local database.

    The answer is the same on every backend: a store with no project yet (new, or an init
    stopped half-way) gets the configured project; a store that holds projects is left as
    it is.

    Raises:
        AlreadyExists: ``folder`` (or the configured store) already holds a keel project:
            the configured one (use it as it is), or others but not it (the message says
            how to create it: an init never adds a project to a store in use).
    """
    from keel.config import resolve

    folder = Path(folder).expanduser().resolve()
    keel_dir = folder / PROJECT_DIR
    if config is None:
        if (keel_dir / DATABASE_FILE).exists():
            raise AlreadyExists(
                f"{folder} already holds a keel project ({keel_dir}). "
                "Use it as it is, or remove .keel/ to start over."
            )
        keel_dir.mkdir(parents=True, exist_ok=True)
        config = resolve(
            cwd=folder,
            uri=f"sqlite:///{keel_dir / DATABASE_FILE}",
            objects=str(keel_dir / OBJECTS_DIR),
        )
    db_file = sqlite_path(config.uri)
    if db_file is not None and not db_file.exists():
        create_sqlite_file(db_file)
    if "://" not in config.objects:
        Path(config.objects).mkdir(parents=True, exist_ok=True)
    if keel_dir.is_dir() and not (keel_dir / ".gitignore").exists():
        # the store is data, not code: keep it out of git (and out of captured diffs),
        # whether .keel/ was made here or named by KEEL_URI and KEEL_OBJECTS
        (keel_dir / ".gitignore").write_text("*\n")
    store = Store.open(config)
    if store.projects():  # whichever backend: a store in use is not initialised again
        refusal = already_initialised(store)
        store.close()
        raise refusal
    store.create_project(config.project)  # init creates the configured project explicitly
    return store


def already_initialised(store: Store) -> AlreadyExists:
    """The error for initialising ``store`` again, which holds projects: it holds the
    configured project (use it), or others but not it (create it explicitly)."""
    where = store.engine.url.render_as_string(hide_password=True)
    project = store.config.project
    if store.find_project_id(project) is not None:
        return AlreadyExists(
            f"{where} already holds a keel store with project {project!r}. Use it as it is."
        )
    names = [repr(p["name"]) for p in store.projects()]
    held = f"project{'s' * (len(names) != 1)} {', '.join(names)}"
    return AlreadyExists(
        f"{where} already holds a keel store, with {held} but not {project!r}, the project "
        f"asked for (KEEL_PROJECT or keel.toml). Create it with 'keel projects create "
        f"{project}', or unset KEEL_PROJECT to use the existing one."
    )
