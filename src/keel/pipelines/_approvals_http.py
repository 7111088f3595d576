"""Pipeline approvals through a keel server: the same methods as :class:`ApprovalService`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._approval_records import Approval, check_listing, check_request, timeout_ms

if TYPE_CHECKING:
    from keel._remote import RemoteClient

__all__ = ["HttpApprovals"]


class HttpApprovals:
    """The approvals of one project of a keel server: a reader token lists them, a writer
    token asks for them (a pipeline step), an approver token decides them (recorded under
    the token's name).

    Args:
        remote: the connection to the server.
        project: the project.
    """

    def __init__(self, remote: RemoteClient, *, project: str) -> None:
        self.remote = remote
        self.project = project

    def _path(self, *parts: str) -> str:
        tail = "".join("/" + quote(str(p), safe="") for p in parts)
        return f"/api/v1/projects/{quote(self.project, safe='')}/approvals{tail}"

    def request(
        self, pipeline_run_id: str, step: str, title: str, *, timeout: object = "24h"
    ) -> Approval:
        """Ask for (or read again) the approval ``title`` of ``step`` in a pipeline run."""
        check_request(pipeline_run_id, step, title)
        wait = timeout_ms(timeout)
        body = {
            "pipeline_run_id": pipeline_run_id,
            "step": step,
            "title": title,
            "timeout_s": None if wait is None else wait / 1000,
        }
        return Approval.from_dict(self.remote.json("POST", self._path(), json=body))

    def list(
        self, *, status: str = "pending", limit: int = 100, pipeline_run: str | None = None
    ) -> list[Approval]:
        """Approvals with ``status`` (or ``all``), newest first; one pipeline run's only
        when ``pipeline_run`` is given."""
        check_listing(status, limit, pipeline_run)
        params: dict[str, Any] = {"status": status, "limit": limit}
        if pipeline_run is not None:
            params["pipeline_run"] = pipeline_run
        return [Approval.from_dict(a) for a in self.remote.json("GET", self._path(), params=params)]

    def get(self, approval_id: str) -> Approval:
        """One approval by id or unambiguous prefix."""
        return Approval.from_dict(self.remote.json("GET", self._path(_segment(approval_id))))

    def approve(self, approval_id: str, comment: str | None = None) -> Approval:
        """Approve a pending approval (an approver token)."""
        return self._decide(approval_id, "approve", comment)

    def reject(self, approval_id: str, comment: str | None = None) -> Approval:
        """Reject a pending approval (an approver token)."""
        return self._decide(approval_id, "reject", comment)

    def _decide(self, approval_id: str, verb: str, comment: str | None) -> Approval:
        path = self._path(_segment(approval_id), verb)
        return Approval.from_dict(self.remote.json("POST", path, json={"comment": comment}))


def _segment(approval_id: object) -> str:
    # the server answers NotFound for anything that is not an id; an empty one would
    # name the listing route instead
    text = str(approval_id).strip() if approval_id is not None else ""
    return text or "-"
