"""Delete and restore through the SDK (the store transport, SQLite and PostgreSQL): runs and
experiments soft-deleted, hidden, restored and purged; dataset and model versions refused
while something protected holds them, forced with what broke; audit events for each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.config import Config
from keel.deploy import parse_spec_text
from keel.errors import Conflict, InvalidInput, NotFound
from keel.store import schema as t
from keel.store.deletion import VersionHeld
from keel.tracking import RunQuery, purge_deleted


@pytest.fixture
def client(store, store_config: Config):
    with Client(config=store_config) as opened:
        yield opened


def _audit(client: Client, action: str) -> list[tuple[str, str]]:
    with client.store.read() as conn:
        rows = conn.execute(
            sa.select(t.audit_events.c.object_kind, t.audit_events.c.details)
            .where(t.audit_events.c.action == action)
            .order_by(t.audit_events.c.created_at)
        ).all()
    return [(kind, details) for kind, details in rows]


def _ids(client: Client, **query) -> set[str]:
    return {r.id for r in client.runs.search_runs(RunQuery(**query))}


def test_runs_delete_hide_restore_and_purge(client: Client) -> None:
    runs = client.runs
    keep, gone = runs.create_run("exp"), runs.create_run("exp")
    runs.put_artifact(gone.id, "notes.txt", "file", b"only the deleted run holds this")
    deleted = runs.delete_run(gone.id)
    assert deleted["id"] == gone.id
    assert deleted["deleted_at"] is not None
    assert _ids(client) == {keep.id}
    assert _ids(client, include_deleted=True) == {keep.id, gone.id}
    assert runs.get_run(gone.id).deleted_at == deleted["deleted_at"]
    with pytest.raises(InvalidInput, match="already deleted.*keel runs restore"):
        runs.delete_run(gone.id)
    runs.restore_run(gone.id)
    assert _ids(client) == {keep.id, gone.id}
    assert runs.get_run(gone.id).deleted_at is None
    with pytest.raises(InvalidInput, match="is not deleted"):
        runs.restore_run(gone.id)
    runs.delete_run(gone.id)
    # within the retention period nothing is purged
    assert purge_deleted(client.store, retention_days=1) == []
    assert _ids(client, include_deleted=True) == {keep.id, gone.id}
    preview = purge_deleted(client.store, retention_days=0, dry_run=True)
    assert [(p["kind"], p["id"], p["kept"]) for p in preview] == [("run", gone.id, None)]
    assert _ids(client, include_deleted=True) == {keep.id, gone.id}
    purge_deleted(client.store, retention_days=0)
    assert _ids(client, include_deleted=True) == {keep.id}
    with pytest.raises(NotFound):
        runs.get_run(gone.id)
    with pytest.raises(NotFound, match="No run with id"):
        runs.restore_run(gone.id)
    assert [kind for kind, _ in _audit(client, "delete")] == ["run", "run"]
    assert [kind for kind, _ in _audit(client, "restore")] == ["run"]
    assert [kind for kind, _ in _audit(client, "purge")] == ["run"]


def test_bad_run_ids_change_nothing(client: Client) -> None:
    run = client.runs.create_run("exp")
    for bad in ("", "   ", None, 42, "x" * 500):
        with pytest.raises((InvalidInput, NotFound)):
            client.runs.delete_run(bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="No run with id 'feedbeef'"):
        client.runs.delete_run("feedbeef")
    assert _ids(client) == {run.id}


def test_experiment_delete_hides_its_runs_and_refuses_new_ones(client: Client) -> None:
    runs = client.runs
    a, b = runs.create_run("exp"), runs.create_run("other")
    runs.delete_experiment("exp")
    assert [e.name for e in runs.list_experiments()] == ["other"]
    assert {e.name for e in runs.list_experiments(include_deleted=True)} == {"exp", "other"}
    assert _ids(client) == {b.id}
    assert runs.get_run(a.id).deleted_at is not None
    with pytest.raises(InvalidInput, match="Experiment 'exp' is deleted.*restore"):
        runs.create_run("exp")
    with pytest.raises(NotFound, match="No experiment named 'exq'.*Did you mean 'exp'"):
        runs.delete_experiment("exq")
    runs.restore_experiment("exp")
    assert _ids(client) == {a.id, b.id}
    runs.delete_experiment("exp")
    purge_deleted(client.store, retention_days=0)
    assert {e.name for e in runs.list_experiments(include_deleted=True)} == {"other"}
    assert _ids(client, include_deleted=True) == {b.id}
    assert [kind for kind, _ in _audit(client, "purge")] == ["run", "experiment"]


def _xy() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(50, 10, 60), "debt": rng.uniform(0, 1, 60)})
    return X, (X["debt"] > 0.5).astype(int)


def test_a_run_that_produced_a_model_version_is_kept_by_purge(client: Client) -> None:
    X, y = _xy()
    run = client.runs.create_run("exp")
    version = client.models.register(LogisticRegression().fit(X, y), "credit", run=run.id)
    client.runs.delete_run(run.id)
    plain = purge_deleted(client.store, retention_days=0, dry_run=True)  # no concept told
    assert plain[0]["kept"] == "a model_version refers to it"
    report = client.gc(retention_days=0)["steps"]["purged"]  # the client wires the registry
    assert report[0]["kept"] == f"model version {version.ref} names it as its source"
    assert client.runs.get_run(run.id).deleted_at is not None


def test_model_version_held_by_alias_and_deployment(client: Client) -> None:
    X, y = _xy()
    models = client.models
    for c in (0.1, 1.0, 10.0):
        models.register(LogisticRegression(C=c).fit(X, y), "credit", input_example=X.head())
    models.set_alias("credit:1", "champion")
    client.deployments.apply(
        parse_spec_text(
            "name: api\nmodel: credit\nroutes:\n  - {version: '@champion', weight: 100}\n"
            "shadow: ['credit:2']\n"
        )
    )
    before = [v.ref for v in models.versions("credit")]
    with pytest.raises(VersionHeld, match=r"credit:1: alias credit@champion points to it.*--force"):
        models.delete("credit:1")
    with pytest.raises(Conflict, match="deployment 'api' .*shadows it as credit:2"):
        models.delete("credit:2")
    for bad in ("credit", "credit@champion", "", "credit:x"):
        with pytest.raises(InvalidInput):
            models.delete(bad)
    with pytest.raises(NotFound):
        models.delete("credit:9")
    assert [v.ref for v in models.versions("credit")] == before
    done = models.delete("credit:3")
    assert (done.ref, done.forced, done.broke) == ("credit:3", False, [])
    forced = models.delete("credit:2", force=True)
    assert forced.forced
    assert "shadows it as credit:2" in forced.broke[0]
    assert [v.ref for v in models.versions("credit")] == ["credit:1"]
    again = models.register(LogisticRegression().fit(X, y), "credit")
    assert again.version == 4  # a deleted version's number is never reused
    models.delete(again.ref)
    events = _audit(client, "delete_version")
    assert [(k, d["ref"], d["forced"]) for k, d in events] == [
        ("model", "credit:3", False),
        ("model", "credit:2", True),
        ("model", "credit:4", False),
    ]


def test_dataset_version_held_by_tag_and_training(client: Client) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]})
    data = client.datasets
    v1 = data.log(frame, "credit")
    v2 = data.log(frame.assign(a=[4, 5, 6]), "credit")
    v3 = data.log(frame.assign(a=[7, 8, 9]), "credit")
    data.tag(v1, "prod")
    X, y = _xy()
    run = client.runs.create_run("exp")
    client.runs.log_input(run.id, "dataset_version", v2.id)
    client.models.register(LogisticRegression().fit(X, y), "m", run=run.id)
    with pytest.raises(VersionHeld, match="tag credit@prod points to it"):
        data.delete(v1.ref)
    with pytest.raises(VersionHeld, match="model version m:1 was trained on it"):
        data.delete("credit:v2")
    with pytest.raises(InvalidInput, match="explicit version"):
        data.delete("credit")
    with pytest.raises(InvalidInput, match="explicit version"):
        data.delete("credit@prod")
    assert len(data.versions("credit")) == 3
    gone = data.delete(v3.ref)
    assert gone.ref == "credit:v3"
    assert v3.manifest_digest in gone.objects
    assert [v.version for v in data.versions("credit")] == [1, 2]
    assert data.log(frame.assign(a=[0, 0, 0]), "credit").version == 4  # never reused
    data.delete("credit:v4")
    forced = data.delete("credit:v1", force=True)
    assert forced.broke == ["tag credit@prod points to it"]
    with pytest.raises(NotFound):
        data.resolve("credit@prod")
    events = _audit(client, "delete_version")
    assert [(k, d["ref"]) for k, d in events] == [
        ("dataset", "credit:v3"),
        ("dataset", "credit:v4"),
        ("dataset", "credit:v1"),
    ]


def test_dataset_version_held_by_a_monitor_reference(client: Client) -> None:
    from keel.monitoring import MonitorService
    from keel.monitoring.spec import parse_monitor_text

    data = client.datasets
    data.log(pd.DataFrame({"a": [1, 2, 3]}), "train")
    data.log(pd.DataFrame({"a": [4, 5, 6]}), "train")
    MonitorService(client.store).apply(
        parse_monitor_text(
            "name: drift\ndeployment: api\nreference: train:v1\nwindow: {size: 1h}\n"
        )
    )
    with pytest.raises(VersionHeld, match="monitor 'drift' uses it as its reference"):
        data.delete("train:v1")
    assert data.delete("train:v2").ref == "train:v2"
