"""Pipelines in one project of a store: list, read runs and logs, submit, resume, cancel."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound
from keel.store import Store, now_ms
from keel.store import schema as t

from . import _records

__all__ = ["PipelineService"]

STEP_FIELDS = (
    "id",
    "step",
    "status",
    "attempt",
    "cache_key",
    "cached_from",
    "code_hash",
    "params",
    "inputs",
    "outputs",
    "error",
    "log_digest",
    "created_at",
    "started_at",
    "ended_at",
    "run_id",
)


class PipelineService:
    """Pipelines and their runs in one project of a store.

    Running executes in this process (:meth:`resume` too); :meth:`submit` only queues a run
    for whoever executes queued runs (the agent).
    """

    def __init__(self, store: Store, *, project: str | None = None, client: Any = None) -> None:
        self.store = store
        self.project = project or store.config.project
        self._client = client

    def __repr__(self) -> str:
        return f"PipelineService({self.store!r}, project={self.project!r})"

    # -- pipelines -------------------------------------------------------------------------

    def record(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Record pipeline ``name`` with ``spec`` (what ``Pipeline.spec()`` gives)."""
        _check_spec(name, spec)
        _records.record_pipeline(self.store, self.project, name, spec)
        return self.get(name)

    def list(self) -> list[dict[str, Any]]:
        """Every pipeline: name, steps, params, its last run's status and time."""
        p, r = t.pipelines, t.pipeline_runs
        project_id = self.store.read_project_id(self.project)
        if project_id is None:
            return []
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(p.c.id, p.c.name, p.c.spec, p.c.created_at)
                .where(p.c.project_id == project_id)
                .order_by(p.c.name)
            ).all()
            last: dict[str, Any] = {}
            if rows:
                newest = (
                    sa.select(r.c.pipeline_id, sa.func.max(r.c.created_at).label("at"))
                    .where(r.c.pipeline_id.in_([row.id for row in rows]))
                    .group_by(r.c.pipeline_id)
                    .subquery()
                )
                for run in conn.execute(
                    sa.select(r.c.pipeline_id, r.c.id, r.c.status, r.c.created_at).join(
                        newest,
                        sa.and_(
                            newest.c.pipeline_id == r.c.pipeline_id,
                            newest.c.at == r.c.created_at,
                        ),
                    )
                ):
                    last[run.pipeline_id] = run
        out = []
        for row in rows:
            spec = row.spec or {}
            run = last.get(row.id)
            out.append(
                {
                    "name": row.name,
                    "id": row.id,
                    "entrypoint": spec.get("entrypoint"),
                    "steps": [s["name"] for s in spec.get("steps", [])],
                    "params": spec.get("params", {}),
                    "triggers": spec.get("triggers", []),
                    "created_at": row.created_at,
                    "last_run": run.id if run else None,
                    "last_status": run.status if run else None,
                    "last_run_at": run.created_at if run else None,
                }
            )
        return out

    def get(self, name: str) -> dict[str, Any]:
        """Pipeline ``name``: id, name, spec, created_at.

        Raises:
            NotFound: no such pipeline (with the names there are).
        """
        return _plain(_records.find_pipeline(self.store, self.project, name))

    # -- runs ------------------------------------------------------------------------------

    def runs(
        self, name: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Runs newest first, of one pipeline and in one status if given."""
        if status is not None and status not in _records.RUN_STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(_records.RUN_STATUSES)}. Got {status!r}."
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be a whole number from 1 to 1000. Got {limit!r}.")
        project_id = self.store.read_project_id(self.project)
        if project_id is None:
            if name is not None:
                self.get(name)
            return []
        query = self._runs_query(project_id)
        if name is not None:
            query = query.where(t.pipelines.c.id == self.get(name)["id"])
        if status is not None:
            query = query.where(t.pipeline_runs.c.status == status)
        query = query.order_by(t.pipeline_runs.c.created_at.desc()).limit(limit)
        with self.store.read() as conn:
            return [_run_dict(row) for row in conn.execute(query).mappings()]

    def _runs_query(self, project_id: str) -> sa.Select:
        r, p = t.pipeline_runs, t.pipelines
        return (
            sa.select(
                r.c.id,
                p.c.name.label("pipeline"),
                r.c.status,
                r.c.trigger,
                r.c.params,
                r.c.options,
                r.c.error,
                r.c.created_at,
                r.c.started_at,
                r.c.ended_at,
                r.c.lease_holder,
            )
            .join(p, p.c.id == r.c.pipeline_id)
            .where(p.c.project_id == project_id)
        )

    def run(self, run_id: str) -> dict[str, Any]:
        """Run ``run_id`` with its steps (each step's latest step run last).

        Raises:
            NotFound: no such run in the project.
        """
        if not isinstance(run_id, str) or not run_id or len(run_id) > 64:
            raise NotFound(f"No pipeline run {str(run_id)[:40]!r} in project {self.project!r}.")
        project_id = self.store.read_project_id(self.project)
        row = None
        if project_id is not None:
            with self.store.read() as conn:
                row = (
                    conn.execute(self._runs_query(project_id).where(t.pipeline_runs.c.id == run_id))
                    .mappings()
                    .first()
                )
                if row is not None:
                    s = t.step_runs
                    steps = [
                        _plain(step)
                        for step in conn.execute(
                            sa.select(*[s.c[f] for f in STEP_FIELDS])
                            .where(s.c.pipeline_run_id == run_id)
                            .order_by(s.c.created_at, s.c.id)
                        ).mappings()
                    ]
        if row is None:
            raise NotFound(
                f"No pipeline run {run_id!r} in project {self.project!r}. List the runs with: "
                "keel pipeline runs"
            )
        return {**_run_dict(row), "steps": steps}

    def logs(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """Each step run's captured output (stdout, stderr, logging, tracebacks): step,
        attempt, status, log (text)."""
        run = self.run(run_id)
        steps = run["steps"]
        if step is not None:
            steps = [s for s in steps if s["step"] == step]
            if not steps:
                from keel.errors import did_you_mean

                names = sorted({s["step"] for s in run["steps"]})
                raise NotFound(
                    f"Run {run_id} has no step {step!r}.{did_you_mean(step, names)}"
                    + (f" Its steps: {', '.join(names)}." if names else "")
                )
        out = []
        for s in steps:
            text = ""
            if s["log_digest"]:
                text = self.store.objects.read_bytes(s["log_digest"]).decode(errors="replace")
            elif s["error"]:
                text = s["error"]
            out.append(
                {"step": s["step"], "attempt": s["attempt"], "status": s["status"], "log": text}
            )
        return out

    def submit(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        trigger: dict[str, Any] | None = None,
        *,
        options: dict[str, Any] | None = None,
    ) -> str:
        """Queue a run of ``name`` for the agent; its id. Params are checked first.

        Raises:
            NotFound: no such pipeline.
            InvalidInput: bad params, trigger or options.
        """
        from ._executors import check_executor

        if trigger is not None and not (isinstance(trigger, dict) and "kind" in trigger):
            raise InvalidInput(f"A trigger is a dict with a 'kind'. Got {trigger!r}.")
        options = dict(options or {})
        unknown = set(options) - {"executor", "cache", "max_workers"}
        if unknown:
            raise InvalidInput(f"Unknown run option {sorted(unknown)[0]!r}: executor, cache.")
        check_executor(options.setdefault("executor", "local"))
        workers = options.get("max_workers")
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise InvalidInput(
                f"The option max_workers must be a whole number >= 1. Got {workers!r}."
            )
        if not isinstance(options.setdefault("cache", True), bool):
            raise InvalidInput(f"The option cache must be true or false. Got {options['cache']!r}.")
        return _records.submit_run(
            self.store, self.project, name, params=params, trigger=trigger, options=options
        )

    def resume(self, run_id: str, *, progress: Any = None, pipeline: Any = None) -> dict[str, Any]:
        """Run a failed, waiting or cancelled run again in this process, from its unfinished
        steps (finished ones' outputs are reused); its record.

        Raises:
            NotFound: no such run.
            InvalidInput: the run is running or succeeded.
        """
        from ._runner import execute_run, new_holder

        self._requeue(run_id)
        return execute_run(
            self._own_client(), run_id, holder=new_holder(), progress=progress, pipeline=pipeline
        )

    def _requeue(self, run_id: str) -> None:
        run = self.run(run_id)
        if run["status"] not in ("failed", "waiting", "cancelled", "queued"):
            raise InvalidInput(
                f"Run {run_id} is {run['status']}: only a failed, waiting or cancelled run can "
                "be resumed."
            )
        r = t.pipeline_runs
        with self.store.write() as conn:
            conn.execute(
                r.update()
                .where(r.c.id == run_id, r.c.status.in_(("failed", "waiting", "cancelled")))
                .values(status="queued", ended_at=None, error=None)
            )

    def requeue(self, run_id: str) -> dict[str, Any]:
        """Queue a failed, waiting or cancelled run for the agent to resume; its record."""
        self._requeue(run_id)
        return self.run(run_id)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel a queued, waiting or running run (a running one stops after the steps
        running now); its record. Cancelling a finished run changes nothing."""
        run = self.run(run_id)
        if run["status"] in _records.FINISHED:
            return run
        r = t.pipeline_runs
        with self.store.write() as conn:
            conn.execute(
                r.update()
                .where(r.c.id == run_id, r.c.status.in_(("queued", "waiting", "running")))
                .values(
                    status="cancelled", ended_at=now_ms(), lease_holder=None, lease_expires_at=None
                )
            )
        return self.run(run_id)

    def _own_client(self) -> Any:
        if self._client is not None:
            return self._client
        from dataclasses import replace

        from keel.client import Client

        return Client(config=replace(self.store.config, project=self.project))


def _plain(row: Any) -> dict[str, Any]:
    """A row as a dict with plain ``str`` keys (SQLAlchemy's are a subclass JSON refuses)."""
    return {str(k): v for k, v in dict(row).items()}


def _run_dict(row: Any) -> dict[str, Any]:
    out = _plain(row)
    out.pop("lease_holder", None)
    return out


def _check_spec(name: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        raise InvalidInput(f"The spec of pipeline {name!r} must be a dict. Got {spec!r:.60}.")
    if not isinstance(spec.get("entrypoint"), str) or ":" not in spec["entrypoint"]:
        raise InvalidInput(f"The spec of pipeline {name!r} needs 'entrypoint': 'module:function'.")
    steps = spec.get("steps")
    if not isinstance(steps, list) or not steps:
        raise InvalidInput(f"The spec of pipeline {name!r} needs 'steps', a non-empty list.")
    names = set()
    for step in steps:
        if not isinstance(step, dict) or not isinstance(step.get("name"), str):
            raise InvalidInput(f"Each step of pipeline {name!r}'s spec needs a 'name'.")
        names.add(step["name"])
    for step in steps:
        for source in (step.get("inputs") or {}).values():
            if not isinstance(source, str) or source.split(".", 1)[0] not in names:
                raise InvalidInput(
                    f"Step {step['name']!r} of pipeline {name!r} takes input {source!r} from "
                    "no step of the pipeline."
                )
    if not isinstance(spec.get("params", {}), dict):
        raise InvalidInput(f"The 'params' of pipeline {name!r}'s spec must be a dict.")
