"""Deployments through a keel server: the same methods as :class:`DeploymentService`.

A spec is sent as JSON with the line of each field its file gave, so the server's errors
name the line as a local apply's would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from keel.errors import InvalidInput

from ._records import Plan, Rollout, RolloutStep
from .spec import DeploymentSpec

if TYPE_CHECKING:
    from keel._remote import RemoteClient

__all__ = ["HttpDeployments"]


class HttpDeployments:
    """Deployments in one project of a keel server.

    Args:
        remote: the connection to the server (its token is the actor of every change).
        project: the project to work in.
    """

    def __init__(self, remote: RemoteClient, *, project: str) -> None:
        self.remote = remote
        self.project = project

    def _path(self, *parts: str) -> str:
        tail = "".join("/" + quote(str(p), safe="") for p in parts)
        return f"/api/v1/projects/{quote(self.project, safe='')}/deployments{tail}"

    def _body(self, spec: DeploymentSpec) -> dict[str, Any]:
        if not isinstance(spec, DeploymentSpec):
            raise InvalidInput(
                f"Expected a DeploymentSpec, got {type(spec).__name__}: read a file with "
                "keel.deploy.parse_spec(path) or build one with DeploymentSpec.from_dict(...)."
            )
        return {"spec": spec.to_dict(), "lines": dict(spec.lines), "source": spec.source}

    def plan(self, spec: DeploymentSpec) -> Plan:
        """What applying ``spec`` would change against the current rollout."""
        return Plan.from_dict(self.remote.json("POST", self._path("plan"), json=self._body(spec)))

    def apply(self, spec: DeploymentSpec) -> Rollout:
        """Record ``spec`` as the deployment's next rollout (a writer token)."""
        return Rollout.from_dict(self.remote.json("POST", self._path(), json=self._body(spec)))

    def rollback(self, name: str) -> Rollout:
        """Bring back the spec that ran before the current rollout (a writer token)."""
        return Rollout.from_dict(self.remote.json("POST", self._path(name, "rollback")))

    def current(self, name: str) -> Rollout | None:
        """The rollout that runs now, or None if the deployment was never applied."""
        from keel.errors import NotFound

        try:
            return self.get(name)
        except NotFound:
            return None

    def get(self, name: str, revision: int | None = None) -> Rollout:
        """One revision of a deployment (the current one by default)."""
        if revision is None:
            return Rollout.from_dict(self.remote.json("GET", self._path(name)))
        path = self._path(name, "revisions", str(revision))
        return Rollout.from_dict(self.remote.json("GET", path))

    def history(self, name: str) -> list[Rollout]:
        """Every rollout of a deployment, newest first, each with its canary steps."""
        return [Rollout.from_dict(r) for r in self.remote.json("GET", self._path(name, "history"))]

    def stats(self, name: str, *, limit: int = 200) -> dict[str, Any]:
        """The deployment's service health over time, oldest first (see
        :meth:`keel.deploy.DeploymentService.stats`)."""
        return self.remote.json("GET", self._path(name, "stats"), params={"limit": limit})

    def record_health(self, name: str, rows: list[Mapping[str, Any]]) -> int:
        """Record a model server's service health rows (a writer token); returns how many
        were new (a row already recorded, same ``id``, is skipped)."""
        body = {"rows": [dict(r) for r in rows]}
        return self.remote.json("POST", self._path(name, "health"), json=body)["recorded"]

    def list(self) -> list[dict[str, Any]]:
        """Every deployment with its current revision, status, model and routes."""
        return self.remote.json("GET", self._path())

    def record_step(
        self,
        rollout_id: str,
        step: int,
        weight: float,
        status: str,
        metrics: Mapping[str, Any] | None = None,
    ) -> RolloutStep:
        """Record one step of a canary rollout (a writer token)."""
        body = {"step": step, "weight": weight, "status": status, "metrics": dict(metrics or {})}
        path = self._path("rollouts", rollout_id, "steps")
        return RolloutStep.from_dict(self.remote.json("POST", path, json=body))

    def finish(self, rollout_id: str, status: str) -> Rollout:
        """End a canary: ``promoted`` or ``rolled_back`` (a writer token)."""
        path = self._path("rollouts", rollout_id, "finish")
        return Rollout.from_dict(self.remote.json("POST", path, json={"status": status}))
