"""Service health recorded by the model server itself: real ``keel serve`` processes with a
short ``serve_health_seconds``, good and bad requests, the stored rows, the stats route,
the CLI, two workers summed, a store away for an interval, and the shutdown flush."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from keel.client import Client
from keel.config import resolve
from keel.serving import create_app, serve_in_thread
from keel.serving._health import HealthRecorder
from keel.store import schema as t
from tests._cli import run_keel
from tests.conftest import live_server

from .conftest import make_project
from .test_cli import _start

GOOD = [{"income": 61.5, "debt": 0.82}]
FAILS = [{"income": None, "debt": 0.5}]  # NaN: LogisticRegression raises, a 500
REFUSED = [{"income": "lots", "debt": 0.5}]  # not a float: the signature refuses, a 422
SPEC = "name: credit-scoring\nmodel: credit\nroutes:\n  - {version: '@champion', weight: 100}\n"


def _client(folder: Path) -> Client:
    return Client(
        config=resolve(uri=f"sqlite:///{folder / 'keel.db'}", objects=str(folder / "objects"))
    )


def _rows(client: Client, deployment: str = "credit-scoring") -> list[dict[str, Any]]:
    h = t.service_health
    with client.store.read() as conn:
        found = conn.execute(sa.select(h).where(h.c.deployment == deployment))
        return [dict(row._mapping) for row in found]


def _totals(rows: list[dict[str, Any]]) -> tuple[int, int, int]:
    return (
        sum(r["requests"] for r in rows),
        sum(r["errors"] for r in rows),
        sum(r["client_errors"] for r in rows),
    )


def _until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.1)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    make_project(tmp_path).close()
    (tmp_path / "credit.yaml").write_text(SPEC)
    return {
        "KEEL_URI": f"sqlite:///{tmp_path / 'keel.db'}",
        "KEEL_OBJECTS": str(tmp_path / "objects"),
        "KEEL_SERVE_HEALTH_SECONDS": "0.3",
    }


def test_a_served_deployment_records_its_errors_every_interval(
    env: dict[str, str], tmp_path: Path
) -> None:
    process, url = _start([str(tmp_path / "credit.yaml")], env, tmp_path)
    try:
        with httpx.Client(base_url=url) as http:
            statuses = [http.post("/predict", json=body).status_code for body in [GOOD] * 6]
            statuses += [http.post("/predict", json=FAILS).status_code for _ in range(2)]
            statuses.append(http.post("/predict", json=REFUSED).status_code)
            statuses.append(http.post("/predict", content=b"{not json").status_code)
        assert statuses == [200] * 6 + [500, 500, 422, 400]
        with _client(tmp_path) as client:  # written by the server at the next interval
            rows = _until(lambda: (r := _rows(client)) and _totals(r)[0] == 10 and r)
            assert _totals(rows) == (10, 2, 2)
            by_version = {r["model_version"] for r in rows if r["requests"]}
            assert by_version == {"credit:1", ""}  # bad JSON is refused before routing
            assert all(r["start_ms"] <= r["end_ms"] for r in rows)
            assert any(r["p99_ms"] is not None for r in rows)
            # a quiet interval is recorded as quiet: rows of zeros keep coming
            quiet = _until(lambda: [r for r in _rows(client) if r["requests"] == 0])
            assert quiet[0]["model_version"] == "credit:1"
            points = client.deployments.stats("credit-scoring")["points"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    server = [p for p in points if p["source"] == "server"]
    assert sum(p["requests"] for p in server) == 10
    busy = [p for p in server if p["errors"]]
    assert sum(p["errors"] for p in busy) == 2
    assert all(p["error_rate"] == p["errors"] / p["requests"] for p in busy)
    assert all(p["workers"] == 1 for p in server)
    # the REST route answers the same, and the CLI shows it
    config = resolve(uri=env["KEEL_URI"], objects=env["KEEL_OBJECTS"])
    with live_server(config) as platform:
        answer = httpx.get(f"{platform}/api/v1/projects/default/deployments/credit-scoring/stats")
    assert answer.status_code == 200
    served = [p for p in answer.json()["points"] if p["source"] == "server"]
    assert sum(p["requests"] for p in served) == 10
    assert sum(p["errors"] for p in served) == 2
    assert sum(p["client_errors"] for p in served) == 2
    shown = run_keel("deploy", "stats", "credit-scoring", "--json", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    listed = [p for p in json.loads(shown.stdout)["points"] if p["source"] == "server"]
    assert sum(p["errors"] for p in listed) == 2
    table = run_keel("deploy", "stats", "credit-scoring", cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    assert "server" in table.stdout
    assert "4xx" in table.stdout


def test_two_workers_each_write_and_the_stats_sum_them(env: dict[str, str], tmp_path: Path) -> None:
    process, url = _start([str(tmp_path / "credit.yaml"), "--workers", "2"], env, tmp_path)
    try:
        sent = 40
        for i in range(sent):  # a new connection each: the kernel spreads them over workers
            body = FAILS if i % 10 == 0 else GOOD
            httpx.post(f"{url}/predict", json=body)
        with _client(tmp_path) as client:
            rows = _until(lambda: (r := _rows(client)) and _totals(r)[0] == sent and r)
            assert _totals(rows) == (sent, 4, 0)
            assert len({r["worker"] for r in rows}) == 2
            # every worker writes each interval (zeros when idle): some points sum two
            _until(
                lambda: any(
                    p["workers"] == 2
                    for p in client.deployments.stats("credit-scoring")["points"]
                    if p["source"] == "server"
                )
            )
            points = client.deployments.stats("credit-scoring", limit=1000)["points"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    server = [p for p in points if p["source"] == "server"]
    assert sum(p["requests"] for p in server) == sent
    assert sum(p["errors"] for p in server) == 4
    # one point per interval, told by its start (each interval's rows start within it; a
    # worker's late flush on a loaded machine can end two intervals' rows at one moment)
    assert len({p["start"] for p in server}) == len(server)


def test_shutdown_writes_the_last_interval(tmp_path: Path) -> None:
    with make_project(tmp_path) as client:
        app = create_app("credit@champion", client, health_seconds=3600)
        with serve_in_thread(app) as url, httpx.Client(base_url=url) as http:
            assert http.post("/predict", json=GOOD).status_code == 200
            assert http.post("/predict", json=FAILS).status_code == 500
            assert _rows(client, "credit") == []  # an hour-long interval: nothing yet
        rows = _rows(client, "credit")
        assert _totals(rows) == (2, 1, 0)
        assert [r["model_version"] for r in rows] == ["credit:1"]


class _Unreachable:
    """The store's record_health behind a link that is down while ``down`` is set, or that
    loses the answer after the store recorded the rows (the writer cannot tell which)."""

    def __init__(self, client: Client, name: str) -> None:
        self.client, self.name = client, name
        self.down = self.lose_answer = False
        self.failures = 0

    def __call__(self, rows: list[dict[str, Any]]) -> int:
        if self.down:
            self.failures += 1
            raise ConnectionError("connection refused")
        recorded = self.client.deployments.record_health(self.name, rows)
        if self.lose_answer:
            self.lose_answer = False
            self.failures += 1
            raise TimeoutError("the answer was lost")
        return recorded


def test_a_store_away_for_an_interval_loses_no_count_and_counts_none_twice(
    tmp_path: Path,
) -> None:
    with make_project(tmp_path) as client:
        link = _Unreachable(client, "credit-scoring")
        recorder = HealthRecorder(link, interval=0.2, served=lambda: ["credit:1"])
        recorder.start()
        try:
            link.down = True
            for _ in range(5):
                recorder.observe("credit:1", 200, 0.002)
            recorder.observe("credit:1", 503, 0.001)
            _until(lambda: link.failures >= 2)  # two intervals while the store is away
            assert _rows(client) == []
            link.down = False
            _until(lambda: not recorder.pending and _rows(client))
            assert _totals(_rows(client)) == (6, 1, 0)
            link.lose_answer = True  # recorded, but the recorder hears of a failure
            recorder.observe("credit:1", 404, 0.001)
            _until(lambda: link.failures >= 3 and not recorder.pending)
        finally:
            recorder.close()
        assert _totals(_rows(client)) == (7, 1, 1)
        rows = _rows(client)
        assert len({r["id"] for r in rows}) == len(rows)
        # the intervals the store missed are kept as they were, not merged into one
        starts = sorted(r["start_ms"] for r in rows)
        assert len(starts) >= 3


def test_rows_the_store_refuses_for_good_are_dropped_not_retried_forever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from keel.deploy import DeploymentService
    from keel.store.actors import Actor

    with make_project(tmp_path) as client:
        reader = DeploymentService(client.store, actor=Actor("ro", "reader"))
        recorder = HealthRecorder(lambda rows: reader.record_health("credit", rows), interval=60)
        recorder.observe("credit:1", 200, 0.001)
        assert recorder.flush() is True
        assert recorder.pending == []
        assert _rows(client, "credit") == []
    assert "refused 1 rows (PermissionDenied" in caplog.text


def test_a_store_that_hangs_does_not_hold_up_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    import threading

    entered, release = threading.Event(), threading.Event()

    def hangs(rows: list[dict[str, Any]]) -> None:
        entered.set()
        release.wait(60)

    recorder = HealthRecorder(hangs, interval=0.1)
    recorder.observe("credit:1", 200, 0.001)
    recorder.start()
    try:
        assert entered.wait(30)  # the thread's write is stuck in the store
        recorder.observe("credit:1", 200, 0.001)
        recorder.close(timeout=0.2)  # returns instead of waiting for the stuck write
        assert "could not be written before the server stopped" in caplog.text
    finally:
        release.set()


def test_a_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="must be a positive number, not 0"):
        HealthRecorder(lambda rows: None, interval=0)
