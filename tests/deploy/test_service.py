"""Deployments on SQLite and PostgreSQL: plan, apply, rollback, canary steps, roles, audit."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from keel.deploy import DeploymentService, DeploymentSpec, parse_spec
from keel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from keel.registry import Actor, RegistryService
from keel.store import Store
from keel.store import schema as t

from .conftest import CANARY, SPEC


@pytest.fixture
def service(store: Store, registry: RegistryService) -> DeploymentService:
    return DeploymentService(store, actor=Actor("alice", "writer"))


def _spec(text: str = SPEC, **changes: object) -> DeploymentSpec:
    spec = parse_spec(text)
    if not changes:
        return spec
    return DeploymentSpec.from_dict({**spec.to_dict(), **changes})


def test_plan_of_a_new_deployment_creates_every_field(service: DeploymentService) -> None:
    plan = service.plan(_spec())
    assert plan.create
    assert not plan.empty
    paths = {c.path: c for c in plan.changes}
    assert paths["routes.0.version"].after == "@champion"
    assert paths["routes.1.weight"].after == 10.0
    assert paths["shadow"].after == ["credit:3"]
    assert paths["batching.max_batch_size"].after == 32
    assert "sticky_key" not in paths  # unset fields are absent, not "None"
    assert all(c.action == "+" for c in plan.changes)
    assert plan.render().startswith("deployment credit-scoring will be created")


def test_apply_then_plan_shows_only_what_changed(service: DeploymentService) -> None:
    first = service.apply(_spec())
    assert (first.revision, first.status, first.actor) == (1, "active", "alice")
    assert first.previous_revision is None
    assert first.kind == "apply"
    assert service.plan(_spec()).empty
    changed = _spec(
        routes=[{"version": "@champion", "weight": 50}, {"version": "@challenger", "weight": 50}],
        sticky_key="customer_id",
        shadow=[],
    )
    plan = service.plan(changed)
    assert plan.current_revision == 1
    assert [(c.action, c.path, c.before, c.after) for c in plan.changes] == [
        ("~", "routes.0.weight", 90.0, 50.0),
        ("~", "routes.1.weight", 10.0, 50.0),
        ("+", "sticky_key", None, "customer_id"),
        ("-", "shadow", ["credit:3"], None),
    ]
    text = plan.render()
    assert "~ routes.0.weight: 90 -> 50" in text
    assert "(revision 1 -> 2)" in text
    assert "1 to add, 2 to change, 1 to remove" in text


def test_apply_records_revisions_and_supersedes(service: DeploymentService) -> None:
    service.apply(_spec())
    second = service.apply(_spec(shadow=[]))
    assert (second.revision, second.status, second.previous_revision) == (2, "active", 1)
    assert service.current("credit-scoring") == second
    assert [(r.revision, r.status) for r in service.history("credit-scoring")] == [
        (2, "active"),
        (1, "superseded"),
    ]
    assert service.get("credit-scoring", 1).spec == _spec()
    listed = service.list()
    assert [(d["name"], d["revision"], d["status"]) for d in listed] == [
        ("credit-scoring", 2, "active")
    ]
    assert listed[0]["routes"][0] == {"ref": "credit@champion", "weight": 90.0}


def test_an_unchanged_spec_is_a_no_op(service: DeploymentService, store: Store) -> None:
    first = service.apply(_spec())
    before = store.counts()
    assert service.apply(_spec()) == first
    assert store.counts() == before


def test_rollback_walks_back_and_stops_at_the_first(service: DeploymentService) -> None:
    a, b, c = _spec(), _spec(shadow=[]), _spec(sticky_key="customer_id")
    for spec in (a, b, c):
        service.apply(spec)
    back = service.rollback("credit-scoring")
    assert (back.revision, back.status, back.restores, back.kind) == (4, "active", 2, "rollback")
    assert back.spec == b
    again = service.rollback("credit-scoring")
    assert (again.revision, again.restores, again.spec) == (5, 1, a)
    with pytest.raises(Conflict, match="nothing to roll back to"):
        service.rollback("credit-scoring")
    assert [(r.revision, r.status) for r in service.history("credit-scoring")] == [
        (5, "active"),
        (4, "rolled_back"),
        (3, "rolled_back"),
        (2, "superseded"),
        (1, "superseded"),
    ]
    # an apply after a rollback can be rolled back to the restored spec
    service.apply(c)
    assert service.rollback("credit-scoring").spec == a


def test_a_canary_apply_is_walked_then_promoted(service: DeploymentService) -> None:
    service.apply(_spec())
    canary = service.apply(parse_spec(CANARY))
    assert (canary.status, canary.previous_revision) == ("canary", 1)
    assert service.get("credit-scoring", 1).status == "superseded"
    with pytest.raises(Conflict, match="canary in progress"):
        service.apply(_spec(shadow=[]))
    service.record_step(canary.id, 0, 10, "passed", {"requests": 40, "errors": 0, "p99_ms": 3.5})
    service.record_step(canary.id, 1, 50, "passed", {"requests": 90, "errors": 1})
    service.record_step(canary.id, 2, 100, "promoted", {"requests": 200, "errors": 1})
    promoted = service.finish(canary.id, "promoted")
    assert promoted.status == "promoted"
    assert promoted == service.current("credit-scoring")
    assert [(s.step, s.weight, s.status) for s in promoted.steps] == [
        (0, 10.0, "passed"),
        (1, 50.0, "passed"),
        (2, 100.0, "promoted"),
    ]
    assert promoted.steps[0].metrics == {"requests": 40, "errors": 0, "p99_ms": 3.5}
    with pytest.raises(Conflict, match="not a canary in progress"):
        service.finish(canary.id, "rolled_back")
    with pytest.raises(Conflict, match="no step can be recorded"):
        service.record_step(canary.id, 3, 100, "passed")


def test_a_canary_rolled_back_brings_the_previous_spec_back(service: DeploymentService) -> None:
    service.apply(_spec())
    canary = service.apply(parse_spec(CANARY))
    service.record_step(canary.id, 0, 10, "rolled_back", {"error_rate": 0.2})
    current = service.finish(canary.id, "rolled_back")
    assert (current.revision, current.status, current.restores) == (3, "active", 1)
    assert current.spec == _spec()
    history = service.history("credit-scoring")
    assert [(r.revision, r.status) for r in history] == [
        (3, "active"),
        (2, "rolled_back"),
        (1, "superseded"),
    ]
    assert history[1].steps[0].status == "rolled_back"


def test_a_first_apply_with_a_canary_is_active(service: DeploymentService) -> None:
    assert service.apply(parse_spec(CANARY)).status == "active"


def test_unknown_versions_name_the_field_and_line(
    service: DeploymentService, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(SPEC.replace('"@challenger"', '"@challengr"'))
    before = store.counts()
    with pytest.raises(
        InvalidInput,
        match=r"deploy.yaml line 5 \(routes.1.version\).*credit@challengr.*mean .challenger",
    ):
        service.apply(parse_spec(path))
    with pytest.raises(InvalidInput, match=r"line 5 \(routes.1.version\)"):
        service.plan(parse_spec(path))
    path.write_text(SPEC.replace('["credit:3"]', '["credit:9"]'))
    with pytest.raises(InvalidInput, match=r"line 6 \(shadow.0\).*has no version 9"):
        service.apply(parse_spec(path))
    path.write_text(SPEC.replace("model: credit", "model: debit"))
    with pytest.raises(InvalidInput, match=r"line 4 \(routes.0.version\).*No model named 'debit'"):
        service.apply(parse_spec(path))
    unparsed = DeploymentSpec.from_dict({**_spec().to_dict(), "shadow": ["credit:8"]})
    with pytest.raises(InvalidInput, match=r"Deployment field shadow.0: credit:8"):
        service.apply(unparsed)
    assert store.counts() == before


def test_reading_unknown_deployments_and_rollouts(service: DeploymentService) -> None:
    assert service.current("nope") is None
    assert service.list() == []
    service.apply(_spec())
    with pytest.raises(NotFound, match="No deployment named 'credit-scorng'.*Did you mean"):
        service.history("credit-scorng")
    with pytest.raises(NotFound, match="No deployment named 'x'"):
        service.rollback("x")
    with pytest.raises(NotFound, match="has no revision 7"):
        service.get("credit-scoring", 7)
    with pytest.raises(NotFound, match="No rollout 'nope'"):
        service.finish("nope", "promoted")
    other = DeploymentService(service.store, project="elsewhere", actor=service.actor)
    rollout = service.current("credit-scoring")
    with pytest.raises(NotFound, match="No rollout"):  # another project's rollout
        other.record_step(rollout.id, 0, 5, "passed")


def test_bad_arguments_are_refused(service: DeploymentService) -> None:
    service.apply(_spec())
    canary = service.apply(parse_spec(CANARY))
    with pytest.raises(InvalidInput, match="finishes as promoted or rolled_back"):
        service.finish(canary.id, "done")
    with pytest.raises(InvalidInput, match="status is one of"):
        service.record_step(canary.id, 0, 5, "fine")
    with pytest.raises(InvalidInput, match="weight is a percentage"):
        service.record_step(canary.id, 0, 150, "passed")
    with pytest.raises(InvalidInput, match="is an index"):
        service.record_step(canary.id, -1, 5, "passed")
    with pytest.raises(InvalidInput, match="metric 'p99' = 'inf'"):
        service.record_step(canary.id, 0, 5, "passed", {"p99": float("inf")})
    with pytest.raises(InvalidInput, match="Expected a DeploymentSpec"):
        service.apply({"name": "x"})  # type: ignore[arg-type]


def test_roles_and_audit(service: DeploymentService, store: Store) -> None:
    reader = DeploymentService(store, actor=Actor("carol", "reader"))
    with pytest.raises(PermissionDenied, match="'carol' has role 'reader'; to apply"):
        reader.apply(_spec())
    service.apply(_spec())
    assert reader.plan(_spec()).empty  # reading is allowed
    with pytest.raises(PermissionDenied, match="roll back"):
        reader.rollback("credit-scoring")
    service.apply(_spec(shadow=[]))
    service.rollback("credit-scoring")
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.audit_events.c.actor, t.audit_events.c.action, t.audit_events.c.details)
            .where(t.audit_events.c.object_kind == "deployment")
            .order_by(t.audit_events.c.created_at, t.audit_events.c.id)
        ).all()
    assert [(a, b) for a, b, _ in rows] == [
        ("alice", "apply"),
        ("alice", "apply"),
        ("alice", "rollback"),
    ]
    assert rows[2][2] == {"revision": 3, "rolled_back": 2, "restores": 1}
