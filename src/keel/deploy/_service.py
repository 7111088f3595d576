"""Deployments in one project: plan and apply specs, roll back, and record canary steps.

Every change is a new rollout (revision N+1) written in one transaction with its audit
event; history is never edited except for the status of the rollout a change replaces.
The newest revision is always the current one (see :mod:`keel.deploy._records`):

- ``apply(spec)``: the new rollout is ``canary`` when the spec has a canary policy and an
  earlier rollout exists (its traffic is walked up by the controller), else ``active``;
  the rollout it replaces becomes ``superseded``. The same spec again changes nothing.
  A spec cannot be applied over a canary in progress: finish it or roll it back first.
- ``rollback(name)``: the current rollout becomes ``rolled_back`` and a new revision
  brings back the spec of its ``previous_revision``, ``active``.
- ``finish(rollout, "promoted")`` marks a canary ``promoted``; ``finish(rollout,
  "rolled_back")`` is a rollback of that canary, as above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from keel.errors import Conflict, InvalidInput, NotFound, did_you_mean
from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import record_event

from ._records import LIVE, Plan, Rollout, RolloutStep, diff_specs
from .spec import DeploymentSpec, qualify

__all__ = ["DeploymentService"]

STEP_STATUSES = ("running", "passed", "promoted", "rolled_back")
FINISH_STATUSES = ("promoted", "rolled_back")


class DeploymentService:
    """Deployments in one project of a store, changed by ``actor``.

    Example::

        service = DeploymentService(store, project="credit")
        print(service.plan(parse_spec("deploy.yaml")))
        rollout = service.apply(parse_spec("deploy.yaml"))
        service.rollback("credit-scoring")
    """

    def __init__(self, store: Store, *, project: str | None = None, actor: Actor | None = None):
        self.store = store
        self.project = project or store.config.project
        self.actor = actor or Actor.local()

    # -- plan and apply --------------------------------------------------------------------

    def plan(self, spec: DeploymentSpec) -> Plan:
        """What applying ``spec`` would change against the current rollout (every field);
        checks that every model reference resolves, as :meth:`apply` does."""
        spec = _check_spec(spec)
        self._check_refs(spec)
        current = self.current(spec.name)
        return Plan(
            spec.name,
            current.revision if current else None,
            diff_specs(current.spec if current else None, spec),
        )

    def apply(self, spec: DeploymentSpec) -> Rollout:
        """Record ``spec`` as the deployment's next rollout (see the module docstring).

        Raises:
            InvalidInput: a model, version or alias the spec names is not in the registry;
                the message names the field (and its line, for a spec parsed from a file).
            Conflict: a canary of this deployment is in progress.
            PermissionDenied: the actor is not a writer.
        """
        self.actor.require("writer", "apply a deployment")
        spec = _check_spec(spec)
        self._check_refs(spec)
        rollout_id = self._apply(spec)
        return self._rollout(rollout_id)

    def _apply(self, spec: DeploymentSpec) -> str:
        """The id of the new rollout, or of the current one if it runs ``spec`` already."""
        project_id = self.store.project_id(self.project)
        unchanged = None
        try:
            with self.store.write() as conn:
                deployment_id = self._deployment_id(conn, project_id, spec.name, create=True)
                current = self._newest(conn, deployment_id)
                if current is not None and current["status"] in LIVE:
                    if DeploymentSpec.from_dict(current["spec"]) == spec:
                        unchanged = current["id"]
                    elif current["status"] == "canary":
                        raise Conflict(
                            f"Deployment {spec.name!r} has a canary in progress (revision "
                            f"{current['revision']}); nothing was applied. Wait for it to be "
                            f"promoted, or roll it back with 'keel deploy rollback {spec.name}'."
                        )
                if unchanged is not None:
                    return unchanged
                status = "canary" if spec.canary is not None and current is not None else "active"
                rollout_id = self._insert(
                    conn,
                    deployment_id,
                    spec,
                    status=status,
                    revision=(current["revision"] if current else 0) + 1,
                    previous=current["revision"] if current else None,
                    replaced=(current["id"], "superseded") if current else None,
                )
                self._audit(
                    conn,
                    project_id,
                    "apply",
                    deployment_id,
                    {
                        "revision": (current["revision"] if current else 0) + 1,
                        "status": status,
                        "refs": list(spec.refs),
                    },
                )
        except sa.exc.IntegrityError as exc:
            raise _concurrent(spec.name) from exc
        return rollout_id

    # -- rollback and the canary controller ------------------------------------------------

    def rollback(self, name: str) -> Rollout:
        """Return to the spec that ran before the current rollout, as a new revision.

        Raises:
            NotFound: no such deployment.
            Conflict: the current rollout has no earlier one to return to.
        """
        self.actor.require("writer", "roll back a deployment")
        current = self.current(name)
        if current is None:
            raise self._not_found(name)
        return self._restore(current, action="rollback")

    def record_step(
        self,
        rollout_id: str,
        step: int,
        weight: float,
        status: str,
        metrics: Mapping[str, Any] | None = None,
    ) -> RolloutStep:
        """Record one step of a canary rollout (the controller calls this as it walks).

        Args:
            step: the step's index in ``canary.steps`` (0 first).
            weight: the traffic share (percent) the new rollout had during the step.
            status: ``running``, ``passed``, ``promoted`` or ``rolled_back``.
            metrics: what the step saw (requests, errors, error_rate, p99_ms, ...).
        """
        self.actor.require("writer", "record a canary step")
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 1000:
            raise InvalidInput(f"A canary step is an index from 0 to 999, not {step!r}.")
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not 0 <= weight <= 100
        ):
            raise InvalidInput(f"A canary step's weight is a percentage 0-100, not {weight!r}.")
        if status not in STEP_STATUSES:
            raise InvalidInput(
                f"A canary step's status is one of {', '.join(STEP_STATUSES)}, not {status!r}."
            )
        metrics = _check_metrics(metrics)
        row = self._rollout_row(rollout_id)
        if row["status"] != "canary":
            raise Conflict(
                f"Rollout {rollout_id} of {row['deployment']!r} is {row['status']}, not a "
                "canary in progress: no step can be recorded for it."
            )
        recorded = RolloutStep(step, float(weight), status, metrics, now_ms())
        with self.store.write() as conn:
            still = conn.execute(
                sa.select(t.rollouts.c.status).where(t.rollouts.c.id == rollout_id)
            ).scalar()
            if still != "canary":  # finished between the check above and this write
                raise _concurrent(row["deployment"])
            conn.execute(
                t.rollout_steps.insert().values(
                    id=new_id(),
                    rollout_id=rollout_id,
                    step=step,
                    weight=float(weight),
                    status=status,
                    metrics=metrics,
                    created_at=recorded.created_at,
                )
            )
        return recorded

    def finish(self, rollout_id: str, status: str) -> Rollout:
        """End a canary: ``promoted`` (it now serves all traffic) or ``rolled_back`` (the
        spec before it comes back as a new revision). Returns the current rollout after.

        Raises:
            Conflict: the rollout is not a canary in progress.
        """
        self.actor.require("writer", "finish a canary rollout")
        if status not in FINISH_STATUSES:
            raise InvalidInput(
                f"A canary finishes as {' or '.join(FINISH_STATUSES)}, not {status!r}."
            )
        row = self._rollout_row(rollout_id)
        if row["status"] != "canary":
            raise Conflict(
                f"Rollout {rollout_id} of {row['deployment']!r} is {row['status']}, not a "
                f"canary in progress; it cannot be {status.replace('_', ' ')}."
            )
        rollout = self._rollout(rollout_id)
        if status == "rolled_back":
            return self._restore(rollout, action="canary_rolled_back")
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            done = conn.execute(
                t.rollouts.update()
                .where(t.rollouts.c.id == rollout_id, t.rollouts.c.status == "canary")
                .values(status="promoted")
            ).rowcount
            if done != 1:
                raise _concurrent(rollout.deployment)
            self._audit(
                conn, project_id, "promote", row["deployment_id"], {"revision": rollout.revision}
            )
        return self._rollout(rollout_id)

    def _restore(self, current: Rollout, *, action: str) -> Rollout:
        """Write a new revision carrying the spec of ``current.previous_revision``; the
        current rollout becomes ``rolled_back``."""
        if current.previous_revision is None:
            raise Conflict(
                f"Deployment {current.deployment!r} has nothing to roll back to: revision "
                f"{current.revision} is its first (or every earlier one was rolled back)."
            )
        target = self.get(current.deployment, current.previous_revision)
        project_id = self.store.project_id(self.project)
        try:
            with self.store.write() as conn:
                deployment_id = self._deployment_id(
                    conn, project_id, current.deployment, create=False
                )
                newest = self._newest(conn, deployment_id)
                if newest is None or newest["id"] != current.id:
                    raise _concurrent(current.deployment)
                rollout_id = self._insert(
                    conn,
                    deployment_id,
                    target.spec,
                    status="active",
                    revision=current.revision + 1,
                    previous=target.previous_revision,
                    restores=target.revision,
                    replaced=(current.id, "rolled_back"),
                )
                details = {
                    "revision": current.revision + 1,
                    "rolled_back": current.revision,
                    "restores": target.revision,
                }
                self._audit(conn, project_id, action, deployment_id, details)
        except sa.exc.IntegrityError as exc:
            raise _concurrent(current.deployment) from exc
        return self._rollout(rollout_id)

    # -- reading -----------------------------------------------------------------------------

    def current(self, name: str) -> Rollout | None:
        """The rollout that runs now, or None if the deployment was never applied."""
        project_id = self.store.find_project_id(self.project)
        if project_id is None:
            return None
        with self.store.read() as conn:
            deployment_id = conn.execute(
                sa.select(t.deployments.c.id).where(
                    t.deployments.c.project_id == project_id, t.deployments.c.name == name
                )
            ).scalar()
            newest = self._newest(conn, deployment_id) if deployment_id else None
        return self._rollout(newest["id"]) if newest is not None else None

    def get(self, name: str, revision: int | None = None) -> Rollout:
        """One revision of a deployment (the current one by default).

        Raises:
            NotFound: no such deployment or revision.
        """
        if revision is None:
            current = self.current(name)
            if current is None:
                raise self._not_found(name)
            return current
        r = t.rollouts
        with self.store.read() as conn:
            deployment_id = self._deployment_id(
                conn, self._read_project_id(name), name, create=False
            )
            found = conn.execute(
                sa.select(r.c.id).where(
                    r.c.deployment_id == deployment_id, r.c.revision == revision
                )
            ).scalar()
        if found is None:
            raise NotFound(
                f"Deployment {name!r} has no revision {revision!r}. "
                f"See its revisions with 'keel deploy history {name}'."
            )
        return self._rollout(found)

    def stats(self, name: str, *, limit: int = 200) -> dict[str, Any]:
        """The deployment's service health over time, oldest first: ``{"deployment",
        "points"}``, each point with ``at``, ``source``, ``requests``, ``throughput_rps``,
        ``p99_ms``, ``errors`` and ``error_rate`` (None where its source does not measure
        it); see :mod:`keel.deploy._stats`.

        Raises:
            NotFound: no such deployment.
        """
        from ._stats import service_stats

        return service_stats(self.store, self.project, name, limit=limit)

    def record_health(self, name: str, rows: list[Mapping[str, Any]]) -> int:
        """Record a model server's service health rows for deployment ``name`` (each model
        server process calls this every ``serve_health_seconds``); returns how many were
        new: a row already recorded (same ``id``) is skipped. See
        :func:`keel.deploy._stats.record_health` for a row's fields.

        Raises:
            InvalidInput: a malformed row, or more than 1000.
            PermissionDenied: the actor is not a writer.
        """
        from ._stats import record_health

        self.actor.require("writer", "record service health")
        return record_health(self.store, self.project, name, rows)

    def history(self, name: str) -> list[Rollout]:
        """Every rollout of a deployment, newest first, each with its canary steps."""
        r = t.rollouts
        with self.store.read() as conn:
            deployment_id = self._deployment_id(
                conn, self._read_project_id(name), name, create=False
            )
            ids = conn.execute(
                sa.select(r.c.id)
                .where(r.c.deployment_id == deployment_id)
                .order_by(r.c.revision.desc())
            ).scalars()
            return [self._rollout(i, conn=conn) for i in ids.all()]

    def list(self) -> list[dict[str, Any]]:
        """Every deployment with its current revision, status, model and routes."""
        project_id = self.store.find_project_id(self.project)
        if project_id is None:
            return []
        d, r = t.deployments, t.rollouts
        newest = (
            sa.select(r.c.deployment_id, sa.func.max(r.c.revision).label("revision"))
            .group_by(r.c.deployment_id)
            .subquery()
        )
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(d.c.name, r.c.revision, r.c.status, r.c.spec, r.c.actor, r.c.created_at)
                .join(newest, newest.c.deployment_id == d.c.id)
                .join(
                    r,
                    sa.and_(r.c.deployment_id == d.c.id, r.c.revision == newest.c.revision),
                )
                .where(d.c.project_id == project_id)
                .order_by(d.c.name)
            ).all()
        return [
            {
                "name": name,
                "revision": revision,
                "status": status,
                "model": spec["model"],
                "routes": [
                    {"ref": qualify(str(x["version"]), spec["model"]), "weight": x["weight"]}
                    for x in spec["routes"]
                ],
                "actor": actor,
                "updated_at": created_at,
            }
            for name, revision, status, spec, actor, created_at in rows
        ]

    # -- helpers -----------------------------------------------------------------------------

    def _check_refs(self, spec: DeploymentSpec) -> None:
        """Every model, version and alias the spec names must be in the registry."""
        from keel.registry import RegistryService

        registry = RegistryService(self.store, project=self.project, actor=self.actor)
        fields = [(f"routes.{i}.version", r.version) for i, r in enumerate(spec.routes)]
        fields += [(f"shadow.{i}", ref) for i, ref in enumerate(spec.shadow)]
        for path, version in fields:
            ref = qualify(version, spec.model)
            try:
                registry.get(ref)
            except NotFound as exc:
                raise InvalidInput(
                    f"{spec.locate(path)}: {ref} is not in the registry: {exc.message} "
                    "Nothing was applied; register the version or fix the spec."
                ) from None

    def _insert(
        self,
        conn: sa.Connection,
        deployment_id: str,
        spec: DeploymentSpec,
        *,
        status: str,
        revision: int,
        previous: int | None,
        restores: int | None = None,
        replaced: tuple[str, str] | None = None,
    ) -> str:
        if replaced is not None:
            old_id, old_status = replaced
            conn.execute(
                t.rollouts.update().where(t.rollouts.c.id == old_id).values(status=old_status)
            )
        rollout_id = new_id()
        at = now_ms()
        conn.execute(
            t.rollouts.insert().values(
                id=rollout_id,
                deployment_id=deployment_id,
                revision=revision,
                spec=spec.to_dict(),
                status=status,
                actor=self.actor.name,
                created_at=at,
                previous_revision=previous,
                restores=restores,
            )
        )
        conn.execute(
            t.deployments.update()
            .where(t.deployments.c.id == deployment_id)
            .values(spec=spec.to_dict())
        )
        return rollout_id

    def _newest(self, conn: sa.Connection, deployment_id: str) -> Mapping[str, Any] | None:
        r = t.rollouts
        return (
            conn.execute(
                sa.select(r.c.id, r.c.revision, r.c.status, r.c.spec)
                .where(r.c.deployment_id == deployment_id)
                .order_by(r.c.revision.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )

    def _rollout(self, rollout_id: str, *, conn: sa.Connection | None = None) -> Rollout:
        if conn is None:
            with self.store.read() as own:
                return self._rollout(rollout_id, conn=own)
        r, d, s = t.rollouts, t.deployments, t.rollout_steps
        row = (
            conn.execute(
                sa.select(r, d.c.name.label("deployment"))
                .join(d, d.c.id == r.c.deployment_id)
                .where(r.c.id == rollout_id)
            )
            .mappings()
            .one()
        )
        steps = conn.execute(
            sa.select(s.c.step, s.c.weight, s.c.status, s.c.metrics, s.c.created_at)
            .where(s.c.rollout_id == rollout_id)
            .order_by(s.c.created_at, s.c.id)
        ).all()
        return Rollout(
            id=row["id"],
            deployment=row["deployment"],
            revision=row["revision"],
            spec=DeploymentSpec.from_dict(row["spec"]),
            status=row["status"],
            actor=row["actor"],
            created_at=row["created_at"],
            previous_revision=row["previous_revision"],
            restores=row["restores"],
            steps=tuple(
                RolloutStep(step, weight, status, metrics or {}, created_at)
                for step, weight, status, metrics, created_at in steps
            ),
        )

    def _rollout_row(self, rollout_id: str) -> Mapping[str, Any]:
        """A rollout of this project by id (its status, deployment name and id)."""
        r, d = t.rollouts, t.deployments
        project_id = self.store.find_project_id(self.project)
        row = None
        if isinstance(rollout_id, str) and project_id is not None:
            with self.store.read() as conn:
                row = (
                    conn.execute(
                        sa.select(r.c.status, r.c.deployment_id, d.c.name.label("deployment"))
                        .join(d, d.c.id == r.c.deployment_id)
                        .where(r.c.id == rollout_id, d.c.project_id == project_id)
                    )
                    .mappings()
                    .first()
                )
        if row is None:
            raise NotFound(
                f"No rollout {str(rollout_id)[:60]!r} in project {self.project!r}. "
                "Rollout ids are in 'keel deploy history NAME --json'."
            )
        return row

    def _read_project_id(self, name: str) -> str:
        project_id = self.store.find_project_id(self.project)
        if project_id is None:
            raise self._not_found(name)
        return project_id

    def _deployment_id(
        self, conn: sa.Connection, project_id: str, name: str, *, create: bool
    ) -> str:
        d = t.deployments
        lookup = sa.select(d.c.id).where(d.c.project_id == project_id, d.c.name == name)
        found = conn.execute(lookup).scalar()
        if found is not None:
            return found
        if not create:
            names = list(
                conn.execute(sa.select(d.c.name).where(d.c.project_id == project_id)).scalars()
            )
            raise self._not_found(name, names)
        found = new_id()
        conn.execute(
            d.insert().values(id=found, project_id=project_id, name=name, created_at=now_ms())
        )
        return found

    def _not_found(self, name: str, names: list[str] | None = None) -> NotFound:
        if names is None:
            names = [d["name"] for d in self.list()]
        return NotFound(
            f"No deployment named {str(name)[:200]!r} in project {self.project!r}."
            f"{did_you_mean(str(name), names)} Deployments: {', '.join(names) or 'none yet'}. "
            "Create one with 'keel deploy apply FILE'."
        )

    def _audit(
        self, conn: sa.Connection, project_id: str, action: str, deployment_id: str, details: dict
    ) -> None:
        record_event(
            conn,
            project_id=project_id,
            actor=self.actor.name,
            action=action,
            object_kind="deployment",
            object_id=deployment_id,
            details=details,
        )


def _check_spec(spec: object) -> DeploymentSpec:
    if not isinstance(spec, DeploymentSpec):
        raise InvalidInput(
            f"Expected a DeploymentSpec, got {type(spec).__name__}: read a file with "
            "keel.deploy.parse_spec(path) or build one with DeploymentSpec.from_dict(...)."
        )
    return spec


def _check_metrics(metrics: object) -> dict[str, Any]:
    """A step's metrics: up to 50 names, each a finite number, a short text or null."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping) or len(metrics) > 50:
        raise InvalidInput(
            "A canary step's metrics are a mapping of at most 50 names to numbers, "
            f"got {str(metrics)[:80]!r}."
        )
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        ok_key = isinstance(key, str) and 0 < len(key) <= 100
        ok_value = (
            value is None
            or (isinstance(value, str) and len(value) <= 500)
            or (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
        )
        if not (ok_key and ok_value):
            raise InvalidInput(
                f"Canary step metric {str(key)[:100]!r} = {str(value)[:80]!r} is not valid: "
                "names are 1-100 characters; values finite numbers, texts of up to 500 "
                "characters or null."
            )
        out[key] = value
    return out


def _concurrent(name: str) -> Conflict:
    return Conflict(
        f"Deployment {name!r} was changed by someone else at the same time; nothing was "
        "applied. Run 'keel deploy plan' again and re-apply."
    )
