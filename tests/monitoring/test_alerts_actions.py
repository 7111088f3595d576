"""Each alert action for real: a webhook server on loopback, a deployment with revisions,
programs, an imported callable and the retraining budget."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from keel.client import Client
from keel.config import resolve
from keel.deploy import DeploymentSpec
from keel.monitoring.alerts import AlertService, handle
from keel.pipelines._records import record_pipeline
from keel.store import init_project
from keel.store import schema as t

from ..deploy.conftest import register_credit
from .alerting import HOUR, T0, events, result, spec


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    config = resolve(
        uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=str(tmp_path / "objects"), fsync=False
    )
    init_project(tmp_path, config).close()
    opened = Client(config=config)
    yield opened
    opened.close()


def _alert_with(client: Client, *actions: dict, at: int = T0, **changes: object):
    monitor = spec(on_alert=list(actions), **changes)
    breach = result(("data_drift", "income"), at=at, monitor=monitor["name"])
    [alert] = handle(client, monitor, breach, wait=True)
    return alert


class _Hook(BaseHTTPRequestHandler):
    answers: list[int]
    bodies: list[dict]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(json.loads(body))
        status = self.answers.pop(0) if self.answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[type[_Hook]]:
    """A webhook receiver on loopback; set ``answers`` to the statuses it gives in turn."""
    handler = type("Hook", (_Hook,), {"answers": [], "bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


def test_webhook_is_retried_with_backoff_until_delivered(client: Client, hook) -> None:
    hook.answers = [500, 503]
    alert = _alert_with(client, {"webhook": hook.url, "backoff": 0.05})
    [entry] = alert.actions
    assert entry["status"] == "ok"
    assert entry["attempts"] == ["HTTP 500", "HTTP 503", "HTTP 200"]
    assert entry["detail"] == "delivered on try 3"
    assert len(hook.bodies) == 3
    body = hook.bodies[-1]
    assert body["alert"] == alert.id
    assert body["monitor"] == "credit-drift"
    assert body["deployment"] == "credit-scoring"
    assert body["severity"] == "warning"
    assert body["findings"][0]["subject"] == "income"
    assert body["link"] == f"keel alerts show {alert.id}"
    [event] = events(client, "alert.webhook")
    assert event["object_id"] == alert.id
    assert event["details"]["status"] == "ok"


def test_webhook_that_keeps_failing_is_recorded_as_failed(client: Client, hook) -> None:
    hook.answers = [500, 500, 500, 500]
    alert = _alert_with(client, {"webhook": hook.url, "backoff": 0.01}, {"log": True})
    failed, logged = alert.actions
    assert failed["status"] == "failed"
    assert failed["detail"] == "not delivered after 3 tries: HTTP 500"
    assert logged["status"] == "ok"  # a failing action never stops the others


def test_webhook_client_error_is_not_retried(client: Client, hook) -> None:
    hook.answers = [404]
    [entry] = _alert_with(client, {"webhook": hook.url}).actions
    assert entry["attempts"] == ["HTTP 404"]
    assert entry["status"] == "failed"


def test_webhook_to_a_closed_port_fails_quickly(client: Client) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once it closes
    url = f"http://127.0.0.1:{port}/hook"
    [entry] = _alert_with(client, {"webhook": url, "tries": 2, "backoff": 0.01}).actions
    assert entry["status"] == "failed"
    assert len(entry["attempts"]) == 2
    assert entry["attempts"][0].startswith("ConnectError")


def test_rollback_returns_the_deployment_to_its_previous_revision(client: Client) -> None:
    register_credit(client.store)
    client.deployments.apply(DeploymentSpec.for_model("credit:1"))
    client.deployments.apply(DeploymentSpec.for_model("credit:2"))
    alert = _alert_with(client, {"rollback": True}, deployment="credit")
    [entry] = alert.actions
    assert entry["status"] == "ok"
    assert entry["revision"] == 3
    assert entry["detail"] == "rolled credit back: revision 3 restores revision 1"
    current = client.deployments.current("credit")
    assert current.revision == 3
    assert current.spec.routes[0].version == "credit:1"


def test_rollback_with_nothing_to_return_to_is_recorded_with_the_reason(client: Client) -> None:
    register_credit(client.store)
    client.deployments.apply(DeploymentSpec.for_model("credit:1"))
    [entry] = _alert_with(client, {"rollback": True}, deployment="credit").actions
    assert entry["status"] == "failed"
    assert "credit" in entry["detail"]
    assert client.deployments.current("credit").revision == 1
    [missing] = _alert_with(client, {"rollback": "nowhere"}, at=T0 + 1, name="other").actions
    assert missing["status"] == "failed"
    assert "nowhere" in missing["detail"]


def test_command_gets_the_alert_in_its_environment_and_its_exit_code_recorded(
    client: Client, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    script = f'echo "$KEEL_ALERT_ID $KEEL_ALERT_SEVERITY $KEEL_ALERT_MONITOR" > {out}; exit 3'
    alert = _alert_with(client, {"command": ["sh", "-c", script]})
    [entry] = alert.actions
    assert out.read_text().split() == [alert.id, "warning", "credit-drift"]
    assert entry["exit_code"] == 3
    assert entry["status"] == "failed"
    assert entry["detail"] == "exit code 3"


def test_command_runs_without_a_shell_unless_it_names_one(client: Client) -> None:
    argv = [sys.executable, "-c", "import os, sys; print(os.environ['KEEL_ALERT_JSON'])", "$HOME"]
    [entry] = _alert_with(client, {"command": argv}).actions
    assert entry["status"] == "ok"
    assert json.loads(entry["stdout"])["monitor"] == "credit-drift"
    echo = _alert_with(client, {"command": ["echo", "$HOME;", "x"]}, at=T0 + 1, name="b")
    assert echo.actions[0]["stdout"] == "$HOME; x\n"  # no shell expanded or split it


def test_command_timeout_and_missing_program_are_recorded(client: Client) -> None:
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    [entry] = _alert_with(client, {"command": slow, "timeout": 0.5}).actions
    assert entry["status"] == "failed"
    assert entry["detail"] == "stopped after the timeout of 0.5 s"
    [missing] = _alert_with(client, {"command": ["no-such-program-x"]}, at=T0 + 1, name="b").actions
    assert missing["detail"] == "no program 'no-such-program-x' on PATH"


def test_callable_is_imported_and_called_with_the_alert(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / "team_hooks.py").write_text(
        "seen = []\n"
        "def page(alert):\n"
        "    seen.append(alert)\n"
        "    return {'paged': alert.severity}\n"
        "def broken(alert):\n"
        "    raise RuntimeError('pager is down')\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    alert = _alert_with(
        client,
        {"callable": "team_hooks:page"},
        {"callable": "team_hooks:broken"},
        {"callable": "team_hooks:nothing"},
    )
    import team_hooks

    [seen] = team_hooks.seen
    assert seen.id == alert.id
    assert seen.message == alert.message
    ok, broken, missing = alert.actions
    assert ok["status"] == "ok"
    assert ok["returned"] == "{'paged': 'warning'}"
    assert broken["status"] == "failed"
    assert broken["detail"] == "RuntimeError: pager is down"
    assert missing["status"] == "failed"
    assert missing["detail"].startswith("cannot import 'team_hooks:nothing'")


def test_retraining_queues_runs_and_is_held_back_past_the_daily_budget(client: Client) -> None:
    for name in ("retrain", "score"):
        record_pipeline(client.store, "default", name, {"entrypoint": f"flows:{name}"})
    statuses = []
    for i in range(4):
        monitor = f"m{i}"  # four monitors on one deployment: one model's budget
        [alert] = handle(
            client,
            spec(name=monitor, on_alert=[{"trigger_pipeline": "retrain"}]),
            result(("data_drift", "income"), monitor=monitor, at=T0 + i * HOUR),
            wait=True,
        )
        statuses.append((alert, alert.actions[0]))
    assert [s["status"] for _, s in statuses] == ["ok", "ok", "held_back", "held_back"]
    assert statuses[0][1]["model"] == "credit-scoring"  # no such deployment: kept per its name
    assert statuses[2][1]["detail"] == (
        "held back: model 'credit-scoring' already had 2 retrainings asked for in the last "
        "24 hours, the most alerting.max_retrains_per_day=2 allows"
    )
    # each request queued one run of the pipeline, saying which alert asked for it
    runs = _runs(client)
    assert [r["id"] for r in runs] == [s["run"] for _, s in statuses[:2]]
    assert [r["trigger"] for r in runs] == [
        {"kind": "alert", "alert": alert.id, "monitor": f"m{i}"}
        for i, (alert, _) in enumerate(statuses[:2])
    ]
    assert {r["status"] for r in runs} == {"queued"}
    assert statuses[0][1]["detail"] == f"queued run {runs[0]['id']} of pipeline 'retrain'"
    # another deployment's model has a budget of its own; a budget of 0 holds every one back
    [other] = handle(
        client,
        spec(name="x", deployment="fraud", on_alert=[{"trigger_pipeline": "retrain"}]),
        result(("data_drift", "income"), monitor="x"),
        wait=True,
    )
    assert other.actions[0]["status"] == "ok"
    [none] = handle(
        client,
        spec(
            name="y",
            deployment="churn",
            on_alert=[{"trigger_pipeline": "retrain"}],
            alerting={"max_retrains_per_day": 0},
        ),
        result(("data_drift", "income"), monitor="y"),
        wait=True,
    )
    assert none.actions[0]["status"] == "held_back"
    assert len(events(client, "alert.trigger_pipeline")) == 6
    assert len(_runs(client)) == 3


def test_retraining_an_unknown_pipeline_fails_naming_the_pipelines(client: Client) -> None:
    record_pipeline(client.store, "default", "retrain", {"entrypoint": "flows:retrain"})
    [alert] = handle(
        client,
        spec(on_alert=[{"trigger_pipeline": "retrian"}]),
        result(("data_drift", "income")),
        wait=True,
    )
    [entry] = alert.actions
    assert entry["status"] == "failed"
    assert entry["detail"] == (
        "No pipeline named 'retrian' in project 'default'. Did you mean 'retrain'? "
        "Pipelines: retrain."
    )
    assert _runs(client) == []
    # a failed request does not count against the budget
    [again] = handle(
        client,
        spec(name="other", on_alert=[{"trigger_pipeline": "retrain"}]),
        result(("data_drift", "income"), monitor="other"),
        wait=True,
    )
    assert again.actions[0]["status"] == "ok"


def _runs(client: Client) -> list[dict]:
    r = t.pipeline_runs
    with client.store.read() as conn:
        rows = conn.execute(sa.select(r).order_by(r.c.created_at, r.c.id)).mappings().all()
    return [dict(row) for row in rows]


def test_log_action_writes_a_warning_with_the_alert(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="keel.alerts"):
        alert = _alert_with(client, {"log": True}, {"log": False})
    [record] = [r for r in caplog.records if r.name == "keel.alerts"]
    assert record.levelno == logging.WARNING
    assert record.alert["alert"] == alert.id  # type: ignore[attr-defined]
    json.dumps(record.alert)  # type: ignore[attr-defined]
    assert [a["status"] for a in alert.actions] == ["ok", "skipped"]
    stored = AlertService(client.store).get(alert.id)
    assert stored.actions == alert.actions
    assert all(a["started_at"] <= a["ended_at"] for a in stored.actions)
