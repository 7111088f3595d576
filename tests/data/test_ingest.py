"""Ingestion from files, SQL (PostgreSQL and SQLite) and a paginated JSON API on loopback."""

from __future__ import annotations

import gzip
import io
import json
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from keel.data import DatasetService
from keel.data._ingest import IngestResult, _decode, _mark, ingest
from keel.data._ingest_sources import redact
from keel.errors import InvalidInput, NotFound, PermissionDenied, StoreUnavailable
from keel.store import Store, init_project
from keel.store.lineage import lineage_graph
from tests._cli import run_keel

SECRET = "s3cret-pw"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    """A dataset service on a fresh local project (SQLite metadata, local objects)."""
    store = init_project(tmp_path / "project")
    yield DatasetService(store)
    store.close()


def ids(result: IngestResult, service: DatasetService) -> list[int]:
    return sorted(service.load(result.version)["id"].tolist())


def assert_no_dataset(service: DatasetService, name: str) -> None:
    with pytest.raises(NotFound):
        service.resolve(name)


# -- files -----------------------------------------------------------------------------------


def people(start: int, stop: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": range(start, stop), "name": [f"p{i}" for i in range(start, stop)]},
    )


def test_csv_parquet_and_jsonl_files(service: DatasetService, tmp_path: Path) -> None:
    people(0, 5).to_csv(tmp_path / "a.csv", index=False)
    pq.write_table(pa.Table.from_pandas(people(5, 8), preserve_index=False), tmp_path / "b.pq")
    people(8, 10).to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    (tmp_path / "d.json").write_text(json.dumps([{"id": 10, "name": "p10"}]))
    with gzip.open(tmp_path / "e.csv.gz", "wt") as fh:
        fh.write("id,name\n11,p11\n")
    (tmp_path / "f.txt").write_text("id,name\n12,p12\n")

    a = ingest(str(tmp_path / "a.csv"), "a", service=service, description="first")
    assert (a.version.ref, a.new_rows, a.version.row_count) == ("a:v1", 5, 5)
    assert service.load(a.version).equals(people(0, 5))
    assert a.version.description == "first"
    source = a.version.source
    assert source["type"] == "file"
    assert source["uri"] == str(tmp_path / "a.csv")
    assert (source["rows"], source["files"], source["watermark"]) == (5, 1, None)
    assert abs(source["fetched_at"] / 1000 - time.time()) < 60
    assert source == a.source

    for file, expected in [("b.pq", [5, 6, 7]), ("c.jsonl", [8, 9]), ("d.json", [10])]:
        assert ids(ingest(str(tmp_path / file), file[0], service=service), service) == expected
    assert ids(ingest(str(tmp_path / "e.csv.gz"), "e", service=service), service) == [11]
    assert ids(ingest(str(tmp_path / "f.txt"), "f", format="csv", service=service), service) == [12]
    (tmp_path / "g.json").write_text(json.dumps([{"code": 1}, {"code": "A7"}, {"other": 2}]))
    mixed = service.load(
        ingest(str(tmp_path / "g.json"), "g", service=service).version, format="arrow"
    )
    assert mixed["code"].to_pylist() == ["1", "A7", None]  # mixed types are kept as text
    # an fsspec URL reads the same as the path
    again = ingest(f"file://{tmp_path / 'a.csv'}", "a", service=service)
    assert (again.version.id, again.new_rows) == (a.version.id, 0)


