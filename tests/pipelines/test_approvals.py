"""Approvals in pipeline runs on SQLite and PostgreSQL: keel.approval in a step through
every state (pending, approved, rejected, expired), the audit trail, prefixes, bad input;
roles and decisions through a real keel server with tokens; the keel approvals CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import keel
from keel._context import reset_step, set_step
from keel.client import Client
from keel.config import Config
from keel.errors import (
    ApprovalExpired,
    ApprovalRejected,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from keel.pipelines._records import record_pipeline, submit_run
from keel.pipelines._signals import AwaitingApproval
from keel.pipelines.approvals import ApprovalService
from keel.store import Store, init_project, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import audit_events
from tests._cli import run_keel
from tests._served import Served, serve_store

PROJECT = "default"
ROLES = ("reader", "writer", "approver", "admin")


@dataclass
class Step:
    """What the executor makes active while a step runs."""

    pipeline_run_id: str
    step: str
    project: str
    client: Any


def _run(store: Store, pipeline: str = "train", project: str = PROJECT) -> str:
    record_pipeline(store, project, pipeline, {"entrypoint": "flows:train", "steps": ["promote"]})
    return submit_run(store, project, pipeline)


def _in_step(step: Step, title: str, **options: Any) -> Any:
    """Call keel.approval as the step would, with the step active."""
    token = set_step(step)
    try:
        return keel.approval(title, **options)
    finally:
        reset_step(token)


def _rows(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(sa.select(t.pipeline_approvals)).mappings().all()
    return [dict(r) for r in rows]


def _events(store: Store, approval_id: str) -> list[tuple[str, str]]:
    with store.read() as conn:
        events = audit_events(conn, object_kind="pipeline_approval", object_id=approval_id)
    return [(e["actor"], e["action"]) for e in events]


def _expire_now(store: Store, approval_id: str) -> None:
    """Move an approval's timeout into the past (as if a day had gone by)."""
    a = t.pipeline_approvals
    with store.write() as conn:
        conn.execute(a.update().where(a.c.id == approval_id).values(timeout_at=now_ms() - 1))


@pytest.fixture
def client(store: Store) -> Iterator[Client]:
    with Client(config=store.config) as opened:
        yield opened


def test_outside_a_step_approval_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match=r"only inside a @keel\.step function"):
        keel.approval("promote credit")


def test_pending_then_approved_returns_who_when_and_why(store: Store, client: Client) -> None:
    run_id = _run(store)
    step = Step(run_id, "promote", PROJECT, client)
    with pytest.raises(AwaitingApproval) as first:
        _in_step(step, "promote credit:2", timeout="2d")
    (row,) = _rows(store)
    assert row["status"] == "pending"
    assert row["id"] == first.value.approval_id
    assert row["timeout_at"] - row["requested_at"] == 2 * 86_400_000
    # a resumed step asks again: the same approval, still pending, no second row
    with pytest.raises(AwaitingApproval) as again:
        _in_step(step, "promote credit:2", timeout="2d")
    assert again.value.approval_id == row["id"]
    assert len(_rows(store)) == 1

    [listed] = client.approvals.list()
    assert (listed.title, listed.pipeline, listed.step) == ("promote credit:2", "train", "promote")
    decided = ApprovalService(store, actor=Actor("ann", "approver")).approve(
        row["id"][:10], "AUC up two points"
    )
    assert (decided.status, decided.decided_by, decided.comment) == (
        "approved",
        "ann",
        "AUC up two points",
    )
    got = _in_step(step, "promote credit:2", timeout="2d")
    assert got.approved
    assert got.decided_by == "ann"
    assert got.comment == "AUC up two points"
    assert got.decided_at >= got.requested_at
    assert client.approvals.list() == []
    assert [a.id for a in client.approvals.list(status="approved")] == [row["id"]]
    user = Actor.local().name
    assert _events(store, row["id"]) == [(user, "request"), ("ann", "approve")]


def test_rejected_raises_naming_who_and_why(store: Store, client: Client) -> None:
    step = Step(_run(store), "promote", PROJECT, client)
    with pytest.raises(AwaitingApproval) as waiting:
        _in_step(step, "promote credit:3")
    approvals = ApprovalService(store, actor=Actor("bob", "approver"))
    approvals.reject(waiting.value.approval_id, "calibration got worse")
    with pytest.raises(ApprovalRejected, match=r"rejected by bob .*: calibration got worse"):
        _in_step(step, "promote credit:3")
    # a decision is final
    with pytest.raises(Conflict, match=r"is rejected by bob, so it cannot be approved"):
        approvals.approve(waiting.value.approval_id)
    assert _rows(store)[0]["status"] == "rejected"


