"""Checking every pipeline's triggers and queueing the runs they fire.

Each (pipeline, trigger) keeps what it saw last in one ``trigger_state`` row. A check that
fires advances that row with a compare-and-set on its ``updated_at`` (strictly increasing)
and, when a lease is given, only while the caller still holds it; the run is queued only
when that update took. Two agents checking at once therefore never queue the same firing
twice; an agent that dies between the update and the queueing loses that one firing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from keel.errors import KeelError
from keel.store import Store, now_ms
from keel.store import schema as t
from keel.store.leases import held_clause
from keel.store.rows import insert_ignore

from ._records import submit_run
from ._watch import Look, first_state, poll
from .triggers import Trigger, parse_trigger, trigger_key

__all__ = ["Fired", "fire_triggers"]

log = logging.getLogger("keel.pipelines.triggers")


@dataclass(frozen=True)
class Fired:
    """A trigger that fired (``run`` is the queued run's id) or failed to be checked
    (``error`` says why; it is checked again at the next tick)."""

    project: str
    pipeline: str
    trigger: dict[str, Any]
    run: str | None = None
    record: dict[str, Any] | None = None
    error: str | None = None


def _pipelines(store: Store) -> list[dict[str, Any]]:
    p, pr = t.pipelines, t.projects
    with store.read() as conn:
        rows = conn.execute(
            sa.select(p.c.id, p.c.name, p.c.spec, pr.c.name.label("project"))
            .join(pr, pr.c.id == p.c.project_id)
            .order_by(pr.c.name, p.c.name)
        ).mappings()
        return [dict(r) for r in rows if (r["spec"] or {}).get("triggers")]


def _state(store: Store, pipeline_id: str, key: str) -> tuple[dict[str, Any], int] | None:
    s = t.trigger_state
    with store.read() as conn:
        row = conn.execute(
            sa.select(s.c.state, s.c.updated_at).where(
                s.c.pipeline_id == pipeline_id, s.c.trigger_key == key
            )
        ).first()
    return (dict(row.state or {}), int(row.updated_at)) if row else None


def _advance(
    store: Store,
    pipeline_id: str,
    key: str,
    state: dict[str, Any],
    seen_at: int,
    now: int,
    lease: tuple[str, str] | None,
) -> bool:
    """Replace the state last written at ``seen_at``; false when someone changed it since
    (or the lease was lost)."""
    s = t.trigger_state
    where = [s.c.pipeline_id == pipeline_id, s.c.trigger_key == key, s.c.updated_at == seen_at]
    if lease is not None:
        where.append(held_clause(lease[0], lease[1], now_ms()))  # leases: the real time
    with store.write() as conn:
        done = conn.execute(
            s.update().where(*where).values(state=state, updated_at=max(now, seen_at + 1))
        ).rowcount
    return done == 1


def check_trigger(
    store: Store,
    pipeline: dict[str, Any],
    trigger: Trigger,
    *,
    now: int,
    lease: tuple[str, str] | None = None,
) -> Fired | None:
    """Check one trigger of one pipeline row (id, name, project); what it fired, if any."""
    key = trigger_key(trigger)
    look = Look(store, pipeline["project"], now)
    known = _state(store, pipeline["id"], key)
    if known is None:  # first seen: remember what is there, fire only for what comes after
        row = {"pipeline_id": pipeline["id"], "trigger_key": key, "updated_at": now}
        with store.write() as conn:
            insert_ignore(conn, t.trigger_state, {**row, "state": first_state(trigger, look)})
        return None
    state, seen_at = known
    fire, new_state = poll(trigger, state, look)
    if fire is None and new_state == state:
        return None
    if not _advance(store, pipeline["id"], key, new_state, seen_at, now, lease) or fire is None:
        return None
    run = submit_run(
        store, pipeline["project"], pipeline["name"], params=fire.params, trigger=fire.trigger
    )
    log.info("%s/%s: %s fired run %s", pipeline["project"], pipeline["name"], trigger, run)
    return Fired(pipeline["project"], pipeline["name"], trigger.to_dict(), run, fire.trigger)


def fire_triggers(
    store: Store, *, now: int | None = None, lease: tuple[str, str] | None = None
) -> list[Fired]:
    """Check every trigger of every pipeline of every project; what fired or failed.

    Args:
        store: the store whose pipelines are checked.
        now: the time, in ms (tests pass their own clock's).
        lease: ``(name, holder)`` of a lease the caller holds: a firing is recorded only
            while it still does.
    """
    now = now_ms() if now is None else now
    out: list[Fired] = []
    for pipeline in _pipelines(store):
        for raw in pipeline["spec"].get("triggers") or ():
            try:
                fired = check_trigger(store, pipeline, parse_trigger(raw), now=now, lease=lease)
            except Exception as exc:  # one bad trigger never stops the others
                reason = _reason(exc)
                where = f"{pipeline['project']}/{pipeline['name']}"
                log.warning("%s: trigger %r: %s", where, raw, reason)
                spec = raw if isinstance(raw, dict) else {"spec": repr(raw)[:200]}
                out.append(Fired(pipeline["project"], pipeline["name"], spec, error=reason))
                continue
            if fired is not None:
                out.append(fired)
    return out


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, KeelError) else f"{type(exc).__name__}: {exc}"
