"""One garbage collection over every concept: what ``keel gc``, ``POST /api/v1/gc`` and
:meth:`keel.Client.gc` run.

1. partial writes older than ``older_than`` (interrupted writers) go;
2. dead RUNNING runs are marked KILLED;
3. runs and experiments deleted longer than ``retention_days`` ago are purged;
4. service health rows older than ``health_retention_days`` go;
5. with ``objects``, objects nothing refers to and nobody wrote within ``grace`` seconds go.

The store knows no concept; this module, above them, hands each step what it needs.
"""

from __future__ import annotations

from typing import Any

from keel.store import Store

__all__ = ["run_gc"]


def run_gc(
    store: Store,
    *,
    objects: bool = False,
    grace: float | None = None,
    retention_days: float | None = None,
    dry_run: bool = False,
    temporaries: bool = True,
    older_than: float | None = None,
) -> dict[str, Any]:
    """Run every gc step on ``store``; a JSON-ready report of what went (or would go).

    Args:
        store: the store to clean.
        objects: also remove unreferenced objects (see
            :func:`keel.store.gc.collect_objects`).
        grace: seconds an unreferenced object is kept after it was written
            (``gc_grace_minutes`` by default).
        retention_days: purge runs and experiments deleted longer ago than this
            (``deleted_retention_days`` by default).
        dry_run: report, change nothing.
        temporaries: also remove stale partial writes and mark dead runs KILLED.
        older_than: the grace period of partial writes, seconds (an hour by default).

    Raises:
        InvalidInput: a negative or non-numeric period. Nothing is changed.
    """
    from keel.data import object_references_to
    from keel.deploy import expire_health
    from keel.errors import InvalidInput
    from keel.serving import expire_predictions
    from keel.store.gc import DEFAULT_GRACE_S, collect_objects, gc
    from keel.tracking import expire_runs, purge_deleted

    for name, value in (("grace", grace), ("retention_days", retention_days)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0
        ):
            raise InvalidInput(f"{name} must be zero or a positive number. Got {value!r}.")
    from keel._deletion import runs_held_by_models

    def purge(s: Store, dry: bool) -> list[dict[str, Any]]:
        return purge_deleted(
            s, retention_days=retention_days, dry_run=dry, held=runs_held_by_models
        )

    steps = {
        "purged": purge,
        "expired_health": lambda s, dry: expire_health(s, dry_run=dry),
        "expired_predictions": lambda s, dry: expire_predictions(s, dry_run=dry),
    }
    if temporaries:
        steps = {"expired_runs": lambda s, dry: expire_runs(s, dry_run=dry), **steps}
        report = gc(
            store,
            older_than=DEFAULT_GRACE_S if older_than is None else older_than,
            dry_run=dry_run,
            steps=steps,
        ).to_dict()
    else:
        report = {"dry_run": dry_run, "steps": {k: f(store, dry_run) for k, f in steps.items()}}
    if objects:
        collected = collect_objects(
            store, references=object_references_to, grace=grace, dry_run=dry_run
        )
        report["objects"] = collected.to_dict()
    return report