def test_timeout_expires_the_approval_and_fails_the_step(store: Store, client: Client) -> None:
    step = Step(_run(store), "promote", PROJECT, client)
    with pytest.raises(AwaitingApproval) as waiting:
        _in_step(step, "promote credit:4", timeout="30m")
    approval_id = waiting.value.approval_id
    _expire_now(store, approval_id)
    # read as expired at once, before anything writes it
    assert client.approvals.list() == []
    assert [a.id for a in client.approvals.list(status="expired")] == [approval_id]
    assert client.approvals.get(approval_id).status == "expired"
    assert _rows(store)[0]["status"] == "pending"
    with pytest.raises(ApprovalExpired, match=r"expired at .* with no decision"):
        _in_step(step, "promote credit:4", timeout="30m")
    assert _rows(store)[0]["status"] == "expired"
    assert [e[1] for e in _events(store, approval_id)] == ["request", "expire"]
    approver = ApprovalService(store, actor=Actor("ann", "approver"))
    with pytest.raises(Conflict, match="is expired, so it cannot be approved"):
        approver.approve(approval_id)
    assert _rows(store)[0]["decided_by"] is None


def test_deciding_a_timed_out_approval_expires_it_and_refuses(store: Store) -> None:
    service = ApprovalService(store)
    pending = service.request(_run(store), "promote", "go", timeout=60)
    _expire_now(store, pending.id)
    with pytest.raises(Conflict, match="is expired"):
        service.reject(pending.id, "too late")
    row = _rows(store)[0]
    assert (row["status"], row["comment"], row["decided_by"]) == ("expired", None, None)
    assert [e[1] for e in _events(store, pending.id)] == ["request", "expire"]


def test_no_timeout_waits_for_ever_and_titles_are_per_step(store: Store, client: Client) -> None:
    run_id = _run(store)
    service = client.approvals
    forever = service.request(run_id, "promote", "go", timeout=None)
    assert forever.timeout_at is None
    assert forever.status == "pending"
    other_step = service.request(run_id, "deploy", "go")
    other_run = service.request(_run(store), "promote", "go")
    assert len({forever.id, other_step.id, other_run.id}) == 3
    listed = service.list(status="all", limit=2)
    assert [a.id for a in listed] == [other_run.id, other_step.id]  # newest first


def test_roles_and_prefixes(store: Store) -> None:
    run_id = _run(store)
    first = ApprovalService(store).request(run_id, "promote", "one")
    second = ApprovalService(store).request(run_id, "promote", "two")
    reader = ApprovalService(store, actor=Actor("rita", "reader"))
    writer = ApprovalService(store, actor=Actor("will", "writer"))
    assert {a.id for a in reader.list()} == {first.id, second.id}
    with pytest.raises(PermissionDenied, match="'will' has role 'writer'; to approve"):
        writer.approve(first.id)
    with pytest.raises(PermissionDenied, match="to ask for a pipeline approval needs 'writer'"):
        reader.request(run_id, "promote", "three")
    common = next(
        i for i in range(32, 0, -1) if first.id[:i] == second.id[:i]
    )  # the ids share their first milliseconds
    if common >= 4:
        with pytest.raises(NotFound, match="matches more than one approval"):
            reader.get(first.id[:common])
    assert reader.get(first.id[: common + 1]).id == first.id
    assert reader.get(first.id.upper()).id == first.id
    assert [r["status"] for r in _rows(store)] == ["pending", "pending"]


