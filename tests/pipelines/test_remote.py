"""Pipelines through ``keel server``: reads match the store, writers queue runs for the
agent, readers cannot change anything, and client mistakes get clear 4xx answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keel.client import Client
from keel.config import resolve
from keel.errors import InvalidInput, NotFound, PermissionDenied
from keel.pipelines import execute_run
from keel.server import TokenService
from keel.store import init_project
from tests.conftest import live_server

from .flows import approved, unreliable

API = "/api/v1/projects/default/pipelines"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, str, dict, Path]]:
    folder = tmp_path_factory.mktemp("remote-pipelines")
    config = resolve(
        uri=f"sqlite:///{folder / 'keel.db'}", objects=str(folder / "objects"), fsync=False
    )
    init_project(folder, config).close()
    client = Client(config=config)
    service = TokenService(client.store)
    tokens = {role: service.create(f"{role}-token", role)[1] for role in ("reader", "writer")}
    with live_server(config, auth=True) as url:
        yield client, url, tokens, folder
    client.close()


def remote(served, role: str) -> Client:
    _, url, tokens, _ = served
    return Client(url, project="default", token=tokens[role])


def test_reads_through_the_server_match_the_store(served) -> None:
    local, _, _, folder = served
    run = unreliable.run({"counter": str(folder / "c1"), "failures": 3}, client=local)
    assert run.status == "failed"
    with remote(served, "reader") as reader:
        assert [p["name"] for p in reader.pipelines.list()] == [
            p["name"] for p in local.pipelines.list()
        ]
        assert (
            reader.pipelines.get("unreliable")["spec"] == local.pipelines.get("unreliable")["spec"]
        )
        assert reader.pipelines.run(run.id) == local.pipelines.run(run.id)
        assert reader.pipelines.runs("unreliable", status="failed")[0]["id"] == run.id
        logs = reader.pipelines.logs(run.id, step="flaky")
        assert "planned failure 3" in logs[0]["log"]
        with pytest.raises(PermissionDenied):
            reader.pipelines.submit("unreliable")
        with pytest.raises(PermissionDenied):
            reader.pipelines.resume(run.id)
        with pytest.raises(PermissionDenied):
            reader.pipelines.cancel(run.id)
    assert local.pipelines.run(run.id)["status"] == "failed"


def test_a_writer_queues_runs_for_the_agent(served) -> None:
    local, _, _, folder = served
    flag = folder / "flag"
    flag.write_text("yes")
    with remote(served, "writer") as writer:
        queued = approved.run({"flag": str(flag), "n": 2}, client=writer)
        assert queued.status == "queued"
        assert writer.pipelines.run(queued.id)["status"] == "queued"
        # the agent (here: this test, as the agent would) executes it
        done = execute_run(local, queued.id, holder="agent")
        assert done["status"] == "succeeded"
        assert writer.pipelines.run(queued.id)["status"] == "succeeded"
        run_id = writer.pipelines.submit("approved", {"flag": str(flag), "n": "7"})
        assert writer.pipelines.run(run_id)["params"] == {"flag": str(flag), "n": 7}
        assert writer.pipelines.cancel(run_id)["status"] == "cancelled"
        assert writer.pipelines.resume(run_id)["status"] == "queued"


def test_client_mistakes_get_clear_4xx_answers(served) -> None:
    local, url, tokens, folder = served
    approved.run({"flag": str(folder / "nothing")}, client=local)
    with remote(served, "writer") as writer:
        with pytest.raises(NotFound, match="No pipeline named 'aproved'"):
            writer.pipelines.submit("aproved")
        with pytest.raises(InvalidInput, match="no param 'nn'"):
            writer.pipelines.submit("approved", {"nn": 1})
        with pytest.raises(NotFound, match="No pipeline run"):
            writer.pipelines.run("0" * 32)
        with pytest.raises(InvalidInput):
            writer.pipelines.runs(status="finished")
        with pytest.raises(InvalidInput, match="needs 'entrypoint'"):
            writer.pipelines.record("bad", {"steps": []})
        spec = {**local.pipelines.get("approved")["spec"], "entrypoint": "/tmp/evil.py:p"}
        with pytest.raises(InvalidInput, match="must be module:function"):
            writer.pipelines.record("evil", spec)
        with pytest.raises(InvalidInput, match="max_workers"):
            writer.pipelines.submit("approved", options={"max_workers": 0})
    assert "evil" not in [p["name"] for p in local.pipelines.list()]
    headers = {"Authorization": f"Bearer {tokens['writer']}"}
    with httpx.Client(base_url=url, headers=headers) as http:
        assert http.post(f"{API}/approved/runs", content=b"{").status_code == 422
        assert http.get(f"{API}/-/runs", params={"limit": 0}).status_code == 422
        assert http.post(f"{API}/-/runs/{'x' * 100}/cancel").status_code in (404, 422)