def test_a_glob_stacks_every_matching_file(service: DatasetService, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        people(i * 10, i * 10 + 4).to_csv(folder / f"part-{i}.csv", index=False)
    (folder / "notes.md").write_text("not a table")
    result = ingest(str(folder / "*.csv"), "parts", service=service)
    assert result.new_rows == 12
    assert result.source["files"] == 3
    assert ids(result, service) == [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]


@pytest.mark.s3
def test_an_fsspec_url_on_s3(service: DatasetService, s3_bucket: str, s3_endpoint: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    for i in range(2):
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(people(i * 3, i * 3 + 3)), buffer)
        s3.put_object(Bucket=s3_bucket, Key=f"lake/part-{i}.parquet", Body=buffer.getvalue())
    result = ingest(f"s3://{s3_bucket}/lake/*.parquet", "lake", service=service)
    assert (result.new_rows, result.source["files"]) == (6, 2)
    assert result.version.source["uri"] == f"s3://{s3_bucket}/lake/*.parquet"
    assert ids(result, service) == list(range(6))
    with pytest.raises(NotFound, match=rf"No file matches s3://{s3_bucket}/nothing/"):
        ingest(f"s3://{s3_bucket}/nothing/*.csv", "none", service=service)


def test_a_file_by_watermark_appends_only_new_rows(store: Store, tmp_path: Path) -> None:
    service = DatasetService(store)
    path = tmp_path / "log.csv"
    people(0, 3).to_csv(path, index=False)
    first = ingest(str(path), "log", watermark="id", service=service)
    assert first.source["watermark"] == {"column": "id", "value": 2, "type": "int"}
    people(0, 6).to_csv(path, index=False)  # the file grew
    second = ingest(str(path), "log", watermark="id", service=service)
    assert (second.version.ref, second.new_rows, second.source["rows"]) == ("log:v2", 3, 6)
    assert ids(second, service) == list(range(6))
    assert second.version.source["watermark"]["value"] == 5
    graph = lineage_graph(store, "dataset_version", second.version.id, direction="up")
    assert ("dataset_version", first.version.id) in graph.nodes
    same = ingest(str(path), "log", watermark="id", service=service)
    assert (same.version.id, same.new_rows) == (second.version.id, 0)


def test_file_errors_name_the_source_and_create_nothing(
    service: DatasetService, tmp_path: Path
) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    people(0, 2).to_csv(tmp_path / "ok.csv", index=False)
    with pytest.raises(NotFound, match=r"no such file .*missing\.csv"):
        ingest(str(tmp_path / "missing.csv"), "t", service=service)
    with pytest.raises(NotFound, match=r"No file matches .*\*\.csv"):
        ingest(str(tmp_path / "nothing" / "*.csv"), "t", service=service)
    with pytest.raises(InvalidInput, match=r"Cannot read .*bad\.parquet as parquet"):
        ingest(str(tmp_path / "bad.parquet"), "t", service=service)
    with pytest.raises(InvalidInput, match=r"format of .*x\.bin.* csv, parquet, jsonl"):
        ingest(str(tmp_path / "x.bin"), "t", service=service)
    with pytest.raises(InvalidInput, match=r"format must be one of .*Got 'parket'.*'parquet'"):
        ingest(str(tmp_path / "ok.csv"), "t", format="parket", service=service)
    with pytest.raises(InvalidInput, match=r"scheme 'nosuch' is not known"):
        ingest("nosuch://bucket/x.csv", "t", service=service)
    with pytest.raises(InvalidInput, match=r"watermark column 'idd' is not in .*ok\.csv.*'id'"):
        ingest(str(tmp_path / "ok.csv"), "t", watermark="idd", service=service)
    with pytest.raises(InvalidInput, match=r"records_path= is for http sources, but .*ok\.csv"):
        ingest(str(tmp_path / "ok.csv"), "t", records_path="data", service=service)
    with pytest.raises(InvalidInput, match="Dataset name"):
        ingest(str(tmp_path / "ok.csv"), "bad name", service=service)
    assert_no_dataset(service, "t")


@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=False),
        st.text(),
        st.datetimes(timezones=st.none() | st.just(UTC)),
        st.dates(),
        st.times(),
        st.decimals(allow_nan=False, allow_infinity=False),
    )
)
def test_a_recorded_watermark_reads_back_as_the_same_value(value: Any) -> None:
    mark = _mark("c", value, "src")
    assert mark == json.loads(json.dumps(mark))  # plain JSON, as stored
    restored = _decode(mark)
    assert (type(restored), restored) == (type(value), value)


