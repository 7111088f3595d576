"""The agent's pass: stale runs expire, triggers queue runs, queued and resumable runs go
to at most ``max_runs`` workers through ``execute`` (a real function here that claims and
releases runs for real, standing in for keel.pipelines.execute_run)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import keel
from keel.client import Client
from keel.config import Config
from keel.errors import ConfigError, InvalidInput
from keel.pipelines._records import claim_run, release_run, submit_run
from keel.pipelines._waiting import resumable_runs
from keel.server.agent import LEASE, Agent
from keel.store import Store, leases, new_id, now_ms
from keel.store import schema as t

from ..pipelines.triggering import pipeline, runs


@pytest.fixture
def client(store: Store, store_config: Config) -> Iterator[Client]:
    opened = Client(config=store_config)
    yield opened
    opened.close()


class Executor:
    """Claims each run it is given, waits until ``go`` is set, then ends it as ``status``."""

    def __init__(self, status: str = "succeeded") -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.go = threading.Event()
        self.status = status
        self._lock = threading.Lock()

    def __call__(self, client: Client, run_id: str, *, holder: str) -> None:
        with self._lock:
            self.calls.append((client.config.project, run_id, holder))
        if not claim_run(client.store, run_id, holder, 60_000):
            return
        self.go.wait(30)
        if self.status == "raise":
            raise RuntimeError("the executor broke")
        release_run(client.store, run_id, holder, self.status)


def status_of(store: Store, run_id: str) -> dict[str, Any]:
    r = t.pipeline_runs
    with store.read() as conn:
        return dict(conn.execute(sa.select(r).where(r.c.id == run_id)).mappings().one())


def test_queued_runs_go_to_at_most_max_runs_workers_oldest_first(client: Client) -> None:
    pipeline(client, "train")
    client.create_project("other")
    pipeline(client, "score", project="other")
    ids = [submit_run(client.store, "default", "train") for _ in range(2)]
    ids.append(submit_run(client.store, "other", "score"))
    execute = Executor()
    agent = Agent(client, max_runs=2, execute=execute)
    try:
        first = agent.run_once()
        assert first.leader
        assert [(s["id"], s["pipeline"], s["resumed"]) for s in first.started] == [
            (ids[0], "train", False),
            (ids[1], "train", False),
        ]
        assert sorted(agent.running()) == sorted(ids[:2])
        assert agent.run_once().started == []  # no free slot: the third waits
        assert status_of(client.store, ids[2])["status"] == "queued"
        execute.go.set()
        assert agent.wait_for_runs(30)
        [third] = agent.run_once().started
        assert third["id"] == ids[2]
        assert agent.wait_for_runs(30)
    finally:
        agent.stop()
    assert [status_of(client.store, i)["status"] for i in ids] == ["succeeded"] * 3
    # each run was given once, with a client of its project and the agent's name
    projects = ["default", "default", "other"]
    assert sorted(execute.calls) == sorted(zip(projects, ids, [agent.holder] * 3, strict=True))
    assert agent.run_once().started == []


def test_a_run_whose_executor_raises_is_failed_not_left_running(client: Client) -> None:
    pipeline(client, "train")
    run_id = submit_run(client.store, "default", "train")
    execute = Executor(status="raise")
    execute.go.set()
    agent = Agent(client, execute=execute)
    try:
        assert [s["id"] for s in agent.run_once().started] == [run_id]
        assert agent.wait_for_runs(30)
    finally:
        agent.stop()
    row = status_of(client.store, run_id)
    assert row["status"] == "failed"
    assert row["error"] == "the agent could not execute it: RuntimeError: the executor broke"
    assert row["lease_holder"] is None


def _approval(store: Store, run_id: str, title: str, status: str, timeout_at: int | None):
    with store.write() as conn:
        conn.execute(
            t.pipeline_approvals.insert().values(
                id=new_id(),
                project_id=store.project_id("default"),
                pipeline_run_id=run_id,
                step="promote",
                title=title,
                status=status,
                requested_at=now_ms(),
                timeout_at=timeout_at,
            )
        )


def _waiting(store: Store) -> str:
    run_id = submit_run(store, "default", "train")
    with store.write() as conn:
        r = t.pipeline_runs
        conn.execute(r.update().where(r.c.id == run_id).values(status="waiting"))
    return run_id


def test_waiting_runs_resume_once_no_approval_is_pending(client: Client) -> None:
    store = client.store
    pipeline(client, "train")
    now = now_ms()
    pending = _waiting(store)
    _approval(store, pending, "promote", "pending", None)
    not_yet = _waiting(store)
    _approval(store, not_yet, "promote", "pending", now + 3_600_000)
    _approval(store, not_yet, "check", "approved", None)
    approved = _waiting(store)
    _approval(store, approved, "promote", "approved", None)
    rejected = _waiting(store)
    _approval(store, rejected, "promote", "rejected", None)
    timed_out = _waiting(store)
    _approval(store, timed_out, "promote", "pending", now - 1)
    none = _waiting(store)  # waiting with no approval recorded: nothing holds it back
    expected = [approved, rejected, timed_out, none]
    assert [r["id"] for r in resumable_runs(store, now=now)] == expected
    assert resumable_runs(store, now=now)[0]["pipeline"] == "train"
    # an hour later the second one's approval has timed out too
    later = [r["id"] for r in resumable_runs(store, now=now + 3_600_001)]
    assert later == [not_yet, approved, rejected, timed_out, none]
    # the agent resumes them (resumed runs first) through the same execute
    queued = submit_run(store, "default", "train")
    execute = Executor()
    execute.go.set()
    agent = Agent(client, max_runs=10, execute=execute)
    try:
        started = agent.run_once().started
        assert agent.wait_for_runs(30)
    finally:
        agent.stop()
    assert [(s["id"], s["resumed"]) for s in started] == [(i, True) for i in expected] + [
        (queued, False)
    ]
    assert status_of(store, pending)["status"] == "waiting"
    assert status_of(store, approved)["status"] == "succeeded"


def test_a_run_whose_process_died_is_marked_failed(client: Client) -> None:
    store = client.store
    pipeline(client, "train")
    dead, alive = submit_run(store, "default", "train"), submit_run(store, "default", "train")
    assert claim_run(store, dead, "crashed-host:1:abc", 60_000)
    assert claim_run(store, alive, "busy-host:2:def", 3_600_000)
    with store.write() as conn:  # its process stopped renewing a minute ago
        r = t.pipeline_runs
        conn.execute(r.update().where(r.c.id == dead).values(lease_expires_at=now_ms() - 60_000))
    agent = Agent(client, execute=Executor())
    try:
        done = agent.run_once()
    finally:
        agent.stop()
    assert done.expired == [dead]
    expected = {"what": "expired run", "project": "", "name": dead}
    assert {**expected, "detail": "failed: its lease expired"} in done.rows()
    row = status_of(store, dead)
    assert (row["status"], row["lease_holder"]) == ("failed", None)
    assert "stopped renewing its lease" in row["error"]
    assert status_of(store, alive)["status"] == "running"


def test_triggers_fire_only_while_the_agent_leads(client: Client) -> None:
    pipeline(client, "minutely", keel.cron("* * * * *"))
    clock = {"now": 1_800_000_000_000}
    agent = Agent(client, execute=Executor(), clock=lambda: clock["now"])
    assert leases.acquire(client.store, LEASE, "someone-else", 3_600_000)
    try:
        idle = agent.run_once()
        assert (idle.leader, idle.fired, idle.rows()) == (False, [], [])
        assert runs(client.store) == []
        assert leases.release(client.store, LEASE, "someone-else")
        assert agent.run_once().fired == []  # first seen
        clock["now"] += 60_000
        [fired] = agent.run_once().fired
        assert fired.pipeline == "minutely"
        row = [r for r in agent.last.rows() if r["what"] == "trigger (schedule)"]
        expected = {"what": "trigger (schedule)", "project": "default", "name": "minutely"}
        assert row == [{**expected, "detail": f"queued run {fired.run}"}]
    finally:
        agent.stop()
    assert [r["id"] for r in runs(client.store)] == [fired.run]
    assert leases.holder(client.store, LEASE) is None  # stop gave it up


def test_bad_arguments_say_what_is_wrong(client: Client, store_config: Config) -> None:
    with pytest.raises(InvalidInput, match="max_runs must be a positive whole number, not 0"):
        Agent(client, max_runs=0)
    with pytest.raises(InvalidInput, match="lease_seconds must be a positive number of seconds"):
        Agent(client, lease_seconds=-1)
    with pytest.raises(InvalidInput, match="tick_seconds must be a positive number of seconds"):
        Agent(client, tick_seconds=0)
    with pytest.raises(InvalidInput, match="not 'fast'"):
        Agent(client, tick_seconds="fast")
    assert leases.holder(client.store, LEASE) is None  # nothing was taken
    remote = Client("http://127.0.0.1:9", project="default")
    with pytest.raises(ConfigError, match="The agent works on the store itself"):
        Agent(remote)
    remote.close()


def test_the_rest_api_says_which_agent_leads(tmp_path) -> None:
    import dataclasses
    import time

    import httpx

    from keel.server.tokens import TokenService
    from keel.store import init_project
    from tests.conftest import live_server

    config = dataclasses.replace(
        keel.config.resolve(
            uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=str(tmp_path / "o"), fsync=False
        ),
        agent_tick_seconds=0.1,
    )
    with init_project(tmp_path, config) as store:
        reader = TokenService(store).create("reader", "reader")[1]
    with live_server(config, auth=True) as url:
        assert httpx.get(f"{url}/api/v1/agent").status_code == 401
        deadline = time.monotonic() + 30
        while not (body := httpx.get(f"{url}/api/v1/agent", headers=_bearer(reader)).json())[
            "this_server"
        ]["leading"]:
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        assert body["leader"] == body["this_server"]["holder"]
        assert body["expires_at"] > now_ms()
        assert body["this_server"]["last_pass"] == []  # nothing to do in an empty store
    # the server stopped: its agent gave the lease up
    with Store.open(config) as store:
        assert leases.holder(store, LEASE) is None


def test_the_last_pass_shows_a_scoped_token_its_projects_only() -> None:
    from keel.server.agent import AgentPass
    from keel.server.routes.agent import _visible
    from keel.server.tokens import TokenInfo

    done = AgentPass("me", leader=True, expired=["r1"])
    done.started = [
        {"id": "r2", "project": "credit", "pipeline": "train", "resumed": False},
        {"id": "r3", "project": "fraud", "pipeline": "train", "resumed": True},
    ]

    def seen(projects: tuple[str, ...]) -> list[str]:
        caller = TokenInfo("t", "t", "reader", 0, projects=projects)
        return [r["detail"] for r in done.rows() if _visible(r, caller)]

    assert seen(()) == ["failed: its lease expired", "started r2", "resumed r3"]
    assert seen(("credit",)) == ["started r2"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
