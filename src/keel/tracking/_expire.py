"""Runs whose process died: RUNNING, but silent for longer than ``run_heartbeat_timeout``.

A run's process reports (metric writes and heartbeats set ``runs.heartbeat_at``) while it
is alive; ``kill -9``, an out-of-memory kill or a power cut stop it without ending the run.
Such a run is *reported* KILLED as soon as it is read (no write on a read), and the
status is *recorded* by :func:`expire_runs`, which ``keel gc`` and run searches call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from keel.store import Store, now_ms
from keel.store import schema as t

from . import _compiled
from ._records import RunStatus

__all__ = ["expire_runs", "expired_error", "last_seen", "stale_before", "stale_runs"]


def last_seen() -> sa.ColumnElement[int]:
    """When a run's process last reported (runs from before heartbeats: when it started)."""
    r = t.runs
    return sa.func.coalesce(r.c.heartbeat_at, r.c.started_at, r.c.created_at)


def stale_before(store: Store) -> int:
    """The time (ms) before which a RUNNING run's last report means its process is gone."""
    return now_ms() - store.config.run_heartbeat_timeout * 1000


def expired_error(seen: int, timeout_s: int) -> str:
    """The error recorded on a run that stopped reporting at ``seen`` (ms)."""
    when = dt.datetime.fromtimestamp(seen / 1000, tz=dt.UTC).isoformat(timespec="seconds")
    return (
        f"The run's process stopped reporting at {when} (no heartbeat for more than "
        f"{timeout_s} s): it was killed or crashed without ending the run. What it logged "
        "until then is kept; resume it with keel.start_run(run_id=...) to continue."
    )


def as_reported(row: Mapping[str, Any], cutoff: int, timeout_s: int) -> dict[str, Any] | None:
    """The status fields a stale RUNNING row reads as (KILLED), or None if it is not stale."""
    if row["status"] != RunStatus.RUNNING:
        return None
    seen = row.get("heartbeat_at") or row["started_at"] or row["created_at"]
    if seen >= cutoff:
        return None
    return {"status": RunStatus.KILLED, "ended_at": seen, "error": expired_error(seen, timeout_s)}


def stale_runs(
    conn: sa.Connection, cutoff: int, project_id: str | None = None
) -> list[tuple[str, str, int]]:
    """(id, name, last seen) of the RUNNING runs last seen before ``cutoff`` (ms), of one
    project or all; one indexed query, compiled once."""

    def build() -> sa.Select[Any]:
        r, e = t.runs, t.experiments
        stale = (r.c.status == RunStatus.RUNNING) & (
            last_seen() < sa.bindparam("cutoff", 0, sa.BigInteger)
        )
        select = sa.select(r.c.id, r.c.name, last_seen().label("seen")).where(stale)
        if project_id is None:
            return select
        select = select.join(e, e.c.id == r.c.experiment_id)
        return select.where(e.c.project_id == sa.bindparam("project_id", ""))

    values = {"cutoff": cutoff, "project_id": project_id}
    if project_id is None:
        del values["project_id"]
    return _compiled.rows(conn, ("stale_runs", project_id is None), build, values)


def expire_runs(
    store: Store, *, project_id: str | None = None, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Record KILLED on every RUNNING run silent for longer than the heartbeat timeout.

    Reads first and writes only when a run has expired, so calling it before each search
    costs one indexed query.

    Args:
        store: the store holding the runs.
        project_id: only this project's runs; all projects by default.
        dry_run: report the runs without changing them.

    Returns:
        One dict per expired run: ``id``, ``name`` and ``last_seen`` (ms).
    """
    r = t.runs
    cutoff, timeout_s = stale_before(store), store.config.run_heartbeat_timeout
    stale = (r.c.status == RunStatus.RUNNING) & (last_seen() < cutoff)
    with store.read() as conn:
        rows = stale_runs(conn, cutoff, project_id)
    if rows and not dry_run:
        with store.write() as conn:
            for run_id, _, seen in rows:
                # the condition again: a heartbeat may have arrived since the read
                conn.execute(
                    r.update()
                    .where(r.c.id == run_id, stale)
                    .values(
                        status=RunStatus.KILLED,
                        ended_at=seen,
                        error=expired_error(seen, timeout_s),
                    )
                )
    return [{"id": i, "name": n, "last_seen": s} for i, n, s in rows]
