"""Runs waiting for approvals that can go on: none of their approvals is still pending."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.store import Store, now_ms
from keel.store import schema as t

__all__ = ["resumable_runs"]


def resumable_runs(
    store: Store, *, now: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Runs in status ``waiting`` none of whose approvals is pending and not yet timed out
    (every one was decided, or timed out), oldest first: id, project, pipeline, entrypoint.

    Executing one again (it claims the run) lets the step that waited see the decision.
    """
    now = now_ms() if now is None else now
    r, p, pr, a = t.pipeline_runs, t.pipelines, t.projects, t.pipeline_approvals
    still_pending = sa.exists().where(
        a.c.pipeline_run_id == r.c.id,
        a.c.status == "pending",
        sa.or_(a.c.timeout_at.is_(None), a.c.timeout_at > now),
    )
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
            .where(r.c.status == "waiting", ~still_pending)
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
