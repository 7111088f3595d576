"""A deployment's service health over time, from what the platform itself recorded.

Two sources, merged into one series ordered by time:

- **monitor windows**: each result of a monitor that watches the deployment has the
  requests, throughput and p99 latency of its window, computed from the prediction log.
  Failed requests are not in that log, so these points carry no error count.
- **canary steps**: each step the model server's canary controller judged carries that
  server's own counts of the requests the new versions answered, how many failed (5xx),
  the error rate and the p99 latency (and the step's length, which gives a throughput).

A point is ``{"at", "start", "source", "requests", "throughput_rps", "p99_ms", "errors",
"error_rate"}``; what a source does not measure is None.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound
from keel.store import Store
from keel.store import schema as t

__all__ = ["MAX_POINTS", "service_stats"]

MAX_POINTS = 1000


def service_stats(store: Store, project: str, deployment: str, *, limit: int = 200) -> dict:
    """The newest ``limit`` (1-1000) health points of ``deployment``, oldest first.

    Returns:
        ``{"deployment": name, "points": [...]}``; see the module docstring for a point.

    Raises:
        InvalidInput: ``limit`` is not 1 to 1000.
        NotFound: no such deployment in the project.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_POINTS:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_POINTS}, not {limit!r}.")
    project_id = store.read_project_id(project)
    d = t.deployments
    with store.read() as conn:
        found = None
        if project_id is not None:
            query = sa.select(d.c.id).where(d.c.project_id == project_id, d.c.name == deployment)
            found = conn.execute(query).scalar()
        if found is None:
            raise NotFound(
                f"No deployment {deployment[:200]!r} in project {project!r}: "
                "list them with 'keel deploy ls'."
            )
        points = _monitor_points(conn, project_id, deployment, limit)
        points += _canary_points(conn, found, limit)
    points.sort(key=lambda p: (p["at"], p["source"]))
    return {"deployment": deployment, "points": points[-limit:]}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _point(at: int, start: int | None, source: str, values: dict[str, Any]) -> dict[str, Any]:
    requests = _number(values.get("requests"))
    errors = _number(values.get("errors"))
    rate = _number(values.get("error_rate"))
    if rate is None and errors is not None and requests:
        rate = errors / requests
    throughput = _number(values.get("throughput_rps"))
    elapsed = _number(values.get("elapsed_s"))  # a canary step's length
    if throughput is None and requests is not None and elapsed:
        throughput = requests / elapsed
    return {
        "at": at,
        "start": start,
        "source": source,
        "requests": requests,
        "throughput_rps": throughput,
        "p99_ms": _number(values.get("p99_ms")),
        "errors": errors,
        "error_rate": rate,
    }


def _monitor_points(conn: sa.Connection, project_id: str, name: str, limit: int) -> list[dict]:
    m, r = t.monitors, t.monitor_results
    monitors = conn.execute(
        sa.select(m.c.id, m.c.name, m.c.spec).where(m.c.project_id == project_id)
    )
    watching = {row.id: row.name for row in monitors if (row.spec or {}).get("deployment") == name}
    if not watching:
        return []
    query = (  # type: ignore[assignment]
        sa.select(r.c.monitor_id, r.c.window_start, r.c.window_end, r.c.scores)
        .where(r.c.monitor_id.in_(list(watching)))
        .order_by(r.c.window_end.desc())
        .limit(limit)
    )
    points = []
    for row in conn.execute(query):
        stored = row.scores or {}
        # a result's numbers, recorded under "scores" next to its findings (older rows:
        # at the top level); a window with no latency column has its rows but no requests
        scores = stored["scores"] if isinstance(stored.get("scores"), dict) else stored
        values = {**scores, "requests": scores.get("requests", scores.get("rows"))}
        source = f"monitor {watching[row.monitor_id]}"
        points.append(_point(row.window_end, row.window_start, source, values))
    return points


def _canary_points(conn: sa.Connection, deployment_id: str, limit: int) -> list[dict]:
    s, o = t.rollout_steps, t.rollouts
    query = (
        sa.select(o.c.revision, s.c.step, s.c.weight, s.c.metrics, s.c.created_at)
        .join(o, o.c.id == s.c.rollout_id)
        .where(o.c.deployment_id == deployment_id)
        .order_by(s.c.created_at.desc())
        .limit(limit)
    )
    return [
        _point(
            row.created_at,
            None,
            f"canary r{row.revision} step {row.step + 1} ({row.weight:g}%)",
            row.metrics or {},
        )
        for row in conn.execute(query)
    ]
