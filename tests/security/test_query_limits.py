"""One request cannot crash the server or hold its memory and CPU (issue #10, findings 2, 3).

The servers here are real ``keel server`` processes, so that a crash inside SQLite shows as
the server dying, not as pytest dying. Each test checks afterwards that the server still
answers and that a refused request changed nothing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import keel
from keel.config import SETTINGS, Config, resolve
from keel.errors import QueryTooComplex
from keel.store import Store, init_project
from keel.store import schema as t
from keel.tracking import RunQuery, SqlTracking
from keel.tracking._http import HttpTracking
from tests.conftest import BACKENDS, PG_URL

API = "/api/v1/projects/default"
SEARCH = f"{API}/runs/search"
KEYS = 40  # params, tags and metrics p0..p39 on every seeded run


@dataclass
class Server:
    """A ``keel server`` process over a store, and that store opened in this process."""

    url: str
    process: subprocess.Popen[bytes]
    store: Store

    def alive(self) -> bool:
        """The process runs and answers its health check."""
        if self.process.poll() is not None:
            return False
        return httpx.get(f"{self.url}/api/v1/health", timeout=30).status_code == 200

    def search(self, **body: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{SEARCH}", json=body, timeout=120)


def _env(config: Config) -> dict[str, str]:
    """The environment that makes ``keel server`` resolve ``config``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    for setting in SETTINGS:
        value = getattr(config, setting.name)
        if value is not None and value != setting.default:
            env[setting.env] = str(value)
    env["KEEL_URI"], env["KEEL_OBJECTS"] = config.uri, config.objects
    source = str(Path(keel.__file__).parents[1])  # the keel under test
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


