"""What the server answers is what its OpenAPI document says: every JSON answer of a real
session (tracking, objects, datasets, models, deployments, predictions, monitors, alerts,
lineage and validation, pipelines and their approvals, deletion and gc, activity and the
agent, through the SDK and plain HTTP) validates against the schema the document gives for
its route and status (no key missing, none extra), and no route answers a status it does
not list.

The server runs wrapped in a checking ASGI layer, so the answers checked are the bytes
clients receive, whichever client sent the request.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from jsonschema import Draft202012Validator

from keel.client import Client
from keel.registry import evaluate
from keel.server import TokenService, create_app
from keel.validation import infer_schema, validate
from tests.monitoring.conftest import DEPLOYMENT, HOUR, T0, log_window, make_project
from tests.monitoring.test_monitors import SPEC as MONITOR
from tests.pipelines.flows import unreliable

API = "/api/v1/projects/default"


@dataclass
class Conformance:
    """An ASGI layer that checks each answer against the document; it records, the test
    asserts."""

    app: Any
    spec: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    checked: set[tuple[str, str, int]] = field(default_factory=set)
    components: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        # strict copies of the models: an answer with a key its model does not list is a
        # problem too (the document would under-describe it)
        self.components = copy.deepcopy(self.spec["components"])
        for model in self.components["schemas"].values():
            if "properties" in model:
                model["additionalProperties"] = False

    async def __call__(self, scope, receive, send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        answer: dict[str, Any] = {"body": b""}

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = dict(message.get("headers") or [])
                answer["type"] = headers.get(b"content-type", b"").decode().split(";")[0]
            elif message["type"] == "http.response.body":
                if answer["type"] == "application/json":
                    answer["body"] += message.get("body", b"")
                if not message.get("more_body"):
                    self._check(scope["method"], route, answer)
            await send(message)

        await self.app(scope, receive, capture)

    def _route(self, scope) -> str | None:
        """The document's path for this request: literal segments before parameters, a
        last parameter may hold slashes (artifact names, metric keys)."""
        method, path = scope["method"].lower(), scope["path"]
        for loose in (False, True):
            found = [
                template
                for template, item in self.spec["paths"].items()
                if method in item and _pattern(template, loose).fullmatch(path)
            ]
            if found:
                return min(found, key=lambda t: t.count("{"))
        return None

    def _check(self, method: str, path: str, answer: dict[str, Any]) -> None:
        status, media = answer["status"], answer["type"]
        where = f"{method} {path} -> {status}"
        responses = self.spec["paths"][path][method.lower()]["responses"]
        documented = responses.get(str(status))
        if documented is None:
            self.problems.append(f"{where}: status not in the document ({sorted(responses)})")
            return
        self.checked.add((method, path, status))
        content = documented.get("content") or {}
        if not content:
            return
        if media not in content:
            self.problems.append(f"{where}: answered {media}, documented {sorted(content)}")
            return
        if media != "application/json":
            return
        schema = {**content[media]["schema"], "components": self.components}
        body = orjson.loads(answer["body"])
        for error in Draft202012Validator(schema).iter_errors(body):
            at = "/".join(str(p) for p in error.absolute_path)
            self.problems.append(f"{where}: at /{at}: {error.message[:300]}")


def _pattern(template: str, loose: bool) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    last = len(parts) - 2 if parts[-1] == "" else -1
    return re.compile(
        "".join(
            (".+" if loose and i == last else "[^/]+") if part.startswith("{") else re.escape(part)
            for i, part in enumerate(parts)
        )
    )


@contextlib.contextmanager
def checked_server(config, spec_out: list[Conformance]) -> Iterator[str]:
    app = create_app(config, auth=True)
    checker = Conformance(app, app.openapi())
    spec_out.append(checker)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(checker, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Conformance:
    """A whole session against a checked server; the checker with what it found."""
    local = make_project(tmp_path_factory.mktemp("conformance"))
    log_window(local, T0, 400, 1, labels=0.5)
    log_window(local, T0 + HOUR, 400, 2, shift=1.0)
    train = local.datasets.resolve("credit-train:v1")
    validate(train, infer_schema(local.datasets.load(train), name="credit"), store=local.store)
    evaluate(local.models, "credit:1", data="credit-train:v1", label="label", gate="roc_auc >= 0.5")
    counter = tmp_path_factory.mktemp("pipeline") / "counter"
    failed = unreliable.run({"counter": str(counter), "failures": 5}, client=local)
    assert failed.status == "failed"
    service = TokenService(local.store)
    tokens = {r: service.create(f"{r}-token", r)[1] for r in ("reader", "writer", "admin")}
    checkers: list[Conformance] = []
    # the server's agent makes one pass as it starts and none after: a run queued in the
    # session stays queued, whatever the machine's speed
    config = dataclasses.replace(local.config, agent_tick_seconds=3600)
    try:
        with checked_server(config, checkers) as url:
            _use_everything(url, tokens, failed.id)
    finally:
        local.close()
    return checkers[0]


def _use_everything(url: str, tokens: dict[str, str], pipeline_run: str) -> None:
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['admin']}"})
    reader = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['reader']}"})
    with admin, reader, Client(url, project="default", token=tokens["admin"]) as sdk:
        _server_and_projects(admin, reader)
        _tracking(admin, reader, sdk)
        _objects(admin)
        _datasets_and_lineage(reader, sdk)
        _models(admin, reader)
        _deployments(admin, reader)
        _predictions_monitors_alerts(admin, reader, sdk)
        _pipelines_and_approvals(admin, reader, pipeline_run)
        _deletion_activity_and_agent(admin, reader, sdk)


def _server_and_projects(admin: httpx.Client, reader: httpx.Client) -> None:
    assert admin.get("/api/v1/health").status_code == 200
    assert admin.get("/metrics").status_code == 200
    assert reader.get("/api/v1/projects").status_code == 200
    assert admin.post("/api/v1/projects", json={"name": "other"}).status_code == 201
    assert admin.post("/api/v1/projects", json={"name": "other"}).status_code == 409
    assert reader.post("/api/v1/projects", json={"name": "x"}).status_code == 403
    assert httpx.get(f"{admin.base_url}{API}/experiments").status_code == 401


def _tracking(admin: httpx.Client, reader: httpx.Client, sdk: Client) -> None:
    with sdk.tracker.start_run("checked", capture=False) as run:
        run.log_metric("loss", float("nan"), step=0)
        run.log_metric("loss", 0.5, step=1)
        run.log_param("lr", "0.1")
    made = admin.post(f"{API}/runs", json={"experiment": "raw", "params": {"a": "1"}}).json()
    runs = f"{API}/runs/{made['id']}"
    assert admin.put(f"{runs}/artifacts/a.txt", content=b"abc").status_code == 201
    assert admin.get(f"{runs}/artifacts/a.txt").content == b"abc"
    assert admin.put(f"{runs}/artifacts/b.txt?kind=", content=b"abc").status_code == 422
    train = reader.get(f"{API}/dataset-versions/credit-train:v1").json()["id"]
    used = {"kind": "dataset_version", "id": train}
    assert admin.post(f"{runs}/inputs", json=used).status_code == 204
    assert admin.post(f"{runs}/batch", json={"metrics": [["m", 1.0, 0, 1]]}).status_code == 204
    assert admin.patch(runs, json={"status": "FINISHED"}).status_code == 200
    assert reader.get(f"{API}/runs/{run.id}").json()["metrics"]["loss"] == 0.5
    assert reader.get(f"{API}/runs/{run.id}/metrics/loss").json()[0][1] == "NaN"
    assert reader.post(f"{API}/runs/search", json={"filter": "params.lr = '0.1'"}).json()
    assert reader.get(f"{API}/experiments").status_code == 200
    assert reader.get(f"{API}/runs/{'0' * 32}").status_code == 404
    assert reader.patch(runs, json={"status": "RUNNING"}).status_code == 403
    assert admin.patch(runs, json={"status": "DONE"}).status_code == 422


def _objects(admin: httpx.Client) -> None:
    from blake3 import blake3

    data = b"conformance"
    digest = blake3(data).hexdigest()
    assert admin.post("/api/v1/objects/missing", json=[digest]).json() == [digest]
    assert admin.put(f"/api/v1/objects/{digest}", content=data).status_code == 201
    assert admin.put(f"/api/v1/objects/{'0' * 64}", content=data).status_code == 422
    assert admin.head(f"/api/v1/objects/{digest}").status_code == 200
    assert admin.get(f"/api/v1/objects/{digest}").content == data
    assert admin.get("/api/v1/objects").status_code == 200
    assert admin.delete(f"/api/v1/objects/{digest}").json() == {"deleted": True}
    assert admin.get(f"/api/v1/objects/{digest}").status_code == 404


def _datasets_and_lineage(reader: httpx.Client, sdk: Client) -> None:
    import pandas as pd

    pushed = sdk.datasets.log(pd.DataFrame({"x": [1, 2, 3]}), "pushed", tags=["first"])
    assert pushed.ref == "pushed:v1"
    assert reader.get(f"{API}/datasets").status_code == 200
    assert reader.get(f"{API}/datasets/credit-train/versions").status_code == 200
    for suffix in ("", "/manifest", "/profile"):
        assert reader.get(f"{API}/dataset-versions/credit-train:v1{suffix}").status_code == 200
    assert reader.get(f"{API}/dataset-versions/nope:v9").status_code == 404
    graph = reader.get(f"{API}/lineage", params={"ref": "credit-train:v1"}).json()
    assert len(graph["nodes"]) >= 3
    reports = reader.get(f"{API}/validation/reports").json()
    assert len(reports) == 1
    assert reader.get(f"{API}/validation/reports/{reports[0]['id']}").status_code == 200
    assert reader.get(f"{API}/validation/reports/nope/html").status_code == 404


def _models(admin: httpx.Client, reader: httpx.Client) -> None:
    models = f"{API}/models"
    assert reader.get(models).status_code == 200
    assert reader.get(f"{models}/credit/versions").status_code == 200
    assert reader.get(f"{models}/credit/versions/1").status_code == 200
    assert reader.get(f"{models}/credit/aliases/champion").status_code == 200
    assert reader.get(f"{models}/credit/versions/9").status_code == 404
    assert admin.put(f"{models}/credit/aliases/staging", json={"version": 1}).status_code == 200
    assert admin.post(f"{models}/credit/aliases/staging/rollback").status_code in (200, 409, 422)
    decision = {"decision": "approved", "comment": "ok"}
    assert admin.post(f"{models}/credit/versions/1/approvals", json=decision).status_code == 204
    assert reader.get(f"{models}/credit/versions/1/approvals").json() == {"admin-token": "approved"}
    [evaluation] = reader.get(f"{models}/credit/versions/1/evaluations").json()
    assert evaluation["passed"] is True
    assert reader.get(f"{models}/credit/versions/1/card").status_code == 200
    assert reader.get(f"{models}/credit/history").status_code == 200
    policy = {"aliases": {"champion": {"approvals": 1}}}
    assert admin.put(f"{models}/credit/policy", json=policy).status_code == 200
    assert reader.get(f"{models}/credit/policy").json()["aliases"]["champion"]["approvals"] == 1
    assert reader.put(f"{models}/credit/policy", json=policy).status_code == 403


def _deployments(admin: httpx.Client, reader: httpx.Client) -> None:
    deployments = f"{API}/deployments"
    routes = "routes:\n  - {version: '1', weight: 100}\n"
    spec = {"yaml": f"name: {DEPLOYMENT}\nmodel: credit\n{routes}"}
    assert reader.get(deployments).status_code == 200
    assert reader.post(f"{deployments}/plan", json=spec).status_code == 200
    assert admin.post(deployments, json=spec).status_code == 200
    current = reader.get(f"{deployments}/{DEPLOYMENT}").json()
    assert reader.get(f"{deployments}/{DEPLOYMENT}/revisions/1").status_code == 200
    assert reader.get(f"{deployments}/{DEPLOYMENT}/history").status_code == 200
    assert admin.post(f"{deployments}/{DEPLOYMENT}/rollback").status_code in (200, 409)
    rollouts = f"{deployments}/rollouts/{current['id']}"
    step = {"step": 0, "weight": 10, "status": "running"}
    assert admin.post(f"{rollouts}/steps", json=step).status_code in (201, 409)
    assert admin.post(f"{rollouts}/finish", json={"status": "promoted"}).status_code in (200, 409)
    assert reader.get(f"{deployments}/nope").status_code == 404


def _predictions_monitors_alerts(admin: httpx.Client, reader: httpx.Client, sdk: Client) -> None:
    predictions = f"{API}/predictions"
    assert admin.get(f"{predictions}/hash-key").status_code == 200
    parts = reader.get(f"{predictions}/parts", params={"kind": "predictions"}).json()
    assert len(parts) == 2
    again = {"kind": "predictions", "deployment": DEPLOYMENT, "digest": parts[0]["digest"]}
    assert admin.post(f"{predictions}/parts", json=again).status_code == 201
    assert reader.get(f"{predictions}/rows", params={"kind": "feedback"}).status_code == 200
    assert reader.get(f"{predictions}/requests/req-1-0").json()["feedback"]
    assert reader.get(f"{predictions}/requests/nope").status_code == 404
    erase = {"column": "request_id", "values": ["req-2-1"]}
    assert admin.post(f"{predictions}/erase", json=erase).json()["rows_removed"] >= 1

    monitors = f"{API}/monitors"
    on_alert = MONITOR + "on_alert: [{log: true}]\n"
    assert admin.post(monitors, json={"yaml": on_alert}).status_code == 200
    assert reader.get(monitors).status_code == 200
    assert reader.get(f"{monitors}/credit-drift").status_code == 200
    ran = admin.post(f"{monitors}/credit-drift/run", json={"now_ms": T0 + 2 * HOUR}).json()
    assert ran["passed"] is False
    assert (
        admin.post(
            f"{monitors}/credit-drift/backfill", json={"from_ms": T0, "to_ms": T0 + 2 * HOUR}
        ).status_code
        == 200
    )
    assert reader.get(f"{monitors}/credit-drift/results").status_code == 200
    assert reader.get(f"{monitors}/credit-drift/report").status_code == 200
    alerts = reader.get(f"{API}/alerts", params={"status": "all"}).json()
    for alert in alerts[:1]:
        assert reader.get(f"{API}/alerts/{alert['id']}").status_code == 200
    assert reader.get(f"{API}/alerts/nope").status_code == 404
    assert sdk.monitors.list()


def _pipelines_and_approvals(admin: httpx.Client, reader: httpx.Client, failed: str) -> None:
    pipelines = f"{API}/pipelines"
    [listed] = reader.get(pipelines).json()
    assert (listed["name"], listed["last_run"]) == ("unreliable", failed)
    spec = reader.get(f"{pipelines}/unreliable").json()["spec"]
    assert admin.put(f"{pipelines}/unreliable", json={"spec": spec}).status_code == 200
    assert admin.put(f"{pipelines}/evil", json={"spec": {"steps": []}}).status_code == 422
    run = reader.get(f"{pipelines}/-/runs/{failed}").json()
    assert run["status"] == "failed"
    assert {s["step"] for s in run["steps"]} >= {"flaky"}
    logs = reader.get(f"{pipelines}/-/runs/{failed}/logs", params={"step": "flaky"}).json()
    assert "planned failure" in logs[0]["log"]
    assert reader.get(f"{pipelines}/-/runs", params={"pipeline": "unreliable"}).json()
    assert reader.get(f"{pipelines}/-/runs/{'0' * 32}").status_code == 404
    assert reader.get(f"{pipelines}/-/runs", params={"status": "done"}).status_code == 422
    params = {"params": {"failures": 0}}
    assert admin.post(f"{pipelines}/nope/runs", json=params).status_code == 404
    queued = admin.post(f"{pipelines}/unreliable/runs", json=params)
    assert queued.status_code == 201
    runs = f"{pipelines}/-/runs/{queued.json()['id']}"
    assert admin.post(f"{runs}/cancel").json()["status"] == "cancelled"
    assert admin.post(f"{runs}/resume").json()["status"] == "queued"
    assert admin.post(f"{runs}/cancel").json()["status"] == "cancelled"
    assert reader.post(f"{runs}/resume").status_code == 403

    approvals = f"{API}/approvals"
    ask = {"pipeline_run_id": failed, "step": "double", "title": "promote it"}
    pending = admin.post(approvals, json=ask).json()
    assert pending["status"] == "pending"
    assert [a["id"] for a in reader.get(approvals).json()] == [pending["id"]]
    assert reader.get(f"{approvals}/{pending['id']}").json()["title"] == "promote it"
    decided = admin.post(f"{approvals}/{pending['id'][:12]}/approve", json={"comment": "ok"})
    assert (decided.json()["status"], decided.json()["decided_by"]) == ("approved", "admin-token")
    assert admin.post(f"{approvals}/{pending['id']}/reject").status_code == 409
    assert reader.post(f"{approvals}/{pending['id']}/reject").status_code == 403
    assert reader.get(f"{approvals}/nope").status_code == 404
    assert reader.get(approvals, params={"status": "all"}).json()[0]["comment"] == "ok"


def _deletion_activity_and_agent(admin: httpx.Client, reader: httpx.Client, sdk: Client) -> None:
    import pandas as pd

    made = admin.post(f"{API}/runs", json={"experiment": "doomed"}).json()
    assert admin.delete(f"{API}/runs/{made['id']}").json()["deleted_at"] is not None
    assert admin.delete(f"{API}/runs/{made['id']}").status_code == 422
    assert admin.post(f"{API}/runs/{made['id']}/restore").json()["deleted_at"] is None
    assert admin.delete(f"{API}/experiments/doomed").json()["runs"] == 1
    assert admin.post(f"{API}/experiments/doomed/restore").json()["deleted_at"] is None
    assert admin.delete(f"{API}/experiments/nope").status_code == 404
    assert reader.delete(f"{API}/runs/{made['id']}").status_code == 403
    search = {"experiments": ["doomed"]}
    assert reader.post(f"{API}/runs/count", json=search).json() == {"total": 1}

    sdk.datasets.log(pd.DataFrame({"x": [1, 2, 3, 4]}), "pushed")
    diff = reader.get(f"{API}/dataset-versions/pushed:v1/diff", params={"to": "pushed:v2"})
    assert diff.json()["rows"] == [3, 4]
    assert reader.get(f"{API}/dataset-versions/pushed:v1/diff").status_code == 422
    assert admin.delete(f"{API}/dataset-versions/pushed:v1").status_code == 409  # tagged
    forced = admin.delete(f"{API}/dataset-versions/pushed:v1", params={"force": True}).json()
    assert (forced["ref"], forced["forced"], len(forced["broke"])) == ("pushed:v1", True, 1)
    assert admin.delete(f"{API}/dataset-versions/credit-train:v1").status_code == 409
    assert admin.delete(f"{API}/models/credit/versions/1").status_code == 409
    assert admin.delete(f"{API}/models/credit/versions/9").status_code == 404
    dry = {"dry_run": True, "objects": True, "grace_minutes": 0, "retention_days": 0}
    report = admin.post("/api/v1/gc", json=dry).json()
    assert report["dry_run"] is True
    assert report["objects"]["referenced"] > 0
    assert admin.post("/api/v1/gc", json={"retention_days": 30}).json()["dry_run"] is False
    assert reader.post("/api/v1/gc", json={}).status_code == 403
    assert admin.post("/api/v1/gc", json={"retention_days": -1}).status_code == 422

    events = reader.get(f"{API}/activity", params={"limit": 1000}).json()
    assert {"delete", "restore", "approve"} <= {e["action"] for e in events}
    assert reader.get(f"{API}/activity", params={"limit": 0}).status_code == 422
    me = reader.get("/api/v1/whoami").json()
    assert (me["name"], me["role"], me["auth"]) == ("reader-token", "reader", True)
    agent = reader.get("/api/v1/agent").json()
    assert agent["this_server"]["holder"]
    assert httpx.get(f"{reader.base_url}/api/v1/agent").status_code == 401


def test_every_answer_matches_the_document(session: Conformance) -> None:
    assert session.problems == []


def test_the_session_reached_every_concept(session: Conformance) -> None:
    ok = {(m, p) for m, p, status in session.checked if status < 300}
    tags = {
        tag
        for method, path in ok
        for tag in session.spec["paths"][path][method.lower()].get("tags", ())
    }
    assert tags >= {"server", "projects", "tracking", "objects", "datasets", "lineage"}
    assert tags >= {"validation", "models", "deployments", "predictions", "monitors", "alerts"}
    assert tags >= {"pipelines", "approvals", "deletion", "activity", "agent"}
    assert len(ok) >= 80, sorted(ok)
    refused = {status for _, _, status in session.checked if status >= 400}
    assert refused >= {401, 403, 404, 409, 422}
