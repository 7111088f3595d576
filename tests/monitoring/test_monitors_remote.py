"""Monitors through ``keel server``: the same results as a local client, roles, and clear
4xx answers for client mistakes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from keel.client import Client
from keel.errors import InvalidInput, NotFound, PermissionDenied
from keel.monitoring import parse_monitor_text
from keel.server import TokenService
from tests.conftest import live_server

from .conftest import HOUR, T0, log_window, make_project
from .test_monitors import SPEC

API = "/api/v1/projects/default/monitors"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, str, dict]]:
    client = make_project(tmp_path_factory.mktemp("remote"))
    log_window(client, T0, 1000, 1, labels=0.5)
    log_window(client, T0 + HOUR, 1000, 2, shift=0.5)
    service = TokenService(client.store)
    tokens = {role: service.create(f"{role}-token", role)[1] for role in ("reader", "writer")}
    with live_server(client.config, auth=True) as url:
        yield client, url, tokens
    client.close()


def remote(served, role: str) -> Client:
    _, url, tokens = served
    return Client(url, project="default", token=tokens[role])


def test_a_server_evaluates_as_a_local_client_does(served):
    local = served[0]
    spec = parse_monitor_text(SPEC)
    with remote(served, "writer") as writer:
        applied = writer.monitors.apply(spec)
        assert applied["name"] == "credit-drift"
        assert writer.monitors.get("credit-drift") == spec
        result = writer.monitors.run("credit-drift", now_ms=T0 + 2 * HOUR)
        mine = local.monitors.run("credit-drift", now_ms=T0 + 2 * HOUR)
        assert result.findings == mine.findings
        assert not result.passed
        backfilled = writer.monitors.backfill("credit-drift", T0, T0 + 2 * HOUR)
        assert [r.window_end for r in backfilled] == [T0 + HOUR, T0 + 2 * HOUR]
        stored = writer.monitors.results("credit-drift", limit=10)
        assert stored[0].id == backfilled[1].id  # newest window first; the newest run first
        assert [r.window_end for r in stored] == [T0 + 2 * HOUR] * 3 + [T0 + HOUR]


def test_a_reader_reads_and_cannot_change(served):
    served[0].monitors.apply(parse_monitor_text(SPEC.replace("credit-drift", "for-readers")))
    with remote(served, "reader") as reader:
        assert "for-readers" in [m["name"] for m in reader.monitors.list()]
        assert reader.monitors.get("for-readers").deployment == "credit-scoring"
        reader.monitors.results("for-readers")
        with pytest.raises(PermissionDenied):
            reader.monitors.run("for-readers")
        with pytest.raises(PermissionDenied):
            reader.monitors.apply(parse_monitor_text(SPEC))


def test_client_mistakes_get_clear_4xx_answers(served):
    _, url, tokens = served
    headers = {"Authorization": f"Bearer {tokens['writer']}"}
    bad = SPEC.replace("min: 0.6", "max: 0.6")
    answer = httpx.post(url + API, json={"yaml": bad, "source": "m.yaml"}, headers=headers)
    assert answer.status_code == 422
    assert "m.yaml line 7 (performance.max)" in answer.json()["message"]
    answer = httpx.post(url + API + "/nope/run", headers=headers)
    assert answer.status_code == 404
    answer = httpx.post(
        url + API + "/x/backfill", json={"from_ms": -1, "to_ms": 3}, headers=headers
    )
    assert answer.status_code == 422
    with remote(served, "writer") as writer:
        with pytest.raises(NotFound, match="No monitor 'nope'"):
            writer.monitors.results("nope")
        writer.monitors.apply(parse_monitor_text(SPEC.replace("credit-drift", "long")))
        with pytest.raises(InvalidInput, match="at most 1000"):
            writer.monitors.backfill("long", 0, 5000 * HOUR)
