"""Step run rows: one write when a step starts, one when it ends (with its lineage edges),
the cache lookup, and what a resumed run keeps."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.lineage import record_edges

__all__ = [
    "cache_hit",
    "finish_step",
    "finished_steps",
    "insert_run",
    "start_step",
]

_LINKED = ("dataset_version", "model_version")


def insert_run(
    store: Store,
    pipeline_id: str,
    *,
    holder: str,
    lease_ms: int,
    params: dict[str, Any],
    options: dict[str, Any],
    trigger: dict[str, Any] | None = None,
) -> str:
    """A run this process executes now: recorded ``running``, its lease held by ``holder``."""
    run_id = new_id()
    now = now_ms()
    with store.write() as conn:
        conn.execute(
            t.pipeline_runs.insert().values(
                id=run_id,
                pipeline_id=pipeline_id,
                status="running",
                trigger=trigger or {"kind": "manual"},
                params=params,
                options=options,
                created_at=now,
                started_at=now,
                lease_holder=holder,
                lease_expires_at=now + lease_ms,
            )
        )
    return run_id


def start_step(
    store: Store,
    pipeline_run_id: str,
    step: str,
    *,
    status: str = "running",
    cache_key: str | None,
    code_hash: str,
    params: dict[str, Any],
    inputs: dict[str, Any],
    outputs: dict[str, Any] | None = None,
    cached_from: str | None = None,
) -> str:
    """Record a step starting (or, with ``cached_from``, finished from the cache); its id."""
    step_run_id = new_id()
    now = now_ms()
    values = {
        "id": step_run_id,
        "pipeline_run_id": pipeline_run_id,
        "step": step,
        "status": status,
        "attempt": 1,
        "cache_key": cache_key,
        "code_hash": code_hash,
        "params": params,
        "inputs": inputs,
        "outputs": outputs,
        "cached_from": cached_from,
        "created_at": now,
        "started_at": now,
        "ended_at": now if status != "running" else None,
    }
    with store.write() as conn:
        conn.execute(t.step_runs.insert().values(**values))
        if cached_from is not None:
            record_edges(store, [_ran(pipeline_run_id, step_run_id)], conn=conn)
    return step_run_id


def _ran(pipeline_run_id: str, step_run_id: str) -> tuple[str, str, str, str, str]:
    return ("pipeline_run", pipeline_run_id, "ran", "step_run", step_run_id)


def finish_step(
    store: Store,
    pipeline_run_id: str,
    step_run_id: str,
    *,
    status: str,
    inputs: dict[str, Any],
    outputs: dict[str, Any] | None,
    error: str | None,
    log_digest: str | None,
    attempt: int,
) -> None:
    """Record how a step ended, and its lineage: inputs -> step run -> outputs."""
    edges = [_ran(pipeline_run_id, step_run_id)]
    for ref in inputs.values():
        if ref.get("kind") in _LINKED and ref.get("id"):
            edges.append((ref["kind"], ref["id"], "input_to", "step_run", step_run_id))
    for ref in (outputs or {}).values():
        if ref.get("kind") in _LINKED and ref.get("id"):
            edges.append(("step_run", step_run_id, "produced", ref["kind"], ref["id"]))
    with store.write() as conn:
        conn.execute(
            t.step_runs.update()
            .where(t.step_runs.c.id == step_run_id)
            .values(
                status=status,
                outputs=outputs,
                error=error,
                log_digest=log_digest,
                attempt=attempt,
                ended_at=now_ms(),
            )
        )
        record_edges(store, edges, conn=conn)


def cache_hit(store: Store, project_id: str, key: str) -> dict[str, Any] | None:
    """The newest succeeded step run of the project with cache key ``key``: id, outputs."""
    s, r, p = t.step_runs, t.pipeline_runs, t.pipelines
    with store.read() as conn:
        row = conn.execute(
            sa.select(s.c.id, s.c.cached_from, s.c.outputs)
            .join(r, r.c.id == s.c.pipeline_run_id)
            .join(p, p.c.id == r.c.pipeline_id)
            .where(s.c.cache_key == key, s.c.status == "succeeded", p.c.project_id == project_id)
            .order_by(s.c.ended_at.desc())
            .limit(1)
        ).first()
    if row is None or row.outputs is None:
        return None
    return {"id": row.cached_from or row.id, "outputs": row.outputs}


def finished_steps(store: Store, pipeline_run_id: str) -> dict[str, dict[str, Any]]:
    """Steps of a run whose latest step run succeeded: step -> {id, outputs}."""
    s = t.step_runs
    latest: dict[str, Any] = {}
    with store.read() as conn:
        for row in conn.execute(
            sa.select(s.c.id, s.c.step, s.c.status, s.c.outputs)
            .where(s.c.pipeline_run_id == pipeline_run_id)
            .order_by(s.c.created_at, s.c.id)
        ):
            latest[row.step] = row
    return {
        step: {"id": row.id, "outputs": row.outputs or {}}
        for step, row in latest.items()
        if row.status == "succeeded"
    }
