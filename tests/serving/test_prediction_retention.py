"""Prediction log retention: ``keel gc`` removes the prediction and feedback parts whose
newest row is older than ``predictions_retention_days`` (unset: kept for ever), on SQLite
and PostgreSQL, directly, from the command line and through ``keel server``; the parts'
objects are then reclaimed by ``keel gc --objects``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest

from keel._gc import run_gc
from keel.config import resolve
from keel.errors import InvalidInput
from keel.serving import PredictionStore, expire_predictions
from keel.store import Store, now_ms
from keel.store.fsck import fsck
from tests._cli import run_keel
from tests._served import serve_local

DAY_MS = 86_400_000
TIME = pa.timestamp("ms", tz="UTC")


def _predictions(days_ago: list[float]) -> pa.Table:
    n = len(days_ago)
    return pa.table(
        {
            "request_id": [f"r{i}-{d}" for i, d in enumerate(days_ago)],
            "at": pa.array([now_ms() - int(d * DAY_MS) for d in days_ago], TIME),
            "deployment": ["credit"] * n,
            "model_version": ["credit:1"] * n,
            "route": ["@champion"] * n,
            "key": ["c"] * n,
            "latency_ms": [1.0] * n,
            "row": pa.array([0] * n, pa.int32()),
            "input": pa.array([{"income": 1.5}] * n),
            "prediction": [1] * n,
        }
    )


def _feedback(days_ago: float) -> pa.Table:
    return pa.table(
        {
            "at": pa.array([now_ms() - int(days_ago * DAY_MS)], TIME),
            "deployment": ["credit"],
            "request_id": ["r0"],
            "key": [None],
            "label": ["1"],
        }
    )


def _keep(store: Store, days: float | None) -> None:
    store.config = dataclasses.replace(store.config, predictions_retention_days=days)


def test_gc_removes_parts_past_the_retention_period_and_keeps_the_rest(store: Store) -> None:
    log = PredictionStore(store, project="default")
    old = log.write("predictions", "credit", _predictions([45, 40, 35]))
    straddling = log.write("predictions", "credit", _predictions([50, 10]))  # one row young
    young = log.write("predictions", "fraud", _predictions([1]))
    old_feedback = log.write("feedback", "credit", _feedback(60))
    digests = {p["id"]: p["digest"] for p in log.parts("predictions") + log.parts("feedback")}

    assert store.config.predictions_retention_days is None  # unset: kept for ever
    assert run_gc(store, temporaries=False)["steps"]["expired_predictions"] == []
    assert len(log.parts("predictions")) == 3

    _keep(store, 30)
    preview = run_gc(store, dry_run=True, temporaries=False)["steps"]["expired_predictions"]
    assert preview == [
        {
            "kind": "feedback",
            "id": "credit",
            "name": "credit",
            "project": "default",
            "rows": 1,
            "parts": 1,
            "kept": None,
        },
        {
            "kind": "predictions",
            "id": "credit",
            "name": "credit",
            "project": "default",
            "rows": 3,
            "parts": 1,
            "kept": None,
        },
    ]
    assert len(log.parts("predictions")) == 3  # a dry run changes nothing
    assert run_gc(store, temporaries=False)["steps"]["expired_predictions"] == preview
    assert {p["id"] for p in log.parts("predictions")} == {straddling, young}
    assert log.parts("feedback") == []
    assert run_gc(store, temporaries=False)["steps"]["expired_predictions"] == []

    collected = run_gc(store, temporaries=False, objects=True, grace=0)["objects"]
    gone = {item["digest"] for item in collected["removed"]}
    assert {digests[old], digests[old_feedback]} <= gone
    assert not {digests[straddling], digests[young]} & gone
    assert fsck(store).ok


def test_the_retention_is_a_setting_and_bad_values_are_refused(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionStore(store, project="default")
    log.write("predictions", "credit", _predictions([3]))
    log.write("predictions", "credit", _predictions([1]))
    monkeypatch.setenv("KEEL_PREDICTIONS_RETENTION_DAYS", "2")
    short = resolve(uri=store.config.uri, objects=store.config.objects)
    assert short.predictions_retention_days == 2.0
    assert short.sources["predictions_retention_days"] == "KEEL_PREDICTIONS_RETENTION_DAYS"
    _keep(store, short.predictions_retention_days)
    (removed,) = expire_predictions(store)
    assert (removed["rows"], removed["parts"]) == (1, 1)
    for bad in (-1, "30", True, float("nan")):
        with pytest.raises(InvalidInput, match="zero or more days"):
            expire_predictions(store, retention_days=bad)
    assert len(log.parts("predictions")) == 1  # refused calls removed nothing
    monkeypatch.setenv("KEEL_PREDICTIONS_RETENTION_DAYS", "-5")
    with pytest.raises(InvalidInput, match="KEEL_PREDICTIONS_RETENTION_DAYS"):
        resolve(uri=store.config.uri, objects=store.config.objects)


def test_gc_through_keel_server_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_PREDICTIONS_RETENTION_DAYS", "30")
    with serve_local(tmp_path, ("admin",)) as served:
        with served.local() as local:
            local.predictions.write("predictions", "credit", _predictions([40, 31]))
            local.predictions.write("predictions", "credit", _predictions([2]))
        with served.remote("admin") as admin:
            (removed,) = admin.gc(dry_run=True)["steps"]["expired_predictions"]
            assert (removed["name"], removed["kind"], removed["rows"]) == (
                "credit",
                "predictions",
                2,
            )
            assert admin.gc()["steps"]["expired_predictions"] == [removed]
            assert len(admin.predictions.parts("predictions")) == 1
        with served.local() as local:
            local.predictions.write("predictions", "credit", _predictions([90]))
        env = {"KEEL_URI": served.config.uri, "KEEL_PREDICTIONS_RETENTION_DAYS": "30"}
        done = run_keel("gc", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert "removed 1 logged prediction and 0 feedback rows" in done.stdout
        assert "older than predictions_retention_days (of 1 deployment)" in done.stdout
