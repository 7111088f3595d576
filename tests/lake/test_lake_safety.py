"""A lake query reads its own project's lake and nothing else, within a row and time limit."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from keel.config import resolve
from keel.data import DatasetService
from keel.errors import InvalidInput, NotFound, QueryTimeout
from keel.lake import connect, query, view_names
from keel.store import Store, init_project
from keel.tracking import SqlTracking, Tracker
from tests._cli import run_keel

SLOW = "SELECT count(*) FROM range(1000000) a, range(1000000) b"  # 10^12 rows: never ends


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Store]:
    """A SQLite store; the attacks aim at DuckDB, whatever holds the metadata."""
    config = resolve(
        uri=f"sqlite:///{tmp_path / 'meta' / 'keel.db'}",
        objects=str(tmp_path / "objects"),
        fsync=False,
        max_lake_rows=20,
        lake_query_timeout_ms=60_000,
    )
    store = init_project(tmp_path, config)
    yield store
    store.close()


@pytest.fixture
def data(local: Store) -> DatasetService:
    service = DatasetService(local)
    service.log(pd.DataFrame({"region": ["n", "s", "s"], "amount": [1.0, 2.0, 3.0]}), "sales")
    return service


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (SQLite's WAL and shm files aside)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


ATTACKS = {
    "copy to a file": ("COPY (SELECT * FROM sales) TO '{out}'", "COPY"),
    "copy from a file": ("COPY sales FROM '/etc/passwd'", "COPY"),
    "export": ("EXPORT DATABASE '{out}'", "EXPORT"),
    "read any file": ("SELECT * FROM read_csv_auto('/etc/passwd')", "outside the lake"),
    "read a file next to a view": (
        "SELECT * FROM sales, read_csv_auto('/etc/passwd')",
        "outside the lake",
    ),
    "list files": ("SELECT * FROM glob('/etc/*')", "outside the lake"),
    "read a url": ("SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')", "outside"),
    "attach": ("ATTACH '{out}' AS stolen", "attaches a database"),
    "attach in memory": ("ATTACH ':memory:' AS scratch", "attaches a database"),
    "install": ("INSTALL httpfs", "extension"),
    "load": ("LOAD httpfs", "extension"),
    "create table": ("CREATE TABLE copy AS SELECT * FROM sales", "writes"),
    "create macro": ("CREATE MACRO twice(x) AS x * 2", "writes"),
    "insert": ("INSERT INTO sales VALUES ('w', 9.0)", "writes"),
    "two statements": ("SELECT 1; SELECT 2", "2 statements"),
    "a write after a select": ("SELECT 1; COPY (SELECT 1) TO '{out}'", "2 statements"),
    "re-enable external access": ("SET enable_external_access = true", "changes a setting"),
    "widen allowed paths": ("SET allowed_paths = ['/etc/passwd']", "changes a setting"),
    "unlock": ("RESET lock_configuration", "changes a setting"),
    "pragma": ("PRAGMA enable_profiling", "PRAGMA"),
    "import": ("IMPORT DATABASE '{out}'", "PRAGMA"),
    "call": ("CALL pragma_version()", "CALL"),
    "no statement": ("-- nothing", "no statement"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_attack_is_refused_and_changes_nothing(
    attack: str, data: DatasetService, tmp_path: Path
) -> None:
    sql, named = ATTACKS[attack]
    out = tmp_path / "stolen.out"
    sql = sql.format(out=out)
    before = _tree(tmp_path)
    with pytest.raises(InvalidInput, match="refused") as refused:
        query(sql, service=data)
    message = str(refused.value)
    assert named in message
    assert "--unsafe" in message  # the way out for SQL the user wrote themselves
    assert not out.exists()
    assert _tree(tmp_path) == before
    assert query("SELECT count(*) AS n FROM sales", service=data)["n"].tolist() == [3]


@pytest.mark.parametrize(
    "setting",
    [
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET allowed_paths = ['/etc/passwd']",
        "SET allowed_directories = ['/']",
        "SET lock_configuration = false",
        "SET autoinstall_known_extensions = true",
        "PRAGMA enable_profiling",
    ],
)
def test_the_connection_itself_cannot_be_reopened(setting: str, data: DatasetService) -> None:
    """The second lock, behind the parser's: even SQL that reaches the connection is held."""
    con = connect("SELECT * FROM sales", data)
    try:
        with pytest.raises(duckdb.Error, match="locked|Cannot"):
            con.execute(setting)
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_csv_auto('/etc/passwd')").fetchall()
        assert con.execute("SELECT sum(amount) FROM sales").fetchall() == [(6.0,)]
    finally:
        con.close()


