"""Recording service health rows and reading them back as ``server`` points: on SQLite and
PostgreSQL, directly and through ``keel server`` (roles, a retried row skipped, bad rows
refused with nothing written)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keel.config import Config
from keel.deploy import DeploymentService, DeploymentSpec
from keel.errors import InvalidInput, NotFound, PermissionDenied
from keel.store import Store, new_id
from tests._served import Served, serve_store

from .conftest import register_credit

PROJECT = "credit"
BUCKET = 1_796_659_200_000


def _row(worker: str, bucket: int = BUCKET, **values: Any) -> dict[str, Any]:
    row = {
        "id": new_id(),
        "worker": worker,
        "model_version": "credit:1",
        "bucket_ms": bucket,
        "start_ms": bucket,
        "end_ms": bucket + 60_000,
        "requests": 100,
        "errors": 2,
        "client_errors": 5,
        "p50_ms": 2.0,
        "p99_ms": 8.0,
    }
    return row | values


def _spec(name: str = "credit-scoring") -> DeploymentSpec:
    return DeploymentSpec.for_model("credit@champion", name=name)


def test_rows_of_two_workers_are_one_point_per_interval(store: Store) -> None:
    register_credit(store)
    service = DeploymentService(store)
    service.apply(_spec())
    first = [_row("a:1"), _row("b:2", requests=300, errors=1, p50_ms=4.0, p99_ms=20.0)]
    later = [_row("a:1", BUCKET + 60_000, requests=0, errors=0, client_errors=0, p50_ms=None)]
    assert service.record_health("credit-scoring", first + later) == 3
    assert service.record_health("credit-scoring", first) == 0  # a retry: nothing twice
    points = [p for p in service.stats("credit-scoring")["points"] if p["source"] == "server"]
    assert len(points) == 2
    busy, quiet = points
    assert (busy["requests"], busy["errors"], busy["client_errors"]) == (400, 3, 10)
    assert busy["error_rate"] == 3 / 400
    assert busy["workers"] == 2
    assert busy["p99_ms"] == 20.0  # the highest of the workers'
    assert busy["p50_ms"] == pytest.approx((2.0 * 100 + 4.0 * 300) / 400)
    assert busy["throughput_rps"] == pytest.approx(400 / 60)
    assert (busy["start"], busy["at"]) == (BUCKET, BUCKET + 60_000)
    assert (quiet["requests"], quiet["error_rate"], quiet["workers"]) == (0, None, 1)
    assert service.stats("credit-scoring", limit=1)["points"] == [quiet]


def test_an_unrecorded_deployment_with_health_rows_has_stats(store: Store) -> None:
    service = DeploymentService(store)
    with pytest.raises(NotFound, match="No deployment 'credit'"):
        service.stats("credit")
    service.record_health("credit", [_row("a:1")])  # keel serve credit@champion, unapplied
    assert [p["source"] for p in service.stats("credit")["points"]] == ["server"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"requests": -1}, "'requests' = '-1' is not valid: a whole number, 0 or more"),
        ({"errors": 90, "client_errors": 20}, "errors and client_errors together are at most"),
        ({"end_ms": BUCKET - 1}, "'end_ms' .* not before start_ms"),
        ({"p99_ms": float("nan")}, "'p99_ms' = 'nan' is not valid: a finite number"),
        ({"worker": ""}, "'worker' = '' is not valid: a text of 1-100 characters"),
        ({"requests": True}, "'requests' = 'True' is not valid"),
    ],
)
def test_a_bad_row_is_refused_and_nothing_is_written(
    store: Store, change: dict[str, Any], match: str
) -> None:
    service = DeploymentService(store)
    with pytest.raises(InvalidInput, match=match):
        service.record_health("credit", [_row("a:1"), _row("a:1") | change])
    with pytest.raises(NotFound):
        service.stats("credit")


def test_too_many_rows_or_not_a_list_are_refused(store: Store) -> None:
    service = DeploymentService(store)
    with pytest.raises(InvalidInput, match="At most 1000 service health rows per call, got 1001"):
        service.record_health("credit", [_row("a:1")] * 1001)
    with pytest.raises(InvalidInput, match="a list of mappings"):
        service.record_health("credit", {"id": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="A deployment name is 1-200 characters"):
        service.record_health("", [_row("a:1")])


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    with serve_store(
        store_config,
        tmp_path,
        ("reader", "writer"),
        project=PROJECT,
        prepare=lambda client: register_credit(client.store, PROJECT),
    ) as live:
        yield live


def test_through_keel_server_writers_record_and_readers_read(served: Served) -> None:
    rows = [_row("a:1"), _row("b:2")]
    with served.remote("writer") as writer, served.remote("reader") as reader:
        writer.deployments.apply(_spec())
        assert writer.deployments.record_health("credit-scoring", rows) == 2
        assert writer.deployments.record_health("credit-scoring", rows) == 0
        with pytest.raises(PermissionDenied):
            reader.deployments.record_health("credit-scoring", [_row("c:3")])
        remote = reader.deployments.stats("credit-scoring")
    with served.local() as local:
        assert local.deployments.stats("credit-scoring") == remote
    (point,) = remote["points"]
    assert (point["source"], point["requests"], point["errors"], point["workers"]) == (
        "server",
        200,
        4,
        2,
    )
    api = f"{served.url}/api/v1/projects/{PROJECT}/deployments/credit-scoring/health"
    bad = httpx.post(
        api, json={"rows": [_row("a:1", requests=-5)]}, headers=served.headers("writer")
    )
    assert bad.status_code == 422
    assert "requests" in bad.text
