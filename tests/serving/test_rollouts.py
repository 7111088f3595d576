"""A running model server follows its deployment's record: apply, rollback and canary
steps reconfigure it under traffic, every prediction is logged, and feedback lands."""

from __future__ import annotations

import time

import httpx
import pytest

from keel.client import Client
from keel.deploy import DeploymentSpec
from keel.serving import create_app

from .conftest import register_slow, serving
from .test_reload import ROW, _Traffic


def _spec(version: str, **extra: object) -> DeploymentSpec:
    return DeploymentSpec.from_dict(
        {
            "name": "credit-scoring",
            "model": "credit",
            "routes": [{"version": version, "weight": 100}],
            "logging": False,
            **extra,
        }
    )


def _until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_apply_and_rollback_reconfigure_a_running_server(project: Client) -> None:
    project.deployments.apply(_spec("1"))
    app = create_app("credit-scoring", project, poll_seconds=0.1)
    assert app.server.spec.refs == ("credit:1",)  # served as recorded, by name
    with serving(app) as url, _Traffic(url) as traffic:
        traffic.wait_for("credit:1")
        project.deployments.apply(_spec("2"))
        traffic.wait_for("credit:2")
        project.deployments.rollback("credit-scoring")
        traffic.wait_for("credit:1")
    assert traffic.seen
    assert {status for status, _ in traffic.seen} == {200}


def test_a_healthy_canary_walks_its_steps_and_is_promoted(project: Client) -> None:
    project.deployments.apply(_spec("1"))
    canary = {"steps": [50, 100], "interval": "300ms", "min_requests": 5, "max_error_rate": 0}
    project.deployments.apply(_spec("2", canary=canary))
    app = create_app("credit-scoring", project, poll_seconds=0.1, seed=1)
    with serving(app) as url, _Traffic(url) as traffic:
        _until(lambda: project.deployments.current("credit-scoring").status == "promoted")
        traffic.wait_for("credit:2")
        shares = {v for _, v in traffic.seen}
    assert shares == {"credit:1", "credit:2"}  # both answered while the split ran
    assert {status for status, _ in traffic.seen} == {200}
    rollout = project.deployments.current("credit-scoring")
    steps = [(s.step, s.weight, s.status) for s in rollout.steps]
    assert steps == [(0, 50.0, "passed"), (1, 100.0, "promoted")]
    assert all(s.metrics["requests"] >= 5 for s in rollout.steps)
    assert app.server.models.versions == {"credit:2": "credit:2"}


def test_a_canary_past_its_latency_bound_is_rolled_back(project: Client) -> None:
    slow = register_slow(project)
    first = DeploymentSpec.from_dict(
        {"name": "slow-lane", "model": "slow", "routes": [slow], "logging": False}
    )
    project.deployments.apply(first)
    # the same model again, as a new version, judged against an impossible p99 bound
    second = register_slow(project)
    canary = {"steps": [50, 100], "interval": "10s", "min_requests": 1, "max_p99_ms": 0.001}
    project.deployments.apply(
        DeploymentSpec.from_dict(
            {
                "name": "slow-lane",
                "model": "slow",
                "routes": [second],
                "logging": False,
                "canary": canary,
            }
        )
    )
    app = create_app("slow-lane", project, poll_seconds=0.1, seed=1)
    with serving(app) as url, _Traffic(url) as traffic:
        _until(lambda: project.deployments.current("slow-lane").revision == 3)
        traffic.wait_for(slow)
    history = project.deployments.history("slow-lane")
    assert [r.status for r in history] == ["active", "rolled_back", "superseded"]
    judged = history[1].steps[-1]
    assert judged.status == "rolled_back"
    assert "p99" in judged.metrics["reason"]
    assert {status for status, _ in traffic.seen} == {200}
    assert app.server.models.versions == {slow: slow}


def test_every_answer_is_logged_and_feedback_joins_it(project: Client) -> None:
    spec = DeploymentSpec.from_dict(
        {
            "name": "logged",
            "model": "credit",
            "routes": [{"version": "@champion", "weight": 100}],
            "shadow": ["credit:3"],
        }
    )
    app = create_app(spec, project, poll_seconds=60)
    ids = []
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for i in range(12):
            answer = http.post("/predict", json=[{**ROW, "income": 40.0 + i}])
            assert answer.status_code == 200
            ids.append(answer.json()["request_id"])
        sent = http.post("/feedback", json=[{"request_id": ids[0], "label": 1}])
        assert sent.status_code == 202, sent.text
    # shutdown flushed everything: the answers, the shadow's and the feedback
    table = project.predictions.read("predictions", deployment="logged").to_pandas()
    answered = table[table["route"] != "shadow"]
    assert sorted(answered["request_id"]) == sorted(ids)
    assert set(answered["model_version"]) == {"credit:1"}
    shadowed = table[table["route"] == "shadow"]
    assert set(shadowed["model_version"]) == {"credit:3"}
    assert sorted(shadowed["request_id"]) == sorted(ids)
    feedback = project.predictions.read("feedback", deployment="logged").to_pandas()
    assert list(feedback["request_id"]) == [ids[0]]


def test_feedback_is_refused_clearly_when_logging_is_off(shared: Client) -> None:
    app = create_app(_spec("1"), shared, poll_seconds=60, follow=False)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        answer = http.post("/feedback", json=[{"request_id": "x" * 32, "label": 1}])
    assert answer.status_code == 409
    assert "logging is off" in answer.json()["message"]


@pytest.mark.parametrize("target", ["credit@champion", "credit:2"])
def test_a_model_reference_is_never_mistaken_for_a_deployment(shared: Client, target) -> None:
    app = create_app(target, shared, poll_seconds=60)
    assert app.server.spec.refs == (target,)
