"""Runs waiting for approvals that can go on: none of their approvals is still pending."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.store import Store, now_ms
from keel.store import schema as t

from ._records import runs_where

__all__ = ["resumable_runs"]


def resumable_runs(
    store: Store, *, now: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Runs in status ``waiting`` none of whose approvals is pending and not yet timed out
    (every one was decided, or timed out), oldest first: id, project, pipeline, entrypoint.

    Executing one again (it claims the run) lets the step that waited see the decision.
    """
    now = now_ms() if now is None else now
    r, a = t.pipeline_runs, t.pipeline_approvals
    still_pending = sa.exists().where(
        a.c.pipeline_run_id == r.c.id,
        a.c.status == "pending",
        sa.or_(a.c.timeout_at.is_(None), a.c.timeout_at > now),
    )
    return runs_where(store, r.c.status == "waiting", ~still_pending, limit=limit)