@contextlib.contextmanager
def serve(config: Config, folder: Path) -> Iterator[Server]:
    """Run ``keel server`` in a subprocess on a free loopback port."""
    for _attempt in range(3):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        log = folder / f"server-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "keel", "server", "--port", str(port)],
                cwd=folder,
                env=_env(config),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/v1/health", timeout=5).status_code == 200:
                    break
            time.sleep(0.1)
        if process.poll() is None:
            break
        if b"address already in use" not in log.read_bytes().lower():
            raise RuntimeError(f"keel server did not start:\n{log.read_text()}")
    else:
        raise RuntimeError("keel server found no free port in three tries")
    store = Store.open(config)
    try:
        yield Server(url, process, store)
    finally:
        store.close()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def backend(name: str, folder: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh metadata store URL: a SQLite file, or a PostgreSQL schema of its own."""
    if name == "sqlite":
        yield f"sqlite:///{folder / 'keel.db'}"
        return
    admin: sa.Engine = request.getfixturevalue("pg_admin")
    schema = f"keel_t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def make_config(uri: str, folder: Path, **settings: Any) -> Config:
    config = resolve(
        cwd=folder, env={}, uri=uri, objects=str(folder / "objects"), fsync=False, **settings
    )
    init_project(folder, config).close()
    return config


def seed(config: Config, experiment: str, runs: int) -> list[str]:
    """Runs whose params, tags and metrics p<j> sort run i after run i-1 for every j."""
    with Store.open(config) as store:
        tracking = SqlTracking(store)
        ids = []
        for i in range(runs):
            values = {f"p{j}": f"{i:03d}" for j in range(KEYS)}
            run = tracking.create_run(experiment, name=f"r{i}", params=values, tags=values)
            tracking.log_batch(run.id, metrics=[(f"p{j}", float(i), 0, 0) for j in range(KEYS)])
            ids.append(run.id)
    return ids


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Server:
    """A server with the default search limits and a 1 MiB request body limit."""
    folder = tmp_path_factory.mktemp(f"limits-{request.param}")
    with backend(request.param, folder, request) as uri:
        config = make_config(uri, folder, max_request_mb=1, max_upload_mb=2)
        seed(config, "credit", runs=3)
        with serve(config, folder) as running:
            yield running


def check_refused(
    server: Server, response: httpx.Response, status: int, error: str, before: dict[str, int]
) -> str:
    """The answer is the expected refusal, the server lives and the store is unchanged."""
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    assert server.alive()
    assert server.store.counts() == before
    return response.json()["message"]


# -- finding 2: order_by ----------------------------------------------------------------


@pytest.mark.parametrize(("entity", "keys"), [("params", 17), ("metrics", 25), ("tags", 32)])
def test_many_order_by_keys_are_refused_and_the_server_survives(
    server: Server, entity: str, keys: int
) -> None:
    """17 param keys crashed a SQLite server (segfault in SQLite 3.40.1)."""
    before = server.store.counts()
    response = server.search(order_by=[f"{entity}.p{j} desc" for j in range(keys)])
    message = check_refused(server, response, 422, "QueryTooComplex", before)
    assert f"order_by has {keys} keys, more than the limit of 5" in message
    assert "KEEL_MAX_ORDER_BY" in message
    five = [f"{entity}.p{j} desc" for j in range(5)]
    allowed = server.search(experiments=["credit"], order_by=five)
    assert [run["name"] for run in allowed.json()] == ["r2", "r1", "r0"]


def test_the_sdk_refuses_the_same_order_by(tmp_path: Path) -> None:
    """The limit lives below both transports: the local SDK refuses what the server does."""
    config = make_config(f"sqlite:///{tmp_path / 'keel.db'}", tmp_path)
    with Store.open(config) as store:
        tracking = SqlTracking(store)
        tracking.create_run("credit")
        # attributes need no lookups, so this cannot crash even before the fix
        order = ("name", "status", "created_at", "started_at", "ended_at", "run_id")
        with pytest.raises(QueryTooComplex, match="order_by has 6 keys.*max_order_by"):
            tracking.search_runs(RunQuery(order_by=order))
        assert len(tracking.search_runs(RunQuery(order_by=order[:5]))) == 1


# -- finding 3: search limits -----------------------------------------------------------

TERM = "params.p0 = 'x'"
LIMIT_CASES = {
    "filter too long": (
        {"filter": " or ".join([TERM] * 6000)},  # ~110 KB: under the body limit
        "KEEL_MAX_FILTER_CHARS",
    ),
    "too many terms": ({"filter": " or ".join([TERM] * 51)}, "The filter has 51 comparisons"),
    "IN list too long": (
        {"filter": "params.p0 IN (" + ", ".join(f"'{i}'" for i in range(1001)) + ")"},
        "The IN list of params.p0 has 1001 values",
    ),
    "too many experiments": (
        {"experiments": [f"e{i}" for i in range(101)]},
        "The search names 101 experiments",
    ),
    "max_results too large": ({"max_results": 10_001}, "KEEL_MAX_SEARCH_RESULTS"),
}
LONG_ITEMS = {  # one long item is tokenized whole: 1 MB of "a " is half a million tokens
    "order_by item too long": (
        {"order_by": ["a " * 400_000]},
        "800000 characters long; an item is one key",
    ),
    "experiment name too long": ({"experiments": ["e" * 800_000]}, "names have at most 250"),
}


@pytest.mark.parametrize("case", list(LIMIT_CASES))
def test_searches_beyond_the_limits_are_422(server: Server, case: str) -> None:
    body, expected = LIMIT_CASES[case]
    before = server.store.counts()
    message = check_refused(server, server.search(**body), 422, "QueryTooComplex", before)
    assert expected in message


@pytest.mark.parametrize("case", list(LONG_ITEMS))
def test_overlong_order_by_items_and_experiment_names_are_422(server: Server, case: str) -> None:
    body, expected = LONG_ITEMS[case]
    before = server.store.counts()
    assert expected in check_refused(server, server.search(**body), 422, "InvalidInput", before)


def test_a_megabyte_of_or_terms_is_413(server: Server) -> None:
    """2 MB of filter took 102 s and 2.9 GB; now it is not even read."""
    before = server.store.counts()
    response = server.search(filter=" or ".join([TERM] * 60_000))  # ~1.1 MB
    message = check_refused(server, response, 413, "PayloadTooLarge", before)
    assert "at most 1048576 bytes" in message


# -- finding 3: request bodies ----------------------------------------------------------


def _batch(points: int) -> bytes:
    rows = ",".join(f'["loss", {i}.5, {i}, 0]' for i in range(points))
    return f'{{"metrics": [{rows}]}}'.encode()


def test_oversized_json_bodies_are_413_and_write_nothing(server: Server) -> None:
    run_id = seed_run(server)
    path = f"{server.url}{API}/runs/{run_id}/batch"
    body = _batch(110_000)  # ~2.5 MB
    assert len(body) > 2**21
    before = server.store.counts()
    declared = httpx.post(path, content=body, headers={"Content-Type": "application/json"})
    message = check_refused(server, declared, 413, "PayloadTooLarge", before)
    assert "declares" in message
    assert "KEEL_MAX_REQUEST_MB" in message

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = httpx.post(path, content=chunked(), headers={"Content-Type": "application/json"})
    assert "went past" in check_refused(server, streamed, 413, "PayloadTooLarge", before)
    small = httpx.post(path, content=_batch(3), headers={"Content-Type": "application/json"})
    assert small.status_code == 204


def seed_run(server: Server) -> str:
    response = httpx.post(f"{server.url}{API}/runs", json={"experiment": "bodies"})
    assert response.status_code == 201
    return response.json()["id"]


def test_artifact_uploads_keep_their_own_limit(server: Server) -> None:
    run_id = seed_run(server)
    path = f"{server.url}{API}/runs/{run_id}/artifacts"
    # above the 1 MiB body limit, within the 2 MiB upload limit
    assert httpx.put(f"{path}/model.bin", content=b"m" * (3 * 2**19)).status_code == 201
    over = httpx.put(f"{path}/huge.bin", content=b"m" * (5 * 2**19))
    assert over.status_code == 413
    assert "KEEL_MAX_UPLOAD_MB" in over.json()["message"]


def test_the_sdk_splits_big_metric_batches_under_the_body_limit(server: Server) -> None:
    """The flusher sends up to 50,000 points at once; the client splits them by size."""
    run_id = seed_run(server)
    points = [(f"train/loss-of-a-long-metric-name-{i % 7}", i / 3, i, 0) for i in range(60_000)]
    http = HttpTracking(server.url)
    try:
        http.log_batch(run_id, metrics=points, params={"lr": "0.1"}, tags={"team": "risk"})
    finally:
        http.close()
    m, latest = t.run_metrics, t.run_latest_metrics
    series = sa.select(latest.c.id).where(latest.c.run_id == run_id)
    with server.store.read() as conn:
        stored = conn.execute(
            sa.select(sa.func.sum(m.c.points)).where(m.c.series_id.in_(series))
        ).scalar()
    assert stored == 60_000


# -- finding 3: slow and too complex queries --------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
def test_a_slow_search_is_stopped_at_the_deadline(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Legal but expensive: LIKE terms over many long values on SQLite; on PostgreSQL 100
    ``and`` terms, which its planner takes seconds over."""
    timeout = {"sqlite": 10, "postgresql": 200}[name]
    with backend(name, tmp_path, request) as uri:
        config = make_config(uri, tmp_path, query_timeout_ms=timeout, max_filter_terms=100)
        _many_long_params(config, runs=2000)
        if name == "sqlite":
            text = " or ".join(f"params.p{j % 5} LIKE '%zz{j}%'" for j in range(100))
        else:
            text = " and ".join(f"params.p{j % 5} != 'zz{j}'" for j in range(100))
        with serve(config, tmp_path) as server:
            before = server.store.counts()
            message = check_refused(server, server.search(filter=text), 503, "QueryTimeout", before)
            assert f"longer than this server's limit of {timeout} ms" in message
            assert "KEEL_QUERY_TIMEOUT_MS" in message
            run = httpx.get(f"{server.url}{API}/runs/{'0' * 32}")
            assert run.status_code == 200
            assert run.json()["name"] == "r0"


def _many_long_params(config: Config, runs: int) -> None:
    value = "abcdefghij" * 100
    with Store.open(config) as store:
        SqlTracking(store).create_run("slow")
        with store.write() as conn:
            experiment = conn.execute(sa.select(t.experiments.c.id)).scalar()
            conn.execute(
                t.runs.insert(),
                [
                    {
                        "id": f"{i:032x}",
                        "experiment_id": experiment,
                        "name": f"r{i}",
                        "status": "FINISHED",
                        "created_at": i,
                        "started_at": i,
                    }
                    for i in range(runs)
                ],
            )
            conn.execute(
                t.run_params.insert(),
                [
                    {"run_id": f"{i:032x}", "key": f"p{k}", "value": value}
                    for i in range(runs)
                    for k in range(5)
                ],
            )


@pytest.mark.parametrize("name", BACKENDS)
def test_queries_the_database_refuses_as_too_complex_are_422(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """With the limits raised, the database's own limits answer, as the client's mistake."""
    with backend(name, tmp_path, request) as uri:
        config = make_config(
            uri,
            tmp_path,
            max_request_mb=4,
            max_filter_chars=2_000_000,
            max_filter_terms=5000,
            max_in_values=100_000,
            max_order_by=KEYS,
        )
        seed(config, "credit", runs=3)
        if name == "sqlite":  # a chain of 1500 ORs is deeper than SQLite parses (1000)
            text, refusal = " or ".join([TERM] * 1500), "Expression tree is too large"
        else:  # more bind parameters than PostgreSQL's protocol carries (65535)
            values = ", ".join(f"'{i}'" for i in range(70_000))
            text, refusal = f"params.p0 IN ({values})", "number of parameters"
        with serve(config, tmp_path) as server:
            before = server.store.counts()
            message = check_refused(
                server, server.search(filter=text), 422, "QueryTooComplex", before
            )
            assert "refused the query as too complex" in message
            assert refusal in message
            # order_by stops at its ceiling whatever the setting says: past it SQLite crashed
            order = [f"params.p{j} desc" for j in range(KEYS)]
            check_refused(server, server.search(order_by=order), 422, "QueryTooComplex", before)
            response = server.search(order_by=order[:10])
            assert [run["name"] for run in response.json()] == ["r2", "r1", "r0"]
            assert server.alive()
