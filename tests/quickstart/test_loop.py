"""The closed loop keel quickstart runs, end to end in its fast mode: each stage must do
its job (drift seen on salary, ROC AUC decayed, an alert opened, a retrained model better on
recent data and month by month, a canary walked 10 -> 50 -> 100, the champion moved)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.client import Client
from keel.errors import InvalidInput, KeelError
from keel.quickstart import Summary, run
from keel.quickstart._data import FEATURES, SHIFT_MONTH, make_credit_data
from keel.quickstart._retrain import applications, recent_data
from keel.quickstart._retrain_pipeline import retrain


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Summary, Client]]:
    folder = tmp_path_factory.mktemp("quickstart")
    summary = run(folder, fast=True)
    client = Client(str(folder))
    yield summary, client
    client.close()


def test_every_stage_ran_and_says_what_it_made(loop: tuple[Summary, Client]) -> None:
    summary, _ = loop
    stages = summary.to_dict()["stages"]
    assert [s["stage"] for s in stages] == ["data", "train", "serve", "monitor", "retrain"]
    assert all(s["status"] == "done" and s["seconds"] > 0 and s["refs"] for s in stages)
    assert "credit:v1" in stages[0]["refs"]
    assert "credit-default:2 @champion" in stages[4]["refs"]
    assert summary.facts["seconds"] >= sum(s["seconds"] for s in stages)


def test_data_is_versioned_validated_and_a_bad_batch_rejected(
    loop: tuple[Summary, Client],
) -> None:
    summary, client = loop
    facts = summary.facts
    assert facts["dataset"] == "credit:v1"
    assert facts["verified"]
    assert facts["validation_passed"]
    assert {"in_range(age)", "not_null(salary)", "in_set(region)"} <= set(
        facts["rejected_batch_errors"]
    )
    months = client.datasets.load("credit:v1")["month"]
    assert sorted(months.unique()) == [1, 2, 3, 4, 5, 6]
    assert (summary.directory / "schemas" / "credit.yaml").is_file()


def test_the_monitor_sees_the_salary_drift_and_the_decay_and_opens_an_alert(
    loop: tuple[Summary, Client],
) -> None:
    summary, client = loop
    facts = summary.facts
    assert facts["drifted_features"] == ["salary"]
    assert next(iter(facts["drift_scores"])) == "salary"  # the most drifted input
    assert facts["monitor_roc_auc"] < 0.7 < facts["best_holdout_auc"]
    assert facts["monitor_labels"] == facts["streamed_requests"]
    assert (summary.directory / "monitors" / "credit-monitor.yaml").is_file()
    alert = client.alerts.get(facts["alert"])
    assert alert.monitor == "credit-monitor"
    assert alert.deployment == "credit-scoring"
    assert {"data_drift/salary", "performance/roc_auc"} <= set(alert.keys)
    assert alert.severity == "critical"
    actions = {a["type"]: a for a in alert.actions}
    assert actions["log"]["status"] == "ok"
    # the log action's line is told in the summary, not left as a stray log record
    (logged,) = facts["alert_log"]
    assert logged.startswith(f"alert {alert.id} on credit-monitor: ")
    assert ("log the alert", logged) in summary.steps
    assert actions["trigger_pipeline"]["pipeline"] == "retrain"
    assert actions["trigger_pipeline"]["status"] == "ok"
    assert actions["trigger_pipeline"]["run"] == facts["retrain_pipeline_run"]
    (result,) = client.monitors.results("credit-monitor")
    assert not result.passed


def test_the_retrained_model_beats_the_champion_on_recent_data_and_every_month(
    loop: tuple[Summary, Client],
) -> None:
    summary, client = loop
    facts = summary.facts
    assert facts["recent_auc"]["new"] > facts["recent_auc"]["champion"] + 0.05
    assert [m["window"] for m in facts["backtest"]] == ["2026-07", "2026-08", "2026-09"]
    assert all(m["candidate"] > m["champion"] for m in facts["backtest"])
    assert facts["retrain_gate_passed"] is True
    run = client.tracker.backend.get_run(facts["retrain_run"])
    assert run.tags["keel.input.training"] == "credit-recent:v1"
    assert run.tags["keel.quickstart.alert"] == facts["alert"]
    trained_on = client.datasets.load("credit-recent:v1")
    assert set(trained_on["month"].unique()) == {7, 8, 9}


def test_the_alert_queued_the_retrain_pipeline_and_the_agent_ran_it(
    loop: tuple[Summary, Client],
) -> None:
    summary, client = loop
    facts = summary.facts
    run = client.pipelines.run(facts["retrain_pipeline_run"])
    assert run["pipeline"] == "retrain"
    assert run["status"] == "succeeded"
    assert run["trigger"] == {"kind": "alert", "alert": facts["alert"], "monitor": "credit-monitor"}
    assert run["params"]["months"] == [7, 8, 9]
    assert [s["step"] for s in run["steps"]] == ["gather", "fit", "check", "release"]
    assert all(s["status"] == "succeeded" for s in run["steps"])
    (recorded,) = [p for p in client.pipelines.list() if p["name"] == "retrain"]
    assert recorded["entrypoint"] == "keel.quickstart._retrain_pipeline:retrain"


def test_the_new_champion_traces_back_to_the_alert_that_asked_for_it(
    loop: tuple[Summary, Client],
) -> None:
    summary, client = loop
    facts = summary.facts
    graph = client.lineage(facts["retrained_version"], direction="up")
    kinds = {kind for kind, _ in graph.nodes}
    # model version <- run <- credit-recent (logged by step 'gather') <- pipeline run
    # <- the alert <- the monitor result that breached
    assert {"run", "dataset_version", "step_run", "pipeline_run", "alert"} <= kinds
    assert ("alert", facts["alert"]) in graph.nodes
    assert ("pipeline_run", facts["retrain_pipeline_run"]) in graph.nodes
    assert "monitor_result" in kinds
    labels = {node.label for node in graph.nodes.values()}
    assert "step gather of retrain" in labels
    assert "credit-recent:v1" in labels


def test_the_canary_walked_10_50_100_and_the_champion_moved(
    loop: tuple[Summary, Client],
) -> None:
    summary, client = loop
    facts = summary.facts
    newest, first = client.deployments.history("credit-scoring")
    assert (newest.revision, newest.status) == (2, "promoted")
    assert [(s.weight, s.status) for s in newest.steps] == [
        (10, "passed"),
        (50, "passed"),
        (100, "promoted"),
    ]
    assert all(s.metrics["requests"] >= 5 for s in newest.steps)
    assert first.revision == 1
    assert facts["champion_before"] == "credit-default:1"
    assert client.models.get("credit-default@champion").ref == "credit-default:2"
    assert facts["served_by"]["credit-default:2"] > 0  # the canary answered live traffic
    assert facts["logged_predictions"] == facts["served_requests"]
    assert facts["feedback_labels"] == facts["streamed_requests"]


def test_bad_input_is_refused_with_a_clear_error(
    loop: tuple[Summary, Client], tmp_path: Path
) -> None:
    summary, client = loop
    with pytest.raises(KeelError, match="already holds a keel project"):
        run(summary.directory, fast=True)
    with pytest.raises(InvalidInput, match="months must be whole numbers from 1 to 12"):
        make_credit_data(100, months=(0, 13))
    with pytest.raises(InvalidInput, match="at least one row per month"):
        make_credit_data(2, months=(1, 2, 3))
    with pytest.raises(InvalidInput, match="months must be a list of month numbers"):
        recent_data([], 150, client=client)
    runs = len(client.pipelines.runs("retrain"))
    with pytest.raises(InvalidInput, match="rows_per_month"):
        retrain.run({"rows_per_month": "many"}, client=client)
    assert len(client.pipelines.runs("retrain")) == runs  # refused before anything ran
    assert client.models.get("credit-default@champion").ref == "credit-default:2"  # unchanged


def test_the_data_shifts_from_month_seven() -> None:
    frame = applications(200)
    before = frame[frame["month"] < SHIFT_MONTH]
    after = frame[frame["month"] >= SHIFT_MONTH]
    assert after["salary"].median() > 1.3 * before["salary"].median()
    assert list(frame.columns[3:9]) == FEATURES
    assert frame["applicant_id"].is_unique
    assert frame.equals(applications(200))  # a fixed seed
