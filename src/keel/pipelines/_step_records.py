"""Step run rows: one write when a step starts, one when it ends (with its lineage edges),
the cache lookup, and what a resumed run keeps."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.lineage import record_edges
from keel.store.rows import dialect_insert

__all__ = [
    "cache_hit",
    "finish_step",
    "finished_steps",
    "insert_run",
    "project_of_run",
    "start_step",
]

_LINKED = ("dataset_version", "model_version")
_INSERT_STEP = t.step_runs.insert()
_FINISH_STEP = (
    t.step_runs.update()
    .where(t.step_runs.c.id == sa.bindparam("step_run_id"))
    .values(
        status=sa.bindparam("status"),
        outputs=sa.bindparam("outputs", type_=t.step_runs.c.outputs.type),
        error=sa.bindparam("error"),
        log_digest=sa.bindparam("log_digest"),
        attempt=sa.bindparam("attempt"),
        ended_at=sa.bindparam("ended_at"),
        run_id=sa.bindparam("run_id"),
    )
)


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
        conn.execute(_INSERT_STEP, values)  # a prebuilt statement: compiled once
        # the trace from what started the run (an alert, new data) down to each step
        record_edges(
            store, [("pipeline_run", pipeline_run_id, "ran", "step_run", step_run_id)], conn=conn
        )
    return step_run_id


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
    run_id: str | None = None,
) -> None:
    """Record how a step ended, and its lineage: inputs -> step run -> outputs; ``run_id``
    is the tracking run the step started, if any."""
    edges = []
    for ref in inputs.values():
        if ref.get("kind") in _LINKED and ref.get("id"):
            edges.append((ref["kind"], ref["id"], "input_to", "step_run", step_run_id))
    for ref in (outputs or {}).values():
        if ref.get("kind") in _LINKED and ref.get("id"):
            edges.append(("step_run", step_run_id, "produced", ref["kind"], ref["id"]))
    with store.write() as conn:
        objects = [
            {"digest": d, "size": store.objects.size(d), "media_type": m, "created_at": now_ms()}
            for d, m in _objects(outputs, log_digest)
        ]
        if objects:
            conn.execute(_insert_ignore(conn, t.objects), objects)
        conn.execute(
            _FINISH_STEP,
            {
                "step_run_id": step_run_id,
                "status": status,
                "outputs": outputs,
                "error": error,
                "log_digest": log_digest,
                "attempt": attempt,
                "ended_at": now_ms(),
                "run_id": run_id,
            },
        )
        if edges:
            record_edges(store, edges, conn=conn)


_IGNORING: dict[tuple[str, str], Any] = {}


def _insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT ... ON CONFLICT DO NOTHING for ``table``, built once per database kind."""
    key = (conn.dialect.name, table.name)
    found = _IGNORING.get(key)
    if found is None:
        found = _IGNORING[key] = dialect_insert(conn, table).on_conflict_do_nothing()
    return found


def _objects(outputs: dict[str, Any] | None, log_digest: str | None) -> list[tuple[str, str]]:
    """Objects a step wrote that the metadata must record (JSON outputs, its log)."""
    found = [
        (ref["digest"], "application/json")
        for ref in (outputs or {}).values()
        if ref.get("kind") == "json" and ref.get("digest")
    ]
    if log_digest:
        found.append((log_digest, "text/plain"))
    return found


def _cache_query() -> sa.Select:
    s, r, p = t.step_runs, t.pipeline_runs, t.pipelines
    return (
        sa.select(s.c.id, s.c.cached_from, s.c.outputs)
        .join(r, r.c.id == s.c.pipeline_run_id)
        .join(p, p.c.id == r.c.pipeline_id)
        .where(
            s.c.cache_key == sa.bindparam("key"),
            s.c.status == "succeeded",
            p.c.project_id == sa.bindparam("project_id"),
        )
        .order_by(s.c.ended_at.desc())
        .limit(1)
    )


_CACHE_HIT = _cache_query()


def cache_hit(store: Store, project_id: str, key: str) -> dict[str, Any] | None:
    """The newest succeeded step run of the project with cache key ``key``: id, outputs."""
    with store.read() as conn:
        row = conn.execute(_CACHE_HIT, {"key": key, "project_id": project_id}).first()
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


def project_of_run(store: Store, run_id: str) -> str | None:
    """The name of the project pipeline run ``run_id`` belongs to, or None."""
    r, p, pr = t.pipeline_runs, t.pipelines, t.projects
    with store.read() as conn:
        return conn.execute(
            sa.select(pr.c.name)
            .join(p, p.c.project_id == pr.c.id)
            .join(r, r.c.pipeline_id == p.c.id)
            .where(r.c.id == run_id)
        ).scalar()