# -- SQL -------------------------------------------------------------------------------------

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def insert_events(engine: sa.Engine, start: int, stop: int) -> None:
    rows = [
        {"id": i, "kind": "click" if i % 2 else "view", "at": T0 + timedelta(hours=i)}
        for i in range(start, stop)
    ]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO events (id, kind, at) VALUES (:id, :kind, :at)"), rows)


@pytest.mark.postgres
def test_sql_on_postgres_fetches_only_rows_past_the_watermark(
    pg_url: str, service: DatasetService
) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE events (id bigint PRIMARY KEY, kind text, at timestamptz)")
        )
    insert_events(engine, 1, 6)
    query = "SELECT id, kind, at FROM events WHERE kind <> :skip;"
    kwargs: dict[str, Any] = {"query": query, "params": {"skip": "none"}, "service": service}

    first = ingest(pg_url, "events", watermark="at", **kwargs)
    assert (first.version.ref, first.new_rows, first.version.row_count) == ("events:v1", 5, 5)
    mark = first.version.source["watermark"]
    assert mark == {
        "column": "at",
        "value": (T0 + timedelta(hours=5)).isoformat(),
        "type": "datetime",
    }
    assert first.version.source["query"] == query
    assert first.version.source["type"] == "sql"

    insert_events(engine, 6, 9)
    second = ingest(pg_url, "events", watermark="at", **kwargs)
    assert second.source["rows"] == 3  # only the new rows crossed the wire
    assert (second.version.ref, second.new_rows, second.version.row_count) == ("events:v2", 3, 8)
    frame = service.load(second.version)
    assert sorted(frame["id"]) == list(range(1, 9))
    assert frame["at"].max() == pd.Timestamp(T0 + timedelta(hours=8))
    graph = lineage_graph(service.store, "dataset_version", second.version.id, direction="up")
    assert [
        (e.src, e.relation) for e in graph.upstream(("dataset_version", second.version.id))
    ] == [(("dataset_version", first.version.id), "derived_into")]

    unchanged = ingest(pg_url, "events", watermark="at", **kwargs)
    assert (unchanged.version.id, unchanged.new_rows, unchanged.source["rows"]) == (
        second.version.id,
        0,
        0,
    )
    by_id = ingest(pg_url, "events-by-id", watermark="id", **kwargs)
    insert_events(engine, 9, 10)
    assert ingest(pg_url, "events-by-id", watermark="id", **kwargs).new_rows == 1
    assert by_id.version.source["watermark"]["type"] == "int"
    engine.dispose()


@pytest.mark.postgres
def test_passwords_are_never_recorded_or_shown(pg_url: str, service: DatasetService) -> None:
    url = sa.engine.make_url(pg_url)
    if url.password is None:  # the test server trusts loopback, so any password is accepted
        url = url.set(password=SECRET)
    secret = url.password
    with_password = url.render_as_string(hide_password=False)
    result = ingest(with_password, "one", query="SELECT 1 AS x", service=service)
    assert secret not in json.dumps(result.version.source)
    assert ":***@" in result.version.source["uri"]
    with pytest.raises(InvalidInput, match='relation "nowhere" does not exist') as caught:
        ingest(with_password, "two", query="SELECT * FROM nowhere", service=service)
    assert secret not in str(caught.value)
    refused = f"postgresql+psycopg://keel:{SECRET}@127.0.0.1:1/db"
    with pytest.raises(StoreUnavailable, match=r"Cannot connect to .*keel:\*\*\*@127") as caught:
        ingest(refused, "two", query="SELECT 1", service=service)
    assert SECRET not in str(caught.value)
    assert_no_dataset(service, "two")
    assert redact(f"https://me:{SECRET}@api.example.com/x?page=1") == (
        "https://me:***@api.example.com/x?page=1"
    )
    assert redact("https://api.example.com/x") == "https://api.example.com/x"


