"""A deployment's service health over time, from what the platform itself recorded.

Three sources, merged into one series ordered by time:

- **server**: every ``serve_health_seconds`` each model server process writes, per model
  version it served, its requests, failed requests (5xx), refused requests (4xx) and
  p50/p99 latency of the interval (:func:`record_health`). Intervals are aligned to the
  wall clock, so the rows of several workers (``keel serve --workers N``) share one
  ``bucket_ms`` and are summed into one point: requests and errors add up, the p99 is the
  highest of the rows' (an upper bound), the p50 their request-weighted mean.
- **monitor windows**: each result of a monitor that watches the deployment has the
  requests, throughput and p99 latency of its window, computed from the prediction log.
  Failed requests are not in that log, so these points carry no error count.
- **canary steps**: each step the model server's canary controller judged carries that
  server's own counts of the requests the new versions answered, how many failed (5xx),
  the error rate and the p99 latency (and the step's length, which gives a throughput).

A point is ``{"at", "start", "source", "requests", "throughput_rps", "p50_ms", "p99_ms",
"errors", "client_errors", "error_rate", "workers"}``; what a source does not measure is None.

``keel gc`` removes the health rows older than ``health_retention_days`` (see
:mod:`keel.deploy._health_retention`), and the prediction log's parts older than
``predictions_retention_days`` when it is set (:mod:`keel.serving._retention`); monitor
results have no retention yet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound
from keel.store import Store, now_ms
from keel.store import schema as t

__all__ = ["MAX_HEALTH_ROWS", "MAX_POINTS", "record_health", "service_stats"]

MAX_POINTS = 1000
MAX_HEALTH_ROWS = 1000
"""Most service health rows one call records."""


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
        found = served = None
        if project_id is not None:
            query = sa.select(d.c.id).where(d.c.project_id == project_id, d.c.name == deployment)
            found = conn.execute(query).scalar()
            h = t.service_health
            served = conn.execute(  # a model reference served unrecorded has health rows only
                sa.select(h.c.id)
                .where(h.c.project_id == project_id, h.c.deployment == deployment)
                .limit(1)
            ).scalar()
        if found is None and served is None:
            raise NotFound(
                f"No deployment {deployment[:200]!r} in project {project!r}: "
                "list them with 'keel deploy ls'."
            )
        assert project_id is not None
        points = _server_points(conn, project_id, deployment, limit)
        points += _monitor_points(conn, project_id, deployment, limit)
        if found is not None:
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
        "p50_ms": _number(values.get("p50_ms")),
        "p99_ms": _number(values.get("p99_ms")),
        "errors": errors,
        "client_errors": _number(values.get("client_errors")),
        "error_rate": rate,
        "workers": _number(values.get("workers")),
    }


def _server_points(conn: sa.Connection, project_id: str, name: str, limit: int) -> list[dict]:
    h = t.service_health
    mine = sa.and_(h.c.project_id == project_id, h.c.deployment == name)
    # the newest ``limit`` intervals first (walks the index backwards), then only their rows
    # are summed: a deployment's whole history is never grouped for one page of points
    newest = (
        sa.select(h.c.bucket_ms)
        .where(mine)
        .distinct()
        .order_by(h.c.bucket_ms.desc())
        .limit(limit)
        .subquery()
    )
    oldest = conn.execute(sa.select(sa.func.min(newest.c.bucket_ms))).scalar()
    if oldest is None:
        return []
    requests = sa.func.sum(h.c.requests)
    query = (
        sa.select(
            h.c.bucket_ms,
            sa.func.min(h.c.start_ms).label("start"),
            sa.func.max(h.c.end_ms).label("end"),
            requests.label("requests"),
            sa.func.sum(h.c.errors).label("errors"),
            sa.func.sum(h.c.client_errors).label("client_errors"),
            sa.func.sum(h.c.p50_ms * h.c.requests).label("p50_weighted"),
            sa.func.max(h.c.p99_ms).label("p99_ms"),
            sa.func.count(sa.distinct(h.c.worker)).label("workers"),
        )
        .where(mine, h.c.bucket_ms >= oldest)
        .group_by(h.c.bucket_ms)
        .order_by(h.c.bucket_ms.desc())
        .limit(limit)
    )
    points = []
    for row in conn.execute(query):
        count = int(row.requests or 0)
        values = {
            "requests": count,
            "errors": int(row.errors or 0),
            "client_errors": int(row.client_errors or 0),
            "p50_ms": float(row.p50_weighted) / count if count and row.p50_weighted else None,
            "p99_ms": None if row.p99_ms is None else float(row.p99_ms),
            "workers": int(row.workers),
            "elapsed_s": (row.end - row.start) / 1000.0,
        }
        points.append(_point(int(row.end), int(row.start), "server", values))
    return points


_INT_FIELDS = ("bucket_ms", "start_ms", "end_ms", "requests", "errors", "client_errors")


def _health_row(row: Any, project_id: str, deployment: str, created_at: int) -> dict[str, Any]:
    """One checked row for the ``service_health`` table; InvalidInput names what is wrong."""
    if not isinstance(row, Mapping):
        raise InvalidInput(f"A service health row is a mapping, got {str(row)[:80]!r}.")

    def bad(field: str, rule: str) -> InvalidInput:
        return InvalidInput(
            f"Service health row field {field!r} = {str(row.get(field))[:80]!r} is not valid: "
            f"{rule}."
        )

    out: dict[str, Any] = {"project_id": project_id, "deployment": deployment}
    for field, most in (("id", 32), ("worker", 100), ("model_version", 200)):
        value = row.get(field)
        if (
            not isinstance(value, str)
            or len(value) > most
            or (field != "model_version" and not value)
        ):
            raise bad(
                field, f"a text of {'0' if field == 'model_version' else '1'}-{most} characters"
            )
        out[field] = value
    for field in _INT_FIELDS:
        value = row.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
            raise bad(field, "a whole number, 0 or more")
        out[field] = value
    if not out["start_ms"] <= out["end_ms"]:
        raise bad("end_ms", "not before start_ms")
    if out["errors"] + out["client_errors"] > out["requests"]:
        raise bad("errors", "errors and client_errors together are at most requests")
    for field in ("p50_ms", "p99_ms"):
        value = row.get(field)
        ok = value is None or (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        )
        if not ok:
            raise bad(field, "a finite number of milliseconds, 0 or more, or null")
        out[field] = None if value is None else float(value)
    out["created_at"] = created_at
    return out


def record_health(store: Store, project: str, deployment: str, rows: Sequence[Any]) -> int:
    """Record a model server's service health rows for ``deployment``; returns how many
    were new. A row whose ``id`` is already recorded is skipped, so a writer that retries
    after a failure it could not tell from a lost answer never counts anything twice.

    A row: ``id`` (the writer's, 1-32 characters), ``worker``, ``model_version`` ("" for
    requests refused before routing), ``bucket_ms``, ``start_ms``, ``end_ms`` (epoch ms),
    ``requests``, ``errors`` (5xx), ``client_errors`` (4xx), ``p50_ms``, ``p99_ms``.

    Raises:
        InvalidInput: a malformed row or name, or more than :data:`MAX_HEALTH_ROWS` rows.
    """
    if not isinstance(deployment, str) or not 0 < len(deployment) <= 200:
        raise InvalidInput(f"A deployment name is 1-200 characters, not {str(deployment)[:80]!r}.")
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Sequence):
        raise InvalidInput("Service health rows are a list of mappings.")
    if len(rows) > MAX_HEALTH_ROWS:
        raise InvalidInput(
            f"At most {MAX_HEALTH_ROWS} service health rows per call, got {len(rows)}: "
            "send them in parts."
        )
    if not rows:
        return 0
    project_id = store.project_id(project)
    created = now_ms()
    checked = {}
    for row in rows:
        values = _health_row(row, project_id, deployment, created)
        checked[values["id"]] = values
    h = t.service_health
    with store.write() as conn:
        known = set(conn.execute(sa.select(h.c.id).where(h.c.id.in_(list(checked)))).scalars())
        fresh = [v for k, v in checked.items() if k not in known]
        if fresh:
            conn.execute(h.insert(), fresh)
    return len(fresh)


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
