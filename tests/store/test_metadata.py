"""Contract tests of the metadata store, run on SQLite and on the PostgreSQL server."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from keel.config import Config, resolve
from keel.errors import ConfigError, StoreUnavailable, StoreVersionError
from keel.store import Store, init_project, new_id, now_ms
from keel.store import schema as t
from keel.store._database import create_engine
from keel.store._migrate import current_revision
from keel.store.migrations import HEAD


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from keel.store._migrate import MIGRATIONS_DIR

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_opening_migrates_to_head_and_creates_every_table(store: Store) -> None:
    with store.read() as conn:
        assert current_revision(conn) == HEAD
        tables = set(sa.inspect(conn).get_table_names())
    assert set(t.metadata.tables) <= tables


def test_migrated_schema_matches_the_declared_schema(store: Store) -> None:
    """The migrations produce exactly what schema.py declares (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []


def test_reopening_keeps_data(store: Store, store_config: Config) -> None:
    project = store.create_project("credit-team")
    store.close()
    with Store.open(store_config) as again:
        assert again.project_id("credit-team") == project
        assert again.counts()["projects"] == 2  # default + credit-team


def test_put_object_records_the_object(store: Store) -> None:
    digest = store.put_object(b"abc", media_type="text/plain")
    store.put_object(b"abc")  # the same bytes again: one object, one record
    with store.read() as conn:
        rows = conn.execute(sa.select(t.objects)).mappings().all()
    assert [(r["digest"], r["size"], r["media_type"]) for r in rows] == [(digest, 3, "text/plain")]


def test_write_rolls_back_on_error(store: Store) -> None:
    project = store.project_id()

    def insert_then_fail() -> None:
        with store.write() as conn:
            conn.execute(
                t.experiments.insert().values(
                    id=new_id(), project_id=project, name="doomed", created_at=now_ms()
                )
            )
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        insert_then_fail()
    assert store.counts()["experiments"] == 0


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.execute(
            t.experiments.insert().values(
                id=new_id(), project_id="no-such-project", name="x", created_at=now_ms()
            )
        )


def test_store_written_by_a_newer_keel_is_refused_and_left_alone(
    store: Store, store_config: Config
) -> None:
    with store.write() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(StoreVersionError, match="newer keel.*pip install -U keelml"):
        Store.open(store_config)
    engine = create_engine(store_config.uri)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "9999"
    engine.dispose()


def test_sqlite_is_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    store = init_project(tmp_path)
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_missing_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    config = resolve(uri=f"sqlite:///{tmp_path / 'typo.db'}", objects=str(tmp_path / "o"))
    with pytest.raises(StoreUnavailable, match="No keel store at .*typo.db.*keel init"):
        Store.open(config)
    assert not (tmp_path / "typo.db").exists()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 100)
    config = resolve(uri=f"sqlite:///{bogus}", objects=str(tmp_path / "o"))
    with pytest.raises(StoreUnavailable, match="is not a keel store"):
        Store.open(config)
    assert bogus.read_text().startswith("these are my notes")


def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    config = resolve(
        uri="postgresql+psycopg://nobody@127.0.0.1:1/nothing?connect_timeout=2",
        objects=str(tmp_path / "o"),
    )
    with pytest.raises(StoreUnavailable, match="Cannot use the metadata store"):
        Store.open(config)


@pytest.mark.parametrize(
    ("uri", "hint"),
    [("sqllite:///x.db", "Did you mean 'sqlite'"), ("mysql://h/db", "Valid schemes")],
)
def test_unknown_scheme_is_a_config_error(tmp_path: Path, uri: str, hint: str) -> None:
    config = resolve(uri=uri, objects=str(tmp_path / "o"))
    with pytest.raises(ConfigError, match=hint):
        Store.open(config)


# -- concurrency ------------------------------------------------------------------------


def _open_and_count(config: Config, barrier, queue) -> None:
    barrier.wait()
    try:
        with Store.open(config) as store:
            queue.put(("ok", store.counts()["projects"]))
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc)))


def test_two_processes_opening_a_new_store_at_once(store_uri: str, tmp_path: Path) -> None:
    if store_uri.startswith("sqlite"):
        path = Path(store_uri.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True)
        sqlite3.connect(path).close()
    config = resolve(uri=store_uri, objects=str(tmp_path / "objects"), fsync=False)
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_open_and_count, args=(config, barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [("ok", 0), ("ok", 0)]
    with Store.open(config) as store, store.read() as conn:
        assert current_revision(conn) == HEAD
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1


WRITERS = 8
ROWS_PER_WRITER = 60


def _write_experiments(config: Config, worker: int, barrier, queue) -> None:
    try:
        with Store.open(config) as store:
            project = store.project_id()
            barrier.wait()
            for i in range(ROWS_PER_WRITER):
                with store.write() as conn:
                    conn.execute(
                        t.experiments.insert().values(
                            id=new_id(),
                            project_id=project,
                            name=f"w{worker}-{i}",
                            created_at=now_ms(),
                        )
                    )
                store.put_object(f"object {worker}-{i}".encode())
        queue.put(("ok", worker))
    except Exception as exc:
        queue.put(("error", repr(exc)))


def test_eight_concurrent_writer_processes_lose_nothing(store: Store, store_config: Config) -> None:
    store.project_id()
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [
        ctx.Process(target=_write_experiments, args=(store_config, w, barrier, queue))
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results == [("ok", w) for w in range(WRITERS)]
    with store.read() as conn:
        names = set(conn.execute(sa.select(t.experiments.c.name)).scalars())
        recorded = conn.execute(sa.select(sa.func.count()).select_from(t.objects)).scalar()
    assert names == {f"w{w}-{i}" for w in range(WRITERS) for i in range(ROWS_PER_WRITER)}
    assert recorded == WRITERS * ROWS_PER_WRITER
    assert len(set(store.objects.digests())) == WRITERS * ROWS_PER_WRITER


def test_ids_one_process_makes_sort_in_the_order_it_made_them() -> None:
    """Many ids fall in one millisecond; they must still sort by creation (audit order)."""
    from keel.store import new_id

    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_a_store_in_dot_keel_is_git_ignored_however_it_was_named(tmp_path: Path) -> None:
    named = tmp_path / "named"
    config = resolve(
        uri=f"sqlite:///{named / '.keel' / 'keel.db'}", objects=str(named / ".keel" / "objects")
    )
    init_project(named, config).close()  # as `keel init` does with KEEL_URI and KEEL_OBJECTS set
    init_project(tmp_path / "found").close()  # as it does without them
    for folder in (named, tmp_path / "found"):
        assert (folder / ".keel" / ".gitignore").read_text() == "*\n"