def test_sqlite_source_and_sql_errors(service: DatasetService, tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER, total REAL)")
        db.executemany("INSERT INTO orders VALUES (?, ?)", [(i, i * 1.5) for i in range(4)])
    url = f"sqlite:///{path}"
    first = ingest(url, "orders", query="SELECT * FROM orders", watermark="id", service=service)
    assert (first.new_rows, first.source["uri"]) == (4, url)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO orders VALUES (4, 6.0)")
    second = ingest(url, "orders", query="SELECT * FROM orders", watermark="id", service=service)
    assert (second.new_rows, second.source["rows"], ids(second, service)) == (1, 1, [0, 1, 2, 3, 4])

    with pytest.raises(InvalidInput, match=r"query on sqlite:///.*failed: no such table: nope"):
        ingest(url, "bad", query="SELECT * FROM nope", service=service)
    with pytest.raises(InvalidInput, match="is a database URL: give the rows to read with query="):
        ingest(url, "bad", service=service)
    with pytest.raises(NotFound, match=r"there is no SQLite file .*absent\.db"):
        ingest(f"sqlite:///{tmp_path / 'absent.db'}", "bad", query="SELECT 1", service=service)
    assert not (tmp_path / "absent.db").exists()
    with pytest.raises(InvalidInput, match="not a plain identifier"):
        ingest(url, "bad", query="SELECT * FROM orders", watermark="id; DROP", service=service)
    with pytest.raises(InvalidInput, match=r"latest version orders:v2 has no such column"):
        ingest(url, "orders", query="SELECT * FROM orders", watermark="missing", service=service)
    with pytest.raises(InvalidInput, match=r"watermark column 'missing' is not in the data"):
        ingest(url, "fresh", query="SELECT * FROM orders", watermark="missing", service=service)
    with pytest.raises(InvalidInput, match=r"returns the column id more than once"):
        ingest(url, "bad", query="SELECT id, id FROM orders", service=service)
    with pytest.raises(InvalidInput, match=r"bind parameter 'missing'\. Query: "):
        ingest(url, "bad", query="SELECT * FROM orders WHERE id > :missing", service=service)
    with pytest.raises(InvalidInput, match="format= is for file and http sources"):
        ingest(url, "bad", query="SELECT * FROM orders", format="csv", service=service)
    with pytest.raises(InvalidInput, match="no dialect 'nosuchdb'"):
        ingest("nosuchdb://h/db", "bad", query="SELECT 1", service=service)
    assert_no_dataset(service, "bad")
    assert_no_dataset(service, "fresh")


# -- HTTP ------------------------------------------------------------------------------------

ROWS = [{"id": i, "name": f"p{i}", "tags": ["a"] * (i % 2)} for i in range(1, 8)]
PAGE = 3


class Api:
    """A small JSON API: pages of records by body links or Link headers, and failures."""

    def __init__(self) -> None:
        self.rows = list(ROWS)
        self.queries: list[dict[str, str]] = []

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, PlainTextResponse, Response
        from starlette.routing import Route

        def page_of(request: Any) -> tuple[int, list[dict[str, Any]], bool]:
            self.queries.append(dict(request.query_params))
            after = int(request.query_params.get("after", 0))
            rows = [r for r in self.rows if r["id"] > after]
            page = int(request.query_params.get("page", 1))
            return page, rows[(page - 1) * PAGE : page * PAGE], page * PAGE < len(rows)

        async def body_links(request: Any) -> Response:
            page, rows, more = page_of(request)
            after = request.query_params.get("after", "0")
            next_url = f"/items?page={page + 1}&after={after}" if more else None
            return JSONResponse({"data": {"items": rows}, "links": {"next": next_url}})

        async def link_header(request: Any) -> Response:
            page, rows, more = page_of(request)
            headers = {}
            if more:
                headers["Link"] = f'<{request.url.include_query_params(page=page + 1)}>; rel="next"'
            return JSONResponse(rows, headers=headers)

        async def loop(request: Any) -> Response:
            return JSONResponse([{"id": 1}], headers={"Link": f'<{request.url}>; rel="next"'})

        async def private(request: Any) -> Response:
            if request.headers.get("authorization") != "Bearer t0ken":
                return JSONResponse({"error": "who are you"}, status_code=401)
            return JSONResponse({"results": ROWS[:2], "count": 2})

        async def csv_file(request: Any) -> Response:
            return PlainTextResponse("id,name\n1,a\n2,b\n")

        async def status(request: Any) -> Response:
            return JSONResponse({"error": "no"}, status_code=int(request.path_params["code"]))

        async def not_json(request: Any) -> Response:
            return PlainTextResponse("<html>hello</html>")

        async def scalars(request: Any) -> Response:
            return JSONResponse({"items": [1, 2]})

        return Starlette(
            routes=[
                Route("/items", body_links),
                Route("/linked", link_header),
                Route("/loop", loop),
                Route("/private", private),
                Route("/files/people.csv", csv_file),
                Route("/status/{code:int}", status),
                Route("/html", not_json),
                Route("/scalars", scalars),
            ]
        )


