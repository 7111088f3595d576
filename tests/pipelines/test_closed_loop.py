"""Pipelines, triggers, the agent and approvals together, with nothing standing in: a new
dataset version fires a trigger, the agent executes the run with the real executor; a
step waits for a human, the decision resumes (or fails) the run."""

from __future__ import annotations

import pandas as pd
import pytest

from keel.client import Client
from keel.server.agent import Agent
from tests.pipelines import flows


def _agent_pass(client: Client) -> Agent:
    agent = Agent(client, tick_seconds=1, max_runs=2)
    agent.run_once()
    assert agent.wait_for_runs(120)
    return agent


def test_a_new_dataset_version_runs_the_pipeline_through_the_agent(client: Client) -> None:
    client.datasets.log(pd.DataFrame({"x": [1, 2]}), "applications")
    client.pipelines.record("on-new-data", flows.on_new_data.spec())
    agent = _agent_pass(client)  # first sight of the trigger: what exists does not fire
    assert client.pipelines.runs("on-new-data") == []

    client.datasets.log(pd.DataFrame({"x": [1, 2, 3]}), "applications")
    agent.run_once()  # fires and starts the run
    assert agent.wait_for_runs(120)
    agent.release()
    (run,) = client.pipelines.runs("on-new-data")
    assert run["trigger"]["kind"] == "dataset"
    detail = client.pipelines.run(run["id"])
    assert detail["status"] == "succeeded", (detail["error"], detail["steps"])
    assert detail["params"] == {"data_ref": "applications:v2"}
    (step,) = detail["steps"]
    assert step["status"] == "succeeded"


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_step_waits_for_a_human_and_the_agent_resumes_it(client: Client, decision) -> None:
    run = flows.approve_then_promote.run({"n": 4}, client=client)
    assert run.status == "waiting"
    (pending,) = client.approvals.list(status="pending")
    assert pending.title == "promote credit"

    agent = _agent_pass(client)  # still pending: nothing resumes
    assert client.pipelines.run(run.id)["status"] == "waiting"

    getattr(client.approvals, decision)(pending.id, comment="checked the back-test")
    agent.run_once()
    assert agent.wait_for_runs(120)
    agent.release()
    detail = client.pipelines.run(run.id)
    if decision == "approve":
        assert detail["status"] == "succeeded", (detail["error"], detail["steps"])
        tries = [s for s in detail["steps"] if s["step"] == "promote_after_approval"]
        assert [s["status"] for s in tries] == ["waiting", "succeeded"]
        assert [s["step"] for s in detail["steps"]].count("double") == 1  # reused, not re-run
    else:
        assert detail["status"] == "failed"
        assert "rejected" in (detail["error"] or "").lower()
    assert (
        client.approvals.get(pending.id).status
        == {"approve": "approved", "reject": "rejected"}[decision]
    )