def test_connection_refuses_writes_attach_and_extensions(
    data: DatasetService, tmp_path: Path
) -> None:
    con = connect("SELECT * FROM sales", data)
    try:
        for sql in (
            f"COPY (SELECT * FROM sales) TO '{tmp_path / 'a.csv'}'",
            f"ATTACH '{tmp_path / 'b.db'}'",
            "INSTALL httpfs",
            "LOAD httpfs",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
    finally:
        con.close()
    assert not (tmp_path / "a.csv").exists()
    assert not (tmp_path / "b.db").exists()


def test_objects_outside_the_query_views_stay_unreadable(
    local: Store, data: DatasetService
) -> None:
    """Only the Parquet parts behind the views a query names are readable, not the whole
    object folder: another dataset's (or project's) parts are out of reach by path."""
    local.create_project("other")
    other = DatasetService(local, "other")
    secret = other.log(pd.DataFrame({"pin": [1234]}), "secret")
    (path,) = other.local_paths(secret)
    with pytest.raises(InvalidInput, match="outside the lake"):
        query(f"SELECT * FROM sales, read_parquet('{path}')", service=data)
    with pytest.raises(InvalidInput, match="does not exist"):  # no scans of bare paths
        query(f"SELECT * FROM '{path}'", service=data)


def test_read_only_queries_over_the_views_still_work(local: Store, data: DatasetService) -> None:
    data.log(pd.DataFrame({"region": ["n"], "amount": [10.0]}), "sales")
    tracker = Tracker(SqlTracking(local))
    with tracker.start_run("credit", capture=False) as run:
        run.log_predictions(pd.DataFrame({"y_true": [0, 1], "y_pred": [0, 0]}))
    tracker.close()
    joined = query(
        'WITH old AS (SELECT sum(amount) AS total FROM "sales:v1") '
        "SELECT old.total, (SELECT sum(amount) FROM sales) AS latest, "
        "(SELECT count(*) FROM run_predictions) AS predictions FROM old",
        service=data,
    )
    assert joined.to_dict(orient="records") == [{"total": 6.0, "latest": 10.0, "predictions": 2}]
    assert query("DESCRIBE sales", service=data)["column_name"].tolist() == ["region", "amount"]
    assert query("FROM sales SELECT region", service=data)["region"].tolist() == ["n"]
    assert query("SELECT 1 AS one;", service=data)["one"].tolist() == [1]
    assert not query("SELECT 1 AS one", service=data).attrs["truncated"]


def test_unsafe_runs_what_the_user_wrote(data: DatasetService, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    query(f"COPY (SELECT * FROM sales ORDER BY amount) TO '{out}'", service=data, unsafe=True)
    assert out.read_text().splitlines() == ["region,amount", "n,1.0", "s,2.0", "s,3.0"]
    assert query("SELECT 1 AS a; SELECT 2 AS b", service=data, unsafe=True)["b"].tolist() == [2]


def test_rows_past_the_limit_are_cut_and_marked(data: DatasetService) -> None:
    sql = "SELECT range AS i FROM range(25) ORDER BY i DESC"
    with pytest.warns(UserWarning, match=r"more than 20 rows.*max_lake_rows"):
        frame = query(sql, service=data)  # the setting: 20 in this store
    assert frame["i"].tolist() == list(range(24, 4, -1))
    assert frame.attrs == {"truncated": True, "max_rows": 20}
    with pytest.warns(UserWarning, match="more than 7 rows"):
        table = query(sql, service=data, format="arrow", max_rows=7)
    assert table.column("i").to_pylist() == list(range(24, 17, -1))
    assert table.schema.metadata[b"keel.truncated"] == b"true"
    exact = query("SELECT * FROM range(20)", service=data)  # exactly the limit: not cut
    assert len(exact) == 20
    assert exact.attrs["truncated"] is False
    with pytest.raises(InvalidInput, match="max_rows must be a positive integer. Got 0"):
        query("SELECT 1", service=data, max_rows=0)


def test_a_query_past_its_time_limit_is_interrupted(local: Store, data: DatasetService) -> None:
    with pytest.raises(QueryTimeout, match=r"ran longer than 200 ms and was interrupted"):
        query(SLOW, service=data, timeout_ms=200)
    config = resolve(uri=local.config.uri, objects=local.config.objects, lake_query_timeout_ms=150)
    store = Store.open(config)
    try:
        with pytest.raises(QueryTimeout, match="lake_query_timeout_ms"):
            query(SLOW, service=DatasetService(store))
    finally:
        store.close()
    # the limit belongs to one query: the next one runs in full
    assert query("SELECT count(*) AS n FROM sales", service=data)["n"].tolist() == [3]


def test_each_project_sees_only_its_own_rows(store: Store) -> None:
    """Two projects in one store, on SQLite and PostgreSQL: same dataset name, own runs."""
    seen = {}
    store.create_project("alpha")
    store.create_project("beta")
    for project, amounts in (("alpha", [1.0, 2.0]), ("beta", [100.0])):
        DatasetService(store, project).log(pd.DataFrame({"amount": amounts}), "sales")
        tracker = Tracker(SqlTracking(store, project))
        with tracker.start_run("credit", capture=False) as run:
            run.log_predictions(pd.DataFrame({"y_true": amounts, "y_pred": amounts}))
        tracker.close()
        seen[project] = run.id
    DatasetService(store, "beta").log(pd.DataFrame({"pin": [1234]}), "secret")

    for project, total, count in (("alpha", 3.0, 2), ("beta", 100.0, 1)):
        data = DatasetService(store, project)
        predictions = query(
            "SELECT run_id, count(*) AS n FROM run_predictions GROUP BY run_id", service=data
        )
        assert predictions.to_dict(orient="records") == [{"run_id": seen[project], "n": count}]
        assert query("SELECT sum(amount) AS s FROM sales", service=data)["s"].tolist() == [total]
    alpha = DatasetService(store, "alpha")
    with pytest.raises(InvalidInput, match="secret"):
        query("SELECT * FROM secret", service=alpha)
    assert "secret" not in view_names(alpha)
    store.create_project("nil")
    empty = query("SELECT count(*) AS n FROM run_predictions", service=DatasetService(store, "nil"))
    assert empty["n"].tolist() == [0]
    with pytest.raises(NotFound, match="No project named 'nope'"):
        query("SELECT count(*) AS n FROM run_predictions", service=DatasetService(store, "nope"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    assert run_keel("init", cwd=tmp_path).returncode == 0
    code = (
        "import pandas as pd, keel\nkeel.log_dataset(pd.DataFrame({'i': range(30)}), 'numbers')\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def test_cli_refuses_unless_unsafe_and_notes_truncation(project: Path) -> None:
    out = project / "dump.csv"
    copy = f"COPY (SELECT * FROM numbers) TO '{out}'"
    refused = run_keel("lake", "query", copy, cwd=project)
    assert refused.returncode == 1
    assert "refused" in refused.stderr
    assert "COPY" in refused.stderr
    assert not out.exists()
    assert run_keel("lake", "query", "--unsafe", copy, cwd=project).returncode == 0
    assert len(out.read_text().splitlines()) == 31

    cut = run_keel(
        "lake", "query", "SELECT i FROM numbers ORDER BY i", "--json",
        cwd=project, env={"KEEL_MAX_LAKE_ROWS": "5"},
    )  # fmt: skip
    assert cut.returncode == 0
    assert [row["i"] for row in json.loads(cut.stdout)] == [0, 1, 2, 3, 4]
    assert "truncated to its first 5 rows" in cut.stderr
