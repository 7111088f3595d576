"""Pipeline rows in the store: the records every part of pipelines shares.

A pipeline is one ``pipelines`` row per project and name; its ``spec`` holds the
``entrypoint`` (``module:qualname`` of the ``@keel.pipeline`` function, importable by an
agent), its steps, its typed params and its triggers. Each execution is one
``pipeline_runs`` row: ``queued`` when submitted (by hand, a schedule, new data, an alert),
``running`` while a process holds its lease, ``waiting`` for an approval, and finally
``succeeded``, ``failed`` or ``cancelled``. A process running a run renews its lease; a run
whose lease expired has lost its process and is marked failed by :func:`expire_stale_runs`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.errors import NotFound, did_you_mean
from keel.store import Store, new_id, now_ms
from keel.store import schema as t

__all__ = [
    "FINISHED",
    "RUN_STATUSES",
    "claim_run",
    "expire_stale_runs",
    "find_pipeline",
    "queued_runs",
    "record_pipeline",
    "release_run",
    "renew_lease",
    "runs_where",
    "submit_run",
]

RUN_STATUSES = ("queued", "running", "waiting", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")


def record_pipeline(store: Store, project: str, name: str, spec: dict[str, Any]) -> str:
    """Record pipeline ``name`` with ``spec`` (replacing an older spec); its id."""
    project_id = store.project_id(project)
    p = t.pipelines
    with store.write() as conn:
        found = conn.execute(
            sa.select(p.c.id, p.c.spec).where(p.c.project_id == project_id, p.c.name == name)
        ).first()
        if found is None:
            pipeline_id = new_id()
            conn.execute(
                p.insert().values(
                    id=pipeline_id,
                    project_id=project_id,
                    name=name,
                    spec=spec,
                    created_at=now_ms(),
                )
            )
            return pipeline_id
        if found.spec != spec:
            conn.execute(p.update().where(p.c.id == found.id).values(spec=spec))
        return str(found.id)


def find_pipeline(store: Store, project: str, name: str) -> dict[str, Any]:
    """The pipeline row ``name`` (id, name, spec, created_at).

    Raises:
        NotFound: no pipeline of that name in the project (with the names there are).
    """
    p = t.pipelines
    project_id = store.find_project_id(project)
    with store.read() as conn:
        rows = (
            conn.execute(
                sa.select(p.c.id, p.c.name, p.c.spec, p.c.created_at).where(
                    p.c.project_id == project_id
                )
            )
            .mappings()
            .all()
            if project_id is not None
            else []
        )
    for row in rows:
        if row["name"] == name:
            return dict(row)
    names = sorted(r["name"] for r in rows)
    raise NotFound(
        f"No pipeline named {name!r} in project {project!r}."
        + did_you_mean(name, names)
        + (f" Pipelines: {', '.join(names)}." if names else " Run one first: it is recorded.")
    )


def submit_run(
    store: Store,
    project: str,
    name: str,
    *,
    params: dict[str, Any] | None = None,
    trigger: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> str:
    """Queue a run of pipeline ``name`` with ``params`` checked against its recorded
    params (defaults filled in); its id. Whoever executes queued runs (the agent, or the
    caller) claims it with :func:`claim_run`.

    Raises:
        NotFound: no such pipeline.
        InvalidInput: an unknown param, a missing one, or a value of the wrong type.
    """
    from ._params import check_params

    pipeline = find_pipeline(store, project, name)
    params = check_params(name, (pipeline["spec"] or {}).get("params", {}), params)
    run_id = new_id()
    with store.write() as conn:
        conn.execute(
            t.pipeline_runs.insert().values(
                id=run_id,
                pipeline_id=pipeline["id"],
                status="queued",
                trigger=trigger or {"kind": "manual"},
                params=params,
                options=options or {},
                created_at=now_ms(),
            )
        )
    return run_id


def queued_runs(store: Store, *, limit: int = 100) -> list[dict[str, Any]]:
    """Queued runs of every project, oldest first: id, project, pipeline, entrypoint."""
    return runs_where(store, t.pipeline_runs.c.status == "queued", limit=limit)


def runs_where(store: Store, *conditions: Any, limit: int = 100) -> list[dict[str, Any]]:
    """Runs of every project matching ``conditions`` (on ``pipeline_runs``), oldest first:
    id, project, pipeline, entrypoint, created_at: what an agent needs to execute one."""
    r, p, pr = t.pipeline_runs, t.pipelines, t.projects
    with store.read() as conn:
        rows = conn.execute(
            sa.select(
                r.c.id,
                pr.c.name.label("project"),
                p.c.name.label("pipeline"),
                p.c.spec,
                r.c.created_at,
            )
            .join(p, p.c.id == r.c.pipeline_id)
            .join(pr, pr.c.id == p.c.project_id)
            .where(*conditions)
            .order_by(r.c.created_at)
            .limit(limit)
        ).mappings()
        return [
            {
                "id": row["id"],
                "project": row["project"],
                "pipeline": row["pipeline"],
                "entrypoint": (row["spec"] or {}).get("entrypoint"),
                "created_at": row["created_at"],
            }
            for row in rows
        ]


def claim_run(store: Store, run_id: str, holder: str, lease_ms: int) -> bool:
    """Take run ``run_id`` to execute it: true for exactly one caller, when the run is
    queued (or ``waiting`` and resumable) or its holder's lease has expired."""
    r = t.pipeline_runs
    now = now_ms()
    with store.write() as conn:
        taken = conn.execute(
            r.update()
            .where(
                r.c.id == run_id,
                sa.or_(
                    r.c.status.in_(("queued", "waiting")),
                    sa.and_(r.c.status == "running", r.c.lease_expires_at < now),
                ),
            )
            .values(
                status="running",
                lease_holder=holder,
                lease_expires_at=now + lease_ms,
                started_at=sa.func.coalesce(r.c.started_at, now),
            )
        ).rowcount
    return taken == 1


