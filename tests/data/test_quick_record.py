"""``keel data add`` into a SQLite store, recorded through sqlite3 without SQLAlchemy."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keel.config import resolve
from keel.data import DatasetService
from keel.data._quick_record import record_files_version, recordable
from keel.data._workspace import Workspace
from keel.errors import AlreadyExists
from keel.store import Store, init_project

PAST = time.time() - 3600


def new_project(folder: Path, files: int = 40) -> Path:
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    init_project(folder).close()
    for i in range(files):
        path = folder / "data" / f"part{i % 3}" / f"f{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(i.to_bytes(4, "little") * (50 + i))
        os.utime(path, (PAST, PAST))
    return folder


def change(project: Path, *names: int) -> None:
    for i in names:
        path = project / "data" / f"part{i % 3}" / f"f{i}.bin"
        path.write_bytes(b"changed %d" % i * 30)
        os.utime(path, (PAST + 60, PAST + 60))


def workspace(project: Path) -> Workspace:
    return Workspace(project, resolve(cwd=project, fsync=False))


def rows(project: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """The version, object and dataset rows (without ids and times), as SQLite holds them."""
    conn = sqlite3.connect(project / ".keel" / "keel.db")
    try:
        versions = conn.execute(
            "SELECT d.name, v.version, v.manifest_digest, v.kind, v.row_count, v.size, "
            "v.schema, typeof(v.schema), v.profile_digest, v.source, v.description "
            "FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id ORDER BY v.version"
        ).fetchall()
        objects = conn.execute(
            "SELECT digest, size, media_type FROM objects ORDER BY digest"
        ).fetchall()
        datasets = conn.execute(
            "SELECT p.name, d.name, d.description FROM datasets d "
            "JOIN projects p ON p.id = d.project_id ORDER BY d.name"
        ).fetchall()
    finally:
        conn.close()
    return versions, objects, datasets


def test_readd_records_the_rows_the_store_path_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick, slow = new_project(tmp_path / "quick"), new_project(tmp_path / "slow")
    results = {}
    firsts = {}
    for project in (quick, slow):
        if project == slow:  # the store's own path, as for PostgreSQL
            monkeypatch.setattr("keel.data._quick_record.recordable", lambda *args: False)
        ws = workspace(project)
        firsts[project] = ws.add(project / "data"), rows(project)  # the dataset, version 1
        change(project, 3, 17)
        results[project] = ws.add(project / "data")
        ws.close()
    assert firsts[quick][1] == firsts[slow][1]
    assert firsts[quick][0].to_dict() == firsts[slow][0].to_dict()
    assert results[quick].to_dict() == results[slow].to_dict()
    assert (results[quick].ref, results[quick].hashed) == ("data:v2", 2)
    assert rows(quick) == rows(slow)
    with Store.open(resolve(cwd=quick)) as store:  # and SQLAlchemy reads them back alike
        version = DatasetService(store).resolve("data")
        assert (version.ref, version.source) == (
            "data:v2",
            {"path": "data", "via": "keel data add"},
        )
        assert version.manifest_digest == results[quick].digest


def test_add_and_readd_import_no_sqlalchemy(tmp_path: Path) -> None:
    project = new_project(tmp_path / "p")
    script = (
        "import sys, json\n"
        "from keel.data._workspace import Workspace\n"
        "ws = Workspace.find()\n"
        "r = ws.add('data')\n"
        "print(json.dumps([r.ref, r.hashed, 'sqlalchemy' in sys.modules]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    for expected in (["data:v1", 40, False], ["data:v2", 1, False]):
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == expected
        change(project, 5)


def test_numbers_pass_deleted_versions_and_same_manifest_is_not_recorded_again(
    tmp_path: Path,
) -> None:
    project = new_project(tmp_path / "p")
    ws = workspace(project)
    first = ws.add(project / "data")
    change(project, 1)
    ws.add(project / "data")
    with Store.open(resolve(cwd=project)) as store:
        DatasetService(store).delete("data:v2", force=True)
    change(project, 2)
    third = ws.add(project / "data")
    assert (third.ref, third.new_version) == ("data:v3", True)  # v2 is never reused
    before = rows(project)
    config = resolve(cwd=project)
    again = record_files_version(
        config, "data", third.digest, 10, [], third.size, {"path": "data"}, [1]
    )
    assert again is not None
    assert (again.ref, again.created) == ("data:v3", False)
    older = record_files_version(
        config, "data", first.digest, 10, [], first.size, {"path": "data"}, [1]
    )
    assert older is not None
    assert (older.ref, older.created) == ("data:v1", False)
    assert rows(project) == before
    ws.close()


def test_anything_unusual_falls_back_and_changes_nothing(tmp_path: Path) -> None:
    project = new_project(tmp_path / "p")
    ws = workspace(project)
    added = ws.add(project / "data")
    ws.close()
    config = resolve(cwd=project)
    args = (added.digest, 10, [], added.size, {"path": "data"})
    assert recordable(config, "data")
    assert recordable(config, "other")
    before = rows(project)
    elsewhere = resolve(cwd=project, project="nowhere")
    assert not recordable(elsewhere, "data")
    assert record_files_version(elsewhere, "data", *args) is None  # no such project
    db = project / ".keel" / "keel.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.close()
    assert not recordable(config, "data")
    assert record_files_version(config, "data", *args) is None  # another schema revision
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (_head(),))
    conn.close()
    postgres = resolve(cwd=project, uri="postgresql+psycopg://postgres@127.0.0.1:5432/x")
    assert not recordable(postgres, "data")
    assert record_files_version(postgres, "data", *args) is None
    assert rows(project) == before


def test_a_model_of_the_same_name_is_refused_before_any_work(tmp_path: Path) -> None:
    project = new_project(tmp_path / "p")
    conn = sqlite3.connect(project / ".keel" / "keel.db")
    with conn:
        project_id = conn.execute("SELECT id FROM projects").fetchone()[0]
        conn.execute(
            "INSERT INTO models (id, project_id, name, created_at) VALUES (?, ?, 'data', 0)",
            ("f" * 32, project_id),
        )
    conn.close()
    assert not recordable(resolve(cwd=project), "data")
    ws = workspace(project)
    with pytest.raises(AlreadyExists, match="'data' is already the name of a model"):
        ws.add(project / "data")
    ws.close()
    assert not (project / ".keel" / "objects").exists() or not any(
        (project / ".keel" / "objects").iterdir()
    )


def test_a_failed_record_leaves_no_rows_and_no_pointer_change(tmp_path: Path) -> None:
    """The version and its objects commit together, or not at all."""
    project = new_project(tmp_path / "p")
    ws = workspace(project)
    ws.add(project / "data")
    pointer = (project / "data.keel").read_text()
    before = rows(project)
    conn = sqlite3.connect(project / ".keel" / "keel.db")
    with conn:
        conn.execute(
            "CREATE TRIGGER no_more BEFORE INSERT ON dataset_versions "
            "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"
        )
    conn.close()
    change(project, 4)
    new_object = ("ab" * 32, 5)
    config = resolve(cwd=project)
    assert recordable(config, "data")
    args = ("cd" * 32, 10, [new_object], 99, {"path": "data"})
    assert record_files_version(config, "data", *args) is None  # rolled back: no object row
    assert rows(project) == before
    with pytest.raises(Exception, match="refused for the test"):
        ws.add(project / "data")  # the sqlite3 path fails, then the store's path
    ws.close()
    assert rows(project)[0] == before[0]  # no version (the store's path may record objects)
    assert (project / "data.keel").read_text() == pointer


def _head() -> str:
    from keel.store.migrations import HEAD

    return HEAD
