"""Audit events: who did what to which object, written by every concept the same way."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from . import schema as t
from ._ids import new_id, now_ms

__all__ = ["audit_events", "recent_events", "record_event"]

log = logging.getLogger("keel.audit")


def record_event(
    conn: sa.Connection,
    *,
    project_id: str,
    actor: str,
    action: str,
    object_kind: str,
    object_id: str,
    details: dict[str, Any] | None = None,
    at: int | None = None,
) -> None:
    """Record one event inside the caller's write transaction (so it lands with the change),
    and log it at INFO on ``keel.audit``."""
    log.info(
        "%s %s %s %s",
        actor,
        action,
        object_kind,
        object_id,
        extra={
            "actor": actor,
            "action": action,
            "object_kind": object_kind,
            "object_id": object_id,
        },
    )
    conn.execute(
        t.audit_events.insert().values(
            id=new_id(),
            project_id=project_id,
            actor=actor,
            action=action,
            object_kind=object_kind,
            object_id=object_id,
            details=details,
            created_at=now_ms() if at is None else at,
        )
    )


def audit_events(
    conn: sa.Connection,
    *,
    object_kind: str,
    object_id: str | None = None,
    action: str | None = None,
) -> list[dict[str, Any]]:
    """Events on objects of ``object_kind`` (one object, one action if given), oldest first."""
    ev = t.audit_events
    query = sa.select(ev).where(ev.c.object_kind == object_kind)
    if object_id is not None:
        query = query.where(ev.c.object_id == object_id)
    if action is not None:
        query = query.where(ev.c.action == action)
    rows = conn.execute(query.order_by(ev.c.created_at, ev.c.id)).mappings().all()
    return [dict(r) for r in rows]


def recent_events(conn: sa.Connection, *, project_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """A project's newest events first, at most ``limit``: its recent activity."""
    ev = t.audit_events
    query = (
        sa.select(ev)
        .where(ev.c.project_id == project_id)
        .order_by(ev.c.created_at.desc(), ev.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings().all()]
