"""Soft delete and restore of runs and experiments, and the purge of what stayed deleted.

A deleted run or experiment keeps every record; it is only marked (``deleted_at``), so it
vanishes from listings and searches and can be restored. The runs of a deleted experiment
are hidden with it. :func:`purge_deleted` (a ``keel gc`` step) removes for good what has
been deleted for longer than ``deleted_retention_days``; the objects its artifacts held
become unreferenced, and ``keel gc --objects`` reclaims them after its grace period.

A run that a model version names as its source is never purged (it is kept, and listed
as kept, until the model version is deleted): the registry's lineage must not point at
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound, did_you_mean
from keel.store import Store, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import record_event

__all__ = [
    "Held",
    "delete_experiment",
    "delete_run",
    "purge_deleted",
    "restore_experiment",
    "restore_run",
]

DAY_MS = 86_400_000


def _actor(actor: Actor | None, action: str) -> Actor:
    actor = actor or Actor.local()
    actor.require("writer", action)
    return actor


def _project_id(store: Store, project: str) -> str:
    project_id = store.read_project_id(project)
    if project_id is None:
        raise NotFound(f"Project {project!r} has nothing recorded yet: no run to delete.")
    return project_id


def _run_row(conn: sa.Connection, project_id: str, project: str, run_id: Any) -> sa.RowMapping:
    if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 64:
        raise InvalidInput(f"A run id must be a non-empty string. Got {run_id!r}.")
    e, r = t.experiments, t.runs
    row = (
        conn.execute(
            sa.select(r.c.id, r.c.name, r.c.deleted_at, e.c.name.label("experiment"))
            .join(e, e.c.id == r.c.experiment_id)
            .where(e.c.project_id == project_id, r.c.id == run_id.strip())
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"No run with id {run_id[:60]!r} in project {project!r}. List runs with "
            "'keel runs ls --deleted' (deleted ones too); the command line also takes an "
            "id prefix."
        )
    return row


def _set_run(store: Store, project: str, run_id: str, actor: Actor, delete: bool) -> dict:
    project_id = _project_id(store, project)
    action = "delete" if delete else "restore"
    with store.write() as conn:
        row = _run_row(conn, project_id, project, run_id)
        if delete and row["deleted_at"] is not None:
            raise InvalidInput(
                f"Run {row['id']} ({row['name']}) is already deleted. Restore it with "
                f"'keel runs restore {row['id']}'."
            )
        if not delete and row["deleted_at"] is None:
            raise InvalidInput(f"Run {row['id']} ({row['name']}) is not deleted; nothing to do.")
        at = now_ms() if delete else None
        conn.execute(t.runs.update().where(t.runs.c.id == row["id"]).values(deleted_at=at))
        record_event(
            conn,
            project_id=project_id,
            actor=actor.name,
            action=action,
            object_kind="run",
            object_id=row["id"],
            details={"name": row["name"], "experiment": row["experiment"]},
        )
    return {"id": row["id"], "name": row["name"], "experiment": row["experiment"], "deleted_at": at}


def delete_run(store: Store, project: str, run_id: str, *, actor: Actor | None = None) -> dict:
    """Mark a run deleted (hidden from listings, restorable until purged); returns it."""
    return _set_run(store, project, run_id, _actor(actor, "delete a run"), True)


def restore_run(store: Store, project: str, run_id: str, *, actor: Actor | None = None) -> dict:
    """Bring back a deleted run that has not been purged yet; returns it."""
    return _set_run(store, project, run_id, _actor(actor, "restore a run"), False)


def _set_experiment(store: Store, project: str, name: Any, actor: Actor, delete: bool) -> dict:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"An experiment name must be a non-empty string. Got {name!r}.")
    project_id = _project_id(store, project)
    e = t.experiments
    action = "delete" if delete else "restore"
    with store.write() as conn:
        row = conn.execute(
            sa.select(e.c.id, e.c.name, e.c.deleted_at).where(
                e.c.project_id == project_id, e.c.name == name
            )
        ).first()
        if row is None:
            names = conn.execute(sa.select(e.c.name).where(e.c.project_id == project_id))
            known = [n for (n,) in names]
            raise NotFound(
                f"No experiment named {name!r} in project {project!r}."
                f"{did_you_mean(name, known)} Experiments: {', '.join(known[:20]) or 'none'}."
            )
        if delete and row.deleted_at is not None:
            raise InvalidInput(
                f"Experiment {name!r} is already deleted. Restore it with "
                f"'keel experiments restore {name}'."
            )
        if not delete and row.deleted_at is None:
            raise InvalidInput(f"Experiment {name!r} is not deleted; nothing to do.")
        at = now_ms() if delete else None
        conn.execute(e.update().where(e.c.id == row.id).values(deleted_at=at))
        runs = conn.execute(
            sa.select(sa.func.count()).where(t.runs.c.experiment_id == row.id)
        ).scalar_one()
        record_event(
            conn,
            project_id=project_id,
            actor=actor.name,
            action=action,
            object_kind="experiment",
            object_id=row.id,
            details={"name": name, "runs": runs},
        )
    return {"id": row.id, "name": name, "runs": runs, "deleted_at": at}


def delete_experiment(store: Store, project: str, name: str, *, actor: Actor | None = None) -> dict:
    """Mark an experiment deleted: it and its runs vanish from listings until restored."""
    return _set_experiment(store, project, name, _actor(actor, "delete an experiment"), True)


def restore_experiment(
    store: Store, project: str, name: str, *, actor: Actor | None = None
) -> dict:
    """Bring back a deleted experiment (and so its runs) that has not been purged yet."""
    return _set_experiment(store, project, name, _actor(actor, "restore an experiment"), False)


def check_experiment_live(conn: sa.Connection, experiment_id: str, name: str) -> None:
    """Refuse to start a run in a deleted experiment (its name is still taken)."""
    e = t.experiments
    deleted = conn.execute(sa.select(e.c.deleted_at).where(e.c.id == experiment_id)).scalar()
    if deleted is not None:
        raise InvalidInput(
            f"Experiment {name!r} is deleted. Restore it with 'keel experiments restore "
            f"{name}', or start the run in another experiment."
        )


# -- purge ----------------------------------------------------------------------------------


Held = Callable[[sa.Connection, list[str]], dict[str, str]]
"""Which of some run ids another concept still needs: run id -> why, in users' words
(the client passes the registry's: a model version naming the run as its source)."""


def purge_deleted(
    store: Store,
    *,
    retention_days: float | None = None,
    dry_run: bool = False,
    held: Held | None = None,
) -> list[dict[str, Any]]:
    """Remove for good the runs and experiments deleted more than ``retention_days`` ago.

    Args:
        store: the store to purge (every project).
        retention_days: ``deleted_retention_days`` of the configuration by default.
        dry_run: report, change nothing.
        held: which runs another concept still needs; such runs are kept. Without it, a
            run any other table refers to (by foreign key) is kept.

    Returns one dict per run or experiment purged (or, on a dry run, that would be), with
    ``kind``, ``id``, ``name``, ``project`` and ``kept`` (why it stays, or None).
    """
    days = store.config.deleted_retention_days if retention_days is None else retention_days
    if not isinstance(days, int | float) or days < 0:
        raise InvalidInput(f"retention_days must be zero or more days. Got {days!r}.")
    cutoff = now_ms() - int(days * DAY_MS)
    e, r, p = t.experiments, t.runs, t.projects
    report: list[dict[str, Any]] = []
    with store.write() as conn:
        expired_experiments = sa.select(e.c.id).where(
            e.c.deleted_at.is_not(None), e.c.deleted_at <= cutoff
        )
        rows = conn.execute(
            sa.select(r.c.id, r.c.name, e.c.name, p.c.name, e.c.project_id)
            .join(e, e.c.id == r.c.experiment_id)
            .join(p, p.c.id == e.c.project_id)
            .where(
                sa.or_(
                    sa.and_(r.c.deleted_at.is_not(None), r.c.deleted_at <= cutoff),
                    r.c.experiment_id.in_(expired_experiments),
                )
            )
            .order_by(r.c.id)
        ).all()
        needed = (held or _held_by_others)(conn, [row[0] for row in rows])
        purged = []
        for run_id, name, experiment, project, project_id in rows:
            kept = needed.get(run_id)
            report.append(
                {
                    "kind": "run",
                    "id": run_id,
                    "name": name,
                    "experiment": experiment,
                    "project": project,
                    "kept": kept,
                }
            )
            if not kept:
                purged.append((run_id, name, experiment, project_id))
        if not dry_run:
            _purge_runs(conn, purged)
        for exp_id, name, project, project_id in conn.execute(
            sa.select(e.c.id, e.c.name, p.c.name, e.c.project_id)
            .join(p, p.c.id == e.c.project_id)
            .where(e.c.id.in_(expired_experiments))
        ).all():
            runs = {
                i for (i,) in conn.execute(sa.select(r.c.id).where(r.c.experiment_id == exp_id))
            }
            left = len(runs - {run[0] for run in purged}) if dry_run else len(runs)
            kept = f"{left} of its runs are kept (see above)" if left else None
            report.append(
                {"kind": "experiment", "id": exp_id, "name": name, "project": project, "kept": kept}
            )
            if not dry_run and not left:
                conn.execute(e.delete().where(e.c.id == exp_id))
                _purge_event(conn, project_id, "experiment", exp_id, {"name": name})
    return report


_OWN = {"run_params", "run_tags", "run_metrics", "run_latest_metrics", "run_artifacts", "runs"}
_LET_GO = {("step_runs", "run_id")}
"""References a purge clears instead of keeping the run: a step run outlives its run."""


def _held_by_others(conn: sa.Connection, run_ids: list[str]) -> dict[str, str]:
    """Runs another table refers to by foreign key (a purge would break it)."""
    held: dict[str, str] = {}
    for table in t.metadata.sorted_tables:
        if table.name in _OWN:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name != "runs" or (table.name, fk.parent.name) in _LET_GO:
                continue
            for chunk in _chunks(run_ids):
                for (run_id,) in conn.execute(
                    sa.select(fk.parent).where(fk.parent.in_(chunk)).distinct()
                ):
                    held.setdefault(run_id, f"a {table.name.rstrip('s')} refers to it")
    return held


def _purge_runs(conn: sa.Connection, runs: list[tuple[str, str, str, str]]) -> None:
    ids = [run[0] for run in runs]
    latest = t.run_latest_metrics
    for chunk in _chunks(ids):
        # the runs' rows first, locked (PostgreSQL): a writer that holds one until its
        # commit is waited for, so its points are seen below, and one that comes later
        # finds no run to write to (points have no foreign key, migration 0012)
        conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id.in_(chunk)).with_for_update())
        series = sa.select(latest.c.id).where(latest.c.run_id.in_(chunk))
        conn.execute(t.run_metrics.delete().where(t.run_metrics.c.series_id.in_(series)))
        conn.execute(t.runs.update().where(t.runs.c.parent_id.in_(chunk)).values(parent_id=None))
        conn.execute(
            t.step_runs.update().where(t.step_runs.c.run_id.in_(chunk)).values(run_id=None)
        )
        for table in (t.run_params, t.run_tags, t.run_latest_metrics, t.run_artifacts):
            conn.execute(table.delete().where(table.c.run_id.in_(chunk)))
        le = t.lineage_edges
        conn.execute(
            le.delete().where(
                sa.or_(
                    sa.and_(le.c.src_kind == "run", le.c.src_id.in_(chunk)),
                    sa.and_(le.c.dst_kind == "run", le.c.dst_id.in_(chunk)),
                )
            )
        )
        conn.execute(t.runs.delete().where(t.runs.c.id.in_(chunk)))
    for run_id, name, experiment, project_id in runs:
        _purge_event(conn, project_id, "run", run_id, {"name": name, "experiment": experiment})


def _purge_event(conn: sa.Connection, project_id: str, kind: str, object_id: str, details):
    record_event(
        conn,
        project_id=project_id,
        actor="keel gc",
        action="purge",
        object_kind=kind,
        object_id=object_id,
        details=details,
    )


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
