"""Delete, restore and gc through ``keel server`` (SQLite and PostgreSQL): the http client
gives what the local one gives; readers cannot delete, writers cannot gc; a held version is
409 and a bad reference 422, with nothing changed; the token is the audit actor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.config import Config
from keel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from keel.store import schema as t
from keel.tracking import RunQuery
from tests._served import Served, serve_store

PROJECT = "credit"
API = f"/api/v1/projects/{PROJECT}"
ROLES = ("reader", "writer", "admin")


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    with serve_store(store_config, tmp_path, ROLES, project=PROJECT) as live:
        yield live


def _ids(client: Client, deleted: bool = False) -> set[str]:
    return {r.id for r in client.runs.search_runs(RunQuery(include_deleted=deleted))}


def test_runs_and_experiments_remote(served: Served) -> None:
    with served.remote("writer") as remote, served.local() as local:
        a, b = remote.runs.create_run("exp"), remote.runs.create_run("other")
        with httpx.Client(base_url=served.url) as http:
            refused = http.delete(f"{API}/runs/{a.id}", headers=served.headers("reader"))
            assert refused.status_code == 403
        with served.remote("reader") as reader, pytest.raises(PermissionDenied, match="writer"):
            reader.runs.delete_experiment("exp")
        assert _ids(local) == {a.id, b.id}
        done = remote.runs.delete_run(a.id)
        assert done["id"] == a.id
        assert _ids(remote) == {b.id}
        assert _ids(remote, deleted=True) == {a.id, b.id}
        with pytest.raises(InvalidInput, match="already deleted"):
            remote.runs.delete_run(a.id)
        with pytest.raises(NotFound, match="No run with id"):
            remote.runs.delete_run("feedbeef")
        remote.runs.restore_run(a.id)
        remote.runs.delete_experiment("exp")
        assert [e.name for e in remote.runs.list_experiments()] == ["other"]
        listed = remote.runs.list_experiments(include_deleted=True)
        assert {e.name for e in listed} == {"exp", "other"}
        assert _ids(local) == {b.id}
        remote.runs.restore_experiment("exp")
        assert _ids(local) == {a.id, b.id}
        with local.store.read() as conn:
            actors = conn.execute(
                sa.select(t.audit_events.c.actor, t.audit_events.c.action).where(
                    t.audit_events.c.object_kind.in_(["run", "experiment"])
                )
            ).all()
        assert sorted(actors) == sorted(
            [
                ("writer-token", "delete"),
                ("writer-token", "restore"),
                ("writer-token", "delete"),
                ("writer-token", "restore"),
            ]
        )


def test_versions_and_gc_remote(served: Served) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    y = (X["a"] > 0).astype(int)
    with served.local() as local:
        local.models.register(LogisticRegression().fit(X, y), "m")
        local.models.register(LogisticRegression(C=0.1).fit(X, y), "m")
        local.models.set_alias("m:1", "champion")
        local.datasets.log(X, "d")
        local.datasets.log(X.head(10), "d")
    with served.remote("writer") as remote:
        with pytest.raises(Conflict, match="alias m@champion points to it"):
            remote.models.delete("m:1")
        with pytest.raises(InvalidInput, match="explicit version"):
            remote.models.delete("m@champion")
        with httpx.Client(base_url=served.url) as http:
            bad = http.delete(f"{API}/dataset-versions/d", headers=served.headers("writer"))
            assert bad.status_code == 422
            bad = http.delete(f"{API}/models/m/versions/0", headers=served.headers("writer"))
            assert bad.status_code == 422
            held = http.delete(f"{API}/models/m/versions/1", headers=served.headers("writer"))
            assert held.status_code == 409
            gc_refused = http.post("/api/v1/gc", json={}, headers=served.headers("writer"))
            assert gc_refused.status_code == 403
            bad_gc = http.post(
                "/api/v1/gc", json={"grace_minutes": -1}, headers=served.headers("admin")
            )
            assert bad_gc.status_code == 422
        assert [v.version for v in remote.models.versions("m")] == [1, 2]
        result = remote.models.delete("m:1", force=True)
        assert result.broke == ["alias m@champion points to it"]
        assert remote.datasets.delete("d:v2").ref == "d:v2"
        assert [v.version for v in remote.datasets.versions("d")] == [1]
    with served.remote("admin") as admin:
        report = admin.gc(objects=True, grace=3600, dry_run=True)
        assert report["dry_run"] is True
        assert report["objects"]["removed"] == []  # everything is younger than an hour
        assert report["objects"]["kept_recent"] > 0
        assert admin.gc(retention_days=0)["steps"]["purged"] == []
    with served.local() as local, local.store.read() as conn:
        actors = conn.execute(
            sa.select(t.audit_events.c.actor, t.audit_events.c.details).where(
                t.audit_events.c.action == "delete_version"
            )
        ).all()
    assert sorted((a, d["ref"]) for a, d in actors) == [
        ("writer-token", "d:v2"),
        ("writer-token", "m:1"),
    ]