def renew_lease(store: Store, run_id: str, holder: str, lease_ms: int) -> bool:
    """Extend ``holder``'s lease on a running run; false when it no longer holds it."""
    r = t.pipeline_runs
    with store.write() as conn:
        renewed = conn.execute(
            r.update()
            .where(r.c.id == run_id, r.c.lease_holder == holder, r.c.status == "running")
            .values(lease_expires_at=now_ms() + lease_ms)
        ).rowcount
    return renewed == 1


def release_run(
    store: Store, run_id: str, holder: str, status: str, *, error: str | None = None
) -> None:
    """End ``holder``'s hold on a run with ``status`` (finished, or ``waiting``)."""
    r = t.pipeline_runs
    values: dict[str, Any] = {"status": status, "lease_holder": None, "lease_expires_at": None}
    if status in FINISHED:
        values["ended_at"] = now_ms()
    if error is not None:
        values["error"] = error
    with store.write() as conn:
        conn.execute(r.update().where(r.c.id == run_id, r.c.lease_holder == holder).values(values))


def expire_stale_runs(store: Store, *, now: int | None = None) -> list[str]:
    """Mark failed every running run whose lease expired (its process died); their ids."""
    r, s = t.pipeline_runs, t.step_runs
    now = now_ms() if now is None else now
    with store.write() as conn:
        stale = [
            row.id
            for row in conn.execute(
                sa.select(r.c.id).where(r.c.status == "running", r.c.lease_expires_at < now)
            )
        ]
        if stale:
            conn.execute(
                r.update()
                .where(r.c.id.in_(stale), r.c.status == "running", r.c.lease_expires_at < now)
                .values(
                    status="failed",
                    ended_at=now,
                    lease_holder=None,
                    lease_expires_at=None,
                    error="The process running it stopped renewing its lease (it crashed or "
                    "was killed). Resume it with: keel pipeline resume <run id>",
                )
            )
            conn.execute(
                s.update()
                .where(s.c.pipeline_run_id.in_(stale), s.c.status == "running")
                .values(status="failed", ended_at=now, error="its pipeline run's process died")
            )
    return stale
