"""Deployments through ``keel server``: the same results from a local and an http client
(SQLite and PostgreSQL), roles, statuses (404, 409, 422) and nothing changed on a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keel.client import Client
from keel.config import Config
from keel.deploy import DeploymentSpec, parse_spec
from keel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests._served import Served, serve_store

from .conftest import CANARY, SPEC, register_credit

PROJECT = "credit"
API = f"/api/v1/projects/{PROJECT}/deployments"
COUNTED = ("deployments", "rollouts", "rollout_steps", "audit_events")
ROLES = ("reader", "writer", "admin")


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    with serve_store(
        store_config,
        tmp_path,
        ROLES,
        project=PROJECT,
        prepare=lambda client: register_credit(client.store, PROJECT),
    ) as live:
        yield live


def _scenario(client: Client, name: str) -> dict[str, Any]:
    """Plan, apply, change, canary with steps, promote, roll back: every result, with what
    differs by design (ids, times, the actor) taken out."""
    deployments = client.deployments
    spec = parse_spec(SPEC.replace("credit-scoring", name))
    canary = parse_spec(CANARY.replace("credit-scoring", name))
    out: dict[str, Any] = {"plan": deployments.plan(spec).to_dict()}
    out["apply"] = _rollout(deployments.apply(spec))
    out["again"] = _rollout(deployments.apply(spec))
    out["plan2"] = deployments.plan(canary).to_dict()
    started = deployments.apply(canary)
    out["canary"] = _rollout(started)
    deployments.record_step(started.id, 0, 10, "passed", {"requests": 30, "p99_ms": 2.5})
    out["promoted"] = _rollout(deployments.finish(started.id, "promoted"))
    out["rollback"] = _rollout(deployments.rollback(name))
    out["history"] = [_rollout(r) for r in deployments.history(name)]
    out["get"] = _rollout(deployments.get(name, 2))
    out["current"] = _rollout(deployments.current(name))
    out["listed"] = [
        {k: v for k, v in d.items() if k not in ("actor", "updated_at", "name")}
        for d in deployments.list()
        if d["name"] == name
    ]
    out["actors"] = {r.actor for r in deployments.history(name)}
    return out


def _rollout(rollout: Any) -> dict[str, Any]:
    data = rollout.to_dict()
    for key in ("id", "created_at", "actor", "deployment"):
        data.pop(key)
    data["spec"].pop("name")
    for step in data["steps"]:
        step.pop("created_at")
    return data


def test_deployments_answer_the_same_through_the_server(served: Served) -> None:
    with served.local() as local, served.remote("writer") as remote:
        here = _scenario(local, "scoring-local")
        there = _scenario(remote, "scoring-http")
        assert there.pop("actors") == {"writer-token"}
        assert here.pop("actors") == {local.deployments.actor.name}
        for side in (here, there):
            for plan in (side["plan"], side["plan2"]):
                plan.pop("deployment")
                plan["changes"] = [c for c in plan["changes"] if c["path"] != "name"]
        assert there == here
        assert [r["status"] for r in there["history"]] == [
            "active",
            "rolled_back",
            "superseded",
        ]
        assert there["history"][1]["steps"][0]["metrics"] == {"requests": 30, "p99_ms": 2.5}
        # each side sees what the other recorded
        assert remote.deployments.list() == local.deployments.list()
        assert remote.deployments.history("scoring-local") == local.deployments.history(
            "scoring-local"
        )


def test_roles_reader_cannot_change_anything(served: Served) -> None:
    spec = parse_spec(SPEC)
    with served.remote("writer") as writer:
        writer.deployments.apply(spec)
    before = served.counts(*COUNTED)
    with served.remote("reader") as reader:
        deployments = reader.deployments
        assert deployments.plan(spec).empty
        assert deployments.current("credit-scoring").revision == 1
        assert [d["name"] for d in deployments.list()] == ["credit-scoring"]
        with pytest.raises(PermissionDenied, match="needs 'writer'"):
            deployments.apply(parse_spec(SPEC.replace("max_batch_size: 32", "max_batch_size: 8")))
        with pytest.raises(PermissionDenied, match="needs 'writer'"):
            deployments.rollback("credit-scoring")
    refused = httpx.post(
        f"{served.url}{API}", json={"spec": spec.to_dict()}, headers=served.headers("reader")
    )
    assert refused.status_code == 403
    anonymous = httpx.get(f"{served.url}{API}")
    assert anonymous.status_code == 401
    assert served.counts(*COUNTED) == before


def test_statuses_of_client_mistakes(served: Served, tmp_path: Path) -> None:
    headers = served.headers("writer")
    url = f"{served.url}{API}"
    missing = httpx.get(f"{url}/nope", headers=headers)
    assert missing.status_code == 404
    assert "No deployment named 'nope'" in missing.json()["message"]
    assert httpx.post(f"{url}/nope/rollback", headers=headers).status_code == 404
    assert httpx.get(f"{url}/nope/history", headers=headers).status_code == 404
    before = served.counts(*COUNTED)
    bad = {"spec": {"name": "x", "model": "credit", "routes": [{"version": "@a", "weight": 60}]}}
    answer = httpx.post(url, json=bad, headers=headers)
    assert answer.status_code == 422
    assert "routes: weights sum to 60" in answer.json()["message"]
    yaml_text = SPEC.replace('"@challenger"', '"@nobody"')
    answer = httpx.post(url, json={"yaml": yaml_text, "source": "d.yaml"}, headers=headers)
    assert answer.status_code == 422
    assert "d.yaml line 5 (routes.1.version)" in answer.json()["message"]
    answer = httpx.post(url, json={"yaml": "name: [", "source": "d.yaml"}, headers=headers)
    assert answer.status_code == 422
    assert "not valid YAML" in answer.json()["message"]
    both = {"yaml": SPEC, "spec": parse_spec(SPEC).to_dict()}
    assert httpx.post(url, json=both, headers=headers).status_code == 422
    assert httpx.post(url, content=b"\x00garbage", headers=headers).status_code == 422
    path = tmp_path / "deploy.yaml"
    path.write_text(SPEC.replace('["credit:3"]', '["credit:8"]'))
    with served.remote("writer") as writer:
        with pytest.raises(InvalidInput, match=r"deploy.yaml line 6 \(shadow.0\).*no version 8"):
            writer.deployments.apply(parse_spec(path))
        with pytest.raises(NotFound, match="No deployment named 'x'"):
            writer.deployments.get("x", 4)
        assert writer.deployments.current("nope") is None
    assert served.counts(*COUNTED) == before
    with served.remote("writer") as writer:
        writer.deployments.apply(parse_spec(SPEC))
        canary = writer.deployments.apply(parse_spec(CANARY))
        with pytest.raises(Conflict, match="canary in progress"):
            writer.deployments.apply(parse_spec(SPEC))
        step = {"step": 0, "weight": 500, "status": "passed"}
        answer = httpx.post(f"{url}/rollouts/{canary.id}/steps", json=step, headers=headers)
        assert answer.status_code == 422
        answer = httpx.post(
            f"{url}/rollouts/nope/finish", json={"status": "promoted"}, headers=headers
        )
        assert answer.status_code == 404
        restored = writer.deployments.finish(canary.id, "rolled_back")
        assert (restored.revision, restored.restores) == (3, 1)
        answer = httpx.post(
            f"{url}/rollouts/{canary.id}/finish", json={"status": "promoted"}, headers=headers
        )
        assert answer.status_code == 409
        assert isinstance(writer.deployments.get("credit-scoring").spec, DeploymentSpec)
