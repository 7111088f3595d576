"""Prediction log retention: ``keel gc`` drops the logged predictions and feedback older
than ``predictions_retention_days`` (unset: kept for ever).

A serving deployment logs every request it answers; at thousands of requests a second the
log outgrows everything else in the store, and it holds inputs as served, which a team's
data-protection rules may allow to keep only so long. Retention works by part: a part
goes once its newest row is older than the period (so no row younger than the period is
ever removed, and no part is rewritten); its Parquet object is then unreferenced, and
``keel gc --objects`` reclaims the bytes after the grace period.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput
from keel.store import Store, now_ms
from keel.store import schema as t

__all__ = ["expire_predictions"]

DAY_MS = 86_400_000


def expire_predictions(
    store: Store, *, retention_days: float | None = None, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Remove the prediction log and feedback parts whose newest row is older than
    ``retention_days``, in every project.

    Args:
        store: the store to clean.
        retention_days: ``predictions_retention_days`` of the configuration by default;
            None there means the log is kept for ever, and nothing is removed.
        dry_run: report, change nothing.

    Returns:
        One dict per deployment and kind that had such parts: ``kind`` ("predictions" or
        "feedback"), ``id`` and ``name`` (the deployment), ``project``, ``rows`` (logged
        rows removed, or that would be), ``parts`` and ``kept`` (always None).

    Raises:
        InvalidInput: ``retention_days`` is negative or not a number. Nothing is changed.
    """
    days = store.config.predictions_retention_days if retention_days is None else retention_days
    if days is None:
        return []
    if isinstance(days, bool) or not isinstance(days, int | float) or not days >= 0:
        raise InvalidInput(
            f"The prediction log retention must be zero or more days. Got {days!r}; set "
            "predictions_retention_days (KEEL_PREDICTIONS_RETENTION_DAYS) to e.g. 90, or "
            "leave it unset to keep the log for ever."
        )
    cutoff = now_ms() - int(days * DAY_MS)
    p, pr = t.prediction_parts, t.projects
    old = p.c.last_at < cutoff
    per_deployment = (
        sa.select(
            pr.c.name,
            p.c.deployment,
            p.c.kind,
            sa.func.sum(p.c.rows).label("rows"),
            sa.func.count().label("parts"),
        )
        .join(pr, pr.c.id == p.c.project_id)
        .where(old)
        .group_by(pr.c.name, p.c.deployment, p.c.kind)
        .order_by(pr.c.name, p.c.deployment, p.c.kind)
    )
    with store.write() as conn:
        found = conn.execute(per_deployment).all()
        if found and not dry_run:
            conn.execute(sa.delete(p).where(old))
    return [
        {
            "kind": kind,
            "id": deployment,
            "name": deployment,
            "project": project,
            "rows": int(rows),
            "parts": parts,
            "kept": None,
        }
        for project, deployment, kind, rows, parts in found
    ]
