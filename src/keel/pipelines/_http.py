"""Pipelines through a keel server: the same methods as :class:`PipelineService`; runs are
queued for the server's agent (``submit``, ``resume``) instead of run in this process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from keel._remote import RemoteClient

__all__ = ["HttpPipelines"]


class HttpPipelines:
    """Pipelines in one project of a keel server (reader reads; writer submits, resumes,
    cancels and records)."""

    def __init__(self, remote: RemoteClient, *, project: str) -> None:
        self.remote = remote
        self.project = project

    def __repr__(self) -> str:
        return f"HttpPipelines({self.remote!r}, project={self.project!r})"

    def _path(self, *parts: str) -> str:
        tail = "".join("/" + quote(str(p), safe="") for p in parts)
        return f"/api/v1/projects/{quote(self.project, safe='')}/pipelines{tail}"

    def record(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Record pipeline ``name`` with ``spec`` (a writer token)."""
        return self.remote.json("PUT", self._path(name), json={"spec": spec})

    def list(self) -> list[dict[str, Any]]:
        """Every pipeline with its steps and last run."""
        return self.remote.json("GET", self._path())

    def get(self, name: str) -> dict[str, Any]:
        """Pipeline ``name``: id, name, spec, created_at."""
        return self.remote.json("GET", self._path(name))

    def runs(
        self, name: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Runs newest first, of one pipeline and in one status if given."""
        params: dict[str, Any] = {"limit": limit}
        if name is not None:
            params["pipeline"] = name
        if status is not None:
            params["status"] = status
        return self.remote.json("GET", self._path("-", "runs"), params=params)

    def run(self, run_id: str) -> dict[str, Any]:
        """Run ``run_id`` with its steps."""
        return self.remote.json("GET", self._path("-", "runs", run_id))

    def logs(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """Each step run's captured output."""
        params = {"step": step} if step is not None else None
        return self.remote.json("GET", self._path("-", "runs", run_id, "logs"), params=params)

    def submit(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        trigger: dict[str, Any] | None = None,
        *,
        options: dict[str, Any] | None = None,
    ) -> str:
        """Queue a run of ``name`` for the server's agent; its id."""
        body = {"params": params or {}, "trigger": trigger, "options": options}
        return self.remote.json("POST", self._path(name, "runs"), json=body)["id"]

    def resume(self, run_id: str, *, progress: Any = None, pipeline: Any = None) -> dict[str, Any]:
        """Queue a failed, waiting or cancelled run for the server's agent to resume."""
        return self.remote.json("POST", self._path("-", "runs", run_id, "resume"))

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel a queued, waiting or running run."""
        return self.remote.json("POST", self._path("-", "runs", run_id, "cancel"))
