"""Helpers for the trigger and agent tests: pipelines recorded with triggers, and their runs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.client import Client
from keel.pipelines._records import record_pipeline
from keel.pipelines.triggers import Trigger
from keel.store import Store
from keel.store import schema as t


def pipeline(client: Client, name: str, *triggers: Trigger, project: str = "default") -> str:
    """Record pipeline ``name`` with ``triggers`` in its spec, as ``@keel.pipeline`` does
    (with the params its triggers pass, which a submission checks)."""
    made = [x.to_dict() for x in triggers]
    params = {d["param"]: {"type": "json", "default": None} for d in made if d.get("param")}
    spec = {"entrypoint": f"flows:{name}", "triggers": made, "params": params}
    return record_pipeline(client.store, project, name, spec)


def runs(store: Store) -> list[dict[str, Any]]:
    """Every pipeline run, oldest first, with its pipeline's name."""
    r, p = t.pipeline_runs, t.pipelines
    query = (
        sa.select(r, p.c.name.label("pipeline"))
        .join(p, p.c.id == r.c.pipeline_id)
        .order_by(r.c.created_at, r.c.id)
    )
    with store.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
