"""Failures: retries, a failed run keeps the traceback and logs, resume re-runs from the
failed step; a step awaiting approval leaves the run waiting, and resume goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.client import Client
from keel.errors import InvalidInput
from keel.pipelines import execute_run

from .flows import approved, unreliable


def test_a_failed_run_keeps_the_traceback_and_logs_and_resumes(client: Client, tmp_path) -> None:
    counter = str(tmp_path / "count")
    run = unreliable.run({"counter": counter, "failures": 5}, client=client)
    assert run.status == "failed"
    flaky = run.step("flaky")
    assert flaky["status"] == "failed"
    assert flaky["attempt"] == 3  # the first try and two retries
    assert "RuntimeError: planned failure 3" in flaky["error"]
    assert "double" not in {s["step"] for s in run.steps}
    assert "Step 'flaky' failed after 3 attempts: RuntimeError: planned failure 3" in run.error
    record = client.pipelines.run(run.id)
    assert record["status"] == "failed"
    assert record["error"] == run.error
    logs = client.pipelines.logs(run.id, step="flaky")
    assert "attempt 1 failed" in logs[0]["log"]
    assert "planned failure 2" in logs[0]["log"]

    Path(counter).write_text("5")  # the next attempt succeeds
    resumed = client.pipelines.resume(run.id)
    assert resumed["status"] == "succeeded"
    steps = [(s["step"], s["status"]) for s in resumed["steps"]]
    assert steps == [("flaky", "failed"), ("flaky", "succeeded"), ("double", "succeeded")]


def test_resume_reuses_finished_steps(client: Client, tmp_path) -> None:
    flag = str(tmp_path / "flag")
    run = approved.run({"flag": flag, "n": 4}, client=client)
    assert run.status == "waiting"
    assert {s["step"]: s["status"] for s in run.steps} == {"double": "succeeded", "gate": "waiting"}
    assert client.pipelines.run(run.id)["status"] == "waiting"
    double_id = run.step("double")["id"]

    Path(flag).write_text("yes")  # approved
    resumed = client.pipelines.resume(run.id)
    assert resumed["status"] == "succeeded"
    doubles = [s for s in resumed["steps"] if s["step"] == "double"]
    assert [d["id"] for d in doubles] == [double_id]  # not run again
    assert [s["status"] for s in resumed["steps"] if s["step"] == "gate"] == [
        "waiting",
        "succeeded",
    ]


def test_execute_run_claims_a_queued_run_once(client: Client, tmp_path) -> None:
    flag = tmp_path / "flag"
    flag.write_text("yes")
    approved.run({"flag": str(flag)}, client=client)  # records the pipeline
    run_id = client.pipelines.submit("approved", {"flag": str(flag), "n": "5"})
    assert client.pipelines.run(run_id)["status"] == "queued"
    done = execute_run(client, run_id, holder="agent-1")
    assert done["claimed"] is True
    assert done["status"] == "succeeded"
    assert done["params"] == {"flag": str(flag), "n": 5}
    again = execute_run(client, run_id, holder="agent-2")
    assert again["claimed"] is False
    assert again["status"] == "succeeded"


def test_a_run_whose_entrypoint_cannot_be_imported_fails_clearly(client: Client) -> None:
    from keel.pipelines._records import record_pipeline

    spec = {"entrypoint": "nowhere.at_all:pipe", "steps": [{"name": "a"}], "params": {}}
    record_pipeline(client.store, client.config.project, "ghost", spec)
    run_id = client.pipelines.submit("ghost")
    done = execute_run(client, run_id, holder="agent")
    assert done["status"] == "failed"
    assert "Cannot import pipeline 'nowhere.at_all:pipe'" in done["error"]


def test_cancel_stops_a_queued_run(client: Client, tmp_path) -> None:
    approved.run({"flag": str(tmp_path / "f")}, client=client)
    run_id = client.pipelines.submit("approved", {"flag": str(tmp_path / "f")})
    assert client.pipelines.cancel(run_id)["status"] == "cancelled"
    assert execute_run(client, run_id, holder="agent")["claimed"] is False
    assert client.pipelines.runs("approved", status="cancelled")[0]["id"] == run_id


def test_a_run_cancelled_while_running_starts_no_further_step(client: Client) -> None:
    from .flows import cancelled

    cancelled.run({"pause": 0.0}, client=client)  # records it; cancels itself too
    run_id = client.pipelines.submit("cancelled", {"pause": 0.5})
    done = execute_run(client, run_id, holder="agent", lease_ms=400)  # renewed every 0.1 s
    assert done["status"] == "cancelled"
    assert [s["step"] for s in done["steps"]] == ["cancel_me"]
    assert done["steps"][0]["status"] == "succeeded"  # the step running then finished


def test_a_pipeline_defined_here_resumes_its_own_run(sqlite_client: Client, tmp_path) -> None:
    import keel

    flag = tmp_path / "go"

    @keel.step
    def base(n: int) -> int:
        return n * 10

    @keel.step
    def needs_flag(value: int, path: str) -> int:
        if not Path(path).exists():
            raise RuntimeError("not yet")
        return value + 1

    @keel.pipeline(name="local_resume")
    def local_resume(n: int = 2, path: str = "go"):
        return needs_flag(base(n), path)

    run = local_resume.run({"path": str(flag)}, client=sqlite_client)
    assert run.status == "failed"
    flag.write_text("")
    resumed = local_resume.resume(run.id, client=sqlite_client)  # no import needed
    assert resumed.status == "succeeded"
    assert resumed.output == 21
    assert [s["step"] for s in resumed.steps] == ["base", "needs_flag", "needs_flag"]
    with pytest.raises(InvalidInput, match="only a failed, waiting or cancelled run"):
        local_resume.resume(run.id, client=sqlite_client)


def test_execute_run_runs_a_run_of_another_project(client: Client, tmp_path) -> None:
    from dataclasses import replace

    flag = tmp_path / "flag"
    flag.write_text("")
    client.create_project("team-b")
    with Client(config=replace(client.config, project="team-b")) as other:
        approved.run({"flag": str(flag)}, client=other)
        run_id = other.pipelines.submit("approved", {"flag": str(flag), "n": 1})
    done = execute_run(client, run_id, holder="agent")  # the agent's client: project default
    assert done["claimed"] is True
    assert done["status"] == "succeeded"
    assert client.pipelines.list() == []  # nothing landed in the agent's own project