def test_bad_input_is_refused_and_changes_nothing(store: Store) -> None:
    run_id = _run(store)
    service = ApprovalService(store)
    pending = service.request(run_id, "promote", "go")
    cases = [
        (lambda: service.request(run_id, "promote", ""), InvalidInput, "non-empty text"),
        (lambda: service.request(run_id, "promote", "a\x00b"), InvalidInput, "non-empty text"),
        (lambda: service.request(run_id + "\x00", "promote", "go"), InvalidInput, "run id"),
        (lambda: service.approve(pending.id, "a\x00b"), InvalidInput, "no NUL"),
        (lambda: service.request(run_id, "promote", "x" * 501), InvalidInput, "at most 500"),
        (lambda: service.request(run_id, "promote", "go", timeout="soon"), InvalidInput, "soon"),
        (lambda: service.request(run_id, "promote", "go", timeout=-5), InvalidInput, "positive"),
        (lambda: service.request("nope", "promote", "go"), NotFound, "No pipeline run 'nope'"),
        (lambda: service.request(run_id, "", "go"), InvalidInput, "is a step name"),
        (lambda: service.list(status="open"), InvalidInput, "is not one of pending"),
        (lambda: service.list(limit=0), InvalidInput, "limit must be"),
        (lambda: service.get("zz-top"), NotFound, "No approval 'zz-top'"),
        (lambda: service.get("abc"), NotFound, "a prefix of at least 4"),
        (lambda: service.approve(pending.id, "x" * 2001), InvalidInput, "at most 2000"),
        (lambda: service.approve("0" * 32), NotFound, "No approval"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    (row,) = _rows(store)
    assert row["status"] == "pending"
    assert row["comment"] is None
    assert [e[1] for e in _events(store, pending.id)] == ["request"]


def test_an_approval_of_another_project_is_not_found(store: Store) -> None:
    store.create_project("other")
    run_id = _run(store, project="other")
    theirs = ApprovalService(store, project="other").request(run_id, "promote", "go")
    mine = ApprovalService(store)
    with pytest.raises(NotFound):
        mine.get(theirs.id)
    with pytest.raises(NotFound, match="No pipeline run"):
        mine.request(run_id, "promote", "go")
    assert mine.list(status="all") == []


# -- through a keel server -------------------------------------------------------------


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    with serve_store(store_config, tmp_path, ROLES) as live:
        yield live


def test_through_a_server_roles_decide_and_the_token_is_the_actor(served: Served) -> None:
    with Client(config=served.config) as local:
        run_id = _run(local.store)
    with (
        served.remote("writer") as writer,
        served.remote("reader") as reader,
        served.remote("approver") as approver,
    ):
        step = Step(run_id, "promote", PROJECT, writer)
        with pytest.raises(AwaitingApproval) as waiting:
            _in_step(step, "promote credit:5", timeout="1h")
        approval_id = waiting.value.approval_id
        [listed] = reader.approvals.list()
        assert listed.id == approval_id
        assert listed.timeout_at - listed.requested_at == 3_600_000
        assert reader.approvals.get(approval_id[:12]).title == "promote credit:5"
        with pytest.raises(PermissionDenied, match="this needs 'approver'"):
            writer.approvals.approve(approval_id)
        with pytest.raises(PermissionDenied):
            reader.approvals.reject(approval_id)
        with pytest.raises(PermissionDenied, match="needs 'writer'"):
            reader.approvals.request(run_id, "promote", "another")
        decided = approver.approvals.approve(approval_id[:12], "ship it")
        assert (decided.status, decided.decided_by) == ("approved", "approver-token")
        got = _in_step(step, "promote credit:5", timeout="1h")
        assert got.decided_by == "approver-token"
        assert got.comment == "ship it"
        with pytest.raises(Conflict, match="is approved by approver-token"):
            approver.approvals.reject(approval_id, "changed my mind")
        # a rejection through the server fails the step that asked
        with pytest.raises(AwaitingApproval) as second:
            _in_step(step, "deploy credit:5")
        approver.approvals.reject(second.value.approval_id, "not on a Friday")
        with pytest.raises(ApprovalRejected, match="approver-token .*: not on a Friday"):
            _in_step(step, "deploy credit:5")
    with Client(config=served.config) as local:
        assert _events(local.store, approval_id) == [
            ("writer-token", "request"),
            ("approver-token", "approve"),
        ]


def test_rest_answers_mistakes_with_4xx_and_documents_the_routes(served: Served) -> None:
    with Client(config=served.config) as local:
        run_id = _run(local.store)
        pending = local.approvals.request(run_id, "promote", "go")
    api = f"{served.url}/api/v1/projects/{PROJECT}/approvals"
    reader, approver = served.headers("reader"), served.headers("approver")
    assert httpx.get(api).status_code == 401
    assert httpx.get(api, headers=reader).json()[0]["id"] == pending.id
    bad = [
        httpx.get(api, params={"status": "open"}, headers=reader),
        httpx.get(api, params={"limit": 0}, headers=reader),
        httpx.get(f"{api}/nope", headers=reader),
        httpx.post(f"{api}/{pending.id}/approve", json={"comment": 5}, headers=approver),
        httpx.post(f"{api}/{pending.id}/approve", json={"comment": "x" * 3000}, headers=approver),
        httpx.post(f"{api}/{'0' * 32}/reject", headers=approver),
        httpx.post(api, json={"pipeline_run_id": run_id, "step": "s"}, headers=approver),
        httpx.post(
            api,
            json={"pipeline_run_id": run_id, "step": "s", "title": "t", "timeout_s": -1},
            headers=approver,
        ),
        httpx.post(api, json={"pipeline_run_id": "x", "step": "s", "title": "t"}, headers=approver),
        httpx.post(f"{api}/{pending.id}/approve", headers=reader),
    ]
    assert [r.status_code for r in bad] == [422, 422, 404, 422, 422, 404, 422, 422, 404, 403]
    with Client(config=served.config) as local:
        assert local.approvals.get(pending.id).status == "pending"
    ok = httpx.post(f"{api}/{pending.id}/approve", headers=approver)  # no body: no comment
    assert ok.status_code == 200
    assert ok.json()["decided_by"] == "approver-token"
    again = httpx.post(f"{api}/{pending.id}/approve", headers=approver)
    assert again.status_code == 409
    assert again.json()["error"] == "Conflict"
    spec = httpx.get(f"{served.url}/openapi.json").json()
    paths = spec["paths"]
    assert "/api/v1/projects/{project}/approvals/{approval_id}/approve" in paths
    assert (
        "409"
        in paths["/api/v1/projects/{project}/approvals/{approval_id}/reject"]["post"]["responses"]
    )


# -- the CLI ---------------------------------------------------------------------------


def test_keel_approvals_cli(tmp_path: Path) -> None:
    with init_project(tmp_path) as store:
        run_id = _run(store)
        service = ApprovalService(store)
        first = service.request(run_id, "promote", "promote [credit]:6")
        second = service.request(run_id, "promote", "deploy credit:6")
    listed = run_keel("approvals", "ls", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "promote [credit]:6" in listed.stdout  # stored text, not markup
    assert first.id[:12] in listed.stdout
    assert "2 pending approvals" in listed.stdout
    shown = run_keel("approvals", "show", first.id[:12], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert run_id in shown.stdout
    assert "pending" in shown.stdout
    approved = run_keel(
        "approvals", "approve", first.id, "--comment", "looks [good]", "--json", cwd=tmp_path
    )
    assert approved.returncode == 0, approved.stderr
    body = json.loads(approved.stdout)
    assert (body["status"], body["comment"]) == ("approved", "looks [good]")
    rejected = run_keel("approvals", "reject", second.id, "-m", "no", cwd=tmp_path)
    assert rejected.returncode == 0, rejected.stderr
    assert "rejected" in rejected.stdout
    assert "no" in rejected.stdout
    every = run_keel("approvals", "ls", "--status", "all", "--json", cwd=tmp_path)
    every = json.loads(every.stdout)
    assert {a["id"]: a["status"] for a in every} == {first.id: "approved", second.id: "rejected"}
    twice = run_keel("approvals", "approve", first.id, cwd=tmp_path)
    assert twice.returncode == 1
    assert "is approved by" in twice.stderr
    bad = run_keel("approvals", "ls", "--status", "open", cwd=tmp_path)
    assert bad.returncode == 1
    assert "is not one of pending" in bad.stderr
    missing = run_keel("approvals", "show", "nope", cwd=tmp_path)
    assert missing.returncode == 1
    assert "No approval 'nope'" in missing.stderr


def test_no_request_to_the_approval_routes_gets_a_server_error(
    store_config: Config, tmp_path: Path
) -> None:
    """Generated requests, valid for the OpenAPI schema or not, on both backends: 4xx for
    every mistake, never a 5xx (the route-level counterpart of tests/server/test_fuzz)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    from keel.server import create_app

    with init_project(tmp_path, store_config) as store:
        ApprovalService(store).request(_run(store), "promote", "go")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(store_config, auth=False))
    probed = []
    statuses: set[int] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/projects/{project}/approvals"):
            continue
        cases = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | (
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )

        @given(case=cases)
        @settings(
            max_examples=20,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def probe(case) -> None:
            response = case.call()
            statuses.add(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
            )

        probe()
        probed.append(operation.label)
    assert len(probed) == 5
    assert 422 in statuses
