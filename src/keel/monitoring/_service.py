"""Monitors of one project: apply specs, evaluate them now or over past windows, read results.

A monitor is one ``monitors`` row (its spec as the YAML mapping); each evaluation is one
``monitor_results`` row: window, verdict, and ``scores`` holding the findings and the
numbers behind them. Applying and evaluating need a writer; every change is audited.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound, did_you_mean
from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import record_event
from keel.store.lineage import record_edges

from ._results import Finding, MonitorResult
from .spec import MonitorSpec

__all__ = ["MAX_BACKFILL", "MonitorService"]

MAX_BACKFILL = 1000
"""Most windows one backfill evaluates: a longer range is refused (split it)."""
MAX_RESULTS = 10_000


class _Services:
    """What :func:`evaluate` needs of a client, over one store and project."""

    def __init__(self, monitors: MonitorService) -> None:
        self.monitors = monitors
        self.store = monitors.store
        self.project = monitors.project
        self.objects = monitors.store.objects

    @cached_property
    def predictions(self) -> Any:
        from keel.serving import PredictionStore

        return PredictionStore(self.store, project=self.project)

    @cached_property
    def models(self) -> Any:
        from keel.registry import RegistryService

        return RegistryService(self.store, project=self.project)

    @cached_property
    def datasets(self) -> Any:
        from keel.data import DatasetService

        return DatasetService(self.store, project=self.project)

    @cached_property
    def deployments(self) -> Any:
        from keel.deploy import DeploymentService

        return DeploymentService(self.store, project=self.project)

    def lineage(self, ref: str, *, direction: str = "both", depth: int = 20) -> Any:
        from keel._lineage_sdk import graph_around

        return graph_around(self.store, self.project, ref, direction=direction, depth=depth)


class MonitorService:
    """Monitors in one project of a store, changed by ``actor``.

    Example::

        monitors = MonitorService(store, project="credit")
        monitors.apply(parse_monitor("monitors/credit-drift.yaml"))
        result = monitors.run("credit-drift")
        print(result.passed, [f.message for f in result.breaches])
    """

    def __init__(self, store: Store, *, project: str | None = None, actor: Actor | None = None):
        self.store = store
        self.project = project or store.config.project
        self.actor = actor or Actor.local()
        self._services = _Services(self)

    def __repr__(self) -> str:
        return f"MonitorService({self.store!r}, project={self.project!r})"

    # -- monitors ------------------------------------------------------------------------

    def apply(self, spec: MonitorSpec) -> dict[str, Any]:
        """Record ``spec`` (or replace the monitor of that name); its summary row."""
        self.actor.require("writer", "apply a monitor")
        spec = _check_spec(spec)
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            monitor_id, changed = self._upsert(conn, project_id, spec)
            if changed:
                record_event(
                    conn,
                    project_id=project_id,
                    actor=self.actor.name,
                    action="apply",
                    object_kind="monitor",
                    object_id=monitor_id,
                    details={"name": spec.name, "deployment": spec.deployment},
                )
        return next(m for m in self.list() if m["name"] == spec.name)

    def list(self) -> list[dict[str, Any]]:
        """Every monitor: name, deployment, schedule, created_at and its last result."""
        m, r = t.monitors, t.monitor_results
        project_id = self.store.find_project_id(self.project)
        if project_id is None:
            return []
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(m.c.id, m.c.name, m.c.spec, m.c.created_at)
                .where(m.c.project_id == project_id)
                .order_by(m.c.name)
            ).all()
            out = []
            for monitor_id, name, spec, created_at in rows:
                last = conn.execute(
                    sa.select(r.c.window_end, r.c.passed, r.c.created_at)
                    .where(r.c.monitor_id == monitor_id)
                    .order_by(r.c.window_end.desc(), r.c.created_at.desc())
                    .limit(1)
                ).first()
                parsed = MonitorSpec.from_dict(spec)
                out.append(
                    {
                        "name": name,
                        "deployment": parsed.deployment,
                        "reference": parsed.reference,
                        "schedule": parsed.schedule_text,
                        "created_at": created_at,
                        "last_window_end": last[0] if last else None,
                        "last_passed": bool(last[1]) if last else None,
                    }
                )
        return out

    def get(self, name: str) -> MonitorSpec:
        """The spec of monitor ``name``.

        Raises:
            NotFound: no such monitor (with the names there are).
        """
        with self.store.read() as conn:
            row = self._row(conn, name)
        return MonitorSpec.from_dict(row["spec"])

    # -- evaluation ----------------------------------------------------------------------

    def run(self, name: str, *, now_ms: int | None = None) -> MonitorResult:
        """Evaluate monitor ``name`` over the window ending now (or at ``now_ms``)."""
        from ._evaluate import evaluate

        self.actor.require("writer", "run a monitor")
        return evaluate(self._services, self.get(name), now_ms=now_ms)

    def backfill(self, name: str, from_ms: int, to_ms: int) -> list[MonitorResult]:
        """Evaluate the windows of ``[from_ms, to_ms)`` in order, oldest first: back to
        back for ``size`` windows; for ``last: N`` windows, one ending at each step of
        the schedule (every window size by default, else ``every ...``, else hourly).

        Raises:
            InvalidInput: bad times, or more than :data:`MAX_BACKFILL` windows.
        """
        from ._evaluate import evaluate

        self.actor.require("writer", "backfill a monitor")
        spec = self.get(name)
        for label, value in (("from", from_ms), ("to", to_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"{label} must be epoch milliseconds (>= 0). Got {value!r}.")
        if to_ms <= from_ms:
            raise InvalidInput(f"'to' ({to_ms}) must come after 'from' ({from_ms}).")
        step = _step_ms(spec)
        count = -(-(to_ms - from_ms) // step)
        if count > MAX_BACKFILL:
            raise InvalidInput(
                f"Backfilling {name!r} from {from_ms} to {to_ms} is {count} windows of "
                f"{step // 1000}s; at most {MAX_BACKFILL} at once. Split the range."
            )
        results = []
        for i in range(count):
            end = min(from_ms + (i + 1) * step, to_ms)
            start = from_ms + i * step if spec.window.size_ms is not None else 0
            results.append(evaluate(self._services, spec, window=(start, end)))
        return results

    def results(self, name: str, *, limit: int = 100) -> list[MonitorResult]:
        """The newest ``limit`` results of monitor ``name``, by window end, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_RESULTS}.")
        r = t.monitor_results
        with self.store.read() as conn:
            row = self._row(conn, name)
            rows = conn.execute(
                sa.select(r)
                .where(r.c.monitor_id == row["id"])
                .order_by(r.c.window_end.desc(), r.c.created_at.desc())
                .limit(limit)
            ).mappings()
            return [_result(name, dict(x)) for x in rows]

    def report(self, name: str, *, limit: int = 500) -> dict[str, Any]:
        """The data of ``keel monitor report``: results over time (oldest first) and the
        newest window's distributions against the reference."""
        from ._report import report_data

        return report_data(self, name, limit=limit)

    # -- what evaluate calls --------------------------------------------------------------

    def last_reference(self, name: str) -> dict[str, Any] | None:
        """The reference the newest result of ``name`` was judged against (its key and
        stored object), or None."""
        r, m = t.monitor_results, t.monitors
        project_id = self.store.find_project_id(self.project)
        if project_id is None:
            return None
        with self.store.read() as conn:
            scores = conn.execute(
                sa.select(r.c.scores)
                .join(m, m.c.id == r.c.monitor_id)
                .where(m.c.project_id == project_id, m.c.name == name)
                .order_by(r.c.created_at.desc())
                .limit(1)
            ).scalar()
        return ((scores or {}).get("scores") or {}).get("reference")

    def record(self, spec: MonitorSpec, result: MonitorResult, answered: list[str]) -> None:
        """Store ``result`` (recording ``spec`` if the monitor is new or changed), with
        lineage edges from the deployment's rollout and the model versions that answered."""
        self.actor.require("writer", "record a monitor result")
        spec = _check_spec(spec)
        edges = self._edges(spec, result, answered)
        data = result.to_dict()
        digest = (data["scores"].get("reference") or {}).get("object")
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            monitor_id, _ = self._upsert(conn, project_id, spec)
            if digest:
                self.store.record_object(digest, conn=conn, media_type="application/zlib")
            conn.execute(
                t.monitor_results.insert().values(
                    id=result.id,
                    monitor_id=monitor_id,
                    window_start=result.window_start,
                    window_end=result.window_end,
                    passed=result.passed,
                    scores={"findings": data["findings"], "scores": data["scores"]},
                    created_at=result.created_at,
                )
            )
            record_edges(self.store, edges, conn=conn)

    def _edges(self, spec: MonitorSpec, result: MonitorResult, answered: list[str]) -> list:
        from keel.errors import KeelError

        dst = ("monitor_result", result.id)
        edges = []
        try:
            rollout = self._services.deployments.current(spec.deployment)
        except KeelError:
            rollout = None
        if rollout is not None:
            edges.append(("rollout", rollout.id, "monitored_by", *dst))
        for ref in answered[:20]:
            try:
                version = self._services.models.get(ref)
            except KeelError:
                continue
            edges.append(("model_version", version.id, "monitored_by", *dst))
        return edges

    # -- rows ----------------------------------------------------------------------------

    def _upsert(self, conn: sa.Connection, project_id: str, spec: MonitorSpec) -> tuple[str, bool]:
        m = t.monitors
        data = spec.to_dict()
        row = conn.execute(
            sa.select(m.c.id, m.c.spec).where(m.c.project_id == project_id, m.c.name == spec.name)
        ).first()
        if row is None:
            monitor_id = new_id()
            conn.execute(
                m.insert().values(
                    id=monitor_id,
                    project_id=project_id,
                    name=spec.name,
                    spec=data,
                    created_at=now_ms(),
                )
            )
            return monitor_id, True
        if row[1] == data:
            return row[0], False
        conn.execute(m.update().where(m.c.id == row[0]).values(spec=data))
        return row[0], True

    def _row(self, conn: sa.Connection, name: str) -> dict[str, Any]:
        m = t.monitors
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"A monitor name is a non-empty string. Got {name!r}.")
        project_id = self.store.find_project_id(self.project)
        row = None
        if project_id is not None:
            row = (
                conn.execute(
                    sa.select(m).where(m.c.project_id == project_id, m.c.name == name[:200])
                )
                .mappings()
                .first()
            )
        if row is None:
            names = []
            if project_id is not None:
                names = list(
                    conn.execute(sa.select(m.c.name).where(m.c.project_id == project_id)).scalars()
                )
            raise NotFound(
                f"No monitor {name[:60]!r} in project {self.project!r}"
                f"{did_you_mean(name, names)} Apply one with 'keel monitor apply FILE'; "
                "list them with 'keel monitor ls'."
            )
        return dict(row)


def _check_spec(spec: object) -> MonitorSpec:
    if not isinstance(spec, MonitorSpec):
        raise InvalidInput(
            f"Expected a MonitorSpec, got {type(spec).__name__}: read a file with "
            "keel.monitoring.parse_monitor(path) or build one with MonitorSpec.from_dict(...)."
        )
    return spec


def _step_ms(spec: MonitorSpec) -> int:
    if spec.window.size_ms is not None:
        return spec.window.size_ms
    from .spec import every_ms

    return (every_ms(spec.schedule) if spec.schedule else None) or 3_600_000


def _result(name: str, row: dict[str, Any]) -> MonitorResult:
    stored = row["scores"] or {}
    return MonitorResult(
        row["id"],
        name,
        int(row["window_start"]),
        int(row["window_end"]),
        bool(row["passed"]),
        tuple(Finding.from_dict(f) for f in stored.get("findings") or ()),
        dict(stored.get("scores") or {}),
        int(row["created_at"]),
    )
