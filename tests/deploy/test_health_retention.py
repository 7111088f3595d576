"""Service health retention: ``keel gc`` removes the rows older than
``health_retention_days`` and keeps the rest, on SQLite and PostgreSQL, directly, from the
command line and through ``keel server``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from keel._gc import run_gc
from keel.config import resolve
from keel.deploy import DeploymentService, expire_health
from keel.errors import InvalidInput
from keel.store import Store, new_id, now_ms
from tests._cli import run_keel
from tests._served import serve_local

DAY_MS = 86_400_000


def _row(ended_days_ago: float) -> dict[str, Any]:
    end = now_ms() - int(ended_days_ago * DAY_MS)
    return {
        "id": new_id(),
        "worker": "a:1",
        "model_version": "credit:1",
        "bucket_ms": end - 60_000,
        "start_ms": end - 60_000,
        "end_ms": end,
        "requests": 10,
        "errors": 0,
        "client_errors": 0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
    }


def _ends(service: DeploymentService, deployment: str) -> int:
    return len([p for p in service.stats(deployment)["points"] if p["source"] == "server"])


def test_gc_removes_health_rows_past_the_retention_period(store: Store) -> None:
    service = DeploymentService(store)
    service.record_health("credit", [_row(40), _row(31), _row(29), _row(0)])
    service.record_health("fraud", [_row(45)])
    preview = run_gc(store, dry_run=True, temporaries=False)["steps"]["expired_health"]
    assert preview == [
        {
            "kind": "service_health",
            "id": "credit",
            "name": "credit",
            "project": "default",
            "rows": 2,
            "kept": None,
        },
        {
            "kind": "service_health",
            "id": "fraud",
            "name": "fraud",
            "project": "default",
            "rows": 1,
            "kept": None,
        },
    ]
    assert _ends(service, "credit") == 4  # a dry run changes nothing
    assert run_gc(store, temporaries=False)["steps"]["expired_health"] == preview
    assert _ends(service, "credit") == 2  # 29 days old and new are kept (30 by default)
    assert run_gc(store, temporaries=False)["steps"]["expired_health"] == []


def test_the_retention_is_a_setting(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    service = DeploymentService(store)
    service.record_health("credit", [_row(3), _row(1)])
    assert store.config.health_retention_days == 30.0
    monkeypatch.setenv("KEEL_HEALTH_RETENTION_DAYS", "2")
    short = resolve(uri=store.config.uri, objects=store.config.objects)
    assert short.sources["health_retention_days"] == "KEEL_HEALTH_RETENTION_DAYS"
    store.config = dataclasses.replace(
        store.config, health_retention_days=short.health_retention_days
    )
    (removed,) = expire_health(store)
    assert removed["rows"] == 1
    assert expire_health(store, retention_days=0)[0]["rows"] == 1
    with pytest.raises(InvalidInput, match="zero or more days. Got -1"):
        expire_health(store, retention_days=-1)


def test_gc_through_keel_server_and_cli(tmp_path: Path) -> None:
    with serve_local(tmp_path, ("admin",)) as served:
        with served.local() as local:
            local.deployments.record_health("credit", [_row(40), _row(1)])
        with served.remote("admin") as admin:
            (removed,) = admin.gc(dry_run=True)["steps"]["expired_health"]
            assert (removed["name"], removed["rows"]) == ("credit", 1)
            assert admin.gc()["steps"]["expired_health"] == [removed]
        with served.local() as local:
            local.deployments.record_health("credit", [_row(50)])
            assert _ends(local.deployments, "credit") == 2
        done = run_keel("gc", cwd=tmp_path, env={"KEEL_URI": served.config.uri})
        assert done.returncode == 0, done.stderr
        assert "removed 1 service health row older than health_retention_days" in done.stdout
        assert "(of 1 deployment)" in done.stdout