@pytest.fixture(scope="module")
def api_server() -> Iterator[tuple[str, Api]]:
    """The API served by uvicorn on a free loopback port in a thread."""
    import uvicorn

    api = Api()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api.app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test API did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", api
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture
def api(api_server: tuple[str, Api]) -> tuple[str, Api]:
    url, state = api_server
    state.rows, state.queries = list(ROWS), []
    return url, state


def test_http_pages_by_next_links_in_the_body(
    service: DatasetService, api: tuple[str, Api]
) -> None:
    url, state = api
    result = ingest(
        f"{url}/items",
        "people",
        records_path="data.items",
        next_path="links.next",
        service=service,
    )
    assert (result.new_rows, result.source["pages"], result.source["type"]) == (7, 3, "http")
    frame = service.load(result.version)
    assert frame["id"].tolist() == list(range(1, 8))
    assert frame["tags"].map(list).tolist()[:2] == [["a"], []]
    assert len(state.queries) == 3
    capped = ingest(
        f"{url}/items",
        "capped",
        records_path="data.items",
        next_path="links.next",
        max_pages=2,
        service=service,
    )
    assert (capped.new_rows, capped.source["pages"], capped.source["truncated"]) == (6, 2, True)


def test_http_pages_by_link_headers_and_incremental_params(
    service: DatasetService, api: tuple[str, Api]
) -> None:
    url, state = api
    params = {"after": "{watermark}"}
    first = ingest(f"{url}/linked", "people", watermark="id", params=params, service=service)
    assert (first.new_rows, first.source["pages"]) == (7, 3)
    assert "after" not in state.queries[0]  # no mark yet: the parameter is left out
    state.rows += [{"id": 8, "name": "p8", "tags": []}, {"id": 9, "name": "p9", "tags": ["b"]}]
    state.queries.clear()
    second = ingest(f"{url}/linked", "people", watermark="id", params=params, service=service)
    assert state.queries == [{"after": "7"}]
    assert (second.version.ref, second.new_rows, second.source["pages"]) == ("people:v2", 2, 1)
    assert ids(second, service) == list(range(1, 10))
    # without the parameter the server sends everything and the rows are filtered here
    third_rows = {"id": 10, "name": "p10", "tags": []}
    state.rows.append(third_rows)
    third = ingest(f"{url}/linked", "people", watermark="id", service=service)
    assert (third.new_rows, third.source["rows"], third.version.row_count) == (1, 10, 10)

    loop = ingest(f"{url}/loop", "loop", service=service)
    assert (loop.new_rows, loop.source["pages"]) == (1, 1)
    private = ingest(
        f"{url}/private",
        "private",
        records_path="results",
        headers={"Authorization": "Bearer t0ken"},
        service=service,
    )
    assert private.new_rows == 2
    assert "t0ken" not in json.dumps(private.version.source)
    table = ingest(f"{url}/files/people.csv", "csv", service=service)
    assert (table.source["type"], table.new_rows) == ("http", 2)


