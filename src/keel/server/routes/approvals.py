"""/api/v1/projects/{project}/approvals: the decisions pipeline runs wait for.

Readers list and read them, a writer token (a pipeline step running through this server)
asks for one, an approver token decides; each decision is recorded under the token's name.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from keel.pipelines._approval_records import ApprovalService
from keel.store.actors import Actor

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors
from ..schemas.pipelines import PipelineApproval
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(
    prefix="/projects/{project}/approvals", tags=["approvals"], responses=PROJECT_ERRORS
)
READ, WRITE = Depends(require("reader")), Depends(require("writer"))
APPROVE = Depends(require("approver"))
APPROVAL = Path(
    max_length=64,
    description="An approval's id, or a prefix of it (4 characters or more) only it has.",
    examples=["0193a1b2c3d4"],
)
MISSING = "No such project, or no such approval in it (or the prefix is ambiguous)."
NOT_FOUND = errors({404: MISSING})
DECIDED = errors(
    {404: MISSING, 409: "The approval was already decided or has expired; nothing changed."}
)


def _approvals(request: Request, project: str, caller: TokenInfo) -> ApprovalService:
    # The token is the actor: its name goes in the audit trail and on the decision.
    actor = Actor(caller.name, caller.role)
    return ApprovalService(request.app.state.store, project=project, actor=actor)


class ApprovalRequest(BaseModel):
    pipeline_run_id: str = Field(min_length=1, max_length=64, examples=["0193a1b2c3d4e5f6"])
    step: str = Field(min_length=1, max_length=200, examples=["promote"])
    title: str = Field(min_length=1, max_length=500, examples=["promote credit:7"])
    timeout_s: float | None = Field(
        86400.0, gt=0, le=10 * 365 * 86400, description="Seconds to wait; null waits for ever."
    )


class ApprovalComment(BaseModel):
    comment: str | None = Field(None, max_length=2000, examples=["AUC up 2 points, checked"])


@router.get("", response_model=list[PipelineApproval])
def list_approvals(
    project: str,
    request: Request,
    status: Literal["pending", "approved", "rejected", "expired", "all"] = Query(
        "pending", description="Which approvals (a pending one past its timeout is expired)."
    ),
    limit: int = Query(100, ge=1, le=1000, description="At most this many, newest first."),
    pipeline_run: str | None = Query(
        None, min_length=1, max_length=64, description="One pipeline run's approvals only."
    ),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """Approvals newest first: title, status, pipeline, run, step, who decided and why."""
    found = _approvals(request, project, caller).list(
        status=status, limit=limit, pipeline_run=pipeline_run
    )
    return JSONResponse([a.to_dict() for a in found])


@router.post("", response_model=PipelineApproval, responses=NOT_FOUND)
def request_approval(
    project: str, body: ApprovalRequest, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Ask for the approval ``title`` of a step of a pipeline run (made pending the first
    time, returned as it stands after that); what ``keel.approval(...)`` calls."""
    found = _approvals(request, project, caller).request(
        body.pipeline_run_id, body.step, body.title, timeout=body.timeout_s
    )
    return JSONResponse(found.to_dict())


@router.get("/{approval_id}", response_model=PipelineApproval, responses=NOT_FOUND)
def get_approval(
    project: str, request: Request, approval_id: str = APPROVAL, caller: TokenInfo = READ
) -> JSONResponse:
    """One approval."""
    return JSONResponse(_approvals(request, project, caller).get(approval_id).to_dict())


@router.post("/{approval_id}/approve", response_model=PipelineApproval, responses=DECIDED)
def approve(
    project: str,
    request: Request,
    body: ApprovalComment | None = None,
    approval_id: str = APPROVAL,
    caller: TokenInfo = APPROVE,
) -> JSONResponse:
    """Approve a pending approval (approver): the waiting run goes on when resumed."""
    comment = body.comment if body is not None else None
    decided = _approvals(request, project, caller).approve(approval_id, comment)
    return JSONResponse(decided.to_dict())


@router.post("/{approval_id}/reject", response_model=PipelineApproval, responses=DECIDED)
def reject(
    project: str,
    request: Request,
    body: ApprovalComment | None = None,
    approval_id: str = APPROVAL,
    caller: TokenInfo = APPROVE,
) -> JSONResponse:
    """Reject a pending approval (approver): the step that asked fails when resumed."""
    comment = body.comment if body is not None else None
    decided = _approvals(request, project, caller).reject(approval_id, comment)
    return JSONResponse(decided.to_dict())
