"""The platform server: authentication, roles, and clear 4xx answers to bad requests."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keel.config import Config, resolve
from keel.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from keel.server import TokenService
from keel.store import Store, init_project
from keel.tracking import RunQuery
from keel.tracking._http import HttpTracking
from tests.conftest import live_server

API = "/api/v1/projects/default"


@pytest.fixture
def client() -> Iterator:
    """Makes HttpTracking clients and closes them after the test."""
    made: list[HttpTracking] = []

    def make(url: str, token: str | None = None) -> HttpTracking:
        made.append(HttpTracking(url, token=token))
        return made[-1]

    yield make
    for http in made:
        http.close()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    cfg = resolve(
        uri=f"sqlite:///{tmp_path / 'keel.db'}",
        objects=str(tmp_path / "objects"),
        fsync=False,
        max_upload_mb=1,
    )
    init_project(tmp_path, cfg).close()
    return cfg


@pytest.fixture
def open_server(config: Config) -> Iterator[str]:
    with live_server(config) as url:
        yield url


@pytest.fixture
def secured(config: Config) -> Iterator[tuple[str, dict[str, str]]]:
    with Store.open(config) as store:
        tokens = TokenService(store)
        secrets = {role: tokens.create(f"{role}-token", role)[1] for role in ("reader", "writer")}
    with live_server(config, auth=True) as url:
        yield url, secrets


def test_tokens_are_stored_only_as_hashes(config: Config) -> None:
    with Store.open(config) as store:
        info, secret = TokenService(store).create("ci", "writer")
        with store.read() as conn:
            stored = conn.exec_driver_sql("SELECT token_hash FROM tokens").scalar()
    assert secret.startswith("keel_")
    assert len(secret) > 40
    assert secret not in stored
    assert info.role == "writer"


def test_missing_and_wrong_tokens_are_401(secured, client) -> None:
    url, _ = secured
    assert httpx.get(f"{url}{API}/experiments").status_code == 401
    wrong = httpx.get(f"{url}{API}/experiments", headers={"Authorization": "Bearer keel_nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "Unauthenticated"
    with pytest.raises(Unauthenticated, match="keel token create"):
        client(url).list_experiments()


def test_readers_read_writers_write(secured, client) -> None:
    url, secrets = secured
    writer = client(url, token=secrets["writer"])
    reader = client(url, token=secrets["reader"])
    run = writer.create_run("credit", params={"C": "1"})
    assert reader.get_run(run.id).params == {"C": "1"}
    assert reader.get_run(run.id).tags["keel.logged_by"] == "writer-token"  # who, for reproduce
    with pytest.raises(InvalidInput, match="set by the server from the token"):
        writer.create_run("credit", tags={"keel.logged_by": "someone-else"})
    with pytest.raises(InvalidInput, match="set by the server from the token"):
        writer.log_batch(run.id, tags={"keel.logged_by": "someone-else"})
    assert reader.get_run(run.id).tags["keel.logged_by"] == "writer-token"
    with pytest.raises(PermissionDenied, match="role 'reader'; this needs 'writer'"):
        reader.create_run("credit")
    with pytest.raises(PermissionDenied):
        reader.log_batch(run.id, metrics=[("auc", 0.9, 0, 0)])
    assert writer.get_run(run.id).metrics == {}


def test_revoked_token_is_refused(config: Config, secured, client) -> None:
    url, secrets = secured
    with Store.open(config) as store:
        service = TokenService(store)
        writer = next(t for t in service.list() if t.role == "writer")
        service.revoke(writer.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        client(url, token=secrets["writer"]).list_experiments()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b'{"experiment": 5}', "body.experiment"),
        (b'{"name": "x"}', "body.experiment"),
        (b'{"experiment": "e", "params": {"a": [1]}}', "body.params.a"),
    ],
)
def test_malformed_requests_are_422_naming_the_field(
    open_server: str, body: bytes, field: str
) -> None:
    response = httpx.post(
        f"{open_server}{API}/runs", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidInput"
    assert field in response.json()["message"]


def test_bad_metric_batch_is_422_and_changes_nothing(open_server: str, client) -> None:
    http = client(open_server)
    run = http.create_run("credit")
    response = httpx.post(
        f"{open_server}{API}/runs/{run.id}/batch",
        json={"metrics": [["auc", 0.5, 0, 0], ["auc", "high", 1, 0]]},
    )
    assert response.status_code == 422
    assert "body.metrics.1" in response.json()["message"]
    assert http.get_run(run.id).metrics == {}


def test_unknown_things_are_404(open_server: str) -> None:
    assert httpx.get(f"{open_server}{API}/runs/nope").status_code == 404
    assert httpx.get(f"{open_server}/api/v1/nothing-here").json()["error"] == "NotFound"


def test_oversized_upload_is_413(open_server: str, client) -> None:
    http = client(open_server)
    run = http.create_run("credit")
    big = b"x" * (1024 * 1024 + 1)
    response = httpx.put(f"{open_server}{API}/runs/{run.id}/artifacts/big.bin", content=big)
    assert response.status_code == 413
    assert "limit of 1 MiB" in response.json()["message"]

    def chunked():  # no Content-Length: the limit is enforced while streaming
        for _ in range(3):
            yield b"y" * 512 * 1024

    streamed = httpx.put(f"{open_server}{API}/runs/{run.id}/artifacts/big2.bin", content=chunked())
    assert streamed.status_code == 413
    assert http.get_run(run.id).artifacts == []


def test_openapi_documents_the_api(open_server: str) -> None:
    spec = httpx.get(f"{open_server}/openapi.json", timeout=60).json()  # built on first use
    assert f"{API.replace('default', '{project}')}/runs" in spec["paths"]
    assert httpx.get(f"{open_server}/api/v1/health").json()["status"] == "ok"
    # the bearer scheme is declared, so Swagger's Authorize and generated clients send tokens
    assert spec["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from 'keel token create', sent as 'Authorization: Bearer <token>'.",
    }
    run_path = spec["paths"][f"{API.replace('default', '{project}')}/runs/{{run_id}}"]
    assert run_path["get"]["security"] == [{"token": []}]


def _log_through_server(url: str, worker: int, barrier, queue) -> None:
    try:
        import os

        import keel
        from keel import config
        from keel.client import reset_default_client

        os.environ["KEEL_URI"] = url
        os.environ["KEEL_SYSTEM_METRICS"] = "0"
        config.reset()
        reset_default_client()
        barrier.wait()
        with keel.start_run(experiment="load", name=f"w{worker}", capture=False) as run:
            for step in range(500):
                run.log_metric("loss", step * 0.5, step=step)
            run.log_param("worker", worker)
        queue.put(("ok", worker))
    except Exception as exc:
        queue.put(("error", repr(exc)))


def test_sixteen_processes_logging_at_once_lose_nothing(open_server: str, client) -> None:
    processes = 16
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_log_through_server, args=(open_server, w, barrier, queue))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results == [("ok", w) for w in range(processes)]
    http = client(open_server)
    runs = http.search_runs(RunQuery(("load",), max_results=100))
    assert len(runs) == processes
    assert sorted(int(r.params["worker"]) for r in runs) == list(range(processes))
    for run in runs:
        history = http.metric_history(run.id, "loss")
        assert [p[2] for p in history] == list(range(500))
        assert run.metrics["loss"] == 499 * 0.5


def test_tokens_are_revoked_by_the_id_prefix_token_ls_shows(config: Config) -> None:
    with Store.open(config) as store:
        tokens = TokenService(store)
        first, _ = tokens.create("ci", "reader")
        second, _ = tokens.create("deploy", "writer")
        shared = next(
            i for i in range(len(first.id)) if first.id[i] != second.id[i]
        )  # ids made together share a prefix
        with pytest.raises(InvalidInput, match=r"is ambiguous: .*\(ci\).*\(deploy\)"):
            tokens.revoke(first.id[:shared])
        assert all(info.revoked_at is None for info in tokens.list())  # nothing revoked
        revoked = tokens.revoke(second.id[: shared + 1])
        assert revoked.id == second.id
        assert revoked.revoked_at is not None
        assert tokens.revoke(first.id[: shared + 1]).id == first.id
        with pytest.raises(NotFound, match="No active token with id or id prefix"):
            tokens.revoke(first.id)
