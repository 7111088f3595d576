"""Monitors through a keel server: the same methods as :class:`MonitorService`; the server
reads the logs and evaluates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from keel.errors import InvalidInput

from ._results import MonitorResult
from .spec import MonitorSpec

if TYPE_CHECKING:
    from keel._remote import RemoteClient

__all__ = ["HttpMonitors"]


class HttpMonitors:
    """Monitors in one project of a keel server (its token is the actor of every change)."""

    def __init__(self, remote: RemoteClient, *, project: str) -> None:
        self.remote = remote
        self.project = project

    def __repr__(self) -> str:
        return f"HttpMonitors({self.remote!r}, project={self.project!r})"

    def _path(self, *parts: str) -> str:
        tail = "".join("/" + quote(str(p), safe="") for p in parts)
        return f"/api/v1/projects/{quote(self.project, safe='')}/monitors{tail}"

    def apply(self, spec: MonitorSpec) -> dict[str, Any]:
        """Record ``spec`` (or replace the monitor of that name), a writer token."""
        if not isinstance(spec, MonitorSpec):
            raise InvalidInput(
                f"Expected a MonitorSpec, got {type(spec).__name__}: read a file with "
                "keel.monitoring.parse_monitor(path)."
            )
        body = {"spec": spec.to_dict(), "lines": dict(spec.lines), "source": spec.source}
        return self.remote.json("POST", self._path(), json=body)

    def list(self) -> list[dict[str, Any]]:
        """Every monitor with its deployment, schedule and last verdict."""
        return self.remote.json("GET", self._path())

    def get(self, name: str) -> MonitorSpec:
        """The spec of monitor ``name``."""
        return MonitorSpec.from_dict(self.remote.json("GET", self._path(name)))

    def run(self, name: str, *, now_ms: int | None = None) -> MonitorResult:
        """Evaluate ``name`` now (or at ``now_ms``) on the server, a writer token."""
        body = {"now_ms": now_ms}
        return MonitorResult.from_dict(self.remote.json("POST", self._path(name, "run"), json=body))

    def backfill(self, name: str, from_ms: int, to_ms: int) -> list[MonitorResult]:
        """Evaluate past windows of ``[from_ms, to_ms)``, oldest first, a writer token."""
        body = {"from_ms": from_ms, "to_ms": to_ms}
        answer = self.remote.json("POST", self._path(name, "backfill"), json=body)
        return [MonitorResult.from_dict(r) for r in answer]

    def results(self, name: str, *, limit: int = 100) -> list[MonitorResult]:
        """The newest ``limit`` results of ``name``, newest first."""
        answer = self.remote.json("GET", self._path(name, "results"), params={"limit": limit})
        return [MonitorResult.from_dict(r) for r in answer]

    def report(self, name: str, *, limit: int = 500) -> dict[str, Any]:
        """The report data of ``name`` (render it with ``keel.monitoring.report_html``)."""
        return self.remote.json("GET", self._path(name, "report"), params={"limit": limit})
