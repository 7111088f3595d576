"""What a run holds, by object digest: for ``keel fsck`` to name the owner of a bad object."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from keel.store import Store
from keel.store import schema as t

__all__ = ["artifact_owners"]


def artifact_owners(store: Store, digests: Collection[str]) -> dict[str, list[str]]:
    """Digest -> ``"run <id> artifact <name>"`` for each run artifact stored as one of
    ``digests`` (the artifact's project and experiment are named too)."""
    if not digests:
        return {}
    a, r, e, p = t.run_artifacts, t.runs, t.experiments, t.projects
    owners: dict[str, list[str]] = {}
    with store.read() as conn:
        rows = conn.execute(
            sa.select(a.c.digest, a.c.name, r.c.id, e.c.name, p.c.name)
            .join(r, r.c.id == a.c.run_id)
            .join(e, e.c.id == r.c.experiment_id)
            .join(p, p.c.id == e.c.project_id)
            .where(a.c.digest.in_(list(digests)))
            .order_by(p.c.name, e.c.name, r.c.id, a.c.name)
        ).all()
    for digest, name, run_id, experiment, project in rows:
        owners.setdefault(digest, []).append(
            f"run {run_id} ({project}/{experiment}) artifact {name}"
        )
    return owners
