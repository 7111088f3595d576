"""A small real project for the dashboard's Pipelines pages: real pipeline runs of
``tests.pipelines.flows`` (importable, so the agent can resume them): a succeeded run, a
second one whose first step came from the cache, a failed run, and three runs each waiting
for a pending approval (one to approve, one to reject by click, one decided behind the page's
back)."""

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
        to_reject = flows.approve_then_promote.run({"n": 5}, client=client)
        declined = flows.approve_then_promote.run({"n": 6}, client=client)
        approvals = {a.pipeline_run_id: a.id for a in client.approvals.list(status="pending")}
    statuses = [r.status for r in (first, cached, failed, waiting, to_reject, declined)]
    assert statuses == ["succeeded", "succeeded", "failed", "waiting", "waiting", "waiting"]
    facts = {
        "first": first.id,
        "cached": cached.id,
        "failed": failed.id,
        "waiting": waiting.id,
        "approval": approvals[waiting.id],
        "to_reject": to_reject.id,
        "rejection": approvals[to_reject.id],
        "declined": declined.id,
        "decline": approvals[declined.id],
    }
    return config, facts
