"""Two agents on one store (each with its own client and store, as two processes would
have): only the lease holder acts at each tick, the other takes over when the first stops
or dies, and no trigger firing is queued twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest

import keel
from keel.client import Client
from keel.config import Config
from keel.pipelines._records import claim_run, release_run
from keel.server.agent import LEASE, Agent
from keel.store import Store, leases

from ..pipelines.triggering import pipeline, runs

T0 = 1_800_000_000_000  # on the minute
MINUTE = 60_000


def finish(client: Client, run_id: str, *, holder: str) -> None:
    """Execute a run in no time: claim it, end it."""
    if claim_run(client.store, run_id, holder, 60_000):
        release_run(client.store, run_id, holder, "succeeded")


@pytest.fixture
def clients(store: Store, store_config: Config) -> Iterator[list[Client]]:
    opened = [Client(config=store_config) for _ in range(2)]
    yield opened
    for client in opened:
        client.close()


def tick_together(agents: list[Agent], now: int) -> list:
    """Both agents pass at the same moment, each in its own thread."""
    barrier = threading.Barrier(len(agents))
    passes: list = [None] * len(agents)

    def one(i: int) -> None:
        barrier.wait()
        passes[i] = agents[i].run_once(now=now)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(agents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return passes


def test_two_agents_one_acts_and_the_other_takes_over(clients: list[Client]) -> None:
    first_client, second_client = clients
    pipeline(first_client, "minutely", keel.cron("* * * * *"))
    pipeline(first_client, "on-data", keel.on_dataset("credit-train", param="data"))
    a = Agent(first_client, execute=finish, holder="agent-a", lease_seconds=60)
    b = Agent(second_client, execute=finish, holder="agent-b", lease_seconds=60)
    leaders = []
    try:
        for step in range(6):
            if step == 3:
                first_client.datasets.log(pd.DataFrame({"x": [1]}), "credit-train")
            passes = tick_together([a, b], T0 + step * MINUTE)
            assert sum(p.leader for p in passes) == 1, passes
            leaders.append(next(p.holder for p in passes if p.leader))
            idle = next(p for p in passes if not p.leader)
            assert (idle.fired, idle.started, idle.monitors) == ([], [], [])
            a.wait_for_runs(30)
            b.wait_for_runs(30)
        assert len(set(leaders)) == 1  # the lease stays with whoever got it first
        # the leader stops: it gives the lease up and the other leads at its next tick
        leader, other = (a, b) if leaders[0] == "agent-a" else (b, a)
        leader.stop()
        assert leases.holder(first_client.store, LEASE) is None
        for step in range(6, 9):
            assert other.run_once(now=T0 + step * MINUTE).leader
            other.wait_for_runs(30)
        assert not leader.run_once(now=T0 + 9 * MINUTE).leader
    finally:
        a.stop()
        b.stop()
    queued = runs(first_client.store)
    schedule = [r["trigger"]["scheduled_for"] for r in queued if r["pipeline"] == "minutely"]
    # one run per minute after the first was seen, none twice, across both leaders
    assert schedule == [T0 + step * MINUTE for step in range(1, 9)]
    data = [r["params"] for r in queued if r["pipeline"] == "on-data"]
    assert data == [{"data": "credit-train:v1"}]
    assert {r["status"] for r in queued} == {"succeeded"}


def test_when_the_leader_dies_the_other_takes_over_after_its_lease_expires(
    clients: list[Client],
) -> None:
    first_client, second_client = clients
    pipeline(first_client, "minutely", keel.cron("* * * * *"))
    dying = Agent(first_client, execute=finish, holder="dying", lease_seconds=0.5)
    waiting = Agent(second_client, execute=finish, holder="waiting", lease_seconds=0.5)
    try:
        assert dying.run_once(now=T0).leader
        assert not waiting.run_once(now=T0 + MINUTE).leader
        # "dying" stops ticking without giving the lease up (a crash); "waiting" keeps
        # ticking and leads once the lease has run out
        deadline = time.monotonic() + 30
        while not waiting.run_once(now=T0 + MINUTE).leader:
            assert time.monotonic() < deadline, "the lease never expired"
            time.sleep(0.05)
        assert len(waiting.last.fired) == 1
        assert not dying.run_once(now=T0 + 2 * MINUTE).leader  # it came back: too late
    finally:
        waiting.stop()
        dying.stop()
    assert len(runs(first_client.store)) == 1


def test_agents_started_in_threads_lead_one_at_a_time(clients: list[Client]) -> None:
    """The real loops (start/stop), each ticking on its own: still one firing per minute."""
    first_client, second_client = clients
    pipeline(first_client, "minutely", keel.cron("* * * * *"))
    clock = {"now": T0}
    agents = [
        Agent(c, execute=finish, tick_seconds=0.05, lease_seconds=5, clock=lambda: clock["now"])
        for c in clients
    ]
    for agent in agents:
        agent.start()
    try:
        deadline = time.monotonic() + 30
        while not _trigger_states(first_client.store):  # first seen at T0
            assert time.monotonic() < deadline, "the agents never looked at the trigger"
            time.sleep(0.05)
        for minute in range(1, 4):
            clock["now"] = T0 + minute * MINUTE
            while len(runs(first_client.store)) < minute:
                assert time.monotonic() < deadline, "the agents never fired"
                time.sleep(0.05)
            time.sleep(0.3)  # several more ticks of both agents within the same minute
    finally:
        for agent in agents:
            agent.stop()
    assert len(runs(first_client.store)) == 3
    assert leases.holder(second_client.store, LEASE) is None


def _trigger_states(store: Store) -> int:
    import sqlalchemy as sa

    from keel.store import schema as t

    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.trigger_state)).scalar()
