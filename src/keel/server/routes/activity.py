"""/api/v1/projects/{project}/activity and /api/v1/whoami: recent audit events of a
project, and who the caller is (what the dashboard asks to show only the buttons a role
may use)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from keel.store.audit import recent_events

from .._json import JSONResponse
from ..auth import require
from ..schemas import AUTH_ERRORS, PROJECT_ERRORS
from ..schemas.activity import ActivityEvent, Caller
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(tags=["activity"], responses=AUTH_ERRORS)
READ = Depends(require("reader"))


@router.get(
    "/projects/{project}/activity",
    response_model=list[ActivityEvent],
    responses=PROJECT_ERRORS,
)
def activity(
    project: str,
    request: Request,
    limit: int = Query(50, ge=1, le=1000, description="At most this many, newest first."),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """The project's audit events, newest first: who did what to which object, and when."""
    store = request.app.state.store
    project_id = store.read_project_id(project)
    if project_id is None:
        return JSONResponse([])
    with store.read() as conn:
        events = recent_events(conn, project_id=project_id, limit=limit)
    return JSONResponse([_event(e) for e in events])


def _event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": row["created_at"],
        "actor": row["actor"],
        "action": row["action"],
        "object_kind": row["object_kind"],
        "object_id": row["object_id"],
        "details": row["details"],
    }


@router.get("/whoami", response_model=Caller)
def whoami(request: Request, caller: TokenInfo = READ) -> JSONResponse:
    """The calling token's name, role and projects, and whether this server checks tokens."""
    return JSONResponse(
        {
            "name": caller.name,
            "role": caller.role,
            "projects": list(caller.projects),
            "auth": bool(request.app.state.auth),
        }
    )
