"""Service health retention: the rows model servers write every ``serve_health_seconds``
are removed once older than ``health_retention_days``, by ``keel gc``.

One row per model version, worker and interval adds up (a worker serving one version
writes 1,440 rows a day at the default interval), so without retention the table, and the
deployment stats read from it, would grow for as long as a deployment serves. The age of a
row is the end of its interval (``end_ms``), so an interval goes once all of it is older
than the retention period.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput
from keel.store import Store, now_ms
from keel.store import schema as t

__all__ = ["expire_health"]

DAY_MS = 86_400_000


def expire_health(
    store: Store, *, retention_days: float | None = None, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Remove the service health rows whose interval ended more than ``retention_days`` ago.

    Args:
        store: the store to clean (every project).
        retention_days: ``health_retention_days`` of the configuration by default.
        dry_run: report, change nothing.

    Returns:
        One dict per deployment that had such rows: ``kind`` ("service_health"), ``id`` and
        ``name`` (the deployment), ``project``, ``rows`` (removed, or that would be) and
        ``kept`` (always None: no row is held).

    Raises:
        InvalidInput: ``retention_days`` is negative or not a number. Nothing is changed.
    """
    days = store.config.health_retention_days if retention_days is None else retention_days
    if isinstance(days, bool) or not isinstance(days, int | float) or not days >= 0:
        raise InvalidInput(
            f"The service health retention must be zero or more days. Got {days!r}; "
            "set health_retention_days (KEEL_HEALTH_RETENTION_DAYS) to e.g. 30."
        )
    cutoff = now_ms() - int(days * DAY_MS)
    h, p = t.service_health, t.projects
    old = h.c.end_ms < cutoff
    count = sa.func.count().label("rows")
    per_deployment = (
        sa.select(p.c.name, h.c.deployment, count)
        .join(p, p.c.id == h.c.project_id)
        .where(old)
        .group_by(p.c.name, h.c.deployment)
        .order_by(p.c.name, h.c.deployment)
    )
    with store.write() as conn:
        found = conn.execute(per_deployment).all()
        if found and not dry_run:
            conn.execute(sa.delete(h).where(old))
    return [
        {
            "kind": "service_health",
            "id": deployment,
            "name": deployment,
            "project": project,
            "rows": rows,
            "kept": None,
        }
        for project, deployment, rows in found
    ]