def test_http_errors_name_the_source_and_create_nothing(
    service: DatasetService, api: tuple[str, Api]
) -> None:
    url, _ = api
    cases: list[tuple[str, dict[str, Any], type[Exception], str]] = [
        ("/status/500", {}, StoreUnavailable, r"/status/500 answered HTTP 500"),
        ("/status/404", {}, NotFound, r"/status/404 answered HTTP 404"),
        ("/status/422", {}, InvalidInput, r"answered HTTP 422 .*no"),
        ("/private", {}, PermissionDenied, r"HTTP 401 .*headers="),
        ("/html", {}, InvalidInput, r"Page 1 of .*/html .*is not JSON"),
        ("/private", {"headers": {"Authorization": "Bearer t0ken"}}, InvalidInput,
         r"is a dict, not a list of records.*records_path=.*lists sit at: results"),
        ("/items", {"records_path": "data.itemz"}, InvalidInput,
         r"nothing at records_path 'data.itemz'"),
        ("/scalars", {"records_path": "items"}, InvalidInput,
         r"must be a list of JSON objects. Got a list holding int"),
        ("/linked", {"watermark": "idx"}, InvalidInput, r"watermark column 'idx' is not in"),
        ("/linked", {"query": "SELECT 1"}, InvalidInput, r"query= is for database sources"),
        ("/linked", {"max_pages": 0}, InvalidInput, r"max_pages must be a positive integer"),
    ]  # fmt: skip
    for path, kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            ingest(f"{url}{path}", "bad", service=service, **kwargs)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    closed = sock.getsockname()[1]
    sock.close()
    with pytest.raises(StoreUnavailable, match=rf"Cannot fetch http://127.0.0.1:{closed}/x"):
        ingest(f"http://127.0.0.1:{closed}/x", "bad", service=service)
    assert_no_dataset(service, "bad")


# -- CLI -------------------------------------------------------------------------------------


def keel(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_keel(*args, cwd=cwd)


def test_cli_ingests_and_reports(tmp_path: Path) -> None:
    init_project(tmp_path).close()
    people(0, 3).to_csv(tmp_path / "p.csv", index=False)
    done = keel("data", "ingest", "p.csv", "--name", "people", "-w", "id", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"read 3 rows from {tmp_path / 'p.csv'} (file)" in done.stdout
    assert "people:v1: 3 new rows, 3 rows  watermark id = 2" in done.stdout
    people(0, 5).to_csv(tmp_path / "p.csv", index=False)
    done = keel("data", "ingest", "p.csv", "-n", "people", "-w", "id", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["version"]["ref"], out["new_rows"]) == ("people:v2", 2)
    assert out["source"]["watermark"] == {"column": "id", "value": 4, "type": "int"}


def test_cli_registers_ingest_and_refuses_bad_options() -> None:
    import typer
    from typer.testing import CliRunner

    from keel.cli.data_ingest import _pairs, register

    group = typer.Typer()
    group.callback()(lambda: None)
    register(group)
    runner = CliRunner()
    assert "--watermark" in runner.invoke(group, ["ingest", "--help"]).output
    refused = runner.invoke(group, ["ingest", "nosuch://x/y.csv", "--name", "x"])
    assert isinstance(refused.exception, InvalidInput)
    assert "scheme 'nosuch' is not known" in str(refused.exception)
    missing = runner.invoke(group, ["ingest", "x.csv"])
    assert missing.exit_code == 2

    assert _pairs(["a=1", "b = x=y"], "=", "--param", "KEY=VALUE") == {"a": "1", "b": "x=y"}
    assert _pairs(["Authorization: Bearer x"], ":", "--header", "'Name: value'") == {
        "Authorization": "Bearer x"
    }
    assert _pairs(None, "=", "--param", "KEY=VALUE") is None
    with pytest.raises(InvalidInput, match=r"--param takes KEY=VALUE. Got 'oops'."):
        _pairs(["oops"], "=", "--param", "KEY=VALUE")
