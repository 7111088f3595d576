"""The agent closes the loop: a due monitor breaches, its alert's trigger_pipeline action
and a pipeline's on_alert trigger each queue a run, and the agent executes them."""

from __future__ import annotations

from pathlib import Path

import keel
from keel.monitoring import parse_monitor_text
from keel.monitoring.alerts import wait_for_actions
from keel.pipelines._records import claim_run, record_pipeline, release_run
from keel.server.agent import Agent

from ..pipelines.triggering import runs
from .conftest import DEPLOYMENT, HOUR, T0, log_window, make_project


def test_drift_found_by_the_agent_retrains_through_both_kinds_of_trigger(tmp_path: Path) -> None:
    client = make_project(tmp_path / "loop")
    log_window(client, T0, 2000, 1)
    log_window(client, T0 + HOUR, 2000, 2, shift=0.5)
    record_pipeline(client.store, "default", "retrain", {"entrypoint": "flows:retrain"})
    on_alert = keel.on_alert(monitor="drift")
    spec = {"entrypoint": "flows:report", "triggers": [on_alert.to_dict()]}
    record_pipeline(client.store, "default", "report", spec)
    client.monitors.apply(
        parse_monitor_text(
            f"name: drift\ndeployment: {DEPLOYMENT}\nwindow: {{size: 1h}}\n"
            "schedule: every 1h\ndrift: {share_of_columns: 0.3}\n"
            "on_alert: [{trigger_pipeline: retrain}]\n"
        )
    )
    executed: list[tuple[str, dict]] = []

    def execute(client, run_id: str, *, holder: str) -> None:
        if claim_run(client.store, run_id, holder, 60_000):
            [run] = [r for r in runs(client.store) if r["id"] == run_id]
            executed.append((run["pipeline"], run["trigger"]))
            release_run(client.store, run_id, holder, "succeeded")

    agent = Agent(client, execute=execute)
    try:
        calm = agent.run_once(now=T0 + HOUR)  # the first window: like training
        assert [r.passed for _, _, r in calm.monitors] == [True]
        assert calm.fired == []  # the on_alert trigger is seen for the first time
        drifted = agent.run_once(now=T0 + 2 * HOUR)
        assert [r.passed for _, _, r in drifted.monitors] == [False]
        wait_for_actions()  # the alert's actions run in a thread of their own
        [alert] = client.alerts.list(status="open")
        assert alert.actions[0]["status"] == "ok"
        [fired] = drifted.fired  # the pipeline's trigger saw the new alert in the same pass
        assert (fired.pipeline, fired.record["alert"]) == ("report", alert.id)
        agent.run_once(now=T0 + 2 * HOUR + 60_000)  # starts the action's run if not yet
        assert agent.wait_for_runs(30)
    finally:
        agent.stop()
    assert sorted(executed, key=lambda e: e[0]) == [
        ("report", {"kind": "alert", "monitor": "drift", "alert": alert.id, "alerts": [alert.id]}),
        ("retrain", {"kind": "alert", "alert": alert.id, "monitor": "drift"}),
    ]
    assert {r["status"] for r in runs(client.store)} == {"succeeded"}
    client.close()
