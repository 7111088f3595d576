"""A small real project for the dashboard's Pipelines pages: real pipeline runs of
``tests.pipelines.flows`` (importable, so the agent can resume them): a succeeded run, a
second one whose first step came from the cache, a failed run, and a run waiting for a
pending approval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keel.client import Client
from keel.config import Config, resolve
from keel.store import init_project
from tests.pipelines import flows

__all__ = ["fill_pipelines"]


def fill_pipelines(folder: Path) -> tuple[Config, dict[str, Any]]:
    """Build the project in ``folder``; its configuration and the runs the tests look for."""
    config = resolve(
        uri=f"sqlite:///{folder / 'keel.db'}",
        objects=str(folder / "objects"),
        fsync=False,
        agent_tick_seconds=0,  # the tests run the agent's passes themselves
    )
    init_project(folder, config).close()
    with Client(config=config) as client:
        first = flows.retrain.run({"month": 3, "c": 1.0}, client=client)
        cached = flows.retrain.run({"month": 3, "c": 0.5}, client=client)  # load: a cache hit
        failed = flows.unreliable.run(
            {"counter": str(folder / "counter.txt"), "failures": 5}, client=client
        )
        waiting = flows.approve_then_promote.run({"n": 4}, client=client)
        (approval,) = client.approvals.list(status="pending")
    assert [first.status, cached.status, failed.status, waiting.status] == [
        "succeeded",
        "succeeded",
        "failed",
        "waiting",
    ]
    facts = {
        "first": first.id,
        "cached": cached.id,
        "failed": failed.id,
        "waiting": waiting.id,
        "approval": approval.id,
    }
    return config, facts
